// SPDX-License-Identifier: Apache-2.0
//
// testkernels.cu: kernels for the emulator's own tests (selftest.cc), not
// part of caetrain. Compiled like kernels/cuda/*.cu and registered here.

// emu_block_sum: out[blockIdx.x] = Σ in[blockIdx.x·blockDim.x + t], a tree
// in shared memory with barriers.
extern "C" __global__ void emu_block_sum(float *out, const float *in) {
	__shared__ float sh[1024];
	unsigned int t = threadIdx.x;
	sh[t] = in[blockIdx.x * blockDim.x + t];
	__syncthreads();
	for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
		if (t < s) sh[t] += sh[t + s];
		__syncthreads();
	}
	if (t == 0) out[blockIdx.x] = sh[0];
}

// emu_early_exit: half the threads return before a __syncthreads.
extern "C" __global__ void emu_early_exit(float *out) {
	if (threadIdx.x % 2) return;
	__syncthreads();
	out[threadIdx.x] = 1;
}

// emu_warp: per warp, the sum by __shfl_xor_sync and a ballot of odd lanes.
extern "C" __global__ void emu_warp(int *sum, unsigned int *ballot, unsigned int mask) {
	int v = (int)threadIdx.x;
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(mask, v, o);
	unsigned int b = __ballot_sync(mask, threadIdx.x & 1);
	if ((threadIdx.x & 31) == 0) {
		sum[threadIdx.x / 32] = v;
		ballot[threadIdx.x / 32] = b;
	}
}

// emu_atomic: every thread of the grid adds 1.
extern "C" __global__ void emu_atomic(int *n) { atomicAdd(n, 1); }

// emu_shift: out[i] = in[i + 1] for i < n: reads one element past in's end
// when in has n elements.
extern "C" __global__ void emu_shift(float *out, const float *in, int n) {
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) out[i] = in[i + 1];
}

namespace {
struct Reg {
	Reg() {
		cudaemu::kernels().push_back(cudaemu::entry("emu_block_sum", "testdata/testkernels.cu", emu_block_sum));
		cudaemu::kernels().push_back(cudaemu::entry("emu_early_exit", "testdata/testkernels.cu", emu_early_exit));
		cudaemu::kernels().push_back(cudaemu::entry("emu_warp", "testdata/testkernels.cu", emu_warp));
		cudaemu::kernels().push_back(cudaemu::entry("emu_atomic", "testdata/testkernels.cu", emu_atomic));
		cudaemu::kernels().push_back(cudaemu::entry("emu_shift", "testdata/testkernels.cu", emu_shift));
	}
} reg;
} // namespace
