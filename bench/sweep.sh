#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# sweep.sh: BenchmarkTrainStep/cpu samples/s at several commits, one run
# per config each, one after another: what each change bought.
#
#   bench/sweep.sh 3d59d5c 121fe39 HEAD        # the OpenBLAS build
#   GO_TAGS= bench/sweep.sh HEAD~3 HEAD        # the pure-Go build
#
# Settings (environment): GO_TAGS (openblas), GO_BENCHTIME (2s), CONFIGS
# ("seed sig1000 rifai"), BATCHES ("128 1024"). It builds each commit's
# benchmark binary in a temporary git worktree; the working tree is left
# alone.
set -euo pipefail
GO_TAGS=${GO_TAGS-openblas}
GO_BENCHTIME=${GO_BENCHTIME:-2s}
CONFIGS=${CONFIGS:-"seed sig1000 rifai"}
BATCHES=${BATCHES:-"128 1024"}
[ $# -gt 0 ] || { echo "usage: bench/sweep.sh COMMIT..." >&2; exit 2; }
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/wt" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach -q "$tmp/wt" HEAD
for c in "$@"; do
	git -C "$tmp/wt" checkout -q --detach "$c"
	(cd "$tmp/wt" && go test ${GO_TAGS:+-tags "$GO_TAGS"} -c -o "$tmp/bench.$c" ./bench)
done
printf '%-14s' config
for c in "$@"; do printf ' %10s' "$c"; done
echo
for cfg in $CONFIGS; do
	for b in $BATCHES; do
		printf '%-14s' "$cfg/b$b"
		for c in "$@"; do
			v=$("$tmp/bench.$c" -test.run '^$' -test.bench "TrainStep/cpu/$cfg/b$b\$" -test.benchtime "$GO_BENCHTIME" 2>/dev/null |
				awk '/^Benchmark/ { for (i = 1; i < NF; i++) if ($(i+1) == "samples/s") print int($i) }')
			printf ' %10s' "${v:-?}"
		done
		echo
	done
done
