// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"math"
)

// refModel is a plain float64 CAE, written independently of Gorgonia, used
// as the oracle for the graph's forward values.
type refModel struct {
	spec Spec
	w    [][]float64 // weights [in*out] row-major [in, out], params order
	sh   []ParamShape
}

func newRef(p *Params) *refModel {
	r := &refModel{spec: p.Spec, sh: p.Shapes}
	for _, t := range p.Tensors {
		r.w = append(r.w, append([]float64(nil), t.Data().([]float64)...))
	}
	return r
}

func act(a Activation, z float64) float64 {
	switch a {
	case Sigmoid:
		return 1 / (1 + math.Exp(-z))
	case Tanh:
		return math.Tanh(z)
	case ReLU:
		if z > 0 {
			return z
		}
		return 0
	}
	return z
}

// layerFwd computes φ(x·W + b) for W [in,out] (or x·Wᵀ for W [out,in]
// when transpose), returning pre-activations and activations.
func layerFwd(x, w, b []float64, in, out int, transpose bool, f Activation) (z, a []float64) {
	z = make([]float64, out)
	a = make([]float64, out)
	for j := 0; j < out; j++ {
		s := b[j]
		for i := 0; i < in; i++ {
			if transpose {
				s += x[i] * w[j*in+i]
			} else {
				s += x[i] * w[i*out+j]
			}
		}
		z[j] = s
		a[j] = act(f, s)
	}
	return z, a
}

// encode returns the code of one sample.
func (r *refModel) encode(x []float64) []float64 {
	a := x
	for k := 0; k < r.spec.Layers(); k++ {
		_, a = layerFwd(a, r.w[2*k], r.w[2*k+1], r.spec.Arch[k], r.spec.Arch[k+1], false, r.spec.Act)
	}
	return a
}

// decode returns the last decoder layer's pre-activation and activation.
func (r *refModel) decode(h []float64) (z, a []float64) {
	L := r.spec.Layers()
	a = h
	idx := 2 * L
	for k := 0; k < L; k++ {
		in, out := r.spec.Arch[L-k], r.spec.Arch[L-k-1]
		var w []float64
		transpose := false
		if r.spec.Tied {
			// encoder weight L−1−k is [out, in] from this layer's view.
			w, transpose = r.w[2*(L-1-k)], true
		} else {
			w = r.w[idx]
			idx++
		}
		b := r.w[idx]
		idx++
		f := r.spec.Act
		if k == L-1 {
			f = r.spec.OutAct
		}
		z, a = layerFwd(a, w, b, in, out, transpose, f)
	}
	return z, a
}

// recon is the per-sample reconstruction loss, computed from its textbook
// definition (BCE from log σ and log(1−σ), not the logit form).
func (r *refModel) recon(x []float64) float64 {
	_, out := r.decode(r.encode(x))
	s := 0.0
	for i := range x {
		switch r.spec.Loss {
		case SSE:
			s += (out[i] - x[i]) * (out[i] - x[i])
		case BCE:
			s += -x[i]*math.Log(out[i]) - (1-x[i])*math.Log(1-out[i])
		}
	}
	return s
}

// fdJacobianFro2 is ‖J_h(x)‖²_F with J from central differences of encode.
func (r *refModel) fdJacobianFro2(x []float64, eps float64) float64 {
	xp := append([]float64(nil), x...)
	s := 0.0
	for i := range x {
		xp[i] = x[i] + eps
		hp := r.encode(xp)
		xp[i] = x[i] - eps
		hm := r.encode(xp)
		xp[i] = x[i]
		for j := range hp {
			d := (hp[j] - hm[j]) / (2 * eps)
			s += d * d
		}
	}
	return s
}

// closedFormSigmoid is Rifai et al.'s Σ_j (h_j(1−h_j))² Σ_i W_ij² for a
// one-layer sigmoid encoder.
func (r *refModel) closedFormSigmoid(x []float64) float64 {
	in, out := r.spec.Arch[0], r.spec.Arch[1]
	_, h := layerFwd(x, r.w[0], r.w[1], in, out, false, Sigmoid)
	s := 0.0
	for j := 0; j < out; j++ {
		cn := 0.0
		for i := 0; i < in; i++ {
			cn += r.w[0][i*out+j] * r.w[0][i*out+j]
		}
		d := h[j] * (1 - h[j])
		s += d * d * cn
	}
	return s
}
