// SPDX-License-Identifier: Apache-2.0

// Package layout holds no code, only a test that guards caetrain's
// structure: imports flow one way (cmd → engine → graph → kernels), every
// package has a doc.go, and the default build links no CUDA.
package layout
