// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"github.com/caetrain/caetrain/graph"
	G "gorgonia.org/gorgonia"
)

// deviceStepper trains on an accelerator: the CUDA VM (vm_gpu.go) in a gpu
// build. Parameters, gradients and Adam's moments live on the device; the
// host's copies are brought up to date by download.
type deviceStepper interface {
	// step runs forward, backward and Adam for rows idx of s. Its result
	// is Deferred: the means stay on the device until flush.
	step(s Samples, idx []int, seed uint64, step int) (StepResult, error)
	pending() int                        // deferred steps since the last flush
	flush() (StepResult, error)          // the deferred steps' means
	diverged() int                       // after flush: the first step with a non-finite loss or gradient, or 0
	download(*graph.Params, *Adam) error // device → host
	upload(*graph.Params, *Adam) error   // host → device
	close()
}

// deviceClassMachine runs a fine-tuning classifier's graph on an
// accelerator: the CUDA VM (vm_gpu.go) in a gpu build. It holds no state
// between runs that the host does not give it: each run takes the
// parameters (setParams) and the batch, and the results are read back.
type deviceClassMachine interface {
	setParams(ts [][]float32) error
	run(xs, ys, mask, invn []float32) error
	read(n *G.Node, dst []float32) error // a node's value after a run
	readGrads(dst [][]float32) error     // the gradients, in Learnables order
	close()
}
