#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# compare.sh: caetrain's BenchmarkTrainStep/cpu against the PyTorch peer
# (bench/torch_cae.py), side by side on this machine, interleaved, over
# several rounds, and a table per config: samples/s of each, their ratio,
# caetrain's useful GEMM GFLOP/s and its share of the machine's SGEMM rate.
#
#   bench/compare.sh                      # 3 rounds, every config and batch
#   ROUNDS=5 CONFIGS="seed" BATCHES="128" bench/compare.sh
#
# Settings (environment): ROUNDS (3), CONFIGS ("seed sig1000 rifai"),
# BATCHES ("128 1024"), GO_TAGS (build tags for caetrain, e.g. openblas;
# default none: the pure-Go build), GO_VM (the engine's CPU VM, fast or
# gorgonia; default the engine's default), GO_BENCHTIME (3s, per caetrain measurement),
# TORCH_CHUNKS (5) and TORCH_CHUNK_SECONDS (0.6, per PyTorch measurement),
# PY (/usr/bin/python3: Debian's, with python3-torch), OPENBLAS_DIR
# (/usr/lib/x86_64-linux-gnu/openblas-openmp), OPENBLAS_CORETYPE (Haswell),
# QUIET_WAIT (30: at most this many seconds to wait for an idle machine
# before each measurement; 0 turns the wait off), MAX_OTHERS (10) and
# RETRIES (2: a measurement during which other processes took more than
# MAX_OTHERS% of the machine is taken again, up to RETRIES times, and the
# least disturbed one kept), OUT (a directory for the raw results; default
# a new temporary one).
#
#   bench/compare.sh --table DIR          # the table again, from DIR's results
#
# Each round runs, for every config and batch, the two tools one after the
# other, alternating which goes first from round to round. The table gives
# medians over the rounds. The raw lines (caetrain's in Go benchmark format,
# for benchstat) are kept in $OUT.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
CONFIGS=${CONFIGS:-"seed sig1000 rifai"}
BATCHES=${BATCHES:-"128 1024"}
GO_BENCHTIME=${GO_BENCHTIME:-3s}
TORCH_CHUNKS=${TORCH_CHUNKS:-5}
TORCH_CHUNK_SECONDS=${TORCH_CHUNK_SECONDS:-0.6}
PY=${PY:-/usr/bin/python3}
OPENBLAS_DIR=${OPENBLAS_DIR:-/usr/lib/x86_64-linux-gnu/openblas-openmp}
QUIET_WAIT=${QUIET_WAIT:-30}
GO_TAGS=${GO_TAGS:-}
GO_VM=${GO_VM:-}
MAX_OTHERS=${MAX_OTHERS:-10}
RETRIES=${RETRIES:-2}
NCPU=$(nproc)

