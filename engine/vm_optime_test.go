// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caetrain/caetrain/graph"
)

// TestVMOpTimes prints where one training step's time goes, op by op,
// when CAETRAIN_OPTIMES names a preset or sig1000 and a batch (e.g.
// rifai:1024). For profiling only; it asserts nothing and is skipped
// otherwise.
func TestVMOpTimes(t *testing.T) {
	tr, name, batch := optimesTrainer(t)
	data := synth(batch*2, 784, 1)
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	for i := 0; i < 3; i++ {
		if _, err := tr.Step(data, idx); err != nil {
			t.Fatal(err)
		}
	}
	vm := tr.train.fast
	if sh := tr.train.shards; sh != nil {
		vm = sh.shards[0].vm
		t.Logf("data-parallel: %d shards; shard 0 (%d rows) on one worker, alone", len(sh.shards), sh.shards[0].hi-sh.shards[0].lo)
	}
	times := make([]time.Duration, len(vm.prog))
	const reps = 20
	// With CAETRAIN_OPTIMES_BUSY set, the other shards run their programs
	// meanwhile, as in a real step.
	busy := os.Getenv("CAETRAIN_OPTIMES_BUSY") != "" && tr.train.shards != nil
	for r := 0; r < reps; r++ {
		done := make(chan bool)
		if busy {
			for _, s := range tr.train.shards.shards[1:] {
				go func() { s.vm.run(); done <- true }()
			}
		}
		for i := range vm.prog {
			ins := &vm.prog[i]
			t0 := time.Now()
			if ins.tasks != nil {
				vm.pool.run(ins.tasks)
			} else {
				ins.run(ins.out, ins.in)
			}
			times[i] += time.Since(t0)
		}
		if busy {
			for range tr.train.shards.shards[1:] {
				<-done
			}
		}
	}
	byName := map[string]time.Duration{}
	var total time.Duration
	for i, d := range times {
		name := "+"
		if info, ok := graph.Info(vm.prog[i].node.Op()); ok {
			name = info.Name
			if info.Name == "matmul" {
				name = fmt.Sprintf("matmul %v ta=%v tb=%v", info.Dims, info.TA, info.TB)
			}
		}
		byName[fmt.Sprintf("%s par=%d", name, len(vm.prog[i].tasks))] += d / reps
		total += d / reps
	}
	type kv struct {
		k string
		d time.Duration
	}
	var kvs []kv
	for k, d := range byName {
		kvs = append(kvs, kv{k, d})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].d > kvs[j].d })
	t.Logf("%s b%d: %v per step (VM program only)", name, batch, total)
	for _, e := range kvs {
		t.Logf("%8.2f ms %5.1f%%  %s", float64(e.d)/1e6, 100*float64(e.d)/float64(total), e.k)
	}
}

// TestStepPhaseTimes prints how long the parts of a data-parallel step
// take (prologue, packing, shards, sum, epilogue, then the Adam update), when
// CAETRAIN_OPTIMES names a preset and batch as for TestVMOpTimes.
func TestStepPhaseTimes(t *testing.T) {
	tr, name, b := optimesTrainer(t)
	sh := tr.train.shards
	if sh == nil {
		t.Skip("not data-parallel here")
	}
	data := synth(b*2, 784, 1)
	idx := make([]int, b)
	for i := range idx {
		idx[i] = i
	}
	const reps = 30
	var pro, pack, run, red, epi, whole time.Duration
	for r := 0; r < reps+3; r++ {
		t0 := time.Now()
		if _, err := tr.Step(data, idx); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		sh.s, sh.idx = data, idx
		if sh.prologue != nil {
			sh.prologue.run()
		}
		tp := time.Now()
		sh.pool.run(sh.packs)
		t2 := time.Now()
		sh.pool.run(sh.run)
		t3 := time.Now()
		sh.pool.run(sh.reduce)
		t4 := time.Now()
		if sh.epilogue != nil {
			sh.epilogue.run()
		}
		t5 := time.Now()
		if r >= 3 {
			whole += t1.Sub(t0)
			pro += tp.Sub(t1)
			pack += t2.Sub(tp)
			run += t3.Sub(t2)
			red += t4.Sub(t3)
			epi += t5.Sub(t4)
		}
	}
	grads, _ := tr.train.grads()
	var adam time.Duration
	if pa := tr.parallelAdam(grads); pa != nil {
		for r := 0; r < reps; r++ {
			t0 := time.Now()
			pa.step(sh.pool)
			adam += time.Since(t0)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / reps / 1e6 }
	t.Logf("alone: gradient check and Adam %.2f ms", ms(adam))
	t.Logf("%s b%d, %d shards: Trainer.Step %.2f ms = prologue %.2f + packing %.2f (%d operands) + shards %.2f + sum %.2f + epilogue %.2f + the rest (Adam, checks) %.2f",
		name, b, len(sh.shards), ms(whole), ms(pro), ms(pack), sh.packed, ms(run), ms(red), ms(epi), ms(whole-pro-pack-run-red-epi))
}

// optimesTrainer is the trainer CAETRAIN_OPTIMES asks for ("preset:batch",
// the preset also sig1000, bench's config (2): rifai untied with SSE),
// closed when the test ends; it skips the test when the variable is unset.
func optimesTrainer(t *testing.T) (tr *Trainer, name string, batch int) {
	spec := os.Getenv("CAETRAIN_OPTIMES")
	if spec == "" {
		t.Skip("set CAETRAIN_OPTIMES=preset:batch")
	}
	name, bs, _ := strings.Cut(spec, ":")
	batch, err := strconv.Atoi(bs)
	if err != nil || batch < 1 {
		t.Fatalf("CAETRAIN_OPTIMES=%q: want preset:batch", spec)
	}
	preset := name
	if name == "sig1000" {
		preset = "rifai"
	}
	p, err := LookupPreset(preset)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config
	c.Batch = batch
	if name == "sig1000" {
		c.Spec = graph.Spec{Arch: []int{784, 1000}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Loss: graph.SSE, Lambda: 0.1}
	}
	if tr, err = NewTrainer(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr, name, batch
}
