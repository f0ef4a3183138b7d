// SPDX-License-Identifier: Apache-2.0

//go:build gpu

package kernels

import (
	"fmt"
	"math"

	"gorgonia.org/cu"
)

// The Device's kernels other than matrix products (cuda_gpu_blas.go). Each
// is the device version of the CPU function it names, which is its
// specification; the CUDA source is in kernels/cuda/<concern>.cu. The
// reference's argument d is called dd here, d being the Device.

// BiasAct is BiasAct on the device (cae_bias_act_f32):
// out[r,j] = φ(xw[r,j] + b[j]). out, xw: [rows, n]; b: [n]. out may be xw.
func (d *Device) BiasAct(out, xw, b Buf, rows, n int, act Act) error {
	if out.N != rows*n || xw.N != rows*n || b.N != n {
		panic("kernels: BiasAct: wrong lengths")
	}
	if err := fits(kBiasAct, rows, n); err != nil || rows*n == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(xw)
	d.ptr(b)
	d.i32(rows)
	d.i32(n)
	d.i32(int(act))
	return d.flat(kBiasAct, rows*n)
}

// ActBackward is ActBackward on the device (cae_act_backward_f32):
// out[i] = g[i]·φ′ from a[i]. out, a, g: [n]. out may be a or g.
func (d *Device) ActBackward(out, a, g Buf, act Act) error {
	if out.N != a.N || g.N != a.N {
		panic("kernels: ActBackward: wrong lengths")
	}
	if err := fits(kActBackward, a.N); err != nil || a.N == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(a)
	d.ptr(g)
	d.i32(a.N)
	d.i32(int(act))
	return d.flat(kActBackward, a.N)
}

// ActDeriv is ActDeriv on the device (cae_act_deriv_f32): out[i] = φ′ from
// a[i]. out, a: [n]. out may be a.
func (d *Device) ActDeriv(out, a Buf, act Act) error {
	if out.N != a.N {
		panic("kernels: ActDeriv: wrong lengths")
	}
	if err := fits(kActDeriv, a.N); err != nil || a.N == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(a)
	d.i32(a.N)
	d.i32(int(act))
	return d.flat(kActDeriv, a.N)
}

// ActDerivBackward is ActDerivBackward on the device
// (cae_act_deriv_backward_f32): out[i] = g[i]·∂φ′/∂a. out, a, g: [n]. out
// may be a or g.
func (d *Device) ActDerivBackward(out, a, g Buf, act Act) error {
	if out.N != a.N || g.N != a.N {
		panic("kernels: ActDerivBackward: wrong lengths")
	}
	if err := fits(kActDerivBackward, a.N); err != nil || a.N == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(a)
	d.ptr(g)
	d.i32(a.N)
	d.i32(int(act))
	return d.flat(kActDerivBackward, a.N)
}

// Apply is Apply on the device (cae_apply_f32): out[i] = φ(z[i]).
// out, z: [n]. out may be z.
func (d *Device) Apply(out, z Buf, act Act) error {
	if out.N != z.N {
		panic("kernels: Apply: wrong lengths")
	}
	if err := fits(kApply, z.N); err != nil || z.N == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(z)
	d.i32(z.N)
	d.i32(int(act))
	return d.flat(kApply, z.N)
}

// ColSum is ColSum on the device (cae_colsum_f32): out[j] = Σ_r x[r,j],
// summed in a fixed order. out: [n]; x: [rows, n].
func (d *Device) ColSum(out, x Buf, rows, n int) error {
	if out.N != n || x.N != rows*n {
		panic("kernels: ColSum: wrong lengths")
	}
	if err := fits(kColSum, rows, n); err != nil || n == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(x)
	d.i32(rows)
	d.i32(n)
	return d.cols(kColSum, n)
}

// ReconLoss is ReconLoss on the device (cae_recon_loss_f32): the
// per-sample loss out[b] = Σ_i ℓ(z[b,i], x[b,i]), SSE or BCE. out: [rows];
// z, x: [rows, n].
func (d *Device) ReconLoss(out, z, x Buf, rows, n int, outAct Act, bce bool) error {
	if out.N != rows || z.N != rows*n || x.N != rows*n {
		panic("kernels: ReconLoss: wrong lengths")
	}
	if err := fits(kReconLoss, rows, n); err != nil || rows == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(z)
	d.ptr(x)
	d.i32(rows)
	d.i32(n)
	d.i32(int(outAct))
	d.flag32(bce)
	return d.rows(kReconLoss, rows)
}

