// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
	"gorgonia.org/tensor"
)

// TestShardedMatchesOneVM checks the data-parallel training machine
// against one VM over the whole batch: the loss, its terms and every
// gradient agree to float32 rounding (the shards only sum in another
// order), with the parameter-only nodes computed once, in the prologue. The batch of 100 splits unevenly into 3 shards of 33, 33 and 34
// rows, and 90 real rows leave the last shard partly padding. A batch of
// 300 (290 real rows) gives shards of 100 rows, over 64: their products by
// a transposed weight read it packed once per step (kernels.PackPays).
func TestShardedMatchesOneVM(t *testing.T) {
	for _, gather := range []bool{false, true} {
		for _, size := range [][2]int{{100, 90}, {300, 290}} {
			t.Run(fmt.Sprintf("gather=%v/batch=%d", gather, size[0]), func(t *testing.T) {
				if gather { // gather every product over the batch, however small
					defer func(o, r int) { gatherMinOut, gatherMaxRows = o, r }(gatherMinOut, gatherMaxRows)
					gatherMinOut, gatherMaxRows = 0, 1<<30
				}
				testShardedMatchesOneVM(t, gather, size[0], size[1])
			})
		}
	}
}

func testShardedMatchesOneVM(t *testing.T, gather bool, batch, rows int) {
	const workers = 3
	for _, c := range []struct {
		name string
		spec graph.Spec
	}{
		{"relu-3layer-sse", graph.Spec{Arch: []int{20, 12, 6, 3}, Act: graph.ReLU, OutAct: graph.Linear, Loss: graph.SSE, Lambda: 0.7}},
		{"sigmoid-tied-bce", graph.Spec{Arch: []int{20, 12}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Tied: true, Loss: graph.BCE, Lambda: 0.3}},
		{"sigmoid-untied-sse", graph.Spec{Arch: []int{20, 12}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Loss: graph.SSE, Lambda: 0.3}},
		{"cae+h", graph.Spec{Arch: []int{20, 12, 6}, Act: graph.Tanh, OutAct: graph.Linear, Loss: graph.SSE, Lambda: 0.5,
			HessGamma: 0.4, HessSigma: 0.2, HessCopies: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if S := shardCount(batch, workers); S != 3 {
				t.Fatalf("shardCount(%d, %d) = %d, want 3", batch, workers, S)
			}
			p, one, par := machinePair(t, c.spec, 3, batch, workers)
			if one.shards != nil || par.shards == nil || len(par.shards.shards) != 3 {
				t.Fatal("want one plain VM and a machine of 3 shards")
			}
			if par.shards.prologue == nil || par.shards.epilogue == nil {
				t.Fatal("no prologue or no epilogue: the penalty's parameter-only work would run in every shard")
			}
			if g := par.shards.gathered; (g > 0) != gather {
				t.Fatalf("%d products gathered over the batch, want gathering %v", g, gather)
			}
			if batch/3 > 64 && kernels.Sgemm == "avx2" && par.shards.packed == 0 {
				t.Fatal("no transposed weight is packed once per step for shards of over 64 rows")
			}
			if gather && c.spec.Tied && par.shards.fused != 2 {
				t.Fatalf("%d of the tied weight's two gathered gradients are added into the penalty's, want both (in bands of rows)", par.shards.fused)
			}
			if oneLayer := len(c.spec.Arch) == 2; gather && oneLayer && par.shards.plus != 1 {
				t.Fatalf("%d gathered products start from the one-layer penalty's gradient in their kernel, want 1 (kernels.MatMulPlus)", par.shards.plus)
			}
			data := synth(rows+7, 20, 5)
			idx := rand.New(rand.NewPCG(1, 2)).Perm(rows + 7)[:rows]
			for step := 1; step <= 2; step++ {
				if err := one.run(data, idx, 7, step); err != nil {
					t.Fatal(err)
				}
				if err := par.run(data, idx, 7, step); err != nil {
					t.Fatal(err)
				}
				check := func(name string, a, b float64) {
					if d := math.Abs(a - b); d > 1e-5*math.Max(1, math.Abs(a)) {
						t.Errorf("step %d %s: one VM %v, shards %v", step, name, a, b)
					}
				}
				check("loss", one.scalar(one.m.Loss), par.scalar(par.m.Loss))
				check("recon", one.scalar(one.m.Recon), par.scalar(par.m.Recon))
				check("penalty", one.scalar(one.m.Penalty), par.scalar(par.m.Penalty))
				if one.m.Hess != nil {
					h := one.scalar(one.m.Hess)
					if h == 0 {
						t.Fatal("CAE+H term is 0: the test would not see wrong noise rows")
					}
					check("hess", h, par.scalar(par.m.Hess))
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
							t.Fatalf("step %d: %s[%d]: one VM %v, shards %v", step, p.Shapes[i].Name, j, g1[i][j], g2[i][j])
						}
					}
				}
			}
		})
	}
}

