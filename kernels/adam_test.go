// SPDX-License-Identifier: Apache-2.0

package kernels_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/caetrain/caetrain/kernels"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestAdamStepMatchesGorgonia runs 20 steps of AdamStep and of gorgonia's
// AdamSolver on the same parameters and gradients. The reference is
// gorgonia's solver in float64; both compute the same formula, so 1e-12
// relative allows only for evaluation order.
func TestAdamStepMatchesGorgonia(t *testing.T) {
	const n, steps, tol = 37, 20, 1e-12
	h := kernels.AdamHyper{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	rng := rand.New(rand.NewPCG(1, 2))
	p := make([]float64, n)
	for i := range p {
		p[i] = rng.NormFloat64()
	}
	g := G.NewGraph()
	w := G.NewVector(g, tensor.Float64, G.WithShape(n), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(append([]float64(nil), p...)))))
	cost := G.Must(G.Sum(G.Must(G.Square(w))))
	if _, err := G.Grad(cost, w); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(w))
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(h.LR), G.WithBeta1(h.Beta1), G.WithBeta2(h.Beta2), G.WithEps(h.Eps))
	m, v, grad := make([]float64, n), make([]float64, n), make([]float64, n)
	for s := 1; s <= steps; s++ {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		for i := range p { // d/dp Σp² = 2p, from our own copy of p
			grad[i] = 2 * p[i]
		}
		kernels.AdamStep(p, grad, m, v, s, h)
		for i, gz := range grad {
			if gz != 0 {
				t.Fatalf("step %d: g[%d] = %v not zeroed", s, i, gz)
			}
		}
		if err := solver.Step(G.NodesToValueGrads(G.Nodes{w})); err != nil {
			t.Fatal(err)
		}
		want := w.Value().Data().([]float64)
		for i := range p {
			if d := math.Abs(p[i] - want[i]); d > tol*math.Max(1, math.Abs(want[i])) {
				t.Fatalf("step %d, p[%d]: got %.17g, want %.17g (gorgonia AdamSolver)", s, i, p[i], want[i])
			}
		}
	}
}

// TestAdamStepFloat32 checks the float32 instantiation against the float64
// one over 50 steps; 1e-5 relative is float32 rounding accumulated over the
// steps.
func TestAdamStepFloat32(t *testing.T) {
	const n, steps, tol = 64, 50, 1e-5
	h := kernels.AdamHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	rng := rand.New(rand.NewPCG(3, 4))
	p64, m64, v64, g64 := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	p32, m32, v32, g32 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range p64 {
		p32[i] = float32(rng.NormFloat64())
		p64[i] = float64(p32[i])
	}
	for s := 1; s <= steps; s++ {
		for i := range g64 {
			g32[i] = float32(math.Sin(float64(i*s)) + 0.1*float64(p32[i]))
			g64[i] = float64(g32[i])
		}
		kernels.AdamStep(p64, g64, m64, v64, s, h)
		kernels.AdamStep(p32, g32, m32, v32, s, h)
	}
	for i := range p64 {
		if d := math.Abs(float64(p32[i]) - p64[i]); d > tol*math.Max(1, math.Abs(p64[i])) {
			t.Errorf("p[%d]: float32 %.9g, float64 %.17g", i, p32[i], p64[i])
		}
	}
}

func TestAdamStepPanicsOnMismatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("AdamStep accepted slices of different lengths")
		}
	}()
	kernels.AdamStep(make([]float32, 3), make([]float32, 2), make([]float32, 3), make([]float32, 3), 1, kernels.AdamHyper{})
}
