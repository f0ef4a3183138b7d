// SPDX-License-Identifier: Apache-2.0

package kernels

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
