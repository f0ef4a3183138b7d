// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// The benchmark matrix. The order of devices, configs and batches is the
// order of the sub-benchmarks.
var (
	devices = []engine.Device{engine.CPU, engine.CUDA}
	configs = []string{"seed", "rifai", "sig1000"}
	batches = []int{128, 1024}
)

// vmFlag picks the engine's CPU virtual machine, so that one binary can
// compare them: go test -bench . ./bench -args -vm=gorgonia.
var vmFlag = flag.String("vm", "", "engine CPU VM: "+engine.FastVM+" (the default) or "+engine.GorgoniaVM)

// TestMain prints the build's BLAS, what runs float32 products
// (kernels.Sgemm) and the VM as configuration lines
// ("key: value"), which benchstat reads like goos and cpu.
func TestMain(m *testing.M) {
	flag.Parse()
	vm := *vmFlag
	if vm == "" {
		vm = engine.FastVM + " (default)"
	}
	fmt.Printf("caetrain-blas: %s\ncaetrain-sgemm: %s\ncaetrain-vm: %s\n", kernels.BLAS, kernels.Sgemm, vm)
	os.Exit(m.Run())
}

// benchSeed fixes the parameters, so that every run times the same model.
const benchSeed = 1

// warmup is the number of untimed steps before timing: the first steps fill
// the machines' buffers and the caches.
const warmup = 3

// flushEvery is how often a timed loop reads deferred results back from a
// device (Trainer.Flush; a no-op on the CPU), as the training loop does at
// its log events (every 50 steps by default). Every timed loop also ends
// with a flush, inside the timing, so that a device's queued work counts.
const flushEvery = 50

// evalN is the number of test images BenchmarkEval evaluates.
const evalN = 1000

// benchConfig returns the training configuration called name at batch
// size batch: a preset, or sig1000, the config (2): one sigmoid
// layer of 1000 units, untied, sigmoid output, SSE, λ=0.1, Adam lr 1e-3.
func benchConfig(name string, batch int) (engine.Config, error) {
	var cfg engine.Config
	switch name {
	case "sig1000":
		p, err := engine.LookupPreset("rifai")
		if err != nil {
			return cfg, err
		}
		cfg = p.Config
		cfg.Spec = graph.Spec{Arch: []int{784, 1000}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Tied: false, Loss: graph.SSE, Lambda: 0.1}
	default:
		p, err := engine.LookupPreset(name)
		if err != nil {
			return cfg, err
		}
		cfg = p.Config
	}
	cfg.Batch = batch
	cfg.Seed = benchSeed
	cfg.Adam = engine.DefaultAdam
	cfg.Machine = *vmFlag
	return cfg, cfg.Validate()
}

var (
	dataOnce sync.Once
	data     *engine.Data
	dataErr  error
)

// benchData loads the data once per process, as caetrain does: from
// $CAETRAIN_DATA, /usr/share/datasets/fashion-mnist or the embedded sample
// (5,800 training and 1,000 test images). Only the timing matters here, and
// it does not depend on which images these are.
func benchData(b *testing.B) *engine.Data {
	b.Helper()
	dataOnce.Do(func() {
		data, dataErr = engine.LoadData("")
		if dataErr == nil {
			fmt.Fprintf(os.Stderr, "bench: data: %s (%d train, %d test images)\n", data.Source, data.Train.N, data.Test.N)
		}
	})
	if dataErr != nil {
		b.Fatalf("load data: %v", dataErr)
	}
	return data
}

// stepper is a trainer on a device with the batches it steps through.
type stepper struct {
	t    *engine.Trainer
	s    engine.Samples
	bs   [][]int // the training set's full batches, in order
	next int     // the next batch
}

// step takes one optimizer step on the next batch.
func (st *stepper) step(b *testing.B) {
	if _, err := st.t.Step(st.s, st.bs[st.next%len(st.bs)]); err != nil {
		b.Fatalf("step %d (λ=%v): %v", st.t.Steps()+1, st.t.Config.Spec.Lambda, err)
	}
	st.next++
}

