// SPDX-License-Identifier: Apache-2.0
//
// runtime.cc: how a grid runs. Blocks are taken in order by a pool of host
// threads (CUDAEMU_THREADS, default the CPU count up to 8). A host thread
// runs one block at a time, each CUDA thread of it as a fiber with its own
// 64 KiB stack: the scheduler resumes the threads in order of their linear
// index, each running until it finishes or waits at __syncthreads or at a
// warp-wide operation; a barrier is released only when every thread it
// concerns is waiting at it. So every thread of a block really runs
// between two barriers, as on a GPU, and a missing barrier shows up as a
// thread reading what another has not written yet. A barrier that some
// thread can never reach (one exited, or waits elsewhere) fails the launch
// instead of hanging.

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "emu.h"

namespace cudaemu {

thread_local Thread *cur __attribute__((tls_model("initial-exec"))) = nullptr;

void log(const std::string &msg) { std::fprintf(stderr, "cudaemu: %s\n", msg.c_str()); }

namespace {

constexpr size_t kStack = 64 * 1024; // per fiber, above one guard page
constexpr size_t kPage = 4096;

enum State { NotStarted, Ready, WaitBlock, WaitWarp, Done };

struct Fiber {
	Thread t;
	State state;
	unsigned int mask;  // the warp operation's mask, while WaitWarp
	uint64_t exchanges; // warp exchanges this lane has made
	void *sp;           // saved stack pointer, while suspended
	char *stack;        // its stack, from NotStarted to Done
};

// Worker is one host thread's scheduler.
struct Worker {
	void *sched_sp = nullptr;
	std::vector<char *> stacks; // free stacks
	std::vector<Fiber> f;
	std::vector<uint64_t> slots; // warp exchange buffers: [warp][2][32]
	unsigned int n = 0;          // threads per block
	unsigned int running = 0;
	const Body *body = nullptr;
	bool failed = false;
	std::string why;
};

thread_local Worker *W __attribute__((tls_model("initial-exec"))) = nullptr;

} // namespace
} // namespace cudaemu

// cudaemu_switch(save, to) saves the callee-saved registers, MXCSR and the
// x87 control word on the current stack, stores the stack pointer in
// *save, and resumes the context whose stack pointer is to.
extern "C" void cudaemu_switch(void **save, void *to);
asm(R"(
	.text
	.p2align 4
	.globl cudaemu_switch
	.hidden cudaemu_switch
	.type cudaemu_switch, @function
cudaemu_switch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $8, %rsp
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	ldmxcsr (%rsp)
	fldcw 4(%rsp)
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size cudaemu_switch, .-cudaemu_switch
)");

