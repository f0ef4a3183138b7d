// SPDX-License-Identifier: Apache-2.0

package gemm

import "sync"

// The blocking, for AVX2 cores with 32 KiB of L1 data cache and 512 KiB of
// L2 per core (Zen 2/3/4, Skylake and later): a packed panel of B (KC×NR,
// 16 KiB) stays in L1 while the kernel sweeps a packed block of A (MC×KC,
// 144 KiB) held in L2; a packed block of B (KC×NC, 1 MiB) is reused from
// L3 by every block of A.
const (
	MR = 6    // rows of the microkernel's block of C
	NR = 16   // columns of the microkernel's block of C
	KC = 256  // depth of a packed block
	MC = 144  // rows of a packed block of A, a multiple of MR
	NC = 1024 // columns of a packed block of B, a multiple of NR
)

// Available reports whether the kernel is the AVX2+FMA assembly; where it
// is not (other CPUs, other architectures, the purego tag), Sgemm runs a
// plain Go microkernel, correct but several times slower than gonum's
// gemm, and callers should prefer that.
var Available = useAVX2

// useAsm selects the microkernel; tests turn it off to run the Go one.
var useAsm = useAVX2

// workspace holds one call's packed blocks (1.5 MB). Sgemm takes one from
// a free list, so that several goroutines can call it at once and a call
// allocates nothing once as many workspaces exist as goroutines have
// called it at once; they are kept for the process's life (a sync.Pool
// would hand them to the garbage collector, and a training step that
// allocates nothing would allocate again after each collection).
type workspace struct {
	a   [MC * KC]float32
	b   [KC * NC]float32
	tmp [MR * NR]float32
	t   [tMax]float32 // Cᵀ, for the transposed route (see Transposes)
}

// tMax is the largest Cᵀ the transposed route takes.
const tMax = 64 * 1024

// Transposes reports whether Sgemm computes C = op(A)·Bᵀ (B stored n×k)
// as Cᵀ = B·op(A)ᵀ: when C has at most directAMaxN rows, so that the
// wide operand B is read in place as the kernel's A and only the narrow
// op(A) is packed, instead of B being transposed into panels (a layer's
// 784×1000 weights by a shard's 64 rows: packing them took a fifth of
// the product's time). Cᵀ goes to C through an 8×8 transpose.
func Transposes(ta, tb bool, m, n int) bool {
	return tb && !ta && useAsm && m <= directAMaxN && m*n <= tMax
}

var workspaces struct {
	sync.Mutex
	free []*workspace
}

func getWorkspace() *workspace {
	workspaces.Lock()
	defer workspaces.Unlock()
	if n := len(workspaces.free); n > 0 {
		w := workspaces.free[n-1]
		workspaces.free = workspaces.free[:n-1]
		return w
	}
	return new(workspace)
}

func putWorkspace(w *workspace) {
	workspaces.Lock()
	workspaces.free = append(workspaces.free, w)
	workspaces.Unlock()
}

// Sgemm computes C = op(A)·op(B), or C += op(A)·op(B) when acc is set, on
// the calling goroutine. C is m×n with row stride ldc; op(A) is m×k, A
// stored m×k (k×m when ta) with row stride lda; op(B) is k×n, B stored k×n
// (n×k when tb) with row stride ldb. All row-major.
func Sgemm(ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, acc bool, c []float32, ldc int) {
	checkC(m, n, c, ldc)
	checkOperand("A", ta, m, k, a, lda)
	checkOperand("B", !tb, n, k, b, ldb)
	if empty(m, n, k, acc, c, ldc) {
		return
	}
	w := getWorkspace()
	defer putWorkspace(w)
	if Transposes(ta, tb, m, n) {
		// Cᵀ = B·op(A)ᵀ: B (n×k, untransposed as stored) is the kernel's
		// A, op(A)ᵀ (stored m×k, so transposed) its B.
		ct := w.t[:n*m]
		sgemm(w, false, true, n, m, k, b, ldb, a, lda, false, plus{}, ct, m)
		transposeInto(c, ldc, ct, m, n, acc)
		return
	}
	sgemm(w, ta, tb, m, n, k, a, lda, b, ldb, acc, plus{}, c, ldc)
}

