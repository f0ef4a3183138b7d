// SPDX-License-Identifier: Apache-2.0
//
// driver.cc: the CUDA driver API calls caetrain makes (through
// gorgonia.org/cu), emulated on the host. Declarations come from the CUDA
// toolkit's cuda.h, so every signature is the real one (cuMemAlloc here
// defines cuMemAlloc_v2, as the header maps it). Every other driver
// symbol a gpu binary imports is a generated stub (stubs_cuda.cc) that
// says on stderr it is not emulated and returns CUDA_ERROR_NOT_SUPPORTED.
//
// One device, "cudaemu". Device memory is host memory: each cuMemAlloc is
// its own mapping, and the allocation ends exactly where an inaccessible
// page begins, so a kernel that reads or writes even one byte past the end
// faults (its start is therefore aligned only to the largest power of two,
// up to 256, that divides its size: 4 bytes for an odd number of floats,
// where a GPU gives 256). Freed memory is made inaccessible and its
// addresses are not reused for a long while, so a use after free faults
// too. Such a fault in a kernel ends the process with a message naming the
// kernel, the thread, the allocation and how far past its end (or that it
// was freed) the access was. Every copy, memset and pointer argument of a launch is
// checked against the live allocations: a copy past an allocation's end,
// or a pointer into freed or foreign memory, is an error, reported on
// stderr with the addresses involved.
//
// Work runs when it is issued (every stream is the default stream, in
// order); a kernel that fails (cudaemu's own checks: barriers, warp masks)
// makes the context's error sticky, as a fault on a GPU does: the launch
// itself returns success and the next call that waits returns
// CUDA_ERROR_LAUNCH_FAILED, and so does every call after it.

#include <cuda.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>

#include "emu.h"

