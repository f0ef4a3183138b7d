// SPDX-License-Identifier: Apache-2.0

//go:build gpu

package kernels_test

// The CUDA kernels through the shared kernel suite, against the same
// float64 evaluations of the references as the CPU (kernels_test.go).
//
// This test binary needs a CUDA driver and a device to run at all:
// gorgonia.org/cu's package initialisation exits the process without one.
// Where there is a GPU:
//
//	go test -tags gpu -run CUDA ./kernels
//
// Elsewhere (and in CI), under the emulated driver, which runs the
// kernels' CUDA sources on the CPU (kernels/cudaemu):
//
//	make -C kernels/cudaemu
//	LD_LIBRARY_PATH=$PWD/kernels/cudaemu/build go test -tags gpu -run CUDA ./kernels

import (
	"fmt"
	"math"
	"os"
	"sync"
	"testing"

	"github.com/caetrain/caetrain/kernels"
	"github.com/caetrain/caetrain/kernels/kerneltest"
	"gorgonia.org/cu"
)

func TestCUDABiasAct(t *testing.T)           { kerneltest.BiasActTest(t, gpu(t)) }
func TestCUDAActBackward(t *testing.T)       { kerneltest.ActBackwardTest(t, gpu(t)) }
func TestCUDAActDeriv(t *testing.T)          { kerneltest.ActDerivTest(t, gpu(t)) }
func TestCUDAActDerivBackward(t *testing.T)  { kerneltest.ActDerivBackwardTest(t, gpu(t)) }
func TestCUDAApply(t *testing.T)             { kerneltest.ApplyTest(t, gpu(t)) }
func TestCUDAColSum(t *testing.T)            { kerneltest.ColSumTest(t, gpu(t)) }
func TestCUDAReconLoss(t *testing.T)         { kerneltest.ReconLossTest(t, gpu(t)) }
func TestCUDASoftmaxXent(t *testing.T)       { kerneltest.SoftmaxXentTest(t, gpu(t)) }
func TestCUDASoftmaxXentGrad(t *testing.T)   { kerneltest.SoftmaxXentGradTest(t, gpu(t)) }
func TestCUDAReconGrad(t *testing.T)         { kerneltest.ReconGradTest(t, gpu(t)) }
func TestCUDALossCombine(t *testing.T)       { kerneltest.LossCombineTest(t, gpu(t)) }
func TestCUDAMaskWeights(t *testing.T)       { kerneltest.MaskWeightsTest(t, gpu(t)) }
func TestCUDAColSumSq(t *testing.T)          { kerneltest.ColSumSqTest(t, gpu(t)) }
func TestCUDAColSumSqGrad(t *testing.T)      { kerneltest.ColSumSqGradTest(t, gpu(t)) }
func TestCUDADiagPen(t *testing.T)           { kerneltest.DiagPenTest(t, gpu(t)) }
func TestCUDADiagPenGradD(t *testing.T)      { kerneltest.DiagPenGradDTest(t, gpu(t)) }
func TestCUDADiagPenGradC(t *testing.T)      { kerneltest.DiagPenGradCTest(t, gpu(t)) }
func TestCUDAOuterScale(t *testing.T)        { kerneltest.OuterScaleTest(t, gpu(t)) }
func TestCUDAOuterScaleGradDL(t *testing.T)  { kerneltest.OuterScaleGradDLTest(t, gpu(t)) }
func TestCUDAOuterScaleGradW(t *testing.T)   { kerneltest.OuterScaleGradWTest(t, gpu(t)) }
func TestCUDAOuterScaleGradDP(t *testing.T)  { kerneltest.OuterScaleGradDPTest(t, gpu(t)) }
func TestCUDAScaleCols(t *testing.T)         { kerneltest.ScaleColsTest(t, gpu(t)) }
func TestCUDARowDot(t *testing.T)            { kerneltest.RowDotTest(t, gpu(t)) }
func TestCUDAQuadFormBLAS(t *testing.T)      { kerneltest.QuadFormBLASTest(t, gpu(t)) }
func TestCUDAQuadFormGradTBLAS(t *testing.T) { kerneltest.QuadFormGradTBLASTest(t, gpu(t)) }
func TestCUDAQuadFormGradGBLAS(t *testing.T) { kerneltest.QuadFormGradGBLASTest(t, gpu(t)) }
func TestCUDAAdd(t *testing.T)               { kerneltest.AddTest(t, gpu(t)) }
func TestCUDASub(t *testing.T)               { kerneltest.SubTest(t, gpu(t)) }
func TestCUDAScale(t *testing.T)             { kerneltest.ScaleTest(t, gpu(t)) }
func TestCUDAMatMul(t *testing.T)            { kerneltest.MatMulTest(t, gpu(t)) }
func TestCUDAAdamStep(t *testing.T)          { kerneltest.AdamStepTest(t, gpu(t)) }
func TestCUDAGatherRows(t *testing.T)        { kerneltest.GatherRowsTest(t, gpu(t)) }
func TestCUDAHasNonFinite(t *testing.T)      { kerneltest.HasNonFiniteTest(t, gpu(t)) }
func TestCUDAInPlace(t *testing.T)           { kerneltest.InPlaceTest(t, gpu(t)) }

