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
	"slices"
	"strings"
	"time"

	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/caetrainbin"
	"github.com/caetrain/caetrain/internal/plot"
)

// options are the command's flags.
type options struct {
	mnist, fashion, out, caetrain string
	epochs, maxSteps              int
	seed                          uint64
	lambda, hessGamma, hessSigma  float64
	hessCopies                    int
	noHess, reuse                 bool
	evalArgs                      string
}

// variant is one model of the comparison.
type variant struct {
	Name  string   // directory name and label
	Label string   // for tables and legends
	Args  []string // training flags beyond the preset and data
}

// result is one trained and evaluated model.
type result struct {
	Dataset, Variant, Label string
	Dir                     string
	TrainSeconds            float64
	Eval                    evalReport
}

// evalReport is the part of `caetrain eval`'s JSON that the report uses.
type evalReport struct {
	TestRecon         float64           `json:"test_recon"`
	TestJacobianFro   float64           `json:"test_jacobian_fro"`
	TestJacobianFro2  float64           `json:"test_jacobian_fro2"`
	N                 int               `json:"n"`
	ReportDir         string            `json:"report_dir"`
	SaturatedFraction *float64          `json:"saturated_fraction"`
	DeadUnitFraction  *float64          `json:"dead_unit_fraction"`
	ProbeTestAccuracy *float64          `json:"probe_test_accuracy"`
	KNNAccuracy       *float64          `json:"knn_accuracy"`
	Contraction       *contraction      `json:"contraction"`
	Spectrum          *spectrum         `json:"spectrum"`
	Files             map[string]string `json:"files"`
	Seconds           float64           `json:"seconds"`
}

type contraction struct {
	Points []point `json:"points"`
}

type point struct {
	Radius float64 `json:"radius"`
	Mean   float64 `json:"mean_ratio"`
}

