// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"math"
	"testing"

	"github.com/caetrain/caetrain/kernels"
)

// AdamStepTest runs steps 1 to 5 of impl.AdamStep and of kernels.AdamStep
// in float64 from the same start, and checks p, m and v after each, and
// that g comes back zeroed.
func AdamStepTest(t *testing.T, impl Impl) {
	for _, h := range []kernels.AdamHyper{
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		{LR: 0.01, Beta1: 0.5, Beta2: 0.9, Eps: 1e-6},
	} {
		for _, n := range []int{1, 33, 1000, 784*64 + 64} {
			rng := newRNG(91)
			name := fmt.Sprintf("lr%g-b%g-%d", h.LR, h.Beta1, n)
			p32, m32, v32 := normal(rng, n, 0.1), make([]float32, n), make([]float32, n)
			p64, m64, v64 := f64(p32), make([]float64, n), make([]float64, n)
			for step := 1; step <= 5; step++ {
				var a args
				g32 := normal(rng, n, 0.01)
				g64 := f64(g32)
				p, g, m, v := a.inout("p", p32), a.inout("g", g32), a.inout("m", m32), a.inout("v", v32)
				run(t, name, impl.AdamStep(p, g, m, v, step, h))
				a.check(t)
				kernels.AdamStep(p64, g64, m64, v64, step, h)
				what := fmt.Sprintf("%s step %d", name, step)
				near(t, what+" p", p, p64, Tol)
				near(t, what+" m", m, m64, Tol)
				near(t, what+" v", v, v64, Tol)
				for i, gi := range g {
					if math.Float32bits(gi) != 0 {
						t.Fatalf("%s: g[%d] = %v, want +0", what, i, gi)
					}
				}
				copy(p32, p)
				copy(m32, m)
				copy(v32, v)
			}
		}
	}
}