// TestCUDADeterministic runs the reductions twice on the same inputs and
// requires bitwise-equal results: no float atomics, fixed orders.
func TestCUDADeterministic(t *testing.T) {
	c := gpu(t)
	const rows, n = 1000, 784
	x := make([]float32, rows*n)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	w := []float64{1, 0.5}
	mask := make([]float32, rows)
	for i := range mask {
		mask[i] = 1
	}
	for _, k := range []struct {
		name string
		out  int
		run  func(out []float32) error
	}{
		{"ColSum", n, func(o []float32) error { return c.ColSum(o, x, rows, n) }},
		{"ColSumSq", n, func(o []float32) error { return c.ColSumSq(o, x, rows, n) }},
		{"ReconLoss", rows, func(o []float32) error { return c.ReconLoss(o, x, x[:rows*n], rows, n, kernels.Sigmoid, true) }},
		{"DiagPen", rows, func(o []float32) error { return c.DiagPen(o, x, x[:n], rows, n) }},
		{"LossCombine", 1, func(o []float32) error {
			return c.LossCombine(o, [][]float32{x[:rows], x[rows : 2*rows]}, w, mask, []float32{1e-3})
		}},
	} {
		a, b := make([]float32, k.out), make([]float32, k.out)
		if err := k.run(a); err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		if err := k.run(b); err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Errorf("%s[%d]: %v, then %v on the same inputs", k.name, i, a[i], b[i])
				break
			}
		}
	}
}

// TestCUDALimits checks the errors for sizes the kernels cannot take:
// more than 2³¹−1 elements (int32 sizes), more than MaxLossTerms terms.
// Neither touches device memory.
func TestCUDALimits(t *testing.T) {
	d := gpu(t).d
	big := kernels.Buf{N: 1 << 31}
	if err := d.Add(big, big, big); err == nil {
		t.Error("Add of 2³¹ elements: no error")
	}
	if err := d.BiasAct(big, big, kernels.Buf{N: 1 << 16}, 1<<15, 1<<16, kernels.ReLU); err == nil {
		t.Error("BiasAct of 2¹⁵×2¹⁶ elements: no error")
	}
	if err := d.MatMul(kernels.Buf{N: 1 << 20}, big, kernels.Buf{N: 1 << 29}, 1<<11, 1<<9, 1<<20, false, false); err == nil {
		t.Error("MatMul with a 2³¹-element operand: no error")
	}
	one := kernels.Buf{N: 1}
	terms := []kernels.Buf{one, one, one, one, one}
	if err := d.LossCombine(one, terms, make([]float64, 5), one, one); err == nil {
		t.Errorf("LossCombine of 5 terms: no error (at most %d)", kernels.MaxLossTerms)
	}
}

var (
	device  *kernels.Device
	openErr error
	once    sync.Once
)

