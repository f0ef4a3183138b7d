// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/plot"
)

// finetuneFlags are the finetune command's flags.
type finetuneFlags struct {
	model, out, init, arch, act, device, vm string
	data                                    dataFlags
	schedule, optimizer                     string
	epochs, batch, val                      int
	lr, momentum, weightDecay, inputDropout float64
	seed                                    uint64
	json, resume                            bool
}

func newFinetuneFlagSet(f *finetuneFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("caetrain finetune", flag.ContinueOnError)
	fs.StringVar(&f.model, "model", "", "directory of a trained CAE (model.safetensors, config.json) whose encoder starts the classifier")
	f.data.register(fs)
	fs.StringVar(&f.out, "out", "", "output directory (default runs/finetune-<timestamp>)")
	fs.StringVar(&f.init, "init", "cae", "cae: the encoder starts from --model's; random: every layer Glorot-uniform (the baseline MLP)")
	fs.StringVar(&f.arch, "arch", "784,1000", "with --init random and no --model: the hidden layers' widths from the input, e.g. 784,1000")
	fs.StringVar(&f.act, "act", "sigmoid", "with --init random and no --model: the hidden activation (sigmoid, relu or tanh)")
	fs.IntVar(&f.epochs, "epochs", 10, "passes over the training split; the epoch with the lowest validation error is kept")
	fs.IntVar(&f.batch, "batch", 100, "samples per optimizer step")
	fs.Float64Var(&f.lr, "lr", 1e-3, "learning rate (Adam's or SGD's)")
	fs.StringVar(&f.optimizer, "optimizer", engine.OptAdam, "adam, or sgd (with --momentum)")
	fs.Float64Var(&f.momentum, "momentum", 0.9, "with --optimizer sgd: μ in v ← μ·v + g, w ← w − lr·v")
	fs.Float64Var(&f.inputDropout, "input-dropout", 0, "probability of zeroing each input value of a training batch (the rest scaled by 1/(1-p)); validation and test inputs stay clean")
	fs.Float64Var(&f.weightDecay, "weight-decay", 0, "L2 penalty on the weight matrices (not the biases): adds this·W to their gradients")
	fs.StringVar(&f.schedule, "lr-schedule", "constant", "constant, or cosine: --lr·(1+cos(π·step/steps))/2, decaying to 0 over the run")
	fs.IntVar(&f.val, "val", 10000, "validation samples: the last N of the training set, never trained on; 0: train on every sample and keep the last epoch (the refit of a recipe whose --epochs was chosen on validation before)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the softmax layer's (with --init random, every layer's) initial weights and of the shuffling")
	fs.StringVar(&f.device, "device", "cpu", "where to fine-tune: cpu, cuda (the CUDA VM runs forward and backward; the optimizer stays on the host) or auto")
	fs.StringVar(&f.vm, "vm", "fast", "CPU virtual machine: fast (caetrain's own) or gorgonia (Gorgonia's TapeMachine, the reference)")
	fs.BoolVar(&f.resume, "resume", false, "continue the run in --out from its newest intact checkpoint (one is written after every epoch); give the same flags as the run had (--epochs may grow)")
	fs.BoolVar(&f.json, "json", false, "print NDJSON events on stdout (start, epoch, final) instead of a summary")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: caetrain finetune --model DIR [--data DIR] [--epochs N] [--lr LR] [--batch B] [--out DIR]
       caetrain finetune --init random [--model DIR | --arch 784,1000 --act sigmoid] [flags]

Fine-tunes a trained CAE's encoder into a classifier (Rifai et al., ICML
2011, Table 1): the encoder's layers, initialised from --model, then a
softmax layer (Glorot-uniform, zero bias), trained together with Adam (or
--optimizer sgd) on the cross-entropy of the labels. The last --val training samples are held out;
the epoch with the lowest validation error is kept, and the test set is used
once, at the end, on every test image. With --val 0 every training sample is
trained on and the last epoch is kept: the refit, on the whole training set,
of a recipe whose epoch count an earlier run chose on a validation split.

The data must have labels. With --model, --data is read and scaled as the
CAE's own data was (its config.json), the inputs the encoder learned from;
without --data, the CAE's data itself. With --init random, as train reads it.

Writes into --out: classifier.safetensors (encoder.{k}.weight [out,in] and
.bias as in model.safetensors, classifier.weight [classes, hidden],
classifier.bias), config.json, metrics.jsonl (train/val loss and error per
epoch, then the final line with test_error), confusion.png (test set),
learning_curve_loss.png and learning_curve_error.png; after every epoch, a
checkpoint in checkpoints/. A killed run continues with the same command
and --resume.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs
}

