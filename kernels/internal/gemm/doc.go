// SPDX-License-Identifier: Apache-2.0

// Package gemm is caetrain's float32 matrix product: packed blocks and an
// AVX2+FMA microkernel (6×16, kern_amd64.s) in the layout of BLIS and
// OpenBLAS, single-threaded, allocation-free once warm.
//
// It exists for two reasons. The default build's BLAS, gonum's pure-Go
// gemm, runs at 8–9 GFLOP/s per core where this runs near the core's FMA
// rate (as fast as OpenBLAS on the engine's shapes). And a training step
// multiplies by the same weights many times (once per shard of the batch,
// forward and backward), which a BLAS call packs afresh every time; here
// the kernel reads an untransposed weight matrix in place, a product by a
// transposed one with few rows runs transposed so that the weights are
// read in place too (Transposes), and the engine can pack a transposed
// weight once per step for all shards (PackedB). SgemmPlus adds a term
// D·diag(s) as the kernel stores C's blocks (a one-layer penalty's weight
// gradient under the batch's product), where a BLAS call needs C written
// with it first.
//
// kernGo is the microkernel's specification; the tests run every shape,
// packed and in place, through both and against a float64 reference.
// Packing runs in assembly too (pack.go's helpers), with Go versions for
// the edges and for the purego build.
package gemm
