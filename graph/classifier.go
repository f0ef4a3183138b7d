// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"errors"
	"fmt"

	"github.com/caetrain/caetrain/kernels"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ClassifierSpec describes the network a CAE is fine-tuned into (Rifai et
// al., ICML 2011, Table 1): the CAE's encoder, its layers unchanged, then a
// softmax layer over Classes classes, trained with the cross-entropy of
// the labels.
type ClassifierSpec struct {
	// Arch and Act are the encoder's, as in Spec: widths from the input
	// to the code and the activation of every encoder layer.
	Arch []int
	Act  Activation
	// Classes is the number of classes (10 for MNIST).
	Classes int
}

// ClassifierOf is the classifier built on s's encoder.
func ClassifierOf(s Spec, classes int) ClassifierSpec {
	return ClassifierSpec{Arch: append([]int(nil), s.Arch...), Act: s.Act, Classes: classes}
}

// Layers is the number of encoder layers.
func (s ClassifierSpec) Layers() int { return len(s.Arch) - 1 }

// Hidden is the width of the code, the softmax layer's input.
func (s ClassifierSpec) Hidden() int { return s.Arch[len(s.Arch)-1] }

// Validate reports what is wrong with s, if anything.
func (s ClassifierSpec) Validate() error {
	errs := encoderErrors(s.Arch, s.Act)
	if s.Classes < 2 {
		errs = append(errs, fmt.Errorf("classes %d: need at least 2", s.Classes))
	}
	return errors.Join(errs...)
}

// ParamShapes lists the learnable tensors in a fixed order: the encoder's
// layers exactly as Spec.ParamShapes names and shapes them
// (encoder.{k}.weight [in, out], encoder.{k}.bias), then
// classifier.weight [hidden, classes] and classifier.bias [classes].
func (s ClassifierSpec) ParamShapes() []ParamShape {
	var ps []ParamShape
	for k := 0; k < s.Layers(); k++ {
		in, out := s.Arch[k], s.Arch[k+1]
		ps = append(ps,
			ParamShape{Name: fmt.Sprintf("encoder.%d.weight", k), Shape: []int{in, out}, Fan: [2]int{in, out}},
			ParamShape{Name: fmt.Sprintf("encoder.%d.bias", k), Shape: []int{out}})
	}
	h := s.Hidden()
	return append(ps,
		ParamShape{Name: "classifier.weight", Shape: []int{h, s.Classes}, Fan: [2]int{h, s.Classes}},
		ParamShape{Name: "classifier.bias", Shape: []int{s.Classes}})
}

// ClassifierParams holds a classifier's learnable tensors in
// ClassifierSpec.ParamShapes order.
type ClassifierParams struct {
	Spec    ClassifierSpec
	Shapes  []ParamShape
	Tensors []*tensor.Dense
}

// NewClassifierParams allocates zeroed parameters for s in the given dtype
// (tensor.Float32 or tensor.Float64).
func NewClassifierParams(s ClassifierSpec, dt tensor.Dtype) (*ClassifierParams, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("graph: dtype %v: want float32 or float64", dt)
	}
	p := &ClassifierParams{Spec: s, Shapes: s.ParamShapes()}
	for _, ps := range p.Shapes {
		p.Tensors = append(p.Tensors, tensor.New(tensor.WithShape(ps.Shape...), tensor.Of(dt)))
	}
	return p, nil
}

// Dtype is the element type of the parameters.
func (p *ClassifierParams) Dtype() tensor.Dtype { return p.Tensors[0].Dtype() }

// Lookup returns the tensor named name, or nil.
func (p *ClassifierParams) Lookup(name string) *tensor.Dense {
	for i, s := range p.Shapes {
		if s.Name == name {
			return p.Tensors[i]
		}
	}
	return nil
}

// Classifier is the fine-tuning network as nodes of one Gorgonia
// expression graph for a fixed batch size:
//
//	a_0 = x,  a_k = φ(a_{k−1} W_k + b_k)   (the CAE's encoder)
//	z = a_L W_c + b_c                        (logits, [batch, classes])
//	loss = (1/n) Σ_b mask_b · (−Σ_i y_bi log softmax(z_b)_i)
//
// Inputs are X, Y (one-hot labels), Mask and InvN.
type Classifier struct {
	Spec  ClassifierSpec
	Batch int
	Graph *G.ExprGraph

	// Inputs.
	X    *G.Node // [batch, n0] samples
	Y    *G.Node // [batch, classes] one-hot labels (zero rows for padding)
	Mask *G.Node // [batch] 1 for a real row, 0 for padding
	InvN *G.Node // scalar 1/(number of real rows)

	// Learnables, in ClassifierParams order, bound to its tensors.
	Learnables G.Nodes
	// Grads[i] is ∂Loss/∂Learnables[i]; nil unless Options.Grad.
	Grads G.Nodes

	Loss    *G.Node // scalar: mean cross-entropy over the real rows
	XentPer *G.Node // [batch] per-sample cross-entropy
	Logits  *G.Node // [batch, classes]

	reads map[*G.Node]*G.Value
}

