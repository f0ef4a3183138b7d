// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"testing"

	"github.com/caetrain/caetrain/graph"
)

// TestStepAllocatesNothing: after warm-up, a training step on the fast VM
// (forward, backward, Adam) allocates nothing, with products and row
// kernels split over workers and with the CAE+H term's noise.
func TestStepAllocatesNothing(t *testing.T) {
	for _, spec := range []graph.Spec{
		{Arch: []int{784, 64, 32, 16}, Act: graph.ReLU, OutAct: graph.Linear, Loss: graph.SSE, Lambda: 100},
		{Arch: []int{784, 200}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Tied: true, Loss: graph.BCE, Lambda: 0.1,
			HessGamma: 0.1, HessSigma: 0.1, HessCopies: 2},
	} {
		c := Config{Spec: spec, Batch: 128, Epochs: 1, Adam: DefaultAdam, Seed: 1}
		tr := newTestTrainer(t, c)
		data := synth(128, 784, 2)
		idx := make([]int, 100) // a partial batch too
		for i := range idx {
			idx[i] = i
		}
		step := func() {
			if _, err := tr.Step(data, idx); err != nil {
				t.Fatal(err)
			}
		}
		step()
		if n := testing.AllocsPerRun(5, step); n != 0 {
			t.Errorf("%v: %v allocations per step, want 0", spec.Arch, n)
		}
	}
}
