// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"testing"

	"github.com/caetrain/caetrain/kernels"
)

// rowsN are the [rows, n] shapes of the row-wise kernels: single
// elements, sizes that are not multiples of a warp or a block, and the
// seed and rifai presets' layers at batch 128.
var rowsN = []struct{ rows, n int }{
	{1, 1}, {1, 33}, {3, 5}, {37, 70}, {128, 16}, {128, 64}, {128, 784}, {257, 1000},
}

// BiasActTest checks impl.BiasAct against kernels.BiasAct in float64.
func BiasActTest(t *testing.T, impl Impl) {
	rng := newRNG(1)
	for _, act := range acts {
		for _, s := range rowsN {
			name := fmt.Sprintf("%v-%dx%d", act, s.rows, s.n)
			var a args
			xw := a.in("xw", normal(rng, s.rows*s.n, 2))
			b := a.in("b", normal(rng, s.n, 0.5))
			out := a.out("out", s.rows*s.n)
			run(t, name, impl.BiasAct(out, xw, b, s.rows, s.n, act))
			a.check(t)
			want := make([]float64, len(out))
			kernels.BiasAct(want, f64(xw), f64(b), s.rows, s.n, act)
			near(t, name, out, want, Tol)
		}
	}
}

// flatN are the lengths of the elementwise kernels.
var flatN = []int{1, 31, 32, 33, 255, 257, 1000, 128 * 784}

// ActBackwardTest checks impl.ActBackward against kernels.ActBackward in
// float64.
func ActBackwardTest(t *testing.T, impl Impl) {
	rng := newRNG(2)
	for _, act := range acts {
		for _, n := range flatN {
			name := fmt.Sprintf("%v-%d", act, n)
			var a args
			av := a.in("a", activated(rng, n, act))
			g := a.in("g", normal(rng, n, 1))
			out := a.out("out", n)
			run(t, name, impl.ActBackward(out, av, g, act))
			a.check(t)
			want := make([]float64, n)
			kernels.ActBackward(want, f64(av), f64(g), act)
			near(t, name, out, want, Tol)
		}
	}
}

// ActDerivTest checks impl.ActDeriv against kernels.ActDeriv in float64.
func ActDerivTest(t *testing.T, impl Impl) {
	rng := newRNG(3)
	for _, act := range acts {
		for _, n := range flatN {
			name := fmt.Sprintf("%v-%d", act, n)
			var a args
			av := a.in("a", activated(rng, n, act))
			out := a.out("out", n)
			run(t, name, impl.ActDeriv(out, av, act))
			a.check(t)
			want := make([]float64, n)
			kernels.ActDeriv(want, f64(av), act)
			near(t, name, out, want, Tol)
		}
	}
}

// ActDerivBackwardTest checks impl.ActDerivBackward against
// kernels.ActDerivBackward in float64.
func ActDerivBackwardTest(t *testing.T, impl Impl) {
	rng := newRNG(4)
	for _, act := range acts {
		for _, n := range flatN {
			name := fmt.Sprintf("%v-%d", act, n)
			var a args
			av := a.in("a", activated(rng, n, act))
			g := a.in("g", normal(rng, n, 1))
			out := a.out("out", n)
			run(t, name, impl.ActDerivBackward(out, av, g, act))
			a.check(t)
			want := make([]float64, n)
			kernels.ActDerivBackward(want, f64(av), f64(g), act)
			near(t, name, out, want, Tol)
		}
	}
}

// ApplyTest checks impl.Apply against kernels.Apply in float64, over
// pre-activations up to ±100 so that the sigmoid's two branches and its
// saturation are covered, and at the extremes of float32.
func ApplyTest(t *testing.T, impl Impl) {
	rng := newRNG(5)
	for _, act := range acts {
		for _, n := range flatN {
			name := fmt.Sprintf("%v-%d", act, n)
			var a args
			z := uniform(rng, n, -100, 100)
			if n > 8 {
				copy(z, []float32{0, -0, 1e-30, -1e-30, 3.4e38, -3.4e38, 88.7, -103})
			}
			a.in("z", z)
			out := a.out("out", n)
			run(t, name, impl.Apply(out, z, act))
			a.check(t)
			want := make([]float64, n)
			kernels.Apply(want, f64(z), act)
			near(t, name, out, want, Tol)
		}
	}
}

// ColSumTest checks impl.ColSum against kernels.ColSum in float64.
func ColSumTest(t *testing.T, impl Impl) {
	rng := newRNG(6)
	for _, s := range append(rowsN, struct{ rows, n int }{0, 7}, struct{ rows, n int }{1000, 3}) {
		name := fmt.Sprintf("%dx%d", s.rows, s.n)
		var a args
		x := a.in("x", normal(rng, s.rows*s.n, 0.1))
		out := a.out("out", s.n)
		run(t, name, impl.ColSum(out, x, s.rows, s.n))
		a.check(t)
		want := make([]float64, s.n)
		kernels.ColSum(want, f64(x), s.rows, s.n)
		near(t, name, out, want, Tol)
	}
}
