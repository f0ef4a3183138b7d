// SPDX-License-Identifier: Apache-2.0

//go:build gpu

package engine

// The CUDA VM against the CPU VM: the same seeded training run on both.
// A gpu test binary needs libcuda.so.1 and libcublas to start, and a GPU;
// without one, run it under the emulated driver (kernels/cudaemu):
//
//	make -C kernels/cudaemu
//	LD_LIBRARY_PATH=$PWD/kernels/cudaemu/build go test -tags gpu -run Parity ./engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/internal/dataset"
)

// TestCUDAParity trains 200 steps of each preset on the CPU VM and on the
// CUDA VM, from the same parameters on the same batches, and requires the
// same loss trajectory (every step's loss within a relative 1e-3) and the
// same final weights (each tensor's ‖w_cuda − w_cpu‖₂ / ‖w_cpu‖₂ ≤ 1e-3).
// The two differ only by float32 rounding: the order of sums in cuBLAS and
// the kernels' reductions, and the math library's expf/log1pf; 1e-3 is
// what 200 Adam steps of such differences stay well inside (the measured
// differences are in the test log). A CAE+H run (its noise drawn on the host
// from the same stream for both) is checked the same way over 30 steps.
func TestCUDAParity(t *testing.T) {
	ds, err := dataset.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	data := Samples{X: ds.Train.X, N: ds.Train.N, Dim: ds.Train.Dim}
	hess := presets["seed"].Config
	hess.Spec.Arch = []int{784, 64, 16}
	hess.Spec.HessGamma, hess.Spec.HessSigma, hess.Spec.HessCopies = 0.1, 0.1, 2
	// λ = 0, the plain autoencoder (table1's AE row): the penalty is still
	// reported but weighs nothing in the loss.
	ae := presets["rifai"].Config
	ae.Spec.Lambda = 0
	for _, c := range []struct {
		name  string
		cfg   Config
		steps int
	}{
		{"seed", presets["seed"].Config, 200},
		{"rifai", presets["rifai"].Config, 200},
		{"seed+hess", hess, 30},
		{"rifai, λ=0", ae, 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Spec.Arch = append([]int(nil), cfg.Spec.Arch...)
			cfg.Seed = 7
			cpu := parityRun(t, cfg, CPU, data, c.steps)
			gpu := parityRun(t, cfg, CUDA, data, c.steps)
			worst, at := 0.0, 0
			for s := range cpu.loss {
				if d := math.Abs(gpu.loss[s]-cpu.loss[s]) / math.Abs(cpu.loss[s]); d > worst || math.IsNaN(d) {
					worst, at = d, s
				}
			}
			t.Logf("loss: worst relative difference %.2e at step %d (cpu %.6g, cuda %.6g); final cpu %.6g cuda %.6g",
				worst, at+1, cpu.loss[at], gpu.loss[at], cpu.loss[len(cpu.loss)-1], gpu.loss[len(gpu.loss)-1])
			if !(worst <= 1e-3) {
				t.Errorf("loss trajectories differ: step %d: cpu %v, cuda %v (relative %.2e > 1e-3)", at+1, cpu.loss[at], gpu.loss[at], worst)
			}
			if !(cpu.loss[len(cpu.loss)-1] < cpu.loss[0]) {
				t.Errorf("the loss did not fall in %d steps (%v → %v): the run checks nothing", c.steps, cpu.loss[0], cpu.loss[len(cpu.loss)-1])
			}
			for i := range cpu.params {
				var num, den float64
				for j, a := range cpu.params[i] {
					d := float64(gpu.params[i][j]) - float64(a)
					num += d * d
					den += float64(a) * float64(a)
				}
				rel := math.Sqrt(num / den)
				t.Logf("%s: relative difference %.2e", cpu.names[i], rel)
				if !(rel <= 1e-3) {
					t.Errorf("%s: ‖cuda − cpu‖/‖cpu‖ = %.2e > 1e-3", cpu.names[i], rel)
				}
			}
		})
	}
}

type parityResult struct {
	loss   []float64
	params [][]float32
	names  []string
}

