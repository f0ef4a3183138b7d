// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"testing"

	"github.com/caetrain/caetrain/kernels"
)

// reconModes are the output activations and losses the model supports:
// SSE after any output activation, BCE (from logits) after a sigmoid.
var reconModes = []struct {
	act kernels.Act
	bce bool
}{
	{kernels.Linear, false}, {kernels.Sigmoid, false}, {kernels.Tanh, false}, {kernels.ReLU, false},
	{kernels.Sigmoid, true},
}

func reconName(act kernels.Act, bce bool, rows, n int) string {
	loss := "sse"
	if bce {
		loss = "bce"
	}
	return fmt.Sprintf("%v-%s-%dx%d", act, loss, rows, n)
}

// ReconLossTest checks impl.ReconLoss against kernels.ReconLoss in
// float64, with pixels x in [0, 1] and logits z ~ N(0, 4).
func ReconLossTest(t *testing.T, impl Impl) {
	rng := newRNG(11)
	for _, m := range reconModes {
		for _, s := range append(rowsN, struct{ rows, n int }{5, 0}) {
			name := reconName(m.act, m.bce, s.rows, s.n)
			var a args
			z := a.in("z", normal(rng, s.rows*s.n, 2))
			x := a.in("x", uniform(rng, s.rows*s.n, 0, 1))
			out := a.out("out", s.rows)
			run(t, name, impl.ReconLoss(out, z, x, s.rows, s.n, m.act, m.bce))
			a.check(t)
			want := make([]float64, s.rows)
			kernels.ReconLoss(want, f64(z), f64(x), s.rows, s.n, m.act, m.bce)
			near(t, name, out, want, Tol)
		}
	}
}

// ReconGradTest checks impl.ReconGrad against kernels.ReconGrad in
// float64.
func ReconGradTest(t *testing.T, impl Impl) {
	rng := newRNG(12)
	for _, m := range reconModes {
		for _, s := range rowsN {
			name := reconName(m.act, m.bce, s.rows, s.n)
			var a args
			z := a.in("z", normal(rng, s.rows*s.n, 2))
			x := a.in("x", uniform(rng, s.rows*s.n, 0, 1))
			g := a.in("g", uniform(rng, s.rows, 0, 1.0/float64(s.rows)))
			out := a.out("out", s.rows*s.n)
			run(t, name, impl.ReconGrad(out, z, x, g, s.rows, s.n, m.act, m.bce))
			a.check(t)
			want := make([]float64, len(out))
			kernels.ReconGrad(want, f64(z), f64(x), f64(g), s.rows, s.n, m.act, m.bce)
			near(t, name, out, want, Tol)
		}
	}
}

// maskFor is a batch mask with its first real rows set, and 1/real.
func maskFor(rows, real int) (mask, invn []float32) {
	mask = make([]float32, rows)
	for i := range real {
		mask[i] = 1
	}
	return mask, []float32{float32(1 / float64(real))}
}

// LossCombineTest checks impl.LossCombine against kernels.LossCombine in
// float64, for 1 to 4 terms of per-sample losses at their usual scales
// (reconstruction ~30, penalty ~0.2, weights 1 and λ) and partial batches.
func LossCombineTest(t *testing.T, impl Impl) {
	rng := newRNG(13)
	for _, s := range []struct{ rows, real int }{{1, 1}, {7, 3}, {128, 128}, {128, 100}, {300, 299}, {1025, 1000}} {
		for K := 1; K <= 4; K++ {
			name := fmt.Sprintf("K%d-%d-of-%d", K, s.real, s.rows)
			var a args
			terms := make([][]float32, K)
			w := make([]float64, K)
			for k := range terms {
				scale := []float64{30, 0.2, 1, 5}[k]
				terms[k] = a.in(fmt.Sprintf("terms[%d]", k), uniform(rng, s.rows, 0, 2*scale))
				w[k] = []float64{1, 100, 0.1, 3}[k]
			}
			m, iv := maskFor(s.rows, s.real)
			mask, invn := a.in("mask", m), a.in("invn", iv)
			out := a.out("out", 1)
			run(t, name, impl.LossCombine(out, terms, w, mask, invn))
			a.check(t)
			t64 := make([][]float64, K)
			for k := range terms {
				t64[k] = f64(terms[k])
			}
			want := make([]float64, 1)
			kernels.LossCombine(want, t64, w, f64(mask), f64(invn))
			near(t, name, out, want, Tol)
		}
	}
}

// MaskWeightsTest checks impl.MaskWeights against kernels.MaskWeights in
// float64.
func MaskWeightsTest(t *testing.T, impl Impl) {
	for _, s := range []struct{ rows, real int }{{1, 1}, {7, 3}, {128, 100}, {1025, 1000}} {
		for _, w := range []float64{1, 100, 0.1} {
			name := fmt.Sprintf("w%g-%d-of-%d", w, s.real, s.rows)
			var a args
			m, iv := maskFor(s.rows, s.real)
			mask, invn := a.in("mask", m), a.in("invn", iv)
			g := a.in("g", []float32{0.75})
			out := a.out("out", s.rows)
			run(t, name, impl.MaskWeights(out, mask, invn, g, w))
			a.check(t)
			want := make([]float64, s.rows)
			kernels.MaskWeights(want, f64(mask), f64(invn), f64(g), w)
			near(t, name, out, want, Tol)
		}
	}
}
