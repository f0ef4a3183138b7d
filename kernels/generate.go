// SPDX-License-Identifier: Apache-2.0

package kernels

// The CUDA kernels' sources are kernels/cuda/*.cu; ptxgen compiles them to
// the committed kernels/cuda/*.ptx and writes gen_ptx.go, which embeds the
// PTX. The default build only carries those bytes; the GPU build (-tags
// gpu, cuda_gpu.go) loads them.
//go:generate go run ../internal/cmd/ptxgen

// PTXModule is one CUDA module of the kernels: the PTX that nvcc made from
// kernels/cuda/<Name>.cu and the names of the kernels it defines, each
// cae_<op>_f32 and each the device version of the Go function its source
// names as its specification.
type PTXModule struct {
	Name    string   // the source's base name: "act" for kernels/cuda/act.cu
	PTX     string   // the PTX text, for cuModuleLoadData
	Kernels []string // the kernels' names, sorted
	// SHA256 is the hex SHA-256 of the sources the PTX was made from: the
	// .cu file's bytes, then for each kernels/cuda/*.cuh header in sorted
	// order a NUL, its base name, a NUL and its bytes. A test compares it
	// with the sources, so an edited .cu without go generate fails CI
	// even where there is no nvcc.
	SHA256 string
}
