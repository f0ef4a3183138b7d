// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
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
	"reflect"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/plot"
)

// trainFlags are the training command's flags.
type trainFlags struct {
	device, preset, arch, act, outAct, loss, out string
	tied, json                                   bool
	lambda, lr                                   float64
	hessGamma, hessSigma                         float64
	hessCopies                                   int
	vm                                           string
	batch, epochs, maxSteps, logEvery            int
	checkpointEvery                              int
	resume                                       bool
	seed                                         uint64
	data                                         dataFlags
	archList                                     []int // --arch as given
}

// defaultCheckpointEvery is --checkpoint-every's default: about one epoch
// of the full data at the default batch size.
const defaultCheckpointEvery = 500

func newTrainFlagSet(f *trainFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("caetrain", flag.ContinueOnError)
	fs.StringVar(&f.device, "device", "auto", "where to train: auto, cpu or cuda (auto says on stderr which it picked)")
	f.data.register(fs)
	fs.StringVar(&f.preset, "preset", "seed", "starting configuration: seed or rifai (explicit flags override it)")
	fs.StringVar(&f.arch, "arch", "", "encoder widths from the input to the code, e.g. 784,64,32,16, or without the input, which comes from the data: 64,32,16 (a first width below the data's is taken as a hidden layer)")
	fs.StringVar(&f.act, "act", "", "hidden activation: sigmoid, relu or tanh")
	fs.StringVar(&f.outAct, "out-act", "", "decoder output activation: sigmoid or linear")
	fs.BoolVar(&f.tied, "tied", false, "decoder uses the encoder's transposed weights")
	fs.StringVar(&f.loss, "loss", "", "reconstruction loss summed over pixels: sse or bce (bce needs --out-act sigmoid)")
	fs.Float64Var(&f.lambda, "lambda", 0, "weight λ of the contractive penalty ‖J_h(x)‖²_F")
	fs.Float64Var(&f.hessGamma, "hess-gamma", 0, "weight γ of the CAE+H term γ·E‖J(x) − J(x+ε)‖²_F (Rifai et al., ECML 2011); 0: off")
	fs.Float64Var(&f.hessSigma, "hess-sigma", 0.1, "standard deviation of the CAE+H corruption ε ~ N(0, σ²I)")
	fs.IntVar(&f.hessCopies, "hess-copies", 4, "corrupted copies per sample for the CAE+H estimate")
	fs.StringVar(&f.vm, "vm", "fast", "CPU virtual machine: fast (caetrain's own) or gorgonia (Gorgonia's TapeMachine, the reference)")
	fs.IntVar(&f.batch, "batch", 0, "samples per optimizer step")
	fs.IntVar(&f.epochs, "epochs", 0, "passes over the training set")
	fs.IntVar(&f.maxSteps, "max-steps", 0, "stop after this many optimizer steps (0: no limit)")
	fs.Float64Var(&f.lr, "lr", 0, "Adam learning rate")
	fs.Uint64Var(&f.seed, "seed", 1, "seed for the initial weights and the shuffling; the same seed gives the same run")
	fs.StringVar(&f.out, "out", "", "output directory (default runs/<timestamp>)")
	fs.BoolVar(&f.json, "json", false, "print NDJSON events on stdout instead of a summary")
	fs.IntVar(&f.logEvery, "log-every", 50, "steps between metrics lines")
	fs.IntVar(&f.checkpointEvery, "checkpoint-every", defaultCheckpointEvery, "steps between checkpoints in --out/checkpoints (0: only at each epoch's end); the newest 3 are kept")
	fs.BoolVar(&f.resume, "resume", false, "continue the run in --out from its newest intact checkpoint, with its own settings (--epochs, --max-steps, --lr and --lambda may be changed)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, `usage: caetrain [train] [flags]
       caetrain eval --model DIR [--data DIR] [--n N] [--report DIR]
       caetrain encode --model DIR [--data DIR] --out FILE

Trains a contractive autoencoder: reconstruction loss + λ·‖J_h(x)‖²_F, the
exact squared Frobenius norm of the Jacobian of the code with respect to the
input, for any depth and activation.

Presets:
`)
		for _, n := range engine.PresetNames() {
			p, _ := engine.LookupPreset(n)
			fmt.Fprintf(w, "  %-6s %s; %d epochs\n", n, p.Description, p.Config.Epochs)
		}
		fmt.Fprint(w, "\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(w, `
Data:
`+dataHelp+`

Environment:
  CAETRAIN_DATA   data directory used when --data is not given
  CAETRAIN_GPU    the GPU build (caetrain-gpu) a CPU build hands --device=auto|cuda runs to
Data is looked for in --data, $CAETRAIN_DATA, /usr/share/datasets/fashion-mnist
(apt-get install dataset-fashion-mnist), else a sample embedded in the binary.

Checkpoints: every --checkpoint-every steps, at each epoch's end and on
SIGINT/SIGTERM, caetrain writes --out/checkpoints/ckpt-<step>.bin. After a
crash or a kill, 'caetrain --resume --out DIR' continues the run and ends
with the weights the uninterrupted run would have had.
`)
	}
	return fs
}

// config builds a new run's configuration: the preset, then every flag
// given explicitly. Bad values are usage errors naming the flag.
func (f *trainFlags) config(set map[string]bool) (engine.Config, string, error) {
	p, err := engine.LookupPreset(f.preset)
	if err != nil {
		return engine.Config{}, "", usagef("--preset: %v", err)
	}
	c := p.Config
	c.Seed, c.MaxSteps = f.seed, f.maxSteps
	c, err = f.apply(c, set, p.Name)
	return c, p.Name, err
}

// apply sets in c every flag given explicitly, and validates the result.
// preset names c's origin in messages.
func (f *trainFlags) apply(c engine.Config, set map[string]bool, preset string) (engine.Config, error) {
	var err error
	c.Spec.Arch = slices.Clone(c.Spec.Arch)
	if set["arch"] {
		if f.archList, err = parseArch(f.arch); err != nil {
			return c, usageError{err}
		}
		// The input width is the data's: here, until the data is read, the
		// configuration's own.
		if a := f.archList; len(a) == 1 || a[0] < c.Spec.Arch[0] {
			c.Spec.Arch = append([]int{c.Spec.Arch[0]}, a...)
		} else {
			c.Spec.Arch = slices.Clone(a)
		}
	}
	if set["act"] {
		switch a := graph.Activation(f.act); a {
		case graph.Sigmoid, graph.ReLU, graph.Tanh:
			c.Spec.Act = a
		default:
			return c, usagef("--act %q: want sigmoid, relu or tanh", f.act)
		}
	}
	if set["out-act"] {
		switch a := graph.Activation(f.outAct); a {
		case graph.Sigmoid, graph.Linear:
			c.Spec.OutAct = a
		default:
			return c, usagef("--out-act %q: want sigmoid or linear", f.outAct)
		}
	}
	if set["tied"] {
		c.Spec.Tied = f.tied
	}
	if set["loss"] {
		switch l := graph.LossKind(f.loss); l {
		case graph.SSE, graph.BCE:
			c.Spec.Loss = l
		default:
			return c, usagef("--loss %q: want sse or bce", f.loss)
		}
	}
	if set["lambda"] {
		if !(f.lambda >= 0) || f.lambda > 1e12 {
			return c, usagef("--lambda %v: must be a finite number ≥ 0", f.lambda)
		}
		c.Spec.Lambda = f.lambda
	}
	if set["hess-gamma"] {
		if !(f.hessGamma >= 0) || f.hessGamma > 1e12 {
			return c, usagef("--hess-gamma %v: must be a finite number ≥ 0", f.hessGamma)
		}
		c.Spec.HessGamma = f.hessGamma
	}
	if c.Spec.HessGamma > 0 || set["hess-sigma"] || set["hess-copies"] {
		if !(f.hessSigma > 0) || f.hessSigma > 1e6 {
			return c, usagef("--hess-sigma %v: must be a positive number", f.hessSigma)
		}
		if f.hessCopies < 1 || f.hessCopies > 64 {
			return c, usagef("--hess-copies %d: must be between 1 and 64", f.hessCopies)
		}
		if c.Spec.HessGamma > 0 {
			c.Spec.HessSigma, c.Spec.HessCopies = f.hessSigma, f.hessCopies
		}
	}
	if set["vm"] {
		switch f.vm {
		case engine.FastVM, engine.GorgoniaVM:
			c.Machine = f.vm
		default:
			return c, usagef("--vm %q: want %s or %s", f.vm, engine.FastVM, engine.GorgoniaVM)
		}
	}
	if set["batch"] {
		if f.batch <= 0 {
			return c, usagef("--batch %d: must be positive", f.batch)
		}
		c.Batch = f.batch
	}
	if set["epochs"] {
		if f.epochs <= 0 {
			return c, usagef("--epochs %d: must be positive", f.epochs)
		}
		c.Epochs = f.epochs
	}
	if f.maxSteps < 0 {
		return c, usagef("--max-steps %d: must not be negative", f.maxSteps)
	}
	if set["max-steps"] {
		c.MaxSteps = f.maxSteps
	}
	if set["lr"] {
		if !(f.lr > 0) || f.lr > 1e6 {
			return c, usagef("--lr %v: must be a positive number", f.lr)
		}
		c.Adam.LR = f.lr
	}
	if set["seed"] {
		c.Seed = f.seed
	}
	if c.Spec.Loss == graph.BCE && c.Spec.OutAct != graph.Sigmoid {
		return c, usagef("--loss bce needs --out-act sigmoid (reconstructions must lie in (0,1)); the %s preset with your flags has --out-act %s", preset, c.Spec.OutAct)
	}
	if err := c.Validate(); err != nil {
		return c, usageError{err}
	}
	return c, nil
}

// resumeConfig is the configuration a resumed run continues with: the
// checkpoint's own. --epochs and --max-steps may change it (to extend or
// shorten the run), and so may --lr and --lambda (to rescue a run that
// diverged); any other flag that disagrees with the checkpoint is a usage
// error naming it.
func (f *trainFlags) resumeConfig(ck *engine.Checkpoint, set map[string]bool, out string) (engine.Config, string, error) {
	stored := ck.Config
	preset := ck.Info["preset"]
	if set["preset"] && f.preset != preset {
		return stored, preset, usagef("--preset %s: the run in %s was started from preset %q; --resume continues a run with its own settings (leave the flag out, or start a new run in another --out)", f.preset, out, preset)
	}
	c, err := f.apply(stored, set, preset)
	if err != nil {
		return c, preset, err
	}
	type setting struct{ flag, was, now string }
	for _, s := range []setting{
		{"arch", formatArch(stored.Spec.Arch), formatArch(c.Spec.Arch)},
		{"act", string(stored.Spec.Act), string(c.Spec.Act)},
		{"out-act", string(stored.Spec.OutAct), string(c.Spec.OutAct)},
		{"tied", strconv.FormatBool(stored.Spec.Tied), strconv.FormatBool(c.Spec.Tied)},
		{"loss", string(stored.Spec.Loss), string(c.Spec.Loss)},
		{"hess-gamma", fmt.Sprint(stored.Spec.HessGamma), fmt.Sprint(c.Spec.HessGamma)},
		{"hess-sigma", fmt.Sprint(stored.Spec.HessSigma), fmt.Sprint(c.Spec.HessSigma)},
		{"hess-copies", fmt.Sprint(stored.Spec.HessCopies), fmt.Sprint(c.Spec.HessCopies)},
		{"batch", strconv.Itoa(stored.Batch), strconv.Itoa(c.Batch)},
		{"seed", strconv.FormatUint(stored.Seed, 10), strconv.FormatUint(c.Seed, 10)},
	} {
		if s.was != s.now {
			return c, preset, usagef("--%s %s: the run in %s was trained with --%s %s, and --resume continues a run with its own settings; leave the flag out, or start a new run in another --out",
				s.flag, s.now, out, s.flag, s.was)
		}
	}
	// Whatever else the flags changed (nothing, today) also conflicts.
	a, b := stored, c
	// The VM changes how, not what, is computed: either may continue a run.
	a.Epochs, a.MaxSteps, a.Adam.LR, a.Spec.Lambda, a.Machine = b.Epochs, b.MaxSteps, b.Adam.LR, b.Spec.Lambda, b.Machine
	if !reflect.DeepEqual(a, b) {
		return c, preset, usagef("--resume: your flags change the run's configuration (%+v, was %+v); leave them out, or start a new run in another --out", b, a)
	}
	return c, preset, nil
}

// wrapCheckpointWriter, when set, wraps the writer of every checkpoint:
// tests use it to fill the disk.
var wrapCheckpointWriter func(io.Writer) io.Writer

func trainMain(args []string, stdout, stderr io.Writer) (err error) {
	var f trainFlags
	fs := newTrainFlagSet(&f)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	set := setFlags(fs)

	// Validate every flag before any work.
	if f.logEvery <= 0 {
		return usagef("--log-every %d: must be positive", f.logEvery)
	}
	if f.checkpointEvery < 0 {
		return usagef("--checkpoint-every %d: must be ≥ 0 (0 checkpoints only at each epoch's end)", f.checkpointEvery)
	}
	if err := f.data.check(set); err != nil {
		return err
	}
	out := f.out
	var (
		cfg     engine.Config
		preset  string
		from    *engine.Checkpoint
		damaged []engine.DamagedCheckpoint
	)
	if f.resume {
		if !set["out"] || out == "" {
			return usagef("--resume needs --out DIR, the output directory of the run to continue")
		}
		var err error
		from, damaged, err = engine.LatestCheckpoint(out)
		switch {
		case errors.Is(err, engine.ErrNoCheckpoint):
			return usagef("--resume: %v: there is no run to continue there (leave out --resume to start one)", err)
		case err != nil:
			return fmt.Errorf("cannot resume the run in %s: %w", out, err)
		}
		if cfg, preset, err = f.resumeConfig(from, set, out); err != nil {
			return err
		}
		// The run's own cadence, unless the flags say otherwise.
		for flag, v := range map[string]*int{"log-every": &f.logEvery, "checkpoint-every": &f.checkpointEvery} {
			if n, err := strconv.Atoi(from.Info[flag]); err == nil && !set[flag] && n >= 0 {
				*v = n
			}
		}
		if f.logEvery <= 0 {
			f.logEvery = 50
		}
	} else {
		var err error
		if cfg, preset, err = f.config(set); err != nil {
			return err
		}
		if out == "" {
			out = filepath.Join("runs", time.Now().Format("20060102-150405"))
		}
		if files, _ := engine.ListCheckpoints(out); len(files) > 0 {
			return usagef("--out %s: holds the checkpoints of an earlier run; continue it with --resume, or choose another --out", out)
		}
	}
	dev, why, err := engine.SelectDevice(f.device)
	if err != nil {
		if errors.Is(err, engine.ErrNoCUDA) {
			return usagef("--device=%s: %v", f.device, err)
		}
		return usagef("--device: %v", err)
	}
	if dev == engine.CUDA && !engine.CUDABuild {
		// A CPU build found a GPU build whose device answers: the run is
		// its.
		path, _ := engine.GPUHandoff()
		fmt.Fprintf(stderr, "caetrain: %s; handing the run to %s\n", why, path)
		return handoff(path, "train", args)
	}
	cfg.Device = dev
	created, err := prepareOutDir(out)
	if err != nil {
		return usagef("--out %s: %v", out, err)
	}
	defer func() {
		if err != nil && created {
			os.Remove(out) // only if still empty
		}
	}()
	fmt.Fprintf(stderr, "caetrain: %s\n", why)

	if from != nil && !set["data"] {
		f.data.fromModel(out)
	}
	data, err := f.data.open(cfg.Seed, stderr)
	if err != nil {
		return err
	}
	defer data.Close()
	if from == nil {
		arch := cfg.Spec.Arch
		if set["arch"] {
			arch = f.archList
		}
		if cfg.Spec.Arch, err = resolveArch(arch, set["arch"], data.Train.Dim, data.Source); err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return usageError{err}
		}
	}
	if data.Train.Dim != cfg.Spec.Arch[0] {
		return usagef("--arch %s: the input width %d does not match the data's %d values per sample (%s)",
			formatArch(cfg.Spec.Arch), cfg.Spec.Arch[0], data.Train.Dim, data.Source)
	}
	if err := checkRange(string(cfg.Spec.Loss), data); err != nil {
		return err
	}

	tr, err := engine.NewTrainer(cfg)
	if err != nil {
		return err
	}
	defer tr.Close()
	loop := &engine.Loop{
		T: tr, Train: data.Train, Test: data.Test, LogEvery: f.logEvery, Device: string(dev),
		CheckpointEvery: f.checkpointEvery,
		Info: map[string]string{
			"preset":           preset,
			"log-every":        strconv.Itoa(f.logEvery),
			"checkpoint-every": strconv.Itoa(f.checkpointEvery),
		},
	}
	if from != nil {
		if err := loop.Resume(from); err != nil {
			if errors.Is(err, engine.ErrOtherData) {
				return usagef("--data: %s holds a run trained on other data than %s: %v", out, data.Source, err)
			}
			return fmt.Errorf("resuming from %s: %w", from.Path, err)
		}
		for _, d := range damaged {
			aside := d.Path + ".damaged"
			fmt.Fprintf(stderr, "caetrain: skipping a damaged checkpoint: %v\n", d.Err)
			if err := os.Rename(d.Path, aside); err == nil {
				fmt.Fprintf(stderr, "caetrain: moved it aside to %s\n", aside)
			}
		}
		fmt.Fprintf(stderr, "caetrain: resuming from %s (step %d, epoch %d)\n", from.Path, from.Step, from.Epoch)
		if lr, lam := from.Config.Adam.LR, from.Config.Spec.Lambda; lr != cfg.Adam.LR || lam != cfg.Spec.Lambda {
			fmt.Fprintf(stderr, "caetrain: continuing with --lr %g --lambda %g (the run so far used --lr %g --lambda %g)\n", cfg.Adam.LR, cfg.Spec.Lambda, lr, lam)
		}
		if err := engine.RemoveStaleTemps(out); err != nil {
			return err
		}
	}

	mc := engine.NewModelConfig(cfg)
	mc.Preset, mc.Data, mc.Device, mc.Version = preset, data.Source, string(dev), version()
	mc.DataConfig = &data.Config

	metricsPath := filepath.Join(out, "metrics.jsonl")
	var mf *os.File
	if from != nil {
		mf, err = reopenMetrics(metricsPath, from.Step)
	} else {
		mf, err = os.Create(metricsPath)
	}
	if err != nil {
		return err
	}
	defer mf.Close()
	enc := json.NewEncoder(stdout)
	write := metricsWriter(mf, metricsPath, f.json, enc)

	total := loop.TotalSteps()
	prog := newProgress(stderr, cfg.Epochs, total)
	loop.OnStep(func(p engine.Progress) error { prog.step(p); return nil })
	loop.OnLog(func(m engine.Metrics) error { prog.log(m); return write(m) })
	loop.OnEpoch(func(m engine.Metrics) error {
		prog.epoch(m)
		if m.Event == "epoch" {
			// Keep the newest weights on disk after every epoch.
			if err := engine.SaveModel(out, tr.Params, withSteps(mc, tr.HostSteps())); err != nil {
				return err
			}
		}
		return write(m)
	})
	ckw := engine.NewCheckpointer(out, from)
	ckw.WrapWriter = wrapCheckpointWriter
	loop.OnCheckpoint(ckw.Write)

	if f.json {
		start := map[string]any{
			"event": "start", "out": out, "device": dev, "preset": preset, "config": mc,
			"train_samples": data.Train.N, "test_samples": data.Test.N, "data": data.Source, "total_steps": total,
		}
		if from != nil {
			start["resumed_from"], start["resumed_step"] = from.Path, from.Step
		}
		enc.Encode(start)
	}
	verb := "training"
	if from != nil {
		verb = "resuming"
	}
	fmt.Fprintf(stderr, "caetrain: %s %s on %d samples (%s), %d steps, writing %s\n",
		verb, describe(cfg), data.Train.N, data.Source, total, out)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one ends the process at once
		// (the checkpoints on disk are whole, whatever it interrupts).
		<-ctx.Done()
		stop()
	}()
	start := time.Now()
	final, runErr := loop.Run(ctx)
	prog.done()

	interrupted := runErr != nil && ctx.Err() != nil && errors.Is(runErr, context.Canceled)
	var ckErr error
	if interrupted {
		// The CUDA VM's weights live on the device. (After divergence the
		// host keeps its last good copy: no sync then.)
		if ckErr = tr.Sync(); ckErr == nil {
			ckErr = ckw.Write(loop.Checkpoint())
		}
	}
	// Whatever happened, keep the last good weights: a diverged step does not
	// update them.
	if err := engine.SaveModel(out, tr.Params, withSteps(mc, tr.HostSteps())); err != nil {
		return errors.Join(runErr, ckErr, err)
	}
	switch {
	case runErr == nil:
	case interrupted:
		if ckErr != nil {
			return fmt.Errorf("%w after %d steps, and the checkpoint could not be saved: %w", errInterrupted, tr.Steps(), ckErr)
		}
		path, _ := ckw.Last()
		return fmt.Errorf("%w after %d steps; saved %s and the model so far in %s\ncontinue with: caetrain --resume --out %s",
			errInterrupted, tr.Steps(), path, out, out)
	case errors.Is(runErr, engine.ErrDiverged):
		last := "no checkpoint was written before it"
		if path, step := ckw.Last(); path != "" {
			last = fmt.Sprintf("the last good checkpoint is %s (step %d)", path, step)
		}
		return fmt.Errorf("%v\nthe last good weights (step %d) are in %s, and %s.\ntry a smaller --lr (now %g) or --lambda (now %g): caetrain --resume --out %s --lr %g continues from that checkpoint",
			runErr, tr.HostSteps(), out, last, cfg.Adam.LR, cfg.Spec.Lambda, out, cfg.Adam.LR/10)
	default:
		return runErr
	}
	png := filepath.Join(out, "reconstructions.png")
	if err := saveReconstructions(tr.Evaluator, png, data); err != nil {
		return err
	}
	if err := plot.LossCurve(metricsPath, filepath.Join(out, "loss_curve.png")); err != nil {
		fmt.Fprintf(stderr, "caetrain: no loss curve: %v\n", err)
	}
	if f.json {
		return enc.Encode(map[string]any{"event": "done", "out": out, "steps": tr.Steps(), "seconds": time.Since(start).Seconds(),
			"files": []string{engine.ModelFile, engine.ConfigFile, "metrics.jsonl", "reconstructions.png", "loss_curve.png", engine.CheckpointDir}})
	}
	fmt.Fprintf(stdout, "trained %s for %d steps on %s in %.1fs\n", describe(cfg), tr.Steps(), dev, time.Since(start).Seconds())
	fmt.Fprintf(stdout, "final: loss %.5g  recon %.5g  penalty %.5g", final.Loss, final.Recon, final.Penalty)
	if final.TestRecon != nil {
		fmt.Fprintf(stdout, "  test_recon %.5g  test_jacobian_fro %.5g", *final.TestRecon, *final.TestJacobianFro)
	}
	if final.SamplesPerS != nil {
		fmt.Fprintf(stdout, "  %.0f samples/s", *final.SamplesPerS)
	}
	fmt.Fprintf(stdout, "\nwrote %s/{%s,%s,metrics.jsonl,reconstructions.png,loss_curve.png,%s/}\n", out, engine.ModelFile, engine.ConfigFile, engine.CheckpointDir)
	return nil
}

// reopenMetrics prepares metrics.jsonl for a run resumed at step: it keeps
// the lines of steps up to it (the resumed run writes the later ones again)
// and drops any "final" line and any line cut short by a kill, then opens
// the file for appending.
func reopenMetrics(path string, step int) (*os.File, error) {
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var kept []byte
	for line := range bytes.Lines(raw) {
		var m engine.Metrics
		if json.Unmarshal(line, &m) != nil || !bytes.HasSuffix(line, []byte("\n")) {
			continue
		}
		if m.Step <= step && m.Event != "final" {
			kept = append(kept, line...)
		}
	}
	if err := atomicfile.WriteBytes(path, kept, 0o644); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
}

func withSteps(mc engine.ModelConfig, steps int) engine.ModelConfig {
	mc.Steps = steps
	return mc
}

func describe(c engine.Config) string {
	tied := ""
	if c.Spec.Tied {
		tied = " tied"
	}
	hess := ""
	if c.Spec.HessGamma > 0 {
		hess = fmt.Sprintf(" CAE+H γ=%g σ=%g×%d", c.Spec.HessGamma, c.Spec.HessSigma, c.Spec.HessCopies)
	}
	return fmt.Sprintf("%s %s/%s%s %s λ=%g%s batch %d lr %g", formatArch(c.Spec.Arch), c.Spec.Act, c.Spec.OutAct, tied, c.Spec.Loss, c.Spec.Lambda, hess, c.Batch, c.Adam.LR)
}

// checkWritableDir creates dir if needed and checks a file can be written
// in it.
func checkWritableDir(dir string) error {
	_, err := prepareOutDir(dir)
	return err
}

// prepareOutDir creates dir if needed, reporting whether it did, and
// checks that a file can be written in it.
func prepareOutDir(dir string) (created bool, err error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("cannot create it: %w", err)
	}
	f, err := os.CreateTemp(dir, ".caetrain-probe-*")
	if err != nil {
		if created {
			os.Remove(dir)
		}
		return false, fmt.Errorf("cannot write in it: %w", err)
	}
	name := f.Name()
	f.Close()
	return created, os.Remove(name)
}

// metricsWriter returns write, which appends v to the metrics file mf (at
// path) as one JSON line, flushed at once so that a killed run keeps every
// line, and, when toStdout, also encodes it on enc (--json).
func metricsWriter(mf *os.File, path string, toStdout bool, enc *json.Encoder) func(v any) error {
	metrics := bufio.NewWriter(mf)
	return func(v any) error {
		js, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := metrics.Write(append(js, '\n')); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := metrics.Flush(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if toStdout {
			return enc.Encode(v)
		}
		return nil
	}
}
