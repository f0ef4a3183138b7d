// SPDX-License-Identifier: Apache-2.0

//go:build gpu

package engine

import (
	"strings"
	"sync"

	"github.com/caetrain/caetrain/kernels"
)

// CUDABuild reports whether this binary was built with the gpu tag.
const CUDABuild = true

// A gpu build exits in gorgonia.org/cu's package init when no GPU answers,
// so reaching here means the driver found one; opening it can still fail.
var cuda struct {
	once sync.Once
	dev  *kernels.Device
	err  error
}

// cudaDevice opens device 0 once per process.
func cudaDevice() (*kernels.Device, error) {
	cuda.once.Do(func() { cuda.dev, cuda.err = kernels.OpenDevice(0) })
	return cuda.dev, cuda.err
}

// cudaUsable reports whether CUDA can run here, and why or why not.
func cudaUsable() (bool, string) {
	d, err := cudaDevice()
	if err != nil {
		return false, err.Error()
	}
	if Emulated(d.Name()) {
		return true, d.Name() + "; EMULATED: this is kernels/cudaemu, test infrastructure that runs the kernels on the CPU, not a GPU"
	}
	return true, d.Name()
}

// GPUHandoff is the GPU build a CPU build hands runs to; this is one.
func GPUHandoff() (string, bool) { return "", false }

// ProbeDevice names the GPU this build would train on.
func ProbeDevice() (string, error) {
	d, err := cudaDevice()
	if err != nil {
		return "", err
	}
	return d.Name(), nil
}

// Emulated reports whether name is the emulated driver's device
// (kernels/cudaemu), whose results are not a GPU's.
func Emulated(name string) bool { return strings.HasPrefix(name, "cudaemu") }