// finetuneFinal is the final event: the test set's results, measured once.
type finetuneFinal struct {
	Event        string   `json:"event"` // "final"
	TestError    float64  `json:"test_error"`
	TestErrors   int      `json:"test_errors"`
	TestN        int      `json:"test_n"`
	TestLoss     float64  `json:"test_loss"`
	BestEpoch    int      `json:"best_epoch"`               // with --val 0, the last
	BestValError *float64 `json:"best_val_error,omitempty"` // absent with --val 0
	BestValLoss  *float64 `json:"best_val_loss,omitempty"`
	Steps        int      `json:"steps"`
	Seconds      float64  `json:"seconds"` // fine-tuning and evaluation, wall time
	Out          string   `json:"out"`
}

func finetuneMain(args []string, stdout, stderr io.Writer) (err error) {
	var f finetuneFlags
	fs := newFinetuneFlagSet(&f)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	set := setFlags(fs)
	if err := f.data.check(set); err != nil {
		return err
	}
	switch {
	case f.init != "cae" && f.init != "random":
		return usagef("finetune: --init %q: want cae or random", f.init)
	case f.init == "cae" && f.model == "":
		return usagef("finetune: --model DIR is required (the CAE to start from), or --init random")
	case f.init == "cae" && (set["arch"] || set["act"]):
		return usagef("finetune: --arch and --act describe a random-init network; with --init cae the CAE in --model fixes them")
	case f.epochs <= 0:
		return usagef("finetune: --epochs %d: must be positive", f.epochs)
	case f.batch <= 0:
		return usagef("finetune: --batch %d: must be positive", f.batch)
	case !(f.lr > 0) || f.lr > 1e6:
		return usagef("finetune: --lr %v: must be a positive number", f.lr)
	case f.optimizer != engine.OptAdam && f.optimizer != engine.OptSGD:
		return usagef("finetune: --optimizer %q: want %s or %s", f.optimizer, engine.OptAdam, engine.OptSGD)
	case !(f.momentum >= 0 && f.momentum < 1):
		return usagef("finetune: --momentum %v: must lie in [0, 1)", f.momentum)
	case !(f.inputDropout >= 0 && f.inputDropout < 1):
		return usagef("finetune: --input-dropout %v: must lie in [0, 1)", f.inputDropout)
	case !(f.weightDecay >= 0 && f.weightDecay < 1e6):
		return usagef("finetune: --weight-decay %v: must be a non-negative number", f.weightDecay)
	case f.val < 0:
		return usagef("finetune: --val %d: must be positive (the epoch is chosen on it; the test set is used once), or 0 (no validation: the last epoch is kept)", f.val)
	case f.schedule != engine.ConstantLR && f.schedule != engine.CosineLR:
		return usagef("finetune: --lr-schedule %q: want %s or %s", f.schedule, engine.ConstantLR, engine.CosineLR)
	case f.vm != engine.FastVM && f.vm != engine.GorgoniaVM:
		return usagef("finetune: --vm %q: want %s or %s", f.vm, engine.FastVM, engine.GorgoniaVM)
	}
	dev, why, err := engine.SelectDevice(f.device)
	if err != nil {
		return usagef("finetune: --device=%s: %v", f.device, err)
	}
	if dev == engine.CUDA && !engine.CUDABuild {
		// A CPU build found a GPU build whose device answers.
		path, _ := engine.GPUHandoff()
		fmt.Fprintf(stderr, "caetrain finetune: %s; handing the run to %s\n", why, path)
		return handoff(path, "finetune", args)
	}
	if f.device != "cpu" {
		fmt.Fprintf(stderr, "caetrain finetune: %s\n", why)
	}
	start := time.Now()

	// The starting parameters.
	var (
		p          *graph.ClassifierParams
		fromLambda *float64
		cae        *graph.Params
		caeConfig  engine.ModelConfig
	)
	if f.model != "" {
		if cae, caeConfig, err = engine.LoadModel(f.model); err != nil {
			return err
		}
		lam := caeConfig.Lambda
		fromLambda = &lam
	}
	spec := graph.ClassifierSpec{}
	if cae != nil {
		spec = graph.ClassifierOf(cae.Spec, 0)
	} else {
		arch, err := parseArch(f.arch)
		if err != nil {
			return usageError{fmt.Errorf("finetune: %w", err)}
		}
		spec = graph.ClassifierSpec{Arch: arch, Act: graph.Activation(f.act)}
	}

	var data *engine.Data
	if cae != nil {
		data, err = f.data.openForModel(caeConfig, set, "caetrain finetune", stderr)
	} else {
		data, err = f.data.open(f.seed, stderr)
	}
	if err != nil {
		return err
	}
	defer data.Close()
	if !data.Labeled() || data.TestLabels == nil {
		return fmt.Errorf("finetune: %s has no labels to fine-tune on (CSV/TSV: --label-col; .npz/.safetensors: --y-key; images: one folder per class)", data.Source)
	}
	if data.Train.Dim != spec.Arch[0] {
		return usagef("finetune: the network's input width %d does not match the data's %d values per sample (%s)", spec.Arch[0], data.Train.Dim, data.Source)
	}
	spec.Classes = int(max(slices.Max(data.TrainLabels), slices.Max(data.TestLabels))) + 1
	if err := spec.Validate(); err != nil {
		return usageError{fmt.Errorf("finetune: %w", err)}
	}
	if f.val >= data.Train.N {
		return usagef("finetune: --val %d: the training set has only %d samples (%s)", f.val, data.Train.N, data.Source)
	}
	if f.init == "cae" {
		p, err = engine.ClassifierFromCAE(cae, spec.Classes, f.seed)
	} else {
		p, err = engine.RandomClassifier(spec, f.seed)
	}
	if err != nil {
		return err
	}
	train, trainLab, val, valLab, err := engine.SplitValidation(data.Train, data.TrainLabels, f.val)
	if err != nil {
		return usageError{err}
	}

	out := f.out
	if out == "" {
		if f.resume {
			return usagef("finetune: --resume needs --out DIR, the run to continue")
		}
		out = filepath.Join("runs", "finetune-"+time.Now().Format("20060102-150405"))
	}
	var from *engine.FinetuneCheckpoint
	if f.resume {
		var skipped []error
		from, skipped, err = engine.LatestFinetuneCheckpoint(out)
		for _, e := range skipped {
			fmt.Fprintf(stderr, "caetrain finetune: skipping a damaged checkpoint: %v\n", e)
		}
		if err != nil {
			return fmt.Errorf("finetune --resume: %w", err)
		}
	} else if _, _, err := engine.LatestFinetuneCheckpoint(out); err == nil {
		return usagef("finetune: --out %s holds a fine-tuning run's checkpoints: add --resume to continue it, or choose another --out", out)
	}
	created, err := prepareOutDir(out)
	if err != nil {
		return usagef("finetune: --out %s: %v", out, err)
	}
	defer func() {
		if err != nil && created {
			os.Remove(out) // only if still empty
		}
	}()

	cfg := engine.FinetuneConfig{Spec: spec, Batch: f.batch, Epochs: f.epochs, Adam: engine.DefaultAdam, Seed: f.seed, Machine: f.vm, Device: dev, Schedule: f.schedule,
		Optimizer: f.optimizer, WeightDecay: f.weightDecay, InputDropout: f.inputDropout}
	cfg.Adam.LR = f.lr
	if f.optimizer == engine.OptSGD {
		cfg.Momentum = f.momentum
	}
	ft, err := engine.NewFinetuner(cfg, p)
	if err != nil {
		return err
	}
	defer ft.Close()
	var epochs []engine.FinetuneEpoch // for the learning curves
	if from != nil {
		if err := ft.Resume(from, train); err != nil {
			return err
		}
		if epochs, err = keepMetrics(filepath.Join(out, "metrics.jsonl"), from.Epoch); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "caetrain finetune: resuming %s from %s (epoch %d of %d, step %d)\n", out, from.Path, from.Epoch, cfg.Epochs, from.Step)
	}
	lastSaved := 0
	if from != nil {
		lastSaved = from.Epoch
	}
	ft.Save = func(c *engine.FinetuneCheckpoint) error {
		if err := engine.WriteFinetuneCheckpoint(out, c); err != nil {
			return err
		}
		lastSaved = c.Epoch
		return nil
	}
	saved := func() string {
		if lastSaved == 0 {
			return "no epoch was finished, so no checkpoint was written"
		}
		return fmt.Sprintf("the checkpoint of epoch %d is in %s; continue with the same command and --resume", lastSaved, filepath.Join(out, engine.CheckpointDir))
	}
	cc := engine.ClassifierConfig{
		Init: f.init, FromModel: f.model, FromLambda: fromLambda,
		Batch: cfg.Batch, Epochs: cfg.Epochs, LR: cfg.Adam.LR, LRSchedule: f.schedule, Beta1: cfg.Adam.Beta1, Beta2: cfg.Adam.Beta2, Eps: cfg.Adam.Eps,
		Optimizer: f.optimizer, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay, InputDropout: cfg.InputDropout,
		Seed: cfg.Seed, Val: f.val, Data: data.Source, DataConfig: &data.Config, Device: string(dev), Version: version(),
	}

	metricsPath := filepath.Join(out, "metrics.jsonl")
	mf, err := os.OpenFile(metricsPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err == nil && from == nil {
		err = mf.Truncate(0)
	}
	if err != nil {
		return err
	}
	defer mf.Close()
	enc := json.NewEncoder(stdout)
	write := metricsWriter(mf, metricsPath, f.json, enc)
	if f.json {
		enc.Encode(map[string]any{
			"event": "start", "out": out, "init": f.init, "model": f.model, "arch": spec.Arch, "act": spec.Act, "classes": spec.Classes,
			"train_samples": train.N, "val_samples": val.N, "test_samples": data.Test.N, "data": data.Source,
			"epochs": cfg.Epochs, "batch": cfg.Batch, "lr": cfg.Adam.LR, "lr_schedule": f.schedule,
			"optimizer": f.optimizer, "momentum": cfg.Momentum, "weight_decay": cfg.WeightDecay, "input_dropout": cfg.InputDropout, "seed": cfg.Seed, "vm": f.vm,
		})
	}
	origin := "from " + f.model
	if f.init == "random" {
		origin = "from Glorot-uniform weights"
	}
	valNote := fmt.Sprintf("validation: the last %d", val.N)
	if val.N == 0 {
		valNote = "no validation: the last epoch is kept"
	}
	fmt.Fprintf(stderr, "caetrain finetune: %s %s → softmax %d, %s, on %d samples (%s; %s), %d epochs, batch %d, %s lr %g (%s)%s, writing %s\n",
		formatArch(spec.Arch), spec.Act, spec.Classes, origin, train.N, valNote, data.Source, cfg.Epochs, cfg.Batch, f.optimizer, cfg.Adam.LR, f.schedule, optDetail(cfg), out)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lastDraw := time.Time{}
	onStep := func(epoch, step, total int, loss float64) {
		if time.Since(lastDraw) < 10*time.Second {
			return
		}
		lastDraw = time.Now()
		fmt.Fprintf(stderr, "epoch %d/%d step %d/%d loss %.4g\n", epoch, cfg.Epochs, step, total, loss)
	}
	res, err := engine.Finetune(ctx, ft, train, trainLab, val, valLab, func(m engine.FinetuneEpoch) error {
		epochs = append(epochs, m)
		mark := ""
		if m.Best {
			mark = "  (best so far)"
		}
		valPart := ""
		if m.ValError != nil {
			valPart = fmt.Sprintf("  val loss %.4g error %.2f%%", *m.ValLoss, 100**m.ValError)
		} else {
			mark = ""
		}
		fmt.Fprintf(stderr, "epoch %d/%d done: step %d  train loss %.4g error %.2f%%%s  %.1fs%s\n",
			m.Epoch, cfg.Epochs, m.Step, m.TrainLoss, 100*m.TrainError, valPart, m.Seconds, mark)
		return write(m)
	}, onStep)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return fmt.Errorf("%w after %d steps: %s", errInterrupted, ft.Steps(), saved())
		}
		if errors.Is(err, engine.ErrDiverged) {
			return fmt.Errorf("%v\n%s; try a smaller --lr (now %g)", err, saved(), cfg.Adam.LR)
		}
		return err
	}

	// The test set, once, on every test image, with the best epoch's weights.
	test, err := ft.Evaluate(data.Test, data.TestLabels)
	if err != nil {
		return err
	}
	cm, err := engine.Confusion(data.TestLabels, test.Pred, spec.Classes)
	if err != nil {
		return err
	}
	final := finetuneFinal{
		Event: "final", TestError: test.Error, TestErrors: test.Errors, TestN: test.N, TestLoss: test.Loss,
		BestEpoch: res.BestEpoch, Steps: res.Steps, Seconds: time.Since(start).Seconds(), Out: out,
	}
	if val.N > 0 {
		final.BestValError, final.BestValLoss = &res.BestValError, &res.BestValLoss
	}
	cc.BestEpoch, cc.Steps, cc.BestValError, cc.TestError, cc.TestN = res.BestEpoch, res.Steps, final.BestValError, &test.Error, test.N
	if err := engine.SaveClassifier(out, p, cc); err != nil {
		return err
	}
	if err := write(final); err != nil {
		return err
	}
	// The folder and its parent name the run (e.g. mnist-cae/finetune).
	title := filepath.Base(filepath.Clean(out))
	if abs, err := filepath.Abs(out); err == nil {
		title = filepath.Base(filepath.Dir(abs)) + "/" + filepath.Base(abs)
	}
	if err := plot.Confusion(filepath.Join(out, "confusion.png"),
		fmt.Sprintf("%s: test error %.2f%% (%d of %d)", title, 100*test.Error, test.Errors, test.N), cm); err != nil {
		return err
	}
	if err := learningCurves(out, title, epochs); err != nil {
		return err
	}
	if f.json {
		return nil
	}
	kept := fmt.Sprintf("best epoch %d (validation error %.2f%%)", res.BestEpoch, 100*res.BestValError)
	if val.N == 0 {
		kept = fmt.Sprintf("kept the last epoch, %d (no validation split)", res.BestEpoch)
	}
	fmt.Fprintf(stdout, "fine-tuned %s %s → softmax %d %s for %d epochs (%d steps) in %.1fs; %s\n",
		formatArch(spec.Arch), spec.Act, spec.Classes, origin, cfg.Epochs, res.Steps, final.Seconds, kept)
	fmt.Fprintf(stdout, "test error %.2f%% (%d of %d test images)  test loss %.4g\n", 100*test.Error, test.Errors, test.N, test.Loss)
	fmt.Fprintf(stdout, "wrote %s/{%s,%s,metrics.jsonl,confusion.png,learning_curve_loss.png,learning_curve_error.png}\n", out, engine.ClassifierFile, engine.ConfigFile)
	return nil
}

