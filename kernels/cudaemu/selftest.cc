// SPDX-License-Identifier: Apache-2.0
//
// selftest.cc: the emulator's own tests (make test). It checks:
//   - the committed PTX (argv[1]/*.ptx) loads, and its .entry list and the
//     emulator's kernel table agree both ways (a PTX entry without an
//     emulated kernel, or with other parameter widths, fails to load);
//   - cublasSgemm and cublasDgemm against a plain triple loop in double, for
//     every pair of transposes, padded leading dimensions (the padding holds
//     NaN, so reading it shows), several α and β (β = 0 with NaN in C), and
//     device pointer mode; and cuBLAS's argument errors;
//   - memory: a copy past an allocation's end, a use after free, a double
//     free and a launch argument into freed memory are errors, and a kernel
//     that reads one element past an allocation's end ends the process;
//   - launches: more than 1024 threads, a grid dimension over the limits or
//     too much shared memory are refused; a block reduction with barriers,
//     warp shuffles and ballots, and atomics compute what they should; a
//     barrier some threads never reach and a warp mask that leaves out a
//     calling lane fail the launch (a sticky error, as on a GPU).
// It prints each failed check and exits 1 if any failed.

#include <cublas_v2.h>
#include <cuda.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace cudaemu {
struct KernelName {
	const char *name, *source;
};
std::vector<KernelName> table_names();
} // namespace cudaemu

static int failures = 0;

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                                               \
			std::printf(__VA_ARGS__);                                                                      \
			std::printf("\n");                                                                             \
			failures++;                                                                                    \
		}                                                                                                      \
	} while (0)

static std::string read(const std::string &path) {
	std::ifstream f(path);
	std::stringstream s;
	s << f.rdbuf();
	return s.str();
}

static CUcontext fresh() {
	CUcontext c;
	cuCtxCreate(&c, 0, 0);
	return c;
}

static void ptx_agreement(const char *dir) {
	std::set<std::string> entries;
	DIR *d = opendir(dir);
	CHECK(d != nullptr, "cannot read %s", dir);
	if (d == nullptr) return;
	int files = 0;
	while (dirent *e = readdir(d)) {
		std::string n = e->d_name;
		if (n.size() < 4 || n.substr(n.size() - 4) != ".ptx") continue;
		files++;
		std::string ptx = read(std::string(dir) + "/" + n);
		CUmodule m;
		CUresult r = cuModuleLoadData(&m, ptx.c_str());
		CHECK(r == CUDA_SUCCESS, "%s: cuModuleLoadData: %d", n.c_str(), r);
		for (size_t p = ptx.find(".entry"); p != std::string::npos; p = ptx.find(".entry", p + 6)) {
			size_t s = ptx.find_first_not_of(" \t", p + 6), t = ptx.find_first_of("( \t\n", s);
			std::string name = ptx.substr(s, t - s);
			entries.insert(name);
			CUfunction f;
			CHECK(r != CUDA_SUCCESS || cuModuleGetFunction(&f, m, name.c_str()) == CUDA_SUCCESS, "%s: no function %s", n.c_str(),
			      name.c_str());
		}
		if (r == CUDA_SUCCESS) cuModuleUnload(m);
	}
	closedir(d);
	CHECK(files > 0, "no .ptx files in %s", dir);
	int table = 0;
	for (auto &k : cudaemu::table_names()) {
		if (std::strncmp(k.source, "kernels/cuda/", 13) != 0) continue;
		table++;
		CHECK(entries.count(k.name), "%s (in %s) is in the emulator's table but in no committed PTX", k.name, k.source);
	}
	CHECK(table == (int)entries.size(), "%zu PTX entries, %d kernels in the table", entries.size(), table);

	CUmodule m;
	const char *unknown = ".version 7.8\n.target sm_75\n.address_size 64\n.visible .entry cae_nope_f32(\n\t.param .u64 p\n)\n{\n\tret;\n}\n";
	CHECK(cuModuleLoadData(&m, unknown) == CUDA_ERROR_INVALID_PTX, "a PTX entry without an emulated kernel loaded");
	const char *widths = ".version 7.8\n.target sm_75\n.address_size 64\n.visible .entry cae_add_f32(\n\t.param .u64 a,\n\t.param .u64 b,\n\t.param .u64 c,\n\t.param .u64 n\n)\n{\n\tret;\n}\n";
	CHECK(cuModuleLoadData(&m, widths) == CUDA_ERROR_INVALID_PTX, "a PTX entry whose int parameter is .u64 loaded");
}

