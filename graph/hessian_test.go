// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// hessSpecs covers CAE+H on 1 to 3 layers, each activation, 1 and 2 copies.
func hessSpecs() []Spec {
	return []Spec{
		{Arch: []int{6, 5}, Act: Sigmoid, OutAct: Sigmoid, Tied: true, Loss: BCE, Lambda: 0.3, HessGamma: 0.8, HessSigma: 0.3, HessCopies: 2},
		{Arch: []int{6, 5, 4}, Act: ReLU, OutAct: Linear, Loss: SSE, Lambda: 0.5, HessGamma: 1.5, HessSigma: 0.5, HessCopies: 1},
		{Arch: []int{7, 5, 4, 3}, Act: Tanh, OutAct: Linear, Tied: true, Loss: SSE, Lambda: 0.2, HessGamma: 0.7, HessSigma: 0.4, HessCopies: 3},
		{Arch: []int{7, 5, 4, 3}, Act: Sigmoid, OutAct: Sigmoid, Loss: BCE, Lambda: 0, HessGamma: 2, HessSigma: 0.2, HessCopies: 2},
	}
}

func hessName(s Spec) string {
	return fmt.Sprintf("%s-%v-copies=%d", s.Act, s.Arch, s.HessCopies)
}

func randNoise(s Spec, batch int, rng *rand.Rand) [][]float64 {
	var out [][]float64
	for c := 0; c < s.HessCopies; c++ {
		e := make([]float64, batch*s.Arch[0])
		for i := range e {
			e[i] = s.HessSigma * rng.NormFloat64()
		}
		out = append(out, e)
	}
	return out
}

// fdJacobian returns J_h(x) [nL][n0] by central differences of encode.
func (r *refModel) fdJacobian(x []float64, eps float64) [][]float64 {
	nL := r.spec.Arch[len(r.spec.Arch)-1]
	J := make([][]float64, nL)
	for j := range J {
		J[j] = make([]float64, len(x))
	}
	xp := append([]float64(nil), x...)
	for i := range x {
		xp[i] = x[i] + eps
		hp := r.encode(xp)
		xp[i] = x[i] - eps
		hm := r.encode(xp)
		xp[i] = x[i]
		for j := range hp {
			J[j][i] = (hp[j] - hm[j]) / (2 * eps)
		}
	}
	return J
}

// TestHessianMatchesFiniteDifferenceJacobians checks the CAE+H estimate
// (1/C)Σ_c ‖J(x) − J(x+ε_c)‖²_F against Jacobians from central differences
// at x and at each x+ε_c. Tolerance 1e-6 relative, as for the penalty.
func TestHessianMatchesFiniteDifferenceJacobians(t *testing.T) {
	const batch, tol = 3, 1e-6
	for i, s := range hessSpecs() {
		t.Run(hessName(s), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			p := randParams(t, s, rng)
			x := randX(batch, s.Arch[0], rng)
			r := newRunner(t, p, batch, false)
			r.noise = randNoise(s, batch, rng)
			r.run(t, x, ones(batch))
			if r.m.HessPer == nil || len(r.m.Noise) != s.HessCopies {
				t.Fatalf("model has HessPer %v and %d noise inputs, want a term with %d", r.m.HessPer, len(r.m.Noise), s.HessCopies)
			}
			got := r.vec(t, r.m.HessPer)
			ref := newRef(p)
			n0 := s.Arch[0]
			for b := 0; b < batch; b++ {
				xb := x[b*n0 : (b+1)*n0]
				J := ref.fdJacobian(xb, 1e-5)
				want := 0.0
				for c := range r.noise {
					xn := make([]float64, n0)
					for k := range xn {
						xn[k] = xb[k] + r.noise[c][b*n0+k]
					}
					Jn := ref.fdJacobian(xn, 1e-5)
					for j := range J {
						for k := range J[j] {
							d := J[j][k] - Jn[j][k]
							want += d * d
						}
					}
				}
				want /= float64(len(r.noise))
				if e := relErr(got[b], want); e > tol {
					t.Errorf("sample %d: CAE+H term got %.12g, want %.12g (finite differences), rel err %.3g", b, got[b], want, e)
				}
			}
		})
	}
}

// TestHessianGradients checks the gradient of the full loss with the CAE+H
// term (noise held fixed) against central differences; tolerance as in
// TestGradientsMatchCentralDifferences.
func TestHessianGradients(t *testing.T) {
	const batch, tol, h = 3, 1e-6, 1e-6
	for i, s := range hessSpecs() {
		t.Run(hessName(s), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 12))
			p := randParams(t, s, rng)
			x := randX(batch, s.Arch[0], rng)
			noise := randNoise(s, batch, rng)
			mask := []float64{1, 0, 1}
			tr := newRunner(t, p, batch, true)
			tr.noise = noise
			tr.run(t, x, mask)
			var analytic [][]float64
			for _, n := range tr.m.Learnables {
				gv, err := n.Grad()
				if err != nil {
					t.Fatal(err)
				}
				analytic = append(analytic, append([]float64(nil), gv.Data().([]float64)...))
			}
			fwd := newRunner(t, p, batch, false)
			fwd.noise = noise
			loss := func() float64 {
				fwd.run(t, x, mask)
				return fwd.scalar(t, fwd.m.Loss)
			}
			checkGradients(t, p, analytic, loss, h, tol)
			// The term must matter: the loss with γ = 0 differs.
			if tr.m.Hess == nil || tr.scalar(t, tr.m.Hess) <= 0 {
				t.Errorf("CAE+H mean is not positive")
			}
		})
	}
}

func TestHessianValidate(t *testing.T) {
	s := hessSpecs()[0]
	for name, mod := range map[string]func(*Spec){
		"negative gamma": func(s *Spec) { s.HessGamma = -1 },
		"zero sigma":     func(s *Spec) { s.HessSigma = 0 },
		"zero copies":    func(s *Spec) { s.HessCopies = 0 },
	} {
		c := s
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	off := s
	off.HessGamma, off.HessSigma, off.HessCopies = 0, 0, 0
	if err := off.Validate(); err != nil {
		t.Errorf("CAE+H off: %v", err)
	}
}
