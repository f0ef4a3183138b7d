// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"github.com/caetrain/caetrain/kernels/internal/gemm"
	"math"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// QuadForm computes, for each b, the trace of the quadratic form of T_b
// with G:
//
//	out[b] = tr(T_b G T_bᵀ) = Σ_r Σ_i Σ_j T[b,r,i] G[i,j] T[b,r,j]
//
// out: [B]; t: [B, R, C]; g: [C, C]. With T_b the factor M of a Jacobian
// J = M W_1ᵀ and G = W_1ᵀ W_1 this is ‖J‖²_F.
func QuadForm[T Float](out, t, g []T, B, R, C int) {
	if len(out) != B || len(t) != B*R*C || len(g) != C*C {
		panic("kernels: QuadForm: wrong lengths")
	}
	for b := 0; b < B; b++ {
		var s T
		for r := 0; r < R; r++ {
			row := t[(b*R+r)*C : (b*R+r+1)*C]
			for i, ti := range row {
				if ti == 0 {
					continue
				}
				gi := g[i*C : (i+1)*C]
				var u T
				for j, tj := range row {
					u += gi[j] * tj
				}
				s += ti * u
			}
		}
		out[b] = s
	}
}

// QuadFormGradT is the gradient of Σ_b gout[b]·QuadForm(T, G)[b] with
// respect to T:
//
//	dt[b,r,i] = gout[b] · Σ_j (G[i,j] + G[j,i]) T[b,r,j]
//
// dt, t: [B, R, C]; g: [C, C]; gout: [B].
func QuadFormGradT[T Float](dt, t, g, gout []T, B, R, C int) {
	if len(dt) != B*R*C || len(t) != B*R*C || len(g) != C*C || len(gout) != B {
		panic("kernels: QuadFormGradT: wrong lengths")
	}
	for b := 0; b < B; b++ {
		for r := 0; r < R; r++ {
			off := (b*R + r) * C
			row := t[off : off+C]
			for i := 0; i < C; i++ {
				var u T
				for j, tj := range row {
					u += (g[i*C+j] + g[j*C+i]) * tj
				}
				dt[off+i] = gout[b] * u
			}
		}
	}
}

// QuadFormGradG is the gradient of Σ_b gout[b]·QuadForm(T, G)[b] with
// respect to G:
//
//	dg[i,j] = Σ_b gout[b] Σ_r T[b,r,i] T[b,r,j]
//
// dg: [C, C]; t: [B, R, C]; gout: [B].
func QuadFormGradG[T Float](dg, t, gout []T, B, R, C int) {
	if len(dg) != C*C || len(t) != B*R*C || len(gout) != B {
		panic("kernels: QuadFormGradG: wrong lengths")
	}
	clear(dg)
	for b := 0; b < B; b++ {
		for r := 0; r < R; r++ {
			row := t[(b*R+r)*C : (b*R+r+1)*C]
			for i, ti := range row {
				w := gout[b] * ti
				if w == 0 {
					continue
				}
				d := dg[i*C : (i+1)*C]
				for j, tj := range row {
					d[j] += w * tj
				}
			}
		}
	}
}

// QuadFormBLAS is QuadForm through one matrix product: U = T G ([B·R, C]),
// then out[b] = Σ_{r,i} T[b,r,i]·U[b,r,i]. u is scratch of B·R·C.
func QuadFormBLAS[T Float](out, t, g, u []T, B, R, C int) {
	if len(out) != B || len(t) != B*R*C || len(g) != C*C || len(u) != B*R*C {
		panic("kernels: QuadFormBLAS: wrong lengths")
	}
	MatMul(u, t, g, B*R, C, C, false, false)
	n := R * C
	for b := 0; b < B; b++ {
		tb, ub := t[b*n:(b+1)*n], u[b*n:(b+1)*n]
		var s T
		for i, v := range tb {
			s += v * ub[i]
		}
		out[b] = s
	}
}

