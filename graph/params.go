// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Params holds a model's learnable tensors in Spec.ParamShapes order. Graphs
// built from the same Params share the backing arrays, so a training graph
// and an evaluation graph always see the same weights.
type Params struct {
	Spec    Spec
	Shapes  []ParamShape
	Tensors []*tensor.Dense
}

// NewParams allocates zeroed parameters for s in the given dtype
// (tensor.Float32 or tensor.Float64).
func NewParams(s Spec, dt tensor.Dtype) (*Params, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("graph: dtype %v: want float32 or float64", dt)
	}
	p := &Params{Spec: s, Shapes: s.ParamShapes()}
	for _, ps := range p.Shapes {
		p.Tensors = append(p.Tensors, tensor.New(tensor.WithShape(ps.Shape...), tensor.Of(dt)))
	}
	return p, nil
}

// Dtype is the element type of the parameters.
func (p *Params) Dtype() tensor.Dtype { return p.Tensors[0].Dtype() }

// Lookup returns the tensor named name, or nil.
func (p *Params) Lookup(name string) *tensor.Dense {
	for i, s := range p.Shapes {
		if s.Name == name {
			return p.Tensors[i]
		}
	}
	return nil
}

// Count is the total number of scalar parameters.
func (p *Params) Count() int {
	n := 0
	for _, t := range p.Tensors {
		n += t.Shape().TotalSize()
	}
	return n
}
