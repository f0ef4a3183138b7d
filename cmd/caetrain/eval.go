// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/plot"
)

// evalFlags are the eval command's flags.
type evalFlags struct {
	model, report                         string
	data                                  dataFlags
	n, spectrumN, spectrumK, contractionN int
	radii, trainN, knnK, probeIter        int
	radiusMin, radiusMax, probeL2         float64
	quick, probe                          bool
	seed                                  uint64
}

func newEvalFlagSet(f *evalFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("caetrain eval", flag.ContinueOnError)
	fs.StringVar(&f.model, "model", "", "directory of a trained model (model.safetensors and config.json)")
	f.data.register(fs)
	fs.IntVar(&f.n, "n", 0, "use the first N test images (0: all)")
	fs.BoolVar(&f.quick, "quick", false, "only test_recon and the Jacobian norms; compute and write nothing else")
	fs.StringVar(&f.report, "report", "", "folder for the report's CSV, PNG and JSON files (default MODEL/report)")
	fs.IntVar(&f.spectrumN, "spectrum-n", 100, "test images whose Jacobian spectrum is averaged (0: skip the spectrum)")
	fs.IntVar(&f.spectrumK, "spectrum-k", 50, "singular values kept, largest first")
	fs.IntVar(&f.contractionN, "contraction-n", 500, "test images for the contraction curve (0: skip it)")
	fs.IntVar(&f.radii, "radii", 16, "radii of the contraction curve, log-spaced from --radius-min to --radius-max")
	fs.Float64Var(&f.radiusMin, "radius-min", 0.01, "smallest ‖δ‖ of the contraction curve")
	fs.Float64Var(&f.radiusMax, "radius-max", 10, "largest ‖δ‖ of the contraction curve")
	fs.BoolVar(&f.probe, "probe", true, "fit the linear probe and measure k-NN accuracy (--probe=false skips both)")
	fs.IntVar(&f.trainN, "train-n", 10000, "training images encoded for the probe and as k-NN references, a seeded random subset (0: all)")
	fs.IntVar(&f.knnK, "knn-k", 5, "neighbours that vote in k-NN")
	fs.Float64Var(&f.probeL2, "probe-l2", 1e-3, "L2 weight of the linear probe, on standardised codes")
	fs.IntVar(&f.probeIter, "probe-iter", 100, "L-BFGS iterations of the linear probe")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the training subset and the contraction curve's directions")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: caetrain eval --model DIR [--data DIR] [--n N] [--report DIR] [flags]

Evaluates a trained model on the first N test images and prints one JSON
object on stdout. For a fine-tuned classifier (caetrain finetune; the folder
holds classifier.safetensors) the object holds test_error, test_errors,
test_loss, n and the model's config; the other flags do not apply. For a
CAE:

  test_recon          mean per-sample reconstruction loss, as configured
  test_jacobian_fro   mean ‖J_h(x)‖_F       test_jacobian_fro2  mean ‖J_h(x)‖²_F
  n                   test images used

and, unless --quick, a report whose files go into --report (default
MODEL/report; JSON field report_dir):

  saturated_fraction  code values in the activation's flat region (sigmoid
                      h<0.05 or h>0.95; tanh |h|>0.95; relu h=0)
  dead_unit_fraction  code units in it on every test image
  contraction         mean ‖h(x)−h(x+δ)‖/‖δ‖ for random isotropic δ (one
                      direction per image, same for every model at a seed;
                      x+δ not clipped to [0,1]) at log-spaced ‖δ‖:
                      contraction.csv, contraction.png
  spectrum            mean of the largest singular values of J_h(x), exact
                      (float64 SVD): spectrum.csv, spectrum.png
  probe_*_accuracy    multinomial logistic regression (L-BFGS, L2) on
                      standardised codes of --train-n training images,
                      tested on the test images
  knn_accuracy        k-NN (Euclidean on codes) of the test images among
                      the same training images
  loss_curve.png      from MODEL/metrics.jsonl, when present
  report.json         the JSON printed on stdout

