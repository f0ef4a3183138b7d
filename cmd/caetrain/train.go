// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/graph"
)

// trainFlags are the training command's flags.
type trainFlags struct {
	device, data, preset, arch, act, outAct, loss, out string
	tied, json                                         bool
	lambda, lr                                         float64
	batch, epochs, maxSteps, logEvery                  int
	seed                                               uint64
}

func newTrainFlagSet(f *trainFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("caetrain", flag.ContinueOnError)
	fs.StringVar(&f.device, "device", "auto", "where to train: auto, cpu or cuda (auto says on stderr which it picked)")
	fs.StringVar(&f.data, "data", "", "directory with the four IDX files of Fashion-MNIST or MNIST (.gz or raw)")
	fs.StringVar(&f.preset, "preset", "seed", "starting configuration: seed or rifai (explicit flags override it)")
	fs.StringVar(&f.arch, "arch", "", "encoder widths from the input to the code, e.g. 784,64,32,16 (preset's if unset)")
	fs.StringVar(&f.act, "act", "", "hidden activation: sigmoid, relu or tanh")
	fs.StringVar(&f.outAct, "out-act", "", "decoder output activation: sigmoid or linear")
	fs.BoolVar(&f.tied, "tied", false, "decoder uses the encoder's transposed weights")
	fs.StringVar(&f.loss, "loss", "", "reconstruction loss summed over pixels: sse or bce (bce needs --out-act sigmoid)")
	fs.Float64Var(&f.lambda, "lambda", 0, "weight λ of the contractive penalty ‖J_h(x)‖²_F")
	fs.IntVar(&f.batch, "batch", 0, "samples per optimizer step")
	fs.IntVar(&f.epochs, "epochs", 0, "passes over the training set")
	fs.IntVar(&f.maxSteps, "max-steps", 0, "stop after this many optimizer steps (0: no limit)")
	fs.Float64Var(&f.lr, "lr", 0, "Adam learning rate")
	fs.Uint64Var(&f.seed, "seed", 1, "seed for the initial weights and the shuffling; the same seed gives the same run")
	fs.StringVar(&f.out, "out", "", "output directory (default runs/<timestamp>)")
	fs.BoolVar(&f.json, "json", false, "print NDJSON events on stdout instead of a summary")
	fs.IntVar(&f.logEvery, "log-every", 50, "steps between metrics lines")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, `usage: caetrain [train] [flags]
       caetrain eval --model DIR [--data DIR] [--n N]

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
Environment:
  CAETRAIN_DATA   data directory used when --data is not given
Data is looked for in --data, $CAETRAIN_DATA, /usr/share/datasets/fashion-mnist
(apt-get install dataset-fashion-mnist), else a sample embedded in the binary.
`)
	}
	return fs
}

// config builds the run's configuration: the preset, then every flag given
// explicitly. Bad values are usage errors naming the flag.
func (f *trainFlags) config(set map[string]bool) (engine.Config, string, error) {
	p, err := engine.LookupPreset(f.preset)
	if err != nil {
		return engine.Config{}, "", usagef("--preset: %v", err)
	}
	c := p.Config
	name := p.Name
	if set["arch"] {
		if c.Spec.Arch, err = parseArch(f.arch); err != nil {
			return c, name, usageError{err}
		}
	}
	if set["act"] {
		switch a := graph.Activation(f.act); a {
		case graph.Sigmoid, graph.ReLU, graph.Tanh:
			c.Spec.Act = a
		default:
			return c, name, usagef("--act %q: want sigmoid, relu or tanh", f.act)
		}
	}
	if set["out-act"] {
		switch a := graph.Activation(f.outAct); a {
		case graph.Sigmoid, graph.Linear:
			c.Spec.OutAct = a
		default:
			return c, name, usagef("--out-act %q: want sigmoid or linear", f.outAct)
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
			return c, name, usagef("--loss %q: want sse or bce", f.loss)
		}
	}
	if set["lambda"] {
		if !(f.lambda >= 0) || f.lambda > 1e12 {
			return c, name, usagef("--lambda %v: must be a finite number ≥ 0", f.lambda)
		}
		c.Spec.Lambda = f.lambda
	}
	if set["batch"] {
		if f.batch <= 0 {
			return c, name, usagef("--batch %d: must be positive", f.batch)
		}
		c.Batch = f.batch
	}
	if set["epochs"] {
		if f.epochs <= 0 {
			return c, name, usagef("--epochs %d: must be positive", f.epochs)
		}
		c.Epochs = f.epochs
	}
	if f.maxSteps < 0 {
		return c, name, usagef("--max-steps %d: must not be negative", f.maxSteps)
	}
	c.MaxSteps = f.maxSteps
	if set["lr"] {
		if !(f.lr > 0) || f.lr > 1e6 {
			return c, name, usagef("--lr %v: must be a positive number", f.lr)
		}
		c.Adam.LR = f.lr
	}
	if f.logEvery <= 0 {
		return c, name, usagef("--log-every %d: must be positive", f.logEvery)
	}
	c.Seed = f.seed
	if c.Spec.Loss == graph.BCE && c.Spec.OutAct != graph.Sigmoid {
		return c, name, usagef("--loss bce needs --out-act sigmoid (reconstructions must lie in (0,1)); the %s preset with your flags has --out-act %s", name, c.Spec.OutAct)
	}
	if err := c.Validate(); err != nil {
		return c, name, usageError{err}
	}
	return c, name, nil
}

