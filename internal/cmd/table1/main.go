// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/caetrainbin"
)

// options are the command's flags.
type options struct {
	mnist, fashion, out, doc, caetrain string
	pretrainEpochs, finetuneEpochs     int
	lambdas                            []float64
	lambdaList                         string
	lr, ftLR                           float64
	schedule, ftFlags                  string
	batch, ftBatch, val                int
	seed                               uint64
	refitSeeds                         []uint64
	refitList                          string
	reuse                              bool
}

// paper is Rifai et al. (ICML 2011), Table 1, MNIST test error (%).
var paper = []struct{ model, err string }{
	{"CAE", "1.14"}, {"DAE", "1.18"}, {"RBM", "1.30"}, {"AE", "1.78"},
}

// run is one fine-tuned model of the table.
type run struct {
	Dataset        string   `json:"dataset"`
	Model          string   `json:"model"` // "cae", "ae" or "mlp"
	Lambda         *float64 `json:"lambda,omitempty"`
	PretrainDir    string   `json:"pretrain_dir,omitempty"`
	FinetuneDir    string   `json:"finetune_dir"`
	PretrainSecs   float64  `json:"pretrain_seconds"`
	FinetuneSecs   float64  `json:"finetune_seconds"`
	Final          final    `json:"final"`
	Chosen         bool     `json:"chosen"` // the CAE row of the table (λ chosen on validation error)
	PretrainReused bool     `json:"pretrain_reused,omitempty"`
	FinetuneReused bool     `json:"finetune_reused,omitempty"`
	// PretrainResumed and FinetuneResumed: with --reuse, a killed run was
	// continued from its checkpoints (its seconds are this part's only).
	PretrainResumed bool `json:"pretrain_resumed,omitempty"`
	FinetuneResumed bool `json:"finetune_resumed,omitempty"`
	// Refits are the same recipe fine-tuned again on the whole training
	// set (--val 0) for Final.BestEpoch epochs, one per --refit-seeds seed.
	Refits    []refit `json:"refits,omitempty"`
	RefitSecs float64 `json:"refit_seconds,omitempty"`
}

// refit is one refit fine-tuning.
type refit struct {
	Seed  uint64 `json:"seed"`
	Dir   string `json:"dir"`
	Final final  `json:"final"`
}

// final is the "final" event of `caetrain finetune --json`.
type final struct {
	TestError    float64 `json:"test_error"`
	TestErrors   int     `json:"test_errors"`
	TestN        int     `json:"test_n"`
	BestEpoch    int     `json:"best_epoch"`
	BestValError float64 `json:"best_val_error"`
	Steps        int     `json:"steps"`
	Seconds      float64 `json:"seconds"`
}

