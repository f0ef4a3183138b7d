// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"

	"github.com/caetrain/caetrain/kernels"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Options select what Build adds to the graph.
type Options struct {
	// Grad adds the symbolic gradient of Loss with respect to every
	// learnable, from one gorgonia.Grad call.
	Grad bool
	// Outputs makes ReconPer, PenPer, Code and Output readable with
	// Model.Value after a run (Loss, Recon and Penalty always are). Each
	// costs a copy per run.
	Outputs bool
	// NoHessian leaves out the CAE+H term even when the Spec has one (for
	// evaluation graphs, which report the first-order penalty only).
	NoHessian bool
}

// Model is a CAE as nodes of one Gorgonia expression graph for a fixed batch
// size. Inputs are X, Mask and InvN; set them with gorgonia.Let before each
// run.
type Model struct {
	Spec  Spec
	Batch int
	Graph *G.ExprGraph

	// Inputs.
	X    *G.Node // [batch, n0] samples; padding rows may hold anything finite
	Mask *G.Node // [batch] 1 for a real row, 0 for padding
	InvN *G.Node // scalar 1/(number of real rows)
	// Noise[c] is [batch, n0], the c-th corruption ε_c ~ N(0, σ²I) of the
	// CAE+H term; empty when there is none.
	Noise G.Nodes

	// Learnables, in Params order, bound to the Params' tensors.
	Learnables G.Nodes
	// Grads[i] is ∂Loss/∂Learnables[i]; nil unless Options.Grad.
	Grads G.Nodes

	// Outputs.
	Loss     *G.Node // scalar: mean over real rows of recon + λ‖J‖²_F
	Recon    *G.Node // scalar: mean over real rows of the reconstruction loss
	Penalty  *G.Node // scalar: mean over real rows of ‖J_h(x)‖²_F
	ReconPer *G.Node // [batch] per-sample reconstruction loss
	PenPer   *G.Node // [batch] per-sample ‖J_h(x)‖²_F
	Hess     *G.Node // scalar: mean over real rows of the CAE+H estimate; nil without it
	HessPer  *G.Node // [batch] per-sample (1/C)Σ_c ‖J(x) − J(x+ε_c)‖²_F; nil without it
	Code     *G.Node // [batch, nL] the code h(x)
	Output   *G.Node // [batch, n0] the reconstruction

	// reads holds copies of watched nodes' values, taken by gorgonia.Read
	// instructions as soon as each is computed. A node's own Value() is
	// not reliable after a run: the tape machine reuses registers and runs
	// element-wise ops in place once a value's last reader is done.
	reads map[*G.Node]*G.Value
}

// Value returns the value that n took in the last run. n must be one of the
// watched outputs (see Options.Outputs).
func (m *Model) Value(n *G.Node) (G.Value, error) { return readValue(m.reads, n) }

// readValue is the copy of n's value that a Read instruction took in the
// last run.
func readValue(reads map[*G.Node]*G.Value, n *G.Node) (G.Value, error) {
	v, ok := reads[n]
	if !ok {
		return nil, fmt.Errorf("graph: node %v is not watched; build with Options.Outputs", n)
	}
	if *v == nil {
		return nil, fmt.Errorf("graph: node %v has no value yet; run the machine first", n)
	}
	return *v, nil
}

func (m *Model) watch(ns ...*G.Node) {
	for _, n := range ns {
		v := new(G.Value)
		G.Read(n, v)
		m.reads[n] = v
	}
}

// layer is one dense layer's nodes.
type layer struct {
	a, d *G.Node // activation φ(z) and φ′(z) (d nil when unused)
}