// QuadFormGradTBLAS is QuadFormGradT through one matrix product:
// dT_b = gout[b] · T_b (G + Gᵀ). s is scratch of C·C.
func QuadFormGradTBLAS[T Float](dt, t, g, gout, s []T, B, R, C int) {
	if len(dt) != B*R*C || len(t) != B*R*C || len(g) != C*C || len(gout) != B || len(s) != C*C {
		panic("kernels: QuadFormGradTBLAS: wrong lengths")
	}
	for i := 0; i < C; i++ {
		for j := 0; j < C; j++ {
			s[i*C+j] = g[i*C+j] + g[j*C+i]
		}
	}
	// dT[b,r,i] = Σ_j T[b,r,j] S[j,i]; S is symmetric.
	MatMul(dt, t, s, B*R, C, C, false, false)
	n := R * C
	for b := 0; b < B; b++ {
		Scale(dt[b*n:(b+1)*n], dt[b*n:(b+1)*n], gout[b])
	}
}

// QuadFormGradGBLAS is QuadFormGradG through one matrix product:
// dG = Tᵀ diag(gout) T with T as [B·R, C]. u is scratch of B·R·C.
func QuadFormGradGBLAS[T Float](dg, t, gout, u []T, B, R, C int) {
	if len(dg) != C*C || len(t) != B*R*C || len(gout) != B || len(u) != B*R*C {
		panic("kernels: QuadFormGradGBLAS: wrong lengths")
	}
	n := R * C
	for b := 0; b < B; b++ {
		Scale(u[b*n:(b+1)*n], t[b*n:(b+1)*n], gout[b])
	}
	MatMul(dg, t, u, C, C, B*R, true, false)
}

// The blocked forms of the quadratic-form kernels, which the VMs run: the
// same products as the *BLAS forms, but
//
//   - without the rows of T that are zero (with ReLU units, the rows of
//     the code units that are off: about half), which add nothing to the
//     penalty or its gradients: the other rows are copied together into
//     scratch, and the products run on them alone;
//   - a chunk of rows at a time (about 128 KiB), so that a product's
//     result is still in the core's cache when the pass that follows (a
//     dot product per sample, a scaling) reads it, with that pass handed
//     to BLAS too.
//
// Zero rows are left out only where that cannot change a result: while G
// (G + Gᵀ) is finite, and, for the gradients, for samples whose gout[b]
// is finite (0·Inf is NaN). The scratch is two chunks and a [C, C]
// matrix (QuadFormScratch), so a caller can run row blocks of a batch at
// once, each on its own scratch; QuadFormGradGBlocked's blocks are partial
// sums.

// qfChunkValues is about how many values of T a blocked kernel hands one
// matrix product: 128 KiB of float32, a quarter of a Zen 3 core's L2.
const qfChunkValues = 1 << 15

// QuadFormChunk is the number of samples of R×C values whose rows the
// blocked kernels hand one matrix product, at most.
func QuadFormChunk(R, C int) int { return max(1, qfChunkValues/max(1, R*C)) }

// QuadFormScratch is the length of the scratch that QuadFormBlocked,
// QuadFormGradTBlocked and QuadFormGradGBlocked need for B samples of R×C
// values: two chunks and a [C, C] matrix.
func QuadFormScratch(B, R, C int) int { return 2*min(B, QuadFormChunk(R, C))*R*C + C*C }

// QuadFormBlocked is QuadForm. When the symmetric part of G is positive
// definite (a Gram matrix is), with its Cholesky factor G = L Lᵀ:
// out[b] = ‖T'_b L‖²_F for the nonzero rows T'_b, with T' L a triangular
// product (half a matrix product's work) in place; else U = T' G, then
// out[b] = ⟨T'_b, U_b⟩. u is scratch of at least QuadFormScratch(B, R, C).
func QuadFormBlocked[T Float](out, t, g, u []T, B, R, C int) {
	n := R * C
	if len(out) != B || len(t) != B*n || len(g) != C*C || len(u) < QuadFormScratch(B, R, C) {
		panic("kernels: QuadFormBlocked: wrong lengths")
	}
	capRows := min(B, QuadFormChunk(R, C)) * R
	l := u[len(u)-C*C:]
	// With caetrain's own gemm a full product by G beats BLAS's
	// triangular one (gonum's Strmm is plain Go) though it does twice the work.
	chol := !ownSgemm[T]() && B*R >= qfCholRows*C && cholesky(l, g, C)
	tp, up := u[:capRows*C], u[capRows*C:2*capRows*C]
	if chol { // the product is in place: both chunks for rows
		tp, capRows = u[:2*capRows*C], 2*capRows
	}
	flush := func(out []T, rows int) {
		if chol {
			trmmLower(rows, C, l, tp[:rows*C])
		} else {
			MatMul(up[:rows*C], tp[:rows*C], g, rows, C, C, false, false)
		}
		p := 0
		for b, k := range out {
			m := int(k) * C
			if chol {
				out[b] = dot(tp[p:p+m], tp[p:p+m])
			} else {
				out[b] = dot(tp[p:p+m], up[p:p+m])
			}
			p += m
		}
	}
	skip := finite(g)
	rows, first := 0, 0 // rows of tp filled, from samples [first, b)
	for b := 0; b < B; b++ {
		if rows+R > capRows {
			flush(out[first:b], rows)
			rows, first = 0, b
		}
		kept := 0
		for r := 0; r < R; r++ {
			row := t[b*n+r*C : b*n+(r+1)*C]
			if skip && zeroRow(row) {
				continue
			}
			copy(tp[(rows+kept)*C:], row)
			kept++
		}
		rows += kept
		out[b] = T(kept) // the sample's rows in tp, read back by flush
	}
	flush(out[first:], rows)
}