func trainMain(args []string, stdout, stderr io.Writer) error {
	var f trainFlags
	fs := newTrainFlagSet(&f)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg, preset, err := f.config(setFlags(fs))
	if err != nil {
		return err
	}
	dev, why, err := engine.SelectDevice(f.device)
	if err != nil {
		if errors.Is(err, engine.ErrNoCUDA) {
			return usagef("--device=%s: %v", f.device, err)
		}
		return usagef("--device: %v", err)
	}
	fmt.Fprintf(stderr, "caetrain: %s\n", why)

	data, err := engine.LoadData(f.data)
	if err != nil {
		return err
	}
	if data.Embedded {
		fmt.Fprintln(stderr, data.Notice)
	}
	if data.Train.Dim != cfg.Spec.Arch[0] {
		return usagef("--arch %s: the input width %d does not match the data's %d values per sample (%s)",
			formatArch(cfg.Spec.Arch), cfg.Spec.Arch[0], data.Train.Dim, data.Source)
	}

	out := f.out
	if out == "" {
		out = filepath.Join("runs", time.Now().Format("20060102-150405"))
	}
	if err := checkWritableDir(out); err != nil {
		return usagef("--out %s: %v", out, err)
	}

	tr, err := engine.NewTrainer(cfg)
	if err != nil {
		return err
	}
	defer tr.Close()

	mc := engine.NewModelConfig(cfg)
	mc.Preset, mc.Data, mc.Device, mc.Version = preset, data.Source, string(dev), version()

	metricsPath := filepath.Join(out, "metrics.jsonl")
	mf, err := os.Create(metricsPath)
	if err != nil {
		return err
	}
	defer mf.Close()
	metrics := bufio.NewWriter(mf)
	enc := json.NewEncoder(stdout)

	loop := &engine.Loop{T: tr, Train: data.Train, Test: data.Test, LogEvery: f.logEvery, Device: string(dev)}
	total := loop.TotalSteps()
	write := func(m engine.Metrics) error {
		js, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := metrics.Write(append(js, '\n')); err != nil {
			return fmt.Errorf("%s: %w", metricsPath, err)
		}
		if err := metrics.Flush(); err != nil {
			return fmt.Errorf("%s: %w", metricsPath, err)
		}
		if f.json {
			return enc.Encode(m)
		}
		return nil
	}
	prog := newProgress(stderr, cfg.Epochs, total)
	loop.OnStep(func(p engine.Progress) error { prog.step(p); return nil })
	loop.OnLog(func(m engine.Metrics) error { prog.log(m); return write(m) })
	loop.OnEpoch(func(m engine.Metrics) error {
		prog.epoch(m)
		if m.Event == "epoch" {
			// Keep the newest weights on disk after every epoch.
			if err := engine.SaveModel(out, tr.Params, withSteps(mc, tr.Steps())); err != nil {
				return err
			}
		}
		return write(m)
	})

	if f.json {
		enc.Encode(map[string]any{
			"event": "start", "out": out, "device": dev, "preset": preset, "config": mc,
			"train_samples": data.Train.N, "test_samples": data.Test.N, "data": data.Source, "total_steps": total,
		})
	}
	fmt.Fprintf(stderr, "caetrain: training %s on %d samples (%s), %d steps, writing %s\n",
		describe(cfg), data.Train.N, data.Source, total, out)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	final, runErr := loop.Run(ctx)
	prog.done()

	// Whatever happened, keep the last good weights: a diverged step does not
	// update them.
	if err := engine.SaveModel(out, tr.Params, withSteps(mc, tr.Steps())); err != nil {
		return errors.Join(runErr, err)
	}
	switch {
	case runErr == nil:
	case ctx.Err() != nil:
		return fmt.Errorf("%w after %d steps; the model so far is in %s", errInterrupted, tr.Steps(), out)
	case errors.Is(runErr, engine.ErrDiverged):
		return fmt.Errorf("%v\nthe last good weights (step %d) are in %s; try a smaller --lr (now %g) or --lambda (now %g)",
			runErr, tr.Steps(), out, cfg.Adam.LR, cfg.Spec.Lambda)
	default:
		return runErr
	}
	png := filepath.Join(out, "reconstructions.png")
	if err := tr.SaveReconstructions(png, data.Test, data.Rows, data.Cols, 10); err != nil {
		return err
	}
	if f.json {
		return enc.Encode(map[string]any{"event": "done", "out": out, "steps": tr.Steps(), "seconds": time.Since(start).Seconds(),
			"files": []string{engine.ModelFile, engine.ConfigFile, "metrics.jsonl", "reconstructions.png"}})
	}
	fmt.Fprintf(stdout, "trained %s for %d steps on %s in %.1fs\n", describe(cfg), tr.Steps(), dev, time.Since(start).Seconds())
	fmt.Fprintf(stdout, "final: loss %.5g  recon %.5g  penalty %.5g", final.Loss, final.Recon, final.Penalty)
	if final.TestRecon != nil {
		fmt.Fprintf(stdout, "  test_recon %.5g  test_jacobian_fro %.5g", *final.TestRecon, *final.TestJacobianFro)
	}
	if final.SamplesPerS != nil {
		fmt.Fprintf(stdout, "  %.0f samples/s", *final.SamplesPerS)
	}
	fmt.Fprintf(stdout, "\nwrote %s/{%s,%s,metrics.jsonl,reconstructions.png}\n", out, engine.ModelFile, engine.ConfigFile)
	return nil
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
	return fmt.Sprintf("%s %s/%s%s %s λ=%g batch %d lr %g", formatArch(c.Spec.Arch), c.Spec.Act, c.Spec.OutAct, tied, c.Spec.Loss, c.Spec.Lambda, c.Batch, c.Adam.LR)
}

// checkWritableDir creates dir if needed and checks a file can be written
// in it.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create it: %w", err)
	}
	f, err := os.CreateTemp(dir, ".caetrain-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write in it: %w", err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
