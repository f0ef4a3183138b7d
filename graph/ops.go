// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"
	"math"
	"sync"

	"github.com/caetrain/caetrain/kernels"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The CAE's op set. Every node of a model graph, forward and gradient, is
// one of these kernel ops, an input, a constant, or the additions
// gorgonia.Grad inserts to sum gradients; each op computes with a function
// of package kernels, which is also the specification of any faster
// (fused, GPU) version.

// fixed returns a shape function that checks the inputs' shapes and
// returns out.
func fixed(name string, out tensor.Shape, in ...tensor.Shape) func([]tensor.Shape) (tensor.Shape, error) {
	return func(got []tensor.Shape) (tensor.Shape, error) {
		for i, s := range in {
			if !got[i].Eq(s) {
				return nil, fmt.Errorf("%s: input %d has shape %v, want %v", name, i, got[i], s)
			}
		}
		return out, nil
	}
}

func shapeOf(n *G.Node) tensor.Shape { return n.Shape().Clone() }

// flatSplit splits an element-wise op with nIn same-shaped inputs over the
// rows of shape s.
func flatSplit(s tensor.Shape, nIn int, f func(out []float32, in [][]float32)) *rowSplit {
	rows := max(s.TotalSize(), 1)
	w := 1
	if len(s) > 0 {
		rows, w = s[0], s.TotalSize()/s[0]
	}
	inW := make([]int, nIn)
	for i := range inW {
		inW[i] = w
	}
	return &rowSplit{rows: rows, inW: inW, outW: w, r32: func(o []float32, in [][]float32, _, _ int) { f(o, in) }}
}

// fbits is a float's bits as two ints, for an op's identity.
func fbits(f float64) []int {
	b := math.Float64bits(f)
	return []int{int(b >> 32), int(b & 0xffffffff)}
}

func bint(b bool) int {
	if b {
		return 1
	}
	return 0
}

// matmul is op(a)·op(b) (kernels.MatMul) with a and b flattened to
// matrices: all dimensions but the last form the rows. out is the result's
// shape.
func matmul(a, b *G.Node, ta, tb bool, out tensor.Shape) *G.Node {
	as, bs := shapeOf(a), shapeOf(b)
	lead := func(s tensor.Shape) int { return s.TotalSize() / s[len(s)-1] }
	m, k := lead(as), as[len(as)-1]
	if ta {
		m, k = k, m
	}
	n := bs[len(bs)-1]
	kb := lead(bs)
	if tb {
		n, kb = kb, n
	}
	if k != kb || out.TotalSize() != m*n {
		panic(fmt.Errorf("matmul: shapes %v·%v (transposed %v, %v) do not give %v", as, bs, ta, tb, out))
	}
	if ta && tb {
		panic(fmt.Errorf("matmul: both operands transposed is not supported"))
	}
	op := &kernelOp{
		name: "matmul", info: OpInfo{Dims: []int{m, n, k}, TA: ta, TB: tb}, dims: []int{len(as), len(bs)}, outDims: len(out),
		params:  append(append(append([]int{m, n, k, bint(ta), bint(tb)}, as...), bs...), out...),
		shape:   fixed("matmul", out, as, bs),
		f32:     func(o []float32, in [][]float32) { kernels.MatMul(o, in[0], in[1], m, n, k, ta, tb) },
		f64:     func(o []float64, in [][]float64) { kernels.MatMul(o, in[0], in[1], m, n, k, ta, tb) },
		mm:      &MatMulShape{M: m, N: n, K: k, TA: ta, TB: tb},
		diffWRT: []bool{true, true},
	}
	op.diff = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		x, y := in[0], in[1]
		switch {
		case !ta && !tb: // C = A B: dA = g Bᵀ, dB = Aᵀ g
			return G.Nodes{matmul(g, y, false, true, as), matmul(x, g, true, false, bs)}, nil
		case !ta && tb: // C = A Bᵀ: dA = g B, dB = gᵀ A
			return G.Nodes{matmul(g, y, false, false, as), matmul(g, x, true, false, bs)}, nil
		default: // C = Aᵀ B: dA = B gᵀ, dB = A g
			return G.Nodes{matmul(y, g, false, true, as), matmul(x, g, false, false, bs)}, nil
		}
	}
	return apply(op, a, b)
}