// SgemmPlus computes C = op(A)·op(B) + D·diag(s): Sgemm without acc, plus
// D (m×n, row stride ldd) with its column j scaled by s[j], which the
// kernel adds to C's blocks as it stores them (the penalty's gradient
// 2·W·diag(g) under a weight's gradient, without a pass that writes it
// into C first and one that reads it back).
func SgemmPlus(ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, d []float32, ldd int, s []float32, c []float32, ldc int) {
	checkC(m, n, c, ldc)
	checkOperand("A", ta, m, k, a, lda)
	checkOperand("B", !tb, n, k, b, ldb)
	checkOperand("D", false, m, n, d, ldd)
	if len(s) < n {
		panic("gemm: s too short")
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			ci, di := c[i*ldc:i*ldc+n], d[i*ldd:i*ldd+n]
			for j, v := range di {
				ci[j] = v * s[j]
			}
		}
		return
	}
	w := getWorkspace()
	defer putWorkspace(w)
	sgemm(w, ta, tb, m, n, k, a, lda, b, ldb, false, plus{d, ldd, s}, c, ldc)
}

// plus is the term D·diag(s) that SgemmPlus adds to its product; the zero
// value (d nil) is no term.
type plus struct {
	d   []float32
	ldd int
	s   []float32
}

// at is the term's block from row i, column j.
func (p plus) at(i, j int) plus {
	if p.d == nil {
		return p
	}
	return plus{p.d[i*p.ldd+j:], p.ldd, p.s[j:]}
}

// sgemm is Sgemm on the workspace w, without the transposed route, with
// SgemmPlus's term when pl has one (and acc is not set).
func sgemm(w *workspace, ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, acc bool, pl plus, c []float32, ldc int) {
	for j0 := 0; j0 < n; j0 += NC {
		nc := min(NC, n-j0)
		ks := KStep(k)
		for p0 := 0; p0 < k; p0 += ks {
			kc := min(ks, k-p0)
			var bs bsrc
			if tb || !directB || ldb*4%256 == 0 {
				packB(w.b[:], b, ldb, tb, p0, kc, j0, nc)
				bs.p = w.b[:]
			} else {
				// B's rows are the kernel's: it reads full panels in
				// place, and only a last partial panel is packed.
				bs.b, bs.ldb = b[p0*ldb+j0:], ldb
				if full := nc &^ (NR - 1); full < nc {
					packB(w.b[:], b, ldb, false, p0, kc, j0+full, nc-full)
					bs.e = w.b[:kc*NR]
				}
			}
			for i0 := 0; i0 < m; i0 += MC {
				mc := min(MC, m-i0)
				as := w.sourceA(a, lda, ta, i0, mc, p0, kc, nc)
				var bp plus
				if p0 == 0 {
					bp = pl.at(i0, j0)
				}
				block(w, &as, &bs, mc, nc, kc, acc || p0 > 0, bp, c[i0*ldc+j0:], ldc)
			}
		}
	}
}

// transposeInto sets C (m×n, row stride ldc) to tᵀ (t is n×m), or adds
// tᵀ to it when acc.
func transposeInto(c []float32, ldc int, t []float32, m, n int, acc bool) {
	i8, j8 := 0, 0
	if !acc && useAsm {
		i8, j8 = m&^7, n&^7
		for i := 0; i < i8; i += 8 {
			_ = c[(i+7)*ldc+j8-1]
			for j := 0; j < j8; j += 8 {
				_ = t[(j+7)*m+i+7]
				transposeAVX2(&c[i*ldc+j], ldc, &t[j*m+i], m)
			}
		}
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		from := j8
		if i >= i8 {
			from = 0
		}
		for j := from; j < n; j++ {
			if acc {
				ci[j] += t[j*m+i]
			} else {
				ci[j] = t[j*m+i]
			}
		}
	}
}

// directB makes Sgemm read a B that is not transposed in place, without
// packing it (benchmarks compare), unless its rows are a multiple of 256
// bytes apart: then a panel's rows fall into a quarter or less of L1's
// sets, which thrashes (1024×1024 ran at a third of the packed speed).
var directB = true

