// SPDX-License-Identifier: Apache-2.0

package kernels

import "github.com/caetrain/caetrain/kernels/internal/gemm"

// PackedB is the right operand of float32 products, packed once into the
// layout caetrain's gemm reads, for many products by the same matrix (a
// layer's weights, multiplied by every shard of a batch in a step). It
// needs Sgemm == "avx2".
type PackedB struct {
	b    []float32
	k, n int
	tb   bool
	p    gemm.PackedB
}

// NewPackedB prepares the packed form of op(b) (k×n; b stored k×n, or n×k
// when tb). The tasks of PackTasks fill it from b's current values.
func NewPackedB(b []float32, k, n int, tb bool) *PackedB {
	if len(b) != k*n {
		panic("kernels: NewPackedB: wrong length")
	}
	p := &PackedB{b: b, k: k, n: n, tb: tb}
	p.p.Prepare(k, n)
	return p
}

func (p *PackedB) ldb() int {
	if p.tb {
		return p.k
	}
	return p.n
}

// PackTasks returns the packing of b's current values split into at most
// parts independent tasks (by columns), for a worker pool; all of them
// must run before MatMulPacked reads the new values.
func (p *PackedB) PackTasks(parts int) []func() {
	panels := (p.n + gemm.NR - 1) / gemm.NR
	parts = max(1, min(parts, panels))
	var tasks []func()
	for w := 0; w < parts; w++ {
		j0, j1 := panels*w/parts*gemm.NR, min(panels*(w+1)/parts*gemm.NR, p.n)
		tasks = append(tasks, func() {
			for p0 := 0; p0 < p.k; p0 += gemm.KStep(p.k) {
				p.p.PackRange(p.tb, p.b, p.ldb(), p0, j0, j1)
			}
		})
	}
	return tasks
}

// PackPays reports whether a product c = op(a)·op(b), c: [m, n], with b
// shared by many products, runs faster with b packed once (MatMulPacked)
// than through MatMul: for a transposed b, unless MatMul multiplies by it
// in place anyway (few rows of c: gemm.Transposes).
func PackPays(m, n int, ta, tb bool) bool {
	return Sgemm == "avx2" && tb && !gemm.Transposes(ta, tb, m, n)
}

// MatMulPacked is MatMul with op(b) packed: c = op(a)·op(b), c: [m, n],
// op(a): [m, k] (a stored [k, m] when ta), with b's values as of the last
// Pack.
func MatMulPacked(c, a []float32, m int, ta bool, b *PackedB) {
	if len(c) != m*b.n || len(a) != m*b.k {
		panic("kernels: MatMulPacked: wrong lengths")
	}
	if m == 0 {
		return
	}
	lda := max(b.k, 1)
	if ta {
		lda = m
	}
	gemm.SgemmPacked(ta, m, a, lda, &b.p, false, c, b.n)
}
