// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"math"
	"testing"
)

// GatherRows is the specification of the device's batch gather: it copies
// rows idx of data [nrows, dim] into the first len(idx) rows of x [batch,
// dim], zeroes the other rows, sets mask[r] = 1 for the copied rows and 0
// for the others, and sets invn[0] = float32(1/float64(len(idx))). It is
// what engine's machine.run does on the host. x: [batch·dim]; mask:
// [batch]; invn: [1]; len(idx) ≤ batch.
func GatherRows(x, mask, invn, data []float32, idx []int32, batch, dim int) {
	if len(x) != batch*dim || len(mask) != batch || len(invn) != 1 || dim < 1 || len(data)%dim != 0 || len(idx) > batch {
		panic("kernels: GatherRows: wrong lengths")
	}
	for r := 0; r < batch; r++ {
		xr := x[r*dim : (r+1)*dim]
		if r < len(idx) {
			i := int(idx[r])
			copy(xr, data[i*dim:(i+1)*dim])
			mask[r] = 1
		} else {
			clear(xr)
			mask[r] = 0
		}
	}
	invn[0] = float32(1 / float64(len(idx)))
}

// HasNonFinite is the specification of the device's NaN/Inf check: it
// reports whether some x[i] is NaN or ±Inf.
func HasNonFinite(x []float32) bool {
	for _, v := range x {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return true
		}
	}
	return false
}

// GatherRowsTest checks impl.GatherRows against GatherRows: full and
// partial batches, repeated indices, the first and last rows. A gather is
// a copy, so the results must be equal bit for bit.
func GatherRowsTest(t *testing.T, impl Impl) {
	rng := newRNG(101)
	for _, s := range []struct{ nrows, dim, batch, nidx int }{
		{1, 1, 1, 1}, {10, 3, 4, 4}, {10, 3, 4, 2}, {1000, 784, 128, 128}, {1000, 784, 128, 104}, {50, 33, 300, 257},
	} {
		name := fmt.Sprintf("%d-of-%d-rows-%d-batch-%d", s.nidx, s.nrows, s.batch, s.dim)
		var a args
		data := a.in("data", uniform(rng, s.nrows*s.dim, 0, 1))
		idx := make([]int32, s.nidx)
		for i := range idx {
			idx[i] = int32(rng.IntN(s.nrows))
		}
		idx[0] = int32(s.nrows - 1)
		if s.nidx > 1 {
			idx[1] = 0
		}
		x, mask, invn := a.out("x", s.batch*s.dim), a.out("mask", s.batch), a.out("invn", 1)
		run(t, name, impl.GatherRows(x, mask, invn, data, idx, s.batch, s.dim))
		a.check(t)
		wx, wm, wi := make([]float32, len(x)), make([]float32, len(mask)), make([]float32, 1)
		GatherRows(wx, wm, wi, data, idx, s.batch, s.dim)
		near(t, name+" x", x, f64(wx), 0)
		near(t, name+" mask", mask, f64(wm), 0)
		near(t, name+" invn", invn, f64(wi), 0)
	}
}

// HasNonFiniteTest checks impl.HasNonFinite against HasNonFinite, with a
// NaN, +Inf or −Inf at the first, a middle or the last element, or none.
func HasNonFiniteTest(t *testing.T, impl Impl) {
	rng := newRNG(102)
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, n := range []int{1, 33, 1000, 128 * 784} {
		for _, at := range []int{-1, 0, n / 2, n - 1} {
			for k, v := range bad {
				if at < 0 && k > 0 {
					continue
				}
				name := fmt.Sprintf("%d-at-%d-%v", n, at, v)
				var a args
				x := normal(rng, n, 1e30) // large but finite
				if at >= 0 {
					x[at] = v
				}
				a.in("x", x)
				got, err := impl.HasNonFinite(x)
				run(t, name, err)
				a.check(t)
				if want := HasNonFinite(x); got != want {
					t.Errorf("%s: got %v, want %v", name, got, want)
				}
			}
		}
	}
}