type spectrum struct {
	Mean []float64 `json:"mean_singular_values"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mnist, "mnist", "", "MNIST directory (the four IDX files); empty skips MNIST")
	fs.StringVar(&o.fashion, "fashion", "", "Fashion-MNIST directory; empty skips Fashion-MNIST")
	fs.StringVar(&o.out, "out", "compare-results", "output directory")
	fs.StringVar(&o.caetrain, "caetrain", "", "caetrain binary to use (default: go build ./cmd/caetrain into OUT/bin)")
	fs.IntVar(&o.epochs, "epochs", 2, "training epochs of every model")
	fs.IntVar(&o.maxSteps, "max-steps", 0, "stop every training run after this many steps (0: no limit)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of every training run and evaluation")
	fs.Float64Var(&o.lambda, "lambda", 0.1, "λ of the CAE and CAE+H models (the rifai preset's is 0.1)")
	fs.Float64Var(&o.hessGamma, "hess-gamma", 0.1, "γ of the CAE+H model")
	fs.Float64Var(&o.hessSigma, "hess-sigma", 0.1, "σ of the CAE+H corruption ε ~ N(0, σ²I)")
	fs.IntVar(&o.hessCopies, "hess-copies", 4, "corrupted copies per sample of the CAE+H estimate (2 roughly halves its extra cost)")
	fs.BoolVar(&o.noHess, "no-hess", false, "leave out the CAE+H model")
	fs.BoolVar(&o.reuse, "reuse", false, "do not retrain models already in OUT; evaluate them again")
	fs.StringVar(&o.evalArgs, "eval-args", "", "extra flags for every `caetrain eval`, e.g. \"--spectrum-n 50 --train-n 5000\"")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: go run ./internal/cmd/compare --mnist DIR --fashion DIR [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	type dataset struct{ name, dir string }
	var sets []dataset
	if o.mnist != "" {
		sets = append(sets, dataset{"mnist", o.mnist})
	}
	if o.fashion != "" {
		sets = append(sets, dataset{"fashion-mnist", o.fashion})
	}
	if len(sets) == 0 {
		return errors.New("give --mnist DIR and/or --fashion DIR")
	}
	if !(o.lambda > 0) || !(o.hessGamma > 0) || !(o.hessSigma > 0) || o.hessCopies < 1 {
		return fmt.Errorf("--lambda %v, --hess-gamma %v, --hess-sigma %v and --hess-copies %d must be positive",
			o.lambda, o.hessGamma, o.hessSigma, o.hessCopies)
	}
	if o.epochs < 1 || o.maxSteps < 0 {
		return fmt.Errorf("--epochs %d must be positive and --max-steps %d not negative", o.epochs, o.maxSteps)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	bin, err := caetrainbin.Path(o.caetrain, o.out, "compare", stderr)
	if err != nil {
		return err
	}
	lam := []string{"--lambda", fmt.Sprint(o.lambda)}
	variants := []variant{
		{"cae", fmt.Sprintf("CAE (λ=%g)", o.lambda), lam},
		{"ae", "AE (λ=0)", []string{"--lambda", "0"}},
	}
	hessNote := ""
	switch help, _ := exec.Command(bin, "-h").CombinedOutput(); {
	case o.noHess:
		hessNote = "CAE+H left out (--no-hess)."
	case !bytes.Contains(help, []byte("-hess-gamma")):
		hessNote = "CAE+H left out: this caetrain has no --hess-gamma flag yet."
	default:
		a := append(slices.Clone(lam), "--hess-gamma", fmt.Sprint(o.hessGamma),
			"--hess-sigma", fmt.Sprint(o.hessSigma), "--hess-copies", fmt.Sprint(o.hessCopies))
		variants = append(variants, variant{"cae-h", fmt.Sprintf("CAE+H (λ=%g, γ=%g, σ=%g)", o.lambda, o.hessGamma, o.hessSigma), a})
	}
	if hessNote != "" {
		fmt.Fprintf(stderr, "compare: %s\n", hessNote)
	}

	var results []result
	for _, ds := range sets {
		for _, v := range variants {
			r, err := trainAndEval(bin, o, ds.name, ds.dir, v, stderr)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	}
	md, err := writeReport(o, results, hessNote)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, md)
	return nil
}

func trainAndEval(bin string, o options, dsName, dataDir string, v variant, stderr io.Writer) (result, error) {
	dir := filepath.Join(o.out, dsName, v.Name)
	r := result{Dataset: dsName, Variant: v.Name, Label: v.Label, Dir: dir}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); o.reuse && err == nil {
		fmt.Fprintf(stderr, "compare: %s/%s: reusing the model in %s\n", dsName, v.Name, dir)
	} else {
		args := []string{"--preset", "rifai", "--data", dataDir, "--epochs", fmt.Sprint(o.epochs),
			"--seed", fmt.Sprint(o.seed), "--out", dir}
		if o.maxSteps > 0 {
			args = append(args, "--max-steps", fmt.Sprint(o.maxSteps))
		}
		args = append(args, v.Args...)
		fmt.Fprintf(stderr, "compare: %s/%s: caetrain %s\n", dsName, v.Name, strings.Join(args, " "))
		t0 := time.Now()
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return r, fmt.Errorf("training %s on %s: %w", v.Name, dsName, err)
		}
		r.TrainSeconds = time.Since(t0).Seconds()
	}
	args := []string{"eval", "--model", dir, "--data", dataDir, "--report", filepath.Join(dir, "report"),
		"--seed", fmt.Sprint(o.seed)}
	args = append(args, strings.Fields(o.evalArgs)...)
	fmt.Fprintf(stderr, "compare: %s/%s: caetrain %s\n", dsName, v.Name, strings.Join(args, " "))
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("evaluating %s on %s: %w", v.Name, dsName, err)
	}
	if err := json.Unmarshal(out.Bytes(), &r.Eval); err != nil {
		return r, fmt.Errorf("evaluating %s on %s: caetrain eval printed no JSON report: %w", v.Name, dsName, err)
	}
	return r, nil
}

// writeReport writes results.md, results.json and the overlaid plots, and
// returns the Markdown.
func writeReport(o options, results []result, hessNote string) (string, error) {
	var md strings.Builder
	fmt.Fprintf(&md, "# CAE, plain AE and CAE+H with caetrain\n\n")
	fmt.Fprintf(&md, "Every model: 784-1000 sigmoid encoder, tied weights, sigmoid output, BCE (the `rifai` preset; the CAE's λ = %g), Adam lr 1e-3, batch 128, seed %d, %d epoch(s)", o.lambda, o.seed, o.epochs)
	if o.maxSteps > 0 {
		fmt.Fprintf(&md, " or %d steps, whichever comes first", o.maxSteps)
	}
	md.WriteString(". Measured on the full test set unless the eval flags say otherwise")
	if o.evalArgs != "" {
		fmt.Fprintf(&md, " (`caetrain eval %s`)", o.evalArgs)
	}
	md.WriteString(".\n\n")
	if find(results, "cae-h") != nil {
		fmt.Fprintf(&md, "CAE+H (Rifai et al., ECML 2011) adds γ·E‖J(x) − J(x+ε)‖²_F to the CAE's loss, ε ~ N(0, σ²I), estimated with %d corrupted copies per sample: λ = %g, γ = %g, σ = %g.\n\n",
			o.hessCopies, o.lambda, o.hessGamma, o.hessSigma)
	}
	if hessNote != "" {
		fmt.Fprintf(&md, "%s\n\n", hessNote)
	}
	var datasets []string
	by := map[string][]result{}
	for _, r := range results {
		if len(by[r.Dataset]) == 0 {
			datasets = append(datasets, r.Dataset)
		}
		by[r.Dataset] = append(by[r.Dataset], r)
	}
	for _, ds := range datasets {
		rs := by[ds]
		fmt.Fprintf(&md, "## %s\n\n", ds)
		md.WriteString("| model | mean ‖J‖_F | test recon (BCE) | saturated | linear probe | 5-NN | train s |\n")
		md.WriteString("|---|---|---|---|---|---|---|\n")
		for _, r := range rs {
			e := r.Eval
			fmt.Fprintf(&md, "| %s | %.4g | %.2f | %s | %s | %s | %s |\n", r.Label, e.TestJacobianFro, e.TestRecon,
				pct(e.SaturatedFraction), pct(e.ProbeTestAccuracy), pct(e.KNNAccuracy), secs(r.TrainSeconds))
		}
		md.WriteString("\n")
		if ae := find(rs, "ae"); ae != nil {
			for _, m := range []struct{ variant, name string }{{"cae", "CAE"}, {"cae-h", "CAE+H"}} {
				if r := find(rs, m.variant); r != nil && r.Eval.TestJacobianFro > 0 {
					fmt.Fprintf(&md, "%s\n\n", verdict(m.name, r.Eval.TestJacobianFro, ae.Eval.TestJacobianFro))
				}
			}
		}
		figs := []struct{ name, title, x, y string }{
			{"contraction", "contraction, " + ds, "‖δ‖ (random isotropic direction)", "mean ‖h(x) − h(x+δ)‖ / ‖δ‖"},
			{"spectrum", "singular values of J_h(x), " + ds, "k", "mean k-th largest singular value"},
		}
		for _, f := range figs {
			fig := plot.Figure{Title: f.title, XLabel: f.x, YLabel: f.y, LogY: true, LogX: f.name == "contraction"}
			for _, r := range rs {
				s := plot.Series{Name: r.Label, Points: true}
				switch {
				case f.name == "contraction" && r.Eval.Contraction != nil:
					for _, p := range r.Eval.Contraction.Points {
						s.X, s.Y = append(s.X, p.Radius), append(s.Y, p.Mean)
					}
				case f.name == "spectrum" && r.Eval.Spectrum != nil:
					for i, v := range r.Eval.Spectrum.Mean {
						s.X, s.Y = append(s.X, float64(i+1)), append(s.Y, v)
					}
				}
				fig.Series = append(fig.Series, s)
			}
			name := ds + "-" + f.name + ".png"
			if err := fig.WritePNG(filepath.Join(o.out, name)); err != nil {
				return "", err
			}
			fmt.Fprintf(&md, "![%s](%s)\n", f.title, name)
		}
		if err := lossOverlay(filepath.Join(o.out, ds+"-loss.png"), ds, rs); err != nil {
			fmt.Fprintf(&md, "\n(no loss plot: %v)\n", err)
		} else {
			fmt.Fprintf(&md, "![training reconstruction loss, %s](%s)\n", ds, ds+"-loss.png")
		}
		md.WriteString("\nLoss curves of each run (train and test):")
		for _, r := range rs {
			if p, ok := r.Eval.Files["loss_curve_png"]; ok {
				if rel, err := filepath.Rel(o.out, p); err == nil {
					p = rel
				}
				fmt.Fprintf(&md, " [%s](%s)", r.Label, filepath.ToSlash(p))
			}
		}
		md.WriteString("\n\n")
	}
	md.WriteString("Columns: mean ‖J‖_F is the mean Frobenius norm of the encoder's Jacobian over the test set; test recon is the mean per-image BCE summed over pixels; saturated is the fraction of code values below 0.05 or above 0.95; linear probe is the test accuracy of a multinomial logistic regression fitted to the codes of a random subset of the training set; 5-NN is the test accuracy of a 5-nearest-neighbour vote among the same codes. See `caetrain eval -h`.\n")
	mdPath := filepath.Join(o.out, "results.md")
	if err := atomicfile.WriteBytes(mdPath, []byte(md.String()), 0o644); err != nil {
		return "", err
	}
	js, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteBytes(filepath.Join(o.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return "", err
	}
	return md.String(), nil
}

func find(rs []result, name string) *result {
	for i := range rs {
		if rs[i].Variant == name {
			return &rs[i]
		}
	}
	return nil
}

func pct(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", 100**v)
}

func secs(s float64) string {
	if s == 0 {
		return "(reused)"
	}
	return fmt.Sprintf("%.0f", s)
}

// lossOverlay plots the training reconstruction loss of the "log" lines of
// each model's metrics.jsonl, one line per model.
func lossOverlay(path, ds string, rs []result) error {
	fig := plot.Figure{Title: "training reconstruction loss, " + ds, XLabel: "optimizer step", YLabel: "mean per-sample BCE", LogY: true}
	for _, r := range rs {
		mp := filepath.Join(r.Dir, "metrics.jsonl")
		f, err := os.Open(mp)
		if err != nil {
			return err
		}
		s := plot.Series{Name: r.Label}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m struct {
				Event string  `json:"event"`
				Step  int     `json:"step"`
				Recon float64 `json:"recon"`
			}
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Event == "log" {
				s.X, s.Y = append(s.X, float64(m.Step)), append(s.Y, m.Recon)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", mp, err)
		}
		fig.Series = append(fig.Series, s)
	}
	return fig.WritePNG(path)
}

// verdict compares a contractive model's (name's) mean ‖J‖_F with the plain
// AE's, in the terms of Rifai et al., who report the CAE's far below (about
// an order of magnitude on MNIST).
func verdict(name string, cae, ae float64) string {
	ratio := ae / cae
	var how string
	switch {
	case ratio >= 3:
		how = fmt.Sprintf("far below the plain AE's (%.4g): %.1f× smaller", ae, ratio)
	case ratio >= 1.1:
		how = fmt.Sprintf("below the plain AE's (%.4g), but not far below: %.2f× smaller", ae, ratio)
	case ratio > 1/1.1:
		how = fmt.Sprintf("about the same as the plain AE's (%.4g)", ae)
	default:
		how = fmt.Sprintf("above the plain AE's (%.4g): %.2f× larger", ae, 1/ratio)
	}
	return fmt.Sprintf("The %s's mean ‖J‖_F (%.4g) is %s.", name, cae, how)
}
