// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"math"
	"testing"

	"github.com/caetrain/caetrain/kernels"
)

// MatMulTest checks impl.MatMul against kernels.MatMulRef in float64, for
// the products a training step makes (x·W, their gradients, G = W₁ᵀW₁),
// every transposition the graph uses, and empty dimensions. Inputs are
// scaled by 1/√k so that the products stay of order 1.
func MatMulTest(t *testing.T, impl Impl) {
	rng := newRNG(81)
	for _, s := range []struct {
		m, n, k int
		ta, tb  bool
	}{
		{1, 1, 1, false, false}, {3, 5, 7, false, false}, {3, 5, 7, true, false}, {3, 5, 7, false, true}, {3, 5, 7, true, true},
		{128, 64, 784, false, false}, {128, 784, 64, false, true}, {784, 64, 128, true, false},
		{64, 64, 784, true, false}, {2048, 64, 64, false, false}, {33, 65, 129, false, true},
		{0, 5, 7, false, false}, {3, 0, 7, false, false}, {3, 5, 0, false, false}, {3, 5, 0, true, true},
	} {
		name := fmt.Sprintf("%dx%dx%d-%v-%v", s.m, s.n, s.k, s.ta, s.tb)
		var a args
		sd := 1 / math.Sqrt(float64(max(s.k, 1)))
		x := a.in("a", normal(rng, s.m*s.k, 1))
		y := a.in("b", normal(rng, s.k*s.n, sd))
		c := a.out("c", s.m*s.n)
		run(t, name, impl.MatMul(c, x, y, s.m, s.n, s.k, s.ta, s.tb))
		a.check(t)
		want := make([]float64, len(c))
		kernels.MatMulRef(want, f64(x), f64(y), s.m, s.n, s.k, s.ta, s.tb)
		near(t, name, c, want, Tol)
	}
}