// biasAct is φ(xw + b) for xw [rows, n] and b [n] (kernels.BiasAct).
func biasAct(xw, b *G.Node, act kernels.Act) *G.Node {
	s := shapeOf(xw)
	rows, n := s[0], s[1]
	op := &kernelOp{
		name: "biasact", info: OpInfo{Dims: []int{rows, n}, Act: act}, dims: []int{2, 1}, outDims: 2, params: []int{rows, n, int(act)},
		shape: fixed("biasact", s, s, tensor.Shape{n}),
		f32:   func(o []float32, in [][]float32) { kernels.BiasAct(o, in[0], in[1], rows, n, act) },
		f64:   func(o []float64, in [][]float64) { kernels.BiasAct(o, in[0], in[1], rows, n, act) },
		split: &rowSplit{rows: rows, inW: []int{n, 0}, outW: n, r32: func(o []float32, in [][]float32, lo, hi int) {
			kernels.BiasAct(o, in[0], in[1], hi-lo, n, act)
		}},
		diffWRT: []bool{true, true},
	}
	op.diff = func(_ G.Nodes, out, g *G.Node) (G.Nodes, error) {
		dz := g
		if act != kernels.Linear {
			dz = actBackward(out, g, act)
		}
		return G.Nodes{dz, colSum(dz)}, nil
	}
	return apply(op, xw, b)
}

// actBackward is g ⊙ φ′ computed from the activation's output a
// (kernels.ActBackward).
func actBackward(a, g *G.Node, act kernels.Act) *G.Node {
	s := shapeOf(a)
	op := &kernelOp{
		name: "act.backward", info: OpInfo{Dims: []int{s.TotalSize()}, Act: act}, dims: []int{len(s), len(s)}, outDims: len(s), params: append([]int{int(act)}, s...),
		shape: fixed("act.backward", s, s, s),
		f32:   func(o []float32, in [][]float32) { kernels.ActBackward(o, in[0], in[1], act) },
		f64:   func(o []float64, in [][]float64) { kernels.ActBackward(o, in[0], in[1], act) },
		split: flatSplit(s, 2, func(o []float32, in [][]float32) { kernels.ActBackward(o, in[0], in[1], act) }),
	}
	return apply(op, a, g)
}

// colSum is the column sums [n] of x [rows, n] (kernels.ColSum).
func colSum(x *G.Node) *G.Node {
	s := shapeOf(x)
	rows, n := s[0], s[1]
	op := &kernelOp{
		name: "colsum", info: OpInfo{Dims: []int{rows, n}}, dims: []int{2}, outDims: 1, params: []int{rows, n},
		shape: fixed("colsum", tensor.Shape{n}, s),
		f32:   func(o []float32, in [][]float32) { kernels.ColSum(o, in[0], rows, n) },
		f64:   func(o []float64, in [][]float64) { kernels.ColSum(o, in[0], rows, n) },
	}
	return apply(op, x)
}

// actDeriv is d = φ′(z) from a = φ(z) (kernels.ActDeriv). Its gradient
// goes back into a, and from there through φ′ again: the penalty's
// dependence on the second derivative.
func actDeriv(a *G.Node, act kernels.Act) *G.Node {
	s := shapeOf(a)
	op := &kernelOp{
		name: "act.deriv", info: OpInfo{Dims: []int{s.TotalSize()}, Act: act}, dims: []int{len(s)}, outDims: len(s), params: append([]int{int(act)}, s...),
		shape: fixed("act.deriv", s, s),
		f32:   func(o []float32, in [][]float32) { kernels.ActDeriv(o, in[0], act) },
		f64:   func(o []float64, in [][]float64) { kernels.ActDeriv(o, in[0], act) },
		split: flatSplit(s, 1, func(o []float32, in [][]float32) { kernels.ActDeriv(o, in[0], act) }),
	}
	if act == kernels.Sigmoid || act == kernels.Tanh { // ReLU's and linear's φ′ are piecewise constant
		op.diffWRT = []bool{true}
		op.diff = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
			return G.Nodes{actDerivBackward(in[0], g, act)}, nil
		}
	}
	return apply(op, a)
}

