// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"testing"

	"github.com/caetrain/caetrain/kernels"
)

// AddTest checks impl.Add against kernels.Add in float64.
func AddTest(t *testing.T, impl Impl) {
	rng := newRNG(71)
	for _, n := range flatN {
		name := fmt.Sprint(n)
		var a args
		x := a.in("a", normal(rng, n, 1))
		y := a.in("b", normal(rng, n, 1))
		out := a.out("out", n)
		run(t, name, impl.Add(out, x, y))
		a.check(t)
		want := make([]float64, n)
		kernels.Add(want, f64(x), f64(y))
		near(t, name, out, want, Tol)
	}
}

// SubTest checks impl.Sub against kernels.Sub in float64.
func SubTest(t *testing.T, impl Impl) {
	rng := newRNG(72)
	for _, n := range flatN {
		name := fmt.Sprint(n)
		var a args
		x := a.in("a", normal(rng, n, 1))
		y := a.in("b", normal(rng, n, 1))
		out := a.out("out", n)
		run(t, name, impl.Sub(out, x, y))
		a.check(t)
		want := make([]float64, n)
		kernels.Sub(want, f64(x), f64(y))
		near(t, name, out, want, Tol)
	}
}

// ScaleTest checks impl.Scale against kernels.Scale in float64.
func ScaleTest(t *testing.T, impl Impl) {
	rng := newRNG(73)
	for _, n := range flatN {
		for _, s := range []float32{-1, 0.5, 100} {
			name := fmt.Sprintf("%g-%d", s, n)
			var a args
			x := a.in("a", normal(rng, n, 1))
			out := a.out("out", n)
			run(t, name, impl.Scale(out, x, s))
			a.check(t)
			want := make([]float64, n)
			kernels.Scale(want, f64(x), float64(s))
			near(t, name, out, want, Tol)
		}
	}
}

// InPlaceTest checks the kernels whose output may alias an input, called
// with the output as that input: the elementwise ops, BiasAct (out = xw)
// and ActBackward (out = g).
func InPlaceTest(t *testing.T, impl Impl) {
	rng := newRNG(74)
	const rows, n = 37, 70
	check := func(name string, got []float32, want []float64, err error) {
		t.Helper()
		run(t, name, err)
		near(t, name, got, want, Tol)
	}
	{
		var a args
		x := a.inout("a", normal(rng, rows*n, 1))
		y := a.in("b", normal(rng, rows*n, 1))
		want := make([]float64, len(x))
		kernels.Add(want, f64(x), f64(y))
		check("Add(a, a, b)", x, want, impl.Add(x, x, y))
		a.check(t)
	}
	{
		var a args
		x := a.in("a", normal(rng, rows*n, 1))
		y := a.inout("b", normal(rng, rows*n, 1))
		want := make([]float64, len(x))
		kernels.Sub(want, f64(x), f64(y))
		check("Sub(b, a, b)", y, want, impl.Sub(y, x, y))
		a.check(t)
	}
	{
		var a args
		x := a.inout("a", normal(rng, rows*n, 1))
		want := make([]float64, len(x))
		kernels.Scale(want, f64(x), -3)
		check("Scale(a, a, -3)", x, want, impl.Scale(x, x, -3))
		a.check(t)
	}
	{
		var a args
		xw := a.inout("xw", normal(rng, rows*n, 2))
		b := a.in("b", normal(rng, n, 0.5))
		want := make([]float64, len(xw))
		kernels.BiasAct(want, f64(xw), f64(b), rows, n, kernels.Tanh)
		check("BiasAct(xw, xw, b)", xw, want, impl.BiasAct(xw, xw, b, rows, n, kernels.Tanh))
		a.check(t)
	}
	{
		var a args
		av := a.in("a", activated(rng, rows*n, kernels.Sigmoid))
		g := a.inout("g", normal(rng, rows*n, 1))
		want := make([]float64, len(g))
		kernels.ActBackward(want, f64(av), f64(g), kernels.Sigmoid)
		check("ActBackward(g, a, g)", g, want, impl.ActBackward(g, av, g, kernels.Sigmoid))
		a.check(t)
	}
}
