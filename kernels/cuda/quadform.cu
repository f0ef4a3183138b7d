// SPDX-License-Identifier: Apache-2.0
//
// quadform.cu: the parts of kernels/quadform.go's BLAS forms that are not a
// matrix product. On the device each of QuadFormBLAS, QuadFormGradTBLAS and
// QuadFormGradGBLAS is one cuBLAS GEMM plus one of these kernels (see
// kernels/cuda_gpu.go):
//
//	QuadFormBLAS:      U = T·G (GEMM), then out[b] = Σ_{r,i} T[b,r,i]·U[b,r,i]   (cae_sample_dot_f32)
//	QuadFormGradTBLAS: S = G + Gᵀ (cae_add_transpose_f32), dT = T·S (GEMM),
//	                   then dT[b,·] *= gout[b]                                 (cae_scale_rows_f32)
//	QuadFormGradGBLAS: U[b,·] = gout[b]·T[b,·] (cae_scale_rows_f32), dG = Tᵀ·U (GEMM)
//
// Compile (go generate ./kernels runs this through internal/cmd/ptxgen):
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o quadform.ptx quadform.cu
//
// Kernels (launch shapes as in kernels/cuda_gpu.go):
//  1. cae_sample_dot_f32      out[b] = Σ_i x[b,i]·y[b,i]; out: [B], x, y: [B, n]        (the tail of QuadFormBLAS)
//  2. cae_add_transpose_f32   s[i,j] = g[i,j] + g[j,i]; s, g: [C, C]                     (the head of QuadFormGradTBLAS)
//  3. cae_scale_rows_f32      out[b,i] = s[b]·x[b,i]; out, x: [B, n], s: [B]            (kernels.Scale per sample)
//
// 1 is a row reduction (one warp per row, any block of 32k threads); 2 and
// 3 are elementwise (1-D grid-stride). 3 may run in place (out = x); 2 may
// not (s must not alias g).

#include "common.cuh"

// cae_sample_dot_f32 is the per-sample dot product that ends QuadFormBLAS:
// out[b] = Σ_i x[b,i]·y[b,i], with n = R·C.
extern "C" __global__ void cae_sample_dot_f32(float *out, const float *x, const float *y, int B, int n) {
	unsigned int un = (unsigned int)n;
	cae_row_reduce(out, B, n, [=](unsigned int b, unsigned int i) { return x[b * un + i] * y[b * un + i]; });
}

// cae_add_transpose_f32 is the symmetrised G of QuadFormGradTBLAS:
// s[i,j] = g[i,j] + g[j,i].
extern "C" __global__ void cae_add_transpose_f32(float *s, const float *g, int C) {
	unsigned int uC = (unsigned int)C;
	unsigned int total = uC * uC;
	CAE_FOR(k, total) {
		unsigned int i = k / uC, j = k % uC;
		s[k] = g[k] + g[j * uC + i];
	}
}

// cae_scale_rows_f32 scales each sample's row: out[b,i] = s[b]·x[b,i]
// (QuadFormGradTBLAS's and QuadFormGradGBLAS's kernels.Scale(…, gout[b])).
extern "C" __global__ void cae_scale_rows_f32(float *out, const float *x, const float *s, int B, int n) {
	unsigned int total = (unsigned int)B * (unsigned int)n;
	CAE_FOR(k, total) {
		out[k] = s[k / (unsigned int)n] * x[k];
	}
}
