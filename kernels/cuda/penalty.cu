// SPDX-License-Identifier: Apache-2.0
//
// penalty.cu: the pieces of the contractive penalty ‖J_h(x)‖²_F other than
// the quadratic form (quadform.cu): Rifai's one-layer closed form, the
// factor M's first step and per-layer column scaling, and their gradients.
// The spec of each kernel is the Go function of kernels/penalty.go named
// below.
//
// Compile (go generate ./kernels runs this through internal/cmd/ptxgen):
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o penalty.ptx penalty.cu
//
// Kernels (launch shapes as in kernels/cuda_gpu.go):
//  1. cae_colsumsq_f32                out[j] = Σ_i w[i,j]²; out: [n1], w: [n0, n1]                  (ColSumSq)
//  2. cae_colsumsq_grad_f32           out[i,j] = 2·w[i,j]·g[j]; out, w: [n0, n1], g: [n1]            (ColSumSqGrad)
//  3. cae_diagpen_f32                 out[b] = Σ_j d[b,j]²·c[j]; out: [B], d: [B, n], c: [n]         (DiagPen)
//  4. cae_diagpen_grad_d_f32          out[b,j] = 2·g[b]·d[b,j]·c[j]; out, d: [B, n]                  (DiagPenGradD)
//  5. cae_diagpen_grad_c_f32          out[j] = Σ_b g[b]·d[b,j]²; out: [n]                            (DiagPenGradC)
//  6. cae_outer_scale_f32             t[b,i,j] = dL[b,i]·w[j,i]·dP[b,j]; t: [B, nL, P]               (OuterScale)
//  7. cae_outer_scale_grad_dl_f32     out[b,i] = Σ_j g[b,i,j]·w[j,i]·dP[b,j]; out: [B, nL]           (OuterScaleGradDL)
//  8. cae_outer_scale_grad_w_f32      out[j,i] = Σ_b g[b,i,j]·dL[b,i]·dP[b,j]; out: [P, nL]          (OuterScaleGradW)
//  9. cae_outer_scale_grad_dp_f32     out[b,j] = Σ_i g[b,i,j]·dL[b,i]·w[j,i]; out: [B, P]            (OuterScaleGradDP)
// 10. cae_scale_cols_f32              out[b,r,c] = p[b,r,c]·d[b,c]; out, p: [B, R, C], d: [B, C]     (ScaleCols)
// 11. cae_row_dot_f32                 out[b,c] = Σ_r g[b,r,c]·p[b,r,c]; out: [B, C]                  (RowDot)
//
// Elementwise (1-D grid-stride): 2, 4, 6, 10. Row reductions (one warp per
// output, any block of 32k threads): 3, 7. Column reduction (block
// CAE_COL_X × CAE_COL_Y): 1, 5. One thread per output, summing in the
// reference's order (1-D grid-stride): 8, 9, 11.

#include "common.cuh"

// cae_colsumsq_f32 is kernels.ColSumSq: out[j] = Σ_i w[i,j]².
extern "C" __global__ void cae_colsumsq_f32(float *out, const float *w, int n0, int n1) {
	unsigned int un1 = (unsigned int)n1;
	cae_col_reduce(out, n0, n1, [=](unsigned int i, unsigned int j) {
		float v = w[i * un1 + j];
		return v * v;
	});
}

// cae_colsumsq_grad_f32 is kernels.ColSumSqGrad: out[i,j] = 2·w[i,j]·g[j].
extern "C" __global__ void cae_colsumsq_grad_f32(float *out, const float *w, const float *g, int n0, int n1) {
	unsigned int total = (unsigned int)n0 * (unsigned int)n1;
	CAE_FOR(k, total) {
		out[k] = 2.0f * w[k] * g[k % (unsigned int)n1];
	}
}

// cae_diagpen_f32 is kernels.DiagPen: out[b] = Σ_j d[b,j]²·c[j].
extern "C" __global__ void cae_diagpen_f32(float *out, const float *d, const float *c, int B, int n) {
	unsigned int un = (unsigned int)n;
	cae_row_reduce(out, B, n, [=](unsigned int b, unsigned int j) {
		float v = d[b * un + j];
		return v * v * c[j];
	});
}

// cae_diagpen_grad_d_f32 is kernels.DiagPenGradD: out[b,j] = 2·g[b]·d[b,j]·c[j].
extern "C" __global__ void cae_diagpen_grad_d_f32(float *out, const float *d, const float *c, const float *g, int B, int n) {
	unsigned int total = (unsigned int)B * (unsigned int)n;
	CAE_FOR(k, total) {
		out[k] = 2.0f * g[k / (unsigned int)n] * d[k] * c[k % (unsigned int)n];
	}
}

