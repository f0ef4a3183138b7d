// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/caetrain/caetrain/kernels"
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
	info    OpInfo
	dims    []int // rank of each input
	outDims int
	params  []int // baked-in sizes, part of the op's identity
	shape   func(in []tensor.Shape) (tensor.Shape, error)
	// f32 and f64 compute out from the inputs' backing slices (scalars are
	// slices of one element).
	f32 func(out []float32, in [][]float32)
	f64 func(out []float64, in [][]float64)
	// split, when set, lets a VM compute the output in row blocks in
	// parallel.
	split *rowSplit
	// reduce, when set, lets a VM compute the output as a sum of partial
	// outputs over row blocks, in parallel.
	reduce *reduceSplit
	// mm is set for matmul, whose blocks a VM tiles itself.
	mm *MatMulShape
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
	for i, v := range vs {
		shapes[i] = v.Shape()
	}
	s, err := op.shape(shapes)
	if err != nil {
		return nil, err
	}
	switch vs[0].Dtype() {
	case tensor.Float32:
		in := make([][]float32, len(vs))
		for i, v := range vs {
			if in[i], err = slice[float32](v); err != nil {
				return nil, fmt.Errorf("%s: input %d: %w", op.name, i, err)
			}
		}
		out := make([]float32, max(s.TotalSize(), 1))
		op.f32(out, in)
		if op.outDims == 0 {
			return G.NewF32(out[0]), nil
		}
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(out)), nil
	case tensor.Float64:
		in := make([][]float64, len(vs))
		for i, v := range vs {
			if in[i], err = slice[float64](v); err != nil {
				return nil, fmt.Errorf("%s: input %d: %w", op.name, i, err)
			}
		}
		out := make([]float64, max(s.TotalSize(), 1))
		op.f64(out, in)
		if op.outDims == 0 {
			return G.NewF64(out[0]), nil
		}
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(out)), nil
	}
	return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, vs[0].Dtype())
}

// slice returns a value's elements: a tensor's backing array, or a scalar
// as a slice of one.
func slice[T float32 | float64](v G.Value) ([]T, error) {
	switch d := v.Data().(type) {
	case []T:
		return d, nil
	case T:
		return []T{d}, nil
	}
	return nil, fmt.Errorf("holds %T, want %T", v.Data(), *new(T))
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

// rowSplit describes an op whose output rows depend only on the same rows
// of some inputs: rows of the output (and of each split input) are
// outW (inW[i]) values wide; inputs with inW[i] == 0 are read whole. r32
// computes output rows [lo, hi) given the output and split inputs sliced to
// those rows.
type rowSplit struct {
	rows int
	inW  []int
	outW int
	r32  func(out []float32, in [][]float32, lo, hi int)
}

// RowKernel32 describes how a VM may split a node's float32 kernel over
// row blocks: the number of rows, the per-row width of each input (0: read
// whole) and of the output, and the kernel for rows [lo, hi) of sliced
// buffers. ok is false for ops that cannot be split.
func RowKernel32(op G.Op) (rows int, inW []int, outW int, run func(out []float32, in [][]float32, lo, hi int), ok bool) {
	k, isK := op.(*kernelOp)
	if !isK || k.split == nil {
		return 0, nil, 0, nil, false
	}
	return k.split.rows, k.split.inW, k.split.outW, k.split.r32, true
}

// reduceSplit describes an op whose output is a sum over rows of some
// inputs (a reduction over the batch, such as a weight's gradient): rows
// of each split input are inW[i] values wide; inputs with inW[i] == 0 are
// read whole. r32 computes the contribution of rows [lo, hi) to the
// output, overwriting out (a whole output's worth of values), given the
// split inputs sliced to those rows; the output is the sum of the blocks'
// contributions.
type reduceSplit struct {
	rows int
	inW  []int
	r32  func(out []float32, in [][]float32, lo, hi int)
}

// ReduceKernel32 describes how a VM may split a node's float32 kernel over
// row blocks whose partial outputs it then sums: the number of rows, the
// per-row width of each input (0: read whole), and the kernel that
// computes the partial output of rows [lo, hi) from sliced inputs. ok is
// false for ops that are not such reductions.
func ReduceKernel32(op G.Op) (rows int, inW []int, run func(out []float32, in [][]float32, lo, hi int), ok bool) {
	k, isK := op.(*kernelOp)
	if !isK || k.reduce == nil {
		return 0, nil, nil, false
	}
	return k.reduce.rows, k.reduce.inW, k.reduce.r32, true
}

// OpInfo describes one of graph's kernel ops to a virtual machine that
// runs graphs itself (the CUDA VM): which kernel, and its arguments other
// than the buffers.
type OpInfo struct {
	Name    string      // the op: "matmul", "biasact", "quadform.dt", …
	Dims    []int       // the kernel's size arguments, in its argument order
	Act     kernels.Act // activation, for act*, biasact and recon*
	BCE     bool        // recon*: binary cross-entropy (else SSE)
	TA, TB  bool        // matmul: operands transposed
	Weights []float64   // loss: term weights; loss.backward, scale: the factor
}

// Info returns op's description, when op is one of graph's kernel ops.
func Info(op G.Op) (OpInfo, bool) {
	k, ok := op.(*kernelOp)
	if !ok {
		return OpInfo{}, false
	}
	in := k.info
	in.Name = k.name
	return in, true
}

// MatMulShape is a matrix product's shape: C [M, N] = op(A)·op(B) over K.
type MatMulShape struct {
	M, N, K int
	TA, TB  bool
}

// MatMulOf reports whether op is a matrix product, and its shape, so that a
// VM can compute it in blocks (kernels.MatMulTile).
func MatMulOf(op G.Op) (MatMulShape, bool) {
	k, ok := op.(*kernelOp)
	if !ok || k.mm == nil {
		return MatMulShape{}, false
	}
	return *k.mm, true
}

// Kernel32 returns the float32 kernel of a node's op, when the op is one of
// graph's, for virtual machines that run the graph themselves.
func Kernel32(op G.Op) (func(out []float32, in [][]float32), bool) {
	k, ok := op.(*kernelOp)
	if !ok {
		return nil, false
	}
	return k.f32, true
}

// apply applies op to the nodes.
func apply(op *kernelOp, ns ...*G.Node) *G.Node {
	return must(G.ApplyOp(op, ns...))
}