// Build makes the graph of a CAE for p.Spec at the given batch size, with its
// learnables bound to p's tensors.
func Build(p *Params, batch int, opt Options) (m *Model, err error) {
	s := p.Spec
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if batch <= 0 {
		return nil, fmt.Errorf("graph: batch %d must be positive", batch)
	}
	// Gorgonia's constructors panic on misuse; keep panics inside graph.
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("graph: building %v: %v", s.Arch, r)
		}
	}()
	dt := p.Dtype()
	g := G.NewGraph()
	m = &Model{Spec: s, Batch: batch, Graph: g}
	L := s.Layers()
	n0 := s.Arch[0]

	m.X = G.NewMatrix(g, dt, G.WithShape(batch, n0), G.WithName("x"))
	m.Mask = G.NewVector(g, dt, G.WithShape(batch), G.WithName("mask"))
	m.InvN = G.NewScalar(g, dt, G.WithName("invn"))
	m.Learnables = learnables(g, dt, p.Shapes, p.Tensors)

	// Encoder.
	encW := make([]*G.Node, L)
	enc := make([]layer, L)
	a := m.X
	idx := 0
	for k := 0; k < L; k++ {
		encW[k] = m.Learnables[idx]
		b := m.Learnables[idx+1]
		idx += 2
		enc[k] = dense(a, encW[k], false, b, s.Act, true)
		a = enc[k].a
	}
	m.Code = a

	// Decoder: layer k mirrors encoder layer L−1−k. The last layer keeps
	// its pre-activation: the loss is computed from it.
	for k := 0; k < L; k++ {
		var w *G.Node
		transpose := false
		if s.Tied {
			w, transpose = encW[L-1-k], true
		} else {
			w = m.Learnables[idx]
			idx++
		}
		b := m.Learnables[idx]
		idx++
		if k < L-1 {
			a = dense(a, w, transpose, b, s.Act, false).a
			continue
		}
		z := biasAct(matmul(a, w, false, transpose, tensor.Shape{batch, s.Arch[L-1-k]}), b, kernels.Linear)
		m.ReconPer = reconLoss(z, m.X, actKernel(s.OutAct), s.Loss == BCE)
		if opt.Outputs {
			m.Output = activation(z, actKernel(s.OutAct))
		}
	}

	fac := factor(enc, encW, batch, s.Arch)
	gr := newGram(encW[0], fac.diag)
	m.PenPer = fro2(fac, gr)

	terms, weights := G.Nodes{m.ReconPer}, []float64{1}
	if s.Lambda != 0 {
		terms, weights = append(terms, m.PenPer), append(weights, s.Lambda)
	}
	if s.HessGamma > 0 && !opt.NoHessian {
		// The encoder again on each noisy copy, sharing the weights.
		var noisy []jacFactor
		for c := 0; c < s.HessCopies; c++ {
			eps := G.NewMatrix(g, dt, G.WithShape(batch, n0), G.WithName(fmt.Sprintf("noise.%d", c)))
			m.Noise = append(m.Noise, eps)
			a := add(m.X, eps)
			nenc := make([]layer, L)
			for k := 0; k < L; k++ {
				nenc[k] = dense(a, encW[k], false, m.Learnables[2*k+1], s.Act, true)
				a = nenc[k].a
			}
			noisy = append(noisy, factor(nenc, encW, batch, s.Arch))
		}
		m.HessPer = hessian(fac, noisy, gr)
		m.Hess = lossCombine(G.Nodes{m.HessPer}, []float64{1}, m.Mask, m.InvN)
		terms, weights = append(terms, m.HessPer), append(weights, s.HessGamma)
	}
	m.Recon = lossCombine(G.Nodes{m.ReconPer}, []float64{1}, m.Mask, m.InvN)
	m.Penalty = lossCombine(G.Nodes{m.PenPer}, []float64{1}, m.Mask, m.InvN)
	m.Loss = lossCombine(terms, weights, m.Mask, m.InvN)

	if opt.Grad {
		if m.Grads, err = G.Grad(m.Loss, m.Learnables...); err != nil {
			return nil, fmt.Errorf("graph: gradients: %w", err)
		}
	}
	m.reads = map[*G.Node]*G.Value{}
	m.watch(m.Loss, m.Recon, m.Penalty)
	if m.Hess != nil {
		m.watch(m.Hess)
	}
	if opt.Outputs {
		m.watch(m.ReconPer, m.PenPer, m.Code, m.Output)
		if m.HessPer != nil {
			m.watch(m.HessPer)
		}
	}
	return m, nil
}

// actKernel maps an Activation to the kernels' enum.
func actKernel(a Activation) kernels.Act {
	switch a {
	case Sigmoid:
		return kernels.Sigmoid
	case Tanh:
		return kernels.Tanh
	case ReLU:
		return kernels.ReLU
	}
	return kernels.Linear
}

// dense builds a = φ(x·W + b) (x·Wᵀ when transpose) and, when deriv, the
// node d = φ′(z) the penalty needs, computed from a.
func dense(x, w *G.Node, transpose bool, b *G.Node, act Activation, deriv bool) layer {
	out := w.Shape()[1]
	if transpose {
		out = w.Shape()[0]
	}
	xw := matmul(x, w, false, transpose, tensor.Shape{x.Shape()[0], out})
	l := layer{a: biasAct(xw, b, actKernel(act))}
	if deriv {
		l.d = actDeriv(l.a, actKernel(act))
	}
	return l
}

// must turns a node constructor's error into a panic that Build recovers.
func must(n *G.Node, err error) *G.Node {
	if err != nil {
		panic(err)
	}
	return n
}

// learnables makes one node per parameter tensor, in order, bound to the
// tensor: a matrix for a weight, a vector for a bias.
func learnables(g *G.ExprGraph, dt tensor.Dtype, shapes []ParamShape, ts []*tensor.Dense) G.Nodes {
	var ns G.Nodes
	for i, ps := range shapes {
		if len(ps.Shape) == 2 {
			ns = append(ns, G.NewMatrix(g, dt, G.WithShape(ps.Shape...), G.WithName(ps.Name), G.WithValue(ts[i])))
		} else {
			ns = append(ns, G.NewVector(g, dt, G.WithShape(ps.Shape...), G.WithName(ps.Name), G.WithValue(ts[i])))
		}
	}
	return ns
}
