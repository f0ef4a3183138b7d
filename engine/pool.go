// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"runtime"
	"sync"
)

// pool runs batches of tasks on persistent worker goroutines, the caller
// taking a share. The tasks are closures built once, when a VM is planned,
// so running them allocates nothing.
type pool struct {
	workers int
	work    chan func()
	wg      sync.WaitGroup
	stop    sync.Once
}

// newPool starts workers−1 goroutines (the caller is the last worker).
func newPool(workers int) *pool {
	if workers < 1 {
		workers = 1
	}
	p := &pool{workers: workers, work: make(chan func(), 4*workers)}
	for i := 1; i < workers; i++ {
		go func() {
			for f := range p.work {
				f()
				p.wg.Done()
			}
		}()
	}
	return p
}

// defaultWorkers is the number of workers a VM uses: GOMAXPROCS.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

// run runs every task and returns when all are done. Task 0 runs on the
// calling goroutine; with one worker all run there in order.
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
	p.wg.Add(len(tasks) - 1)
	for _, t := range tasks[1:] {
		p.work <- t
	}
	tasks[0]()
	p.wg.Wait()
}

// close stops the workers.
func (p *pool) close() {
	p.stop.Do(func() { close(p.work) })
}