namespace cudaemu {
namespace {

char *new_stack() {
	void *p = mmap(nullptr, kStack + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		log("out of memory for fiber stacks");
		std::abort();
	}
	mprotect(p, kPage, PROT_NONE); // overflow faults instead of corrupting
	return (char *)p;
}

// yield suspends the running fiber and returns to the scheduler.
void yield() {
	Worker *w = W;
	cudaemu_switch(&w->f[w->running].sp, w->sched_sp);
}

[[noreturn]] void fiber_main() {
	Worker *w = W;
	(*w->body)();
	w = W;
	Fiber &f = w->f[w->running];
	f.state = Done;
	cudaemu_switch(&f.sp, w->sched_sp);
	__builtin_unreachable();
}

void start(Worker *w, unsigned int i) {
	Fiber &f = w->f[i];
	if (w->stacks.empty()) {
		w->stacks.push_back(new_stack());
	}
	f.stack = w->stacks.back();
	w->stacks.pop_back();
	uint64_t *sp = (uint64_t *)(f.stack + kPage + kStack);
	*--sp = 0;                              // fiber_main's return address (it never returns)
	*--sp = (uint64_t)(uintptr_t)fiber_main; // where cudaemu_switch's ret goes
	for (int r = 0; r < 6; r++) {
		*--sp = 0; // rbp rbx r12 r13 r14 r15
	}
	*--sp = 0x1F80ull | 0x037Full << 32; // default MXCSR, x87 control word
	f.sp = sp;
	f.state = Ready;
}

void resume(Worker *w, unsigned int i) {
	Fiber &f = w->f[i];
	if (f.state == NotStarted) {
		start(w, i);
	}
	f.state = Ready;
	w->running = i;
	cur = &f.t;
	cudaemu_switch(&w->sched_sp, f.sp);
	cur = nullptr;
	if (f.state == Done) {
		w->stacks.push_back(f.stack);
		f.stack = nullptr;
	}
}

std::string where(const Fiber &f) {
	char b[96];
	std::snprintf(b, sizeof b, "block (%u,%u,%u) thread (%u,%u,%u)", f.t.bid.x, f.t.bid.y, f.t.bid.z, f.t.tid.x,
	              f.t.tid.y, f.t.tid.z);
	return b;
}

// release makes Ready the waiting threads whose barrier is complete. It
// returns false, with w->why set, when no thread can ever go on.
bool release(Worker *w) {
	unsigned int n = w->n, done = 0, atBlock = 0;
	for (unsigned int i = 0; i < n; i++) {
		done += w->f[i].state == Done;
		atBlock += w->f[i].state == WaitBlock;
	}
	bool released = false;
	for (unsigned int base = 0; base < n; base += 32) {
		int first = -1;
		for (unsigned int l = 0; l < 32 && base + l < n; l++) {
			if (w->f[base + l].state == WaitWarp) {
				first = (int)l;
				break;
			}
		}
		if (first < 0) {
			continue;
		}
		const Fiber &lead = w->f[base + first];
		unsigned int mask = lead.mask;
		bool all = true;
		for (unsigned int l = 0; l < 32; l++) {
			if (!(mask >> l & 1u)) {
				continue;
			}
			if (base + l >= n) {
				char b[160];
				std::snprintf(b, sizeof b, "a warp operation's mask 0x%08x names lane %u, which does not exist (block of %u threads): ",
				              mask, l, n);
				w->why = b + where(lead);
				return false;
			}
			const Fiber &o = w->f[base + l];
			if (o.state == Done) {
				char b[160];
				std::snprintf(b, sizeof b, "a warp operation's mask 0x%08x names lane %u, which has exited: ", mask, l);
				w->why = b + where(lead);
				return false;
			}
			if (o.state != WaitWarp) {
				all = false;
				continue;
			}
			if (o.mask != mask || o.exchanges != lead.exchanges) {
				char b[200];
				std::snprintf(b, sizeof b, "lanes of one warp are at different warp operations (masks 0x%08x and 0x%08x): ",
				              mask, o.mask);
				w->why = b + where(lead) + " and " + where(o);
				return false;
			}
		}
		if (all) {
			for (unsigned int l = 0; l < 32; l++) {
				if (mask >> l & 1u) {
					w->f[base + l].state = Ready;
				}
			}
			released = true;
		}
	}
	if (released) {
		return true;
	}
	if (atBlock > 0 && atBlock + done == n) {
		if (done > 0) {
			const Fiber *waiting = nullptr;
			for (auto &f : w->f) {
				if (f.state == WaitBlock) {
					waiting = &f;
					break;
				}
			}
			char b[160];
			std::snprintf(b, sizeof b, "__syncthreads reached by %u of the block's %u threads; the other %u had exited: ",
			              atBlock, n, done);
			w->why = b + where(*waiting);
			return false;
		}
		for (unsigned int i = 0; i < n; i++) {
			w->f[i].state = Ready;
		}
		return true;
	}
	for (auto &f : w->f) {
		if (f.state == WaitWarp) {
			w->why = "deadlock: a warp operation waits for lanes that are waiting at __syncthreads or another operation: " +
			         where(f);
			return false;
		}
	}
	w->why = "deadlock in the block's barriers";
	return false;
}

// run_block runs block b of the launch; false (w->why set) if it failed.
bool run_block(Worker *w, const Launch &l, uint64_t b) {
	uint3 bid{(unsigned int)(b % l.grid.x), (unsigned int)(b / l.grid.x % l.grid.y),
	          (unsigned int)(b / ((uint64_t)l.grid.x * l.grid.y))};
	for (unsigned int i = 0; i < w->n; i++) {
		Fiber &f = w->f[i];
		f.t.tid = uint3{i % l.block.x, i / l.block.x % l.block.y, i / (l.block.x * l.block.y)};
		f.t.bid = bid;
		f.t.bdim = l.block;
		f.t.gdim = l.grid;
		f.state = NotStarted;
		f.exchanges = 0;
		f.stack = nullptr;
	}
	for (;;) {
		for (unsigned int i = 0; i < w->n; i++) {
			State s = w->f[i].state;
			if (s == NotStarted || s == Ready) {
				resume(w, i);
				if (w->failed) {
					break;
				}
			}
		}
		if (!w->failed) {
			bool live = false;
			for (auto &f : w->f) {
				live = live || f.state != Done;
			}
			if (!live) {
				return true;
			}
			if (release(w)) {
				continue;
			}
		}
		// Abandon the block: its suspended fibers are never resumed.
		for (auto &f : w->f) {
			if (f.stack != nullptr) {
				w->stacks.push_back(f.stack);
				f.stack = nullptr;
			}
		}
		return false;
	}
}

// The pool of host threads that run blocks.
struct Pool {
	std::mutex mu;
	std::condition_variable wake, idle;
	const Launch *job = nullptr;
	uint64_t gen = 0;
	unsigned int busy = 0;
	std::atomic<uint64_t> next{0};
	std::atomic<bool> failed{false};
	std::string why;
	unsigned int size = 0;
};

Pool &pool() {
	static Pool *p = new Pool; // never destroyed: its threads outlive main
	return *p;
}

unsigned int pool_size() {
	if (const char *s = std::getenv("CUDAEMU_THREADS")) {
		int n = std::atoi(s);
		if (n >= 1) {
			return (unsigned int)n;
		}
	}
	unsigned int n = std::thread::hardware_concurrency();
	return n == 0 ? 1 : n > 8 ? 8 : n;
}

void work(Pool &p, const Launch &l) {
	Worker *w = W;
	uint64_t total = (uint64_t)l.grid.x * l.grid.y * l.grid.z;
	w->n = l.block.x * l.block.y * l.block.z;
	if (w->f.size() < w->n) {
		w->f.resize(w->n);
	}
	w->slots.assign((w->n + 31) / 32 * 64, 0);
	w->body = &l.body;
	w->failed = false;
	for (;;) {
		if (p.failed.load(std::memory_order_relaxed)) {
			return;
		}
		uint64_t b = p.next.fetch_add(1);
		if (b >= total) {
			return;
		}
		if (!run_block(w, l, b)) {
			std::lock_guard<std::mutex> g(p.mu);
			if (!p.failed.exchange(true)) {
				p.why = w->why;
			}
			return;
		}
	}
}

void worker_main(Pool *p) {
	Worker w;
	W = &w;
	uint64_t seen = 0;
	std::unique_lock<std::mutex> g(p->mu);
	for (;;) {
		p->wake.wait(g, [&] { return p->gen != seen; });
		seen = p->gen;
		const Launch *l = p->job;
		g.unlock();
		work(*p, *l);
		g.lock();
		if (--p->busy == 0) {
			p->idle.notify_all();
		}
	}
}

} // namespace

unsigned int lane() {
	Worker *w = W;
	return w->running & 31u;
}

void syncthreads() {
	Worker *w = W;
	w->f[w->running].state = WaitBlock;
	yield();
}

void warp_exchange(unsigned int mask, uint64_t v, uint64_t all[32]) {
	Worker *w = W;
	Fiber &f = w->f[w->running];
	unsigned int ln = w->running & 31u, warp = w->running >> 5;
	if (!(mask >> ln & 1u)) {
		char b[120];
		std::snprintf(b, sizeof b, "a warp operation's mask 0x%08x does not include the calling lane %u: ", mask, ln);
		fail(b + where(f));
	}
	uint64_t *buf = &w->slots[(warp * 2 + (f.exchanges & 1)) * 32];
	buf[ln] = v;
	f.mask = mask;
	f.state = WaitWarp;
	yield();
	std::memcpy(all, buf, 32 * sizeof(uint64_t));
	w->f[w->running].exchanges++;
}

void fail(const std::string &why) {
	Worker *w = W;
	w->failed = true;
	w->why = why;
	Fiber &f = w->f[w->running];
	f.state = Done;
	cudaemu_switch(&f.sp, w->sched_sp);
	__builtin_unreachable();
}

std::string run_grid(const Launch &l) {
	Pool &p = pool();
	std::unique_lock<std::mutex> g(p.mu);
	if (p.size == 0) {
		p.size = pool_size();
		for (unsigned int i = 0; i < p.size; i++) {
			std::thread(worker_main, &p).detach();
		}
	}
	p.job = &l;
	p.next = 0;
	p.failed = false;
	p.why.clear();
	p.busy = p.size;
	p.gen++;
	p.wake.notify_all();
	p.idle.wait(g, [&] { return p.busy == 0; });
	p.job = nullptr;
	return p.failed ? p.why : std::string();
}

std::vector<Kernel> &kernels() {
	static std::vector<Kernel> *k = new std::vector<Kernel>;
	return *k;
}

} // namespace cudaemu

namespace cudaemu {

// KernelName is a table entry's name and source, for selftest.cc.
struct KernelName {
	const char *name, *source;
};

std::vector<KernelName> table_names() {
	std::vector<KernelName> v;
	for (auto &k : kernels()) {
		v.push_back(KernelName{k.name, k.source});
	}
	return v;
}

} // namespace cudaemu