func actDerivBackward(a, g *G.Node, act kernels.Act) *G.Node {
	s := shapeOf(a)
	op := &kernelOp{
		name: "act.deriv.backward", info: OpInfo{Dims: []int{s.TotalSize()}, Act: act}, dims: []int{len(s), len(s)}, outDims: len(s), params: append([]int{int(act)}, s...),
		shape: fixed("act.deriv.backward", s, s, s),
		f32:   func(o []float32, in [][]float32) { kernels.ActDerivBackward(o, in[0], in[1], act) },
		f64:   func(o []float64, in [][]float64) { kernels.ActDerivBackward(o, in[0], in[1], act) },
		split: flatSplit(s, 2, func(o []float32, in [][]float32) { kernels.ActDerivBackward(o, in[0], in[1], act) }),
	}
	return apply(op, a, g)
}

// activation is φ(z) (kernels.Apply); used for the reconstruction output.
func activation(z *G.Node, act kernels.Act) *G.Node {
	s := shapeOf(z)
	op := &kernelOp{
		name: "act", info: OpInfo{Dims: []int{s.TotalSize()}, Act: act}, dims: []int{len(s)}, outDims: len(s), params: append([]int{int(act)}, s...),
		shape: fixed("act", s, s),
		f32:   func(o []float32, in [][]float32) { kernels.Apply(o, in[0], act) },
		f64:   func(o []float64, in [][]float64) { kernels.Apply(o, in[0], act) },
		split: flatSplit(s, 1, func(o []float32, in [][]float32) { kernels.Apply(o, in[0], act) }),
	}
	return apply(op, z)
}

// reconLoss is the per-sample loss [rows] of the last pre-activation z
// against x (kernels.ReconLoss).
func reconLoss(z, x *G.Node, outAct kernels.Act, bce bool) *G.Node {
	s := shapeOf(z)
	rows, n := s[0], s[1]
	op := &kernelOp{
		name: "recon", info: OpInfo{Dims: []int{rows, n}, Act: outAct, BCE: bce}, dims: []int{2, 2}, outDims: 1, params: []int{rows, n, int(outAct), bint(bce)},
		shape: fixed("recon", tensor.Shape{rows}, s, s),
		f32:   func(o []float32, in [][]float32) { kernels.ReconLoss(o, in[0], in[1], rows, n, outAct, bce) },
		f64:   func(o []float64, in [][]float64) { kernels.ReconLoss(o, in[0], in[1], rows, n, outAct, bce) },
		split: &rowSplit{rows: rows, inW: []int{n, n}, outW: 1, r32: func(o []float32, in [][]float32, lo, hi int) {
			kernels.ReconLoss(o, in[0], in[1], hi-lo, n, outAct, bce)
		}},
		diffWRT: []bool{true, false},
	}
	op.diff = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		gop := &kernelOp{
			name: "recon.backward", info: OpInfo{Dims: []int{rows, n}, Act: outAct, BCE: bce}, dims: []int{2, 2, 1}, outDims: 2, params: op.params,
			shape: fixed("recon.backward", s, s, s, tensor.Shape{rows}),
			f32: func(o []float32, in [][]float32) {
				kernels.ReconGrad(o, in[0], in[1], in[2], rows, n, outAct, bce)
			},
			f64: func(o []float64, in [][]float64) {
				kernels.ReconGrad(o, in[0], in[1], in[2], rows, n, outAct, bce)
			},
			split: &rowSplit{rows: rows, inW: []int{n, n, 1}, outW: n, r32: func(o []float32, in [][]float32, lo, hi int) {
				kernels.ReconGrad(o, in[0], in[1], in[2], hi-lo, n, outAct, bce)
			}},
		}
		return G.Nodes{apply(gop, in[0], in[1], g), nil}, nil
	}
	return apply(op, z, x)
}

