// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolRunsEveryTaskOnce: batches of 1 to 9 tasks, back to back (the
// workers spinning) and after pauses longer than spinFor (the workers
// parked), each run exactly once, and run returns only when all are done.
func TestPoolRunsEveryTaskOnce(t *testing.T) {
	defer func(d time.Duration) { spinFor = d }(spinFor)
	spinFor = 200 * time.Microsecond
	for _, workers := range []int{1, 2, 3, 5} {
		p := newPool(workers)
		var counts [9]atomic.Int32
		tasks := make([]func(), len(counts))
		for i := range tasks {
			tasks[i] = func() {
				if i%3 == 1 {
					time.Sleep(50 * time.Microsecond)
				}
				counts[i].Add(1)
			}
		}
		for round := 0; round < 300; round++ {
			n := 1 + round%len(tasks)
			p.run(tasks[:n])
			for i := range counts {
				want := int32(0)
				if i < n {
					want = 1
				}
				if got := counts[i].Swap(0); got != want {
					t.Fatalf("%d workers, round %d (%d tasks): task %d ran %d times when run returned", workers, round, n, i, got)
				}
			}
			if round%50 == 49 {
				time.Sleep(3 * spinFor)
			}
		}
		p.close()
	}
}

// TestPoolRunsOneTaskPerWorkerAtOnce: a batch with one task per worker
// runs them all at the same time (parallelAdam's barrier waits for all),
// also when the workers had parked.
func TestPoolRunsOneTaskPerWorkerAtOnce(t *testing.T) {
	defer func(d time.Duration) { spinFor = d }(spinFor)
	spinFor = 100 * time.Microsecond
	const workers = 3
	p := newPool(workers)
	defer p.close()
	b := &barrier{n: workers}
	var passed atomic.Int32
	tasks := make([]func(), workers)
	for i := range tasks {
		tasks[i] = func() { b.wait(); passed.Add(1) }
	}
	for round := 0; round < 50; round++ {
		done := make(chan struct{})
		go func() { p.run(tasks); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the tasks did not all pass the barrier (deadlock)", round)
		}
		if round%10 == 9 {
			time.Sleep(time.Millisecond)
		}
	}
	if got := passed.Load(); got != 50*workers {
		t.Fatalf("%d tasks passed the barrier, want %d", got, 50*workers)
	}
}

// TestPoolCloseStopsWorkers: close ends the worker goroutines, whether
// they were spinning or parked.
func TestPoolCloseStopsWorkers(t *testing.T) {
	defer func(d time.Duration) { spinFor = d }(spinFor)
	spinFor = 100 * time.Microsecond
	before := runtime.NumGoroutine()
	var pools []*pool
	for i := 0; i < 4; i++ {
		p := newPool(4)
		p.run([]func(){func() {}, func() {}, func() {}})
		pools = append(pools, p)
	}
	time.Sleep(time.Millisecond) // some park
	pools = append(pools, newPool(4))
	for _, p := range pools {
		p.close()
		p.close() // twice is harmless
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after closing the pools, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}
