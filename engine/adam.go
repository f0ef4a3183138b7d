// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
)

// Adam is the optimizer state of one set of float32 parameters: the first
// and second moment estimates and the number of steps taken. Its fields are
// exported so that checkpoints can save and restore them.
type Adam struct {
	Hyper  kernels.AdamHyper
	T      int         // steps taken
	M, V   [][]float32 // per parameter tensor, in Params order
	params [][]float32
}

// NewAdam makes zeroed optimizer state for p.
func NewAdam(p *graph.Params, h kernels.AdamHyper) Adam {
	a := Adam{Hyper: h}
	for _, t := range p.Tensors {
		d := t.Data().([]float32)
		a.params = append(a.params, d)
		a.M = append(a.M, make([]float32, len(d)))
		a.V = append(a.V, make([]float32, len(d)))
	}
	return a
}

// Step applies one Adam update with grads (in Params order), which it
// zeroes.
func (a *Adam) Step(grads [][]float32) {
	a.T++
	for i, p := range a.params {
		kernels.AdamStep(p, grads[i], a.M[i], a.V[i], a.T, a.Hyper)
	}
}