// ReconGrad is ReconGrad on the device (cae_recon_grad_f32): the gradient
// of Σ_b g[b]·ReconLoss[b] with respect to z. out, z, x: [rows, n];
// g: [rows].
func (d *Device) ReconGrad(out, z, x, g Buf, rows, n int, outAct Act, bce bool) error {
	if out.N != rows*n || z.N != rows*n || x.N != rows*n || g.N != rows {
		panic("kernels: ReconGrad: wrong lengths")
	}
	if err := fits(kReconGrad, rows, n); err != nil || rows*n == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(z)
	d.ptr(x)
	d.ptr(g)
	d.i32(rows)
	d.i32(n)
	d.i32(int(outAct))
	d.flag32(bce)
	return d.flat(kReconGrad, rows*n)
}

// MaxLossTerms is the most terms Device.LossCombine takes.
const MaxLossTerms = 4

// LossCombine is LossCombine on the device (cae_loss_combine_f32):
// out = invn·Σ_b mask[b]·Σ_k w[k]·terms[k][b], each inner sum in a fixed
// order. out, invn: [1]; terms[k], mask: [rows]. It takes at most
// MaxLossTerms terms and returns an error for more.
func (d *Device) LossCombine(out Buf, terms []Buf, w []float64, mask, invn Buf) error {
	if out.N != 1 || invn.N != 1 || len(terms) != len(w) {
		panic("kernels: LossCombine: wrong lengths")
	}
	for _, t := range terms {
		if t.N != mask.N {
			panic("kernels: LossCombine: wrong lengths")
		}
	}
	if len(terms) > MaxLossTerms {
		return fmt.Errorf("kernels: %s: %d terms, at most %d", kLossCombine, len(terms), MaxLossTerms)
	}
	if err := fits(kLossCombine, mask.N); err != nil {
		return err
	}
	d.ptr(out)
	for k := range MaxLossTerms {
		if k < len(terms) {
			d.ptr(terms[k])
		} else {
			d.ptr(Buf{}) // null: unused
		}
	}
	for k := range MaxLossTerms {
		if k < len(w) {
			d.f32(float32(w[k]))
		} else {
			d.f32(0)
		}
	}
	d.i32(len(terms))
	d.ptr(mask)
	d.ptr(invn)
	d.i32(mask.N)
	return d.launch(kLossCombine, 1, combine, 1)
}

// MaskWeights is MaskWeights on the device (cae_mask_weights_f32):
// out[b] = g·w·invn·mask[b]. out, mask: [rows]; invn, g: [1].
func (d *Device) MaskWeights(out, mask, invn, g Buf, w float64) error {
	if out.N != mask.N || invn.N != 1 || g.N != 1 {
		panic("kernels: MaskWeights: wrong lengths")
	}
	if err := fits(kMaskWeights, mask.N); err != nil || mask.N == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(mask)
	d.ptr(invn)
	d.ptr(g)
	d.f32(float32(w))
	d.i32(mask.N)
	return d.flat(kMaskWeights, mask.N)
}

// ColSumSq is ColSumSq on the device (cae_colsumsq_f32):
// out[j] = Σ_i w[i,j]², summed in a fixed order. out: [n1]; w: [n0, n1].
func (d *Device) ColSumSq(out, w Buf, n0, n1 int) error {
	if out.N != n1 || w.N != n0*n1 {
		panic("kernels: ColSumSq: wrong lengths")
	}
	if err := fits(kColSumSq, n0, n1); err != nil || n1 == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(w)
	d.i32(n0)
	d.i32(n1)
	return d.cols(kColSumSq, n1)
}