namespace cudaemu {

// ---- state -----------------------------------------------------------

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kQuarantine = size_t(1) << 34; // address space of freed mappings kept inaccessible
constexpr size_t kSharedPerBlock = 48 * 1024;

struct Alloc {
	uint64_t base;
	size_t size;
	char *map;
	size_t mapSize;
	bool live;
};

struct Function;

struct Module {
	std::vector<std::unique_ptr<Function>> fns;
};

struct Function {
	const Kernel *k;
	size_t shared; // static shared memory, from the PTX
};

struct Context {
	int refs = 0;
	bool primary = false;
	CUresult sticky = CUDA_SUCCESS;
};

struct Stream {
	int dummy;
};

struct Event {
	double ms = 0;
	bool recorded = false;
};

std::recursive_mutex mu;
bool initialised = false;
std::map<uint64_t, Alloc> allocs; // by base, live and quarantined
std::deque<uint64_t> quarantine;  // freed bases, oldest first
size_t quarantined = 0;
size_t used = 0;
std::map<Module *, std::unique_ptr<Module>> modules;
std::map<Function *, Module *> functions;
std::map<Stream *, std::unique_ptr<Stream>> streams;
std::map<Event *, std::unique_ptr<Event>> events;
Context primary;
std::map<Context *, std::unique_ptr<Context>> contexts; // made by cuCtxCreate
thread_local std::vector<Context *> current;

Context *ctx_of(CUcontext c) { return reinterpret_cast<Context *>(c); }
CUcontext handle_of(Context *c) { return reinterpret_cast<CUcontext>(c); }

bool valid_ctx(Context *c) { return c == &primary ? primary.refs > 0 : contexts.count(c) > 0; }

std::string hex(uint64_t v) {
	char b[24];
	std::snprintf(b, sizeof b, "0x%llx", (unsigned long long)v);
	return b;
}

// find returns the allocation (live or freed) that p points into, or one
// past the end of, or nullptr.
const Alloc *find(uint64_t p) {
	auto it = allocs.upper_bound(p);
	if (it == allocs.begin()) {
		return nullptr;
	}
	--it;
	const Alloc &a = it->second;
	return p <= a.base + a.size ? &a : nullptr; // inside, or one past the end
}

// check_range says why [p, p+n) is not inside one live allocation, or "".
std::string check_range(uint64_t p, size_t n) {
	if (p == 0) {
		return "the null pointer";
	}
	const Alloc *a = find(p);
	if (a == nullptr) {
		return hex(p) + ", which is not device memory (no cuMemAlloc returned it)";
	}
	if (!a->live) {
		return hex(p) + ", inside an allocation of " + std::to_string(a->size) + " bytes at " + hex(a->base) +
		       " that cuMemFree freed (use after free)";
	}
	if (p + n > a->base + a->size || p + n < p) {
		return "[" + hex(p) + ", +" + std::to_string(n) + " bytes), which ends " + std::to_string(p + n - (a->base + a->size)) +
		       " bytes past the end of the " + std::to_string(a->size) + "-byte allocation at " + hex(a->base);
	}
	return "";
}

// check_pointer is a launch's check of a pointer argument: null, or
// inside (or one past the end of) a live allocation.
std::string check_pointer(uint64_t p) {
	if (p == 0) {
		return "";
	}
	const Alloc *a = find(p);
	if (a == nullptr) {
		return "is " + hex(p) + ", which is not device memory (no cuMemAlloc returned it)";
	}
	if (!a->live) {
		return "is " + hex(p) + ", inside an allocation of " + std::to_string(a->size) + " bytes at " + hex(a->base) +
		       " that cuMemFree freed (use after free)";
	}
	return "";
}

double now_ms() {
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// enter starts an API call that needs cuInit and a current context; it
// returns the sticky error, if any.
CUresult enter(bool needCtx = true) {
	if (!initialised) {
		return CUDA_ERROR_NOT_INITIALIZED;
	}
	if (!needCtx) {
		return CUDA_SUCCESS;
	}
	if (current.empty() || current.back() == nullptr || !valid_ctx(current.back())) {
		return CUDA_ERROR_INVALID_CONTEXT;
	}
	return current.back()->sticky;
}

// wait is what a synchronising call checks: the sticky error.
CUresult wait() { return enter(); }

CUresult bad(const std::string &call, const std::string &why, CUresult r = CUDA_ERROR_INVALID_VALUE) {
	log(call + ": " + why);
	return r;
}

// ---- PTX -----------------------------------------------------------

struct PTXEntry {
	std::string name;
	std::vector<Param> params;
	std::vector<std::string> types;
	size_t shared = 0;
};

bool is_ident(char c) { return std::isalnum((unsigned char)c) || c == '_' || c == '$' || c == '.'; }

// parse_ptx lists the .entry functions of a PTX module: parameters (each
// ".param .TYPE name" or ".param .align N .TYPE name[K]") and the static
// shared memory each declares (module-level .shared counts for every
// entry).
bool parse_ptx(const std::string &ptx, std::vector<PTXEntry> *out, std::string *why) {
	size_t moduleShared = 0;
	auto shared_in = [&](size_t from, size_t to) {
		size_t total = 0;
		for (size_t p = ptx.find(".shared", from); p != std::string::npos && p < to; p = ptx.find(".shared", p + 7)) {
			size_t semi = ptx.find(';', p), br = ptx.find('[', p);
			if (semi == std::string::npos || br == std::string::npos || br > semi) {
				continue;
			}
			std::string decl = ptx.substr(p, semi - p);
			size_t w = 1;
			for (const char *t : {".b8", ".u8", ".s8"}) {
				if (decl.find(t) != std::string::npos) w = 1;
			}
			for (const char *t : {".b32", ".u32", ".s32", ".f32"}) {
				if (decl.find(t) != std::string::npos) w = 4;
			}
			for (const char *t : {".b64", ".u64", ".s64", ".f64"}) {
				if (decl.find(t) != std::string::npos) w = 8;
			}
			total += w * std::strtoull(ptx.c_str() + br + 1, nullptr, 10);
		}
		return total;
	};
	size_t pos = 0;
	std::vector<std::pair<size_t, size_t>> bodies;
	while ((pos = ptx.find(".entry", pos)) != std::string::npos) {
		pos += 6;
		while (pos < ptx.size() && std::isspace((unsigned char)ptx[pos])) pos++;
		size_t s = pos;
		while (pos < ptx.size() && is_ident(ptx[pos])) pos++;
		PTXEntry e;
		e.name = ptx.substr(s, pos - s);
		size_t open = ptx.find('(', pos), close = ptx.find(')', pos), brace = ptx.find('{', pos);
		if (e.name.empty() || brace == std::string::npos) {
			*why = "malformed .entry at byte " + std::to_string(s);
			return false;
		}
		if (open != std::string::npos && open < brace) {
			std::string list = ptx.substr(open + 1, close - open - 1);
			size_t q = 0;
			while ((q = list.find(".param", q)) != std::string::npos) {
				q += 6;
				size_t end = list.find(',', q);
				std::string p = list.substr(q, end == std::string::npos ? std::string::npos : end - q);
				// the type is the last ".xxx" token before the name
				std::vector<std::string> toks;
				size_t i = 0;
				while (i < p.size()) {
					while (i < p.size() && std::isspace((unsigned char)p[i])) i++;
					size_t b = i;
					while (i < p.size() && !std::isspace((unsigned char)p[i])) i++;
					if (i > b) toks.push_back(p.substr(b, i - b));
				}
				std::string type;
				for (auto &t : toks) {
					if (t[0] == '.' && t != ".align" && t != ".ptr" && t != ".global") type = t;
				}
				if (type.empty() || p.find('[') != std::string::npos) {
					*why = "entry " + e.name + ": parameter \"" + p + "\" is not a scalar (not emulated)";
					return false;
				}
				size_t w = std::strtoull(type.c_str() + 2, nullptr, 10) / 8;
				e.params.push_back(Param{w, false, type[1] == 'f'});
				e.types.push_back(type);
				if (end == std::string::npos) break;
				q = end;
			}
		}
		int depth = 0;
		size_t b = brace;
		for (; b < ptx.size(); b++) {
			if (ptx[b] == '{') depth++;
			if (ptx[b] == '}' && --depth == 0) break;
		}
		bodies.push_back({brace, b});
		e.shared = shared_in(brace, b);
		out->push_back(e);
		pos = b;
	}
	// Module-level .shared: whatever lies outside every body.
	size_t from = 0;
	for (auto &bd : bodies) {
		moduleShared += shared_in(from, bd.first);
		from = bd.second;
	}
	moduleShared += shared_in(from, ptx.size());
	for (auto &e : *out) {
		e.shared += moduleShared;
	}
	return true;
}

std::string describe(const std::vector<Param> &ps) {
	std::string s = "(";
	for (size_t i = 0; i < ps.size(); i++) {
		if (i) s += ", ";
		s += ps[i].floating ? "f" : ps[i].pointer ? "ptr" : "int";
		s += std::to_string(ps[i].size * 8);
	}
	return s + ")";
}

const Kernel *kernel_named(const std::string &name) {
	for (auto &k : kernels()) {
		if (name == k.name) {
			return &k;
		}
	}
	return nullptr;
}

// load makes a module of the PTX image: each .entry must have an emulated
// kernel whose C++ parameters have the PTX's widths and kinds.
CUresult load(CUmodule *out, const void *image, std::string *log) {
	if (out == nullptr || image == nullptr) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	std::string ptx((const char *)image);
	if (ptx.find(".version") == std::string::npos || ptx.find(".target") == std::string::npos) {
		*log = "cudaemu: the image is not PTX text (cubin and fatbin are not emulated)";
		return CUDA_ERROR_INVALID_IMAGE;
	}
	std::vector<PTXEntry> entries;
	std::string why;
	if (!parse_ptx(ptx, &entries, &why)) {
		*log = "cudaemu: " + why;
		return CUDA_ERROR_INVALID_PTX;
	}
	auto m = std::make_unique<Module>();
	for (auto &e : entries) {
		const Kernel *k = kernel_named(e.name);
		if (k == nullptr) {
			*log = "cudaemu: PTX entry " + e.name + " has no emulated kernel: no kernels/cuda/*.cu that cudaemu was built from defines it";
			return CUDA_ERROR_INVALID_PTX;
		}
		bool same = k->params.size() == e.params.size();
		for (size_t i = 0; same && i < e.params.size(); i++) {
			same = k->params[i].size == e.params[i].size && k->params[i].floating == e.params[i].floating;
		}
		if (!same) {
			*log = "cudaemu: PTX entry " + e.name + " takes " + describe(e.params) + " but " + k->source + " declares " +
			       describe(k->params) + ": the PTX and the source disagree (go generate ./kernels, then rebuild cudaemu)";
			return CUDA_ERROR_INVALID_PTX;
		}
		auto f = std::make_unique<Function>();
		f->k = k;
		f->shared = e.shared;
		functions[f.get()] = m.get();
		m->fns.push_back(std::move(f));
	}
	Module *h = m.get();
	modules[h] = std::move(m);
	*out = reinterpret_cast<CUmodule>(h);
	return CUDA_SUCCESS;
}

// ---- faults ----------------------------------------------------------

// running names the kernel being run (set by cuLaunchKernel, under mu).
const char *volatile running = nullptr;
struct sigaction previous;

void say(const char *s) {
	ssize_t r = write(2, s, std::strlen(s));
	(void)r;
}

// on_fault turns a fault in device memory (an allocation's guard page, or
// freed memory) into a message naming the kernel, its thread, the
// allocation and the distance past its end, and ends the process (status
// 134). Other faults go on to the handler before it (the Go runtime
// forwards faults outside Go code here). The allocation table is not
// changed while a kernel runs: cuLaunchKernel holds mu.
void on_fault(int sig, siginfo_t *si, void *uc) {
	uint64_t a = (uint64_t)(uintptr_t)si->si_addr;
	const Alloc *hit = nullptr;
	for (auto &kv : allocs) {
		const Alloc &x = kv.second;
		if (a >= (uint64_t)(uintptr_t)x.map && a < (uint64_t)(uintptr_t)(x.map + x.mapSize)) {
			hit = &x;
			break;
		}
	}
	if (hit == nullptr) {
		if (previous.sa_flags & SA_SIGINFO) {
			previous.sa_sigaction(sig, si, uc);
			return;
		}
		signal(sig, SIG_DFL); // the fault repeats and ends the process
		return;
	}
	char b[400];
	int n = std::snprintf(b, sizeof b, "cudaemu: ");
	const char *k = running;
	if (k != nullptr && cur != nullptr) {
		n += std::snprintf(b + n, sizeof b - n, "kernel %s, block (%u,%u,%u) thread (%u,%u,%u): ", k, cur->bid.x, cur->bid.y,
		                   cur->bid.z, cur->tid.x, cur->tid.y, cur->tid.z);
	} else if (k != nullptr) {
		n += std::snprintf(b + n, sizeof b - n, "kernel %s: ", k);
	}
	if (!hit->live) {
		n += std::snprintf(b + n, sizeof b - n, "access to 0x%llx, inside the %zu-byte allocation at 0x%llx that cuMemFree freed (use after free)\n",
		                   (unsigned long long)a, hit->size, (unsigned long long)hit->base);
	} else {
		n += std::snprintf(b + n, sizeof b - n, "access to 0x%llx, %llu bytes past the end of the %zu-byte allocation at 0x%llx (out of bounds)\n",
		                   (unsigned long long)a, (unsigned long long)(a - (hit->base + hit->size)), hit->size,
		                   (unsigned long long)hit->base);
	}
	say(b);
	_exit(134);
}

__attribute__((constructor)) void install_fault_handler() {
	struct sigaction sa;
	std::memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &previous);
}

} // namespace