// flush waits for a device's deferred steps (Trainer.Flush; a no-op on the
// CPU).
func (st *stepper) flush(b *testing.B) {
	if _, err := st.t.Flush(); err != nil {
		b.Fatalf("flush: %v", err)
	}
}

// cache keeps a benchmark's steppers, by name, across the runs the testing
// package makes of each sub-benchmark (one per b.N it tries), so that each
// is built and warmed up once. They are closed when the benchmark ends.
type cache map[string]*stepper

func newCache(b *testing.B) cache {
	c := cache{}
	b.Cleanup(func() {
		for _, st := range c {
			st.t.Close()
		}
	})
	return c
}

// get returns the stepper called key for cfg on dev, building it and taking
// the warm-up steps on first use. It skips b, saying why, when dev cannot be
// had: engine.SelectDevice's reason when this build has no CUDA
// (engine.CUDABuild is false) or the machine has no usable GPU.
func (c cache) get(b *testing.B, key string, dev engine.Device, cfg engine.Config) *stepper {
	b.Helper()
	if st, ok := c[key]; ok {
		return st
	}
	if _, _, err := engine.SelectDevice(string(dev)); err != nil {
		b.Skipf("device %s: %v", dev, err)
	}
	cfg.Device = dev
	t, err := engine.NewTrainer(cfg)
	if err != nil {
		b.Fatalf("new trainer on %s: %v", dev, err)
	}
	d := benchData(b)
	n := d.Train.N / cfg.Batch
	if n == 0 {
		t.Close()
		b.Fatalf("%d training samples do not make one batch of %d", d.Train.N, cfg.Batch)
	}
	st := &stepper{t: t, s: d.Train, bs: make([][]int, n)}
	for i := range st.bs {
		st.bs[i] = make([]int, cfg.Batch)
		for j := range st.bs[i] {
			st.bs[i][j] = i*cfg.Batch + j
		}
	}
	c[key] = st
	for range warmup {
		st.step(b)
	}
	st.flush(b)
	return st
}

// forEachCase runs f as the sub-benchmark <device>/<config>/b<batch> for
// every case of the matrix.
func forEachCase(b *testing.B, f func(b *testing.B, dev engine.Device, cfg engine.Config)) {
	for _, dev := range devices {
		b.Run(string(dev), func(b *testing.B) {
			for _, name := range configs {
				b.Run(name, func(b *testing.B) {
					for _, batch := range batches {
						b.Run(fmt.Sprintf("b%d", batch), func(b *testing.B) {
							cfg, err := benchConfig(name, batch)
							if err != nil {
								b.Fatal(err)
							}
							f(b, dev, cfg)
						})
					}
				})
			}
		})
	}
}

// BenchmarkTrainStep times Trainer.Step, one optimizer step (forward,
// backward, Adam) on a full batch, over successive batches of the training
// set, after warm-up. It reports samples/s, the useful GEMM GFLOP/s (see
// usefulFlops) and, with ReportAllocs, the allocations of one step.
func BenchmarkTrainStep(b *testing.B) {
	c := newCache(b)
	forEachCase(b, func(b *testing.B, dev engine.Device, cfg engine.Config) {
		st := c.get(b, b.Name(), dev, cfg)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 1; i <= b.N; i++ {
			st.step(b)
			if i%flushEvery == 0 {
				st.flush(b)
			}
		}
		st.flush(b)
		b.StopTimer()
		secs := b.Elapsed().Seconds()
		b.ReportMetric(float64(b.N*cfg.Batch)/secs, "samples/s")
		b.ReportMetric(usefulFlops(cfg.Spec, cfg.Batch)*float64(b.N)/secs/1e9, "GFLOP/s")
	})
}