// ColSumSqGrad is ColSumSqGrad on the device (cae_colsumsq_grad_f32):
// out[i,j] = 2·w[i,j]·g[j]. out, w: [n0, n1]; g: [n1]. out may be w.
func (d *Device) ColSumSqGrad(out, w, g Buf, n0, n1 int) error {
	if out.N != n0*n1 || w.N != n0*n1 || g.N != n1 {
		panic("kernels: ColSumSqGrad: wrong lengths")
	}
	if err := fits(kColSumSqGrad, n0, n1); err != nil || n0*n1 == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(w)
	d.ptr(g)
	d.i32(n0)
	d.i32(n1)
	return d.flat(kColSumSqGrad, n0*n1)
}

// DiagPen is DiagPen on the device (cae_diagpen_f32): the one-layer
// penalty out[b] = Σ_j dd[b,j]²·c[j]. out: [B]; dd: [B, n]; c: [n].
func (d *Device) DiagPen(out, dd, c Buf, B, n int) error {
	if out.N != B || dd.N != B*n || c.N != n {
		panic("kernels: DiagPen: wrong lengths")
	}
	if err := fits(kDiagPen, B, n); err != nil || B == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(dd)
	d.ptr(c)
	d.i32(B)
	d.i32(n)
	return d.rows(kDiagPen, B)
}

// DiagPenGradD is DiagPenGradD on the device (cae_diagpen_grad_d_f32):
// out[b,j] = 2·g[b]·dd[b,j]·c[j]. out, dd: [B, n]; c: [n]; g: [B]. out
// may be dd.
func (d *Device) DiagPenGradD(out, dd, c, g Buf, B, n int) error {
	if out.N != B*n || dd.N != B*n || c.N != n || g.N != B {
		panic("kernels: DiagPenGradD: wrong lengths")
	}
	if err := fits(kDiagPenGradD, B, n); err != nil || B*n == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(dd)
	d.ptr(c)
	d.ptr(g)
	d.i32(B)
	d.i32(n)
	return d.flat(kDiagPenGradD, B*n)
}

// DiagPenGradC is DiagPenGradC on the device (cae_diagpen_grad_c_f32):
// out[j] = Σ_b g[b]·dd[b,j]², summed in a fixed order. out: [n];
// dd: [B, n]; g: [B].
func (d *Device) DiagPenGradC(out, dd, g Buf, B, n int) error {
	if out.N != n || dd.N != B*n || g.N != B {
		panic("kernels: DiagPenGradC: wrong lengths")
	}
	if err := fits(kDiagPenGradC, B, n); err != nil || n == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(dd)
	d.ptr(g)
	d.i32(B)
	d.i32(n)
	return d.cols(kDiagPenGradC, n)
}

// OuterScale is OuterScale on the device (cae_outer_scale_f32):
// t[b,i,j] = dL[b,i]·w[j,i]·dP[b,j]. t: [B, nL, P]; dL: [B, nL];
// w: [P, nL]; dP: [B, P].
func (d *Device) OuterScale(t, dL, w, dP Buf, B, nL, P int) error {
	if t.N != B*nL*P || dL.N != B*nL || w.N != P*nL || dP.N != B*P {
		panic("kernels: OuterScale: wrong lengths")
	}
	if err := fits(kOuterScale, B, nL, P); err != nil || B*nL*P == 0 {
		return err
	}
	d.ptr(t)
	d.ptr(dL)
	d.ptr(w)
	d.ptr(dP)
	d.i32(B)
	d.i32(nL)
	d.i32(P)
	return d.flat(kOuterScale, B*nL*P)
}

// OuterScaleGradDL is OuterScaleGradDL on the device
// (cae_outer_scale_grad_dl_f32): out[b,i] = Σ_j g[b,i,j]·w[j,i]·dP[b,j].
// out: [B, nL]; g: [B, nL, P]; w: [P, nL]; dP: [B, P].
func (d *Device) OuterScaleGradDL(out, g, w, dP Buf, B, nL, P int) error {
	if out.N != B*nL || g.N != B*nL*P || w.N != P*nL || dP.N != B*P {
		panic("kernels: OuterScaleGradDL: wrong lengths")
	}
	if err := fits(kOuterScaleGradDL, B, nL, P); err != nil || B*nL == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(g)
	d.ptr(w)
	d.ptr(dP)
	d.i32(B)
	d.i32(nL)
	d.i32(P)
	return d.rows(kOuterScaleGradDL, B*nL)
}