// memory helpers shared with cublas.cc

std::string device_range(uint64_t p, size_t n) {
	std::lock_guard<std::recursive_mutex> g(mu);
	return check_range(p, n);
}

} // namespace cudaemu

using namespace cudaemu;

// ---- initialisation, devices -------------------------------------------

CUresult CUDAAPI cuInit(unsigned int flags) {
	std::lock_guard<std::recursive_mutex> g(mu);
	if (flags != 0) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	initialised = true;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDriverGetVersion(int *v) {
	if (v == nullptr) return CUDA_ERROR_INVALID_VALUE;
	*v = 12080;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int *n) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	if (n == nullptr) return CUDA_ERROR_INVALID_VALUE;
	*n = 1;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *d, int ordinal) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	if (d == nullptr) return CUDA_ERROR_INVALID_VALUE;
	if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
	*d = 0;
	return CUDA_SUCCESS;
}

// The device's name says that it is emulated; caetrain tells its users.
static const char kName[] = "cudaemu (emulated CUDA device: kernels run on the host CPU)";

CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice d) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	if (name == nullptr || len <= 0) return CUDA_ERROR_INVALID_VALUE;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	std::snprintf(name, (size_t)len, "%s", kName);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem(size_t *bytes, CUdevice d) {
	if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
	if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	*bytes = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d) {
	if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
	if (v == nullptr) return CUDA_ERROR_INVALID_VALUE;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	switch (a) {
	case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
	case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: *v = 1024; break;
	case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: *v = 1024; break;
	case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: *v = 64; break;
	case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: *v = 2147483647; break;
	case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: *v = 65535; break;
	case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: *v = 65535; break;
	case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = (int)kSharedPerBlock; break;
	case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *v = 32; break;
	case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = (int)sysconf(_SC_NPROCESSORS_ONLN); break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
	default: *v = 0;
	}
	return CUDA_SUCCESS;
}