# PyTorch on all cores, on OpenMP OpenBLAS with the right kernel (this
# machine's AMD EPYC has AVX2 and FMA but no AVX-512: Haswell; OpenBLAS
# 0.3.21 picks it too, but say so rather than trust detection). The
# pthread OpenBLAS would fight torch's OpenMP pool. The loader path and the
# thread count are torch's only: caetrain's OpenBLAS build links the
# pthread OpenBLAS by its own path. The kernel choice applies to both.
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
TORCH_ENV=(env "LD_LIBRARY_PATH=$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "OMP_NUM_THREADS=$NCPU")
GO_ARGS=()
if [[ -n $GO_VM ]]; then
	GO_ARGS=("-vm=$GO_VM")
fi

cd "$(dirname "$0")/.."
log() { printf '%s\n' "$*" >&2; }

# table prints the table for the results in directory $1.
table() {
	echo
	cat "$1/meta.txt"
	echo
	sort -t$'\t' -k2,2 -k3,3n -k4,4 "$1/results.tsv" | awk -F'\t' -v ob="$(cat "$1/sgemm-rate")" -v order="$(cat "$1/configs")" '
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{
		k = $2 SUBSEP $3
		if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
		sps[k, $4] = sps[k, $4] " " $5
		if ($4 == "caetrain") {
			gf[k] = gf[k] " " $6
			fps[k] = 1e9 * $6 / $5 # useful FLOPs per sample
			if ($7 + 0 >= al[k] + 0) al[k] = $7
			if ($8 + 0 >= by[k] + 0) by[k] = $8
		}
		if (!(k in bz) || $9 + 0 > bz[k] + 0) bz[k] = $9
	}
	END {
		printf "%-8s %5s | %9s %9s %6s | %8s %8s %7s | %9s %6s | %6s %6s | %6s\n", "config", "batch", "caetrain", "PyTorch", "ratio", "cae", "PyTorch", "cae %", "target", "", "allocs", "B", "other"
		printf "%-8s %5s | %9s %9s %6s | %8s %8s %7s | %9s %6s | %6s %6s | %6s\n", "", "", "samples/s", "samples/s", "", "GFLOP/s", "GFLOP/s", "SGEMM", "samples/s", "met", "/step", "/step", "CPU %"
		n = split(order, cs, " ")
		for (ci = 1; ci <= n; ci++) for (i = 1; i <= nk; i++) {
			split(keys[i], kb, SUBSEP)
			if (kb[1] != cs[ci]) continue
			k = keys[i]
			c = median(sps[k, "caetrain"]); t = median(sps[k, "torch"])
			g = median(gf[k]); pt = fps[k] * t / 1e9
			ratio = (t > 0 ? c / t : 0)
			pct = (ob > 0 ? 100 * g / ob : 0)
			# The target: 1.5× PyTorch, or 80% of the SGEMM rate where 1.5×
			# PyTorch would exceed that rate.
			need = 1.5 * t
			if (1.5 * pt > ob) need = 0.8 * ob * 1e9 / fps[k]
			printf "%-8s %5s | %9.0f %9.0f %6.2f | %8.2f %8.2f %6.1f%% | %9.0f %6s | %6s %6s | %6s\n", kb[1], kb[2], c, t, ratio, g, pt, pct, need, (c >= need ? "yes" : "no"), al[k], by[k], bz[k]
		}
	}'
	echo
	echo "Medians over the rounds. ratio = caetrain / PyTorch. GFLOP/s = useful GEMM FLOPs per second (bench/README.md);"
	echo "PyTorch's is the same FLOPs per sample × its samples/s. cae % SGEMM = caetrain's GFLOP/s against the SGEMM rate."
	echo "target = the samples/s caetrain needs: 1.5× PyTorch, or 80% of the SGEMM rate where 1.5× PyTorch would exceed"
	echo "that rate. allocs, B /step: the most seen in a round. other CPU % = the most CPU time other processes took, as a"
	echo "share of the machine, during this row's measurements."
	echo "raw results: $1 (Go benchmark lines for benchstat: $1/caetrain.txt)"
}

if [[ ${1:-} == --table ]]; then
	table "${2:?usage: compare.sh --table DIR}"
	exit
fi

OUT=${OUT:-$(mktemp -d /tmp/caetrain-compare.XXXXXX)}
mkdir -p "$OUT"
GO_RAW=$OUT/caetrain.txt   # Go benchmark lines, for benchstat
TORCH_RAW=$OUT/torch.txt
RES=$OUT/results.tsv       # round config batch tool samples/s GFLOP/s allocs B others%
: >"$GO_RAW"
: >"$TORCH_RAW"
: >"$RES"

# cpustat prints the machine's total and idle jiffies so far.
cpustat() {
	local u n s i w q sq st
	read -r _ u n s i w q sq st _ </proc/stat
	echo $((u + n + s + i + w + q + sq + st)) $((i + w))
}

# busy prints the percentage of the machine's CPU time, over all cores, used
# during the last second.
busy() {
	local t0 i0 t1 i1
	read -r t0 i0 < <(cpustat)
	sleep 1
	read -r t1 i1 < <(cpustat)
	local tot=$((t1 - t0))
	((tot > 0)) || tot=1
	echo $((100 * (tot - (i1 - i0)) / tot))
}

# quiet waits, at most QUIET_WAIT s, until the machine is under 10% busy.
quiet() {
	local waited=0
	while (($(busy) >= 10 && waited < QUIET_WAIT)); do
		waited=$((waited + 1))
	done
}

# measure runs "$@" with its stdout in $OUT/last.out, and sets OTHERS to the
# percentage of the machine's CPU time that other processes used while it
# ran: all the time not idle minus the command's own user and system time.
# When others took more than MAX_OTHERS%, it runs the command again, up to
# RETRIES more times, and keeps the least disturbed run.
measure() {
	local t0 i0 t1 i1 rt ut st o try best=101
	for ((try = 0; try <= RETRIES; try++)); do
		quiet
		read -r t0 i0 < <(cpustat)
		local TIMEFORMAT='%3R %3U %3S'
		{ time "$@" >"$OUT/try.out" 2>/dev/null; } 2>"$OUT/last.time" || true
		read -r t1 i1 < <(cpustat)
		read -r rt ut st <"$OUT/last.time"
		o=$(awk -v tot=$((t1 - t0)) -v idle=$((i1 - i0)) -v own="$ut $st" -v hz="$(getconf CLK_TCK)" 'BEGIN {
			split(own, o, " "); busy = tot - idle - (o[1] + o[2]) * hz
			printf "%d", (tot > 0 && busy > 0) ? 100 * busy / tot : 0 }')
		if ((o < best)); then
			best=$o
			mv "$OUT/try.out" "$OUT/last.out"
		fi
		if ((best <= MAX_OTHERS)); then
			break
		fi
		log "  (others took ${o}% of the machine; again)"
	done
	OTHERS=$best
}

log "compare.sh: building the Go benchmark binary"
go test -c -tags "$GO_TAGS" -o "$OUT/bench.test" ./bench
GOVERSION=$(go env GOVERSION)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain -- engine graph kernels go.mod go.sum 2>/dev/null) ]]; then
	REV="$REV+uncommitted"