// bsrc is where block finds the panels of a kc×nc block of op(B): packed
// (p), or in B itself (b, row stride ldb) with a last partial panel packed
// (e).
type bsrc struct {
	p   []float32
	b   []float32
	ldb int
	e   []float32
}

// panel returns the panel of columns [jp, jp+NR) and its row stride.
func (s *bsrc) panel(jp, kc, nc int) ([]float32, int) {
	switch {
	case s.p != nil:
		return s.p[jp*kc : jp*kc+kc*NR], NR
	case nc-jp < NR:
		return s.e, NR
	}
	return s.b[jp : jp+(kc-1)*s.ldb+NR], s.ldb
}

// empty handles a product with nothing to multiply (m, n or k zero): C is
// left alone, or cleared for k = 0 without acc; it reports whether there
// was nothing to multiply.
func empty(m, n, k int, acc bool, c []float32, ldc int) bool {
	if m > 0 && n > 0 && k > 0 {
		return false
	}
	if k == 0 && !acc {
		for i := 0; i < m && n > 0; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
	}
	return true
}

// PackedB is a k×n operand B packed once for many products (a layer's
// weights, used by several shards of a batch in one step).
type PackedB struct {
	K, N int
	data []float32 // per block of KC rows: ⌈N/NR⌉ panels of KC×NR
}

// KStep is the depth of the blocks a product over k is split into: at
// most KC, and as even as a multiple of 8 allows, so that no block is a
// sliver (k = 784 is 4 blocks of 200 and 184, not 3 of 256 and one of
// 16, which would cost a whole pass over C for 16 steps).
func KStep(k int) int {
	blocks := (k + KC - 1) / KC
	step := (k + blocks - 1) / max(blocks, 1)
	return min(KC, (step+7)&^7)
}

// npad is n rounded up to a whole number of panels.
func npad(n int) int { return (n + NR - 1) / NR * NR }

// Pack packs op(B) (k×n; B stored k×n, or n×k when tb, row stride ldb)
// into p, reusing p's memory when it is large enough.
func (p *PackedB) Pack(tb bool, k, n int, b []float32, ldb int) {
	checkOperand("B", !tb, n, k, b, ldb)
	p.Prepare(k, n)
	for p0 := 0; p0 < k; p0 += KStep(k) {
		p.PackRange(tb, b, ldb, p0, 0, n)
	}
}

// PackRange packs the panels of columns [j0, j1) of p's block of rows
// starting at p0 (j0 a multiple of NR, p0 of KStep(K)): the same as Pack when
// called for every block and column range, and independent of the others,
// so that a pool of workers can pack one operand together. Prepare must
// have been called first.
func (p *PackedB) PackRange(tb bool, b []float32, ldb int, p0, j0, j1 int) {
	kc := min(KStep(p.K), p.K-p0)
	packB(p.data[p0*npad(p.N)+j0*kc:], b, ldb, tb, p0, kc, j0, j1-j0)
}

// Prepare sizes p for a k×n operand without packing it (see PackRange).
func (p *PackedB) Prepare(k, n int) {
	p.K, p.N = k, n
	size := k * npad(n)
	if cap(p.data) < size {
		p.data = make([]float32, size)
	}
	p.data = p.data[:size]
}

// SgemmPacked is Sgemm with op(B) packed beforehand: C (+)= op(A)·B.
func SgemmPacked(ta bool, m int, a []float32, lda int, b *PackedB, acc bool, c []float32, ldc int) {
	n, k := b.N, b.K
	checkC(m, n, c, ldc)
	checkOperand("A", ta, m, k, a, lda)
	if empty(m, n, k, acc, c, ldc) {
		return
	}
	w := getWorkspace()
	defer putWorkspace(w)
	np := npad(n)
	ks := KStep(k)
	for p0 := 0; p0 < k; p0 += ks {
		kc := min(ks, k-p0)
		pb := b.data[p0*np : p0*np+kc*np]
		for i0 := 0; i0 < m; i0 += MC {
			mc := min(MC, m-i0)
			as := w.sourceA(a, lda, ta, i0, mc, p0, kc, n)
			block(w, &as, &bsrc{p: pb}, mc, n, kc, acc || p0 > 0, plus{}, c[i0*ldc:], ldc)
		}
	}
}

