// SPDX-License-Identifier: Apache-2.0

// Package kerneltest is the test suite every implementation of caetrain's
// kernels runs: the Go references of package kernels (kernels_test.go) and
// the CUDA kernels (cuda_gpu_test.go, -tags gpu, on a machine with a GPU).
// It follows gonum's blas/testblas: each kernel has a function
// XxxTest(t, impl), and an implementation's test file is a list of
// one-line calls; Suite runs them all.
//
// # What is checked
//
// Implementations work on host slices (Impl); a device implementation
// copies them in and out. For each kernel and each case of its table, the
// float32 result must agree with a float64 evaluation of the reference
// (the same generic function of package kernels, run on float64 copies of
// the float32 inputs) within abs/rel 1e-5, as scalar.EqualWithinAbsOrRel
// decides. That is llm.c's fp32 tolerance; the inputs are drawn at the
// scales training sees, where float32 rounding stays well inside it. A
// failure reports the index, want and got of the first mismatches, their
// count and the largest difference.
//
// Every output lies between guard regions filled with a NaN payload, and
// starts out filled with NaN itself: an out-of-bounds write changes a
// guard, and an element the kernel forgot to write stays NaN. Inputs must
// come back bit-for-bit unchanged.
//
// # References
//
// GatherRows and HasNonFinite have no function in package kernels (the
// engine builds batches on the host); the functions of the same names here
// are their specification.
package kerneltest
