// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"math"
	"testing"

	"github.com/caetrain/caetrain/kernels"
)

// weights are the [n0, n1] shapes of a first layer's weights (input ×
// hidden, so ColSumSq sums over the input) and the penalty's [B, n].
var weights = []struct{ n0, n1 int }{
	{1, 1}, {3, 5}, {40, 33}, {784, 16}, {784, 64}, {784, 1000},
}

// ColSumSqTest checks impl.ColSumSq against kernels.ColSumSq in float64,
// with weights at the Glorot scale 1/√n0.
func ColSumSqTest(t *testing.T, impl Impl) {
	rng := newRNG(21)
	for _, s := range weights {
		name := fmt.Sprintf("%dx%d", s.n0, s.n1)
		var a args
		w := a.in("w", normal(rng, s.n0*s.n1, 1/math.Sqrt(float64(s.n0))))
		out := a.out("out", s.n1)
		run(t, name, impl.ColSumSq(out, w, s.n0, s.n1))
		a.check(t)
		want := make([]float64, s.n1)
		kernels.ColSumSq(want, f64(w), s.n0, s.n1)
		near(t, name, out, want, Tol)
	}
}

// ColSumSqGradTest checks impl.ColSumSqGrad against kernels.ColSumSqGrad
// in float64.
func ColSumSqGradTest(t *testing.T, impl Impl) {
	rng := newRNG(22)
	for _, s := range weights {
		name := fmt.Sprintf("%dx%d", s.n0, s.n1)
		var a args
		w := a.in("w", normal(rng, s.n0*s.n1, 1/math.Sqrt(float64(s.n0))))
		g := a.in("g", normal(rng, s.n1, 1))
		out := a.out("out", s.n0*s.n1)
		run(t, name, impl.ColSumSqGrad(out, w, g, s.n0, s.n1))
		a.check(t)
		want := make([]float64, len(out))
		kernels.ColSumSqGrad(want, f64(w), f64(g), s.n0, s.n1)
		near(t, name, out, want, Tol)
	}
}

// penShapes are the [B, n] shapes of DiagPen: batch × hidden.
var penShapes = []struct{ B, n int }{
	{1, 1}, {3, 5}, {37, 33}, {128, 64}, {128, 1000}, {300, 16},
}

// DiagPenTest checks impl.DiagPen against kernels.DiagPen in float64, with
// d a sigmoid's derivative (in [0, 1/4]) and c the column sums of squares
// of Glorot-scaled weights (about 1).
func DiagPenTest(t *testing.T, impl Impl) {
	rng := newRNG(23)
	for _, s := range penShapes {
		name := fmt.Sprintf("%dx%d", s.B, s.n)
		var a args
		d := a.in("d", uniform(rng, s.B*s.n, 0, 0.25))
		c := a.in("c", uniform(rng, s.n, 0.5, 1.5))
		out := a.out("out", s.B)
		run(t, name, impl.DiagPen(out, d, c, s.B, s.n))
		a.check(t)
		want := make([]float64, s.B)
		kernels.DiagPen(want, f64(d), f64(c), s.B, s.n)
		near(t, name, out, want, Tol)
	}
}

// DiagPenGradDTest checks impl.DiagPenGradD against kernels.DiagPenGradD
// in float64.
func DiagPenGradDTest(t *testing.T, impl Impl) {
	rng := newRNG(24)
	for _, s := range penShapes {
		name := fmt.Sprintf("%dx%d", s.B, s.n)
		var a args
		d := a.in("d", uniform(rng, s.B*s.n, 0, 0.25))
		c := a.in("c", uniform(rng, s.n, 0.5, 1.5))
		g := a.in("g", uniform(rng, s.B, 0, 1))
		out := a.out("out", s.B*s.n)
		run(t, name, impl.DiagPenGradD(out, d, c, g, s.B, s.n))
		a.check(t)
		want := make([]float64, len(out))
		kernels.DiagPenGradD(want, f64(d), f64(c), f64(g), s.B, s.n)
		near(t, name, out, want, Tol)
	}
}

// DiagPenGradCTest checks impl.DiagPenGradC against kernels.DiagPenGradC
// in float64; g is the loss's per-sample weight λ·mask/n.
func DiagPenGradCTest(t *testing.T, impl Impl) {
	rng := newRNG(25)
	for _, s := range penShapes {
		name := fmt.Sprintf("%dx%d", s.B, s.n)
		var a args
		d := a.in("d", uniform(rng, s.B*s.n, 0, 0.25))
		g := a.in("g", uniform(rng, s.B, 0, 1))
		out := a.out("out", s.n)
		run(t, name, impl.DiagPenGradC(out, d, g, s.B, s.n))
		a.check(t)
		want := make([]float64, s.n)
		kernels.DiagPenGradC(want, f64(d), f64(g), s.B, s.n)
		near(t, name, out, want, Tol)
	}
}

// outerShapes are the [B, nL, P] shapes of OuterScale: batch, code width,
// width of the layer below (the seed preset's 16 and 32).
var outerShapes = []struct{ B, nL, P int }{
	{1, 1, 1}, {2, 3, 5}, {7, 16, 32}, {128, 16, 32}, {64, 33, 65},
}

