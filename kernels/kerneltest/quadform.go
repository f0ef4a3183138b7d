// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"math"
	"testing"

	"github.com/caetrain/caetrain/kernels"
)

// quadInputs draws a realistic T [B, R, C] and G = W₁ᵀW₁ [C, C] (positive
// semi-definite, W₁ [784, C] at the Glorot scale), and gout ≥ 0 (λ·mask/n).
func quadInputs(seed uint64, B, R, C int) (t, g, gout []float32) {
	rng := newRNG(seed)
	t = normal(rng, B*R*C, 0.3)
	w := f64(normal(rng, 784*C, 1/math.Sqrt(784)))
	g64 := make([]float64, C*C)
	kernels.MatMulRef(g64, w, w, C, C, 784, true, false)
	g = make([]float32, C*C)
	for i, v := range g64 {
		g[i] = float32(v)
	}
	gout = uniform(rng, B, 0, 1)
	return t, g, gout
}

// QuadFormBLASTest checks impl.QuadFormBLAS against the direct loops of
// kernels.QuadForm in float64; u is scratch.
func QuadFormBLASTest(t *testing.T, impl Impl) {
	for i, s := range brc {
		name := fmt.Sprintf("%dx%dx%d", s.B, s.R, s.C)
		tt, g, _ := quadInputs(uint64(40+i), s.B, s.R, s.C)
		var a args
		a.in("t", tt)
		a.in("g", g)
		u := a.out("u", s.B*s.R*s.C)
		out := a.out("out", s.B)
		run(t, name, impl.QuadFormBLAS(out, tt, g, u, s.B, s.R, s.C))
		a.check(t)
		want := make([]float64, s.B)
		kernels.QuadForm(want, f64(tt), f64(g), s.B, s.R, s.C)
		near(t, name, out, want, Tol)
	}
}

// QuadFormGradTBLASTest checks impl.QuadFormGradTBLAS against the direct
// loops of kernels.QuadFormGradT in float64; s is scratch.
func QuadFormGradTBLASTest(t *testing.T, impl Impl) {
	for i, s := range brc {
		name := fmt.Sprintf("%dx%dx%d", s.B, s.R, s.C)
		tt, g, gout := quadInputs(uint64(50+i), s.B, s.R, s.C)
		var a args
		a.in("t", tt)
		a.in("g", g)
		a.in("gout", gout)
		sc := a.out("s", s.C*s.C)
		dt := a.out("dt", s.B*s.R*s.C)
		run(t, name, impl.QuadFormGradTBLAS(dt, tt, g, gout, sc, s.B, s.R, s.C))
		a.check(t)
		want := make([]float64, len(dt))
		kernels.QuadFormGradT(want, f64(tt), f64(g), f64(gout), s.B, s.R, s.C)
		near(t, name, dt, want, Tol)
	}
}

// QuadFormGradGBLASTest checks impl.QuadFormGradGBLAS against the direct
// loops of kernels.QuadFormGradG in float64; u is scratch.
func QuadFormGradGBLASTest(t *testing.T, impl Impl) {
	for i, s := range brc {
		name := fmt.Sprintf("%dx%dx%d", s.B, s.R, s.C)
		tt, _, gout := quadInputs(uint64(60+i), s.B, s.R, s.C)
		var a args
		a.in("t", tt)
		a.in("gout", gout)
		u := a.out("u", s.B*s.R*s.C)
		dg := a.out("dg", s.C*s.C)
		run(t, name, impl.QuadFormGradGBLAS(dg, tt, gout, u, s.B, s.R, s.C))
		a.check(t)
		want := make([]float64, len(dg))
		kernels.QuadFormGradG(want, f64(tt), f64(gout), s.B, s.R, s.C)
		near(t, name, dg, want, Tol)
	}
}
