// SPDX-License-Identifier: Apache-2.0

//go:build gpu

package kernels

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"
	cublas "gorgonia.org/cu/blas"
)

// Device is one NVIDIA GPU running the kernels: a CUDA context (the
// device's primary one), the kernels' PTX modules (PTXModules) loaded into
// it, and a cuBLAS handle. Everything runs on the context's default
// stream, the one cu/blas uses (it has no way to set another): launches,
// matrix products and copies execute in the order they are issued, and
// only Download, HasNonFinite and Sync wait for them.
//
// Each method that takes Bufs computes, on the device, what the function
// of the same name computes on the CPU, with the same arguments in the same
// order (Buf in place of a slice) and the same panics on wrong lengths;
// that function, named in the method's doc, is its specification, and
// kerneltest checks the two against each other. An output may be the same
// Buf as an input only where the method says so.
//
// Sizes are passed to the kernels as int32: a method returns an error when
// a dimension or an operand has more than 2³¹−1 elements. Driver, launch
// and cuBLAS failures come back as errors that name the kernel (or
// cublasSgemm). A launch error is reported when the launch is issued; a
// fault during a kernel surfaces at the next call that waits (Download,
// Sync, …). A cuBLAS error is sticky in cu/blas: every later MatMul
// returns it too, and the Device should be closed.
//
// A Device may be used from any goroutine, but not from two at once: each
// call makes the context current on its (locked) OS thread for its
// duration.
//
// In the gpu build, package kernels imports gorgonia.org/cu, whose package
// initialisation calls cuInit and exits the process (status 1, before
// main runs) when there is no driver or no GPU, and a binary built with
// -tags gpu needs libcuda.so.1 and libcublas to start at all. Deciding
// whether to use a GPU therefore happens outside such a binary (see
// engine); OpenDevice returns errors and never exits.
type Device struct {
	dev     cu.Device
	ctx     cu.CUContext // the primary context, retained
	name    string
	mods    []cu.Module
	fns     map[string]cu.Function
	blas    *cublas.Standard
	flag    IntBuf            // HasNonFinite's result
	sigs    map[string]string // each kernel's parameter kinds, from its PTX
	nargs   int
	args    [maxArgs]uint64 // launch parameters, each in an 8-byte slot
	kinds   [maxArgs]byte   // what was pushed into each slot (kindInt32, …)
	argp    [maxArgs]unsafe.Pointer
	retains bool // the primary context was retained and must be released
}

// maxArgs bounds a kernel's parameter count.
const maxArgs = 16

// maxInt32 is the most elements a kernel's int32 sizes can describe.
const maxInt32 = math.MaxInt32

// Buf is N float32s of device memory at Ptr. The zero Buf is empty.
type Buf struct {
	Ptr cu.DevicePtr
	N   int
}

// Slice returns b[lo:hi], a view of the same memory.
func (b Buf) Slice(lo, hi int) Buf {
	if lo < 0 || hi < lo || hi > b.N {
		panic("kernels: Buf.Slice: bounds out of range")
	}
	return Buf{Ptr: b.Ptr + cu.DevicePtr(4*lo), N: hi - lo}
}

// IntBuf is N int32s of device memory at Ptr (GatherRows's indices).
type IntBuf struct {
	Ptr cu.DevicePtr
	N   int
}

// Slice returns b[lo:hi], a view of the same memory.
func (b IntBuf) Slice(lo, hi int) IntBuf {
	if lo < 0 || hi < lo || hi > b.N {
		panic("kernels: IntBuf.Slice: bounds out of range")
	}
	return IntBuf{Ptr: b.Ptr + cu.DevicePtr(4*lo), N: hi - lo}
}

// The kernels the Device launches; OpenDevice checks that each is loaded.
const (
	kBiasAct          = "cae_bias_act_f32"
	kActBackward      = "cae_act_backward_f32"
	kActDeriv         = "cae_act_deriv_f32"
	kActDerivBackward = "cae_act_deriv_backward_f32"
	kApply            = "cae_apply_f32"
	kColSum           = "cae_colsum_f32"
	kReconLoss        = "cae_recon_loss_f32"
	kReconGrad        = "cae_recon_grad_f32"
	kLossCombine      = "cae_loss_combine_f32"
	kMaskWeights      = "cae_mask_weights_f32"
	kColSumSq         = "cae_colsumsq_f32"
	kColSumSqGrad     = "cae_colsumsq_grad_f32"
	kDiagPen          = "cae_diagpen_f32"
	kDiagPenGradD     = "cae_diagpen_grad_d_f32"
	kDiagPenGradC     = "cae_diagpen_grad_c_f32"
	kOuterScale       = "cae_outer_scale_f32"
	kOuterScaleGradDL = "cae_outer_scale_grad_dl_f32"
	kOuterScaleGradW  = "cae_outer_scale_grad_w_f32"
	kOuterScaleGradDP = "cae_outer_scale_grad_dp_f32"
	kScaleCols        = "cae_scale_cols_f32"
	kRowDot           = "cae_row_dot_f32"
	kSampleDot        = "cae_sample_dot_f32"
	kAddTranspose     = "cae_add_transpose_f32"
	kScaleRows        = "cae_scale_rows_f32"
	kAdd              = "cae_add_f32"
	kSub              = "cae_sub_f32"
	kScale            = "cae_scale_f32"
	kAdam             = "cae_adam_f32"
	kGatherRows       = "cae_gather_rows_f32"
	kNonFinite        = "cae_nonfinite_f32"
	kSoftmaxXent      = "cae_softmax_xent_f32"
	kSoftmaxXentGrad  = "cae_softmax_xent_grad_f32"
)