// cae_diagpen_grad_c_f32 is kernels.DiagPenGradC: out[j] = Σ_b g[b]·d[b,j]².
extern "C" __global__ void cae_diagpen_grad_c_f32(float *out, const float *d, const float *g, int B, int n) {
	unsigned int un = (unsigned int)n;
	cae_col_reduce(out, B, n, [=](unsigned int b, unsigned int j) {
		float v = d[b * un + j];
		return g[b] * v * v;
	});
}

// cae_outer_scale_f32 is kernels.OuterScale: t[b,i,j] = dL[b,i]·w[j,i]·dP[b,j],
// w: [P, nL].
extern "C" __global__ void cae_outer_scale_f32(float *t, const float *dL, const float *w, const float *dP, int B, int nL, int P) {
	unsigned int uP = (unsigned int)P, unL = (unsigned int)nL;
	unsigned int total = (unsigned int)B * unL * uP;
	CAE_FOR(k, total) {
		unsigned int j = k % uP;
		unsigned int bi = k / uP; // b·nL + i
		unsigned int i = bi % unL;
		unsigned int b = bi / unL;
		t[k] = dL[bi] * w[j * unL + i] * dP[b * uP + j];
	}
}

// cae_outer_scale_grad_dl_f32 is kernels.OuterScaleGradDL:
// out[b,i] = Σ_j g[b,i,j]·w[j,i]·dP[b,j].
extern "C" __global__ void cae_outer_scale_grad_dl_f32(float *out, const float *g, const float *w, const float *dP, int B, int nL, int P) {
	unsigned int uP = (unsigned int)P, unL = (unsigned int)nL;
	cae_row_reduce(out, B * nL, P, [=](unsigned int bi, unsigned int j) {
		unsigned int i = bi % unL, b = bi / unL;
		return g[bi * uP + j] * w[j * unL + i] * dP[b * uP + j];
	});
}

// cae_outer_scale_grad_w_f32 is kernels.OuterScaleGradW:
// out[j,i] = Σ_b g[b,i,j]·dL[b,i]·dP[b,j], out: [P, nL]. One thread per
// (i, j), j fastest so that the reads of g are coalesced; b in order.
extern "C" __global__ void cae_outer_scale_grad_w_f32(float *out, const float *g, const float *dL, const float *dP, int B, int nL, int P) {
	unsigned int uP = (unsigned int)P, unL = (unsigned int)nL;
	unsigned int total = unL * uP;
	CAE_FOR(k, total) {
		unsigned int j = k % uP, i = k / uP;
		float s = 0.0f;
		for (unsigned int b = 0; b < (unsigned int)B; b++) {
			s += g[(b * unL + i) * uP + j] * dL[b * unL + i] * dP[b * uP + j];
		}
		out[j * unL + i] = s;
	}
}

// cae_outer_scale_grad_dp_f32 is kernels.OuterScaleGradDP:
// out[b,j] = Σ_i g[b,i,j]·dL[b,i]·w[j,i]. One thread per (b, j); i in order.
extern "C" __global__ void cae_outer_scale_grad_dp_f32(float *out, const float *g, const float *dL, const float *w, int B, int nL, int P) {
	unsigned int uP = (unsigned int)P, unL = (unsigned int)nL;
	unsigned int total = (unsigned int)B * uP;
	CAE_FOR(k, total) {
		unsigned int j = k % uP, b = k / uP;
		float s = 0.0f;
		for (unsigned int i = 0; i < unL; i++) {
			s += g[(b * unL + i) * uP + j] * dL[b * unL + i] * w[j * unL + i];
		}
		out[k] = s;
	}
}

// cae_scale_cols_f32 is kernels.ScaleCols: out[b,r,c] = p[b,r,c]·d[b,c].
extern "C" __global__ void cae_scale_cols_f32(float *out, const float *p, const float *d, int B, int R, int C) {
	unsigned int uC = (unsigned int)C, uRC = (unsigned int)R * uC;
	unsigned int total = (unsigned int)B * uRC;
	CAE_FOR(k, total) {
		out[k] = p[k] * d[(k / uRC) * uC + k % uC];
	}
}

// cae_row_dot_f32 is kernels.RowDot: out[b,c] = Σ_r g[b,r,c]·p[b,r,c].
// One thread per (b, c); r in order.
extern "C" __global__ void cae_row_dot_f32(float *out, const float *g, const float *p, int B, int R, int C) {
	unsigned int uC = (unsigned int)C, uR = (unsigned int)R;
	unsigned int total = (unsigned int)B * uC;
	CAE_FOR(k, total) {
		unsigned int c = k % uC, b = k / uC;
		float s = 0.0f;
		for (unsigned int r = 0; r < uR; r++) {
			unsigned int off = (b * uR + r) * uC + c;
			s += g[off] * p[off];
		}
		out[k] = s;
	}
}
