// SPDX-License-Identifier: Apache-2.0
//
// act.cu: activations, their derivatives, and the bias gradient's column
// sum. The spec of each kernel is the Go function of kernels/act.go named
// below; act is a kernels.Act (0 linear, 1 sigmoid, 2 tanh, 3 ReLU).
//
// Compile (go generate ./kernels runs this through internal/cmd/ptxgen):
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o act.ptx act.cu
//
// Kernels (launch shapes as in kernels/cuda_gpu.go):
//  1. cae_bias_act_f32            out[r,j] = φ(xw[r,j] + b[j]); out, xw: [rows, n], b: [n]   (BiasAct)
//  2. cae_act_backward_f32        out[i] = g[i]·φ′ from a[i]; [n]                            (ActBackward)
//  3. cae_act_deriv_f32           out[i] = φ′ from a[i]; [n]                                 (ActDeriv)
//  4. cae_act_deriv_backward_f32  out[i] = g[i]·∂φ′/∂a; [n]                                  (ActDerivBackward)
//  5. cae_apply_f32               out[i] = φ(z[i]); [n]                                      (Apply)
//  6. cae_colsum_f32              out[j] = Σ_r x[r,j]; out: [n], x: [rows, n]                (ColSum)
//
// 1–5 are elementwise (1-D grid-stride; out may alias an input); 6 is a
// column reduction (block CAE_COL_X × CAE_COL_Y).

#include "common.cuh"

// cae_bias_act_f32 is kernels.BiasAct: out[r,j] = φ(xw[r,j] + b[j]).
extern "C" __global__ void cae_bias_act_f32(float *out, const float *xw, const float *b, int rows, int n, int act) {
	unsigned int total = (unsigned int)rows * (unsigned int)n;
	CAE_FOR(i, total) {
		out[i] = cae_apply(act, xw[i] + b[i % (unsigned int)n]);
	}
}

// cae_act_backward_f32 is kernels.ActBackward: out[i] = g[i]·φ′(z[i]),
// φ′ computed from a[i] = φ(z[i]).
extern "C" __global__ void cae_act_backward_f32(float *out, const float *a, const float *g, int n, int act) {
	CAE_FOR(i, n) {
		out[i] = g[i] * cae_deriv_from_output(act, a[i]);
	}
}

// cae_act_deriv_f32 is kernels.ActDeriv: out[i] = φ′(z[i]) from a[i].
extern "C" __global__ void cae_act_deriv_f32(float *out, const float *a, int n, int act) {
	CAE_FOR(i, n) {
		out[i] = cae_deriv_from_output(act, a[i]);
	}
}

// cae_act_deriv_backward_f32 is kernels.ActDerivBackward:
// out[i] = g[i]·(1−2a) (sigmoid), g[i]·(−2a) (tanh), 0 (ReLU, linear).
extern "C" __global__ void cae_act_deriv_backward_f32(float *out, const float *a, const float *g, int n, int act) {
	CAE_FOR(i, n) {
		float ai = a[i];
		float o;
		switch (act) {
		case CAE_SIGMOID:
			o = g[i] * (1.0f - 2.0f * ai);
			break;
		case CAE_TANH:
			o = g[i] * (-2.0f * ai);
			break;
		default:
			o = 0.0f;
		}
		out[i] = o;
	}
}

// cae_apply_f32 is kernels.Apply: out[i] = φ(z[i]).
extern "C" __global__ void cae_apply_f32(float *out, const float *z, int n, int act) {
	CAE_FOR(i, n) {
		out[i] = cae_apply(act, z[i]);
	}
}

// cae_colsum_f32 is kernels.ColSum: out[j] = Σ_r x[r,j].
extern "C" __global__ void cae_colsum_f32(float *out, const float *x, int rows, int n) {
	cae_col_reduce(out, rows, n, [=](unsigned int r, unsigned int j) { return x[r * (unsigned int)n + j]; });
}