func main() {
	if err := mainErr(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "table1: %v\n", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("table1", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mnist, "mnist", "", "MNIST directory (the four IDX files); empty skips MNIST")
	fs.StringVar(&o.fashion, "fashion", "", "Fashion-MNIST directory; empty skips Fashion-MNIST")
	fs.StringVar(&o.out, "out", "table1-results", "output directory for the models and results.md")
	fs.StringVar(&o.doc, "doc", "", "also write results.md to DOC/README.md with the chosen models' figures (e.g. docs/table1)")
	fs.StringVar(&o.caetrain, "caetrain", "", "caetrain binary to use (default: go build ./cmd/caetrain into OUT/bin)")
	fs.IntVar(&o.pretrainEpochs, "pretrain-epochs", 10, "epochs of every autoencoder's pretraining (rifai preset: 784-1000 sigmoid, tied, BCE, Adam, batch 128)")
	fs.IntVar(&o.finetuneEpochs, "finetune-epochs", 20, "epochs of every fine-tuning (and of the random-init MLP)")
	fs.StringVar(&o.lambdaList, "lambdas", "0.1,0.3,1", "the CAE's λ grid; the λ with the lowest validation error is kept")
	fs.Float64Var(&o.lr, "lr", 1e-3, "Adam learning rate of the pretraining")
	fs.Float64Var(&o.ftLR, "ft-lr", 3e-3, "Adam learning rate of the fine-tuning")
	fs.StringVar(&o.schedule, "ft-lr-schedule", "cosine", "fine-tuning learning-rate schedule: constant or cosine")
	fs.IntVar(&o.batch, "batch", 128, "pretraining batch size")
	fs.IntVar(&o.ftBatch, "ft-batch", 100, "fine-tuning batch size")
	fs.StringVar(&o.ftFlags, "ft-flags", "", "more flags for every caetrain finetune, space-separated (e.g. \"--input-dropout 0.2\")")
	fs.IntVar(&o.val, "val", 10000, "validation images: the last N of the training set")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of every run")
	fs.StringVar(&o.refitList, "refit-seeds", "", "after choosing on validation, fine-tune each row's recipe again on all training images (caetrain finetune --val 0) for its best epoch count, once per seed given (e.g. 1,2,3), and report those test errors and their mean; empty: no refit")
	fs.BoolVar(&o.reuse, "reuse", false, "keep models already in OUT instead of training them again, and continue killed runs there from their checkpoints (caetrain --resume)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: go run ./internal/cmd/table1 --mnist DIR [--fashion DIR] [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.mnist == "" && o.fashion == "" {
		return o, fmt.Errorf("%w: give --mnist DIR and/or --fashion DIR", errUsage)
	}
	for _, f := range strings.Split(o.lambdaList, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v > 0) {
			return o, fmt.Errorf("%w: --lambdas %q: want positive numbers separated by commas", errUsage, o.lambdaList)
		}
		o.lambdas = append(o.lambdas, v)
	}
	if o.refitList != "" {
		for _, f := range strings.Split(o.refitList, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return o, fmt.Errorf("%w: --refit-seeds %q: want seeds (non-negative integers) separated by commas", errUsage, o.refitList)
			}
			o.refitSeeds = append(o.refitSeeds, v)
		}
	}
	if o.pretrainEpochs < 1 || o.finetuneEpochs < 1 || o.batch < 1 || o.ftBatch < 1 || o.val < 1 {
		return o, fmt.Errorf("%w: epochs, batch sizes and --val must be positive", errUsage)
	}
	return o, nil
}

