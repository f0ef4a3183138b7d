// SPDX-License-Identifier: Apache-2.0
//
// common.cuh: device helpers shared by the kernels in kernels/cuda/*.cu (it is
// #included, not compiled on its own). Each mirrors an unexported function of
// package kernels, named in its comment, which is its specification.
//
// Conventions of every kernel:
//   - float32 data, row-major, as in the Go references; sizes are int
//     (int32) parameters, checked on the Go side to be at most 2^31−1
//     elements, and loops index with unsigned int so that i + stride cannot
//     overflow for such sizes;
//   - 1-D elementwise kernels use grid-stride loops, so any grid size works;
//   - reductions are deterministic: no atomics, each sum is taken in a fixed
//     order that depends only on the sizes (a sequential loop, or the fixed
//     tree of cae_warp_sum / cae_col_reduce below).

#ifndef CAE_COMMON_CUH
#define CAE_COMMON_CUH

// Activation codes: kernels.Act (Linear, Sigmoid, Tanh, ReLU).
#define CAE_LINEAR 0
#define CAE_SIGMOID 1
#define CAE_TANH 2
#define CAE_RELU 3

// CAE_COL_X × CAE_COL_Y is the block of the column reductions: CAE_COL_X
// columns, each summed by CAE_COL_Y threads over interleaved rows.
#define CAE_COL_X 32
#define CAE_COL_Y 8

// Grid-stride loop over [0, n).
#define CAE_FOR(i, n)                                                           \
	for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned int)(n); \
	     i += blockDim.x * gridDim.x)

// cae_sigmoid is 1/(1+e^−z), evaluated so that it never overflows
// (kernels.sigmoid).
__device__ __forceinline__ float cae_sigmoid(float z) {
	if (z >= 0.0f) {
		return 1.0f / (1.0f + expf(-z));
	}
	float e = expf(z);
	return e / (1.0f + e);
}

// cae_softplus is log(1+e^z), finite for every z (kernels.softplus).
__device__ __forceinline__ float cae_softplus(float z) {
	if (z > 0.0f) {
		return z + log1pf(expf(-z));
	}
	return log1pf(expf(z));
}

// cae_apply is φ(z) (kernels.apply).
__device__ __forceinline__ float cae_apply(int act, float z) {
	switch (act) {
	case CAE_SIGMOID:
		return cae_sigmoid(z);
	case CAE_TANH:
		return tanhf(z);
	case CAE_RELU:
		return z > 0.0f ? z : 0.0f;
	}
	return z;
}

// cae_deriv_from_output is φ′(z) from a = φ(z): a(1−a), 1−a², 1[a>0], 1
// (kernels.derivFromOutput).
__device__ __forceinline__ float cae_deriv_from_output(int act, float a) {
	switch (act) {
	case CAE_SIGMOID:
		return a * (1.0f - a);
	case CAE_TANH:
		return 1.0f - a * a;
	case CAE_RELU:
		return a > 0.0f ? 1.0f : 0.0f;
	}
	return 1.0f;
}

// cae_warp_sum returns, in lane 0, the sum of v over the 32 lanes of a full
// warp, by a fixed shuffle tree (deterministic).
__device__ __forceinline__ float cae_warp_sum(float v) {
	for (int off = 16; off > 0; off >>= 1) {
		v += __shfl_down_sync(0xffffffffu, v, off);
	}
	return v;
}

// cae_block_sum returns, in every thread, the sum of v over a block of
// blockDim.x threads (a power of two, at most 1024), by a fixed tree in
// shared memory sh[blockDim.x] (deterministic). All threads must call it.
__device__ __forceinline__ float cae_block_sum(float v, float *sh) {
	unsigned int t = threadIdx.x;
	sh[t] = v;
	__syncthreads();
	for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
		if (t < s) {
			sh[t] += sh[t + s];
		}
		__syncthreads();
	}
	float r = sh[0];
	__syncthreads();
	return r;
}

// cae_row_reduce sets out[r] = Σ_i f(r, i) for r < rows, i < n: one warp
// per row (grid-stride over rows), each lane summing i ≡ lane (mod 32) in
// order, then cae_warp_sum. blockDim.x must be a multiple of 32.
template <typename F>
__device__ __forceinline__ void cae_row_reduce(float *out, int rows, int n, F f) {
	unsigned int lane = threadIdx.x & 31u;
	unsigned int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	unsigned int nwarps = (blockDim.x * gridDim.x) >> 5;
	for (unsigned int r = warp; r < (unsigned int)rows; r += nwarps) {
		float s = 0.0f;
		for (unsigned int i = lane; i < (unsigned int)n; i += 32u) {
			s += f(r, i);
		}
		s = cae_warp_sum(s);
		if (lane == 0) {
			out[r] = s;
		}
	}
}

// cae_col_reduce sets out[j] = Σ_r f(r, j) for j < n, r < rows. Block
// (CAE_COL_X, CAE_COL_Y), one block per CAE_COL_X columns (grid-stride):
// thread (x, y) sums rows r ≡ y (mod CAE_COL_Y) in order, then thread
// (x, 0) adds the CAE_COL_Y partial sums in order of y.
template <typename F>
__device__ __forceinline__ void cae_col_reduce(float *out, int rows, int n, F f) {
	__shared__ float sh[CAE_COL_Y][CAE_COL_X + 1];
	for (unsigned int j0 = blockIdx.x * CAE_COL_X; j0 < (unsigned int)n; j0 += gridDim.x * CAE_COL_X) {
		unsigned int j = j0 + threadIdx.x;
		float s = 0.0f;
		if (j < (unsigned int)n) {
			for (unsigned int r = threadIdx.y; r < (unsigned int)rows; r += CAE_COL_Y) {
				s += f(r, j);
			}
		}
		sh[threadIdx.y][threadIdx.x] = s;
		__syncthreads();
		if (threadIdx.y == 0 && j < (unsigned int)n) {
			float t = sh[0][threadIdx.x];
			for (int y = 1; y < CAE_COL_Y; y++) {
				t += sh[y][threadIdx.x];
			}
			out[j] = t;
		}
		__syncthreads();
	}
}

#endif // CAE_COMMON_CUH
