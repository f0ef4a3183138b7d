// SPDX-License-Identifier: Apache-2.0

// Package gemm is caetrain's float32 matrix product: packed blocks and an
// AVX2+FMA microkernel (6×16, kern_amd64.s) in the layout of BLIS and
// OpenBLAS, single-threaded, allocation-free once warm.
//
// It exists for two reasons. The default build's BLAS, gonum's pure-Go
// gemm, runs at 8–9 GFLOP/s per core where this runs near the core's FMA
// rate; and a training step multiplies by the same weights once per shard
// of the batch, so packing them once (PackedB) and sharing the packed copy
// saves the packing that a BLAS call repeats every time.
//
// kernGo is the microkernel's specification; the tests run every shape
// through both and against a float64 reference.
package gemm