// OuterScaleGradW is OuterScaleGradW on the device
// (cae_outer_scale_grad_w_f32): out[j,i] = Σ_b g[b,i,j]·dL[b,i]·dP[b,j].
// out: [P, nL]; g: [B, nL, P]; dL: [B, nL]; dP: [B, P].
func (d *Device) OuterScaleGradW(out, g, dL, dP Buf, B, nL, P int) error {
	if out.N != P*nL || g.N != B*nL*P || dL.N != B*nL || dP.N != B*P {
		panic("kernels: OuterScaleGradW: wrong lengths")
	}
	if err := fits(kOuterScaleGradW, B, nL, P); err != nil || nL*P == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(g)
	d.ptr(dL)
	d.ptr(dP)
	d.i32(B)
	d.i32(nL)
	d.i32(P)
	return d.flat(kOuterScaleGradW, nL*P)
}

// OuterScaleGradDP is OuterScaleGradDP on the device
// (cae_outer_scale_grad_dp_f32): out[b,j] = Σ_i g[b,i,j]·dL[b,i]·w[j,i].
// out: [B, P]; g: [B, nL, P]; dL: [B, nL]; w: [P, nL].
func (d *Device) OuterScaleGradDP(out, g, dL, w Buf, B, nL, P int) error {
	if out.N != B*P || g.N != B*nL*P || dL.N != B*nL || w.N != P*nL {
		panic("kernels: OuterScaleGradDP: wrong lengths")
	}
	if err := fits(kOuterScaleGradDP, B, nL, P); err != nil || B*P == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(g)
	d.ptr(dL)
	d.ptr(w)
	d.i32(B)
	d.i32(nL)
	d.i32(P)
	return d.flat(kOuterScaleGradDP, B*P)
}

// ScaleCols is ScaleCols on the device (cae_scale_cols_f32):
// out[b,r,c] = p[b,r,c]·dd[b,c]. out, p: [B, R, C]; dd: [B, C]. out may
// be p.
func (d *Device) ScaleCols(out, p, dd Buf, B, R, C int) error {
	if out.N != B*R*C || p.N != B*R*C || dd.N != B*C {
		panic("kernels: ScaleCols: wrong lengths")
	}
	if err := fits(kScaleCols, B, R, C); err != nil || B*R*C == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(p)
	d.ptr(dd)
	d.i32(B)
	d.i32(R)
	d.i32(C)
	return d.flat(kScaleCols, B*R*C)
}

// RowDot is RowDot on the device (cae_row_dot_f32):
// out[b,c] = Σ_r g[b,r,c]·p[b,r,c]. out: [B, C]; g, p: [B, R, C].
func (d *Device) RowDot(out, g, p Buf, B, R, C int) error {
	if out.N != B*C || g.N != B*R*C || p.N != B*R*C {
		panic("kernels: RowDot: wrong lengths")
	}
	if err := fits(kRowDot, B, R, C); err != nil || B*C == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(g)
	d.ptr(p)
	d.i32(B)
	d.i32(R)
	d.i32(C)
	return d.flat(kRowDot, B*C)
}

// SampleDot is the per-sample dot product that ends QuadFormBLAS
// (cae_sample_dot_f32): out[b] = Σ_i x[b,i]·y[b,i]. out: [B]; x, y: [B, n].
func (d *Device) SampleDot(out, x, y Buf, B, n int) error {
	if out.N != B || x.N != B*n || y.N != B*n {
		panic("kernels: SampleDot: wrong lengths")
	}
	if err := fits(kSampleDot, B, n); err != nil || B == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(x)
	d.ptr(y)
	d.i32(B)
	d.i32(n)
	return d.rows(kSampleDot, B)
}

// AddTranspose is the symmetrised G of QuadFormGradTBLAS
// (cae_add_transpose_f32): s[i,j] = g[i,j] + g[j,i]. s, g: [C, C]; s must
// not be g.
func (d *Device) AddTranspose(s, g Buf, C int) error {
	if s.N != C*C || g.N != C*C {
		panic("kernels: AddTranspose: wrong lengths")
	}
	if s.Ptr == g.Ptr && C > 1 {
		panic("kernels: AddTranspose: s must not be g")
	}
	if err := fits(kAddTranspose, C, C); err != nil || C == 0 {
		return err
	}
	d.ptr(s)
	d.ptr(g)
	d.i32(C)
	return d.flat(kAddTranspose, C*C)
}

