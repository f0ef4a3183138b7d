// SPDX-License-Identifier: Apache-2.0
//
// emu.h: what the emulator's parts (driver.cc, cublas.cc, runtime.cc and
// the kernel objects) share. Not seen by kernel sources (they see
// cudaemu.h only).

#ifndef CUDAEMU_EMU_H
#define CUDAEMU_EMU_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "cudaemu.h"

namespace cudaemu {

// Param is one declared kernel parameter: its width in bytes, and whether
// it is a pointer (checked against the allocations at launch) or a float.
struct Param {
	size_t size;
	bool pointer;
	bool floating;
};

// Body runs one CUDA thread of a launch (its arguments already bound).
using Body = std::function<void()>;

// PtrCheck is called for each pointer argument of a launch: it returns an
// empty string when p is 0 or points into (or one past the end of) a live
// allocation, else why not.
using PtrCheck = std::function<std::string(uint64_t p)>;

// Kernel is one entry of the table: a kernel's name, its parameters as
// the C++ declaration gives them, and bind, which reads the launch's
// kernelParams the way the driver does (param i is sizeof(its type) bytes
// at kernelParams[i]) and returns the thread body. bind returns false and
// sets *why when an argument fails check.
struct Kernel {
	const char *name;
	const char *source; // the .cu file
	std::vector<Param> params;
	std::function<bool(void **kernelParams, const PtrCheck &check, Body *body, std::string *why)> bind;
};

// kernels is the table of every kernel compiled in (registered by the
// generated reg_*.cc files, one per kernels/cuda/*.cu).
std::vector<Kernel> &kernels();

template <typename T>
Param param_of() {
	return Param{sizeof(T), std::is_pointer<T>::value, std::is_floating_point<T>::value};
}

template <typename T>
T read_param(void *p) {
	T v;
	std::memcpy(&v, p, sizeof(T));
	return v;
}

template <typename... A, size_t... I>
bool bind_args(void (*f)(A...), void **kp, const PtrCheck &check, Body *body, std::string *why,
               std::index_sequence<I...>) {
	auto args = std::make_tuple(read_param<std::decay_t<A>>(kp[I])...);
	bool ok = true;
	auto chk = [&](size_t i, auto v) {
		if constexpr (std::is_pointer<decltype(v)>::value) {
			if (!ok) {
				return;
			}
			std::string w = check((uint64_t)(uintptr_t)v);
			if (!w.empty()) {
				ok = false;
				*why = "parameter " + std::to_string(i) + " " + w;
			}
		}
	};
	(chk(I, std::get<I>(args)), ...);
	if (!ok) {
		return false;
	}
	*body = [f, args]() { std::apply(f, args); };
	return true;
}

// entry makes the table entry of kernel f.
template <typename... A>
Kernel entry(const char *name, const char *source, void (*f)(A...)) {
	Kernel k;
	k.name = name;
	k.source = source;
	k.params = {param_of<std::decay_t<A>>()...};
	k.bind = [f](void **kp, const PtrCheck &check, Body *body, std::string *why) {
		if (sizeof...(A) > 0 && kp == nullptr) {
			*why = "kernelParams is NULL";
			return false;
		}
		return bind_args(f, kp, check, body, why, std::index_sequence_for<A...>{});
	};
	return k;
}

// Launch is one grid to run.
struct Launch {
	dim3 grid, block;
	Body body;
};

// run_grid runs every block of l on the pool of host threads. It
// returns an empty string, or why the kernel failed (a barrier not reached
// by all threads of a block, a warp operation whose lanes disagree, …).
std::string run_grid(const Launch &l);

// fail ends the running CUDA thread's kernel with an error (from inside a
// fiber): its block is abandoned and the launch reports why.
[[noreturn]] void fail(const std::string &why);

// log prints "cudaemu: " + msg on stderr.
void log(const std::string &msg);

} // namespace cudaemu

#endif // CUDAEMU_EMU_H
