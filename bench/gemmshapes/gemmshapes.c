// SPDX-License-Identifier: Apache-2.0
//
// gemmshapes: how fast OpenBLAS runs the products of a 784-1000 layer on
// this machine's two cores, four ways: one thread; OpenBLAS's own two
// threads; the product split in halves over two threads (each one
// single-threaded call); and two whole half-batch products at once, one
// per thread (data parallelism, what the engine's shards do). It is the
// measurement behind the engine's data-parallel design (bench/README.md).
//
//   B=/usr/lib/x86_64-linux-gnu/openblas-pthread
//   gcc -O2 bench/gemmshapes/gemmshapes.c -o /tmp/gemmshapes -I/usr/include/x86_64-linux-gnu/openblas-pthread -L$B -Wl,-rpath,$B -lopenblas -lpthread
//   /tmp/gemmshapes
//
// Best of 3 repetitions; GFLOP/s = 2·m·n·k / time. The operands are
// reused, so caches are warm: an upper bound for the same products inside
// a training step.
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
	int ta, tb, m, n, k, lda, ldb, ldc, iters;
	float *a, *b, *c;
} job;

static void *run(void *p) {
	job *j = p;
	for (int i = 0; i < j->iters; i++)
		cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans,
			j->m, j->n, j->k, 1, j->a, j->lda, j->b, j->ldb, 0, j->c, j->ldc);
	return 0;
}

// Two jobs at once: j2 on a new thread, j1 on this one.
static void pair(job *j1, job *j2) {
	pthread_t th;
	pthread_create(&th, 0, run, j2);
	run(j1);
	pthread_join(th, 0);
}

int main(void) {
	// m, n, k, ta, tb (row-major, as the engine calls them) and which
	// dimension is the batch (0: m, 2: k).
	int shapes[][6] = {
		{1024, 1000, 784, 0, 0, 0}, {1024, 784, 1000, 0, 1, 0}, {784, 1000, 1024, 1, 0, 2},
		{128, 1000, 784, 0, 0, 0}, {128, 784, 1000, 0, 1, 0}, {784, 1000, 128, 1, 0, 2},
	};
	size_t sz = 1100 * 1100;
	float *a = malloc(4 * sz), *b = malloc(4 * sz), *c = malloc(4 * sz);
	float *a2 = malloc(4 * sz), *b2 = malloc(4 * sz), *c2 = malloc(4 * sz);
	for (size_t i = 0; i < sz; i++) {
		a[i] = a2[i] = rand() / (float)RAND_MAX;
		b[i] = b2[i] = rand() / (float)RAND_MAX;
	}
	printf("%-22s %8s %8s %8s %8s  GFLOP/s\n", "m×n×k", "1 thread", "OpenBLAS", "halves", "data-par");
	for (int s = 0; s < 6; s++) {
		int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3], tb = shapes[s][4];
		int lda = ta ? m : k, ldb = tb ? k : n;
		int iters = (double)m * n * k > 2e8 ? 10 : 40;
		double best[4] = {1e9, 1e9, 1e9, 1e9};
		for (int rep = 0; rep < 3; rep++) {
			for (int mode = 0; mode < 4; mode++) {
				double t0 = now();
				if (mode < 2) {
					openblas_set_num_threads(mode + 1);
					job j = {ta, tb, m, n, k, lda, ldb, n, iters, a, b, c};
					run(&j);
				} else if (mode == 2) { // one product, halves of its output per thread
					openblas_set_num_threads(1);
					job j1, j2;
					if (m >= n) {
						int h = m / 2;
						j1 = (job){ta, tb, h, n, k, lda, ldb, n, iters, a, b, c};
						j2 = (job){ta, tb, m - h, n, k, lda, ldb, n, iters, ta ? a + h : a + (size_t)h * lda, b, c + (size_t)h * n};
					} else {
						int h = n / 2;
						j1 = (job){ta, tb, m, h, k, lda, ldb, n, iters, a, b, c};
						j2 = (job){ta, tb, m, n - h, k, lda, ldb, n, iters, a, tb ? b + (size_t)h * ldb : b + h, c + h};
					}
					pair(&j1, &j2);
				} else { // two half-batch products, one per thread
					openblas_set_num_threads(1);
					int hm = shapes[s][5] == 0 ? m / 2 : m, hk = shapes[s][5] == 2 ? k / 2 : k;
					int hlda = ta ? hm : hk, hldb = tb ? hk : n;
					job j1 = {ta, tb, hm, n, hk, hlda, hldb, n, iters, a, b, c};
					job j2 = {ta, tb, hm, n, hk, hlda, hldb, n, iters, a2, b2, c2};
					pair(&j1, &j2);
				}
				double t = (now() - t0) / iters;
				if (t < best[mode])
					best[mode] = t;
			}
		}
		double f = 2.0 * m * n * k;
		char name[32];
		snprintf(name, sizeof name, "%d×%d×%d%s%s", m, n, k, ta ? " A^T" : "", tb ? " B^T" : "");
		printf("%-22s %8.1f %8.1f %8.1f %8.1f\n", name, f / best[0] / 1e9, f / best[1] / 1e9, f / best[2] / 1e9, f / best[3] / 1e9);
	}
	return 0;
}
