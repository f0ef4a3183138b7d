// SPDX-License-Identifier: Apache-2.0

package gemm

// packA packs rows [i0, i0+mc) and columns [p0, p0+kc) of op(A) into dst:
// ⌈mc/MR⌉ panels of kc×MR, element (i, p) of panel r at dst[r·kc·MR +
// p·MR + i], zero past row mc. op(A)'s (i, p) is a[i·lda+p], or a[p·lda+i]
// when ta.
func packA(dst, a []float32, lda int, ta bool, i0, mc, p0, kc int) {
	for ip := 0; ip < mc; ip += MR {
		rows := min(MR, mc-ip)
		d := dst[ip*kc : ip*kc+kc*MR]
		switch {
		case ta && rows == MR && useAsm:
			src := a[p0*lda+i0+ip:]
			_ = src[(kc-1)*lda+MR-1]
			_ = d[kc*MR-1]
			packCols6(&d[0], &src[0], lda, kc)
		case ta && rows == MR:
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+i0+ip:]
				src = src[:MR:MR]
				dp := d[p*MR : p*MR+MR : p*MR+MR]
				dp[0], dp[1], dp[2], dp[3], dp[4], dp[5] = src[0], src[1], src[2], src[3], src[4], src[5]
			}
		case ta:
			clear(d)
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+i0+ip:]
				for i, v := range src[:rows] {
					d[p*MR+i] = v
				}
			}
		case rows == MR && useAsm:
			src := a[(i0+ip)*lda+p0:]
			_ = src[(MR-1)*lda+kc-1]
			_ = d[kc*MR-1]
			packRows6(&d[0], &src[0], lda, kc)
		case rows == MR:
			r := (i0 + ip) * lda
			r0 := a[r+p0 : r+p0+kc]
			r1 := a[r+lda+p0 : r+lda+p0+kc]
			r2 := a[r+2*lda+p0 : r+2*lda+p0+kc]
			r3 := a[r+3*lda+p0 : r+3*lda+p0+kc]
			r4 := a[r+4*lda+p0 : r+4*lda+p0+kc]
			r5 := a[r+5*lda+p0 : r+5*lda+p0+kc]
			for p := range r0 {
				dp := d[p*MR : p*MR+MR]
				dp[0], dp[1], dp[2], dp[3], dp[4], dp[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
		default:
			clear(d)
			for i := 0; i < rows; i++ {
				src := a[(i0+ip+i)*lda+p0 : (i0+ip+i)*lda+p0+kc]
				for p, v := range src {
					d[p*MR+i] = v
				}
			}
		}
	}
}

// packB packs rows [p0, p0+kc) and columns [j0, j0+nc) of op(B) into dst:
// ⌈nc/NR⌉ panels of kc×NR, element (p, j) of panel r at dst[r·kc·NR +
// p·NR + j], zero past column nc. op(B)'s (p, j) is b[p·ldb+j], or
// b[j·ldb+p] when tb.
func packB(dst, b []float32, ldb int, tb bool, p0, kc, j0, nc int) {
	for jp := 0; jp < nc; jp += NR {
		cols := min(NR, nc-jp)
		d := dst[jp*kc : jp*kc+kc*NR]
		if !tb {
			if cols == NR && useAsm {
				src := b[p0*ldb+j0+jp:]
				_ = src[(kc-1)*ldb+NR-1]
				copyRowsAVX2(&d[0], &src[0], ldb, kc)
				continue
			}
			for p := 0; p < kc; p++ {
				dp := d[p*NR : p*NR+NR]
				copy(dp, b[(p0+p)*ldb+j0+jp:][:cols])
				clear(dp[cols:])
			}
			continue
		}
		if cols < NR {
			clear(d)
		}
		packBT(d, b[(j0+jp)*ldb+p0:], ldb, kc, cols)
	}
}

// packBT packs one panel from B stored transposed: d[p·NR+j] = b[j·ldb+p]
// for p < kc, j < cols; 8×8 blocks go through the assembly transpose.
func packBT(d, b []float32, ldb, kc, cols int) {
	j8, p8 := 0, 0
	if useAsm && kc >= 8 {
		j8, p8 = cols&^7, kc&^7
		for j := 0; j < j8; j += 8 {
			_ = b[(j+7)*ldb+p8-1]
			for p := 0; p < p8; p += 8 {
				transposeAVX2(&d[p*NR+j], NR, &b[j*ldb+p], ldb)
			}
		}
	}
	for j := 0; j < cols; j++ {
		from := p8
		if j >= j8 {
			from = 0
		}
		src := b[j*ldb : j*ldb+kc]
		for p := from; p < kc; p++ {
			d[p*NR+j] = src[p]
		}
	}
}