// ---- contexts ----------------------------------------------------------

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	if (c == nullptr) return CUDA_ERROR_INVALID_VALUE;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	if (primary.refs++ == 0) {
		primary.primary = true;
		primary.sticky = CUDA_SUCCESS;
	}
	*c = handle_of(&primary);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice d) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	if (primary.refs == 0) return CUDA_ERROR_INVALID_CONTEXT;
	primary.refs--;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxCreate(CUcontext *c, unsigned int flags, CUdevice d) {
	std::lock_guard<std::recursive_mutex> g(mu);
	(void)flags;
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	if (c == nullptr) return CUDA_ERROR_INVALID_VALUE;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	auto x = std::make_unique<Context>();
	x->refs = 1;
	Context *h = x.get();
	contexts[h] = std::move(x);
	current.push_back(h);
	*c = handle_of(h);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxDestroy(CUcontext c) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	Context *x = ctx_of(c);
	if (!contexts.count(x)) return CUDA_ERROR_INVALID_CONTEXT;
	for (auto &e : current) {
		if (e == x) e = nullptr;
	}
	contexts.erase(x);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext c) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	Context *x = ctx_of(c);
	if (x != nullptr && !valid_ctx(x)) return CUDA_ERROR_INVALID_CONTEXT;
	if (current.empty()) {
		current.push_back(x);
	} else {
		current.back() = x;
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext *c) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	if (c == nullptr) return CUDA_ERROR_INVALID_VALUE;
	*c = current.empty() ? nullptr : handle_of(current.back());
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent(CUcontext c) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	if (!valid_ctx(ctx_of(c))) return CUDA_ERROR_INVALID_CONTEXT;
	current.push_back(ctx_of(c));
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPopCurrent(CUcontext *c) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter(false);
	if (r != CUDA_SUCCESS) return r;
	if (current.empty()) return CUDA_ERROR_INVALID_CONTEXT;
	if (c != nullptr) *c = handle_of(current.back());
	current.pop_back();
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice *d) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS && r != CUDA_ERROR_LAUNCH_FAILED && r != CUDA_ERROR_ILLEGAL_ADDRESS) return r;
	if (d == nullptr) return CUDA_ERROR_INVALID_VALUE;
	*d = 0;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSynchronize(void) {
	std::lock_guard<std::recursive_mutex> g(mu);
	return wait();
}

