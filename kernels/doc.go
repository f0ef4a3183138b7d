// SPDX-License-Identifier: Apache-2.0

// Package kernels holds the numeric kernels caetrain's engines run, each as a
// plain, readable CPU reference that is always built and that serves as the
// specification for any faster version (fused CPU loops, CUDA kernels).
//
// kernels is the leaf of caetrain's import graph: it imports nothing of the
// project's. It panics only on caller bugs (mismatched lengths), with
// messages that start with "kernels: ".
package kernels