var deviceKernels = []string{
	kBiasAct, kActBackward, kActDeriv, kActDerivBackward, kApply, kColSum,
	kReconLoss, kReconGrad, kLossCombine, kMaskWeights,
	kColSumSq, kColSumSqGrad, kDiagPen, kDiagPenGradD, kDiagPenGradC,
	kOuterScale, kOuterScaleGradDL, kOuterScaleGradW, kOuterScaleGradDP, kScaleCols, kRowDot,
	kSampleDot, kAddTranspose, kScaleRows,
	kAdd, kSub, kScale, kAdam, kGatherRows, kNonFinite, kSoftmaxXent, kSoftmaxXentGrad,
}

// OpenDevice opens GPU ordinal (0 is the first): it retains the device's
// primary context, loads every module of PTXModules (the driver
// JIT-compiles the compute_75 PTX for the GPU), looks up every kernel they
// list and every kernel the Device launches — a missing one is an error,
// never a fallback — and creates a cuBLAS handle. Close releases them.
func OpenDevice(ordinal int) (*Device, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("kernels: counting CUDA devices: %w", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("kernels: no CUDA device %d (%d found)", ordinal, n)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("kernels: CUDA device %d: %w", ordinal, err)
	}
	name, err := dev.Name()
	if err != nil {
		return nil, fmt.Errorf("kernels: CUDA device %d: name: %w", ordinal, err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("kernels: CUDA device %d (%s): context: %w", ordinal, name, err)
	}
	d := &Device{dev: dev, ctx: ctx, name: name, fns: map[string]cu.Function{}, sigs: map[string]string{}, retains: true}
	for i := range d.argp {
		d.argp[i] = unsafe.Pointer(&d.args[i])
	}
	if err := d.open(); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// open loads the modules, checks the kernels, and makes the cuBLAS handle
// and HasNonFinite's flag.
func (d *Device) open() error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	for _, m := range PTXModules {
		sigs, err := ptxSignatures(m.PTX)
		if err != nil {
			return fmt.Errorf("kernels: PTX module %s: %w", m.Name, err)
		}
		for k, sig := range sigs {
			d.sigs[k] = sig
		}
		log := make([]byte, 4096)
		mod, err := cu.LoadDataEx(m.PTX, &cu.JITErrorLogBuffer{Buffer: log})
		if err != nil {
			msg := string(log[:clen(log)])
			return fmt.Errorf("kernels: loading PTX module %s: %w: %s", m.Name, err, msg)
		}
		d.mods = append(d.mods, mod)
		for _, k := range m.Kernels {
			fn, err := mod.Function(k)
			if err != nil {
				return fmt.Errorf("kernels: PTX module %s: kernel %s: %w", m.Name, k, err)
			}
			d.fns[k] = fn
		}
	}
	for _, k := range deviceKernels {
		if _, ok := d.fns[k]; !ok {
			return fmt.Errorf("kernels: no PTX module defines kernel %s; run go generate ./kernels", k)
		}
	}
	d.blas = &cublas.Standard{}
	if err := d.blas.Init(); err != nil {
		d.blas = nil
		return fmt.Errorf("kernels: cuBLAS: %w", err)
	}
	p, err := cu.MemAlloc(4)
	if err != nil {
		return fmt.Errorf("kernels: cuMemAlloc: %w", err)
	}
	d.flag = IntBuf{Ptr: p, N: 1}
	return nil
}

// clen is the length of the NUL-terminated string in b.
func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// Name is the GPU's name, e.g. "NVIDIA H200".
func (d *Device) Name() string { return d.name }

// Close waits for the device's work, then frees what OpenDevice made and
// releases the context. Bufs from Alloc must be freed before. Close is
// idempotent.
func (d *Device) Close() error {
	if !d.retains {
		return nil
	}
	var errs []error
	if err := d.enter(); err != nil {
		return err
	}
	if err := cu.Synchronize(); err != nil {
		errs = append(errs, fmt.Errorf("kernels: synchronize: %w", err))
	}
	if d.blas != nil {
		if err := d.blas.Close(); err != nil {
			errs = append(errs, fmt.Errorf("kernels: cuBLAS: %w", err))
		}
		d.blas = nil
	}
	if d.flag.Ptr != 0 {
		if err := cu.MemFree(d.flag.Ptr); err != nil {
			errs = append(errs, fmt.Errorf("kernels: cuMemFree: %w", err))
		}
		d.flag = IntBuf{}
	}
	for _, m := range d.mods {
		if err := m.Unload(); err != nil {
			errs = append(errs, fmt.Errorf("kernels: unloading a PTX module: %w", err))
		}
	}
	d.mods, d.fns = nil, nil
	d.exit()
	if err := d.dev.ReleasePrimaryCtx(); err != nil {
		errs = append(errs, fmt.Errorf("kernels: releasing the context: %w", err))
	}
	d.retains = false
	return errors.Join(errs...)
}

// enter locks the goroutine to its OS thread and makes the device's
// context current there; exit undoes the lock.
func (d *Device) enter() error {
	if !d.retains {
		panic("kernels: Device used after Close")
	}
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("kernels: making the context current: %w", err)
	}
	return nil
}