// gpu returns the CUDA implementation on device 0, opened once for the
// test binary; it skips t when there is no device.
func gpu(t *testing.T) cudaImpl {
	t.Helper()
	if n, err := cu.NumDevices(); err != nil || n == 0 {
		t.Skip("no CUDA device")
	}
	once.Do(func() { device, openErr = kernels.OpenDevice(0) })
	if openErr != nil {
		t.Fatal(openErr)
	}
	return cudaImpl{device}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if device != nil {
		if err := device.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing the CUDA device:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cudaImpl is kerneltest.Impl over a Device. Each call copies its slices
// into device buffers that have kerneltest.GuardLen guard elements on
// each side, launches, waits, copies everything back, and returns an
// error if a guard changed. Slices that are the same slice (same start
// and length) share one buffer, so in-place calls stay in place.
type cudaImpl struct{ d *kernels.Device }

const guard = kerneltest.GuardLen

// call stages xs on the device, runs f on their device views, and copies
// the results back into xs.
func (c cudaImpl) call(f func(b []kernels.Buf) error, xs ...[]float32) (err error) {
	type staged struct {
		all  kernels.Buf
		host []float32
	}
	var st []staged
	defer func() {
		for _, s := range st {
			if e := c.d.Free(s.all); e != nil && err == nil {
				err = e
			}
		}
	}()
	bufs := make([]kernels.Buf, len(xs))
outer:
	for i, x := range xs {
		for j := range i {
			if len(x) > 0 && len(xs[j]) == len(x) && &xs[j][0] == &x[0] {
				bufs[i] = bufs[j]
				continue outer
			}
		}
		all, err := c.d.Alloc(len(x) + 2*guard)
		if err != nil {
			return err
		}
		st = append(st, staged{all, x})
		host := make([]float32, all.N)
		for k := range host {
			host[k] = math.Float32frombits(kerneltest.GuardBits)
		}
		copy(host[guard:], x)
		if err := c.d.Upload(all, host); err != nil {
			return err
		}
		bufs[i] = all.Slice(guard, guard+len(x))
	}
	if err := f(bufs); err != nil {
		return err
	}
	if err := c.d.Sync(); err != nil {
		return err
	}
	for _, s := range st {
		host := make([]float32, s.all.N)
		if err := c.d.Download(host, s.all); err != nil {
			return err
		}
		n := len(s.host)
		for k, v := range host {
			if (k < guard || k >= guard+n) && math.Float32bits(v) != kerneltest.GuardBits {
				return fmt.Errorf("out-of-bounds write: guard element %d of a %d-element buffer is %v", k-guard, n, v)
			}
		}
		copy(s.host, host[guard:guard+n])
	}
	return nil
}

func (c cudaImpl) BiasAct(out, xw, b []float32, rows, n int, act kernels.Act) error {
	return c.call(func(v []kernels.Buf) error { return c.d.BiasAct(v[0], v[1], v[2], rows, n, act) }, out, xw, b)
}

func (c cudaImpl) ActBackward(out, a, g []float32, act kernels.Act) error {
	return c.call(func(v []kernels.Buf) error { return c.d.ActBackward(v[0], v[1], v[2], act) }, out, a, g)
}

func (c cudaImpl) ActDeriv(out, a []float32, act kernels.Act) error {
	return c.call(func(v []kernels.Buf) error { return c.d.ActDeriv(v[0], v[1], act) }, out, a)
}

func (c cudaImpl) ActDerivBackward(out, a, g []float32, act kernels.Act) error {
	return c.call(func(v []kernels.Buf) error { return c.d.ActDerivBackward(v[0], v[1], v[2], act) }, out, a, g)
}

func (c cudaImpl) Apply(out, z []float32, act kernels.Act) error {
	return c.call(func(v []kernels.Buf) error { return c.d.Apply(v[0], v[1], act) }, out, z)
}

func (c cudaImpl) ColSum(out, x []float32, rows, n int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.ColSum(v[0], v[1], rows, n) }, out, x)
}

func (c cudaImpl) SoftmaxXent(out, z, y []float32, rows, n int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.SoftmaxXent(v[0], v[1], v[2], rows, n) }, out, z, y)
}

func (c cudaImpl) SoftmaxXentGrad(out, z, y, g []float32, rows, n int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.SoftmaxXentGrad(v[0], v[1], v[2], v[3], rows, n) }, out, z, y, g)
}

func (c cudaImpl) ReconLoss(out, z, x []float32, rows, n int, outAct kernels.Act, bce bool) error {
	return c.call(func(v []kernels.Buf) error { return c.d.ReconLoss(v[0], v[1], v[2], rows, n, outAct, bce) }, out, z, x)
}

func (c cudaImpl) ReconGrad(out, z, x, g []float32, rows, n int, outAct kernels.Act, bce bool) error {
	return c.call(func(v []kernels.Buf) error {
		return c.d.ReconGrad(v[0], v[1], v[2], v[3], rows, n, outAct, bce)
	}, out, z, x, g)
}

func (c cudaImpl) LossCombine(out []float32, terms [][]float32, w []float64, mask, invn []float32) error {
	K := len(terms)
	xs := append(append([][]float32{}, terms...), out, mask, invn)
	return c.call(func(v []kernels.Buf) error { return c.d.LossCombine(v[K], v[:K], w, v[K+1], v[K+2]) }, xs...)
}

