// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"mnist", []string{"--mnist", "d"}, true},
		{"no data", nil, false},
		{"bad lambda", []string{"--mnist", "d", "--lambdas", "0.1,x"}, false},
		{"zero lambda", []string{"--mnist", "d", "--lambdas", "0"}, false},
		{"zero epochs", []string{"--mnist", "d", "--finetune-epochs", "0"}, false},
		{"stray", []string{"--mnist", "d", "extra"}, false},
		{"refit seeds", []string{"--mnist", "d", "--refit-seeds", "1,2,3"}, true},
		{"bad refit seed", []string{"--mnist", "d", "--refit-seeds", "1,-2"}, false},
	} {
		_, err := parse(tc.args, io.Discard)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errUsage)) {
			t.Errorf("%s: err %v, want ok=%v (usage errors otherwise)", tc.name, err, tc.ok)
		}
	}
}

func TestLastFinal(t *testing.T) {
	out := `{"event":"start"}
{"event":"epoch","epoch":1}
{"event":"final","test_error":0.0123,"test_errors":123,"test_n":10000,"best_epoch":7,"best_val_error":0.011}
`
	var f final
	if err := lastFinal([]byte(out), &f); err != nil {
		t.Fatal(err)
	}
	if f.TestError != 0.0123 || f.TestErrors != 123 || f.TestN != 10000 || f.BestEpoch != 7 {
		t.Errorf("parsed %+v", f)
	}
	if err := lastFinal([]byte(`{"event":"epoch"}`), &f); err == nil {
		t.Error("no final event: no error")
	}
}

