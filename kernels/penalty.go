// SPDX-License-Identifier: Apache-2.0

package kernels

import "github.com/caetrain/caetrain/kernels/internal/vec"

// The contractive penalty ‖J_h(x)‖²_F, J = M W_1ᵀ, with M the per-sample
// factor D_L W_Lᵀ ⋯ W_2ᵀ D_1 (see package graph). For one layer M = D_1 and
// the penalty is DiagPen; for more, M is built by OuterScale, then MatMul
// and ScaleCols per layer, and the penalty is QuadForm.

// ColSumSq is out[j] = Σ_i w[i,j]². out: [n1]; w: [n0, n1].
func ColSumSq[T Float](out, w []T, n0, n1 int) {
	if len(out) != n1 || len(w) != n0*n1 {
		panic("kernels: ColSumSq: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok {
		colSumSq32(o, any(w).([]float32), n0, n1)
		return
	}
	clear(out)
	for i := 0; i < n0; i++ {
		for j, v := range w[i*n1 : (i+1)*n1] {
			out[j] += v * v
		}
	}
}

// ColSumSqGrad is the gradient of Σ_j g[j]·ColSumSq[j] with respect to w:
// out[i,j] = 2·w[i,j]·g[j]. out, w: [n0, n1]; g: [n1].
func ColSumSqGrad[T Float](out, w, g []T, n0, n1 int) {
	if len(out) != n0*n1 || len(w) != n0*n1 || len(g) != n1 {
		panic("kernels: ColSumSqGrad: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok {
		colSumSqGrad32(o, any(w).([]float32), any(g).([]float32), n0, n1)
		return
	}
	for i := 0; i < n0; i++ {
		o, wr := out[i*n1:(i+1)*n1], w[i*n1:(i+1)*n1]
		for j, gj := range g {
			o[j] = 2 * wr[j] * gj
		}
	}
}

// DiagPen is the one-layer penalty (Rifai et al., 2011, any activation):
//
//	out[b] = Σ_j d[b,j]² c[j],   c[j] = Σ_i W_ij² (ColSumSq)
//
// out: [B]; d: [B, n]; c: [n].
func DiagPen[T Float](out, d, c []T, B, n int) {
	if len(out) != B || len(d) != B*n || len(c) != n {
		panic("kernels: DiagPen: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok {
		diagPen32(o, any(d).([]float32), any(c).([]float32), B, n)
		return
	}
	for b := 0; b < B; b++ {
		var s T
		for j, v := range d[b*n : (b+1)*n] {
			s += v * v * c[j]
		}
		out[b] = s
	}
}

// DiagPenGradD is the gradient of Σ_b g[b]·DiagPen[b] with respect to d:
// out[b,j] = 2·g[b]·d[b,j]·c[j]. out, d: [B, n]; c: [n]; g: [B].
func DiagPenGradD[T Float](out, d, c, g []T, B, n int) {
	if len(out) != B*n || len(d) != B*n || len(c) != n || len(g) != B {
		panic("kernels: DiagPenGradD: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok {
		diagPenGradD32(o, any(d).([]float32), any(c).([]float32), any(g).([]float32), B, n)
		return
	}
	for b := 0; b < B; b++ {
		o, db := out[b*n:(b+1)*n], d[b*n:(b+1)*n]
		for j, cj := range c {
			o[j] = 2 * g[b] * db[j] * cj
		}
	}
}

// DiagPenGradC is the gradient of Σ_b g[b]·DiagPen[b] with respect to c:
// out[j] = Σ_b g[b]·d[b,j]². out: [n]; d: [B, n]; g: [B].
func DiagPenGradC[T Float](out, d, g []T, B, n int) {
	if len(out) != n || len(d) != B*n || len(g) != B {
		panic("kernels: DiagPenGradC: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok {
		diagPenGradC32(o, any(d).([]float32), any(g).([]float32), B, n)
		return
	}
	clear(out)
	for b := 0; b < B; b++ {
		for j, v := range d[b*n : (b+1)*n] {
			out[j] += g[b] * v * v
		}
	}
}

// OuterScale starts the factor M from the code layer:
//
//	t[b,i,j] = dL[b,i] · w[j,i] · dP[b,j]
//
// i.e. T_b = D_L W_Lᵀ D_{L−1} with W_L = w [P, nL]. t: [B, nL, P];
// dL: [B, nL]; dP: [B, P].
func OuterScale[T Float](t, dL, w, dP []T, B, nL, P int) {
	if len(t) != B*nL*P || len(dL) != B*nL || len(w) != P*nL || len(dP) != B*P {
		panic("kernels: OuterScale: wrong lengths")
	}
	if o, ok := any(t).([]float32); ok && nL*P <= penStack {
		outerScale32(o, any(dL).([]float32), any(w).([]float32), any(dP).([]float32), B, nL, P)
		return
	}
	for b := 0; b < B; b++ {
		for i := 0; i < nL; i++ {
			row := t[(b*nL+i)*P : (b*nL+i+1)*P]
			di := dL[b*nL+i]
			for j := range row {
				row[j] = di * w[j*nL+i] * dP[b*P+j]
			}
		}
	}
}

// OuterScaleGradDL: out[b,i] = Σ_j g[b,i,j]·w[j,i]·dP[b,j].
func OuterScaleGradDL[T Float](out, g, w, dP []T, B, nL, P int) {
	if len(out) != B*nL || len(g) != B*nL*P || len(w) != P*nL || len(dP) != B*P {
		panic("kernels: OuterScaleGradDL: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok && nL*P <= penStack {
		outerScaleGradDL32(o, any(g).([]float32), any(w).([]float32), any(dP).([]float32), B, nL, P)
		return
	}
	for b := 0; b < B; b++ {
		for i := 0; i < nL; i++ {
			row := g[(b*nL+i)*P : (b*nL+i+1)*P]
			var s T
			for j, gv := range row {
				s += gv * w[j*nL+i] * dP[b*P+j]
			}
			out[b*nL+i] = s
		}
	}
}

// OuterScaleGradW: out[j,i] = Σ_b g[b,i,j]·dL[b,i]·dP[b,j]. out: [P, nL].
func OuterScaleGradW[T Float](out, g, dL, dP []T, B, nL, P int) {
	if len(out) != P*nL || len(g) != B*nL*P || len(dL) != B*nL || len(dP) != B*P {
		panic("kernels: OuterScaleGradW: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok && nL*P <= penStack {
		outerScaleGradW32(o, any(g).([]float32), any(dL).([]float32), any(dP).([]float32), B, nL, P)
		return
	}
	clear(out)
	for b := 0; b < B; b++ {
		for i := 0; i < nL; i++ {
			row := g[(b*nL+i)*P : (b*nL+i+1)*P]
			di := dL[b*nL+i]
			for j, gv := range row {
				out[j*nL+i] += gv * di * dP[b*P+j]
			}
		}
	}
}

// OuterScaleGradDP: out[b,j] = Σ_i g[b,i,j]·dL[b,i]·w[j,i]. out: [B, P].
func OuterScaleGradDP[T Float](out, g, dL, w []T, B, nL, P int) {
	if len(out) != B*P || len(g) != B*nL*P || len(dL) != B*nL || len(w) != P*nL {
		panic("kernels: OuterScaleGradDP: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok && nL*P <= penStack {
		outerScaleGradDP32(o, any(g).([]float32), any(dL).([]float32), any(w).([]float32), B, nL, P)
		return
	}
	clear(out)
	for b := 0; b < B; b++ {
		o := out[b*P : (b+1)*P]
		for i := 0; i < nL; i++ {
			row := g[(b*nL+i)*P : (b*nL+i+1)*P]
			di := dL[b*nL+i]
			for j, gv := range row {
				o[j] += gv * di * w[j*nL+i]
			}
		}
	}
}

// ScaleCols scales each sample's columns: out[b,r,c] = p[b,r,c]·d[b,c].
// out, p: [B, R, C]; d: [B, C].
func ScaleCols[T Float](out, p, d []T, B, R, C int) {
	if len(out) != B*R*C || len(p) != B*R*C || len(d) != B*C {
		panic("kernels: ScaleCols: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok {
		scaleCols32(o, any(p).([]float32), any(d).([]float32), B, R, C)
		return
	}
	for b := 0; b < B; b++ {
		db := d[b*C : (b+1)*C]
		for r := 0; r < R; r++ {
			off := (b*R + r) * C
			o, pr := out[off:off+C], p[off:off+C]
			for c, v := range db {
				o[c] = pr[c] * v
			}
		}
	}
}

// RowDot is the gradient of ScaleCols with respect to d:
// out[b,c] = Σ_r g[b,r,c]·p[b,r,c]. out: [B, C]; g, p: [B, R, C].
func RowDot[T Float](out, g, p []T, B, R, C int) {
	if len(out) != B*C || len(g) != B*R*C || len(p) != B*R*C {
		panic("kernels: RowDot: wrong lengths")
	}
	if o, ok := any(out).([]float32); ok {
		rowDot32(o, any(g).([]float32), any(p).([]float32), B, R, C)
		return
	}
	clear(out)
	for b := 0; b < B; b++ {
		o := out[b*C : (b+1)*C]
		for r := 0; r < R; r++ {
			off := (b*R + r) * C
			gr, pr := g[off:off+C], p[off:off+C]
			for c := range o {
				o[c] += gr[c] * pr[c]
			}
		}
	}
}

// The float32 versions of the penalty's element-wise kernels, which the
// generic ones call when T is float32 (the float64 instantiation stays the
// plain specification): loops over whole rows, free of bounds checks, with
// each term computed by the same products, in the same order, as the
// reference. Sums are grouped differently: a row sum that the reference
// accumulates in one variable takes four here, to overlap the additions'
// latency, and a sum over rows into an output row (a column sum) adds
// four rows per pass over the output, which quarters its loads and stores
// (and the stalls when a row and the output are 4 KiB apart).

// penStack bounds the [nL, P] weight transposes and accumulators the
// OuterScale kernels keep on the stack; larger ones run the reference.
const penStack = 4096

// mulTo is o[i] = x[i]·y[i].
func mulTo(o, x, y []float32) { vec.Mul(o, x, y) }

// mulAdd is o[i] += x[i]·y[i].
func mulAdd(o, x, y []float32) {
	x, y = x[:len(o)], y[:len(o)]
	for i := range o {
		o[i] += x[i] * y[i]
	}
}

// scaleMulAdd is o[i] += (x[i]·s)·y[i].
func scaleMulAdd(o, x []float32, s float32, y []float32) {
	x, y = x[:len(o)], y[:len(o)]
	for i := range o {
		o[i] += x[i] * s * y[i]
	}
}

// scaleMulTo is o[i] = (s·x[i])·y[i].
func scaleMulTo(o []float32, s float32, x, y []float32) { vec.ScaleMul(o, s, x, y) }

// dot3 is Σ_i (x[i]·y[i])·z[i], in four partial sums.
func dot3(x, y, z []float32) float32 {
	y, z = y[:len(x)], z[:len(x)]
	var s0, s1, s2, s3 float32
	for len(x) >= 4 && len(y) >= 4 && len(z) >= 4 {
		s0 += x[0] * y[0] * z[0]
		s1 += x[1] * y[1] * z[1]
		s2 += x[2] * y[2] * z[2]
		s3 += x[3] * y[3] * z[3]
		x, y, z = x[4:], y[4:], z[4:]
	}
	for i, v := range x {
		s0 += v * y[i] * z[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// transpose is wt [c, r] = wᵀ for w [r, c].
func transpose(wt, w []float32, r, c int) {
	wt, w = wt[:r*c], w[:r*c]
	for i := 0; i < r; i++ {
		row := w[i*c : (i+1)*c]
		for j, v := range row {
			wt[j*r+i] = v
		}
	}
}

// rows4 is rows i..i+3 of x [_, n], each cut to n values.
func rows4(x []float32, i, n int) (r0, r1, r2, r3 []float32) {
	r0, r1, r2, r3 = x[i*n:(i+1)*n], x[(i+1)*n:(i+2)*n], x[(i+2)*n:(i+3)*n], x[(i+3)*n:(i+4)*n]
	return r0[:n], r1[:n], r2[:n], r3[:n]
}

func colSumSq32(out, w []float32, n0, n1 int) {
	clear(out)
	i := 0
	for ; i+4 <= n0; i += 4 {
		w0, w1, w2, w3 := rows4(w, i, len(out))
		vec.AddSq4(out, w0, w1, w2, w3)
	}
	for ; i < n0; i++ {
		mulAdd(out, w[i*n1:(i+1)*n1], w[i*n1:(i+1)*n1])
	}
}

func colSumSqGrad32(out, w, g []float32, n0, n1 int) {
	for i := 0; i < n0; i++ {
		scaleMulTo(out[i*n1:(i+1)*n1], 2, w[i*n1:(i+1)*n1], g)
	}
}

func diagPen32(out, d, c []float32, B, n int) {
	for b := range out[:B] {
		db := d[b*n : (b+1)*n]
		out[b] = dot3(db, db, c)
	}
}

func diagPenGradD32(out, d, c, g []float32, B, n int) {
	for b := 0; b < B; b++ {
		scaleMulTo(out[b*n:(b+1)*n], 2*g[b], d[b*n:(b+1)*n], c)
	}
}

func diagPenGradC32(out, d, g []float32, B, n int) {
	clear(out)
	b := 0
	for ; b+4 <= B; b += 4 {
		d0, d1, d2, d3 := rows4(d, b, len(out))
		g0, g1, g2, g3 := g[b], g[b+1], g[b+2], g[b+3]
		for j := range out {
			out[j] += (g0*d0[j]*d0[j] + g1*d1[j]*d1[j]) + (g2*d2[j]*d2[j] + g3*d3[j]*d3[j])
		}
	}
	for ; b < B; b++ {
		db := d[b*n : (b+1)*n]
		scaleMulAdd(out, db, g[b], db)
	}
}

func outerScale32(t, dL, w, dP []float32, B, nL, P int) {
	var buf [penStack]float32
	wt := buf[:nL*P] // [nL, P]: wt[i,j] = w[j,i]
	transpose(wt, w, P, nL)
	for b := 0; b < B; b++ {
		dp := dP[b*P : (b+1)*P]
		for i, di := range dL[b*nL : (b+1)*nL] {
			off := (b*nL + i) * P
			scaleMulTo(t[off:off+P], di, wt[i*P:(i+1)*P], dp)
		}
	}
}

func outerScaleGradDL32(out, g, w, dP []float32, B, nL, P int) {
	var buf [penStack]float32
	wt := buf[:nL*P]
	transpose(wt, w, P, nL)
	for b := 0; b < B; b++ {
		dp := dP[b*P : (b+1)*P]
		o := out[b*nL : (b+1)*nL]
		for i := range o {
			off := (b*nL + i) * P
			o[i] = dot3(g[off:off+P], wt[i*P:(i+1)*P], dp)
		}
	}
}

func outerScaleGradW32(out, g, dL, dP []float32, B, nL, P int) {
	var buf [penStack]float32
	acc := buf[:nL*P] // [nL, P], out transposed
	b := 0
	for ; b+4 <= B; b += 4 {
		p0, p1, p2, p3 := rows4(dP, b, P)
		for i := 0; i < nL; i++ {
			a := acc[i*P : (i+1)*P]
			s0, s1, s2, s3 := dL[b*nL+i], dL[(b+1)*nL+i], dL[(b+2)*nL+i], dL[(b+3)*nL+i]
			g0, g1, g2, g3 := g[(b*nL+i)*P:], g[((b+1)*nL+i)*P:], g[((b+2)*nL+i)*P:], g[((b+3)*nL+i)*P:]
			g0, g1, g2, g3 = g0[:len(a)], g1[:len(a)], g2[:len(a)], g3[:len(a)]
			p0, p1, p2, p3 := p0[:len(a)], p1[:len(a)], p2[:len(a)], p3[:len(a)]
			for j := range a {
				a[j] += (g0[j]*s0*p0[j] + g1[j]*s1*p1[j]) + (g2[j]*s2*p2[j] + g3[j]*s3*p3[j])
			}
		}
	}
	for ; b < B; b++ {
		dp := dP[b*P : (b+1)*P]
		for i, di := range dL[b*nL : (b+1)*nL] {
			off := (b*nL + i) * P
			scaleMulAdd(acc[i*P:(i+1)*P], g[off:off+P], di, dp)
		}
	}
	transpose(out, acc, nL, P)
}

func outerScaleGradDP32(out, g, dL, w []float32, B, nL, P int) {
	var buf [penStack]float32
	wt := buf[:nL*P]
	transpose(wt, w, P, nL)
	clear(out)
	for b := 0; b < B; b++ {
		o := out[b*P : (b+1)*P]
		gb, dl := g[b*nL*P:(b+1)*nL*P], dL[b*nL:(b+1)*nL]
		i := 0
		for ; i+4 <= nL; i += 4 {
			g0, g1, g2, g3 := rows4(gb, i, len(o))
			w0, w1, w2, w3 := rows4(wt, i, len(o))
			s0, s1, s2, s3 := dl[i], dl[i+1], dl[i+2], dl[i+3]
			for j := range o {
				o[j] += (g0[j]*s0*w0[j] + g1[j]*s1*w1[j]) + (g2[j]*s2*w2[j] + g3[j]*s3*w3[j])
			}
		}
		for ; i < nL; i++ {
			scaleMulAdd(o, gb[i*P:(i+1)*P], dl[i], wt[i*P:(i+1)*P])
		}
	}
}

func scaleCols32(out, p, d []float32, B, R, C int) {
	for b := 0; b < B; b++ {
		db := d[b*C : (b+1)*C]
		for r := 0; r < R; r++ {
			off := (b*R + r) * C
			mulTo(out[off:off+C], p[off:off+C], db)
		}
	}
}

func rowDot32(out, g, p []float32, B, R, C int) {
	clear(out)
	for b := 0; b < B; b++ {
		o := out[b*C : (b+1)*C]
		gb, pb := g[b*R*C:(b+1)*R*C], p[b*R*C:(b+1)*R*C]
		r := 0
		for ; r+4 <= R; r += 4 {
			g0, g1, g2, g3 := rows4(gb, r, len(o))
			p0, p1, p2, p3 := rows4(pb, r, len(o))
			for c := range o {
				o[c] += (g0[c]*p0[c] + g1[c]*p1[c]) + (g2[c]*p2[c] + g3[c]*p3[c])
			}
		}
		for ; r < R; r++ {
			mulAdd(o, gb[r*C:(r+1)*C], pb[r*C:(r+1)*C])
		}
	}
}
