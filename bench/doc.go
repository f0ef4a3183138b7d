// SPDX-License-Identifier: Apache-2.0

// Package bench holds caetrain's benchmarks and the PyTorch peer they are
// compared with. It has no code of its own: everything is in _test.go files
// and scripts, and measures the engine only through its public API
// (engine.NewTrainer, Trainer.Step, Evaluator.Evaluate), so that it times
// whatever the engine does.
//
//	go test -run '^$' -bench . ./bench            # every benchmark
//	go test -run '^$' -bench 'TrainStep/cpu' ./bench
//	bench/compare.sh                               # caetrain vs PyTorch, side by side
//
// The benchmarks:
//
//   - BenchmarkTrainStep/<device>/<config>/b<batch>: one optimizer step
//     (forward, backward, Adam) on successive batches of Fashion-MNIST,
//     after warm-up. Reports samples/s, useful GEMM GFLOP/s and allocations
//     per step. Devices cpu and cuda (cuda skips, saying why, in a build or
//     on a machine without CUDA); configs seed, rifai and sig1000; batches
//     128 and 1024.
//   - BenchmarkPenalty/<device>/<config>/b<batch>: the marginal cost of the
//     contractive penalty in a training step, from interleaved steps of two
//     trainers that differ only in λ (the config's, and 0).
//   - BenchmarkEval/cpu/<config>: Evaluator.Evaluate over 1000 test images
//     (reconstruction loss and exact penalty, forward only).
//   - BenchmarkSgemm/<blas>/<m>x<k>x<n>: one blas32.Gemm call with the
//     build's BLAS (gonum, or OpenBLAS with -tags openblas), for scale.
//
// The flag -vm (go test ./bench -args -vm=gorgonia) picks the engine's CPU
// VM; the build tags pick its BLAS.
//
// torch_cae.py is the PyTorch peer (same models, loss, exact penalty and
// optimizer) and compare.sh runs both, interleaved, and prints the ratios.
// README.md has the FLOP count, the commands and the results.
package bench
