// SPDX-License-Identifier: Apache-2.0
//
// check.cu: a NaN/Inf check that leaves the data on the device.
//
// Compile (go generate ./kernels runs this through internal/cmd/ptxgen):
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o check.ptx check.cu
//
// Kernels (1-D grid-stride):
//  1. cae_nonfinite_f32   flag[0] = mark if flag[0] is 0 and some x[i] is NaN or ±Inf; x: [n], flag: [1] int32

#include "common.cuh"

// cae_nonfinite_f32 sets flag[0] = mark when flag[0] is 0 and any x[i] is
// NaN or ±Inf, and leaves it alone otherwise: the first mark (mark ≠ 0)
// stays, over any number of launches, until the caller zeroes it. Every
// writer of one launch stores the same integer, so the result does not
// depend on the order. The spec is kerneltest.HasNonFinite.
extern "C" __global__ void cae_nonfinite_f32(int *flag, const float *x, int n, int mark) {
	CAE_FOR(i, n) {
		if (!isfinite(x[i]) && *flag == 0) {
			*flag = mark;
		}
	}
}
