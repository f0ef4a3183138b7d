// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"

	"github.com/caetrain/caetrain/graph"
	G "gorgonia.org/gorgonia"
)

// Data-parallel training on the CPU. With W workers the fast VM splits a
// training batch into S = min(W, batch/minShardRows) blocks of rows, each
// run start to finish by its own single-worker VM over its own graph: the
// same graph for fewer rows, reading the shared parameters and writing its
// own gradients, which are then summed. Every matrix product then runs as
// one whole single-threaded BLAS call per core, and the cores meet once
// per step instead of once per op, which on two cores makes the products
// 15–60% faster than splitting each one in halves (bench/README.md).
//
// The sum of S shards' gradients rounds differently from one VM's: a run
// is bit-for-bit reproducible for a given number of workers (GOMAXPROCS),
// not across them.

// minShardRows is the fewest rows a shard gets: below it the products get
// too thin for the BLAS to run them well.
const minShardRows = 32

// shardCount is the number of shards a batch is split into.
func shardCount(batch, workers int) int {
	return max(1, min(workers, batch/minShardRows))
}

// shard is one block of rows [lo, hi) of the batch and the VM that runs it.
type shard struct {
	m      *graph.Model
	vm     *cpuVM
	lo, hi int
	grads  [][]float32 // the VM's gradient buffers, in Params order
}

// sharded is the training machine's data-parallel form.
type sharded struct {
	shards []*shard
	pool   *pool
	run    []func() // one per shard: fill its rows, run its VM
	reduce []func() // one per worker: sum a slice of every gradient into shard 0's
	// The current step's arguments, read by run's closures.
	s   Samples
	idx []int
}

// newSharded builds S shard VMs for a batch whose inputs are the backing
// arrays of mc (x, mask, 1/n, noise): each shard reads its rows of them in
// place.
func newSharded(mc *machine, p *graph.Params, batch, S, workers int) (*sharded, error) {
	sh := &sharded{pool: newPool(workers)}
	d := p.Spec.Arch[0]
	for i := 0; i < S; i++ {
		lo, hi := batch*i/S, batch*(i+1)/S
		m, err := graph.Build(p, hi-lo, graph.Options{Grad: true})
		if err != nil {
			return nil, err
		}
		bind := map[*G.Node][]float32{
			m.X: mc.xs[lo*d : hi*d], m.Mask: mc.masks[lo:hi], m.InvN: mc.invn,
		}
		for j, n := range m.Learnables {
			bind[n] = p.Tensors[j].Data().([]float32)
		}
		for c, n := range m.Noise {
			bind[n] = mc.noises[c][lo*d : hi*d]
		}
		targets := G.Nodes{m.Loss, m.Recon, m.Penalty}
		if m.Hess != nil {
			targets = append(targets, m.Hess)
		}
		targets = append(targets, m.Grads...)
		vm, err := newCPUVM(m.Graph, targets, bind, 1)
		if err != nil {
			return nil, err
		}
		s := &shard{m: m, vm: vm, lo: lo, hi: hi}
		for _, g := range m.Grads {
			b, _ := vm.value(g)
			s.grads = append(s.grads, b)
		}
		sh.shards = append(sh.shards, s)
		sh.run = append(sh.run, func() {
			mc.fill(sh.s, sh.idx, s.lo, s.hi)
			s.vm.run()
		})
	}
	for w := 0; w < workers; w++ {
		sh.reduce = append(sh.reduce, func() {
			for i, g := range sh.shards[0].grads {
				lo, hi := len(g)*w/workers, len(g)*(w+1)/workers
				dst := g[lo:hi]
				for _, o := range sh.shards[1:] {
					src := o.grads[i][lo:hi]
					src = src[:len(dst)]
					for k, v := range src {
						dst[k] += v
					}
				}
			}
		})
	}
	return sh, nil
}

// step runs every shard on rows idx of s and sums their gradients into
// shard 0's buffers.
func (sh *sharded) step(s Samples, idx []int) {
	sh.s, sh.idx = s, idx
	sh.pool.run(sh.run)
	sh.pool.run(sh.reduce)
	sh.s, sh.idx = Samples{}, nil
}

// scalar is the sum over the shards of the scalar node that plays n's part
// in the full-batch model full (the loss and its terms are sums over rows,
// already divided by the whole batch's n).
func (sh *sharded) scalar(full *graph.Model, n *G.Node) float64 {
	pick := func(m *graph.Model) *G.Node {
		switch n {
		case full.Loss:
			return m.Loss
		case full.Recon:
			return m.Recon
		case full.Penalty:
			return m.Penalty
		case full.Hess:
			return m.Hess
		}
		panic(fmt.Sprintf("engine: node %v is not a scalar the sharded VM sums", n))
	}
	var sum float64
	for _, s := range sh.shards {
		v, _ := s.vm.value(pick(s.m))
		sum += float64(v[0])
	}
	return sum
}

func (sh *sharded) close() {
	for _, s := range sh.shards {
		s.vm.close()
	}
	sh.pool.close()
}