// ---- memory ------------------------------------------------------------

CUresult CUDAAPI cuMemAlloc(CUdeviceptr *p, size_t n) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	if (p == nullptr || n == 0) return CUDA_ERROR_INVALID_VALUE;
	size_t mapSize = (n + kPage - 1) / kPage * kPage + kPage;
	void *m = mmap(nullptr, mapSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	char *guard = (char *)m + mapSize - kPage;
	mprotect(guard, kPage, PROT_NONE);
	uint64_t base = (uint64_t)(uintptr_t)guard - n;
	allocs[base] = Alloc{base, n, (char *)m, mapSize, true};
	used += n;
	*p = base;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree(CUdeviceptr p) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	if (p == 0) return CUDA_SUCCESS;
	auto it = allocs.find(p);
	if (it == allocs.end()) {
		return bad("cuMemFree", hex(p) + " is not the start of an allocation");
	}
	Alloc &a = it->second;
	if (!a.live) {
		return bad("cuMemFree", hex(p) + " was already freed (double free)");
	}
	a.live = false;
	used -= a.size;
	madvise(a.map, a.mapSize, MADV_DONTNEED);
	mprotect(a.map, a.mapSize, PROT_NONE);
	quarantine.push_back(p);
	quarantined += a.mapSize;
	while (quarantined > kQuarantine || quarantine.size() > 16384) {
		auto q = allocs.find(quarantine.front());
		quarantine.pop_front();
		quarantined -= q->second.mapSize;
		munmap(q->second.map, q->second.mapSize);
		allocs.erase(q);
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemGetInfo(size_t *freeBytes, size_t *total) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	size_t t = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
	if (total) *total = t;
	if (freeBytes) *freeBytes = used < t ? t - used : 0;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t n) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	if (n == 0) return CUDA_SUCCESS;
	std::string w = check_range(dst, n);
	if (!w.empty()) return bad("cuMemcpyHtoD of " + std::to_string(n) + " bytes", "the destination is " + w);
	if (src == nullptr) return bad("cuMemcpyHtoD", "the source is NULL");
	std::memcpy((void *)(uintptr_t)dst, src, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = wait();
	if (r != CUDA_SUCCESS) return r;
	if (n == 0) return CUDA_SUCCESS;
	std::string w = check_range(src, n);
	if (!w.empty()) return bad("cuMemcpyDtoH of " + std::to_string(n) + " bytes", "the source is " + w);
	if (dst == nullptr) return bad("cuMemcpyDtoH", "the destination is NULL");
	std::memcpy(dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyDtoD(CUdeviceptr dst, CUdeviceptr src, size_t n) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	if (n == 0) return CUDA_SUCCESS;
	std::string w = check_range(dst, n);
	if (!w.empty()) return bad("cuMemcpyDtoD of " + std::to_string(n) + " bytes", "the destination is " + w);
	w = check_range(src, n);
	if (!w.empty()) return bad("cuMemcpyDtoD of " + std::to_string(n) + " bytes", "the source is " + w);
	std::memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t n, CUstream) { return cuMemcpyHtoD(dst, src, n); }
CUresult CUDAAPI cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t n, CUstream) { return cuMemcpyDtoH(dst, src, n); }
CUresult CUDAAPI cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream) { return cuMemcpyDtoD(dst, src, n); }