// ScaleRows scales each sample's row (cae_scale_rows_f32):
// out[b,i] = s[b]·x[b,i], as QuadFormGradTBLAS and QuadFormGradGBLAS do
// with Scale. out, x: [B, n]; s: [B]. out may be x.
func (d *Device) ScaleRows(out, x, s Buf, B, n int) error {
	if out.N != B*n || x.N != B*n || s.N != B {
		panic("kernels: ScaleRows: wrong lengths")
	}
	if err := fits(kScaleRows, B, n); err != nil || B*n == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(x)
	d.ptr(s)
	d.i32(B)
	d.i32(n)
	return d.flat(kScaleRows, B*n)
}

// Add is Add on the device (cae_add_f32): out = a + b. All [n]; out may
// be a or b.
func (d *Device) Add(out, a, b Buf) error { return d.binary(kAdd, "Add", out, a, b) }

// Sub is Sub on the device (cae_sub_f32): out = a − b. All [n]; out may
// be a or b.
func (d *Device) Sub(out, a, b Buf) error { return d.binary(kSub, "Sub", out, a, b) }

func (d *Device) binary(k, name string, out, a, b Buf) error {
	if out.N != a.N || b.N != a.N {
		panic("kernels: " + name + ": wrong lengths")
	}
	if err := fits(k, a.N); err != nil || a.N == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(a)
	d.ptr(b)
	d.i32(a.N)
	return d.flat(k, a.N)
}

// Scale is Scale on the device (cae_scale_f32): out = s·a. out, a: [n];
// out may be a.
func (d *Device) Scale(out, a Buf, s float32) error {
	if out.N != a.N {
		panic("kernels: Scale: wrong lengths")
	}
	if err := fits(kScale, a.N); err != nil || a.N == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(a)
	d.f32(s)
	d.i32(a.N)
	return d.flat(kScale, a.N)
}

// AdamStep is AdamStep on the device (cae_adam_f32): step t ≥ 1 of Adam
// on p, m and v in place, then g = 0. p, g, m, v: [n]. The bias
// corrections are computed here in float64, as the reference does.
func (d *Device) AdamStep(p, g, m, v Buf, t int, h AdamHyper) error {
	return d.AdamStepUnless(p, g, m, v, t, h, IntBuf{})
}

// AdamStepUnless is AdamStep, except that it changes nothing when skip
// (one int32 on the device, read when the kernel runs) is not 0; the
// empty IntBuf never skips. The CUDA VM passes the flag MarkNonFinite
// raises for a step's loss and gradients.
func (d *Device) AdamStepUnless(p, g, m, v Buf, t int, h AdamHyper, skip IntBuf) error {
	n := p.N
	if g.N != n || m.N != n || v.N != n {
		panic("kernels: AdamStep: p, g, m and v must have the same length")
	}
	if t < 1 {
		panic("kernels: AdamStep: step t must be ≥ 1")
	}
	if skip.Ptr != 0 && skip.N != 1 {
		panic("kernels: AdamStepUnless: skip must be one int32")
	}
	if err := fits(kAdam, n); err != nil || n == 0 {
		return err
	}
	c1 := float32(1 / (1 - math.Pow(h.Beta1, float64(t))))
	c2 := float32(1 / (1 - math.Pow(h.Beta2, float64(t))))
	d.ptr(p)
	d.ptr(g)
	d.ptr(m)
	d.ptr(v)
	d.i32(n)
	d.f32(float32(h.Beta1))
	d.f32(float32(h.Beta2))
	d.f32(c1)
	d.f32(c2)
	d.f32(float32(h.LR))
	d.f32(float32(h.Eps))
	d.iptr(skip)
	return d.flat(kAdam, n)
}

