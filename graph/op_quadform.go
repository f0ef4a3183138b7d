// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"

	"github.com/caetrain/caetrain/kernels"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// quadForm is the per-sample tr(T_b G T_bᵀ), [B], of T [B, R, C] and
// G [C, C] (kernels.QuadForm). It keeps the penalty away from Reshape views
// feeding element-wise ops, which Gorgonia's compiler can run in place on a
// value that is still needed.
func quadForm(t, g *G.Node) *G.Node {
	s := t.Shape()
	B, R, C := s[0], s[1], s[2]
	op := &kernelOp{
		name: "quadform", dims: []int{3, 2}, outDims: 1, params: []int{B, R, C},
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			if !in[0].Eq(tensor.Shape{B, R, C}) || !in[1].Eq(tensor.Shape{C, C}) {
				return nil, fmt.Errorf("quadform: shapes %v, %v; want %v, [%d %d]", in[0], in[1], tensor.Shape{B, R, C}, C, C)
			}
			return tensor.Shape{B}, nil
		},
		run: func(out any, in []any, _ []tensor.Shape) {
			f32or64(out, in,
				func(o []float32, in [][]float32) { kernels.QuadForm(o, in[0], in[1], B, R, C) },
				func(o []float64, in [][]float64) { kernels.QuadForm(o, in[0], in[1], B, R, C) })
		},
		diffWRT: []bool{true, true},
	}
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		return G.Nodes{quadFormGradT(inputs[0], inputs[1], grad, B, R, C), quadFormGradG(inputs[0], grad, B, R, C)}, nil
	}
	return apply(op, t, g)
}

func quadFormGradT(t, g, gout *G.Node, B, R, C int) *G.Node {
	op := &kernelOp{
		name: "quadform.dT", dims: []int{3, 2, 1}, outDims: 3, params: []int{B, R, C},
		shape: func([]tensor.Shape) (tensor.Shape, error) { return tensor.Shape{B, R, C}, nil },
		run: func(out any, in []any, _ []tensor.Shape) {
			f32or64(out, in,
				func(o []float32, in [][]float32) { kernels.QuadFormGradT(o, in[0], in[1], in[2], B, R, C) },
				func(o []float64, in [][]float64) { kernels.QuadFormGradT(o, in[0], in[1], in[2], B, R, C) })
		},
	}
	return apply(op, t, g, gout)
}

func quadFormGradG(t, gout *G.Node, B, R, C int) *G.Node {
	op := &kernelOp{
		name: "quadform.dG", dims: []int{3, 1}, outDims: 2, params: []int{B, R, C},
		shape: func([]tensor.Shape) (tensor.Shape, error) { return tensor.Shape{C, C}, nil },
		run: func(out any, in []any, _ []tensor.Shape) {
			f32or64(out, in,
				func(o []float32, in [][]float32) { kernels.QuadFormGradG(o, in[0], in[1], B, R, C) },
				func(o []float64, in [][]float64) { kernels.QuadFormGradG(o, in[0], in[1], B, R, C) })
		},
	}
	return apply(op, t, gout)
}