func mainErr(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	bin, err := caetrainbin.Path(o.caetrain, o.out, "table1", stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	var runs []run
	for _, ds := range []struct{ name, dir string }{{"mnist", o.mnist}, {"fashion-mnist", o.fashion}} {
		if ds.dir == "" {
			continue
		}
		rs, err := dataset(bin, o, ds.name, ds.dir, stderr)
		if err != nil {
			return err
		}
		runs = append(runs, rs...)
	}
	total := time.Since(start)
	md := report(o, args, runs, total)
	if err := atomicfile.WriteBytes(filepath.Join(o.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(runs, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(o.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if o.doc != "" {
		if err := writeDoc(o, runs, md); err != nil {
			return err
		}
	}
	fmt.Fprint(stdout, md)
	return nil
}

// dataset trains and fine-tunes every model of one data set.
func dataset(bin string, o options, name, dir string, stderr io.Writer) ([]run, error) {
	var runs []run
	best := -1
	for _, lam := range o.lambdas {
		l := lam
		r, err := pretrainAndFinetune(bin, o, name, dir, fmt.Sprintf("cae-lambda%g", lam), "cae", &l, stderr)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
		if best < 0 || r.Final.BestValError < runs[best].Final.BestValError {
			best = len(runs) - 1
		}
	}
	runs[best].Chosen = true
	zero := 0.0
	r, err := pretrainAndFinetune(bin, o, name, dir, "ae", "ae", &zero, stderr)
	if err != nil {
		return nil, err
	}
	runs = append(runs, r)
	r, err = pretrainAndFinetune(bin, o, name, dir, "mlp", "mlp", nil, stderr)
	if err != nil {
		return nil, err
	}
	runs = append(runs, r)
	for i := range runs {
		if runs[i].Model == "cae" && !runs[i].Chosen {
			continue
		}
		if err := refitRow(bin, o, dir, &runs[i], stderr); err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// finetuneArgs are caetrain finetune's arguments for one of r's
// fine-tunings.
func finetuneArgs(o options, dataDir string, r *run, out string, epochs, val int, seed uint64) []string {
	args := []string{"finetune", "--data", dataDir, "--epochs", fmt.Sprint(epochs), "--lr", fmt.Sprint(o.ftLR),
		"--lr-schedule", o.schedule, "--batch", fmt.Sprint(o.ftBatch), "--val", fmt.Sprint(val), "--seed", fmt.Sprint(seed),
		"--out", out, "--json"}
	args = append(args, strings.Fields(o.ftFlags)...)
	if r.PretrainDir != "" {
		return append(args, "--model", r.PretrainDir)
	}
	return append(args, "--init", "random", "--arch", "784,1000", "--act", "sigmoid")
}

// refitRow fine-tunes r's recipe again on the whole training set (no
// validation split) for the epoch count its validation run chose, once
// per refit seed. The test set is evaluated once per refit.
func refitRow(bin string, o options, dataDir string, r *run, stderr io.Writer) error {
	r.Refits = nil
	t0 := time.Now()
	for _, seed := range o.refitSeeds {
		dir := filepath.Join(filepath.Dir(r.FinetuneDir), fmt.Sprintf("refit-seed%d", seed))
		what := fmt.Sprintf("%s/%s refit seed %d", r.Dataset, filepath.Base(filepath.Dir(r.FinetuneDir)), seed)
		rf := refit{Seed: seed, Dir: dir}
		if exists(filepath.Join(dir, "classifier.safetensors")) && o.reuse {
			fmt.Fprintf(stderr, "table1: %s: reusing %s\n", what, dir)
			if err := readFinal(dir, &rf.Final); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if rf.Final.BestEpoch != r.Final.BestEpoch {
				return fmt.Errorf("%s: %s was fine-tuned for %d epochs, the validation run now chooses %d: remove it or drop --reuse", what, dir, rf.Final.BestEpoch, r.Final.BestEpoch)
			}
		} else {
			args, _ := resumeIfKilled(o, finetuneArgs(o, dataDir, r, dir, r.Final.BestEpoch, 0, seed), dir, what, stderr)
			out, err := caetrain(bin, args, stderr, what)
			if err != nil {
				return err
			}
			if err := lastFinal(out, &rf.Final); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			fmt.Fprintf(stderr, "table1: %s: test error %.2f%%\n", what, 100*rf.Final.TestError)
		}
		r.Refits = append(r.Refits, rf)
	}
	r.RefitSecs = time.Since(t0).Seconds()
	return nil
}

// resumeIfKilled adds --resume to a caetrain command's args when --reuse is
// given and out holds checkpoints of a run that did not finish (its model
// would have been reused otherwise), and reports whether it did.
func resumeIfKilled(o options, args []string, out, what string, stderr io.Writer) ([]string, bool) {
	if !o.reuse {
		return args, false
	}
	entries, err := os.ReadDir(filepath.Join(out, "checkpoints"))
	if err != nil || len(entries) == 0 {
		return args, false
	}
	fmt.Fprintf(stderr, "table1: %s: continuing the unfinished run in %s\n", what, out)
	return append(args, "--resume"), true
}

// refitMean is the mean test error of r's refits (0 without any).
func refitMean(r *run) float64 {
	if len(r.Refits) == 0 {
		return 0
	}
	var sum float64
	for _, rf := range r.Refits {
		sum += rf.Final.TestError
	}
	return sum / float64(len(r.Refits))
}

// pretrainAndFinetune pretrains an autoencoder with λ (none for the MLP)
// and fine-tunes it.
func pretrainAndFinetune(bin string, o options, ds, dataDir, name, model string, lambda *float64, stderr io.Writer) (run, error) {
	base := filepath.Join(o.out, ds, name)
	r := run{Dataset: ds, Model: model, Lambda: lambda, FinetuneDir: filepath.Join(base, "finetune")}
	if lambda != nil {
		r.PretrainDir = filepath.Join(base, "pretrain")
		if exists(filepath.Join(r.PretrainDir, "model.safetensors")) && o.reuse {
			r.PretrainReused = true
			fmt.Fprintf(stderr, "table1: %s/%s: reusing %s\n", ds, name, r.PretrainDir)
		} else {
			args := []string{"--preset", "rifai", "--data", dataDir, "--epochs", fmt.Sprint(o.pretrainEpochs),
				"--lambda", fmt.Sprint(*lambda), "--lr", fmt.Sprint(o.lr), "--batch", fmt.Sprint(o.batch),
				"--seed", fmt.Sprint(o.seed), "--device", "cpu", "--checkpoint-every", "0", "--out", r.PretrainDir}
			args, r.PretrainResumed = resumeIfKilled(o, args, r.PretrainDir, ds+"/"+name, stderr)
			t0 := time.Now()
			if _, err := caetrain(bin, args, stderr, ds+"/"+name); err != nil {
				return r, err
			}
			r.PretrainSecs = time.Since(t0).Seconds()
		}
	}
	ftArgs := finetuneArgs(o, dataDir, &r, r.FinetuneDir, o.finetuneEpochs, o.val, o.seed)
	if exists(filepath.Join(r.FinetuneDir, "classifier.safetensors")) && o.reuse {
		r.FinetuneReused = true
		fmt.Fprintf(stderr, "table1: %s/%s: reusing %s\n", ds, name, r.FinetuneDir)
		return r, readFinal(r.FinetuneDir, &r.Final)
	}
	ftArgs, r.FinetuneResumed = resumeIfKilled(o, ftArgs, r.FinetuneDir, ds+"/"+name, stderr)
	t0 := time.Now()
	out, err := caetrain(bin, ftArgs, stderr, ds+"/"+name)
	if err != nil {
		return r, err
	}
	r.FinetuneSecs = time.Since(t0).Seconds()
	if err := lastFinal(out, &r.Final); err != nil {
		return r, fmt.Errorf("%s/%s: %w", ds, name, err)
	}
	fmt.Fprintf(stderr, "table1: %s/%s: validation error %.2f%% (epoch %d), test error %.2f%%\n",
		ds, name, 100*r.Final.BestValError, r.Final.BestEpoch, 100*r.Final.TestError)
	return r, nil
}

// caetrain runs the binary, its stderr to ours, and returns its stdout.
func caetrain(bin string, args []string, stderr io.Writer, what string) ([]byte, error) {
	fmt.Fprintf(stderr, "table1: %s: caetrain %s\n", what, shellArgs(args))
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: caetrain %s: %w", what, shellArgs(args), err)
	}
	return out.Bytes(), nil
}

// readFinal reads the final event of the fine-tuning run in dir from its
// metrics.jsonl.
func readFinal(dir string, f *final) error {
	raw, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	return lastFinal(raw, f)
}

// lastFinal parses the "final" event among NDJSON lines.
func lastFinal(ndjson []byte, f *final) error {
	found := false
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct {
			Event string `json:"event"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Event == "final" {
			if err := json.Unmarshal(sc.Bytes(), f); err != nil {
				return err
			}
			found = true
		}
	}
	if !found {
		return errors.New("caetrain finetune printed no final event")
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// machine describes where the table was made.
func machine() string {
	cpu := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d logical CPUs (GOMAXPROCS %d), %s/%s, %s", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		s += " (with uncommitted changes)"
	}
	return s
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

func find(rs []run, ds, model string, chosen bool) *run {
	for i := range rs {
		if rs[i].Dataset == ds && rs[i].Model == model && (!chosen || rs[i].Chosen) {
			return &rs[i]
		}
	}
	return nil
}

// report is results.md.
func report(o options, args []string, runs []run, total time.Duration) string {
	var md strings.Builder
	md.WriteString("# Rifai et al. (2011), Table 1, with caetrain\n\n")
	md.WriteString("A 784-1000 sigmoid autoencoder with tied weights (the `rifai` preset: sigmoid output, BCE summed over pixels, Adam) is pretrained on the training images, then its encoder, with a softmax layer added (Glorot-uniform, zero bias), is fine-tuned on the labels with Adam (`caetrain finetune`). ")
	fmt.Fprintf(&md, "The last %d training images are the validation split: they are never fine-tuned on, they pick each classifier's epoch and the CAE's λ; the test set (all 10,000 images) is evaluated once per fine-tuned model, at its end. The pretraining sees all 60,000 training images, without labels (the validation images included).\n\n", o.val)
	more := ""
	if o.ftFlags != "" {
		more = ", `" + o.ftFlags + "`"
	}
	fmt.Fprintf(&md, "**Budget:** pretraining %d epoch(s) (batch %d, lr %g), fine-tuning %d epoch(s) (batch %d, lr %g, %s schedule%s), CAE λ grid {%s}. Seed %d for every run.\n\n",
		o.pretrainEpochs, o.batch, o.lr, o.finetuneEpochs, o.ftBatch, o.ftLR, o.schedule, more, o.lambdaList, o.seed)
	fmt.Fprintf(&md, "**Command** (from the repository root):\n\n    go run ./internal/cmd/table1 %s\n\n", shellArgs(args))
	fmt.Fprintf(&md, "**Machine:** %s. **Commit:** %s. **Wall time:** %s in all (%s), on a machine shared with other jobs.\n\n",
		machine(), commit(), total.Round(time.Second), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	for _, ds := range []string{"mnist", "fashion-mnist"} {
		cae := find(runs, ds, "cae", true)
		if cae == nil {
			continue
		}
		ae, mlp := find(runs, ds, "ae", false), find(runs, ds, "mlp", false)
		fmt.Fprintf(&md, "## %s\n\n", ds)
		md.WriteString("| model | paper, Table 1 (MNIST) | test error | test errors | validation error (best epoch) | pretrain s | fine-tune s |\n|---|---|---|---|---|---|---|\n")
		row := func(label, paperErr string, r *run) {
			if r == nil {
				fmt.Fprintf(&md, "| %s | %s | not run | | | | |\n", label, paperErr)
				return
			}
			if ds != "mnist" {
				paperErr = "–"
			}
			fmt.Fprintf(&md, "| %s | %s | **%s** | %d / %d | %s (%d) | %s | %s |\n", label, paperErr, pct(r.Final.TestError), r.Final.TestErrors, r.Final.TestN,
				pct(r.Final.BestValError), r.Final.BestEpoch, secs(r.PretrainSecs, r.PretrainReused, r.PretrainResumed, r.PretrainDir == ""), secs(r.FinetuneSecs, r.FinetuneReused, r.FinetuneResumed, false))
		}
		row(label(cae), "1.14%", cae)
		if ds == "mnist" { // the paper's other rows; it has no Fashion-MNIST figures
			md.WriteString("| DAE | 1.18% | not run (caetrain has no denoising AE) | | | | |\n")
			md.WriteString("| RBM | 1.30% | not run | | | | |\n")
		}
		row("AE (λ=0)", "1.78%", ae)
		row("MLP, random init", "–", mlp)
		md.WriteString("\nThe CAE's λ grid (validation error of each fine-tuned CAE; only the chosen one's test error is reported above):\n\n| λ | validation error (best epoch) |\n|---|---|\n")
		for _, r := range runs {
			if r.Dataset == ds && r.Model == "cae" {
				mark := ""
				if r.Chosen {
					mark = " ← chosen"
				}
				fmt.Fprintf(&md, "| %g | %s (%d)%s |\n", *r.Lambda, pct(r.Final.BestValError), r.Final.BestEpoch, mark)
			}
		}
		md.WriteString("\n")
		if len(cae.Refits) > 0 {
			md.WriteString("**Refit.** Each row's recipe fine-tuned again on every training image, the validation split included (`caetrain finetune --val 0`), for the number of epochs its validation run chose (its best epoch above), from the same pretrained autoencoder, once per seed; the test set is evaluated once per refit. Nothing is chosen on these numbers.\n\n")
			md.WriteString("| model | epochs | test error per fine-tuning seed | mean |\n|---|---|---|---|\n")
			for _, r := range []*run{cae, ae, mlp} {
				if r == nil || len(r.Refits) == 0 {
					continue
				}
				var per []string
				for _, rf := range r.Refits {
					per = append(per, fmt.Sprintf("%s (seed %d)", pct(rf.Final.TestError), rf.Seed))
				}
				fmt.Fprintf(&md, "| %s | %d | %s | **%s** |\n", label(r), r.Final.BestEpoch, strings.Join(per, ", "), pct(refitMean(r)))
			}
			md.WriteString("\n")
		}
		if ae != nil {
			d := ae.Final.TestError - cae.Final.TestError
			fmt.Fprintf(&md, "The CAE's test error is %s the plain AE's", versus(d))
			if d <= 0 {
				md.WriteString(" (a finding under this budget, not the paper's result)")
			}
			if mlp != nil {
				fmt.Fprintf(&md, " and %s the random-init MLP's", versus(mlp.Final.TestError-cae.Final.TestError))
			}
			md.WriteString(".")
			if len(cae.Refits) > 0 && len(ae.Refits) > 0 {
				fmt.Fprintf(&md, " Refit on all the training images, the CAE's mean test error is %s the plain AE's", versus(refitMean(ae)-refitMean(cae)))
				if mlp != nil && len(mlp.Refits) > 0 {
					fmt.Fprintf(&md, " and %s the random-init MLP's", versus(refitMean(mlp)-refitMean(cae)))
				}
				md.WriteString(".")
			}
			if ds == "mnist" {
				what, v := "test error", cae.Final.TestError
				if len(cae.Refits) > 0 {
					what, v = fmt.Sprintf("mean test error over its %d refit(s)", len(cae.Refits)), refitMean(cae)
				}
				if v <= 0.012 {
					fmt.Fprintf(&md, " The CAE's %s, %s, meets the issue's target (≤ 1.20%%).", what, pct(v))
				} else {
					fmt.Fprintf(&md, " The CAE's %s, %s, does **not** meet the issue's target of ≤ 1.20%% under this budget.", what, pct(v))
				}
			}
			md.WriteString("\n\n")
		}
	}
	return md.String()
}

// versus says how a CAE error lies against another's, given the other's
// minus the CAE's: "0.23 points below", "**0.10** points above", "equal to".
func versus(d float64) string {
	switch {
	case d > 0:
		return fmt.Sprintf("%.2f points below", 100*d)
	case d < 0:
		return fmt.Sprintf("**%.2f** points above", -100*d)
	}
	return "equal to"
}

// shellArgs joins args for a command line to paste into a shell, quoting
// those that need it.
func shellArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`|&;<>()*?[]#~") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// label names r's row.
func label(r *run) string {
	switch {
	case r.Model == "cae":
		return fmt.Sprintf("CAE (λ=%g, chosen on validation)", *r.Lambda)
	case r.Model == "ae":
		return "AE (λ=0)"
	}
	return "MLP, random init"
}

func secs(s float64, reused, resumed, none bool) string {
	switch {
	case none:
		return "–"
	case reused:
		return "(reused)"
	case resumed:
		return fmt.Sprintf("%.0f (resumed)", s)
	}
	return fmt.Sprintf("%.0f", s)
}

// writeDoc writes DOC/README.md and copies the chosen models' figures.
func writeDoc(o options, runs []run, md string) error {
	if err := os.MkdirAll(o.doc, 0o755); err != nil {
		return err
	}
	var figs strings.Builder
	figs.WriteString("## Figures\n\n")
	for _, r := range runs {
		if r.Model == "cae" && !r.Chosen {
			continue
		}
		for _, f := range []string{"confusion.png", "learning_curve_error.png"} {
			raw, err := os.ReadFile(filepath.Join(r.FinetuneDir, f))
			if err != nil {
				return err
			}
			name := fmt.Sprintf("%s-%s-%s", r.Dataset, r.Model, f)
			if err := atomicfile.WriteBytes(filepath.Join(o.doc, name), raw, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&figs, "![%s %s %s](%s)\n", r.Dataset, r.Model, strings.TrimSuffix(f, ".png"), name)
		}
	}
	return atomicfile.WriteBytes(filepath.Join(o.doc, "README.md"), []byte(md+figs.String()), 0o644)
}
