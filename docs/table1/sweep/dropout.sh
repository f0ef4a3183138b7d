run() { name=$1; shift
/tmp/caetrain-cpu finetune --model /tmp/exp/cae1 --data /work/shared/data/mnist --epochs 30 --lr 0.003 --lr-schedule cosine --batch 100 --val 10000 --seed 1 --out /tmp/exp/$name --json "$@" > /tmp/exp/$name.ndjson 2> /tmp/exp/$name.err
}
run d01s2 --input-dropout 0.1 --seed 2
run d03 --input-dropout 0.3
run d05 --input-dropout 0.5
run d01e60 --input-dropout 0.1 --epochs 60
run d01b32 --input-dropout 0.1 --lr 0.001 --batch 32
run d02e60 --input-dropout 0.2 --epochs 60
