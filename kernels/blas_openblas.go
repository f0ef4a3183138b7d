// SPDX-License-Identifier: Apache-2.0

//go:build openblas

package kernels

// Built with -tags openblas, matrix products go to OpenBLAS (Debian:
// apt-get install libopenblas-pthread-dev) through gonum's netlib cgo
// bindings. The pthread build is linked by path, so the Debian
// alternatives for libblas do not change which OpenBLAS runs.

// #cgo LDFLAGS: -L/usr/lib/x86_64-linux-gnu/openblas-pthread -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas
// void openblas_set_num_threads(int);
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// BLAS names the BLAS that MatMul calls.
const BLAS = "openblas"

func init() {
	// One thread per call: callers (engine's VM) tile products over their
	// own workers. OpenBLAS's threads spin between calls and fight them.
	C.openblas_set_num_threads(1)
	blas32.Use(netlib.Implementation{})
	blas64.Use(netlib.Implementation{})
}