// TestReport checks the table's rows, that only the chosen CAE's test
// error is shown, and that a CAE worse than the plain AE is said so.
func TestReport(t *testing.T) {
	l1, l2, zero := 0.1, 1.0, 0.0
	runs := []run{
		{Dataset: "mnist", Model: "cae", Lambda: &l1, Final: final{TestError: 0.0191, TestErrors: 191, TestN: 10000, BestValError: 0.02, BestEpoch: 3}},
		{Dataset: "mnist", Model: "cae", Lambda: &l2, Chosen: true, Final: final{TestError: 0.0177, TestErrors: 177, TestN: 10000, BestValError: 0.018, BestEpoch: 5}},
		{Dataset: "mnist", Model: "ae", Lambda: &zero, Final: final{TestError: 0.0170, TestErrors: 170, TestN: 10000, BestValError: 0.017, BestEpoch: 4}},
		{Dataset: "mnist", Model: "mlp", Final: final{TestError: 0.0180, TestErrors: 180, TestN: 10000, BestValError: 0.019, BestEpoch: 9}},
	}
	o := options{val: 10000, pretrainEpochs: 2, finetuneEpochs: 3, lambdaList: "0.1,1", seed: 1, batch: 128, ftBatch: 100, lr: 1e-3, ftLR: 3e-3, schedule: "cosine"}
	md := report(o, []string{"--mnist", "d"}, runs, 90*time.Second)
	for _, want := range []string{
		"| CAE (λ=1, chosen on validation) | 1.14% | **1.77%** | 177 / 10000 | 1.80% (5)",
		"| AE (λ=0) | 1.78% | **1.70%**",
		"| MLP, random init | – | **1.80%**",
		"| 1 | 1.80% (5) ← chosen |",
		"above the plain AE's",
		"does **not** meet",
		"go run ./internal/cmd/table1 --mnist d",
		"Wall time:** 1m30s",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	runs[0].Dataset, runs[1].Dataset, runs[2].Dataset, runs[3].Dataset = "fashion-mnist", "fashion-mnist", "fashion-mnist", "fashion-mnist"
	if f := report(o, nil, runs, time.Second); strings.Contains(f, "1.18%") || strings.Contains(f, "1.14%") {
		t.Errorf("the paper's MNIST numbers appear in the Fashion-MNIST table:\n%s", f)
	}
	if strings.Contains(md, "1.91%") {
		t.Errorf("the unchosen λ's test error is reported:\n%s", md)
	}
}

// TestReportRefit checks the refit table: each row's test errors per seed
// and their mean, and that the target is judged on the CAE's refit mean.
func TestReportRefit(t *testing.T) {
	l1, zero := 1.0, 0.0
	refits := func(errs ...float64) []refit {
		var rs []refit
		for i, e := range errs {
			rs = append(rs, refit{Seed: uint64(i + 1), Final: final{TestError: e, TestN: 10000, BestEpoch: 5}})
		}
		return rs
	}
	runs := []run{
		{Dataset: "mnist", Model: "cae", Lambda: &l1, Chosen: true, Final: final{TestError: 0.0131, TestErrors: 131, TestN: 10000, BestValError: 0.0127, BestEpoch: 5},
			Refits: refits(0.0118, 0.0122, 0.0117)},
		{Dataset: "mnist", Model: "ae", Lambda: &zero, Final: final{TestError: 0.0171, TestErrors: 171, TestN: 10000, BestValError: 0.0167, BestEpoch: 4},
			Refits: refits(0.0160, 0.0166, 0.0163)},
		{Dataset: "mnist", Model: "mlp", Final: final{TestError: 0.0167, TestErrors: 167, TestN: 10000, BestValError: 0.0159, BestEpoch: 9}},
	}
	o := options{val: 10000, pretrainEpochs: 2, finetuneEpochs: 3, lambdaList: "1", seed: 1, batch: 128, ftBatch: 100, lr: 1e-3, ftLR: 3e-3, schedule: "cosine"}
	md := report(o, nil, runs, time.Second)
	for _, want := range []string{
		"| CAE (λ=1, chosen on validation) | 5 | 1.18% (seed 1), 1.22% (seed 2), 1.17% (seed 3) | **1.19%** |",
		"| AE (λ=0) | 4 | 1.60% (seed 1), 1.66% (seed 2), 1.63% (seed 3) | **1.63%** |",
		"the CAE's mean test error is 0.44 points below the plain AE's",
		"The CAE's mean test error over its 3 refit(s), 1.19%, meets the issue's target",
		"The CAE's test error is 0.40 points below the plain AE's and 0.36 points below the random-init MLP's.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	runs[0].Refits = refits(0.0125, 0.0121, 0.0120)
	if md := report(o, nil, runs, time.Second); !strings.Contains(md, "1.22%, does **not** meet") {
		t.Errorf("a refit mean of 1.22%% is not reported as missing the target:\n%s", md)
	}
}

// TestShellArgs checks that the command line printed in results.md pastes
// back into a shell as the same arguments.
func TestShellArgs(t *testing.T) {
	got := shellArgs([]string{"--mnist", "d", "--ft-flags", "--input-dropout 0.1", "--x", "it's", ""})
	want := `--mnist d --ft-flags '--input-dropout 0.1' --x 'it'\''s' ''`
	if got != want {
		t.Errorf("shellArgs: %s\nwant        %s", got, want)
	}
}

// TestRunAndResume runs the whole command on the embedded sample (5,800
// training and 1,000 test images of Fashion-MNIST, as IDX files) with a tiny
// budget and one refit seed, with caetrain built from this repository; then
// plays a kill: the CAE's refit and the plain AE's pretraining lose their
// finished files, and a second run with --reuse continues both from their
// checkpoints (caetrain --resume) and reports the same test errors.
func TestRunAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds caetrain and trains small models")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "caetrain")
	build := exec.Command("go", "build", "-o", bin, "github.com/caetrain/caetrain/cmd/caetrain")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out")
	args := []string{"--mnist", "../../dataset/sample", "--pretrain-epochs", "1", "--finetune-epochs", "2", "--lambdas", "1",
		"--val", "800", "--refit-seeds", "1", "--caetrain", bin, "--out", out}
	var stdout, stderr strings.Builder
	if err := mainErr(args, &stdout, &stderr); err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr.String())
	}
	first := readRuns(t, out)
	if len(first) != 3 || !first[0].Chosen || first[0].Model != "cae" || first[1].Model != "ae" || first[2].Model != "mlp" {
		t.Fatalf("runs %+v; want the chosen CAE, the AE and the MLP", first)
	}
	for _, r := range first {
		if r.Final.TestN != 1000 || len(r.Refits) != 1 || r.Refits[0].Final.TestN != 1000 || r.Refits[0].Final.BestEpoch != r.Final.BestEpoch {
			t.Errorf("%s: %d test images, refits %+v; want 1000 and one refit of %d epochs", r.Model, r.Final.TestN, r.Refits, r.Final.BestEpoch)
		}
	}
	if !strings.Contains(stdout.String(), "| model | epochs | test error per fine-tuning seed | mean |") {
		t.Errorf("results.md has no refit table:\n%s", stdout.String())
	}

	// The kill: finished files gone, checkpoints left.
	for _, f := range []string{"mnist/cae-lambda1/refit-seed1/classifier.safetensors", "mnist/ae/pretrain/model.safetensors"} {
		if err := os.Remove(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	stdout.Reset()
	stderr.Reset()
	if err := mainErr(append(args, "--reuse"), &stdout, &stderr); err != nil {
		t.Fatalf("second run: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"continuing the unfinished run in " + filepath.Join(out, "mnist/cae-lambda1/refit-seed1"),
		"continuing the unfinished run in " + filepath.Join(out, "mnist/ae/pretrain")} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("second run's stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	second := readRuns(t, out)
	if !second[1].PretrainResumed || second[0].PretrainResumed || !second[0].FinetuneReused {
		t.Errorf("second run: AE pretraining resumed %v, CAE's resumed %v, CAE fine-tuning reused %v; want true, false, true",
			second[1].PretrainResumed, second[0].PretrainResumed, second[0].FinetuneReused)
	}
	for i := range first {
		a, b := first[i], second[i]
		if a.Final.TestError != b.Final.TestError || a.Refits[0].Final.TestError != b.Refits[0].Final.TestError {
			t.Errorf("%s: test errors %v, refit %v; first run %v, %v", a.Model, b.Final.TestError, b.Refits[0].Final.TestError, a.Final.TestError, a.Refits[0].Final.TestError)
		}
	}
	if !exists(filepath.Join(out, "mnist/ae/pretrain/model.safetensors")) {
		t.Error("the resumed AE pretraining wrote no model.safetensors")
	}
}

func readRuns(t *testing.T, out string) []run {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rs []run
	if err := json.Unmarshal(raw, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}