func (c cudaImpl) MaskWeights(out, mask, invn, g []float32, w float64) error {
	return c.call(func(v []kernels.Buf) error { return c.d.MaskWeights(v[0], v[1], v[2], v[3], w) }, out, mask, invn, g)
}

func (c cudaImpl) ColSumSq(out, w []float32, n0, n1 int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.ColSumSq(v[0], v[1], n0, n1) }, out, w)
}

func (c cudaImpl) ColSumSqGrad(out, w, g []float32, n0, n1 int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.ColSumSqGrad(v[0], v[1], v[2], n0, n1) }, out, w, g)
}

func (c cudaImpl) DiagPen(out, d, cc []float32, B, n int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.DiagPen(v[0], v[1], v[2], B, n) }, out, d, cc)
}

func (c cudaImpl) DiagPenGradD(out, d, cc, g []float32, B, n int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.DiagPenGradD(v[0], v[1], v[2], v[3], B, n) }, out, d, cc, g)
}

func (c cudaImpl) DiagPenGradC(out, d, g []float32, B, n int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.DiagPenGradC(v[0], v[1], v[2], B, n) }, out, d, g)
}

func (c cudaImpl) OuterScale(t, dL, w, dP []float32, B, nL, P int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.OuterScale(v[0], v[1], v[2], v[3], B, nL, P) }, t, dL, w, dP)
}

func (c cudaImpl) OuterScaleGradDL(out, g, w, dP []float32, B, nL, P int) error {
	return c.call(func(v []kernels.Buf) error {
		return c.d.OuterScaleGradDL(v[0], v[1], v[2], v[3], B, nL, P)
	}, out, g, w, dP)
}

func (c cudaImpl) OuterScaleGradW(out, g, dL, dP []float32, B, nL, P int) error {
	return c.call(func(v []kernels.Buf) error {
		return c.d.OuterScaleGradW(v[0], v[1], v[2], v[3], B, nL, P)
	}, out, g, dL, dP)
}

func (c cudaImpl) OuterScaleGradDP(out, g, dL, w []float32, B, nL, P int) error {
	return c.call(func(v []kernels.Buf) error {
		return c.d.OuterScaleGradDP(v[0], v[1], v[2], v[3], B, nL, P)
	}, out, g, dL, w)
}

func (c cudaImpl) ScaleCols(out, p, d []float32, B, R, C int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.ScaleCols(v[0], v[1], v[2], B, R, C) }, out, p, d)
}

func (c cudaImpl) RowDot(out, g, p []float32, B, R, C int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.RowDot(v[0], v[1], v[2], B, R, C) }, out, g, p)
}

func (c cudaImpl) QuadFormBLAS(out, t, g, u []float32, B, R, C int) error {
	return c.call(func(v []kernels.Buf) error { return c.d.QuadFormBLAS(v[0], v[1], v[2], v[3], B, R, C) }, out, t, g, u)
}

func (c cudaImpl) QuadFormGradTBLAS(dt, t, g, gout, s []float32, B, R, C int) error {
	return c.call(func(v []kernels.Buf) error {
		return c.d.QuadFormGradTBLAS(v[0], v[1], v[2], v[3], v[4], B, R, C)
	}, dt, t, g, gout, s)
}

func (c cudaImpl) QuadFormGradGBLAS(dg, t, gout, u []float32, B, R, C int) error {
	return c.call(func(v []kernels.Buf) error {
		return c.d.QuadFormGradGBLAS(v[0], v[1], v[2], v[3], B, R, C)
	}, dg, t, gout, u)
}

func (c cudaImpl) Add(out, a, b []float32) error {
	return c.call(func(v []kernels.Buf) error { return c.d.Add(v[0], v[1], v[2]) }, out, a, b)
}

func (c cudaImpl) Sub(out, a, b []float32) error {
	return c.call(func(v []kernels.Buf) error { return c.d.Sub(v[0], v[1], v[2]) }, out, a, b)
}

func (c cudaImpl) Scale(out, a []float32, s float32) error {
	return c.call(func(v []kernels.Buf) error { return c.d.Scale(v[0], v[1], s) }, out, a)
}

func (c cudaImpl) MatMul(cc, a, b []float32, m, n, k int, ta, tb bool) error {
	return c.call(func(v []kernels.Buf) error { return c.d.MatMul(v[0], v[1], v[2], m, n, k, ta, tb) }, cc, a, b)
}

