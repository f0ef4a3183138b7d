// SPDX-License-Identifier: Apache-2.0

// Command ptxgen compiles caetrain's CUDA kernels, kernels/cuda/*.cu, to
// PTX and writes kernels/gen_ptx.go, which embeds that PTX in package
// kernels. The PTX is committed, so building caetrain needs neither nvcc
// nor a GPU; only changing a .cu file does.
//
// # Usage
//
//	go generate ./kernels          # runs: go run ../internal/cmd/ptxgen
//	go run ./internal/cmd/ptxgen   # the same, from the repository root
//
// It finds the repository from the working directory (the nearest go.mod
// above it, which must be caetrain's) and takes no arguments. nvcc is
// $NVCC if set, else the nvcc on $PATH, else /usr/local/cuda/bin/nvcc.
// On Debian 12: apt-get install nvidia-cuda-toolkit (non-free), which
// gives CUDA 11.8; the committed PTX was made with it.
//
// # What it does
//
// For each kernels/cuda/<name>.cu, in sorted order, it runs
//
//	nvcc -ptx -arch=compute_75 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -o kernels/cuda/<name>.ptx <name>.cu
//
// IEEE-strict flags keep the float32 arithmetic that of the Go references
// (no fused multiply-adds, denormals kept, correctly rounded division and
// square root). compute_75 is a fixed, old PTX target: the driver
// JIT-compiles it for the GPU it runs on (sm_90 included), and the output
// does not depend on the machine ptxgen runs on, which needs no GPU.
//
// It then reads the kernels each PTX module defines (its .entry lines),
// checks that they are exactly the extern "C" __global__ functions of the
// .cu file and that each is named cae_<op>_f32, removes .ptx files whose
// .cu is gone, and writes kernels/gen_ptx.go: each module's PTX as a
// go:embed string and the sorted list of its kernels (kernels.PTXModules).
// That file carries no build tag, so the default build checks it.
//
// The output is deterministic: the same sources and the same nvcc give the
// same bytes, so CI can run go generate ./kernels and fail on a diff.
// Errors go to stderr with exit status 1.
package main