template <typename T>
static void gemm_case(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int pad, T alpha, T beta,
                      bool devMode) {
	int ra = ta == CUBLAS_OP_N ? m : k, ca = ta == CUBLAS_OP_N ? k : m;
	int rb = tb == CUBLAS_OP_N ? k : n, cb = tb == CUBLAS_OP_N ? n : k;
	int lda = ra + pad, ldb = rb + pad, ldc = m + pad;
	std::vector<T> A((size_t)lda * ca, NAN), B((size_t)ldb * cb, NAN), C((size_t)ldc * n, NAN), C0;
	for (int j = 0; j < ca; j++)
		for (int i = 0; i < ra; i++) A[(size_t)j * lda + i] = (T)std::sin(1.0 + i + 3.0 * j);
	for (int j = 0; j < cb; j++)
		for (int i = 0; i < rb; i++) B[(size_t)j * ldb + i] = (T)std::cos(2.0 + 5.0 * i + j);
	if (beta != T(0))
		for (int j = 0; j < n; j++)
			for (int i = 0; i < m; i++) C[(size_t)j * ldc + i] = (T)(0.5 - 0.01 * (i + 7 * j));
	C0 = C;
	CUdeviceptr dA, dB, dC, dS;
	cuMemAlloc(&dA, std::max<size_t>(A.size(), 1) * sizeof(T));
	cuMemAlloc(&dB, std::max<size_t>(B.size(), 1) * sizeof(T));
	cuMemAlloc(&dC, C.size() * sizeof(T));
	cuMemAlloc(&dS, 2 * sizeof(T));
	cuMemcpyHtoD(dA, A.data(), A.size() * sizeof(T));
	cuMemcpyHtoD(dB, B.data(), B.size() * sizeof(T));
	cuMemcpyHtoD(dC, C.data(), C.size() * sizeof(T));
	T sc[2] = {alpha, beta};
	cuMemcpyHtoD(dS, sc, sizeof sc);
	const T *pa = &alpha, *pb = &beta;
	if (devMode) {
		cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE);
		pa = (const T *)(uintptr_t)dS;
		pb = (const T *)(uintptr_t)(dS + sizeof(T));
	}
	cublasStatus_t st;
	if constexpr (sizeof(T) == 4) {
		st = cublasSgemm(h, ta, tb, m, n, k, pa, (const T *)(uintptr_t)dA, lda, (const T *)(uintptr_t)dB, ldb, pb,
		                 (T *)(uintptr_t)dC, ldc);
	} else {
		st = cublasDgemm(h, ta, tb, m, n, k, pa, (const T *)(uintptr_t)dA, lda, (const T *)(uintptr_t)dB, ldb, pb,
		                 (T *)(uintptr_t)dC, ldc);
	}
	cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST);
	CHECK(st == CUBLAS_STATUS_SUCCESS, "gemm status %d", st);
	cuMemcpyDtoH(C.data(), dC, C.size() * sizeof(T));
	double tol = sizeof(T) == 4 ? 1e-5 : 1e-12; // float32: k·ε-sized rounding of sums of O(1) terms
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < m; i++) {
			double s = 0;
			for (int l = 0; l < k; l++) {
				double a = ta == CUBLAS_OP_N ? A[(size_t)l * lda + i] : A[(size_t)i * lda + l];
				double b = tb == CUBLAS_OP_N ? B[(size_t)j * ldb + l] : B[(size_t)l * ldb + j];
				s += a * b;
			}
			double want = (double)alpha * s + (beta == T(0) ? 0 : (double)beta * C0[(size_t)j * ldc + i]);
			double got = C[(size_t)j * ldc + i];
			if (!(std::fabs(got - want) <= tol * (1 + std::fabs(want)) * std::max(1, k))) {
				CHECK(false, "%s ta %d tb %d m %d n %d k %d pad %d alpha %g beta %g dev %d: C(%d,%d) = %g, want %g",
				      sizeof(T) == 4 ? "Sgemm" : "Dgemm", ta, tb, m, n, k, pad, (double)alpha, (double)beta, devMode, i, j, got, want);
				goto done;
			}
		}
		for (int i = m; i < ldc; i++) {
			CHECK(std::isnan((double)C[(size_t)j * ldc + i]), "gemm wrote C's padding at (%d,%d)", i, j);
		}
	}