Without --data, eval reads IDX data where training looks for it, or, for a
model trained on another format, the model's own data file again
(config.json's data_config: the same file, test split and scaling); with
--data, other data in any format train reads, scaled as the model's was. Without labels,
the probe and k-NN are skipped, with a note on stderr.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs
}

// evalReport is eval's JSON output. The first fields are those of
// `caetrain eval --quick`.
type evalReport struct {
	TestRecon        float64 `json:"test_recon"`
	TestJacobianFro  float64 `json:"test_jacobian_fro"`
	TestJacobianFro2 float64 `json:"test_jacobian_fro2"`
	N                int     `json:"n"`
	Model            string  `json:"model"`
	Data             string  `json:"data"`

	ReportDir string              `json:"report_dir,omitempty"`
	Config    *engine.ModelConfig `json:"config,omitempty"`
	CodeUnits int                 `json:"code_units,omitempty"`
	*engine.Saturation
	Contraction   *contractionReport  `json:"contraction,omitempty"`
	Spectrum      *spectrumReport     `json:"spectrum,omitempty"`
	ProbeTrainAcc *float64            `json:"probe_train_accuracy,omitempty"`
	ProbeTestAcc  *float64            `json:"probe_test_accuracy,omitempty"`
	KNNAcc        *float64            `json:"knn_accuracy,omitempty"`
	Probe         *engine.ProbeResult `json:"probe,omitempty"`
	KNN           *knnReport          `json:"knn,omitempty"`
	Files         map[string]string   `json:"files,omitempty"`
	Seconds       float64             `json:"seconds,omitempty"`
}

type contractionReport struct {
	N      int                       `json:"n"`
	Seed   uint64                    `json:"seed"`
	Points []engine.ContractionPoint `json:"points"`
}

type spectrumReport struct {
	N    int       `json:"n"`
	Mean []float64 `json:"mean_singular_values"` // largest first
	Std  []float64 `json:"std_singular_values"`
	Fro2 float64   `json:"mean_sum_squares"` // mean Σσ² over the full spectrum = mean ‖J‖²_F
}

type knnReport struct {
	K          int `json:"k"`
	ReferenceN int `json:"reference_n"`
	QueryN     int `json:"query_n"`
}

func evalMain(args []string, stdout, stderr io.Writer) error {
	var f evalFlags
	fs := newEvalFlagSet(&f)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if f.model == "" {
		return usagef("eval: --model DIR is required")
	}
	set := setFlags(fs)
	if err := f.data.check(set); err != nil {
		return err
	}
	if engine.IsClassifier(f.model) {
		return evalClassifier(&f, set, stdout, stderr)
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"n", f.n}, {"spectrum-n", f.spectrumN}, {"spectrum-k", f.spectrumK}, {"contraction-n", f.contractionN}, {"train-n", f.trainN}, {"probe-iter", f.probeIter}} {
		if c.v < 0 {
			return usagef("eval: --%s %d: must not be negative", c.name, c.v)
		}
	}
	if f.radii < 1 {
		return usagef("eval: --radii %d: must be at least 1", f.radii)
	}
	if !(f.radiusMin > 0) || !(f.radiusMax >= f.radiusMin) || f.radiusMax > 1e9 {
		return usagef("eval: --radius-min %v, --radius-max %v: want 0 < min ≤ max", f.radiusMin, f.radiusMax)
	}
	if f.knnK < 1 {
		return usagef("eval: --knn-k %d: must be positive", f.knnK)
	}
	if !(f.probeL2 >= 0) || f.probeL2 > 1e6 {
		return usagef("eval: --probe-l2 %v: must be a number ≥ 0", f.probeL2)
	}
	start := time.Now()
	p, mc, err := engine.LoadModel(f.model)
	if err != nil {
		return err
	}
	st, err := f.data.streamForModel(mc, set, "caetrain eval", stderr)
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
		return evalStream(p, mc, st, &f, start, stdout, stderr)
	}
	d, err := f.data.openForModel(mc, set, "caetrain eval", stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	if d.Test.Dim != mc.Arch[0] {
		return fmt.Errorf("eval: the model's input width %d does not match the data's %d values per sample (%s)", mc.Arch[0], d.Test.Dim, d.Source)
	}
	ev, err := engine.NewEvaluator(p)
	if err != nil {
		return err
	}
	defer ev.Close()
	res, err := ev.Evaluate(d.Test, f.n)
	if err != nil {
		return err
	}
	rep := evalReport{
		TestRecon: res.Recon, TestJacobianFro: res.JacobianFro, TestJacobianFro2: res.JacobianFro2,
		N: res.N, Model: f.model, Data: d.Source,
	}
	return emitReport(&rep, &f, ev, mc, d, nil, start, stdout, stderr)
}

