// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveXent is the textbook −Σ y log(e^z_i / Σ e^z_j), without the max
// shift: the reference for moderate logits.
func naiveXent(z, y []float64) float64 {
	var den float64
	for _, v := range z {
		den += math.Exp(v)
	}
	var s float64
	for i, v := range z {
		s -= y[i] * math.Log(math.Exp(v)/den)
	}
	return s
}

func TestSoftmaxXent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name    string
		rows, n int
		scale   float64 // logits ~ scale·N(0,1)
		soft    bool    // soft targets (a distribution) instead of one-hot
		tol     float64
	}{
		// Both are exact float64 computations; 1e-12 allows for rounding
		// in the log and exp of sums of 10 terms.
		{"onehot-5x10", 5, 10, 3, false, 1e-12},
		{"soft-4x7", 4, 7, 3, true, 1e-12},
		{"onehot-1x2", 1, 2, 1, false, 1e-12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := make([]float64, tc.rows*tc.n)
			y := make([]float64, tc.rows*tc.n)
			for i := range z {
				z[i] = tc.scale * rng.NormFloat64()
			}
			for r := 0; r < tc.rows; r++ {
				if tc.soft {
					var s float64
					for i := 0; i < tc.n; i++ {
						y[r*tc.n+i] = rng.Float64()
						s += y[r*tc.n+i]
					}
					for i := 0; i < tc.n; i++ {
						y[r*tc.n+i] /= s
					}
				} else {
					y[r*tc.n+rng.IntN(tc.n)] = 1
				}
			}
			got := make([]float64, tc.rows)
			SoftmaxXent(got, z, y, tc.rows, tc.n)
			for r := 0; r < tc.rows; r++ {
				want := naiveXent(z[r*tc.n:(r+1)*tc.n], y[r*tc.n:(r+1)*tc.n])
				if d := math.Abs(got[r] - want); d > tc.tol*math.Max(1, math.Abs(want)) {
					t.Errorf("row %d: got %.15g, want %.15g (diff %.3g)", r, got[r], want, d)
				}
			}
			// The gradient against central differences of
			// Σ_b g_b·SoftmaxXent_b; step 1e-6 in float64 leaves an
			// error of about 1e-9, hence 1e-7.
			g := make([]float64, tc.rows)
			for i := range g {
				g[i] = rng.Float64()
			}
			grad := make([]float64, len(z))
			SoftmaxXentGrad(grad, z, y, g, tc.rows, tc.n)
			f := func() float64 {
				o := make([]float64, tc.rows)
				SoftmaxXent(o, z, y, tc.rows, tc.n)
				var s float64
				for i, v := range o {
					s += g[i] * v
				}
				return s
			}
			const h = 1e-6
			for i := range z {
				z0 := z[i]
				z[i] = z0 + h
				fp := f()
				z[i] = z0 - h
				fm := f()
				z[i] = z0
				want := (fp - fm) / (2 * h)
				if d := math.Abs(grad[i] - want); d > 1e-7 {
					t.Errorf("∂/∂z[%d]: got %.12g, want %.12g (central differences), diff %.3g", i, grad[i], want, d)
				}
			}
		})
	}
}

// TestSoftmaxXentExtremeLogits checks that huge logits, where the naive
// formula overflows, give finite, exact values in float32 and float64.
func TestSoftmaxXentExtremeLogits(t *testing.T) {
	for _, tc := range []struct {
		z    []float64
		want float64 // −log softmax(z)_0, worked out by hand
	}{
		{[]float64{1000, 0, -1000}, 0},                      // e^−1000 is below float64's resolution
		{[]float64{0, 1000}, 1000},                          // lse = 1000 + log(1+e^−1000) = 1000
		{[]float64{88, 88}, math.Log(2)},                    // e^88 overflows float32
		{[]float64{-1e4, -1e4 + math.Log(3)}, 2 * math.Ln2}, // −log(1/4)
	} {
		y := make([]float64, len(tc.z))
		y[0] = 1
		out := make([]float64, 1)
		SoftmaxXent(out, tc.z, y, 1, len(tc.z))
		// Rounding of sums near 1e4 in float64: 1e-12 relative.
		if math.Abs(out[0]-tc.want) > 1e-12*math.Max(1, math.Abs(tc.z[0])) {
			t.Errorf("%v float64: got %.15g, want %.15g", tc.z, out[0], tc.want)
		}
		z32, y32 := make([]float32, len(tc.z)), make([]float32, len(tc.z))
		for i := range tc.z {
			z32[i], y32[i] = float32(tc.z[i]), float32(y[i])
		}
		o32 := make([]float32, 1)
		SoftmaxXent(o32, z32, y32, 1, len(tc.z))
		g32 := make([]float32, len(tc.z))
		SoftmaxXentGrad(g32, z32, y32, []float32{1}, 1, len(tc.z))
		for i, v := range append(g32, o32[0]) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Errorf("%v float32: value %d is %v", tc.z, i, v)
			}
		}
		// float32 rounding of the logits themselves (|z| ≤ 1e4): 1e-3 absolute.
		if d := math.Abs(float64(o32[0]) - tc.want); d > 1e-3 {
			t.Errorf("%v float32: got %v, want %v", tc.z, o32[0], tc.want)
		}
	}
}