CUresult CUDAAPI cuMemsetD32(CUdeviceptr dst, unsigned int v, size_t n) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	if (n == 0) return CUDA_SUCCESS;
	if (dst % 4 != 0) return bad("cuMemsetD32", hex(dst) + " is not 4-byte aligned");
	std::string w = check_range(dst, 4 * n);
	if (!w.empty()) return bad("cuMemsetD32 of " + std::to_string(n) + " words", "the destination is " + w);
	uint32_t *p = (uint32_t *)(uintptr_t)dst;
	for (size_t i = 0; i < n; i++) p[i] = v;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemsetD8(CUdeviceptr dst, unsigned char v, size_t n) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	if (n == 0) return CUDA_SUCCESS;
	std::string w = check_range(dst, n);
	if (!w.empty()) return bad("cuMemsetD8 of " + std::to_string(n) + " bytes", "the destination is " + w);
	std::memset((void *)(uintptr_t)dst, v, n);
	return CUDA_SUCCESS;
}

// ---- streams and events --------------------------------------------------

CUresult CUDAAPI cuStreamCreate(CUstream *s, unsigned int) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	if (s == nullptr) return CUDA_ERROR_INVALID_VALUE;
	auto x = std::make_unique<Stream>();
	*s = reinterpret_cast<CUstream>(x.get());
	streams[x.get()] = std::move(x);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamDestroy(CUstream s) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	if (!streams.erase(reinterpret_cast<Stream *>(s))) return CUDA_ERROR_INVALID_HANDLE;
	return CUDA_SUCCESS;
}

static bool valid_stream(CUstream s) { return s == nullptr || streams.count(reinterpret_cast<Stream *>(s)) > 0; }

