// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/caetrain/caetrain/graph"
	"gorgonia.org/tensor"
)

// TestParallelAdamMatchesAdam: the update over a pool of workers gives the
// serial Adam.Step's parameters and moments bit for bit, leaves the
// gradients as they are (the fast VM overwrites them), and the check finds
// a non-finite gradient in any tensor and any worker's slice, and then
// changes nothing.
func TestParallelAdamMatchesAdam(t *testing.T) {
	p, err := graph.NewParams(graph.Spec{Arch: []int{50, 37}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Loss: graph.SSE}, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := graph.NewParams(p.Spec, tensor.Float32)
	GlorotInit(p, 1)
	GlorotInit(q, 1)
	r := rand.New(rand.NewPCG(1, 2))
	grads := make([][]float32, len(p.Tensors))
	for i, tn := range p.Tensors {
		grads[i] = make([]float32, len(tn.Data().([]float32)))
	}
	serial, par := NewAdam(p, DefaultAdam), NewAdam(q, DefaultAdam)
	pool := newPool(3)
	defer pool.close()
	pa := newParallelAdam(&par, grads, 3)
	for step := 0; step < 3; step++ {
		for _, g := range grads {
			for j := range g {
				g[j] = float32(r.NormFloat64())
			}
		}
		keep := make([][]float32, len(grads))
		for i, g := range grads {
			keep[i] = append([]float32(nil), g...)
		}
		if bad := pa.step(pool); bad != -1 {
			t.Fatalf("finite gradients reported non-finite in tensor %d", bad)
		}
		for i, g := range grads {
			for j := range g {
				if g[j] != keep[i][j] {
					t.Fatalf("step %d: gradient %d[%d] changed", step, i, j)
				}
			}
		}
		serial.Step(keep)
		for i := range p.Tensors {
			a, b := p.Tensors[i].Data().([]float32), q.Tensors[i].Data().([]float32)
			for j := range a {
				if math.Float32bits(a[j]) != math.Float32bits(b[j]) || serial.M[i][j] != par.M[i][j] || serial.V[i][j] != par.V[i][j] {
					t.Fatalf("step %d: tensor %d[%d]: serial %v, parallel %v", step, i, j, a[j], b[j])
				}
			}
		}
	}
	// A non-finite value anywhere stops the whole update: nothing changes.
	before := paramsOf(q)
	m0, v0, t0 := clone2(par.M), clone2(par.V), par.T
	for i, g := range grads {
		for _, j := range []int{0, len(g) / 2, len(g) - 1} {
			old := g[j]
			g[j] = float32(math.Inf(1))
			if bad := pa.step(pool); bad != i {
				t.Errorf("+Inf in gradient %d[%d]: check says %d", i, j, bad)
			}
			g[j] = float32(math.NaN())
			if bad := pa.step(pool); bad != i {
				t.Errorf("NaN in gradient %d[%d]: check says %d", i, j, bad)
			}
			g[j] = old
		}
	}
	after := paramsOf(q)
	for i := range before {
		for j := range before[i] {
			if math.Float32bits(before[i][j]) != math.Float32bits(after[i][j]) || m0[i][j] != par.M[i][j] || v0[i][j] != par.V[i][j] {
				t.Fatalf("a step with a non-finite gradient changed tensor %d[%d]", i, j)
			}
		}
	}
	if par.T != t0 {
		t.Fatalf("a step with a non-finite gradient counted: T %d, was %d", par.T, t0)
	}
}

func paramsOf(p *graph.Params) [][]float32 {
	var out [][]float32
	for _, t := range p.Tensors {
		out = append(out, append([]float32(nil), t.Data().([]float32)...))
	}
	return out
}

func clone2(x [][]float32) [][]float32 {
	out := make([][]float32, len(x))
	for i := range x {
		out[i] = append([]float32(nil), x[i]...)
	}
	return out
}