// lossCombine is invn·Σ_b mask_b Σ_k w_k terms_k[b], a scalar
// (kernels.LossCombine), differentiable in the terms.
func lossCombine(terms G.Nodes, w []float64, mask, invn *G.Node) *G.Node {
	rows := mask.Shape()[0]
	dims := make([]int, 0, len(terms)+2)
	wrt := make([]bool, 0, len(terms)+2)
	shapes := make([]tensor.Shape, 0, len(terms)+2)
	params := []int{rows}
	for _, wk := range w {
		params = append(params, fbits(wk)...)
	}
	for range terms {
		dims, wrt, shapes = append(dims, 1), append(wrt, true), append(shapes, tensor.Shape{rows})
	}
	dims, wrt, shapes = append(dims, 1, 0), append(wrt, false, false), append(shapes, tensor.Shape{rows}, tensor.ScalarShape())
	K := len(terms)
	op := &kernelOp{
		name: "loss", info: OpInfo{Dims: []int{rows}, Weights: w}, dims: dims, outDims: 0, params: params,
		shape: fixed("loss", tensor.ScalarShape(), shapes...),
		f32: func(o []float32, in [][]float32) {
			kernels.LossCombine(o, in[:K], w, in[K], in[K+1])
		},
		f64: func(o []float64, in [][]float64) {
			kernels.LossCombine(o, in[:K], w, in[K], in[K+1])
		},
		diffWRT: wrt,
	}
	op.diff = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		out := make(G.Nodes, len(in))
		for k := 0; k < K; k++ {
			out[k] = maskWeights(in[K], in[K+1], g, w[k])
		}
		return out, nil
	}
	args := append(append(G.Nodes{}, terms...), mask, invn)
	return apply(op, args...)
}

// maskWeights is g·w·invn·mask (kernels.MaskWeights).
func maskWeights(mask, invn, g *G.Node, w float64) *G.Node {
	rows := mask.Shape()[0]
	op := &kernelOp{
		name: "loss.backward", info: OpInfo{Dims: []int{rows}, Weights: []float64{w}}, dims: []int{1, 0, 0}, outDims: 1, params: append([]int{rows}, fbits(w)...),
		shape: fixed("loss.backward", tensor.Shape{rows}, tensor.Shape{rows}, tensor.ScalarShape(), tensor.ScalarShape()),
		f32:   func(o []float32, in [][]float32) { kernels.MaskWeights(o, in[0], in[1], in[2], w) },
		f64:   func(o []float64, in [][]float64) { kernels.MaskWeights(o, in[0], in[1], in[2], w) },
		split: &rowSplit{rows: rows, inW: []int{1, 0, 0}, outW: 1, r32: func(o []float32, in [][]float32, lo, hi int) {
			kernels.MaskWeights(o, in[0], in[1], in[2], w)
		}},
	}
	return apply(op, mask, invn, g)
}

// colSumSq is Σ_i W_ij², [n1], of W [n0, n1] (kernels.ColSumSq).
func colSumSq(w *G.Node) *G.Node {
	s := shapeOf(w)
	n0, n1 := s[0], s[1]
	op := &kernelOp{
		name: "colsumsq", info: OpInfo{Dims: []int{n0, n1}}, dims: []int{2}, outDims: 1, params: []int{n0, n1},
		shape: fixed("colsumsq", tensor.Shape{n1}, s),
		f32:   func(o []float32, in [][]float32) { kernels.ColSumSq(o, in[0], n0, n1) },
		f64:   func(o []float64, in [][]float64) { kernels.ColSumSq(o, in[0], n0, n1) },
		reduce: &reduceSplit{rows: n0, inW: []int{n1}, r32: func(o []float32, in [][]float32, lo, hi int) {
			kernels.ColSumSq(o, in[0], hi-lo, n1)
		}},
		diffWRT: []bool{true},
	}
	op.diff = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		gop := &kernelOp{
			name: "colsumsq.backward", info: OpInfo{Dims: []int{n0, n1}}, dims: []int{2, 1}, outDims: 2, params: []int{n0, n1},
			shape: fixed("colsumsq.backward", s, s, tensor.Shape{n1}),
			f32:   func(o []float32, in [][]float32) { kernels.ColSumSqGrad(o, in[0], in[1], n0, n1) },
			f64:   func(o []float64, in [][]float64) { kernels.ColSumSqGrad(o, in[0], in[1], n0, n1) },
			split: &rowSplit{rows: n0, inW: []int{n1, 0}, outW: n1, r32: func(o []float32, in [][]float32, lo, hi int) {
				kernels.ColSumSqGrad(o, in[0], in[1], hi-lo, n1)
			}},
		}
		return G.Nodes{apply(gop, in[0], g)}, nil
	}
	return apply(op, w)
}