CUresult CUDAAPI cuStreamSynchronize(CUstream s) {
	std::lock_guard<std::recursive_mutex> g(mu);
	if (!valid_stream(s)) return CUDA_ERROR_INVALID_HANDLE;
	return wait();
}

CUresult CUDAAPI cuStreamQuery(CUstream s) { return cuStreamSynchronize(s); }

CUresult CUDAAPI cuEventCreate(CUevent *e, unsigned int) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	if (e == nullptr) return CUDA_ERROR_INVALID_VALUE;
	auto x = std::make_unique<Event>();
	*e = reinterpret_cast<CUevent>(x.get());
	events[x.get()] = std::move(x);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventDestroy(CUevent e) {
	std::lock_guard<std::recursive_mutex> g(mu);
	if (!events.erase(reinterpret_cast<Event *>(e))) return CUDA_ERROR_INVALID_HANDLE;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventRecord(CUevent e, CUstream s) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	auto it = events.find(reinterpret_cast<Event *>(e));
	if (it == events.end() || !valid_stream(s)) return CUDA_ERROR_INVALID_HANDLE;
	it->second->ms = now_ms(); // the work before it has run: work runs when issued
	it->second->recorded = true;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventSynchronize(CUevent e) {
	std::lock_guard<std::recursive_mutex> g(mu);
	if (!events.count(reinterpret_cast<Event *>(e))) return CUDA_ERROR_INVALID_HANDLE;
	return wait();
}

CUresult CUDAAPI cuEventQuery(CUevent e) { return cuEventSynchronize(e); }

CUresult CUDAAPI cuEventElapsedTime(float *ms, CUevent a, CUevent b) {
	std::lock_guard<std::recursive_mutex> g(mu);
	auto x = events.find(reinterpret_cast<Event *>(a)), y = events.find(reinterpret_cast<Event *>(b));
	if (ms == nullptr || x == events.end() || y == events.end()) return CUDA_ERROR_INVALID_HANDLE;
	if (!x->second->recorded || !y->second->recorded) return CUDA_ERROR_INVALID_HANDLE;
	*ms = (float)(y->second->ms - x->second->ms);
	return CUDA_SUCCESS;
}

// ---- modules and launches ------------------------------------------------

static void jit_log(unsigned int n, CUjit_option *opts, void **vals, const std::string &msg) {
	char *buf = nullptr;
	size_t size = 0;
	for (unsigned int i = 0; i < n && opts && vals; i++) {
		if (opts[i] == CU_JIT_ERROR_LOG_BUFFER) buf = (char *)vals[i];
		if (opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) size = (size_t)(uintptr_t)vals[i];
	}
	if (buf != nullptr && size > 0) std::snprintf(buf, size, "%s", msg.c_str());
}

CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned int n, CUjit_option *opts, void **vals) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	std::string msg;
	r = load(m, image, &msg);
	if (r != CUDA_SUCCESS) {
		log(msg.substr(9));
		jit_log(n, opts, vals, msg);
	}
	return r;
}

CUresult CUDAAPI cuModuleLoadData(CUmodule *m, const void *image) { return cuModuleLoadDataEx(m, image, 0, nullptr, nullptr); }

