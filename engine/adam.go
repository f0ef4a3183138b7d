// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"runtime"
	"sync/atomic"

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
// tensor: it checks its slice, waits for the others' verdicts, and, if
// every gradient is finite, updates its slice from the end back, so that
// the gradients it checked last are still in its caches. It leaves the
// gradients as they are (kernels.AdamStepKeep): it serves the fast VM,
// which writes every gradient afresh each run.
type parallelAdam struct {
	a     *Adam
	grads [][]float32
	tasks []func()
	bad   []int // per worker: index of a non-finite gradient tensor, or −1
	sync  barrier
}

// adamMin is the least number of parameters worth splitting Adam over
// workers for.
const adamMin = 1 << 15

// adamChunk is how many values of each array Adam updates at a time, going
// back through a worker's slice (64 KiB of each of p, g, m, v).
const adamChunk = 1 << 14

func newParallelAdam(a *Adam, grads [][]float32, workers int) *parallelAdam {
	pa := &parallelAdam{a: a, grads: grads, bad: make([]int, workers)}
	pa.sync.n = int32(workers)
	for w := 0; w < workers; w++ {
		pa.tasks = append(pa.tasks, func() {
			pa.bad[w] = -1
			for i, g := range grads {
				lo, hi := len(g)*w/workers, len(g)*(w+1)/workers
				if !kernels.AllFinite(g[lo:hi]) {
					pa.bad[w] = i
					break
				}
			}
			pa.sync.wait()
			if pa.firstBad() >= 0 {
				return
			}
			for i := len(a.params) - 1; i >= 0; i-- {
				p := a.params[i]
				lo, hi := len(p)*w/workers, len(p)*(w+1)/workers
				for end := hi; end > lo; end -= adamChunk {
					c := max(lo, end-adamChunk)
					kernels.AdamStepKeep(p[c:end], grads[i][c:end], a.M[i][c:end], a.V[i][c:end], a.T, a.Hyper)
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

// firstBad is the lowest index of a tensor a worker found non-finite, or −1.
func (pa *parallelAdam) firstBad() int {
	bad := -1
	for _, b := range pa.bad {
		if b >= 0 && (bad < 0 || b < bad) {
			bad = b
		}
	}
	return bad
}

// step checks the gradients and, if all are finite, takes one Adam step
// over the pool; else it changes nothing and returns the index of a
// gradient tensor holding a NaN or ±Inf. The pool must run its workers'
// tasks at once (one per worker), as it does.
func (pa *parallelAdam) step(p *pool) int {
	pa.a.T++
	p.run(pa.tasks)
	if bad := pa.firstBad(); bad >= 0 {
		pa.a.T--
		return bad
	}
	return -1
}

// barrier makes n goroutines wait for one another; it can be reused.
type barrier struct {
	n     int32
	count atomic.Int32
	gen   atomic.Int32
}

func (b *barrier) wait() {
	g := b.gen.Load()
	if b.count.Add(1) == b.n {
		b.count.Store(0)
		b.gen.Add(1)
		return
	}
	for spins := 0; b.gen.Load() == g; spins++ {
		if spins > 100 {
			runtime.Gosched()
		}
	}
}