done:
	cuMemFree(dA);
	cuMemFree(dB);
	cuMemFree(dC);
	cuMemFree(dS);
}

static void cublas_tests() {
	cublasHandle_t h;
	CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
	cublasOperation_t ops[] = {CUBLAS_OP_N, CUBLAS_OP_T, CUBLAS_OP_C};
	int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 40, 1}, {2, 70, 12}, {33, 1, 5}};
	for (auto ta : ops)
		for (auto tb : ops)
			for (auto &s : sizes) {
				gemm_case<float>(h, ta, tb, s[0], s[1], s[2], 0, 1.0f, 0.0f, false);
				gemm_case<float>(h, ta, tb, s[0], s[1], s[2], 3, -0.5f, 0.25f, false);
				gemm_case<double>(h, ta, tb, s[0], s[1], s[2], 2, 1.5, 0.0, false);
			}
	gemm_case<float>(h, CUBLAS_OP_T, CUBLAS_OP_N, 20, 30, 40, 1, 2.0f, -1.0f, true);
	gemm_case<float>(h, CUBLAS_OP_N, CUBLAS_OP_T, 20, 30, 0, 1, 2.0f, 0.5f, false); // k = 0: C = βC

	CUdeviceptr d;
	cuMemAlloc(&d, 100 * sizeof(float));
	float one = 1, zero = 0;
	float *p = (float *)(uintptr_t)d;
	CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 5, 5, 5, &one, p, 4, p, 5, &zero, p, 5) == CUBLAS_STATUS_INVALID_VALUE,
	      "lda 4 < m 5 accepted");
	CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 5, 5, 6, &one, p, 5, p, 6, &zero, p, 5) == CUBLAS_STATUS_INVALID_VALUE,
	      "transposed A: lda 5 < k 6 accepted");
	CHECK(cublasSgemm(h, (cublasOperation_t)7, CUBLAS_OP_N, 5, 5, 5, &one, p, 5, p, 5, &zero, p, 5) == CUBLAS_STATUS_INVALID_VALUE,
	      "transpose 7 accepted");
	CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 5, -1, 5, &one, p, 5, p, 5, &zero, p, 5) == CUBLAS_STATUS_INVALID_VALUE,
	      "n = -1 accepted");
	CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 10, 10, 10, &one, p, 10, p, 10, &zero, p, 10) == CUBLAS_STATUS_SUCCESS,
	      "a 10×10 product in 100 floats refused");
	CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 10, 11, 10, &one, p, 10, p, 10, &zero, p, 10) != CUBLAS_STATUS_SUCCESS,
	      "an operand past its allocation's end accepted");
	CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 0, 5, 5, &one, nullptr, 5, nullptr, 5, &zero, nullptr, 1) == CUBLAS_STATUS_SUCCESS,
	      "m = 0 does not return at once");
	cuMemFree(d);
	CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS, "cublasDestroy");
	CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, p, 1, p, 1, &zero, p, 1) == CUBLAS_STATUS_NOT_INITIALIZED,
	      "a destroyed handle accepted");
}

static void memory_tests() {
	CUdeviceptr d;
	float buf[8] = {};
	CHECK(cuMemAlloc(&d, 7 * sizeof(float)) == CUDA_SUCCESS, "cuMemAlloc");
	CHECK(cuMemcpyHtoD(d, buf, 7 * sizeof(float)) == CUDA_SUCCESS, "an exact copy refused");
	CHECK(cuMemcpyHtoD(d, buf, 8 * sizeof(float)) == CUDA_ERROR_INVALID_VALUE, "a copy of one element too many accepted");
	CHECK(cuMemcpyDtoH(buf, d + 4, 7 * sizeof(float)) == CUDA_ERROR_INVALID_VALUE, "a copy starting inside, ending past, accepted");
	CHECK(cuMemsetD32(d, 0, 8) == CUDA_ERROR_INVALID_VALUE, "a memset past the end accepted");
	CHECK(cuMemcpyHtoD(12345, buf, 4) == CUDA_ERROR_INVALID_VALUE, "a copy to non-device memory accepted");
	CHECK(cuMemFree(d) == CUDA_SUCCESS, "cuMemFree");
	CHECK(cuMemcpyDtoH(buf, d, 4) == CUDA_ERROR_INVALID_VALUE, "a copy from freed memory accepted");
	CHECK(cuMemFree(d) == CUDA_ERROR_INVALID_VALUE, "a double free accepted");
	CHECK(cuMemAlloc(&d, 0) == CUDA_ERROR_INVALID_VALUE, "cuMemAlloc(0) accepted");
}

