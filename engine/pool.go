// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"runtime"
	"sync/atomic"
	"time"
)

// pool runs batches of tasks on persistent worker goroutines, the caller
// taking a share. The tasks are closures built once, when a VM is planned,
// so running them allocates nothing.
//
// A training step hands the pool a batch every few hundred microseconds
// (shards, sums, the epilogue's products, Adam), with serial work between.
// A worker that parked in the Go scheduler between two batches is woken
// through the OS, and on a virtual machine whose idle vCPU has halted that
// took 150–350 µs per batch (measured on the 2-vCPU KVM guest of
// bench/README.md: a tenth of a 10 ms step). So workers, and a caller
// waiting for them, spin for a while (spinFor) before parking, as
// OpenMP's and OpenBLAS's threads do; the spin yields the processor
// regularly, so other goroutines (the garbage collector's, a second
// pool's) still run.
type pool struct {
	workers int
	spin    time.Duration // spinFor when the pool was made

	// The current batch. run writes it while gen is odd, once no worker
	// is inside it (a seqlock: a worker that woke late must not read
	// tasks while the next batch is being written).
	tasks   []func()
	next    atomic.Int64 // index of the next task to take
	pending atomic.Int64 // tasks of the batch not yet finished (task 0 excluded)
	gen     atomic.Uint64
	inside  atomic.Int32 // workers reading the current batch
	closed  atomic.Bool

	parked atomic.Int32  // workers blocked on wake, less the tokens already sent
	wake   chan struct{} // one token per parked worker to wake
	// The caller waiting for the batch's end parks on done the same way.
	waiting atomic.Int32
	done    chan struct{}
}

// spinFor is how long a worker waits for the next batch, or the caller for
// a batch's end, before blocking in the scheduler (a variable for the
// benchmarks and tests; a pool reads it when it is made).
var spinFor = 2 * time.Millisecond

// newPool starts workers−1 goroutines (the caller is the last worker).
func newPool(workers int) *pool {
	if workers < 1 {
		workers = 1
	}
	p := &pool{workers: workers, spin: spinFor, wake: make(chan struct{}, workers), done: make(chan struct{}, 1)}
	for i := 1; i < workers; i++ {
		go p.worker()
	}
	return p
}

// defaultWorkers is the number of workers a VM uses: GOMAXPROCS.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

// run runs every task and returns when all are done. Task 0 runs on the
// calling goroutine, which then takes any task no worker has taken yet;
// the workers take the others, so a batch of at most one task per worker
// runs its tasks at once (parallelAdam's barrier relies on it). With one
// worker all run on the caller, in order.
func (p *pool) run(tasks []func()) {
	switch {
	case len(tasks) == 0:
		return
	case len(tasks) == 1 || p.workers == 1:
		for _, t := range tasks {
			t()
		}
		return
	}
	p.gen.Add(1) // odd: being written
	for spins := 1; p.inside.Load() > 0; spins++ {
		if spins%64 == 0 {
			runtime.Gosched()
		}
	}
	p.tasks = tasks
	p.next.Store(1)
	p.pending.Store(int64(len(tasks) - 1))
	p.gen.Add(1) // even: published
	for {
		n := p.parked.Load()
		if n == 0 {
			break
		}
		if p.parked.CompareAndSwap(n, n-1) {
			p.wake <- struct{}{}
		}
	}
	tasks[0]()
	p.take()
	if p.pending.Load() > 0 {
		p.waitDone()
	}
}

// take runs tasks of the current batch until none is left to take.
func (p *pool) take() {
	tasks := p.tasks
	for {
		i := p.next.Add(1) - 1
		if i >= int64(len(tasks)) {
			return
		}
		tasks[i]()
		if p.pending.Add(-1) == 0 && p.waiting.Load() > 0 && p.waiting.CompareAndSwap(1, 0) {
			p.done <- struct{}{}
		}
	}
}

// waitDone returns when the batch's last task has finished: spinning for
// p.spin, then parked on done.
func (p *pool) waitDone() {
	if p.spinUntil(func() bool { return p.pending.Load() == 0 }) {
		return
	}
	p.waiting.Store(1)
	if p.pending.Load() == 0 {
		if p.waiting.CompareAndSwap(1, 0) {
			return
		}
	}
	<-p.done
}

// spinUntil checks ready until it holds, yielding the processor every 64
// checks, for at most p.spin; it reports whether ready held.
func (p *pool) spinUntil(ready func() bool) bool {
	start := time.Now()
	for spins := 1; ; spins++ {
		if ready() {
			return true
		}
		if spins%64 == 0 {
			if time.Since(start) > p.spin {
				return false
			}
			runtime.Gosched()
		}
	}
}

// worker takes tasks of each new batch until the pool closes.
func (p *pool) worker() {
	var seen uint64
	for {
		g := p.awaitBatch(seen)
		if p.closed.Load() {
			return
		}
		p.inside.Add(1)
		if g%2 == 0 && p.gen.Load() == g {
			seen = g
			p.take()
		}
		p.inside.Add(-1)
	}
}

// awaitBatch returns the generation of a published batch newer than seen
// (or any generation once the pool is closed): spinning for p.spin, then
// parked on wake.
func (p *pool) awaitBatch(seen uint64) uint64 {
	var g uint64
	if p.spinUntil(func() bool { g = p.gen.Load(); return g != seen && g%2 == 0 || p.closed.Load() }) {
		return g
	}
	for {
		p.parked.Add(1)
		if g := p.gen.Load(); g != seen || p.closed.Load() {
			// (An odd g, a batch being written, returns too: worker
			// checks it again before reading the batch.)
			// Withdraw, unless run already claimed this park and sent
			// (or is sending) a token for it: then take the token.
			for {
				n := p.parked.Load()
				if n == 0 {
					<-p.wake
					break
				}
				if p.parked.CompareAndSwap(n, n-1) {
					break
				}
			}
			return g
		}
		<-p.wake
		if g := p.gen.Load(); g != seen || p.closed.Load() {
			return g
		}
	}
}

// close stops the workers.
func (p *pool) close() {
	if !p.closed.Swap(true) {
		close(p.wake) // wakes every parked worker, for good
	}
}