// qfCholRows·C is the fewest rows of T for which QuadFormBlocked factors
// G: the factorization (C³/3 flops in plain Go, about 50 µs for C = 64)
// costs what the triangular product saves on half as many rows (half of
// them zero).
const qfCholRows = 32

// cholesky sets the lower triangle of l [C, C] to the Cholesky factor L of
// the symmetric part of g, (G + Gᵀ)/2 = L Lᵀ, computed in float64, and
// reports whether it is positive definite (false also for a G that is
// not finite). Up to C = 64 it works on the stack. (gonum's lapack64.Potrf
// computes the same factor, but its slices escape through the lapack64
// interface: a 32 KB allocation per training step for C = 64, where these
// twenty lines allocate nothing.)
func cholesky[T Float](l, g []T, C int) bool {
	if C > 64 {
		return choleskyIn(l, g, C)
	}
	var buf [64 * 64]float64
	w := buf[:C*C]
	for i := 0; i < C; i++ {
		for j := 0; j <= i; j++ {
			v := (float64(g[i*C+j]) + float64(g[j*C+i])) / 2
			w[i*C+j], w[j*C+i] = v, v
		}
	}
	if !choleskyIn(w, w, C) {
		return false
	}
	for i := 0; i < C; i++ {
		for j := 0; j <= i; j++ {
			l[i*C+j] = T(w[i*C+j])
		}
	}
	return true
}

// choleskyIn is cholesky computed in l itself (g may be l: it reads
// g[i,j] and g[j,i] for i > j before it writes l[i,j], and never writes
// the upper triangle).
func choleskyIn[T Float](l, g []T, C int) bool {
	for j := 0; j < C; j++ {
		lj := l[j*C : j*C+j]
		s := float64(g[j*C+j]) - dot64(lj, lj)
		if !(s > 0) || math.IsInf(s, 1) {
			return false
		}
		d := math.Sqrt(s)
		l[j*C+j] = T(d)
		r := 1 / d
		for i := j + 1; i < C; i++ {
			s := (float64(g[i*C+j])+float64(g[j*C+i]))/2 - dot64(l[i*C:i*C+j], lj)
			l[i*C+j] = T(s * r)
		}
	}
	return true
}

// trmmLower is b = b·L for b [m, n] and the lower triangle L of l [n, n].
func trmmLower[T Float](m, n int, l, b []T) {
	if m == 0 || n == 0 {
		return
	}
	switch b := any(b).(type) {
	case []float32:
		blas32.Implementation().Strmm(blas.Right, blas.Lower, blas.NoTrans, blas.NonUnit, m, n, 1, any(l).([]float32), n, b, n)
	case []float64:
		blas64.Implementation().Dtrmm(blas.Right, blas.Lower, blas.NoTrans, blas.NonUnit, m, n, 1, any(l).([]float64), n, b, n)
	}
}

