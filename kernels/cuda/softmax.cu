// SPDX-License-Identifier: Apache-2.0
//
// softmax.cu: a classifier's softmax cross-entropy and its gradient. The
// spec of each kernel is the Go function of kernels/softmax.go named below.
//
// Compile (go generate ./kernels runs this through internal/cmd/ptxgen):
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o softmax.ptx softmax.cu
//
// Kernels (launch shapes as in kernels/cuda_gpu.go):
//  1. cae_softmax_xent_f32       out[b] = Σ_i y[b,i]·(lse(z[b]) − z[b,i]); out: [rows], z, y: [rows, n]   (SoftmaxXent)
//  2. cae_softmax_xent_grad_f32  out[b,i] = g[b]·(softmax(z[b])_i·Σ_j y[b,j] − y[b,i]); g: [rows]        (SoftmaxXentGrad)
//
// Both are one thread per row (1-D grid-stride over the rows): n is a
// classifier's number of classes, a handful, so a row is a short loop.

#include "common.cuh"

// cae_lse is log Σ_i e^(z_i) over n > 0 values, after subtracting the
// largest (kernels.logSumExp).
__device__ __forceinline__ float cae_lse(const float *z, unsigned int n) {
	float m = z[0];
	for (unsigned int i = 1; i < n; i++) {
		m = fmaxf(m, z[i]);
	}
	float s = 0.0f;
	for (unsigned int i = 0; i < n; i++) {
		s += expf(z[i] - m);
	}
	return m + logf(s);
}

// cae_softmax_xent_f32 is kernels.SoftmaxXent.
extern "C" __global__ void cae_softmax_xent_f32(float *out, const float *z, const float *y, int rows, int n) {
	unsigned int un = (unsigned int)n;
	CAE_FOR(r, rows) {
		const float *zr = z + r * un;
		const float *yr = y + r * un;
		float lse = cae_lse(zr, un);
		float s = 0.0f;
		for (unsigned int i = 0; i < un; i++) {
			if (yr[i] != 0.0f) {
				s += yr[i] * (lse - zr[i]);
			}
		}
		out[r] = s;
	}
}

// cae_softmax_xent_grad_f32 is kernels.SoftmaxXentGrad.
extern "C" __global__ void cae_softmax_xent_grad_f32(float *out, const float *z, const float *y, const float *g, int rows, int n) {
	unsigned int un = (unsigned int)n;
	CAE_FOR(r, rows) {
		const float *zr = z + r * un;
		const float *yr = y + r * un;
		float *o = out + r * un;
		float lse = cae_lse(zr, un);
		float sy = 0.0f;
		for (unsigned int i = 0; i < un; i++) {
			sy += yr[i];
		}
		float gb = g[r];
		for (unsigned int i = 0; i < un; i++) {
			o[i] = gb * (expf(zr[i] - lse) * sy - yr[i]);
		}
	}
}
