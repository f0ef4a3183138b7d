// SPDX-License-Identifier: Apache-2.0
//
// adam.cu: the fused Adam step. The spec is kernels.AdamStep
// (kernels/adam.go).
//
// Compile (go generate ./kernels runs this through internal/cmd/ptxgen):
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o adam.ptx adam.cu
//
// Kernels (1-D grid-stride):
//  1. cae_adam_f32   one Adam step on p, g, m, v: [n], then g = 0, unless skip[0] ≠ 0   (AdamStep)

#include "common.cuh"

// cae_adam_f32 is kernels.AdamStep, with the bias corrections precomputed
// on the host in float64 exactly as the reference does,
// c1 = float32(1/(1−β1ᵗ)) and c2 = float32(1/(1−β2ᵗ)):
//
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr·(m·c1) / (√(v·c2) + ε)
//	g ← 0
//
// sqrtf is correctly rounded (-prec-sqrt=true), as is float32(√float64(x))
// in the reference.
//
// When skip is not null and skip[0] ≠ 0 the step changes nothing: the CUDA
// VM points it at the flag cae_nonfinite_f32 raised for a non-finite loss
// or gradient, so that such a step leaves the parameters and moments as
// they were, as the CPU's does, without the host waiting for the device.
extern "C" __global__ void cae_adam_f32(float *p, float *g, float *m, float *v, int n, float b1, float b2, float c1, float c2, float lr, float eps,
                                        const int *skip) {
	if (skip != nullptr && *skip != 0) {
		return;
	}
	CAE_FOR(i, n) {
		float gi = g[i];
		float mi = b1 * m[i] + (1.0f - b1) * gi;
		float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
		m[i] = mi;
		v[i] = vi;
		p[i] -= lr * (mi * c1) / (sqrtf(vi * c2) + eps);
		g[i] = 0.0f;
	}
}
