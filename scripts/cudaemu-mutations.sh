#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# cudaemu-mutations.sh: shows that the CUDA kernel suite, run under the
# emulated driver (kernels/cudaemu), catches the GPU bugs that a CPU-only
# CI would otherwise let through to the first real GPU. For each mutation
# it copies the tracked files into a temporary tree, applies the one
# change, builds the emulator and the gpu build's kernel tests there, runs
#
#	go test -tags gpu -run CUDA ./kernels
#
# under the emulator, and requires it to FAIL. It prints each mutation
# with the first failure lines and exits 1 if any mutation survives.
#
# usage: scripts/cudaemu-mutations.sh
# Needs what the gpu build needs (go, g++, Debian's nvidia-cuda-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
git ls-files -z | (cd "$repo" && xargs -0 cp --parents -t "$tmp")

# name | file | perl substitution (applied with perl -0pi)
mutations=(
	"swapped transpose flags in the cuBLAS call of MatMul|kernels/cuda_gpu_blas.go|s/d\.blas\.Sgemm\(tB, tA,/d.blas.Sgemm(tA, tB,/"
	"wrong leading dimension of B (k instead of n) in MatMul|kernels/cuda_gpu_blas.go|s/tB, ldb := blas\.NoTrans, n\n/tB, ldb := blas.NoTrans, k\n/"
	"int64 where the kernel takes int (BiasAct's rows)|kernels/cuda_gpu_kernels.go|s/\td\.i32\(rows\)\n\td\.i32\(n\)\n\td\.i32\(int\(act\)\)\n\treturn d\.flat\(kBiasAct/\td.arg(uint64(rows), kindInt64)\n\td.i32(n)\n\td.i32(int(act))\n\treturn d.flat(kBiasAct/"
	"missing __syncthreads in cae_block_sum's reduction loop|kernels/cuda/common.cuh|s/(\t\t\tsh\[t\] \+= sh\[t \+ s\];\n\t\t\}\n)\t\t__syncthreads\(\);\n/\$1/"
	"a host-to-device copy of one element too many|kernels/cuda_gpu.go|s/cu\.MemcpyHtoD\(dst, src, 4\*int64\(n\)\)/cu.MemcpyHtoD(dst, src, 4*int64(n+1))/"
)

survived=0
for m in "${mutations[@]}"; do
	IFS='|' read -r name file expr <<<"$m"
	cp "$repo/$file" "$tmp/$file"
	perl -0pi -e "$expr" "$tmp/$file"
	if cmp -s "$repo/$file" "$tmp/$file"; then
		echo "cudaemu-mutations.sh: the mutation \"$name\" no longer applies to $file; update this script" >&2
		exit 1
	fi
	echo "== mutation: $name ($file)"
	log="$tmp/log"
	if ! make -s -C "$tmp/kernels/cudaemu" >"$log" 2>&1; then
		echo "   the emulator does not build:"; awk 'NR <= 20 { print "   | " $0 }' "$log"; exit 1
	fi
	if (cd "$tmp" && LD_LIBRARY_PATH="$tmp/kernels/cudaemu/build" go test -count=1 -tags gpu -run CUDA ./kernels) >"$log" 2>&1; then
		echo "   SURVIVED: the kernel suite passed with it"
		survived=$((survived + 1))
	else
		echo "   caught:"
		awk '/--- FAIL|cudaemu:|_test.go:[0-9]+:/ && n < 6 { print "   | " $0; n++ }' "$log"
	fi
	cp "$repo/$file" "$tmp/$file"
done
if [ "$survived" -gt 0 ]; then
	echo "cudaemu-mutations.sh: $survived mutation(s) survived" >&2
	exit 1
fi
echo "== all ${#mutations[@]} mutations caught"
