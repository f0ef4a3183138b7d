// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
)

// TestReduceTasks: a reduction split over row blocks (one per worker:
// several counts, blocks of one row and uneven blocks among them) gives
// the unsplit kernel's result, run after run (the tasks reset themselves).
func TestReduceTasks(t *testing.T) {
	const rows, n = 37, 19
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, rows*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	want := make([]float32, n)
	kernels.ColSum(want, x, rows, n)
	colSum := func(o []float32, in [][]float32, lo, hi int) { kernels.ColSum(o, in[0], hi-lo, n) }
	for _, workers := range []int{1, 2, 3, 5, rows - 1, rows, rows + 4} {
		p := newPool(min(workers, 4))
		out := make([]float32, n)
		tasks := reduceTasks(rows, []int{n}, colSum, out, [][]float32{x}, workers)
		if len(tasks) != min(workers, rows) {
			t.Errorf("%d workers: %d tasks", workers, len(tasks))
		}
		for run := 0; run < 3; run++ {
			clear(out)
			p.run(tasks)
			for j := range want {
				if math.Abs(float64(out[j]-want[j])) > 1e-5*math.Max(1, math.Abs(float64(want[j]))) {
					t.Fatalf("%d workers, run %d: [%d] = %v, unsplit %v", workers, run, j, out[j], want[j])
				}
			}
		}
		p.close()
	}
}

// TestVMReductionsMatchOneWorker: a training batch too small to shard
// runs on one VM over two workers, which splits the penalty's reductions
// (∂G of the quadratic form, ∂W of OuterScale, colsumsq, diagpen.dc) and
// the weight gradients' products Aᵀ·B over the batch into per-worker
// partial sums; the losses and gradients agree with one worker's to
// float32 rounding.
func TestVMReductionsMatchOneWorker(t *testing.T) {
	const batch, workers = 48, 2
	if S := shardCount(batch, workers); S != 1 {
		t.Skipf("a batch of %d is split into %d shards", batch, S)
	}
	for _, c := range []struct {
		spec graph.Spec
		want []string // ops that must run as reductions
	}{
		{graph.Spec{Arch: []int{784, 64, 32, 16}, Act: graph.ReLU, OutAct: graph.Linear, Loss: graph.SSE, Lambda: 100},
			[]string{"quadform.dg", "outerscale.dw", "matmul [64 32 768]"}},
		{graph.Spec{Arch: []int{784, 400}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Tied: true, Loss: graph.BCE, Lambda: 0.1},
			[]string{"colsumsq", "diagpen.dc"}},
	} {
		t.Run(fmt.Sprint(c.spec.Arch), func(t *testing.T) {
			p, one, par := machinePair(t, c.spec, 4, batch, workers)
			if par.fast == nil {
				t.Fatal("want one VM over two workers")
			}
			split := map[string]bool{}
			for _, ins := range par.fast.prog {
				info, ok := graph.Info(ins.node.Op())
				if !ok || len(ins.tasks) < 2 {
					continue
				}
				name := info.Name
				if name == "matmul" {
					name = fmt.Sprintf("matmul %v", info.Dims)
				}
				split[name] = true
			}
			for _, name := range c.want {
				if !split[name] {
					t.Errorf("%s does not run split (split: %v)", name, split)
				}
			}
			data := synth(batch+5, 784, 6)
			idx := rand.New(rand.NewPCG(2, 3)).Perm(batch + 5)[:batch-3] // padding rows too
			for step := 1; step <= 2; step++ {
				if err := one.run(data, idx, 7, step); err != nil {
					t.Fatal(err)
				}
				if err := par.run(data, idx, 7, step); err != nil {
					t.Fatal(err)
				}
				if a, b := one.scalar(one.m.Loss), par.scalar(par.m.Loss); math.Abs(a-b) > 1e-5*math.Abs(a) {
					t.Errorf("step %d: loss one worker %v, two %v", step, a, b)
				}
				g1, _ := one.grads()
				g2, _ := par.grads()
				for i := range g1 {
					var scale float64
					for _, v := range g1[i] {
						scale = math.Max(scale, math.Abs(float64(v)))
					}
					for j := range g1[i] {
						if d := math.Abs(float64(g1[i][j] - g2[i][j])); d > 1e-5*math.Max(scale, 1e-3) {
							t.Fatalf("step %d: %s[%d]: one worker %v, two %v", step, p.Shapes[i].Name, j, g1[i][j], g2[i][j])
						}
					}
				}
			}
		})
	}
}