// diagPen is Σ_j d_bj² c_j, [B], of d [B, n] and c [n] (kernels.DiagPen).
func diagPen(d, c *G.Node) *G.Node {
	s := shapeOf(d)
	B, n := s[0], s[1]
	op := &kernelOp{
		name: "diagpen", info: OpInfo{Dims: []int{B, n}}, dims: []int{2, 1}, outDims: 1, params: []int{B, n},
		shape: fixed("diagpen", tensor.Shape{B}, s, tensor.Shape{n}),
		f32:   func(o []float32, in [][]float32) { kernels.DiagPen(o, in[0], in[1], B, n) },
		f64:   func(o []float64, in [][]float64) { kernels.DiagPen(o, in[0], in[1], B, n) },
		split: &rowSplit{rows: B, inW: []int{n, 0}, outW: 1, r32: func(o []float32, in [][]float32, lo, hi int) {
			kernels.DiagPen(o, in[0], in[1], hi-lo, n)
		}},
		diffWRT: []bool{true, true},
	}
	op.diff = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		dd := &kernelOp{
			name: "diagpen.dd", info: OpInfo{Dims: []int{B, n}}, dims: []int{2, 1, 1}, outDims: 2, params: []int{B, n},
			shape: fixed("diagpen.dd", s, s, tensor.Shape{n}, tensor.Shape{B}),
			f32:   func(o []float32, in [][]float32) { kernels.DiagPenGradD(o, in[0], in[1], in[2], B, n) },
			f64:   func(o []float64, in [][]float64) { kernels.DiagPenGradD(o, in[0], in[1], in[2], B, n) },
			split: &rowSplit{rows: B, inW: []int{n, 0, 1}, outW: n, r32: func(o []float32, in [][]float32, lo, hi int) {
				kernels.DiagPenGradD(o, in[0], in[1], in[2], hi-lo, n)
			}},
		}
		dc := &kernelOp{
			name: "diagpen.dc", info: OpInfo{Dims: []int{B, n}}, dims: []int{2, 1}, outDims: 1, params: []int{B, n},
			shape: fixed("diagpen.dc", tensor.Shape{n}, s, tensor.Shape{B}),
			f32:   func(o []float32, in [][]float32) { kernels.DiagPenGradC(o, in[0], in[1], B, n) },
			f64:   func(o []float64, in [][]float64) { kernels.DiagPenGradC(o, in[0], in[1], B, n) },
			reduce: &reduceSplit{rows: B, inW: []int{n, 1}, r32: func(o []float32, in [][]float32, lo, hi int) {
				kernels.DiagPenGradC(o, in[0], in[1], hi-lo, n)
			}},
		}
		return G.Nodes{apply(dd, in[0], in[1], g), apply(dc, in[0], g)}, nil
	}
	return apply(op, d, c)
}

