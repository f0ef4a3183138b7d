// SPDX-License-Identifier: Apache-2.0
//
// recon.cu: the reconstruction loss, its gradient, and the masked batch
// mean. The spec of each kernel is the Go function of kernels/recon.go
// named below; outAct is a kernels.Act, bce is 0 (SSE) or 1 (BCE from the
// logits, which requires a sigmoid output).
//
// Compile (go generate ./kernels runs this through internal/cmd/ptxgen):
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o recon.ptx recon.cu
//
// Kernels (launch shapes as in kernels/cuda_gpu.go):
//  1. cae_recon_loss_f32     out[b] = Σ_i ℓ(z[b,i], x[b,i]); out: [rows], z, x: [rows, n]   (ReconLoss)
//  2. cae_recon_grad_f32     out[b,i] = g[b]·∂ℓ/∂z; out, z, x: [rows, n], g: [rows]         (ReconGrad)
//  3. cae_loss_combine_f32   out[0] = invn[0]·Σ_k w_k Σ_b mask[b]·t_k[b], K ≤ 4 terms        (LossCombine)
//  4. cae_mask_weights_f32   out[b] = g[0]·w·invn[0]·mask[b]; [rows]                         (MaskWeights)
//
// 1 is a row reduction (one warp per row, any block of 32k threads); 2 and
// 4 are elementwise (1-D grid-stride); 3 runs as one block of
// CAE_COMBINE_THREADS threads.

#include "common.cuh"

// CAE_COMBINE_THREADS is cae_loss_combine_f32's block size (a power of two).
#define CAE_COMBINE_THREADS 256

// cae_recon_loss_f32 is kernels.ReconLoss:
// SSE: ℓ = (φ(z) − x)²; BCE: ℓ = softplus(z) − x·z.
extern "C" __global__ void cae_recon_loss_f32(float *out, const float *z, const float *x, int rows, int n, int outAct, int bce) {
	unsigned int un = (unsigned int)n;
	if (bce) {
		cae_row_reduce(out, rows, n, [=](unsigned int r, unsigned int i) {
			float zi = z[r * un + i];
			return cae_softplus(zi) - x[r * un + i] * zi;
		});
		return;
	}
	cae_row_reduce(out, rows, n, [=](unsigned int r, unsigned int i) {
		float d = cae_apply(outAct, z[r * un + i]) - x[r * un + i];
		return d * d;
	});
}

// cae_recon_grad_f32 is kernels.ReconGrad:
// SSE: out[b,i] = g[b]·2(φ(z) − x)φ′(z); BCE: out[b,i] = g[b]·(σ(z) − x).
extern "C" __global__ void cae_recon_grad_f32(float *out, const float *z, const float *x, const float *g, int rows, int n, int outAct, int bce) {
	unsigned int total = (unsigned int)rows * (unsigned int)n;
	CAE_FOR(i, total) {
		float gb = g[i / (unsigned int)n];
		float zi = z[i];
		if (bce) {
			out[i] = gb * (cae_sigmoid(zi) - x[i]);
		} else {
			float a = cae_apply(outAct, zi);
			out[i] = gb * 2.0f * (a - x[i]) * cae_deriv_from_output(outAct, a);
		}
	}
}

// cae_loss_combine_f32 is kernels.LossCombine for K ≤ 4 terms t0…t3 with
// weights w0…w3 (unused ones may be null):
//
//	out[0] = invn[0] · Σ_{k<K} w_k · Σ_b mask[b]·t_k[b]
//
// One block of CAE_COMBINE_THREADS threads; each inner sum is a fixed tree.
extern "C" __global__ void cae_loss_combine_f32(float *out, const float *t0, const float *t1, const float *t2, const float *t3,
                                                float w0, float w1, float w2, float w3, int K, const float *mask, const float *invn, int rows) {
	__shared__ float sh[CAE_COMBINE_THREADS];
	const float *ts[4] = {t0, t1, t2, t3};
	const float ws[4] = {w0, w1, w2, w3};
	float s = 0.0f;
	for (int k = 0; k < K && k < 4; k++) {
		const float *t = ts[k];
		float sk = 0.0f;
		for (unsigned int b = threadIdx.x; b < (unsigned int)rows; b += blockDim.x) {
			sk += mask[b] * t[b];
		}
		sk = cae_block_sum(sk, sh);
		s += ws[k] * sk;
	}
	if (threadIdx.x == 0) {
		out[0] = invn[0] * s;
	}
}

// cae_mask_weights_f32 is kernels.MaskWeights: out[b] = (g[0]·w·invn[0])·mask[b].
extern "C" __global__ void cae_mask_weights_f32(float *out, const float *mask, const float *invn, const float *g, float w, int rows) {
	float s = g[0] * w * invn[0];
	CAE_FOR(b, rows) {
		out[b] = s * mask[b];
	}
}