// learningCurves draws the train and validation loss, and error, per epoch
// (on a log axis: a train error of 0 is not drawn; without a validation
// split, the train curves alone).
func learningCurves(out, title string, epochs []engine.FinetuneEpoch) error {
	var x, vx, tl, vl, te, ve []float64
	for _, m := range epochs {
		x = append(x, float64(m.Epoch))
		tl, te = append(tl, m.TrainLoss), append(te, 100*m.TrainError)
		if m.ValError != nil {
			vx = append(vx, float64(m.Epoch))
			vl, ve = append(vl, *m.ValLoss), append(ve, 100**m.ValError)
		}
	}
	for _, c := range []struct {
		file, y    string
		train, val []float64
	}{
		{"learning_curve_loss.png", "mean cross-entropy", tl, vl},
		{"learning_curve_error.png", "error (%)", te, ve},
	} {
		fig := plot.Figure{
			Title: title, XLabel: "epoch", YLabel: c.y, LogY: true,
			Series: []plot.Series{{Name: "train (during the epoch)", X: x, Y: c.train, Points: true}},
		}
		if len(vx) > 0 {
			fig.Series = append(fig.Series, plot.Series{Name: "validation", X: vx, Y: c.val, Points: true})
		}
		if err := fig.WritePNG(filepath.Join(out, c.file)); err != nil {
			return err
		}
	}
	return nil
}