// outerScale is T_b = D_L W_Lᵀ D_{L−1}: t[b,i,j] = dL[b,i]·w[j,i]·dP[b,j],
// [B, nL, P], for dL [B, nL], w [P, nL], dP [B, P] (kernels.OuterScale).
func outerScale(dL, w, dP *G.Node) *G.Node {
	B, nL := dL.Shape()[0], dL.Shape()[1]
	P := dP.Shape()[1]
	ts := tensor.Shape{B, nL, P}
	op := &kernelOp{
		name: "outerscale", info: OpInfo{Dims: []int{B, nL, P}}, dims: []int{2, 2, 2}, outDims: 3, params: []int{B, nL, P},
		shape: fixed("outerscale", ts, tensor.Shape{B, nL}, tensor.Shape{P, nL}, tensor.Shape{B, P}),
		f32:   func(o []float32, in [][]float32) { kernels.OuterScale(o, in[0], in[1], in[2], B, nL, P) },
		f64:   func(o []float64, in [][]float64) { kernels.OuterScale(o, in[0], in[1], in[2], B, nL, P) },
		split: &rowSplit{rows: B, inW: []int{nL, 0, P}, outW: nL * P, r32: func(o []float32, in [][]float32, lo, hi int) {
			kernels.OuterScale(o, in[0], in[1], in[2], hi-lo, nL, P)
		}},
		diffWRT: []bool{true, true, true},
	}
	op.diff = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		mk := func(op *kernelOp, out tensor.Shape, args ...*G.Node) *G.Node {
			shapes := make([]tensor.Shape, len(args))
			dims := make([]int, len(args))
			for i, a := range args {
				shapes[i], dims[i] = shapeOf(a), a.Dims()
			}
			op.info, op.dims, op.outDims, op.params = OpInfo{Dims: []int{B, nL, P}}, dims, len(out), []int{B, nL, P}
			op.shape = fixed(op.name, out, shapes...)
			return apply(op, args...)
		}
		dl := mk(&kernelOp{name: "outerscale.ddl",
			f32: func(o []float32, a [][]float32) { kernels.OuterScaleGradDL(o, a[0], a[1], a[2], B, nL, P) },
			f64: func(o []float64, a [][]float64) { kernels.OuterScaleGradDL(o, a[0], a[1], a[2], B, nL, P) },
			split: &rowSplit{rows: B, inW: []int{nL * P, 0, P}, outW: nL, r32: func(o []float32, a [][]float32, lo, hi int) {
				kernels.OuterScaleGradDL(o, a[0], a[1], a[2], hi-lo, nL, P)
			}},
		}, tensor.Shape{B, nL}, g, in[1], in[2])
		dw := mk(&kernelOp{name: "outerscale.dw",
			f32: func(o []float32, a [][]float32) { kernels.OuterScaleGradW(o, a[0], a[1], a[2], B, nL, P) },
			f64: func(o []float64, a [][]float64) { kernels.OuterScaleGradW(o, a[0], a[1], a[2], B, nL, P) },
			reduce: &reduceSplit{rows: B, inW: []int{nL * P, nL, P}, r32: func(o []float32, a [][]float32, lo, hi int) {
				kernels.OuterScaleGradW(o, a[0], a[1], a[2], hi-lo, nL, P)
			}},
		}, tensor.Shape{P, nL}, g, in[0], in[2])
		dp := mk(&kernelOp{name: "outerscale.ddp",
			f32: func(o []float32, a [][]float32) { kernels.OuterScaleGradDP(o, a[0], a[1], a[2], B, nL, P) },
			f64: func(o []float64, a [][]float64) { kernels.OuterScaleGradDP(o, a[0], a[1], a[2], B, nL, P) },
			split: &rowSplit{rows: B, inW: []int{nL * P, nL, 0}, outW: P, r32: func(o []float32, a [][]float32, lo, hi int) {
				kernels.OuterScaleGradDP(o, a[0], a[1], a[2], hi-lo, nL, P)
			}},
		}, tensor.Shape{B, P}, g, in[0], in[1])
		return G.Nodes{dl, dw, dp}, nil
	}
	return apply(op, dL, w, dP)
}

// scaleCols is p[b,r,c]·d[b,c] for p [B, R, C], d [B, C]
// (kernels.ScaleCols).
func scaleCols(p, d *G.Node) *G.Node {
	ps := shapeOf(p)
	B, R, C := ps[0], ps[1], ps[2]
	op := &kernelOp{
		name: "scalecols", info: OpInfo{Dims: []int{B, R, C}}, dims: []int{3, 2}, outDims: 3, params: []int{B, R, C},
		shape: fixed("scalecols", ps, ps, tensor.Shape{B, C}),
		f32:   func(o []float32, in [][]float32) { kernels.ScaleCols(o, in[0], in[1], B, R, C) },
		f64:   func(o []float64, in [][]float64) { kernels.ScaleCols(o, in[0], in[1], B, R, C) },
		split: &rowSplit{rows: B, inW: []int{R * C, C}, outW: R * C, r32: func(o []float32, in [][]float32, lo, hi int) {
			kernels.ScaleCols(o, in[0], in[1], hi-lo, R, C)
		}},
		diffWRT: []bool{true, true},
	}
	op.diff = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		rd := &kernelOp{
			name: "rowdot", info: OpInfo{Dims: []int{B, R, C}}, dims: []int{3, 3}, outDims: 2, params: []int{B, R, C},
			shape: fixed("rowdot", tensor.Shape{B, C}, ps, ps),
			f32:   func(o []float32, in [][]float32) { kernels.RowDot(o, in[0], in[1], B, R, C) },
			f64:   func(o []float64, in [][]float64) { kernels.RowDot(o, in[0], in[1], B, R, C) },
			split: &rowSplit{rows: B, inW: []int{R * C, R * C}, outW: C, r32: func(o []float32, in [][]float32, lo, hi int) {
				kernels.RowDot(o, in[0], in[1], hi-lo, R, C)
			}},
		}
		return G.Nodes{scaleCols(g, in[1]), apply(rd, g, in[0])}, nil
	}
	return apply(op, p, d)
}