// TestSplitPlan checks which nodes the shards share: Σ_i W_ji² for one
// sigmoid layer, the Gram matrix for a deep encoder, nothing that reads the
// batch; and which run once after the sum: the penalty's weight gradient
// and the products Xᵀ·δ over the whole batch.
func TestSplitPlan(t *testing.T) {
	for _, c := range []struct {
		spec          graph.Spec
		want, wantEpi string
	}{
		{graph.Spec{Arch: []int{20, 12}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Loss: graph.SSE, Lambda: 0.1}, "colsumsq", "colsumsq.backward"},
		{graph.Spec{Arch: []int{20, 12, 6}, Act: graph.ReLU, OutAct: graph.Linear, Loss: graph.SSE, Lambda: 0.1}, "matmul", "matmul"},
	} {
		p, err := graph.NewParams(c.spec, tensor.Float32)
		if err != nil {
			t.Fatal(err)
		}
		m, err := graph.Build(p, 8, graph.Options{Grad: true})
		if err != nil {
			t.Fatal(err)
		}
		plan, err := planSplit(m)
		if err != nil {
			t.Fatal(err)
		}
		front := plan.frontier
		var names []string
		for _, n := range front {
			info, _ := graph.Info(n.Op())
			names = append(names, info.Name)
			for _, s := range n.Shape() {
				if s == 8 {
					t.Errorf("%v: shared node %v has the batch in its shape %v", c.spec.Arch, n, n.Shape())
				}
			}
		}
		if len(names) == 0 || names[0] != c.want {
			t.Errorf("%v: shared nodes %v, want %s first", c.spec.Arch, names, c.want)
		}
		var epi []string
		for _, n := range plan.epilogue {
			epi = append(epi, opName(n))
		}
		if len(epi) == 0 || epi[0] != c.wantEpi {
			t.Errorf("%v: epilogue %v, want %s first", c.spec.Arch, epi, c.wantEpi)
		}
		if len(plan.gathered) == 0 {
			t.Errorf("%v: no weight gradient is gathered over the batch", c.spec.Arch)
		}
		t.Logf("%v: prologue %v; epilogue %v; %d boundary values; %d products over the whole batch",
			c.spec.Arch, names, epi, len(plan.boundary), len(plan.gathered))
	}
}

// machinePair builds Glorot parameters for spec from seed and two training
// machines over them, on one worker and on workers, closed when the test
// ends.
func machinePair(t *testing.T, spec graph.Spec, seed uint64, batch, workers int) (p *graph.Params, one, par *machine) {
	t.Helper()
	p, err := graph.NewParams(spec, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	GlorotInit(p, seed)
	if one, err = newMachineWorkers(p, batch, true, FastVM, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(one.close)
	if par, err = newMachineWorkers(p, batch, true, FastVM, workers); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(par.close)
	return p, one, par
}
