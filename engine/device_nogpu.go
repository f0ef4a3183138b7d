// SPDX-License-Identifier: Apache-2.0

//go:build !gpu

package engine

// CUDABuild reports whether this binary was built with the gpu tag.
const CUDABuild = false

// cudaUsable reports whether CUDA can run here, and why or why not.
func cudaUsable() (bool, string) {
	return false, "this caetrain was built without CUDA support; " +
		"build one with `go build -tags gpu ./cmd/caetrain` on a machine with the CUDA toolkit " +
		"(or use the Dockerfile's gpu target), then run it on a machine with an NVIDIA GPU"
}