// quadForm is the per-sample tr(T_b G T_bᵀ), [B], of T [B, R, C] and
// G [C, C] (kernels.QuadForm; computed with kernels.QuadFormBlocked and its
// gradients' blocked forms, with scratch of their own for each row block).
func quadForm(t, g *G.Node) *G.Node {
	ts := shapeOf(t)
	B, R, C := ts[0], ts[1], ts[2]
	gs := tensor.Shape{C, C}
	n := R * C
	// scr is the scratch of rows [lo, hi) in s.
	scr := func(s *blockScratch, lo, hi int) []float32 {
		return s.get(lo, hi, kernels.QuadFormScratch(hi-lo, R, C))
	}
	s32 := new(blockScratch)
	var s64 []float64
	op := &kernelOp{
		name: "quadform", info: OpInfo{Dims: []int{B, R, C}}, dims: []int{3, 2}, outDims: 1, params: []int{B, R, C},
		shape: fixed("quadform", tensor.Shape{B}, ts, gs),
		f32: func(o []float32, in [][]float32) {
			kernels.QuadFormBlocked(o, in[0], in[1], scr(s32, 0, B), B, R, C)
		},
		f64: func(o []float64, in [][]float64) {
			s64 = scratch(s64, kernels.QuadFormScratch(B, R, C))
			kernels.QuadFormBlocked(o, in[0], in[1], s64, B, R, C)
		},
		split: &rowSplit{rows: B, inW: []int{n, 0}, outW: 1, r32: func(o []float32, in [][]float32, lo, hi int) {
			kernels.QuadFormBlocked(o, in[0], in[1], scr(s32, lo, hi), hi-lo, R, C)
		}},
		diffWRT: []bool{true, true},
	}
	op.diff = func(in G.Nodes, _, gout *G.Node) (G.Nodes, error) {
		t32, u32 := new(blockScratch), new(blockScratch)
		var t64, u64 []float64
		dt := &kernelOp{
			name: "quadform.dt", info: OpInfo{Dims: []int{B, R, C}}, dims: []int{3, 2, 1}, outDims: 3, params: []int{B, R, C},
			shape: fixed("quadform.dt", ts, ts, gs, tensor.Shape{B}),
			f32: func(o []float32, a [][]float32) {
				kernels.QuadFormGradTBlocked(o, a[0], a[1], a[2], scr(t32, 0, B), B, R, C)
			},
			f64: func(o []float64, a [][]float64) {
				t64 = scratch(t64, kernels.QuadFormScratch(B, R, C))
				kernels.QuadFormGradTBlocked(o, a[0], a[1], a[2], t64, B, R, C)
			},
			split: &rowSplit{rows: B, inW: []int{n, 0, 1}, outW: n, r32: func(o []float32, a [][]float32, lo, hi int) {
				kernels.QuadFormGradTBlocked(o, a[0], a[1], a[2], scr(t32, lo, hi), hi-lo, R, C)
			}},
		}
		dg := &kernelOp{
			name: "quadform.dg", info: OpInfo{Dims: []int{B, R, C}}, dims: []int{3, 1}, outDims: 2, params: []int{B, R, C},
			shape: fixed("quadform.dg", gs, ts, tensor.Shape{B}),
			f32: func(o []float32, a [][]float32) {
				kernels.QuadFormGradGBlocked(o, a[0], a[1], scr(u32, 0, B), B, R, C)
			},
			f64: func(o []float64, a [][]float64) {
				u64 = scratch(u64, kernels.QuadFormScratch(B, R, C))
				kernels.QuadFormGradGBlocked(o, a[0], a[1], u64, B, R, C)
			},
			reduce: &reduceSplit{rows: B, inW: []int{n, 1}, r32: func(o []float32, a [][]float32, lo, hi int) {
				kernels.QuadFormGradGBlocked(o, a[0], a[1], scr(u32, lo, hi), hi-lo, R, C)
			}},
		}
		return G.Nodes{apply(dt, in[0], in[1], gout), apply(dg, in[0], gout)}, nil
	}
	return apply(op, t, g)
}

