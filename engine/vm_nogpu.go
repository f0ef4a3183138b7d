// SPDX-License-Identifier: Apache-2.0

//go:build !gpu

package engine

import (
	"fmt"

	"github.com/caetrain/caetrain/graph"
)

// newDeviceStepper fails in a build without CUDA.
func newDeviceStepper(*graph.Params, Config) (deviceStepper, error) {
	_, why := cudaUsable()
	return nil, fmt.Errorf("%w: %s", ErrNoCUDA, why)
}

// newDeviceClassMachine fails in a build without CUDA.
func newDeviceClassMachine(*graph.Classifier) (deviceClassMachine, error) {
	_, why := cudaUsable()
	return nil, fmt.Errorf("%w: %s", ErrNoCUDA, why)
}
