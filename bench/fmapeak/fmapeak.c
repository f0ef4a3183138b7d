// SPDX-License-Identifier: Apache-2.0
//
// fmapeak: the most float32 FLOP/s this machine's cores can do with AVX2
// FMAs (8 lanes, a multiply and an add each), one thread per core at once,
// each running twelve independent FMA chains (enough to cover the FMA
// latency on Zen 3 and Skylake). No memory is touched: no matrix product
// can run faster, so a training step's useful GFLOP/s divided by this is
// the share of the machine's peak it reaches (bench/README.md).
//
//   gcc -O2 -mavx2 -mfma -pthread bench/fmapeak/fmapeak.c -o /tmp/fmapeak
//   /tmp/fmapeak            # prints: fmapeak threads=2 gflops=200.1 per_thread=100.0
//
// Best of 3 runs of about 0.3 s each.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ITERS 100000000L

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static volatile float sink[64];

static void *chains(void *arg) {
	long id = (long)arg;
	__m256 a[12];
	__m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
	for (int i = 0; i < 12; i++)
		a[i] = _mm256_set1_ps((float)i);
	for (long k = 0; k < ITERS; k++) {
#pragma GCC unroll 12
		for (int i = 0; i < 12; i++)
			a[i] = _mm256_fmadd_ps(a[i], b, c);
	}
	float s = 0;
	for (int i = 0; i < 12; i++)
		s += a[i][0];
	sink[id % 64] = s; // keep the chains live
	return NULL;
}

int main(void) {
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	pthread_t *th = malloc(n * sizeof *th);
	double best = 0;
	for (int rep = 0; rep < 3; rep++) {
		double t0 = now();
		for (long i = 0; i < n; i++)
			pthread_create(&th[i], NULL, chains, (void *)i);
		for (long i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		double g = (double)n * ITERS * 12 * 16 / (now() - t0) / 1e9;
		if (g > best)
			best = g;
	}
	printf("fmapeak threads=%ld gflops=%.1f per_thread=%.1f\n", n, best, best / n);
	return 0;
}
