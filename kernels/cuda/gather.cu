// SPDX-License-Identifier: Apache-2.0
//
// gather.cu: building a batch on the device from a device-resident data set.
// The spec is kerneltest.GatherRows (kernels/kerneltest/ref.go), which is
// what engine's machine.run does on the host.
//
// Compile (go generate ./kernels runs this through internal/cmd/ptxgen):
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o gather.ptx gather.cu
//
// Kernels (1-D grid-stride):
//  1. cae_gather_rows_f32   x[r,·] = data[idx[r],·] for r < nidx, 0 after; mask[r] = 1[r < nidx];
//                           invn[0] = 1/nidx; x: [batch, dim], mask: [batch], data: [nrows, dim], idx: [nidx] int32

#include "common.cuh"

// cae_gather_rows_f32 copies rows idx[0:nidx] of data [nrows, dim] into the
// first nidx rows of x [batch, dim], zeroes the other rows, sets mask[r] to
// 1 for the copied rows and 0 for the others, and sets invn[0] =
// float32(1/float64(nidx)). An index outside [0, nrows) is a caller bug: its
// row is filled with NaN (never read out of bounds), so the loss turns NaN.
extern "C" __global__ void cae_gather_rows_f32(float *x, float *mask, float *invn, const float *data, const int *idx,
                                               int nidx, int nrows, int batch, int dim) {
	unsigned int ud = (unsigned int)dim;
	unsigned int total = (unsigned int)batch * ud;
	CAE_FOR(e, total) {
		unsigned int r = e / ud, k = e % ud;
		float v = 0.0f;
		if (r < (unsigned int)nidx) {
			int src = idx[r];
			if (src >= 0 && src < nrows) {
				v = data[(size_t)src * ud + k];
			} else {
				v = __int_as_float(0x7fc00000);
			}
		}
		x[e] = v;
		if (k == 0) {
			mask[r] = r < (unsigned int)nidx ? 1.0f : 0.0f;
		}
	}
	if (blockIdx.x == 0 && threadIdx.x == 0) {
		invn[0] = (float)(1.0 / (double)nidx);
	}
}
