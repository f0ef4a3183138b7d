#!/bin/bash
# Choosing the fine-tuning recipe for Table 1 on validation error
# (docs/table1/README.md, "Choosing the recipe on validation"): four
# recipes x fine-tuning seeds 1-3 on the table's lambda=1 CAE (cae1, made by
#   ./caetrain --preset rifai --data ../shared/data/mnist --epochs 20 --lambda 1 --lr 0.001 --batch 128 --seed 1 --device cpu --checkpoint-every 0 --out cae1
# ), two runs at a time on a 2-core machine. Each run's best validation
# error is what chooses; the test errors are printed by caetrain and kept in
# recipe.log for the record. Run from a folder holding ./caetrain and cae1.
run() { name=$1; shift
  [ -f recipe/$name.ndjson ] && grep -q final recipe/$name.ndjson && return
  GOMAXPROCS=1 ./caetrain finetune --model cae1 --data ../shared/data/mnist --lr 0.003 --lr-schedule cosine --batch 100 --val 10000 --out recipe/$name --json "$@" > recipe/$name.ndjson 2> recipe/$name.err
}
jobs=()
for s in 1 2 3; do
  jobs+=("A$s --epochs 30 --seed $s")
  jobs+=("B$s --epochs 30 --input-dropout 0.1 --seed $s")
  jobs+=("C$s --epochs 60 --input-dropout 0.1 --seed $s")
  jobs+=("D$s --epochs 60 --input-dropout 0.2 --seed $s")
done
i=0
for j in "${jobs[@]}"; do
  run $j &
  i=$((i+1)); if [ $((i%2)) = 0 ]; then wait; fi
done
wait
echo done
