#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# gpucheck.sh: the one-shot check of caetrain's CUDA VM on a lent GPU
# machine (no Go toolchain, no network, CUDA 13 libraries, minutes of
# device time), prepared here and rehearsed against the emulated driver.
#
#   bench/gpucheck.sh build [DIR]      here: build everything into DIR
#                                       (default gpucheck/, git-ignored)
#   bench/gpucheck.sh run [DIR]        there: run the check, writing
#                                       DIR/gpucheck.log
#   GPUCHECK_EMULATED=1 bench/gpucheck.sh run [DIR]
#                                       here: the same run under
#                                       kernels/cudaemu (the rehearsal)
#
# build makes, with Debian's CUDA 11.8 headers: caetrain-gpu and the gpu
# test binaries of kernels, engine and bench, each linked against a stub
# that carries the libcublas.so.13 SONAME (scripts/cublas-stub.sh), so
# that they load a CUDA 13 machine's cuBLAS; stripped and xz-compressed
# (run unpacks them) to fit a device run's 64 MiB carry limit with
# Fashion-MNIST beside them; the emulator (kernels/cudaemu/build) for the
# rehearsal; this script and bench/torch_cae.py.
#
# run, in order, each step under its own time limit and all within
# GPUCHECK_BUDGET seconds (450 on a GPU, 1200 emulated), each logged with
# its exit status:
#   1. the machine: nvidia-smi, the binaries' libraries, every imported
#      CUDA symbol resolved (LD_BIND_NOW), caetrain-gpu probe;
#   2. the kernel suite on the device (kernels.test -test.run CUDA);
#   3. the 200-step CPU-vs-CUDA parity test of the seed and rifai presets,
#      and the fine-tuning parity test (engine.test -test.run
#      'TestCUDAParity|TestCUDAFinetuneParity');
#   4. caetrain --device=cuda, one epoch of the full Fashion-MNIST (from
#      $GPUCHECK_DATA, ../shared/data/fashion-mnist, shared/data/...,
#      /usr/share/datasets/fashion-mnist; else the embedded sample, said
#      so), then caetrain eval --quick of the model, and 2 epochs of
#      caetrain finetune --device=cuda from it;
#   5. the training-step benchmarks on cuda and on the machine's CPU
#      (bench.test), and PyTorch's on
#      the same GPU (bench/torch_cae.py --device cuda) if python3 has torch
#      with CUDA.
# It ends with one line per step, PASS or FAIL, and exits 1 if any failed.
set -uo pipefail

mode="${1:-}"
dir="${2:-gpucheck}"
here="$(cd "$(dirname "$0")/.." && pwd)"