// QuadFormGradTBlocked is QuadFormGradT: dT_b = gout[b] · T_b S with
// S = G + Gᵀ (in scratch; 2G when G is symmetric), the product taken on
// the nonzero rows only, into dt, then spread to their places. u is
// scratch of at least QuadFormScratch(B, R, C).
func QuadFormGradTBlocked[T Float](dt, t, g, gout, u []T, B, R, C int) {
	if len(dt) != B*R*C || len(t) != B*R*C || len(g) != C*C || len(gout) != B || len(u) < QuadFormScratch(B, R, C) {
		panic("kernels: QuadFormGradTBlocked: wrong lengths")
	}
	if symmetric(g, C) {
		quadFormGradT(dt, t, g, gout, u, 2, B, R, C)
		return
	}
	s := u[len(u)-C*C:]
	for i := 0; i < C; i++ {
		for j := 0; j < C; j++ {
			s[i*C+j] = g[i*C+j] + g[j*C+i]
		}
	}
	quadFormGradT(dt, t, s, gout, u[:len(u)-C*C], 1, B, R, C)
}

// quadFormGradT is dT_b = f·gout[b] · T_b G. The first half of u holds
// the nonzero rows, the second whether each row of the chunk is one of
// them.
func quadFormGradT[T Float](dt, t, g, gout, u []T, f T, B, R, C int) {
	n := R * C
	if n == 0 {
		return
	}
	capRows := min(B, QuadFormChunk(R, C)) * R
	tp, kept := u[:capRows*C], u[capRows*C:2*capRows*C]
	skip := finite(g)
	rows, first := 0, 0 // rows of tp filled, from samples [first, b)
	flush := func(end int) {
		d := dt[first*n : end*n]
		MatMul(d[:rows*C], tp[:rows*C], g, rows, C, C, false, false)
		// Spread the rows to their places, from the last: row p of the
		// product goes to a row at or after p.
		p := rows
		for b := end - 1; b >= first; b-- {
			for r := R - 1; r >= 0; r-- {
				i := (b-first)*R + r
				k := i * C
				if kept[i] == 0 {
					clear(d[k : k+C])
					continue
				}
				p--
				if p*C != k {
					copy(d[k:k+C], d[p*C:(p+1)*C])
				}
			}
			scal(d[(b-first)*n:(b-first+1)*n], f*gout[b])
		}
	}
	for b := 0; b < B; b++ {
		if rows+R > capRows || (b+1-first)*R > len(kept) {
			flush(b)
			rows, first = 0, b
		}
		skipB := skip && finite1(gout[b])
		for r := 0; r < R; r++ {
			row := t[b*n+r*C : b*n+(r+1)*C]
			i := (b-first)*R + r
			if skipB && zeroRow(row) {
				kept[i] = 0
				continue
			}
			kept[i] = 1
			copy(tp[rows*C:], row)
			rows++
		}
	}
	flush(B)
}

// QuadFormGradGBlocked is QuadFormGradG: dg = Σ_b gout[b] T_bᵀ T_b,
// computed as Uᵀ U − Vᵀ V (symmetric rank-k updates, half a matrix product
// each) with U's rows the nonzero rows of the samples with gout[b] ≥ 0
// scaled by √gout[b] and V's those of the others scaled by √−gout[b];
// then the lower triangle is copied to the upper. u is scratch of at
// least QuadFormScratch(B, R, C).
func QuadFormGradGBlocked[T Float](dg, t, gout, u []T, B, R, C int) {
	n := R * C
	if len(dg) != C*C || len(t) != B*n || len(gout) != B || len(u) < QuadFormScratch(B, R, C) {
		panic("kernels: QuadFormGradGBlocked: wrong lengths")
	}
	capRows := min(B, QuadFormChunk(R, C)) * R
	u = u[:capRows*C]
	clear(dg)
	// U fills u from the top, V from the bottom.
	pos, neg := 0, 0
	flush := func() {
		syrkLowerT(C, pos, 1, u[:pos*C], dg)
		syrkLowerT(C, neg, -1, u[(capRows-neg)*C:], dg)
		pos, neg = 0, 0
	}
	for b := 0; b < B; b++ {
		if pos+neg+R > capRows {
			flush()
		}
		gb := gout[b]
		skip := finite1(gb)
		s := T(math.Sqrt(math.Abs(float64(gb))))
		for r := 0; r < R; r++ {
			row := t[b*n+r*C : b*n+(r+1)*C]
			if skip && zeroRow(row) {
				continue
			}
			if gb >= 0 {
				scaleTo(u[pos*C:(pos+1)*C], row, s)
				pos++
			} else { // NaN too
				neg++
				scaleTo(u[(capRows-neg)*C:(capRows-neg+1)*C], row, s)
			}
		}
	}
	flush()
	for i := 0; i < C; i++ {
		for j := 0; j < i; j++ {
			dg[j*C+i] = dg[i*C+j]
		}
	}
}