// BenchmarkPenalty measures what the contractive penalty adds to a training
// step: two trainers that differ only in λ (the config's, and 0) take
// alternate steps on the same batches, each step timed on its own (and
// flushed, so on a device each includes one read-back). One iteration is
// one step of each.
//
// At λ = 0 the step still reports the penalty, so the engine may still
// compute its value; penalty-ns/step is then the cost of its gradient. If
// the engine learns to skip it at λ = 0, it becomes the whole cost.
//
// Reported: with-ns/step (λ > 0), without-ns/step (λ = 0), their difference
// penalty-ns/step and penalty-% (the difference as a share of the step).
func BenchmarkPenalty(b *testing.B) {
	c := newCache(b)
	forEachCase(b, func(b *testing.B, dev engine.Device, cfg engine.Config) {
		off := cfg
		off.Spec.Lambda = 0
		off.Spec.Arch = append([]int(nil), cfg.Spec.Arch...)
		with := c.get(b, b.Name()+"/with", dev, cfg)
		without := c.get(b, b.Name()+"/without", dev, off)
		timed := func(st *stepper) time.Duration {
			t0 := time.Now()
			st.step(b)
			st.flush(b)
			return time.Since(t0)
		}
		var tw, to time.Duration
		b.ResetTimer()
		for i := range b.N {
			if i%2 == 0 { // alternate which goes first
				tw += timed(with)
				to += timed(without)
			} else {
				to += timed(without)
				tw += timed(with)
			}
		}
		b.StopTimer()
		n := float64(b.N)
		w, o := float64(tw.Nanoseconds())/n, float64(to.Nanoseconds())/n
		b.ReportMetric(w, "with-ns/step")
		b.ReportMetric(o, "without-ns/step")
		b.ReportMetric(w-o, "penalty-ns/step")
		b.ReportMetric(100*(w-o)/w, "penalty-%")
	})
}