build() {
	set -e
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	cd "$here"
	export GOFLAGS="${GOFLAGS:-} -ldflags=-s" # -s: no symbol table, no DWARF
	scripts/cublas-stub.sh -o "$dir/caetrain-gpu" ./cmd/caetrain
	for p in kernels engine bench; do
		scripts/cublas-stub.sh -test -o "$dir/$p.test" "./$p"
	done
	make -s -C kernels/cudaemu
	mkdir -p "$dir/cudaemu"
	cp -L kernels/cudaemu/build/libcuda.so.1 kernels/cudaemu/build/libcublas.so.13 "$dir/cudaemu/"
	cp bench/gpucheck.sh bench/torch_cae.py "$dir/"
	# xz: the four binaries are ~90 MB, ~37 MB gzipped, less with xz, which
	# leaves room under the 64 MiB carry limit for Fashion-MNIST (31 MB).
	for b in caetrain-gpu kernels.test engine.test bench.test; do
		rm -f "$dir/$b.xz"
		xz -9 -T0 "$dir/$b"
	done
	# The data travel with the binaries: the GPU machine sees only the
	# checkout and what is carried.
	src="${GPUCHECK_DATA:-$here/../shared/data/fashion-mnist}"
	if [ -e "$src/train-images-idx3-ubyte.gz" ]; then
		mkdir -p "$dir/fashion-mnist"
		cp "$src"/*-ubyte.gz "$dir/fashion-mnist/"
	else
		echo "gpucheck.sh: no Fashion-MNIST at $src; the run will use the embedded sample" >&2
	fi
	du -sh "$dir"
	echo "gpucheck.sh: built $dir; on the GPU machine: $dir/gpucheck.sh run $dir" >&2
}

run() {
	dir="$(cd "$dir" && pwd)"
	log="$dir/gpucheck.log"
	: >"$log"
	for b in caetrain-gpu kernels.test engine.test bench.test; do
		if [ -e "$dir/$b.xz" ] && [ ! -e "$dir/$b" ]; then
			# python3's lzma where xz is not installed.
			{ xz -dkc "$dir/$b.xz" 2>/dev/null ||
				python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$dir/$b.xz"; } >"$dir/$b" &&
				chmod +x "$dir/$b"
		fi
	done
	say() { echo "$*" | tee -a "$log"; }
	results=()
	# step NAME LIMIT COMMAND...: run COMMAND with a time limit, logged.
	step() {
		local name="$1" limit="$2"
		shift 2
		local left=$((deadline - SECONDS))
		if [ "$limit" -gt "$left" ]; then limit=$left; fi
		if [ "$limit" -le 0 ]; then
			say ""
			say "== $name: not run, the ${budget}s budget is spent"
			results+=("FAIL $name (no time left)")
			return
		fi
		say ""
		say "== $name (limit ${limit}s): $*"
		local t0=$SECONDS
		timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$log"
		local rc=${PIPESTATUS[0]}
		say "== $name: exit $rc after $((SECONDS - t0))s"
		if [ "$rc" = 0 ]; then results+=("PASS $name"); else results+=("FAIL $name (exit $rc)"); fi
	}
	# The whole run fits GPUCHECK_BUDGET seconds (default 450: a lent GPU's
	# 15 minutes include its start; 1200 under the emulator, which is slow).
	budget="${GPUCHECK_BUDGET:-450}"
	[ "${GPUCHECK_EMULATED:-0}" = 1 ] && budget="${GPUCHECK_BUDGET:-1200}"
	deadline=$((SECONDS + budget))
	if [ "${GPUCHECK_EMULATED:-0}" = 1 ]; then
		export LD_LIBRARY_PATH="$dir/cudaemu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
		say "gpucheck.sh: EMULATED run (kernels/cudaemu, kernels on the CPU): a rehearsal, not a GPU result"
	elif ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.13 '; then
		# cuBLAS 13 outside the loader's cache: CUDA's own folder or the
		# nvidia-cublas wheel that PyTorch brings.
		for f in /usr/local/cuda*/lib64/libcublas.so.13 /usr/local/cuda*/targets/x86_64-linux/lib/libcublas.so.13 \
			$(python3 -c 'import glob, site; print(" ".join(p for d in site.getsitepackages() for p in glob.glob(d + "/nvidia/*/lib/libcublas.so.13")))' 2>/dev/null) \
			$(timeout 30 find / -xdev -name libcublas.so.13 -not -path '*cudaemu*' 2>/dev/null | head -1); do
			if [ -e "$f" ]; then
				export LD_LIBRARY_PATH="$(dirname "$f")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
				break
			fi
		done
		say "gpucheck.sh: libcublas.so.13 not in ldconfig's cache; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
	fi
	say "gpucheck.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs"

	data=""
	for d in "${GPUCHECK_DATA:-}" "$dir/fashion-mnist" "$dir/../../shared/data/fashion-mnist" "$dir/../shared/data/fashion-mnist" \
		"$PWD/shared/data/fashion-mnist" "$PWD/../shared/data/fashion-mnist" /usr/share/datasets/fashion-mnist; do
		if [ -n "$d" ] && [ -e "$d/train-images-idx3-ubyte.gz" ]; then data="$(cd "$d" && pwd)"; break; fi
	done

	step "machine" 30 bash -c "command -v nvidia-smi >/dev/null && nvidia-smi || echo 'no nvidia-smi'
		ldd '$dir/caetrain-gpu' | grep -E 'cuda|cublas'
		LD_BIND_NOW=1 '$dir/caetrain-gpu' probe"
	step "kernel suite" 90 bash -c "set -o pipefail; cd '$dir' && ./kernels.test -test.run CUDA -test.v -test.count=1 | grep -E '^(---|ok|PASS|FAIL)|cudaemu'"
	step "CPU-vs-CUDA parity, 200 steps, and fine-tuning" 200 bash -c "cd '$dir' && ./engine.test -test.run 'TestCUDAParity|TestCUDAFinetuneParity' -test.v -test.count=1"
	if [ -n "$data" ]; then
		say "data: $data"
		step "caetrain --device=cuda, one epoch of Fashion-MNIST" 120 \
			"$dir/caetrain-gpu" --device=cuda --data "$data" --epochs 1 --out "$dir/run-fashion"
	else
		say "data: no Fashion-MNIST found: one epoch of the embedded sample instead"
		step "caetrain --device=cuda, one epoch of the embedded sample" 120 \
			"$dir/caetrain-gpu" --device=cuda --epochs 1 --out "$dir/run-fashion"
	fi
	step "caetrain eval of that model" 60 "$dir/caetrain-gpu" eval --model "$dir/run-fashion" --quick ${data:+--data "$data"}
	step "caetrain finetune --device=cuda of that model, 2 epochs" 90 \
		"$dir/caetrain-gpu" finetune --model "$dir/run-fashion" --device cuda --epochs 2 ${data:+--data "$data"} --out "$dir/run-finetune"
	# 30 steps each on a GPU; 2 under the emulator (its products run on the CPU).
	bt="${GPUCHECK_BENCHTIME:-30x}"
	[ "${GPUCHECK_EMULATED:-0}" = 1 ] && bt="${GPUCHECK_BENCHTIME:-2x}"
	# cpu too: the same machine's cores, for the CPU-vs-CUDA ratio.
	step "training-step benchmarks, cuda and cpu" 150 bash -c "cd '$dir' && ./bench.test -test.run '^\$' -test.bench 'TrainStep/(cuda|cpu)' -test.benchtime $bt"
	if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
		step "PyTorch peer on the GPU" 150 python3 "$dir/torch_cae.py" --device cuda --chunks 3 --chunk-seconds 1
	else
		say ""
		say "== PyTorch peer: skipped (no python3 with CUDA-enabled torch here)"
	fi
	say ""
	say "== summary"
	local failed=0
	for r in "${results[@]}"; do
		say "$r"
		case "$r" in FAIL*) failed=1 ;; esac
	done
	say "log: $log"
	return "$failed"
}

case "$mode" in
build) build ;;
run) run ;;
*)
	sed -n '2,/^set -uo/p' "$0" | sed 's/^# \{0,1\}//; /^set -uo/d' >&2
	exit 2
	;;
esac
