// SPDX-License-Identifier: Apache-2.0
//
// cublas.cc: the cuBLAS calls caetrain makes (through gorgonia.org/cu/blas),
// emulated on the host with cuBLAS's own semantics: column-major storage;
// op(X) = X, Xᵀ (CUBLAS_OP_T) or Xᴴ (CUBLAS_OP_C, Xᵀ for real types);
// C = α·op(A)·op(B) + β·C with A, B and C read through their leading
// dimensions; α and β read from host memory (CUBLAS_POINTER_MODE_HOST, the
// default) or device memory (CUBLAS_POINTER_MODE_DEVICE); β = 0 means C is
// not read (NaN in C does not propagate), α = 0 that A and B are not;
// m = 0 or n = 0 returns at once. A leading dimension smaller than the
// rows of the stored matrix, a negative size or an unknown transpose is
// CUBLAS_STATUS_INVALID_VALUE, as in cuBLAS; an operand that reaches past
// its device allocation (checked by the driver emulation) is reported on
// stderr and returns CUBLAS_STATUS_EXECUTION_FAILED. Products accumulate
// in the element type (float for Sgemm: no TF32, no double).
//
// Every other cuBLAS symbol a gpu binary imports is a generated stub
// (stubs_cublas.cc) that says on stderr it is not emulated and returns
// CUBLAS_STATUS_NOT_SUPPORTED.

#include <cublas_v2.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <string>

// From driver.cc and runtime.cc (libcuda.so.1). cublas.cc does not include
// emu.h: cublas_v2.h brings CUDA's own uint3 and dim3.
namespace cudaemu {
std::string device_range(uint64_t p, size_t n);
void log(const std::string &msg);
} // namespace cudaemu

using namespace cudaemu;