// fault_test: a kernel that reads one float past its input's end faults on
// the guard page, and the process ends with status 134 (and a message on
// stderr naming the kernel and the allocation). Run in a child process,
// before any launch has started the block threads (fork keeps only the
// calling thread).
static void fault_test() {
	const char *ptx = ".version 7.8\n.target sm_75\n.address_size 64\n"
	                  ".visible .entry emu_shift(\n.param .u64 a,\n.param .u64 b,\n.param .u32 c\n)\n{\nret;\n}\n";
	std::fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		CUmodule m;
		CUfunction f;
		CUdeviceptr in, out;
		int n = 100;
		cuModuleLoadData(&m, ptx);
		cuModuleGetFunction(&f, m, "emu_shift");
		cuMemAlloc(&in, n * 4);
		cuMemAlloc(&out, n * 4);
		cuMemsetD32(in, 0, n);
		void *args[] = {&out, &in, &n};
		cuLaunchKernel(f, 1, 1, 1, 128, 1, 1, 0, nullptr, args, nullptr);
		cuCtxSynchronize();
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 134, "a kernel reading one element past its input's end: status %d, want exit 134", st);
}

static CUfunction fn(CUmodule m, const char *name) {
	CUfunction f = nullptr;
	CHECK(cuModuleGetFunction(&f, m, name) == CUDA_SUCCESS, "no %s", name);
	return f;
}

