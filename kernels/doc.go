// SPDX-License-Identifier: Apache-2.0

// Package kernels holds the numeric kernels caetrain's engines run, each as a
// plain, readable CPU reference that is always built and that serves as the
// specification for any faster version (fused CPU loops, CUDA kernels).
//
// The float32 instantiations of the element-wise kernels that dominate a
// training step's non-matrix work take fast paths (fast32.go, the penalty
// and quadratic-form kernels): the activation chosen once per call, no
// bounds checks in the loops, and exp, the sigmoid, the softplus sum and
// Adam's update from kernels/internal/vec, AVX2/FMA assembly on amd64. The
// float64 instantiation stays the plain reference the tests compare with.
//
// Matrix products (MatMul, MatMulAcc, MatMulTile) in float32 run caetrain's
// own gemm (kernels/internal/gemm: packed blocks, an AVX2+FMA 6×16
// microkernel) on CPUs with AVX2 and FMA, in every build: gonum's pure-Go
// SGEMM, the default build's BLAS, is 4–8× slower, and OpenBLAS (-tags
// openblas) is no faster and cannot share one packed copy of a weight
// matrix between products (PackedB, MatMulPacked). float64 products, and
// float32 on other CPUs, go to the build's BLAS (the BLAS constant);
// CAETRAIN_SGEMM=blas in the environment sends float32 there too, for
// comparisons (Sgemm says which runs).
//
// In the gpu build, Device runs the same kernels on an NVIDIA GPU: the CUDA
// sources in kernels/cuda (PTX committed and embedded, gen_ptx.go) and
// cuBLAS, each checked against its CPU reference by the shared suite
// kernels/kerneltest. Every launch checks the parameters its launcher
// pushes against the kernel's PTX signature. Without a GPU the suite runs
// under kernels/cudaemu, an emulated driver and cuBLAS (test
// infrastructure, not a Go package) that compiles kernels/cuda/*.cu as C++
// and runs them on the CPU.
//
// kernels is the leaf of caetrain's import graph: it imports nothing of the
// project's but its own internal packages (vec, gemm). It panics only on
// caller bugs (mismatched lengths), with messages that start with
// "kernels: ".
package kernels