// blockScratch holds scratch for each row block of a split op: the
// blocks, run at once, each get their own, allocated on first use.
type blockScratch struct {
	mu sync.Mutex
	m  map[[2]int][]float32
}

// get returns the scratch of n values of rows [lo, hi).
func (s *blockScratch) get(lo, hi, n int) []float32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[[2]int{lo, hi}]
	if !ok || len(b) != n {
		if s.m == nil {
			s.m = map[[2]int][]float32{}
		}
		b = make([]float32, n)
		s.m[[2]int{lo, hi}] = b
	}
	return b
}

// scratch returns s, allocated to n elements on first use.
func scratch[T float32 | float64](s []T, n int) []T {
	if len(s) != n {
		s = make([]T, n)
	}
	return s
}

// sub is a − b (kernels.Sub).
func sub(a, b *G.Node) *G.Node {
	s := shapeOf(a)
	op := &kernelOp{
		name: "sub", info: OpInfo{Dims: []int{s.TotalSize()}}, dims: []int{len(s), len(s)}, outDims: len(s), params: s,
		shape:   fixed("sub", s, s, s),
		f32:     func(o []float32, in [][]float32) { kernels.Sub(o, in[0], in[1]) },
		f64:     func(o []float64, in [][]float64) { kernels.Sub(o, in[0], in[1]) },
		split:   flatSplit(s, 2, func(o []float32, in [][]float32) { kernels.Sub(o, in[0], in[1]) }),
		diffWRT: []bool{true, true},
	}
	op.diff = func(_ G.Nodes, _, g *G.Node) (G.Nodes, error) {
		return G.Nodes{g, scale(g, -1)}, nil
	}
	return apply(op, a, b)
}

// add is a + b (kernels.Add).
func add(a, b *G.Node) *G.Node {
	s := shapeOf(a)
	op := &kernelOp{
		name: "add", info: OpInfo{Dims: []int{s.TotalSize()}}, dims: []int{len(s), len(s)}, outDims: len(s), params: s,
		shape:   fixed("add", s, s, s),
		f32:     func(o []float32, in [][]float32) { kernels.Add(o, in[0], in[1]) },
		f64:     func(o []float64, in [][]float64) { kernels.Add(o, in[0], in[1]) },
		split:   flatSplit(s, 2, func(o []float32, in [][]float32) { kernels.Add(o, in[0], in[1]) }),
		diffWRT: []bool{true, true},
	}
	op.diff = func(_ G.Nodes, _, g *G.Node) (G.Nodes, error) { return G.Nodes{g, g}, nil }
	return apply(op, a, b)
}

// scale is k·a (kernels.Scale).
func scale(a *G.Node, k float64) *G.Node {
	s := shapeOf(a)
	op := &kernelOp{
		name: "scale", info: OpInfo{Dims: []int{s.TotalSize()}, Weights: []float64{k}}, dims: []int{len(s)}, outDims: len(s), params: append(fbits(k), s...),
		shape:   fixed("scale", s, s),
		f32:     func(o []float32, in [][]float32) { kernels.Scale(o, in[0], float32(k)) },
		f64:     func(o []float64, in [][]float64) { kernels.Scale(o, in[0], k) },
		split:   flatSplit(s, 1, func(o []float32, in [][]float32) { kernels.Scale(o, in[0], float32(k)) }),
		diffWRT: []bool{true},
	}
	op.diff = func(_ G.Nodes, _, g *G.Node) (G.Nodes, error) { return G.Nodes{scale(g, k)}, nil }
	return apply(op, a)
}