func (c cudaImpl) AdamStep(p, g, m, v []float32, t int, h kernels.AdamHyper) error {
	return c.call(func(b []kernels.Buf) error { return c.d.AdamStep(b[0], b[1], b[2], b[3], t, h) }, p, g, m, v)
}

func (c cudaImpl) GatherRows(x, mask, invn, data []float32, idx []int32, batch, dim int) (err error) {
	ib, err := c.d.AllocInts(len(idx))
	if err != nil {
		return err
	}
	defer func() {
		if e := c.d.FreeInts(ib); e != nil && err == nil {
			err = e
		}
	}()
	if err := c.d.UploadInts(ib, idx); err != nil {
		return err
	}
	return c.call(func(v []kernels.Buf) error { return c.d.GatherRows(v[0], v[1], v[2], v[3], ib, batch, dim) }, x, mask, invn, data)
}

func (c cudaImpl) HasNonFinite(x []float32) (bad bool, err error) {
	err = c.call(func(v []kernels.Buf) error {
		var e error
		bad, e = c.d.HasNonFinite(v[0])
		return e
	}, x)
	return bad, err
}

// TestCUDAAdamSkipAndMark: MarkNonFinite keeps the first mark until the
// flag is zeroed, and AdamStepUnless changes nothing while the flag is
// set and is AdamStep when it is 0.
func TestCUDAAdamSkipAndMark(t *testing.T) {
	d := gpu(t).d
	const n = 300
	host := func(f func(i int) float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = f(i)
		}
		return x
	}
	bufs := make([]kernels.Buf, 5)
	for i := range bufs {
		b, err := d.Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Free(b)
		bufs[i] = b
	}
	flag, err := d.AllocInts(1)
	if err != nil {
		t.Fatal(err)
	}
	defer d.FreeInts(flag)
	p, g, m, v, x := bufs[0], bufs[1], bufs[2], bufs[3], bufs[4]
	p0, g0 := host(func(i int) float32 { return float32(i) / n }), host(func(i int) float32 { return float32(i%7) - 3 })
	for _, b := range []struct {
		buf kernels.Buf
		x   []float32
	}{{p, p0}, {g, g0}, {m, make([]float32, n)}, {v, make([]float32, n)}, {x, host(func(int) float32 { return 1 })}} {
		if err := d.Upload(b.buf, b.x); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.UploadInts(flag, []int32{0}); err != nil {
		t.Fatal(err)
	}
	readFlag := func() int32 {
		var f [1]int32
		if err := d.DownloadInts(f[:], flag); err != nil {
			t.Fatal(err)
		}
		return f[0]
	}
	if err := d.MarkNonFinite(flag, x, 5); err != nil || readFlag() != 0 {
		t.Fatalf("finite data: flag %d (%v), want 0", readFlag(), err)
	}
	h := kernels.AdamHyper{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	if err := d.UploadInts(flag, []int32{3}); err != nil {
		t.Fatal(err)
	}
	if err := d.AdamStepUnless(p, g, m, v, 1, h, flag); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, n)
	if err := d.Download(got, p); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != p0[i] {
			t.Fatalf("skip set: p[%d] changed from %v to %v", i, p0[i], got[i])
		}
	}
	if err := d.Upload(x, host(func(i int) float32 { return float32(i) / float32(i%2) })); err != nil { // NaN and +Inf
		t.Fatal(err)
	}
	if err := d.UploadInts(flag, []int32{0}); err != nil {
		t.Fatal(err)
	}
	if err := d.MarkNonFinite(flag, x, 7); err != nil || readFlag() != 7 {
		t.Fatalf("non-finite data: flag %d (%v), want 7", readFlag(), err)
	}
	if err := d.MarkNonFinite(flag, x, 9); err != nil || readFlag() != 7 {
		t.Fatalf("a second mark: flag %d (%v), want the first, 7", readFlag(), err)
	}
	if err := d.UploadInts(flag, []int32{0}); err != nil {
		t.Fatal(err)
	}
	if err := d.AdamStepUnless(p, g, m, v, 1, h, flag); err != nil {
		t.Fatal(err)
	}
	want, gw, mw, vw := append([]float32(nil), p0...), append([]float32(nil), g0...), make([]float32, n), make([]float32, n)
	kernels.AdamStep(want, gw, mw, vw, 1, h)
	if err := d.Download(got, p); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-6*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("skip 0: p[%d] = %v, AdamStep gives %v", i, got[i], want[i])
		}
	}
}