static void launch_tests() {
	const char *ptx = ".version 7.8\n.target sm_75\n.address_size 64\n"
	                  ".visible .entry emu_block_sum(\n.param .u64 a,\n.param .u64 b\n)\n{\n.shared .align 4 .b8 sh[4096];\nret;\n}\n"
	                  ".visible .entry emu_early_exit(\n.param .u64 a\n)\n{\nret;\n}\n"
	                  ".visible .entry emu_warp(\n.param .u64 a,\n.param .u64 b,\n.param .u32 c\n)\n{\nret;\n}\n"
	                  ".visible .entry emu_atomic(\n.param .u64 a\n)\n{\nret;\n}\n";
	CUmodule m;
	CHECK(cuModuleLoadData(&m, ptx) == CUDA_SUCCESS, "test PTX");
	CUfunction sum = fn(m, "emu_block_sum"), early = fn(m, "emu_early_exit"), warp = fn(m, "emu_warp"), atom = fn(m, "emu_atomic");
	int shared = 0;
	cuFuncGetAttribute(&shared, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, sum);
	CHECK(shared == 4096, "static shared memory %d, want 4096 (from the PTX)", shared);

	const int B = 3, T = 256;
	std::vector<float> in(B * T), out(B);
	for (int i = 0; i < B * T; i++) in[i] = (float)(i % 17);
	CUdeviceptr din, dout;
	cuMemAlloc(&din, in.size() * 4);
	cuMemAlloc(&dout, out.size() * 4);
	cuMemcpyHtoD(din, in.data(), in.size() * 4);
	void *args[] = {&dout, &din};
	CHECK(cuLaunchKernel(sum, B, 1, 1, T, 1, 1, 0, nullptr, args, nullptr) == CUDA_SUCCESS, "block sum launch");
	CHECK(cuMemcpyDtoH(out.data(), dout, out.size() * 4) == CUDA_SUCCESS, "block sum result");
	for (int b = 0; b < B; b++) {
		float want = 0;
		for (int t = 0; t < T; t++) want += in[b * T + t];
		CHECK(out[b] == want, "block %d sums to %g, want %g", b, out[b], want);
	}
	CHECK(cuLaunchKernel(sum, 1, 1, 1, 1025, 1, 1, 0, nullptr, args, nullptr) == CUDA_ERROR_INVALID_VALUE, "1025 threads accepted");
	CHECK(cuLaunchKernel(sum, 1, 1, 1, 32, 32, 2, 0, nullptr, args, nullptr) == CUDA_ERROR_INVALID_VALUE, "32×32×2 threads accepted");
	CHECK(cuLaunchKernel(sum, 1, 65536, 1, 32, 1, 1, 0, nullptr, args, nullptr) == CUDA_ERROR_INVALID_VALUE, "grid y 65536 accepted");
	CHECK(cuLaunchKernel(sum, 1, 1, 1, 32, 1, 1, 45 * 1024, nullptr, args, nullptr) == CUDA_ERROR_INVALID_VALUE,
	      "4 KiB static + 45 KiB dynamic shared memory accepted");

	// Warp shuffles and votes, two warps.
	CUdeviceptr dsum, dbal;
	cuMemAlloc(&dsum, 8);
	cuMemAlloc(&dbal, 8);
	unsigned int full = 0xffffffffu;
	void *wargs[] = {&dsum, &dbal, &full};
	CHECK(cuLaunchKernel(warp, 1, 1, 1, 64, 1, 1, 0, nullptr, wargs, nullptr) == CUDA_SUCCESS, "warp launch");
	int sums[2];
	unsigned int bal[2];
	cuMemcpyDtoH(sums, dsum, 8);
	cuMemcpyDtoH(bal, dbal, 8);
	CHECK(sums[0] == 496 && sums[1] == 32 * 32 + 496, "xor-shuffle sums %d %d, want 496 %d", sums[0], sums[1], 32 * 32 + 496);
	CHECK(bal[0] == 0xAAAAAAAAu && bal[1] == 0xAAAAAAAAu, "ballots %08x %08x, want aaaaaaaa", bal[0], bal[1]);

	CUdeviceptr dn;
	cuMemAlloc(&dn, 4);
	cuMemsetD32(dn, 0, 1);
	void *aargs[] = {&dn};
	CHECK(cuLaunchKernel(atom, 100, 1, 1, 128, 1, 1, 0, nullptr, aargs, nullptr) == CUDA_SUCCESS, "atomic launch");
	int n = 0;
	cuMemcpyDtoH(&n, dn, 4);
	CHECK(n == 12800, "atomicAdd counted %d, want 12800", n);

	// Failing kernels make the context's error sticky: each in its own.
	CUcontext saved;
	cuCtxPopCurrent(&saved);
	CUcontext c = fresh();
	void *eargs[] = {&dout};
	CHECK(cuLaunchKernel(early, 1, 1, 1, 64, 1, 1, 0, nullptr, eargs, nullptr) == CUDA_SUCCESS, "a kernel fault is reported at the next wait");
	CHECK(cuCtxSynchronize() == CUDA_ERROR_LAUNCH_FAILED, "a barrier half the block never reaches did not fail");
	CHECK(cuMemcpyDtoH(out.data(), dout, 4) == CUDA_ERROR_LAUNCH_FAILED, "the error is not sticky");
	cuCtxDestroy(c);
	c = fresh();
	unsigned int half = 0x0000ffffu;
	void *bargs[] = {&dsum, &dbal, &half};
	cuLaunchKernel(warp, 1, 1, 1, 32, 1, 1, 0, nullptr, bargs, nullptr);
	CHECK(cuCtxSynchronize() == CUDA_ERROR_LAUNCH_FAILED, "a shuffle by lanes outside its mask did not fail");
	cuCtxDestroy(c);
	c = fresh();
	CUdeviceptr gone;
	cuMemAlloc(&gone, 64);
	cuMemFree(gone);
	void *gargs[] = {&gone};
	CHECK(cuLaunchKernel(early, 1, 1, 1, 32, 1, 1, 0, nullptr, gargs, nullptr) == CUDA_ERROR_ILLEGAL_ADDRESS,
	      "a launch argument into freed memory accepted");
	cuCtxDestroy(c);
	cuCtxPushCurrent(saved);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		std::fprintf(stderr, "usage: selftest KERNELS_CUDA_DIR\n");
		return 2;
	}
	std::fprintf(stderr, "selftest: the cudaemu: lines that follow are the errors these checks provoke on purpose\n");
	CHECK(cuInit(0) == CUDA_SUCCESS, "cuInit");
	fresh();
	ptx_agreement(argv[1]);
	cublas_tests();
	memory_tests();
	fault_test();
	launch_tests();
	if (failures > 0) {
		std::printf("selftest: %d checks failed\n", failures);
		return 1;
	}
	std::printf("selftest: ok\n");
	return 0;
}
