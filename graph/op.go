// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernelOp is a Gorgonia op whose computation is a function of package
// kernels. It always writes a fresh (or preallocated) output and never
// overwrites its inputs, so Gorgonia's compiler cannot alias it; its
// gradient, when it has one, is built from more kernelOps.
type kernelOp struct {
	name    string
	dims    []int // rank of each input
	outDims int
	params  []int // baked-in sizes, part of the op's identity
	shape   func(in []tensor.Shape) (tensor.Shape, error)
	// run computes out from the inputs' backing slices; all are []float32
	// or all []float64.
	run func(out any, in []any, shapes []tensor.Shape)
	// diff builds the gradients of the inputs; nil for ops that are never
	// differentiated (the gradient ops themselves).
	diff func(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error)
	// diffWRT says which inputs diff returns gradients for.
	diffWRT []bool
}

func (op *kernelOp) Arity() int { return len(op.dims) }

func (op *kernelOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(op.dims)+1)
	for _, d := range op.dims {
		ts = append(ts, tensorType(d, a))
	}
	ts = append(ts, tensorType(op.outDims, a))
	return hm.NewFnType(ts...)
}

func tensorType(dims int, a hm.Type) hm.Type {
	if dims == 0 {
		return a
	}
	return G.TensorType{Dims: dims, Of: a}
}

func (op *kernelOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if len(ds) != len(op.dims) {
		return nil, fmt.Errorf("%s: %d inputs, want %d", op.name, len(ds), len(op.dims))
	}
	shapes := make([]tensor.Shape, len(ds))
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("%s: input %d has no shape", op.name, i)
		}
		shapes[i] = s
	}
	return op.shape(shapes)
}

func (op *kernelOp) Do(vs ...G.Value) (G.Value, error) {
	if len(vs) != len(op.dims) {
		return nil, fmt.Errorf("%s: %d inputs, want %d", op.name, len(vs), len(op.dims))
	}
	shapes := make([]tensor.Shape, len(vs))
	in := make([]any, len(vs))
	var dt tensor.Dtype
	for i, v := range vs {
		shapes[i] = v.Shape()
		in[i] = v.Data()
		if i == 0 {
			dt = v.Dtype()
		} else if v.Dtype() != dt {
			return nil, fmt.Errorf("%s: input %d is %v, input 0 is %v", op.name, i, v.Dtype(), dt)
		}
	}
	s, err := op.shape(shapes)
	if err != nil {
		return nil, err
	}
	out := tensor.New(tensor.WithShape(s...), tensor.Of(dt))
	op.run(out.Data(), in, shapes)
	return out, nil
}

func (op *kernelOp) ReturnsPtr() bool     { return false }
func (op *kernelOp) CallsExtern() bool    { return false }
func (op *kernelOp) OverwritesInput() int { return -1 }

func (op *kernelOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "caetrain.%s%v", op.name, op.params)
}

func (op *kernelOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *kernelOp) String() string { return fmt.Sprintf("%s%v", op.name, op.params) }

// DiffWRT implements gorgonia.SDOp.
func (op *kernelOp) DiffWRT(n int) []bool {
	if op.diffWRT == nil {
		return make([]bool, n)
	}
	return op.diffWRT
}

// SymDiff implements gorgonia.SDOp.
func (op *kernelOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.diff == nil {
		return nil, fmt.Errorf("%s is not differentiable", op.name)
	}
	return op.diff(inputs, output, grad)
}

// apply applies op to the nodes.
func apply(op *kernelOp, ns ...*G.Node) *G.Node {
	return must(G.ApplyOp(op, ns...))
}

// f32or64 calls f32 or f64 with the slices' concrete type.
func f32or64(out any, in []any, f32 func(out []float32, in [][]float32), f64 func(out []float64, in [][]float64)) {
	switch o := out.(type) {
	case []float32:
		ins := make([][]float32, len(in))
		for i, v := range in {
			ins[i] = v.([]float32)
		}
		f32(o, ins)
	case []float64:
		ins := make([][]float64, len(in))
		for i, v := range in {
			ins[i] = v.([]float64)
		}
		f64(o, ins)
	default:
		panic(fmt.Sprintf("graph: unsupported element type %T", out))
	}
}