// GatherRows builds a batch from a device-resident data set
// (cae_gather_rows_f32): rows idx of data [nrows, dim] go to the first
// idx.N rows of x [batch, dim], the other rows are zeroed, mask[r] is 1
// for the copied rows and 0 for the others, and invn[0] =
// float32(1/float64(idx.N)). Its specification is kerneltest.GatherRows,
// which is what engine does on the host. An index outside [0, nrows) is a
// caller bug the device cannot report: that row is filled with NaN, so the
// loss turns NaN. x: [batch·dim]; mask: [batch]; invn: [1];
// data: [nrows·dim]; idx.N ≤ batch.
func (d *Device) GatherRows(x, mask, invn, data Buf, idx IntBuf, batch, dim int) error {
	if x.N != batch*dim || mask.N != batch || invn.N != 1 || dim < 1 || data.N%dim != 0 || idx.N > batch {
		panic("kernels: GatherRows: wrong lengths")
	}
	if err := fits(kGatherRows, batch, dim); err != nil {
		return err
	}
	if err := fits(kGatherRows, data.N); err != nil {
		return err
	}
	d.ptr(x)
	d.ptr(mask)
	d.ptr(invn)
	d.ptr(data)
	d.iptr(idx)
	d.i32(idx.N)
	d.i32(data.N / dim)
	d.i32(batch)
	d.i32(dim)
	return d.flat(kGatherRows, batch*dim)
}

// HasNonFinite reports whether some x[i] is NaN or ±Inf
// (cae_nonfinite_f32). It waits for the work issued before it. Its
// specification is kerneltest.HasNonFinite.
func (d *Device) HasNonFinite(x Buf) (bool, error) {
	if err := fits(kNonFinite, x.N); err != nil || x.N == 0 {
		return false, err
	}
	if err := d.enter(); err != nil {
		return false, err
	}
	err := cu.MemsetD32(d.flag.Ptr, 0, 1)
	d.exit()
	if err != nil {
		return false, fmt.Errorf("kernels: %s: cuMemsetD32: %w", kNonFinite, err)
	}
	if err := d.MarkNonFinite(d.flag, x, 1); err != nil {
		return false, err
	}
	var flag [1]int32
	if err := d.DownloadInts(flag[:], d.flag); err != nil {
		return false, fmt.Errorf("kernels: %s: %w", kNonFinite, err)
	}
	return flag[0] != 0, nil
}

// MarkNonFinite sets flag (one int32 on the device) to mark if it is 0 and
// x holds a NaN or ±Inf, without waiting for the device: the first mark
// stays until the caller zeroes the flag. mark must not be 0.
func (d *Device) MarkNonFinite(flag IntBuf, x Buf, mark int) error {
	if flag.N != 1 || mark == 0 {
		panic("kernels: MarkNonFinite: flag must be one int32 and mark non-zero")
	}
	if err := fits(kNonFinite, x.N); err != nil || x.N == 0 {
		return err
	}
	d.iptr(flag)
	d.ptr(x)
	d.i32(x.N)
	d.i32(mark)
	return d.flat(kNonFinite, x.N)
}

// SoftmaxXent is SoftmaxXent on the device (cae_softmax_xent_f32): each
// row's cross-entropy of softmax(z) against y. out: [rows]; z, y:
// [rows, n].
func (d *Device) SoftmaxXent(out, z, y Buf, rows, n int) error {
	if out.N != rows || z.N != rows*n || y.N != rows*n || n <= 0 {
		panic("kernels: SoftmaxXent: wrong lengths")
	}
	if err := fits(kSoftmaxXent, rows, n); err != nil || rows == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(z)
	d.ptr(y)
	d.i32(rows)
	d.i32(n)
	return d.flat(kSoftmaxXent, rows)
}

// SoftmaxXentGrad is SoftmaxXentGrad on the device
// (cae_softmax_xent_grad_f32): the gradient of Σ_b g[b]·SoftmaxXent[b]
// with respect to z. out, z, y: [rows, n]; g: [rows].
func (d *Device) SoftmaxXentGrad(out, z, y, g Buf, rows, n int) error {
	if out.N != rows*n || z.N != rows*n || y.N != rows*n || g.N != rows || n <= 0 {
		panic("kernels: SoftmaxXentGrad: wrong lengths")
	}
	if err := fits(kSoftmaxXentGrad, rows, n); err != nil || rows == 0 {
		return err
	}
	d.ptr(out)
	d.ptr(z)
	d.ptr(y)
	d.ptr(g)
	d.i32(rows)
	d.i32(n)
	return d.flat(kSoftmaxXentGrad, rows)
}
