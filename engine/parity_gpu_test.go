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
	"math"
	"math/rand/v2"
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
	for _, c := range []struct {
		name  string
		cfg   Config
		steps int
	}{
		{"seed", presets["seed"].Config, 200},
		{"rifai", presets["rifai"].Config, 200},
		{"seed+hess", hess, 30},
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