// OuterScaleTest checks impl.OuterScale against kernels.OuterScale in
// float64.
func OuterScaleTest(t *testing.T, impl Impl) {
	rng := newRNG(26)
	for _, s := range outerShapes {
		name := fmt.Sprintf("%dx%dx%d", s.B, s.nL, s.P)
		var a args
		dL := a.in("dL", uniform(rng, s.B*s.nL, 0, 1))
		w := a.in("w", normal(rng, s.P*s.nL, 1/math.Sqrt(float64(s.P))))
		dP := a.in("dP", uniform(rng, s.B*s.P, 0, 1))
		out := a.out("t", s.B*s.nL*s.P)
		run(t, name, impl.OuterScale(out, dL, w, dP, s.B, s.nL, s.P))
		a.check(t)
		want := make([]float64, len(out))
		kernels.OuterScale(want, f64(dL), f64(w), f64(dP), s.B, s.nL, s.P)
		near(t, name, out, want, Tol)
	}
}

// OuterScaleGradDLTest checks impl.OuterScaleGradDL against
// kernels.OuterScaleGradDL in float64.
func OuterScaleGradDLTest(t *testing.T, impl Impl) {
	rng := newRNG(27)
	for _, s := range outerShapes {
		name := fmt.Sprintf("%dx%dx%d", s.B, s.nL, s.P)
		var a args
		g := a.in("g", normal(rng, s.B*s.nL*s.P, 0.1))
		w := a.in("w", normal(rng, s.P*s.nL, 1/math.Sqrt(float64(s.P))))
		dP := a.in("dP", uniform(rng, s.B*s.P, 0, 1))
		out := a.out("out", s.B*s.nL)
		run(t, name, impl.OuterScaleGradDL(out, g, w, dP, s.B, s.nL, s.P))
		a.check(t)
		want := make([]float64, len(out))
		kernels.OuterScaleGradDL(want, f64(g), f64(w), f64(dP), s.B, s.nL, s.P)
		near(t, name, out, want, Tol)
	}
}

// OuterScaleGradWTest checks impl.OuterScaleGradW against
// kernels.OuterScaleGradW in float64.
func OuterScaleGradWTest(t *testing.T, impl Impl) {
	rng := newRNG(28)
	for _, s := range outerShapes {
		name := fmt.Sprintf("%dx%dx%d", s.B, s.nL, s.P)
		var a args
		g := a.in("g", normal(rng, s.B*s.nL*s.P, 0.1))
		dL := a.in("dL", uniform(rng, s.B*s.nL, 0, 1))
		dP := a.in("dP", uniform(rng, s.B*s.P, 0, 1))
		out := a.out("out", s.P*s.nL)
		run(t, name, impl.OuterScaleGradW(out, g, dL, dP, s.B, s.nL, s.P))
		a.check(t)
		want := make([]float64, len(out))
		kernels.OuterScaleGradW(want, f64(g), f64(dL), f64(dP), s.B, s.nL, s.P)
		near(t, name, out, want, Tol)
	}
}

// OuterScaleGradDPTest checks impl.OuterScaleGradDP against
// kernels.OuterScaleGradDP in float64.
func OuterScaleGradDPTest(t *testing.T, impl Impl) {
	rng := newRNG(29)
	for _, s := range outerShapes {
		name := fmt.Sprintf("%dx%dx%d", s.B, s.nL, s.P)
		var a args
		g := a.in("g", normal(rng, s.B*s.nL*s.P, 0.1))
		dL := a.in("dL", uniform(rng, s.B*s.nL, 0, 1))
		w := a.in("w", normal(rng, s.P*s.nL, 1/math.Sqrt(float64(s.P))))
		out := a.out("out", s.B*s.P)
		run(t, name, impl.OuterScaleGradDP(out, g, dL, w, s.B, s.nL, s.P))
		a.check(t)
		want := make([]float64, len(out))
		kernels.OuterScaleGradDP(want, f64(g), f64(dL), f64(w), s.B, s.nL, s.P)
		near(t, name, out, want, Tol)
	}
}

// brc are the [B, R, C] shapes of the per-sample factor M: batch, code
// width, width of the first hidden layer.
var brc = []struct{ B, R, C int }{
	{1, 1, 1}, {2, 3, 5}, {7, 16, 32}, {128, 16, 64}, {33, 17, 100},
}

// ScaleColsTest checks impl.ScaleCols against kernels.ScaleCols in
// float64.
func ScaleColsTest(t *testing.T, impl Impl) {
	rng := newRNG(30)
	for _, s := range brc {
		name := fmt.Sprintf("%dx%dx%d", s.B, s.R, s.C)
		var a args
		p := a.in("p", normal(rng, s.B*s.R*s.C, 0.3))
		d := a.in("d", uniform(rng, s.B*s.C, 0, 1))
		out := a.out("out", s.B*s.R*s.C)
		run(t, name, impl.ScaleCols(out, p, d, s.B, s.R, s.C))
		a.check(t)
		want := make([]float64, len(out))
		kernels.ScaleCols(want, f64(p), f64(d), s.B, s.R, s.C)
		near(t, name, out, want, Tol)
	}
}

// RowDotTest checks impl.RowDot against kernels.RowDot in float64.
func RowDotTest(t *testing.T, impl Impl) {
	rng := newRNG(31)
	for _, s := range brc {
		name := fmt.Sprintf("%dx%dx%d", s.B, s.R, s.C)
		var a args
		g := a.in("g", normal(rng, s.B*s.R*s.C, 0.3))
		p := a.in("p", normal(rng, s.B*s.R*s.C, 0.3))
		out := a.out("out", s.B*s.C)
		run(t, name, impl.RowDot(out, g, p, s.B, s.R, s.C))
		a.check(t)
		want := make([]float64, len(out))
		kernels.RowDot(want, f64(g), f64(p), s.B, s.R, s.C)
		near(t, name, out, want, Tol)
	}
}
