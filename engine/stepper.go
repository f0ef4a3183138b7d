// SPDX-License-Identifier: Apache-2.0

package engine

import "github.com/caetrain/caetrain/graph"

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
