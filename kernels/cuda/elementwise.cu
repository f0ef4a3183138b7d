// SPDX-License-Identifier: Apache-2.0
//
// elementwise.cu: the plain elementwise ops the gradient graph needs. The
// spec of each kernel is the Go function of kernels/elementwise.go named
// below.
//
// Compile (go generate ./kernels runs this through internal/cmd/ptxgen):
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o elementwise.ptx elementwise.cu
//
// Kernels (1-D grid-stride; out may alias an input):
//  1. cae_add_f32     out[i] = a[i] + b[i]; [n]   (Add)
//  2. cae_sub_f32     out[i] = a[i] − b[i]; [n]   (Sub)
//  3. cae_scale_f32   out[i] = s·a[i]; [n]        (Scale)

#include "common.cuh"

// cae_add_f32 is kernels.Add: out = a + b.
extern "C" __global__ void cae_add_f32(float *out, const float *a, const float *b, int n) {
	CAE_FOR(i, n) {
		out[i] = a[i] + b[i];
	}
}

// cae_sub_f32 is kernels.Sub: out = a − b.
extern "C" __global__ void cae_sub_f32(float *out, const float *a, const float *b, int n) {
	CAE_FOR(i, n) {
		out[i] = a[i] - b[i];
	}
}

// cae_scale_f32 is kernels.Scale: out = s·a.
extern "C" __global__ void cae_scale_f32(float *out, const float *a, float s, int n) {
	CAE_FOR(i, n) {
		out[i] = s * a[i];
	}
}