// BenchmarkEval times Evaluator.Evaluate over the first 1000 test images:
// the forward pass, the reconstruction loss and the exact penalty of each
// image, in the engine's evaluation batches (engine.EvalBatch). The
// Evaluator runs on the CPU in every build (a trainer on a device syncs its
// parameters to it), so there is only a cpu level.
func BenchmarkEval(b *testing.B) {
	b.Run(string(engine.CPU), func(b *testing.B) {
		for _, name := range configs {
			b.Run(name, func(b *testing.B) {
				cfg, err := benchConfig(name, 128)
				if err != nil {
					b.Fatal(err)
				}
				t, err := engine.NewTrainer(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer t.Close()
				d := benchData(b)
				n := min(evalN, d.Test.N)
				if _, err := t.Evaluate(d.Test, n); err != nil { // warm-up
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := t.Evaluate(d.Test, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	})
}

// BenchmarkSgemm times C = A·B with A [m,k] and B [k,n] on one goroutine,
// two ways: blas32.Gemm (<blas>/…: gonum's pure-Go SGEMM in the default
// build, OpenBLAS, as the engine configures it, one thread per call, with
// -tags openblas), and kernels.MatMul (matmul-<sgemm>/…: what the engine
// calls, caetrain's own gemm where kernels.Sgemm is "avx2"). compare.sh
// measures the machine's best SGEMM, OpenBLAS's on all cores, through
// torch_cae.py --sgemm.
func BenchmarkSgemm(b *testing.B) {
	for _, sz := range [][3]int{{1024, 1024, 1024}, {128, 784, 1000}, {1024, 784, 1000}} {
		m, k, n := sz[0], sz[1], sz[2]
		mat := func(r, c int) blas32.General {
			g := blas32.General{Rows: r, Cols: c, Stride: c, Data: make([]float32, r*c)}
			for i := range g.Data {
				g.Data[i] = float32(i%7) * 0.125
			}
			return g
		}
		x, y, z := mat(m, k), mat(k, n), mat(m, n)
		b.Run(fmt.Sprintf("%s/%dx%dx%d", kernels.BLAS, m, k, n), func(b *testing.B) {
			blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, x, y, 0, z)
			for b.Loop() {
				blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, x, y, 0, z)
			}
			b.ReportMetric(2*float64(m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("matmul-%s/%dx%dx%d", kernels.Sgemm, m, k, n), func(b *testing.B) {
			kernels.MatMul(z.Data, x.Data, y.Data, m, n, k, false, false)
			for b.Loop() {
				kernels.MatMul(z.Data, x.Data, y.Data, m, n, k, false, false)
			}
			b.ReportMetric(2*float64(m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// usefulFlops counts the floating-point operations of the matrix products
// that one training step of spec at batch size B cannot do without; how is
// in README.md. Elementwise work (activations, their derivatives, the loss,
// the one-layer penalty, Adam) is not counted. The CAE+H term is not
// counted either: no benchmarked config has it.
//
// For widths n_0 … n_L (n_0 the input, n_L the code):
//
//	autoencoder: Σ_k (c_k + 6)·B·n_{k−1}·n_k, c_1 = 4, c_k = 6 for k ≥ 2
//	             (a dense layer costs 2·B·in·out forward and as much for each
//	             of ∂W and ∂input; the first layer needs no ∂input)
//	penalty, L ≥ 2: 4·n_0·n_1²                      (G = W_1ᵀW_1 and ∂W_1 from ∂G)
//	              + 4·B·n_L·n_1²                    (M·G, and Σ_b M_bᵀ(·)M_b for ∂G)
//	              + 6·B·n_L·Σ_{k=2}^{L−1} n_{k−1}·n_k (the chain M = D_L W_Lᵀ ⋯ W_2ᵀ D_1)
//	penalty, L = 1: 0 (Σ_j d_j² Σ_i W_ij² is elementwise)
func usefulFlops(s graph.Spec, batch int) float64 {
	a, B := s.Arch, float64(batch)
	L := len(a) - 1
	var f float64
	for k := 1; k <= L; k++ {
		enc := 6.0
		if k == 1 {
			enc = 4
		}
		f += (enc + 6) * B * float64(a[k-1]*a[k])
	}
	if L >= 2 {
		n0, n1, nL := float64(a[0]), float64(a[1]), float64(a[L])
		f += 4 * n0 * n1 * n1
		f += 4 * B * nL * n1 * n1
		for k := 2; k <= L-1; k++ {
			f += 6 * B * nL * float64(a[k-1]*a[k])
		}
	}
	return f
}

// TestUsefulFlops pins the FLOP count against the hand computation in
// README.md.
func TestUsefulFlops(t *testing.T) {
	for _, c := range []struct {
		name  string
		batch int
		want  float64
	}{
		// 128·532480 + 4·784·64² + 4·128·16·64² + 6·128·16·64·32
		{"seed", 128, 139722752},
		{"seed", 1024, 1027866624},
		// 10·128·784·1000
		{"sig1000", 128, 1003520000},
		{"rifai", 1024, 8028160000},
	} {
		cfg, err := benchConfig(c.name, c.batch)
		if err != nil {
			t.Fatal(err)
		}
		if got := usefulFlops(cfg.Spec, c.batch); got != c.want {
			t.Errorf("%s b%d: usefulFlops = %.0f, want %.0f", c.name, c.batch, got, c.want)
		}
	}
}

// TestBenchConfigs checks that every benchmarked config is valid and that
// sig1000 is the config (2).
func TestBenchConfigs(t *testing.T) {
	for _, name := range configs {
		for _, batch := range batches {
			if _, err := benchConfig(name, batch); err != nil {
				t.Errorf("%s b%d: %v", name, batch, err)
			}
		}
	}
	cfg, _ := benchConfig("sig1000", 128)
	s := cfg.Spec
	if fmt.Sprint(s.Arch) != "[784 1000]" || s.Act != graph.Sigmoid || s.OutAct != graph.Sigmoid || s.Tied || s.Loss != graph.SSE || s.Lambda != 0.1 {
		t.Errorf("sig1000 = %+v", s)
	}
}