// parityRun trains steps steps of cfg on dev, batch s of a fixed seeded
// sequence, and returns every step's loss and the final parameters.
func parityRun(t *testing.T, cfg Config, dev Device, data Samples, steps int) parityResult {
	t.Helper()
	cfg.Device = dev
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatalf("%s: %v", dev, err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	perm := rng.Perm(data.N)
	var r parityResult
	for s := 0; s < steps; s++ {
		lo := s * cfg.Batch % (data.N - cfg.Batch)
		res, err := tr.Step(data, perm[lo:lo+cfg.Batch])
		if err != nil {
			t.Fatalf("%s: step %d: %v", dev, s+1, err)
		}
		if res.Deferred {
			if res, err = tr.Flush(); err != nil {
				t.Fatalf("%s: step %d: %v", dev, s+1, err)
			}
		}
		r.loss = append(r.loss, res.Loss)
	}
	if err := tr.Sync(); err != nil {
		t.Fatalf("%s: %v", dev, err)
	}
	for i, p := range tr.Params.Tensors {
		r.params = append(r.params, append([]float32(nil), p.Data().([]float32)...))
		r.names = append(r.names, tr.Params.Shapes[i].Name)
	}
	return r
}

// TestCUDADivergenceKeepsLastGoodStep: with a learning rate that blows the
// loss up, the CPU stops at the first step with a non-finite loss or
// gradient and keeps the state of the step before. The CUDA VM, which
// reads its results back only at Flush, here after several more steps were
// queued, must name the same step and end in the same state: Adam skipped
// that step and every later one on the device.
func TestCUDADivergenceKeepsLastGoodStep(t *testing.T) {
	ds, err := dataset.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	data := Samples{X: ds.Train.X, N: ds.Train.N, Dim: ds.Train.Dim}
	cfg := presets["seed"].Config
	cfg.Spec.Arch = []int{784, 16, 8}
	cfg.Adam.LR = 1e6
	cfg.Seed = 3
	batch := func(s int) []int {
		idx := make([]int, cfg.Batch)
		for i := range idx {
			idx[i] = (s*cfg.Batch + i) % data.N
		}
		return idx
	}
	cpuCfg := cfg
	cpuCfg.Device = CPU
	cpu, err := NewTrainer(cpuCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	at := 0
	for s := 0; s < 20 && at == 0; s++ {
		if _, err := cpu.Step(data, batch(s)); errors.Is(err, ErrDiverged) {
			at = s + 1
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if at < 2 {
		t.Fatalf("the CPU run diverged at step %d: the test needs a good step before a bad one", at)
	}
	gpuCfg := cfg
	gpuCfg.Device = CUDA
	gpu, err := NewTrainer(gpuCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	for s := 0; s < at+3; s++ { // three steps past the bad one, unflushed
		if _, err := gpu.Step(data, batch(s)); err != nil {
			t.Fatalf("step %d: %v", s+1, err)
		}
	}
	_, err = gpu.Flush()
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), fmt.Sprintf("at step %d:", at)) {
		t.Fatalf("CUDA Flush: %v; want divergence at step %d, as on the CPU", err, at)
	}
	if gpu.Steps() != at-1 || gpu.HostSteps() != at-1 || cpu.Steps() != at-1 {
		t.Errorf("steps after divergence: cuda %d (host %d), cpu %d; want %d", gpu.Steps(), gpu.HostSteps(), cpu.Steps(), at-1)
	}
	for i := range cpu.Params.Tensors {
		a, b := cpu.Params.Tensors[i].Data().([]float32), gpu.Params.Tensors[i].Data().([]float32)
		var num, den float64
		for j := range a {
			if math.IsNaN(float64(b[j])) || math.IsInf(float64(b[j]), 0) {
				t.Fatalf("%s[%d] is %v on the device: the bad steps were applied", cpu.Params.Shapes[i].Name, j, b[j])
			}
			d := float64(b[j]) - float64(a[j])
			num += d * d
			den += float64(a[j]) * float64(a[j])
		}
		if rel := math.Sqrt(num / den); !(rel <= 1e-3) {
			t.Errorf("%s: ‖cuda − cpu‖/‖cpu‖ = %.2e after divergence, want ≤ 1e-3", cpu.Params.Shapes[i].Name, rel)
		}
	}
}