// directAMaxN is the widest product (columns of C) for which Sgemm reads
// A in place rather than packing it: packing costs about what the kernel
// spends on a value of A for 16 columns, so below a few panels it is a
// large share of the product (the deep penalty's chain, with 16 to 64
// columns and thousands of rows). Tests and benchmarks change it.
var directAMaxN = 4 * NR

// asrc is where block finds the panels of a mc×kc block of op(A): packed
// (p), or in A itself (a, element (i, p) at as·p + ar·i) with a last
// partial panel packed (e).
type asrc struct {
	p      []float32
	a      []float32
	as, ar int
	e      []float32
}

// sourceA packs op(A)'s block of rows [i0, i0+mc) and columns [p0, p0+kc)
// into w.a, or, for a product of at most directAMaxN columns, points into
// A and packs only a last partial panel.
func (w *workspace) sourceA(a []float32, lda int, ta bool, i0, mc, p0, kc, n int) asrc {
	if n > directAMaxN {
		packA(w.a[:], a, lda, ta, i0, mc, p0, kc)
		return asrc{p: w.a[:]}
	}
	var s asrc
	if ta {
		s = asrc{a: a[p0*lda+i0:], as: lda, ar: 1}
	} else {
		s = asrc{a: a[i0*lda+p0:], as: 1, ar: lda}
	}
	if full := mc - mc%MR; full < mc {
		packA(w.a[:], a, lda, ta, i0+full, mc-full, p0, kc)
		s.e = w.a[:kc*MR]
	}
	return s
}

// step is how many floats apart the full panels of rows are.
func (s *asrc) step(kc int) int {
	if s.p != nil {
		return kc * MR
	}
	return MR * s.ar
}

// whole is the slice the full panels are in.
func (s *asrc) whole() []float32 {
	if s.p != nil {
		return s.p
	}
	return s.a
}

// panel returns the panel of rows [ip, ip+MR) and its strides.
func (s *asrc) panel(ip, kc, mc int) (a []float32, as, ar int) {
	switch {
	case s.p != nil:
		return s.p[ip*kc : ip*kc+kc*MR], MR, 1
	case mc-ip < MR:
		return s.e, MR, 1
	}
	return s.a[ip*s.ar : ip*s.ar+(kc-1)*s.as+(MR-1)*s.ar+1], s.as, s.ar
}

// block computes the mc×nc block of C at c from the blocks of A (mc×kc)
// and B (kc×nc) that as and bs give: B's panels outside, so that each
// stays in L1 while the kernel runs down A's. C's block is set to the
// product, or the product is added to it (acc), or set to the product
// plus pl's block (pl has a term, acc is not set).
func block(w *workspace, as *asrc, bs *bsrc, mc, nc, kc int, acc bool, pl plus, c []float32, ldc int) {
	mode := modeOf(acc, pl)
	for jp := 0; jp < nc; jp += NR {
		cols := min(NR, nc-jp)
		b, ldb := bs.panel(jp, kc, nc)
		ip := 0
		if full := mc / MR; full > 1 && cols == NR && useAsm {
			// the full blocks of this column in one call
			a, sa, ra := as.panel(0, kc, mc)
			step := as.step(kc)
			last := (full - 1) * step
			_ = as.whole()[last+(kc-1)*sa+(MR-1)*ra]
			_ = b[(kc-1)*ldb+NR-1]
			_ = c[(full*MR-1)*ldc+jp+NR-1]
			d, ldd, s := pl.ptrs(full*MR, jp)
			kernAVX2(full, kc, &a[0], sa, ra, step, &b[0], ldb, &c[jp], ldc, mode, d, ldd, s)
			ip = full * MR
		}
		for ; ip < mc; ip += MR {
			rows := min(MR, mc-ip)
			a, sa, ra := as.panel(ip, kc, mc)
			if rows == MR && cols == NR {
				kern(kc, a, sa, ra, b, ldb, c[ip*ldc+jp:], ldc, mode, pl.at(ip, jp))
				continue
			}
			// An edge block: computed whole into tmp (the packed
			// panels are zero past the edge), then its valid part.
			kern(kc, a, sa, ra, b, ldb, w.tmp[:], NR, modeSet, plus{})
			for i := 0; i < rows; i++ {
				ci := c[(ip+i)*ldc+jp : (ip+i)*ldc+jp+cols]
				ti := w.tmp[i*NR : i*NR+cols]
				switch mode {
				case modeAdd:
					for j, v := range ti {
						ci[j] += v
					}
				case modePlus:
					di, s := pl.d[(ip+i)*pl.ldd+jp:], pl.s[jp:jp+cols]
					for j, v := range ti {
						ci[j] = v + di[j]*s[j]
					}
				default:
					copy(ci, ti)
				}
			}
		}
	}
}

