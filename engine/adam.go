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

// parallelAdam runs the finiteness check of the gradients and Adam's update
// over a worker pool, each worker taking the same slice of every parameter
// tensor. It leaves the gradients as they are (kernels.AdamStepKeep): it
// serves the fast VM, which writes every gradient afresh each run. It is planned once for one set of gradient buffers (the fast VM
// writes the same ones every run), so a step allocates nothing.
type parallelAdam struct {
	a      *Adam
	grads  [][]float32
	check  []func()
	update []func()
	bad    []int // per worker: index of a non-finite gradient tensor, or −1
}

// adamMin is the least number of parameters worth splitting Adam over
// workers for.
const adamMin = 1 << 15

func newParallelAdam(a *Adam, grads [][]float32, workers int) *parallelAdam {
	pa := &parallelAdam{a: a, grads: grads, bad: make([]int, workers)}
	for w := 0; w < workers; w++ {
		pa.check = append(pa.check, func() {
			pa.bad[w] = -1
			for i, g := range grads {
				lo, hi := len(g)*w/workers, len(g)*(w+1)/workers
				if !kernels.AllFinite(g[lo:hi]) {
					pa.bad[w] = i
					return
				}
			}
		})
		pa.update = append(pa.update, func() {
			for i, p := range a.params {
				lo, hi := len(p)*w/workers, len(p)*(w+1)/workers
				if lo < hi {
					kernels.AdamStepKeep(p[lo:hi], grads[i][lo:hi], a.M[i][lo:hi], a.V[i][lo:hi], a.T, a.Hyper)
				}
			}
		})
	}
	return pa
}

// uses reports whether pa was planned for these gradient buffers.
func (pa *parallelAdam) uses(grads [][]float32) bool {
	if pa == nil || len(grads) != len(pa.grads) {
		return false
	}
	for i, g := range grads {
		if len(g) != len(pa.grads[i]) || len(g) > 0 && &g[0] != &pa.grads[i][0] {
			return false
		}
	}
	return true
}

// nonFinite returns the index of a gradient tensor holding a NaN or ±Inf,
// or −1.
func (pa *parallelAdam) nonFinite(p *pool) int {
	p.run(pa.check)
	for _, b := range pa.bad {
		if b >= 0 {
			return b
		}
	}
	return -1
}

// step is Adam.Step over the pool.
func (pa *parallelAdam) step(p *pool) {
	pa.a.T++
	p.run(pa.update)
}