// zeroRow reports whether every value of x is zero (of either sign). It
// reads the values' bits, 64 at a time (two float32 when they are 8-byte
// aligned, as a row of an even number of them is in a Go slice).
func zeroRow[T Float](x []T) bool {
	var w []uint64
	var signs uint64
	switch x := any(x).(type) {
	case []float32:
		if len(x) >= 2 && uintptr(unsafe.Pointer(&x[0]))%8 == 0 {
			w, signs = unsafe.Slice((*uint64)(unsafe.Pointer(&x[0])), len(x)/2), 1<<63|1<<31
			if len(x)%2 == 1 && x[len(x)-1] != 0 {
				return false
			}
		} else {
			for _, v := range x {
				if v != 0 {
					return false
				}
			}
			return true
		}
	case []float64:
		if len(x) == 0 {
			return true
		}
		w, signs = unsafe.Slice((*uint64)(unsafe.Pointer(&x[0])), len(x)), 1<<63
	}
	for len(w) >= 4 {
		if (w[0]|w[1]|w[2]|w[3])&^signs != 0 {
			return false
		}
		w = w[4:]
	}
	for _, v := range w {
		if v&^signs != 0 {
			return false
		}
	}
	return true
}

// finite reports whether every value of x is finite.
func finite[T Float](x []T) bool {
	for _, v := range x {
		if !finite1(v) {
			return false
		}
	}
	return true
}

func finite1[T Float](v T) bool { return v-v == 0 }

// symmetric reports whether the [C, C] matrix g equals its transpose.
func symmetric[T Float](g []T, C int) bool {
	for i := 0; i < C; i++ {
		for j := 0; j < i; j++ {
			if g[i*C+j] != g[j*C+i] {
				return false
			}
		}
	}
	return true
}

// dot is Σ x[i]·y[i] through BLAS.
func dot[T Float](x, y []T) T {
	if len(x) != len(y) {
		panic("kernels: dot: wrong lengths")
	}
	if len(x) == 0 {
		return 0
	}
	switch x := any(x).(type) {
	case []float32:
		return T(blas32.Implementation().Sdot(len(x), x, 1, any(y).([]float32), 1))
	case []float64:
		return T(blas64.Implementation().Ddot(len(x), x, 1, any(y).([]float64), 1))
	}
	panic("unreachable")
}

// scal is x = s·x through BLAS, but for s = 0, which BLAS may take as
// x = 0 (and so turn NaN and Inf into zeros).
func scal[T Float](x []T, s T) {
	if s == 0 {
		for i := range x {
			x[i] *= 0
		}
		return
	}
	if len(x) == 0 {
		return
	}
	switch x := any(x).(type) {
	case []float32:
		blas32.Implementation().Sscal(len(x), float32(s), x, 1)
	case []float64:
		blas64.Implementation().Dscal(len(x), float64(s), x, 1)
	}
}

// scaleTo is out = s·x.
func scaleTo[T Float](out, x []T, s T) {
	x = x[:len(out)]
	for i, v := range x {
		out[i] = s * v
	}
}

// syrkLowerT is the lower triangle of c [n, n] += alpha·aᵀa for a [k, n],
// row-major, serially (gonum's syrk never starts goroutines).
func syrkLowerT[T Float](n, k int, alpha T, a, c []T) {
	if n == 0 || k == 0 {
		return
	}
	switch a := any(a).(type) {
	case []float32:
		if alpha == 1 && ownSgemm[T]() {
			// the whole of c += aᵀa: twice syrk's work, at the
			// gemm's speed (gonum's Ssyrk is plain Go); both
			// triangles come out the same, bit for bit (the same
			// products summed in the same order).
			gemm.Sgemm(true, false, n, n, k, a, n, a, n, true, any(c).([]float32), n)
			return
		}
		blas32.Implementation().Ssyrk(blas.Lower, blas.Trans, n, k, float32(alpha), a, n, 1, any(c).([]float32), n)
	case []float64:
		blas64.Implementation().Dsyrk(blas.Lower, blas.Trans, n, k, float64(alpha), a, n, 1, any(c).([]float64), n)
	}
}