CUresult CUDAAPI cuModuleUnload(CUmodule m) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	auto it = modules.find(reinterpret_cast<Module *>(m));
	if (it == modules.end()) return CUDA_ERROR_INVALID_HANDLE;
	for (auto &f : it->second->fns) functions.erase(f.get());
	modules.erase(it);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	auto it = modules.find(reinterpret_cast<Module *>(m));
	if (it == modules.end()) return CUDA_ERROR_INVALID_HANDLE;
	if (f == nullptr || name == nullptr) return CUDA_ERROR_INVALID_VALUE;
	for (auto &fn : it->second->fns) {
		if (std::strcmp(fn->k->name, name) == 0) {
			*f = reinterpret_cast<CUfunction>(fn.get());
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_NOT_FOUND;
}

CUresult CUDAAPI cuFuncGetAttribute(int *v, CUfunction_attribute a, CUfunction f) {
	std::lock_guard<std::recursive_mutex> g(mu);
	auto it = functions.find(reinterpret_cast<Function *>(f));
	if (v == nullptr || it == functions.end()) return CUDA_ERROR_INVALID_HANDLE;
	Function *fn = it->first;
	switch (a) {
	case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
	case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: *v = (int)fn->shared; break;
	case CU_FUNC_ATTRIBUTE_NUM_REGS: *v = 32; break;
	default: *v = 0;
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                unsigned int by, unsigned int bz, unsigned int sharedBytes, CUstream s, void **params,
                                void **extra) {
	std::lock_guard<std::recursive_mutex> g(mu);
	CUresult r = enter();
	if (r != CUDA_SUCCESS) return r;
	auto it = functions.find(reinterpret_cast<Function *>(f));
	if (it == functions.end()) return CUDA_ERROR_INVALID_HANDLE;
	if (!valid_stream(s)) return CUDA_ERROR_INVALID_HANDLE;
	Function *fn = it->first;
	const char *name = fn->k->name;
	char dims[160];
	std::snprintf(dims, sizeof dims, "grid (%u,%u,%u), block (%u,%u,%u), %u bytes of dynamic shared memory", gx, gy, gz, bx,
	              by, bz, sharedBytes);
	std::string call = std::string("cuLaunchKernel(") + name + ", " + dims + ")";
	if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0) {
		return bad(call, "a zero dimension");
	}
	if (bx > 1024 || by > 1024 || bz > 64 || (uint64_t)bx * by * bz > 1024) {
		return bad(call, "more than 1024 threads per block, or a block dimension over (1024, 1024, 64)");
	}
	if (gx > 2147483647u || gy > 65535 || gz > 65535) {
		return bad(call, "a grid dimension over (2³¹−1, 65535, 65535)");
	}
	if (fn->shared + sharedBytes > kSharedPerBlock) {
		return bad(call, std::to_string(fn->shared) + " bytes of static and " + std::to_string(sharedBytes) +
		                     " of dynamic shared memory exceed the 48 KiB a block may have");
	}
	if (sharedBytes > 0) {
		return bad(call, "dynamic shared memory is not emulated (no kernel of caetrain uses it)", CUDA_ERROR_NOT_SUPPORTED);
	}
	if (extra != nullptr) {
		return bad(call, "arguments through `extra` are not emulated", CUDA_ERROR_NOT_SUPPORTED);
	}
	Launch l;
	l.grid = dim3{gx, gy, gz};
	l.block = dim3{bx, by, bz};
	std::string why;
	if (!fn->k->bind(params, check_pointer, &l.body, &why)) {
		log(call + ": " + why);
		current.back()->sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
		return CUDA_ERROR_ILLEGAL_ADDRESS;
	}
	running = name;
	why = run_grid(l);
	running = nullptr;
	if (!why.empty()) {
		log(std::string("kernel ") + name + " failed: " + why);
		current.back()->sticky = CUDA_ERROR_LAUNCH_FAILED;
	}
	return CUDA_SUCCESS;
}

// ---- errors --------------------------------------------------------------

CUresult CUDAAPI cuGetErrorName(CUresult e, const char **s) {
	if (s == nullptr) return CUDA_ERROR_INVALID_VALUE;
	switch (e) {
#define N(x)                                                                                                           \
	case x: *s = #x; return CUDA_SUCCESS;
		N(CUDA_SUCCESS) N(CUDA_ERROR_INVALID_VALUE) N(CUDA_ERROR_OUT_OF_MEMORY) N(CUDA_ERROR_NOT_INITIALIZED)
		N(CUDA_ERROR_INVALID_DEVICE) N(CUDA_ERROR_INVALID_IMAGE) N(CUDA_ERROR_INVALID_CONTEXT) N(CUDA_ERROR_INVALID_PTX)
		N(CUDA_ERROR_INVALID_HANDLE) N(CUDA_ERROR_NOT_FOUND) N(CUDA_ERROR_ILLEGAL_ADDRESS) N(CUDA_ERROR_LAUNCH_FAILED)
		N(CUDA_ERROR_NOT_SUPPORTED)
#undef N
	default: *s = nullptr; return CUDA_ERROR_INVALID_VALUE;
	}
}

CUresult CUDAAPI cuGetErrorString(CUresult e, const char **s) { return cuGetErrorName(e, s); }