// optDetail is the optimizer's settings beyond the learning rate, for the
// start line: SGD's momentum and any weight decay.
func optDetail(c engine.FinetuneConfig) string {
	d := ""
	if c.Optimizer == engine.OptSGD {
		d += fmt.Sprintf(" momentum %g", c.Momentum)
	}
	if c.WeightDecay > 0 {
		d += fmt.Sprintf(" weight decay %g", c.WeightDecay)
	}
	if c.InputDropout > 0 {
		d += fmt.Sprintf(" input dropout %g", c.InputDropout)
	}
	return d
}

// keepMetrics keeps, in the metrics file at path, the epoch lines of
// epochs 1…upto (a run stopped after its checkpoint may have written one
// more), rewritten atomically, and returns them.
func keepMetrics(path string, upto int) ([]engine.FinetuneEpoch, error) {
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var kept []engine.FinetuneEpoch
	var b bytes.Buffer
	for i, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e engine.FinetuneEpoch
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		if e.Event != "epoch" || e.Epoch > upto {
			continue
		}
		kept = append(kept, e)
		b.Write(line)
		b.WriteByte('\n')
	}
	return kept, atomicfile.WriteFile(path, func(w io.Writer) error { _, err := w.Write(b.Bytes()); return err }, 0o644)
}
