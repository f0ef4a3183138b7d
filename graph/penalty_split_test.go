// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestPenaltySplits: every penalty op that a VM may split runs, split
// into row blocks (several block counts, blocks of one row and uneven
// ones among them; a reduction's partial outputs summed), to its unsplit
// float32 kernel's result, up to rounding (BLAS may sum in another order
// for another number of rows).
func TestPenaltySplits(t *testing.T) {
	const B, nL, P, C, n0 = 23, 5, 7, 9, 31
	g := G.NewGraph()
	in := func(name string, s ...int) *G.Node {
		return G.NewTensor(g, G.Float32, len(s), G.WithShape(s...), G.WithName(name))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	// Values: ReLU-like derivatives (half zero), so that the factor has
	// zero rows, and random weights and gradients.
	vals := map[*G.Node][]float32{}
	val := func(n *G.Node, relu bool) *G.Node {
		v := make([]float32, n.Shape().TotalSize())
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			if relu {
				v[i] = float32(rng.IntN(2))
			}
		}
		vals[n] = v
		return n
	}
	dL, w, dP := val(in("dL", B, nL), true), val(in("w", P, nL), false), val(in("dP", B, P), true)
	w2, d1 := val(in("w2", C, P), false), val(in("d1", B, C), true)
	w1 := val(in("w1", n0, C), false)
	gout := val(in("gout", B), false)
	gT, gM := val(in("gT", B, nL, P), false), val(in("gM", B, nL, C), false)
	gC := val(in("gC", C), false)

	kids := func(n *G.Node) G.Nodes {
		var out G.Nodes
		it := g.From(n.ID())
		for it.Next() {
			out = append(out, it.Node().(*G.Node))
		}
		return out
	}
	var nodes G.Nodes
	add := func(ns ...*G.Node) { nodes = append(nodes, ns...) }
	diff := func(n *G.Node, grad *G.Node) G.Nodes {
		gs, err := n.Op().(*kernelOp).diff(kids(n), n, grad)
		if err != nil {
			t.Fatal(err)
		}
		return gs
	}
	os := outerScale(dL, w, dP) // [B, nL, P]
	add(os)
	add(diff(os, gT)...)
	m := scaleCols(matmul(os, w2, false, true, tensor.Shape{B, nL, C}), d1) // [B, nL, C]
	add(m)
	add(diff(m, gM)...)
	gram := matmul(w1, w1, true, false, tensor.Shape{C, C})
	q := quadForm(m, gram)
	add(q)
	add(diff(q, gout)...)
	cs := colSumSq(w1)
	add(cs)
	add(diff(cs, gC)...)
	dp := diagPen(d1, gC)
	add(dp)
	add(diff(dp, gout)...)

	// The values of every node the ops read, computed unsplit.
	var value func(n *G.Node) []float32
	value = func(n *G.Node) []float32 {
		if v, ok := vals[n]; ok {
			return v
		}
		k, ok := n.Op().(*kernelOp)
		if !ok {
			t.Fatalf("node %v: op %v", n, n.Op())
		}
		var ins [][]float32
		for _, c := range kids(n) {
			ins = append(ins, value(c))
		}
		out := make([]float32, max(n.Shape().TotalSize(), 1))
		k.f32(out, ins)
		vals[n] = out
		return out
	}
	tried := map[string]bool{}
	for _, n := range nodes {
		if n == nil {
			continue
		}
		k := n.Op().(*kernelOp)
		if k.split == nil && k.reduce == nil {
			continue
		}
		tried[k.name] = true
		want := value(n)
		var ins [][]float32
		for _, c := range kids(n) {
			ins = append(ins, value(c))
		}
		var rows int
		var inW []int
		if k.split != nil {
			rows, inW = k.split.rows, k.split.inW
		} else {
			rows, inW = k.reduce.rows, k.reduce.inW
		}
		for _, blocks := range []int{1, 2, 3, rows - 1, rows} {
			if blocks < 1 {
				continue
			}
			got := make([]float32, len(want))
			for b := 0; b < blocks; b++ {
				lo, hi := rows*b/blocks, rows*(b+1)/blocks
				sin := make([][]float32, len(ins))
				for i, v := range ins {
					if inW[i] == 0 {
						sin[i] = v
					} else {
						sin[i] = v[lo*inW[i] : hi*inW[i]]
					}
				}
				if k.split != nil {
					k.split.r32(got[lo*k.split.outW:hi*k.split.outW], sin, lo, hi)
					continue
				}
				part := make([]float32, len(want))
				k.reduce.r32(part, sin, lo, hi)
				for i, v := range part {
					got[i] += v
				}
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*math.Max(1, math.Abs(float64(want[i]))) {
					t.Errorf("%s, %d blocks of %d rows: [%d] = %v, unsplit %v", k.name, blocks, rows, i, got[i], want[i])
					break
				}
			}
		}
	}
	for _, name := range []string{"outerscale", "outerscale.ddl", "outerscale.dw", "outerscale.ddp", "scalecols",
		"rowdot", "quadform", "quadform.dt", "quadform.dg", "colsumsq", "colsumsq.backward", "diagpen", "diagpen.dd", "diagpen.dc"} {
		if !tried[name] {
			t.Errorf("%s: not split (or not in the test)", name)
		}
	}
	t.Logf("%d ops split", len(tried))
}
