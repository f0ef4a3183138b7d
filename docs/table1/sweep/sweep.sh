#!/usr/bin/env bash
# The fine-tuning sweep of issue 15 (docs/table1/README.md, "The
# fine-tuning sweep"), run on a lent GPU machine: rifai CAEs pretrained on
# the GPU (caetrain --device=cuda), fine-tuned on its CPU cores, 4 at a
# time, every run seeded. Prepared here, in a folder beside it:
#
#   GOFLAGS=-ldflags=-s scripts/cublas-stub.sh -o DIR/caetrain-gpu ./cmd/caetrain
#   xz -9 DIR/caetrain-gpu; cp ../shared/data/mnist/*-ubyte.gz DIR/mnist/
#
# and run there as DIR/sweep.sh with BUDGET seconds (OUT: where the logs
# go). Sweep 1 used the pretraining and fine-tuning lists written below;
# sweep 2, sweep2-pre.txt and sweep2-jobs.txt copied to DIR/pre.txt and
# DIR/jobs.txt. One line per run in OUT/sweep.log (sweep1.log, sweep2.log).
set -u
d="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$d/out}"; mkdir -p "$out"
cd "$d"
[ -e caetrain-gpu ] || { xz -dkc caetrain-gpu.xz > caetrain-gpu 2>/dev/null || python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open("caetrain-gpu.xz"), sys.stdout.buffer)' > caetrain-gpu; chmod +x caetrain-gpu; }
budget=${BUDGET:-500}
deadline=$((SECONDS + budget))
log="$out/sweep.log"
echo "sweep start $(date -u +%FT%TZ) $(nproc) cpus" | tee -a "$log"
pre() { # name lambda epochs [flags]
	local t0=$SECONDS name=$1 lambda=$2 epochs=$3
	shift 3
	./caetrain-gpu --preset rifai --device cuda ${DRY:+--max-steps 20} --data mnist --lambda "$lambda" --epochs "$epochs" --seed 1 --checkpoint-every 0 --log-every 100000 --out "pre/$name" "$@" >"pre-$name.log" 2>&1
	echo "pretrain $name lambda=$lambda epochs=$epochs $* rc=$? $((SECONDS - t0))s $(grep -o 'final:.*' "pre-$name.log")" | tee -a "$log"
}
mkdir -p pre ft
if [ -e pre.txt ]; then
	while read -r line; do pre $line; done < pre.txt
else
pre l1e20 1 20
pre l0e20 0 20
pre l1e50 1 50
pre l05e20 0.5 20
pre l2e20 2 20
fi
# name model(or random) args...
[ -e jobs.txt ] || cat > jobs.txt <<'J'
base-adam l1e20 --optimizer adam --lr 3e-3
sgd01 l1e20 --optimizer sgd --lr 0.1 --momentum 0.9
sgd003 l1e20 --optimizer sgd --lr 0.03 --momentum 0.9
sgd01-wd l1e20 --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 1e-4
adam-wd l1e20 --optimizer adam --lr 3e-3 --weight-decay 1e-4
e50-adam l1e50 --optimizer adam --lr 3e-3
e50-sgd01 l1e50 --optimizer sgd --lr 0.1 --momentum 0.9
l05-sgd01 l05e20 --optimizer sgd --lr 0.1 --momentum 0.9
l2-sgd01 l2e20 --optimizer sgd --lr 0.1 --momentum 0.9
l05-adam l05e20 --optimizer adam --lr 3e-3
l2-adam l2e20 --optimizer adam --lr 3e-3
sgd03 l1e20 --optimizer sgd --lr 0.3 --momentum 0.9
ae-sgd01 l0e20 --optimizer sgd --lr 0.1 --momentum 0.9
mlp-sgd01 random --optimizer sgd --lr 0.1 --momentum 0.9
sgd01-wd3 l1e20 --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 3e-4
adam1e3-wd l1e20 --optimizer adam --lr 1e-3 --weight-decay 1e-4
J
ft() {
	local name="$1" model="$2"; shift 2
	local left=$((deadline - SECONDS))
	[ "$left" -gt 20 ] || { echo "ft $name: no time" >>"$log"; return; }
	local src="--model pre/$model"
	[ "$model" = random ] && src="--init random --arch 784,1000 --act sigmoid"
	local t0=$SECONDS
	GOMAXPROCS=4 timeout "$left" ./caetrain-gpu finetune $src --data mnist --epochs ${FT_EPOCHS:-30} --batch 100 --lr-schedule cosine --device cpu --out "ft/$name" --json --seed 1 "$@" >"ft-$name.ndjson" 2>"ft-$name.err"
	local rc=$?
	python3 - "$name" "$rc" "$((SECONDS - t0))" "ft-$name.ndjson" "$*" >>"$log" <<'P'
import json, sys
name, rc, secs, path, args = sys.argv[1:]
best = None; last = 0; final = {}
for line in open(path):
    try: e = json.loads(line)
    except Exception: continue
    if e.get("event") == "epoch":
        last = e["epoch"]
        if best is None or e["val_error"] < best[1]: best = (e["epoch"], e["val_error"], e["train_error"])
    if e.get("event") == "final": final = e
print(f"ft {name:12s} rc={rc} {secs}s epochs={last} best_val={best[1]*100 if best else float('nan'):.2f}% (epoch {best[0] if best else 0}, train {best[2]*100 if best else 0:.2f}%) test={final.get('test_error', float('nan'))*100:.2f}% args: {args}")
P
}
export -f ft; export deadline log
head -n "${JOBS:-100}" jobs.txt | xargs -P 4 -L 1 bash -c 'ft "$@"' _
echo "sweep end $(date -u +%FT%TZ) after ${SECONDS}s" | tee -a "$log"
sort -t= -k5 "$log" | grep '^ft' | sort -k5 > "$out/sorted.txt" || true
tar czf "$out/ft.tgz" ft/*/metrics.jsonl ft/*/config.json ft-*.err pre-*.log 2>/dev/null
cat "$log"
