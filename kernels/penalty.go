// SPDX-License-Identifier: Apache-2.0

package kernels

// The contractive penalty ‖J_h(x)‖²_F, J = M W_1ᵀ, with M the per-sample
// factor D_L W_Lᵀ ⋯ W_2ᵀ D_1 (see package graph). For one layer M = D_1 and
// the penalty is DiagPen; for more, M is built by OuterScale, then MatMul
// and ScaleCols per layer, and the penalty is QuadForm.

// ColSumSq is out[j] = Σ_i w[i,j]². out: [n1]; w: [n0, n1].
func ColSumSq[T Float](out, w []T, n0, n1 int) {
	if len(out) != n1 || len(w) != n0*n1 {
		panic("kernels: ColSumSq: wrong lengths")
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