// emitReport completes rep (unless --quick), writes report.json and prints
// rep. testCodes, when not nil, are the codes of the first rep.N test
// samples, of which d.Test may then hold only the first few.
func emitReport(rep *evalReport, f *evalFlags, ev *engine.Evaluator, mc engine.ModelConfig, d *engine.Data, testCodes []float32, start time.Time, stdout, stderr io.Writer) error {
	if !f.quick {
		if err := report(rep, f, ev, mc, d, testCodes, stderr); err != nil {
			return err
		}
		rep.Seconds = time.Since(start).Seconds()
		js, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		path := filepath.Join(rep.ReportDir, "report.json")
		if err := atomicfile.WriteBytes(path, append(js, '\n'), 0o644); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// report fills the report fields of rep and writes the report's files.
func report(rep *evalReport, f *evalFlags, ev *engine.Evaluator, mc engine.ModelConfig, d *engine.Data, testCodes []float32, stderr io.Writer) error {
	dir := f.report
	if dir == "" {
		dir = filepath.Join(f.model, "report")
	}
	if err := checkWritableDir(dir); err != nil {
		return usagef("eval: --report %s: %v", dir, err)
	}
	rep.ReportDir = dir
	rep.Config = &mc
	rep.Files = map[string]string{}
	width := mc.Arch[len(mc.Arch)-1]
	rep.CodeUnits = width
	title := filepath.Base(filepath.Clean(f.model))
	step := func(what string) func() {
		t0 := time.Now()
		fmt.Fprintf(stderr, "caetrain eval: %s…\n", what)
		return func() { fmt.Fprintf(stderr, "caetrain eval: %s: %.1fs\n", what, time.Since(t0).Seconds()) }
	}

	if testCodes == nil {
		done := step(fmt.Sprintf("encoding %d test images", rep.N))
		var err error
		if testCodes, err = ev.Encode(d.Test, rep.N); err != nil {
			return err
		}
		done()
	}
	sat, err := engine.CodeSaturation(ev.Spec.Act, testCodes, width)
	if err != nil {
		return err
	}
	rep.Saturation = &sat

	if n := min(f.contractionN, rep.N); n > 0 {
		done := step(fmt.Sprintf("contraction curve over %d test images", n))
		pts, err := ev.Contraction(d.Test, n, engine.LogRadii(f.radiusMin, f.radiusMax, f.radii), f.seed)
		if err != nil {
			return err
		}
		rep.Contraction = &contractionReport{N: n, Seed: f.seed, Points: pts}
		var csv strings.Builder
		csv.WriteString("radius,mean_ratio,std_ratio\n")
		xs, ys := make([]float64, len(pts)), make([]float64, len(pts))
		for i, pt := range pts {
			fmt.Fprintf(&csv, "%s,%s,%s\n", num(pt.Radius), num(pt.Mean), num(pt.Std))
			xs[i], ys[i] = pt.Radius, pt.Mean
		}
		if err := writeCSV(rep, dir, "contraction_csv", "contraction.csv", csv.String()); err != nil {
			return err
		}
		fig := plot.Figure{
			Title:  "contraction: " + title,
			XLabel: "‖δ‖ (random isotropic direction)", YLabel: "mean ‖h(x) − h(x+δ)‖ / ‖δ‖",
			LogX: true, LogY: true,
			Series: []plot.Series{{Name: title, X: xs, Y: ys, Points: true}},
		}
		if err := writePNG(rep, dir, "contraction_png", "contraction.png", fig); err != nil {
			return err
		}
		done()
	}

	if n := min(f.spectrumN, rep.N); n > 0 && f.spectrumK > 0 {
		done := step(fmt.Sprintf("singular values of J_h(x) over %d test images", n))
		sp, err := ev.JacobianSpectrum(d.Test, n, f.spectrumK)
		if err != nil {
			return err
		}
		rep.Spectrum = &spectrumReport{N: sp.N, Mean: sp.Mean, Std: sp.Std, Fro2: sp.Fro2}
		var csv strings.Builder
		csv.WriteString("k,mean_singular_value,std_singular_value\n")
		ks := make([]float64, len(sp.Mean))
		for i := range sp.Mean {
			fmt.Fprintf(&csv, "%d,%s,%s\n", i+1, num(sp.Mean[i]), num(sp.Std[i]))
			ks[i] = float64(i + 1)
		}
		if err := writeCSV(rep, dir, "spectrum_csv", "spectrum.csv", csv.String()); err != nil {
			return err
		}
		fig := plot.Figure{
			Title:  "spectrum of J_h(x): " + title,
			XLabel: "k", YLabel: "mean k-th largest singular value",
			LogY:   true,
			Series: []plot.Series{{Name: title, X: ks, Y: sp.Mean, Points: true}},
		}
		positive := false
		for _, v := range sp.Mean {
			positive = positive || v > 0
		}
		if positive {
			if err := writePNG(rep, dir, "spectrum_png", "spectrum.png", fig); err != nil {
				return err
			}
		} else {
			// A log axis cannot show it: the code does not move with x at all.
			fmt.Fprintf(stderr, "caetrain eval: every singular value of J_h(x) is 0 (the code is constant: no unit responds to the input); spectrum.png not drawn\n")
		}
		done()
	}

	if f.probe && !d.Labeled() {
		fmt.Fprintf(stderr, "caetrain eval: the data has no labels: skipping the linear probe and k-NN\n")
	}
	if f.probe && d.Labeled() {
		train, labels := engine.Subsample(d.Train, d.TrainLabels, f.trainN, f.seed)
		done := step(fmt.Sprintf("encoding %d training images", train.N))
		trainCodes, err := ev.Encode(train, 0)
		if err != nil {
			return err
		}
		done()
		trainSet := engine.CodeSet{X: trainCodes, Labels: labels, N: train.N, Dim: width}
		testSet := engine.CodeSet{X: testCodes, Labels: d.TestLabels[:rep.N], N: rep.N, Dim: width}
		done = step(fmt.Sprintf("linear probe on %d training codes", train.N))
		pr, err := engine.LinearProbe(trainSet, testSet, engine.ProbeOptions{L2: f.probeL2, MaxIter: f.probeIter})
		if err != nil {
			return err
		}
		rep.Probe, rep.ProbeTrainAcc, rep.ProbeTestAcc = &pr, &pr.TrainAccuracy, &pr.TestAccuracy
		done()
		k := min(f.knnK, train.N)
		done = step(fmt.Sprintf("%d-NN of %d test codes among %d training codes", k, rep.N, train.N))
		acc, err := engine.KNNAccuracy(trainSet, testSet, k)
		if err != nil {
			return err
		}
		rep.KNNAcc = &acc
		rep.KNN = &knnReport{K: k, ReferenceN: train.N, QueryN: rep.N}
		done()
	}

	metrics := filepath.Join(f.model, "metrics.jsonl")
	if _, err := os.Stat(metrics); err == nil {
		png := filepath.Join(dir, "loss_curve.png")
		if err := plot.LossCurve(metrics, png); err != nil {
			// A run stopped before its first log line has nothing to draw.
			fmt.Fprintf(stderr, "caetrain eval: no loss curve: %v\n", err)
		} else {
			rep.Files["loss_curve_png"] = png
		}
	}
	rep.Files["report_json"] = filepath.Join(dir, "report.json")
	return nil
}

// num formats v for a CSV file: shortest round-trip representation.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func writeCSV(rep *evalReport, dir, key, name, body string) error {
	path := filepath.Join(dir, name)
	if err := atomicfile.WriteBytes(path, []byte(body), 0o644); err != nil {
		return err
	}
	rep.Files[key] = path
	return nil
}

func writePNG(rep *evalReport, dir, key, name string, fig plot.Figure) error {
	path := filepath.Join(dir, name)
	if err := fig.WritePNG(path); err != nil {
		return err
	}
	rep.Files[key] = path
	return nil
}

// evalStream evaluates on a file read in chunks. Over the test rows (the
// first --n) it sums each chunk's Evaluate means weighted by its rows and
// keeps the codes and labels; it keeps the data of only the first test
// rows the contraction curve and the spectrum use, and of the training
// rows the probe's subsample picks (engine.SubsampleIndices, as in
// memory). The report then runs on those, as in memory.
func evalStream(p *graph.Params, mc engine.ModelConfig, st *engine.DataStream, f *evalFlags, start time.Time, stdout, stderr io.Writer) error {
	if st.Dim != mc.Arch[0] {
		return fmt.Errorf("eval: the model's input width %d does not match the data's %d values per sample (%s)", mc.Arch[0], st.Dim, st.Source)
	}
	ev, err := engine.NewEvaluator(p)
	if err != nil {
		return err
	}
	defer ev.Close()
	width := mc.Arch[len(mc.Arch)-1]
	limit := st.TestN
	if f.n > 0 {
		limit = min(limit, f.n)
	}
	keep := 0 // first test rows whose data is kept
	var picks []int
	probe := !f.quick && f.probe && st.Labeled
	if !f.quick {
		keep = min(max(f.contractionN, f.spectrumN), limit)
		if probe {
			if picks = engine.SubsampleIndices(st.TrainN, f.trainN, f.seed); picks == nil {
				picks = make([]int, st.TrainN) // all
				for i := range picks {
					picks[i] = i
				}
			}
		}
	}
	var (
		c                *engine.DataChunk
		batch            []float32
		pos              []int
		n, next          int
		recon, fro, fro2 float64
		testCodes        = make([]float32, limit*width)
		testLabels       []uint8
		firstX           = make([]float32, keep*st.Dim)
		trainX           []float32
		trainLabels      []uint8
	)
	if st.Labeled {
		testLabels = make([]uint8, limit)
	}
	if probe {
		trainLabels = make([]uint8, 0, len(picks))
	}
	fmt.Fprintf(stderr, "caetrain eval: evaluating %d test samples, reading %s in chunks\n", limit, st.Source)
	for {
		c, err = st.Next(4096, c)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		batch, pos = batch[:0], pos[:0]
		for i := range c.N {
			row := c.X[i*st.Dim : (i+1)*st.Dim]
			k := c.Index[i]
			switch {
			case c.Test[i] && k < limit:
				batch = append(batch, row...)
				pos = append(pos, k)
				if k < keep {
					copy(firstX[k*st.Dim:], row)
				}
				if testLabels != nil {
					testLabels[k] = c.Labels[i]
				}
			case !c.Test[i] && next < len(picks) && picks[next] == k:
				// Training rows come in increasing order, as picks.
				trainX = append(trainX, row...)
				trainLabels = append(trainLabels, c.Labels[i])
				next++
			}
		}
		if len(pos) == 0 {
			continue
		}
		s := engine.Samples{X: batch, N: len(pos), Dim: st.Dim}
		r, err := ev.Evaluate(s, 0)
		if err != nil {
			return err
		}
		n += len(pos)
		recon += r.Recon * float64(len(pos))
		fro += r.JacobianFro * float64(len(pos))
		fro2 += r.JacobianFro2 * float64(len(pos))
		if !f.quick {
			codes, err := ev.Encode(s, 0)
			if err != nil {
				return err
			}
			for j, k := range pos {
				copy(testCodes[k*width:(k+1)*width], codes[j*width:(j+1)*width])
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("eval: %s has no test rows", st.Source)
	}
	rep := evalReport{
		TestRecon: recon / float64(n), TestJacobianFro: fro / float64(n), TestJacobianFro2: fro2 / float64(n),
		N: n, Model: f.model, Data: st.Source,
	}
	d := &engine.Data{
		Test: engine.Samples{X: firstX, N: keep, Dim: st.Dim}, TestLabels: testLabels,
		Train: engine.Samples{X: trainX, N: len(trainLabels), Dim: st.Dim}, TrainLabels: trainLabels,
		Source: st.Source,
	}
	if !probe {
		d.TrainLabels = nil
		if !f.quick && f.probe && !st.Labeled {
			fmt.Fprintf(stderr, "caetrain eval: the data has no labels: skipping the linear probe and k-NN\n")
		}
		f.probe = false
	}
	if n := st.Clipped(); n > 0 {
		fmt.Fprintf(stderr, "caetrain eval: --scale minmax: %d value(s) fell outside the range of the model's training split and were clipped to [0,1]\n", n)
	}
	return emitReport(&rep, f, ev, mc, d, testCodes, start, stdout, stderr)
}

// classifierReport is eval's JSON output for a fine-tuned classifier.
type classifierReport struct {
	TestError  float64                 `json:"test_error"`  // misclassified share of the test images used
	TestErrors int                     `json:"test_errors"` // misclassified test images
	TestLoss   float64                 `json:"test_loss"`   // mean cross-entropy
	N          int                     `json:"n"`
	Model      string                  `json:"model"`
	Data       string                  `json:"data"`
	Config     engine.ClassifierConfig `json:"config"`
}

// evalClassifier evaluates a fine-tuned classifier on the first --n test
// images (all by default).
func evalClassifier(f *evalFlags, set map[string]bool, stdout, stderr io.Writer) error {
	p, cc, err := engine.LoadClassifier(f.model)
	if err != nil {
		return err
	}
	// The test set read and scaled as the fine-tuning read its data.
	d, err := f.data.openForModel(engine.ModelConfig{DataConfig: cc.DataConfig}, set, "caetrain eval", stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	if d.TestLabels == nil {
		return fmt.Errorf("eval: %s has no labels to measure a classifier's error on", d.Source)
	}
	if d.Test.Dim != cc.Arch[0] {
		return fmt.Errorf("eval: the model's input width %d does not match the data's %d values per sample (%s)", cc.Arch[0], d.Test.Dim, d.Source)
	}
	test, lab := d.Test, d.TestLabels
	if f.n > 0 && f.n < test.N {
		test = engine.Samples{X: test.X[:f.n*test.Dim], N: f.n, Dim: test.Dim}
		lab = lab[:f.n]
	}
	ev, err := engine.NewClassifierEvaluator(p)
	if err != nil {
		return err
	}
	defer ev.Close()
	r, err := ev.Evaluate(test, lab)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(classifierReport{
		TestError: r.Error, TestErrors: r.Errors, TestLoss: r.Loss, N: r.N, Model: f.model, Data: d.Source, Config: cc,
	})
}