fi

# The cores' FMA peak (bench/fmapeak), where gcc and AVX2+FMA are there.
FMAPEAK=
if command -v gcc >/dev/null && grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
	gcc -O2 -mavx2 -mfma -pthread bench/fmapeak/fmapeak.c -o "$OUT/fmapeak" && FMAPEAK="$OUT/fmapeak"
fi

sgemm_rates() {
	"${TORCH_ENV[@]}" "$PY" bench/torch_cae.py --sgemm | tee -a "$TORCH_RAW"
	if [[ -n $FMAPEAK ]]; then "$FMAPEAK"; fi
	"$OUT/bench.test" -test.run '^$' -test.bench '^BenchmarkSgemm$//^1024x1024x1024$' \
		-test.benchtime=2s "${GO_ARGS[@]}" >"$OUT/go-config.txt"
	grep '^Benchmark' "$OUT/go-config.txt" | tee -a "$GO_RAW"
}

: >"$OUT/sgemm.txt"
sgemm_round() {
	log "compare.sh: SGEMM rates"
	quiet
	sgemm_rates | tee -a "$OUT/sgemm.txt" >&2
}

run_go() { # config batch round
	measure "$OUT/bench.test" -test.run '^$' -test.bench "^BenchmarkTrainStep\$/^cpu\$/^$1\$/^b$2\$" \
		-test.benchtime="$GO_BENCHTIME" "${GO_ARGS[@]}"
	local line
	line=$(grep '^BenchmarkTrainStep' "$OUT/last.out" || true)
	if [[ -z $line ]]; then
		log "  caetrain $1 b$2: no result"
		return 0
	fi
	echo "$line" >>"$GO_RAW"
	log "  caetrain $1 b$2: $line (others ${OTHERS}%)"
	# Fields: name N ns/op then value-unit pairs.
	awk -v r="$3" -v c="$1" -v bt="$2" -v busy="$OTHERS" '{
		for (i = 3; i < NF; i += 2) v[$(i+1)] = $i
		printf "%s\t%s\t%s\tcaetrain\t%s\t%s\t%s\t%s\t%s\n", r, c, bt, v["samples/s"], v["GFLOP/s"], v["allocs/op"], v["B/op"], busy
	}' <<<"$line" >>"$RES"
}

