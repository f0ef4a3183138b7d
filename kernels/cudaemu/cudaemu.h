// SPDX-License-Identifier: Apache-2.0
//
// cudaemu.h: what CUDA C++ gives a kernel, for compiling kernels/cuda/*.cu
// as plain C++ on the host (g++ -include cudaemu.h -x c++ act.cu). The
// emulated driver (driver.cc) runs each launched block as one fiber per
// CUDA thread (runtime.cc): a thread runs until it reaches __syncthreads
// or a warp-wide operation, and all threads of the block really get there
// before any goes on. Blocks run in parallel on host threads.
//
// Provided: threadIdx, blockIdx, blockDim, gridDim, warpSize; __global__,
// __device__, __host__, __forceinline__, __restrict__; __shared__ (one
// copy per block: a static thread_local, since all fibers of a block run
// on one host thread and one host thread runs one block at a time);
// __syncthreads; the warp shuffles __shfl{,_up,_down,_xor}_sync and votes
// __ballot_sync, __any_sync, __all_sync, __syncwarp over 32 lanes, with
// their masks checked; atomicAdd/Sub/Exch/Max/Min/CAS (real host atomics);
// the float intrinsics the kernels use. Not provided: extern __shared__
// (dynamic shared memory), textures, cooperative groups.
//
// Test infrastructure only: nothing here is linked into a release binary.

#ifndef CUDAEMU_H
#define CUDAEMU_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

struct uint3 {
	unsigned int x, y, z;
};

struct dim3 {
	unsigned int x, y, z;
};

namespace cudaemu {

// Thread is one CUDA thread's coordinates, set by the scheduler before it
// resumes the thread's fiber.
struct Thread {
	uint3 tid;
	uint3 bid;
	dim3 bdim;
	dim3 gdim;
};

// cur is the CUDA thread running on this host thread.
extern thread_local Thread *cur __attribute__((tls_model("initial-exec")));

// syncthreads is __syncthreads: the calling thread waits until every
// thread of its block has reached a barrier.
void syncthreads();

// warp_exchange publishes v for the calling lane, waits until every lane
// of mask has done the same, and copies the 32 lanes' values into all
// (lanes outside mask: unspecified). It fails the launch if mask does not
// include the calling lane or names a lane that does not exist or has
// exited.
void warp_exchange(unsigned int mask, uint64_t v, uint64_t all[32]);

// lane is the calling thread's lane in its warp.
unsigned int lane();

template <typename T>
static inline uint64_t to_bits(T v) {
	static_assert(sizeof(T) <= 8, "cudaemu: shuffle of a type wider than 8 bytes");
	uint64_t b = 0;
	std::memcpy(&b, &v, sizeof(T));
	return b;
}

template <typename T>
static inline T from_bits(uint64_t b) {
	T v;
	std::memcpy(&v, &b, sizeof(T));
	return v;
}

// The four shuffles, as __shfl{,_up,_down,_xor}_sync define them: a lane
// whose source falls outside its width segment keeps its own value.
enum { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR };

template <typename T>
static inline T shfl(unsigned int mask, T v, int mode, int arg, int width) {
	uint64_t all[32];
	warp_exchange(mask, to_bits(v), all);
	int me = (int)lane();
	int base = me - me % width;
	int src = me;
	switch (mode) {
	case SHFL_IDX:
		src = base + (arg % width + width) % width;
		break;
	case SHFL_UP:
		src = me - arg;
		break;
	case SHFL_DOWN:
		src = me + arg;
		break;
	case SHFL_XOR:
		src = me ^ arg;
		break;
	}
	if (src < base || src >= base + width) {
		return v;
	}
	return from_bits<T>(all[src]);
}

} // namespace cudaemu

#define threadIdx (cudaemu::cur->tid)
#define blockIdx (cudaemu::cur->bid)
#define blockDim (cudaemu::cur->bdim)
#define gridDim (cudaemu::cur->gdim)
#define warpSize 32

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __shared__ static thread_local

static inline void __syncthreads() { cudaemu::syncthreads(); }

static inline void __syncwarp(unsigned int mask = 0xffffffffu) {
	uint64_t all[32];
	cudaemu::warp_exchange(mask, 0, all);
}

template <typename T>
static inline T __shfl_sync(unsigned int mask, T v, int src, int width = 32) {
	return cudaemu::shfl(mask, v, cudaemu::SHFL_IDX, src, width);
}

template <typename T>
static inline T __shfl_down_sync(unsigned int mask, T v, unsigned int delta, int width = 32) {
	return cudaemu::shfl(mask, v, cudaemu::SHFL_DOWN, (int)delta, width);
}

template <typename T>
static inline T __shfl_up_sync(unsigned int mask, T v, unsigned int delta, int width = 32) {
	return cudaemu::shfl(mask, v, cudaemu::SHFL_UP, (int)delta, width);
}

template <typename T>
static inline T __shfl_xor_sync(unsigned int mask, T v, int laneMask, int width = 32) {
	return cudaemu::shfl(mask, v, cudaemu::SHFL_XOR, laneMask, width);
}

static inline unsigned int __ballot_sync(unsigned int mask, int pred) {
	uint64_t all[32];
	cudaemu::warp_exchange(mask, pred != 0, all);
	unsigned int r = 0;
	for (int i = 0; i < 32; i++) {
		if ((mask >> i & 1u) && all[i]) {
			r |= 1u << i;
		}
	}
	return r;
}

static inline int __any_sync(unsigned int mask, int pred) { return __ballot_sync(mask, pred) != 0; }
static inline int __all_sync(unsigned int mask, int pred) { return __ballot_sync(mask, pred) == mask; }

// Atomics: blocks run on several host threads at once, so these are real
// atomic operations.
static inline float atomicAdd(float *p, float v) {
	uint32_t *u = (uint32_t *)p;
	uint32_t old = __atomic_load_n(u, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(u, &old, (uint32_t)cudaemu::to_bits(cudaemu::from_bits<float>(old) + v), false,
	                                    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
	}
	return cudaemu::from_bits<float>(old);
}

static inline double atomicAdd(double *p, double v) {
	uint64_t *u = (uint64_t *)p;
	uint64_t old = __atomic_load_n(u, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(u, &old, cudaemu::to_bits(cudaemu::from_bits<double>(old) + v), false,
	                                    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
	}
	return cudaemu::from_bits<double>(old);
}

static inline int atomicAdd(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned int atomicAdd(unsigned int *p, unsigned int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline int atomicSub(int *p, int v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
static inline int atomicExch(int *p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline int atomicMax(int *p, int v) {
	int old = __atomic_load_n(p, __ATOMIC_RELAXED);
	while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
	}
	return old;
}
static inline int atomicMin(int *p, int v) {
	int old = __atomic_load_n(p, __ATOMIC_RELAXED);
	while (old > v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
	}
	return old;
}
static inline int atomicCAS(int *p, int cmp, int v) {
	__atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return cmp;
}

// Intrinsics.
static inline float __int_as_float(int v) { return cudaemu::from_bits<float>((uint32_t)v); }
static inline int __float_as_int(float v) { return (int)(uint32_t)cudaemu::to_bits(v); }
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }
using std::isfinite;
using std::isinf;
using std::isnan;

#endif // CUDAEMU_H