// Value returns the value n took in the last run of Gorgonia's
// TapeMachine: Loss always, XentPer and Logits with Options.Outputs.
func (c *Classifier) Value(n *G.Node) (G.Value, error) { return readValue(c.reads, n) }

// BuildClassifier makes the classifier's graph at the given batch size,
// with its learnables bound to p's tensors. Only Options.Grad and
// Options.Outputs apply.
func BuildClassifier(p *ClassifierParams, batch int, opt Options) (c *Classifier, err error) {
	s := p.Spec
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if batch <= 0 {
		return nil, fmt.Errorf("graph: batch %d must be positive", batch)
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("graph: building the classifier %v→%d: %v", s.Arch, s.Classes, r)
		}
	}()
	dt := p.Dtype()
	g := G.NewGraph()
	c = &Classifier{Spec: s, Batch: batch, Graph: g}
	c.X = G.NewMatrix(g, dt, G.WithShape(batch, s.Arch[0]), G.WithName("x"))
	c.Y = G.NewMatrix(g, dt, G.WithShape(batch, s.Classes), G.WithName("y"))
	c.Mask = G.NewVector(g, dt, G.WithShape(batch), G.WithName("mask"))
	c.InvN = G.NewScalar(g, dt, G.WithName("invn"))
	c.Learnables = learnables(g, dt, p.Shapes, p.Tensors)
	a := c.X
	for k := 0; k < s.Layers(); k++ {
		a = dense(a, c.Learnables[2*k], false, c.Learnables[2*k+1], s.Act, false).a
	}
	L := 2 * s.Layers()
	c.Logits = biasAct(matmul(a, c.Learnables[L], false, false, tensor.Shape{batch, s.Classes}), c.Learnables[L+1], kernels.Linear)
	c.XentPer = softmaxXent(c.Logits, c.Y)
	c.Loss = lossCombine(G.Nodes{c.XentPer}, []float64{1}, c.Mask, c.InvN)
	if opt.Grad {
		if c.Grads, err = G.Grad(c.Loss, c.Learnables...); err != nil {
			return nil, fmt.Errorf("graph: classifier gradients: %w", err)
		}
	}
	c.reads = map[*G.Node]*G.Value{}
	watch := func(ns ...*G.Node) {
		for _, n := range ns {
			v := new(G.Value)
			G.Read(n, v)
			c.reads[n] = v
		}
	}
	watch(c.Loss)
	if opt.Outputs {
		watch(c.XentPer, c.Logits)
	}
	return c, nil
}

// softmaxXent is the per-sample cross-entropy [rows] of softmax(z) against
// the targets y (kernels.SoftmaxXent), differentiable in z.
func softmaxXent(z, y *G.Node) *G.Node {
	s := shapeOf(z)
	rows, n := s[0], s[1]
	op := &kernelOp{
		name: "softmaxxent", info: OpInfo{Dims: []int{rows, n}}, dims: []int{2, 2}, outDims: 1, params: []int{rows, n},
		shape: fixed("softmaxxent", tensor.Shape{rows}, s, s),
		f32:   func(o []float32, in [][]float32) { kernels.SoftmaxXent(o, in[0], in[1], rows, n) },
		f64:   func(o []float64, in [][]float64) { kernels.SoftmaxXent(o, in[0], in[1], rows, n) },
		split: &rowSplit{rows: rows, inW: []int{n, n}, outW: 1, r32: func(o []float32, in [][]float32, lo, hi int) {
			kernels.SoftmaxXent(o, in[0], in[1], hi-lo, n)
		}},
		diffWRT: []bool{true, false},
	}
	op.diff = func(in G.Nodes, _, g *G.Node) (G.Nodes, error) {
		gop := &kernelOp{
			name: "softmaxxent.backward", info: OpInfo{Dims: []int{rows, n}}, dims: []int{2, 2, 1}, outDims: 2, params: []int{rows, n},
			shape: fixed("softmaxxent.backward", s, s, s, tensor.Shape{rows}),
			f32:   func(o []float32, in [][]float32) { kernels.SoftmaxXentGrad(o, in[0], in[1], in[2], rows, n) },
			f64:   func(o []float64, in [][]float64) { kernels.SoftmaxXentGrad(o, in[0], in[1], in[2], rows, n) },
			split: &rowSplit{rows: rows, inW: []int{n, n, 1}, outW: n, r32: func(o []float32, in [][]float32, lo, hi int) {
				kernels.SoftmaxXentGrad(o, in[0], in[1], in[2], hi-lo, n)
			}},
		}
		return G.Nodes{apply(gop, in[0], in[1], g), nil}, nil
	}
	return apply(op, z, y)
}
