// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"testing"

	"github.com/caetrain/caetrain/kernels"
)

// softmaxShapes are classifier batches: rows × classes, with a single
// class, a row of one, and a batch of 100 rows of 10 classes (MNIST's).
var softmaxShapes = []struct{ rows, n int }{{1, 10}, {100, 10}, {37, 3}, {5, 1}, {300, 17}}

// oneHot is rows one-hot rows of n classes, drawn from rng, with the last
// row all zero (a padding row) when there is more than one.
func oneHot(rng interface{ IntN(int) int }, rows, n int) []float32 {
	y := make([]float32, rows*n)
	for r := range rows {
		if rows > 1 && r == rows-1 {
			break
		}
		y[r*n+rng.IntN(n)] = 1
	}
	return y
}

// SoftmaxXentTest checks impl.SoftmaxXent against kernels.SoftmaxXent in
// float64, with logits z ~ N(0, 9), some of them large (±60), so that the
// largest is subtracted before exponentiating.
func SoftmaxXentTest(t *testing.T, impl Impl) {
	rng := newRNG(31)
	for _, s := range softmaxShapes {
		name := fmt.Sprintf("%dx%d", s.rows, s.n)
		var a args
		zv := normal(rng, s.rows*s.n, 3)
		zv[0], zv[len(zv)-1] = 60, -60
		z := a.in("z", zv)
		y := a.in("y", oneHot(rng, s.rows, s.n))
		out := a.out("out", s.rows)
		run(t, name, impl.SoftmaxXent(out, z, y, s.rows, s.n))
		a.check(t)
		want := make([]float64, s.rows)
		kernels.SoftmaxXent(want, f64(z), f64(y), s.rows, s.n)
		near(t, name, out, want, Tol)
	}
}

// SoftmaxXentGradTest checks impl.SoftmaxXentGrad against
// kernels.SoftmaxXentGrad in float64.
func SoftmaxXentGradTest(t *testing.T, impl Impl) {
	rng := newRNG(32)
	for _, s := range softmaxShapes {
		name := fmt.Sprintf("%dx%d", s.rows, s.n)
		var a args
		zv := normal(rng, s.rows*s.n, 3)
		zv[0] = 60
		z := a.in("z", zv)
		y := a.in("y", oneHot(rng, s.rows, s.n))
		g := a.in("g", uniform(rng, s.rows, 0, 1.0/float64(s.rows)))
		out := a.out("out", s.rows*s.n)
		run(t, name, impl.SoftmaxXentGrad(out, z, y, g, s.rows, s.n))
		a.check(t)
		want := make([]float64, len(out))
		kernels.SoftmaxXentGrad(want, f64(z), f64(y), f64(g), s.rows, s.n)
		near(t, name, out, want, Tol)
	}
}