func (d *Device) exit() { runtime.UnlockOSThread() }

// Alloc allocates n float32s of device memory (cuMemAlloc; not managed
// memory). Its contents are undefined. Alloc(0) is the empty Buf.
func (d *Device) Alloc(n int) (Buf, error) {
	p, err := d.alloc(n)
	return Buf{Ptr: p, N: n}, err
}

// AllocInts allocates n int32s of device memory, like Alloc.
func (d *Device) AllocInts(n int) (IntBuf, error) {
	p, err := d.alloc(n)
	return IntBuf{Ptr: p, N: n}, err
}

func (d *Device) alloc(n int) (cu.DevicePtr, error) {
	if n < 0 {
		panic("kernels: Alloc: negative length")
	}
	if n == 0 {
		return 0, nil
	}
	if err := d.enter(); err != nil {
		return 0, err
	}
	defer d.exit()
	p, err := cu.MemAlloc(4 * int64(n))
	if err != nil {
		return 0, fmt.Errorf("kernels: cuMemAlloc of %d×4 bytes: %w", n, err)
	}
	return p, nil
}

// Free frees b's memory; b must come from Alloc (not Slice). Freeing the
// empty Buf does nothing.
func (d *Device) Free(b Buf) error { return d.free(b.Ptr) }

// FreeInts frees b's memory, like Free.
func (d *Device) FreeInts(b IntBuf) error { return d.free(b.Ptr) }

func (d *Device) free(p cu.DevicePtr) error {
	if p == 0 {
		return nil
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	if err := cu.MemFree(p); err != nil {
		return fmt.Errorf("kernels: cuMemFree: %w", err)
	}
	return nil
}

// Upload copies src into dst, after the work issued before it; len(src)
// must be dst.N. It returns when src may be reused.
func (d *Device) Upload(dst Buf, src []float32) error {
	if len(src) != dst.N {
		panic("kernels: Upload: wrong lengths")
	}
	if len(src) == 0 {
		return nil
	}
	return d.htod(dst.Ptr, unsafe.Pointer(&src[0]), len(src))
}

// UploadInts copies src into dst, like Upload.
func (d *Device) UploadInts(dst IntBuf, src []int32) error {
	if len(src) != dst.N {
		panic("kernels: UploadInts: wrong lengths")
	}
	if len(src) == 0 {
		return nil
	}
	return d.htod(dst.Ptr, unsafe.Pointer(&src[0]), len(src))
}

func (d *Device) htod(dst cu.DevicePtr, src unsafe.Pointer, n int) error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	if err := cu.MemcpyHtoD(dst, src, 4*int64(n)); err != nil {
		return fmt.Errorf("kernels: cuMemcpyHtoD: %w", err)
	}
	return nil
}

// Download copies src into dst once the work issued before it is done;
// len(dst) must be src.N.
func (d *Device) Download(dst []float32, src Buf) error {
	if len(dst) != src.N {
		panic("kernels: Download: wrong lengths")
	}
	if len(dst) == 0 {
		return nil
	}
	return d.dtoh(unsafe.Pointer(&dst[0]), src.Ptr, len(dst))
}

// DownloadInts copies src into dst, like Download.
func (d *Device) DownloadInts(dst []int32, src IntBuf) error {
	if len(dst) != src.N {
		panic("kernels: DownloadInts: wrong lengths")
	}
	if len(dst) == 0 {
		return nil
	}
	return d.dtoh(unsafe.Pointer(&dst[0]), src.Ptr, len(dst))
}

