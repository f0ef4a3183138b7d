// SPDX-License-Identifier: Apache-2.0

package kernels

import "math"

// Float is the element type a kernel runs on.
type Float interface{ ~float32 | ~float64 }

// AdamHyper are Adam's hyper-parameters (Kingma & Ba, 2015).
type AdamHyper struct {
	LR, Beta1, Beta2, Eps float64
}

// AdamStep applies step t (t ≥ 1) of Adam to the parameters p in place,
// given their gradient g and the first and second moment estimates m and v,
// which it updates in place:
//
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr · (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε)
//
// and then zeroes g, so gradients that accumulate across runs start afresh.
// p, g, m, v: [n]. This is the update of gorgonia's AdamSolver (without
// clipping or regularisation), fused into one pass that allocates nothing.
func AdamStep[T Float](p, g, m, v []T, t int, h AdamHyper) {
	adamStep(p, g, m, v, t, h, true)
}

// AdamStepKeep is AdamStep leaving g as it is, for callers that write
// every gradient afresh each step (caetrain's fast VM): Adam then streams
// seven arrays, not eight.
func AdamStepKeep[T Float](p, g, m, v []T, t int, h AdamHyper) {
	adamStep(p, g, m, v, t, h, false)
}

func adamStep[T Float](p, g, m, v []T, t int, h AdamHyper, zero bool) {
	n := len(p)
	if len(g) != n || len(m) != n || len(v) != n {
		panic("kernels: AdamStep: p, g, m and v must have the same length")
	}
	if t < 1 {
		panic("kernels: AdamStep: step t must be ≥ 1")
	}
	if p32, ok := as32(p); ok {
		adamStep32(p32, any(g).([]float32), any(m).([]float32), any(v).([]float32), t, h, zero)
		return
	}
	b1, b2 := T(h.Beta1), T(h.Beta2)
	c1 := T(1 / (1 - math.Pow(h.Beta1, float64(t))))
	c2 := T(1 / (1 - math.Pow(h.Beta2, float64(t))))
	lr, eps := T(h.LR), T(h.Eps)
	for i := range p {
		gi := g[i]
		mi := b1*m[i] + (1-b1)*gi
		vi := b2*v[i] + (1-b2)*gi*gi
		m[i], v[i] = mi, vi
		p[i] -= lr * (mi * c1) / (T(math.Sqrt(float64(vi*c2))) + eps)
		if zero {
			g[i] = 0
		}
	}
}