// The kernel's modes: what becomes of C's block.
const (
	modeSet  = 0 // C = A·B
	modeAdd  = 1 // C += A·B
	modePlus = 2 // C = A·B + D·diag(s)
)

func modeOf(acc bool, pl plus) int {
	switch {
	case acc:
		return modeAdd
	case pl.d != nil:
		return modePlus
	}
	return modeSet
}

// ptrs are the kernel's arguments for pl's block from column jp, for
// blocks of rows down to rows (bounds checked here); nil ones without a
// term.
func (pl plus) ptrs(rows, jp int) (d *float32, ldd int, s *float32) {
	if pl.d == nil {
		return nil, 0, nil
	}
	_ = pl.d[(rows-1)*pl.ldd+jp+NR-1]
	_ = pl.s[jp+NR-1]
	return &pl.d[jp], pl.ldd, &pl.s[jp]
}

// kern computes the MR×NR block of C at c (row stride ldc) from a panel
// of A (kc steps of MR values: (i, p) at as·p + ar·i) and a panel of B (kc
// rows of NR, ldb apart): c = a·b, c += a·b, or c = a·b + pl's block,
// as mode says.
func kern(kc int, a []float32, as, ar int, b []float32, ldb int, c []float32, ldc int, mode int, pl plus) {
	_ = a[(kc-1)*as+(MR-1)*ar]
	_ = b[(kc-1)*ldb+NR-1]
	_ = c[(MR-1)*ldc+NR-1]
	if useAsm {
		d, ldd, s := pl.ptrs(MR, 0)
		kernAVX2(1, kc, &a[0], as, ar, 0, &b[0], ldb, &c[0], ldc, mode, d, ldd, s)
		return
	}
	kernGo(kc, a, as, ar, b, ldb, c, ldc, mode, pl)
}

// kernGo is the microkernel's specification, in float32 like the
// assembly (whose FMAs round once per step where this rounds twice).
func kernGo(kc int, a []float32, as, ar int, b []float32, ldb int, c []float32, ldc int, mode int, pl plus) {
	var s [MR][NR]float32
	for p := 0; p < kc; p++ {
		bp := b[p*ldb : p*ldb+NR]
		for i := range MR {
			av := a[p*as+i*ar]
			for j, bv := range bp {
				s[i][j] += av * bv
			}
		}
	}
	for i := range s {
		ci := c[i*ldc : i*ldc+NR]
		for j, v := range s[i] {
			switch mode {
			case modeAdd:
				ci[j] += v
			case modePlus:
				ci[j] = v + pl.d[i*pl.ldd+j]*pl.s[j]
			default:
				ci[j] = v
			}
		}
	}
}

func checkC(m, n int, c []float32, ldc int) {
	if m < 0 || n < 0 || ldc < max(n, 1) || m > 0 && n > 0 && len(c) < (m-1)*ldc+n {
		panic("gemm: C too short or bad stride")
	}
}

// checkOperand checks an operand stored rows×cols (cols×rows when t).
func checkOperand(name string, t bool, rows, cols int, x []float32, ld int) {
	if t {
		rows, cols = cols, rows
	}
	if rows < 0 || cols < 0 || ld < max(cols, 1) || rows > 0 && cols > 0 && len(x) < (rows-1)*ld+cols {
		panic("gemm: " + name + " too short or bad stride")
	}
}