namespace {

struct Handle {
	cublasPointerMode_t mode = CUBLAS_POINTER_MODE_HOST;
	cudaStream_t stream = nullptr;
	cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

std::mutex mu;
std::set<Handle *> handles;

Handle *handle(cublasHandle_t h) {
	std::lock_guard<std::mutex> g(mu);
	Handle *x = reinterpret_cast<Handle *>(h);
	return handles.count(x) ? x : nullptr;
}

bool op_ok(cublasOperation_t t) { return t == CUBLAS_OP_N || t == CUBLAS_OP_T || t == CUBLAS_OP_C; }

// scalar reads α or β as the handle's pointer mode says.
template <typename T>
bool scalar(const Handle *h, const T *p, T *v, const char *what, const char *call) {
	if (p == nullptr) {
		log(std::string(call) + ": " + what + " is NULL");
		return false;
	}
	if (h->mode == CUBLAS_POINTER_MODE_DEVICE) {
		std::string w = device_range((uint64_t)(uintptr_t)p, sizeof(T));
		if (!w.empty()) {
			log(std::string(call) + ": " + what + " (pointer mode device) is " + w);
			return false;
		}
	}
	*v = *p;
	return true;
}

// operand checks that the column-major rows×cols matrix at p with leading
// dimension ld lies in one device allocation.
template <typename T>
bool operand(const T *p, int rows, int cols, int ld, const char *what, const char *call) {
	if (rows == 0 || cols == 0) {
		return true;
	}
	size_t n = ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * sizeof(T);
	std::string w = device_range((uint64_t)(uintptr_t)p, n);
	if (!w.empty()) {
		char b[160];
		std::snprintf(b, sizeof b, "%s: %s (%d×%d, leading dimension %d, %zu bytes) is ", call, what, rows, cols, ld, n);
		log(b + w);
		return false;
	}
	return true;
}

// pack copies op(X) into a column-major rows×cols matrix out, where X is
// stored column-major with leading dimension ld.
template <typename T>
void pack(std::vector<T> &out, const T *x, int ld, cublasOperation_t t, int rows, int cols) {
	out.resize((size_t)rows * cols);
	for (int j = 0; j < cols; j++) {
		for (int i = 0; i < rows; i++) {
			out[(size_t)j * rows + i] = t == CUBLAS_OP_N ? x[(size_t)j * ld + i] : x[(size_t)i * ld + j];
		}
	}
}

// gemm_cols computes columns [j0, j1) of C = α·a·b + β·C, a and b packed
// column-major (m×k and k×n). Columns go four at a time, so that each pass
// over a column of a serves four of C; every C(i,j) sums its k products in
// order of l. Built for AVX2 with FMA where the CPU has them (as cuBLAS
// uses fused multiply-adds on a GPU), else for the baseline.
template <typename T>
__attribute__((target_clones("arch=haswell", "default"))) void gemm_cols(const T *a, const T *b, T *C, int m, int k, int ldc,
                                                                         T alpha, T beta, bool readAB, int j0, int j1) {
	std::vector<T> acc((size_t)4 * m);
	for (int j = j0; j < j1; j += 4) {
		int w = std::min(4, j1 - j);
		std::fill(acc.begin(), acc.end(), T(0));
		if (readAB) {
			for (int l = 0; l < k; l++) {
				const T *__restrict al = &a[(size_t)l * m];
				for (int c = 0; c < w; c++) {
					T blj = b[(size_t)(j + c) * k + l];
					T *__restrict ac = &acc[(size_t)c * m];
					for (int i = 0; i < m; i++) {
						ac[i] += al[i] * blj;
					}
				}
			}
		}
		for (int c = 0; c < w; c++) {
			T *cc = C + (size_t)(j + c) * ldc;
			const T *ac = &acc[(size_t)c * m];
			for (int i = 0; i < m; i++) {
				cc[i] = beta == T(0) ? alpha * ac[i] : alpha * ac[i] + beta * cc[i];
			}
		}
	}
}

template <typename T>
cublasStatus_t gemm(cublasHandle_t hh, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T *alphaP,
                    const T *A, int lda, const T *B, int ldb, const T *betaP, T *C, int ldc, const char *call) {
	Handle *h = handle(hh);
	if (h == nullptr) {
		return CUBLAS_STATUS_NOT_INITIALIZED;
	}
	int rowsA = ta == CUBLAS_OP_N ? m : k, colsA = ta == CUBLAS_OP_N ? k : m;
	int rowsB = tb == CUBLAS_OP_N ? k : n, colsB = tb == CUBLAS_OP_N ? n : k;
	if (!op_ok(ta) || !op_ok(tb) || m < 0 || n < 0 || k < 0 || lda < std::max(1, rowsA) || ldb < std::max(1, rowsB) ||
	    ldc < std::max(1, m)) {
		char b[200];
		std::snprintf(b, sizeof b, "%s: invalid value: transa %d transb %d m %d n %d k %d lda %d ldb %d ldc %d", call, (int)ta,
		              (int)tb, m, n, k, lda, ldb, ldc);
		log(b);
		return CUBLAS_STATUS_INVALID_VALUE;
	}
	if (m == 0 || n == 0) {
		return CUBLAS_STATUS_SUCCESS;
	}
	T alpha, beta;
	if (!scalar(h, alphaP, &alpha, "alpha", call) || !scalar(h, betaP, &beta, "beta", call)) {
		return CUBLAS_STATUS_EXECUTION_FAILED;
	}
	bool readAB = alpha != T(0) && k > 0;
	if ((readAB && (!operand(A, rowsA, colsA, lda, "A", call) || !operand(B, rowsB, colsB, ldb, "B", call))) ||
	    !operand((const T *)C, m, n, ldc, "C", call)) {
		return CUBLAS_STATUS_EXECUTION_FAILED;
	}
	std::vector<T> a, b;
	if (readAB) {
		pack(a, A, lda, ta, m, k);
		pack(b, B, ldb, tb, k, n);
	}
	auto cols = [&](int j0, int j1) { gemm_cols(a.data(), b.data(), C, m, k, ldc, alpha, beta, readAB, j0, j1); };
	unsigned int nt = std::min<unsigned int>(std::max(1u, std::thread::hardware_concurrency()), 8);
	if ((double)m * n * k < 1e6 || nt == 1 || n < 2) {
		cols(0, n);
	} else {
		nt = std::min<unsigned int>(nt, (unsigned int)n);
		std::vector<std::thread> ts;
		for (unsigned int t = 0; t < nt; t++) {
			int j0 = (int)((int64_t)n * t / nt), j1 = (int)((int64_t)n * (t + 1) / nt);
			ts.emplace_back(cols, j0, j1);
		}
		for (auto &t : ts) {
			t.join();
		}
	}
	return CUBLAS_STATUS_SUCCESS;
}

} // namespace

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t *h) {
	if (h == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
	Handle *x = new Handle;
	std::lock_guard<std::mutex> g(mu);
	handles.insert(x);
	*h = reinterpret_cast<cublasHandle_t>(x);
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t h) {
	std::lock_guard<std::mutex> g(mu);
	Handle *x = reinterpret_cast<Handle *>(h);
	if (!handles.erase(x)) return CUBLAS_STATUS_NOT_INITIALIZED;
	delete x;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetVersion_v2(cublasHandle_t, int *v) {
	if (v == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
	*v = 120000;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t hh, cudaStream_t s) {
	Handle *h = handle(hh);
	if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
	h->stream = s;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetStream_v2(cublasHandle_t hh, cudaStream_t *s) {
	Handle *h = handle(hh);
	if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
	if (s == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
	*s = h->stream;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetPointerMode_v2(cublasHandle_t hh, cublasPointerMode_t m) {
	Handle *h = handle(hh);
	if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
	if (m != CUBLAS_POINTER_MODE_HOST && m != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
	h->mode = m;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetPointerMode_v2(cublasHandle_t hh, cublasPointerMode_t *m) {
	Handle *h = handle(hh);
	if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
	if (m == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
	*m = h->mode;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t hh, cublasMath_t m) {
	Handle *h = handle(hh);
	if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
	h->math = m; // products stay in the element type whatever the mode
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetMathMode(cublasHandle_t hh, cublasMath_t *m) {
	Handle *h = handle(hh);
	if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
	if (m == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
	*m = h->math;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                           const float *alpha, const float *A, int lda, const float *B, int ldb,
                                           const float *beta, float *C, int ldc) {
	return gemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, "cublasSgemm");
}

cublasStatus_t CUBLASWINAPI cublasDgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                           const double *alpha, const double *A, int lda, const double *B, int ldb,
                                           const double *beta, double *C, int ldc) {
	return gemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, "cublasDgemm");
}
