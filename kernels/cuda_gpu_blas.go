// SPDX-License-Identifier: Apache-2.0

//go:build gpu

package kernels

import (
	"fmt"
	"unsafe"

	"gonum.org/v1/gonum/blas"
)

// MatMul is MatMul on the device, through cuBLAS's cublasSgemm: the
// row-major product c = op(a)·op(b), op(x) = xᵀ when its flag is set.
// c: [m, n]; op(a): [m, k]; op(b): [k, n]; a is stored [m, k] ([k, m]
// when ta), b [k, n] ([n, k] when tb). c must not be a or b.
//
// cuBLAS is column-major, and a row-major matrix read as column-major is
// its transpose. So the row-major C = op(A)·op(B) is computed as the
// column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: Sgemm is called with the operands
// swapped (B first), m and n swapped, the same transpose flags, and
// leading dimensions that are the row-major row lengths (ldb = n, or k
// when tb; lda = k, or m when ta; ldc = n).
//
// cuBLAS's default math mode keeps float32 products and sums in float32
// (no TF32 unless NVIDIA_TF32_OVERRIDE or the handle asks for it, and
// caetrain's does not); results match MatMulRef within float32 rounding,
// and are bitwise reproducible on one GPU model and cuBLAS version. With
// k = 0, c is zeroed.
func (d *Device) MatMul(c, a, b Buf, m, n, k int, ta, tb bool) error {
	if c.N != m*n || a.N != m*k || b.N != k*n {
		panic("kernels: MatMul: wrong lengths")
	}
	for _, s := range [][2]int{{m, n}, {m, k}, {k, n}} {
		if err := fits("cublasSgemm", s[0], s[1]); err != nil {
			return err
		}
	}
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 {
		return d.Zero(c)
	}
	tA, lda := blas.NoTrans, k
	if ta {
		tA, lda = blas.Trans, m
	}
	tB, ldb := blas.NoTrans, n
	if tb {
		tB, ldb = blas.Trans, k
	}
	if err := d.enter(); err != nil {
		return fmt.Errorf("kernels: cublasSgemm: %w", err)
	}
	defer d.exit()
	d.blas.Sgemm(tB, tA, n, m, k, 1, devSlice(b), ldb, devSlice(a), lda, 0, devSlice(c), n)
	if err := d.blas.Err(); err != nil {
		return fmt.Errorf("kernels: cublasSgemm (%d×%d×%d, ta %v, tb %v): %w", m, n, k, ta, tb, err)
	}
	return nil
}

// devSlice is a []float32 header over b's device memory, for cu/blas,
// whose gonum-style methods take slices and pass &s[0] to cuBLAS as the
// device pointer. Go never reads or writes through it: it points outside
// the Go heap, where the garbage collector ignores it.
func devSlice(b Buf) []float32 {
	p := uintptr(b.Ptr)
	return unsafe.Slice((*float32)(*(*unsafe.Pointer)(unsafe.Pointer(&p))), b.N)
}

// QuadFormBLAS is QuadFormBLAS on the device: U = T·G (cublasSgemm), then
// out[b] = Σ_{r,i} T[b,r,i]·U[b,r,i] (SampleDot). out: [B]; t: [B, R, C];
// g: [C, C]; u: scratch of B·R·C.
func (d *Device) QuadFormBLAS(out, t, g, u Buf, B, R, C int) error {
	if out.N != B || t.N != B*R*C || g.N != C*C || u.N != B*R*C {
		panic("kernels: QuadFormBLAS: wrong lengths")
	}
	if err := fits(kSampleDot, B, R, C); err != nil {
		return err
	}
	if err := d.MatMul(u, t, g, B*R, C, C, false, false); err != nil {
		return err
	}
	return d.SampleDot(out, t, u, B, R*C)
}

// QuadFormGradTBLAS is QuadFormGradTBLAS on the device: S = G + Gᵀ
// (AddTranspose), dT = T·S (cublasSgemm), then dT_b ·= gout[b]
// (ScaleRows, in place). dt, t: [B, R, C]; g: [C, C]; gout: [B]; s:
// scratch of C·C.
func (d *Device) QuadFormGradTBLAS(dt, t, g, gout, s Buf, B, R, C int) error {
	if dt.N != B*R*C || t.N != B*R*C || g.N != C*C || gout.N != B || s.N != C*C {
		panic("kernels: QuadFormGradTBLAS: wrong lengths")
	}
	if err := fits(kScaleRows, B, R, C); err != nil {
		return err
	}
	if err := d.AddTranspose(s, g, C); err != nil {
		return err
	}
	if err := d.MatMul(dt, t, s, B*R, C, C, false, false); err != nil {
		return err
	}
	return d.ScaleRows(dt, dt, gout, B, R*C)
}

// QuadFormGradGBLAS is QuadFormGradGBLAS on the device:
// U_b = gout[b]·T_b (ScaleRows), then dG = Tᵀ·U (cublasSgemm) with T as
// [B·R, C]. dg: [C, C]; t: [B, R, C]; gout: [B]; u: scratch of B·R·C.
func (d *Device) QuadFormGradGBLAS(dg, t, gout, u Buf, B, R, C int) error {
	if dg.N != C*C || t.N != B*R*C || gout.N != B || u.N != B*R*C {
		panic("kernels: QuadFormGradGBLAS: wrong lengths")
	}
	if err := fits(kScaleRows, B, R, C); err != nil {
		return err
	}
	if err := d.ScaleRows(u, t, gout, B, R*C); err != nil {
		return err
	}
	return d.MatMul(dg, t, u, C, C, B*R, true, false)
}
