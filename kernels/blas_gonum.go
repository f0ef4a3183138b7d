// SPDX-License-Identifier: Apache-2.0

//go:build !openblas

package kernels

// BLAS names the BLAS that MatMul calls: gonum's pure-Go one in the
// default build; -tags openblas switches to OpenBLAS.
const BLAS = "gonum"