func (d *Device) dtoh(dst unsafe.Pointer, src cu.DevicePtr, n int) error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	if err := cu.MemcpyDtoH(dst, src, 4*int64(n)); err != nil {
		return fmt.Errorf("kernels: cuMemcpyDtoH: %w", err)
	}
	return nil
}

// Copy copies src into dst on the device; src.N must be dst.N.
func (d *Device) Copy(dst, src Buf) error {
	if src.N != dst.N {
		panic("kernels: Copy: wrong lengths")
	}
	if src.N == 0 {
		return nil
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	if err := cu.MemcpyDtoD(dst.Ptr, src.Ptr, 4*int64(src.N)); err != nil {
		return fmt.Errorf("kernels: cuMemcpyDtoD: %w", err)
	}
	return nil
}

// Zero sets b to +0.
func (d *Device) Zero(b Buf) error {
	if b.N == 0 {
		return nil
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	if err := cu.MemsetD32(b.Ptr, 0, int64(b.N)); err != nil {
		return fmt.Errorf("kernels: cuMemsetD32: %w", err)
	}
	return nil
}

// Sync waits for all the work issued so far, and returns the first error
// a kernel raised.
func (d *Device) Sync() error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("kernels: synchronize: %w", err)
	}
	return nil
}

// fits returns an error unless each of sizes, and their product, is at
// most 2³¹−1 (the kernels take int32 sizes). Negative sizes are caller
// bugs.
func fits(kernel string, sizes ...int) error {
	p := 1
	for _, s := range sizes {
		if s < 0 {
			panic("kernels: " + kernel + ": negative size")
		}
		if s > maxInt32 {
			return fmt.Errorf("kernels: %s: size %d exceeds the kernels' int32 limit of 2³¹−1 elements", kernel, s)
		}
		p *= s // both ≤ 2³¹−1 here, so no int64 overflow
		if p > maxInt32 {
			return fmt.Errorf("kernels: %s: %v is more than the kernels' int32 limit of 2³¹−1 elements", kernel, sizes)
		}
	}
	return nil
}

// Launch parameters: push them in the kernel's order, then launch.

func (d *Device) arg(v uint64, kind byte) {
	d.args[d.nargs] = v
	d.kinds[d.nargs] = kind
	d.nargs++
}

func (d *Device) ptr(b Buf)     { d.arg(uint64(b.Ptr), kindInt64) }
func (d *Device) iptr(b IntBuf) { d.arg(uint64(b.Ptr), kindInt64) }
func (d *Device) i32(v int)     { d.arg(uint64(uint32(int32(v))), kindInt32) }
func (d *Device) f32(v float32) { d.arg(uint64(math.Float32bits(v)), kindFloat32) }

func (d *Device) flag32(b bool) {
	v := 0
	if b {
		v = 1
	}
	d.i32(v)
}

// Launch shapes: see the comments atop kernels/cuda/*.cu.
const (
	threads   = 256     // block of the 1-D and row-reduction kernels (8 warps)
	colX      = 32      // CAE_COL_X
	colY      = 8       // CAE_COL_Y
	combine   = 256     // CAE_COMBINE_THREADS
	maxBlocks = 1 << 16 // grid-stride beyond this
)

func blocks(n, per int) int { return max(1, min((n+per-1)/per, maxBlocks)) }

// launch launches kernel k with the pushed parameters on gx blocks of
// (bx, by) threads.
func (d *Device) launch(k string, gx, bx, by int) error {
	defer func() { d.nargs = 0 }()
	if err := d.enter(); err != nil {
		return fmt.Errorf("kernels: %s: %w", k, err)
	}
	defer d.exit()
	fn, ok := d.fns[k]
	if !ok {
		panic("kernels: kernel " + k + " not loaded") // OpenDevice checked
	}
	// The driver reads each parameter at the width the PTX declares: a
	// launcher that disagrees would pass garbage without any error.
	if pushed := string(d.kinds[:d.nargs]); pushed != d.sigs[k] {
		return fmt.Errorf("kernels: %s: the launcher pushes parameters %q but the PTX declares %q (q: 64-bit integer or pointer, i: int32, f: float32, d: float64)", k, pushed, d.sigs[k])
	}
	if err := fn.Launch(gx, 1, 1, bx, by, 1, 0, cu.NoStream, d.argp[:d.nargs]); err != nil {
		return fmt.Errorf("kernels: %s: launch: %w", k, err)
	}
	return nil
}

// flat launches an elementwise kernel over n elements.
func (d *Device) flat(k string, n int) error { return d.launch(k, blocks(n, threads), threads, 1) }

// rows launches a row reduction (one warp per row) over n rows.
func (d *Device) rows(k string, n int) error { return d.launch(k, blocks(n, threads/32), threads, 1) }

// cols launches a column reduction over n columns.
func (d *Device) cols(k string, n int) error { return d.launch(k, blocks(n, colX), colX, colY) }