run_torch() { # config batch round
	measure "${TORCH_ENV[@]}" "$PY" bench/torch_cae.py --configs "$1" --batches "$2" --chunks "$TORCH_CHUNKS" \
		--chunk-seconds "$TORCH_CHUNK_SECONDS"
	local line
	line=$(grep '^torch ' "$OUT/last.out" || true)
	if [[ -z $line ]]; then
		log "  torch    $1 b$2: no result"
		return 0
	fi
	echo "$line" >>"$TORCH_RAW"
	log "  torch    $1 b$2: ${line%% torch=*} (others ${OTHERS}%)"
	awk -v r="$3" -v c="$1" -v bt="$2" -v busy="$OTHERS" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%s\t%s\t%s\ttorch\t%s\t-\t-\t-\t%s\n", r, c, bt, v["samples_per_s"], busy
	}' <<<"$line" >>"$RES"
}

for ((round = 1; round <= ROUNDS; round++)); do
	sgemm_round
	log "compare.sh: round $round of $ROUNDS"
	for c in $CONFIGS; do
		for bt in $BATCHES; do
			if ((round % 2 == 1)); then
				run_go "$c" "$bt" "$round"
				run_torch "$c" "$bt" "$round"
			else
				run_torch "$c" "$bt" "$round"
				run_go "$c" "$bt" "$round"
			fi
		done
	done
done

sgemm_round

# The machine's SGEMM rate is the best 1024³ rate seen from OpenBLAS (the
# fastest SGEMM here), measured before each round and after the last.
OB=$(awk '/^sgemm /{for(i=1;i<=NF;i++){split($i,kv,"="); if(kv[1]=="gflops" && kv[2]+0>m) m=kv[2]+0}} END{print m+0}' "$OUT/sgemm.txt")
GONUM=$(awk '/^BenchmarkSgemm/{for(i=3;i<NF;i+=2) if($(i+1)=="GFLOP/s" && $i+0>m) m=$i+0} END{print m+0}' "$OUT/sgemm.txt")
PEAK=$(awk '/^fmapeak /{for(i=1;i<=NF;i++){split($i,kv,"="); if(kv[1]=="gflops" && kv[2]+0>m) m=kv[2]+0}} END{print m+0}' "$OUT/sgemm.txt")
TORCH_INFO=$(grep -m1 '^torch ' "$TORCH_RAW" | sed 's/.* torch=/torch=/')
GO_INFO=$(grep '^caetrain-' "$OUT/go-config.txt" | sed 's/caetrain-//; s/: /=/' | tr '\n' ' ')
{
	echo "caetrain vs PyTorch, $(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') ×$NCPU cores"
	echo "caetrain $REV, ${GO_INFO}tags=${GO_TAGS:-none}, $GOVERSION GOMAXPROCS=$NCPU; $TORCH_INFO; $ROUNDS rounds, medians"
	echo "SGEMM 1024³: OpenBLAS via torch, all cores: $OB GFLOP/s = the machine's rate (cae % SGEMM is against it); caetrain's best single-call SGEMM (blas32 or kernels.MatMul): $GONUM GFLOP/s"
	if [[ $PEAK != 0 ]]; then
		echo "FMA peak, all cores (bench/fmapeak: AVX2 FMAs, no memory): $PEAK GFLOP/s"
	fi
} >"$OUT/meta.txt"
echo "$OB" >"$OUT/sgemm-rate"
echo "$CONFIGS" >"$OUT/configs"
table "$OUT" | tee "$OUT/table.txt"
