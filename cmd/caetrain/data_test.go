// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/internal/npy"
	"github.com/caetrain/caetrain/internal/safetensors"
)

// npyOf writes n rows of dim float32 values from f to dir/name.
func npyOf(t *testing.T, dir, name string, shape []int, f func(i int) float32) string {
	t.Helper()
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = f(i)
	}
	var b bytes.Buffer
	if err := npy.Write(&b, "<f4", shape, float32LE(v)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readConfig(t *testing.T, dir string) engine.ModelConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, engine.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var mc engine.ModelConfig
	if err := json.Unmarshal(b, &mc); err != nil {
		t.Fatal(err)
	}
	return mc
}

// TestTrainOwnData trains on an .npy file (no test split, no labels,
// values outside [0,1]), a CSV file with a label column and a PyTorch-style
// safetensors x/y pair (with the rifai preset, BCE), then evaluates
// and encodes each without --data: the model's data, split and scaling are
// used again (eval's test_recon equals the training run's final one), and
// labels are skipped with a note where there are none.
func TestTrainOwnData(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	npy := npyOf(t, dir, "feat.npy", []int{300, 12}, func(i int) float32 { return float32(rng.NormFloat64()*3 + float64(i%12)) })
	var csv strings.Builder
	csv.WriteString("a,b,c,kind\n")
	for i := range 200 {
		fmt.Fprintf(&csv, "%g,%g,%g,%s\n", rng.Float64(), rng.Float64()*10, float64(i%7), []string{"x", "y"}[i%2])
	}
	csvPath := filepath.Join(dir, "rows.csv")
	os.WriteFile(csvPath, []byte(csv.String()), 0o644)

	// As safetensors.torch.save_file({"x": x, "y": y}) writes it: images
	// [N, 1, 4, 4] in [0,1] and int64 labels.
	xs := make([]float32, 120*16)
	ys := make([]byte, 0, 120*8)
	for i := range xs {
		xs[i] = float32(rng.Float64())
	}
	for i := range 120 {
		ys = binary.LittleEndian.AppendUint64(ys, uint64(i%3))
	}
	var st bytes.Buffer
	if err := safetensors.Encode(&st, []safetensors.Tensor{safetensors.F32("x", []int{120, 1, 4, 4}, xs), {Name: "y", DType: "I64", Shape: []int{120}, Data: ys}}, nil); err != nil {
		t.Fatal(err)
	}
	stPath := filepath.Join(dir, "pair.safetensors")
	os.WriteFile(stPath, st.Bytes(), 0o644)

	for _, tc := range []struct {
		name        string
		args        []string
		arch        []int
		scale       string
		labeled     bool
		trainNotice string
	}{
		{"safetensors x/y, rifai preset", []string{"--data", stPath, "--preset", "rifai", "--arch", "8"}, []int{16, 8}, "none", true, "holding out 12 of its 120 samples"},
		{"npy, input width left out", []string{"--data", npy, "--arch", "6,3"}, []int{12, 6, 3}, "minmax", false, "holding out 30 of its 300 samples"},
		{"npy, standard scaling, full arch", []string{"--data", npy, "--arch", "12,4", "--scale", "standard"}, []int{12, 4}, "standard", false, "holding out 30"},
		{"csv with labels, preset's arch", []string{"--data", csvPath, "--label-col", "kind"}, []int{3, 64, 32, 16}, "minmax", true, "holding out 20 of its 200 samples"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := append(slicesClone(tc.args), "--max-steps", "6", "--batch", "32", "--out", out, "--json")
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("train: exit %d\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tc.trainNotice) {
				t.Errorf("train's stderr lacks %q:\n%s", tc.trainNotice, stderr)
			}
			mc := readConfig(t, out)
			if fmt.Sprint(mc.Arch) != fmt.Sprint(tc.arch) || mc.DataConfig == nil || mc.DataConfig.Scaling.Kind != tc.scale {
				t.Fatalf("config.json: arch %v data_config %+v, want arch %v scaling %s", mc.Arch, mc.DataConfig, tc.arch, tc.scale)
			}
			var final float64
			for _, line := range strings.Split(stdout, "\n") {
				var m struct {
					Event     string   `json:"event"`
					TestRecon *float64 `json:"test_recon"`
				}
				if json.Unmarshal([]byte(line), &m) == nil && m.Event == "final" && m.TestRecon != nil {
					final = *m.TestRecon
				}
			}
			code, stdout, stderr = runCLI(t, "eval", "--model", out, "--spectrum-n", "3", "--contraction-n", "5", "--radii", "2")
			if code != exitOK {
				t.Fatalf("eval: exit %d\n%s", code, stderr)
			}
			var rep evalReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatal(err)
			}
			// The evaluator and the training loop sum the same rows in other
			// orders: float32 rounding.
			if math.Abs(rep.TestRecon-final) > 1e-5*math.Abs(final) {
				t.Errorf("eval's test_recon %v, the training run's final %v: not the same test split and scaling", rep.TestRecon, final)
			}
			if labeled := rep.KNNAcc != nil; labeled != tc.labeled {
				t.Errorf("k-NN computed: %v, want %v\n%s", labeled, tc.labeled, stderr)
			}
			if !tc.labeled && !strings.Contains(stderr, "no labels: skipping the linear probe and k-NN") {
				t.Errorf("eval's stderr lacks the note on labels:\n%s", stderr)
			}
			codes := filepath.Join(t.TempDir(), "codes.npy")
			code, _, stderr = runCLI(t, "encode", "--model", out, "--out", codes)
			if code != exitOK {
				t.Fatalf("encode: exit %d\n%s", code, stderr)
			}
			_, err := os.Stat(strings.TrimSuffix(codes, ".npy") + ".labels.npy")
			if hasLabels := err == nil; hasLabels != tc.labeled {
				t.Errorf("labels file written: %v, want %v\n%s", hasLabels, tc.labeled, stderr)
			}
		})
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// TestBadData: bad data files exit 1 with the file, the place and the
// reason; a wrong --arch or BCE on data outside [0,1] exit 2, naming what
// does not fit.
func TestBadData(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	good := npyOf(t, dir, "good.npy", []int{20, 5}, func(i int) float32 { return float32(i) })
	unit := npyOf(t, dir, "unit.npy", []int{20, 5}, func(i int) float32 { return float32(i%3) / 2 })
	nan := npyOf(t, dir, "nan.npy", []int{4, 2}, func(i int) float32 {
		if i == 5 {
			return float32(math.NaN())
		}
		return 1
	})
	trunc, _ := os.ReadFile(good)
	truncPath := write("cut.npy", string(trunc[:len(trunc)-7]))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"csv bad number", []string{"--data", write("a.csv", "x,y\n1,2\n3,abc\n")}, exitFailure, []string{"a.csv:3:3:", `"abc" is not a number`}},
		{"csv short row", []string{"--data", write("b.csv", "1,2,3\n4,5\n")}, exitFailure, []string{"b.csv:2:3:", "the row has 2 fields, the first row 3"}},
		{"npy truncated", []string{"--data", truncPath}, exitFailure, []string{"cut.npy", "needs 400 data bytes", "holds 393"}},
		{"npy not npy", []string{"--data", write("c.npy", "hello")}, exitFailure, []string{"c.npy", "not an .npy array"}},
		{"npy nan", []string{"--data", nan}, exitFailure, []string{"nan.npy", "sample 2, feature 1 is NaN"}},
		{"npz not zip", []string{"--data", write("d.npz", "hello")}, exitFailure, []string{"d.npz", "not an .npz archive"}},
		{"missing file", []string{"--data", filepath.Join(dir, "none.npy")}, exitFailure, []string{"none.npy does not exist"}},
		{"unknown extension", []string{"--data", write("e.txt", "1,2\n")}, exitUsage, []string{`e.txt: cannot tell the format from the name ".txt"; give --format`}},
		{"format given", []string{"--data", write("f.txt", "a\tb\nx\t2\n3\t4\n"), "--format", "tsv"}, exitFailure, []string{`f.txt:2:1: column 0 ("a"): "x" is not a number`}},
		{"arch wider than data", []string{"--data", good, "--arch", "8,4"}, exitUsage, []string{"--arch 8,4: the input width 8 does not match the data's 5 values per sample", "give 5,8,4"}},
		{"bce outside [0,1]", []string{"--data", good, "--scale", "none", "--preset", "rifai"}, exitUsage, []string{"--loss bce needs inputs in [0,1]", "good.npy", "--scale minmax"}},
		{"bad scale", []string{"--data", good, "--scale", "log"}, exitUsage, []string{`--scale "log"`}},
		{"bad val-split", []string{"--data", good, "--val-split", "1"}, exitUsage, []string{"--val-split 1"}},
		{"label-col without data", []string{"--label-col", "y"}, exitUsage, []string{"need --data FILE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			code, _, stderr := runCLI(t, append(tc.args, "--max-steps", "1", "--out", out)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
	// BCE on data in [0,1] trains.
	out := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, "--data", unit, "--preset", "rifai", "--arch", "5,4", "--max-steps", "2", "--out", out); code != exitOK {
		t.Errorf("rifai on data in [0,1]: exit %d\n%s", code, stderr)
	}
}

// cifarLike writes CIFAR-10 binary batches of n training and m test
// records with random pixels and labels (no network here: the real ones
// cannot be fetched).
func cifarLike(t *testing.T, n, m int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	batch := func(name string, k int) {
		b := make([]byte, 0, k*3073)
		for range k {
			b = append(b, byte(rng.IntN(10)))
			for range 3072 {
				b = append(b, byte(rng.IntN(256)))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	batch("data_batch_1.bin", n)
	batch("test_batch.bin", m)
	return dir
}

// TestCIFARGrayRifai: CIFAR-10 in gray (Rifai's CIFAR-bw) trains with the
// rifai preset (sigmoid, tied, BCE): the input width 1024 comes from the
// data, the run's reconstructions are 32×32 images, and eval reads the
// same batches again from config.json.
func TestCIFARGrayRifai(t *testing.T) {
	dir := cifarLike(t, 64, 20)
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runCLI(t, "--data", dir, "--gray", "--preset", "rifai", "--max-steps", "3", "--batch", "32", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	mc := readConfig(t, out)
	if mc.Arch[0] != 1024 || mc.Loss != "bce" || mc.DataConfig.Format != "cifar10" || !mc.DataConfig.Gray || mc.DataConfig.Rows != 32 {
		t.Errorf("config.json: arch %v loss %s data_config %+v", mc.Arch, mc.Loss, mc.DataConfig)
	}
	if _, err := os.Stat(filepath.Join(out, "reconstructions.png")); err != nil {
		t.Error(err)
	}
	code, stdout, stderr := runCLI(t, "eval", "--model", out, "--quick")
	if code != exitOK || !strings.Contains(stdout, `"n": 20`) {
		t.Errorf("eval: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Colour: 3072 values, drawn in color: the test images' pixels (the
	// top row of reconstructions.png) are not all gray.
	out2 := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, "--data", dir, "--arch", "16", "--max-steps", "2", "--batch", "32", "--out", out2); code != exitOK {
		t.Errorf("colour: exit %d\n%s", code, stderr)
	}
	if f, err := os.Open(filepath.Join(out2, "reconstructions.png")); err != nil {
		t.Error(err)
	} else {
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		colored := false
		for x := 6; x < 6+32*3 && !colored; x++ {
			r, g, b, _ := img.At(x, 6+16*3).RGBA()
			colored = r != g || g != b
		}
		if !colored {
			t.Error("reconstructions.png of color images: the first image's middle row is all gray")
		}
	}
	// A damaged batch: exit 1, naming the file, the record and the reason.
	b, _ := os.ReadFile(filepath.Join(dir, "test_batch.bin"))
	os.WriteFile(filepath.Join(dir, "test_batch.bin"), b[:len(b)-10], 0o644)
	code, _, stderr = runCLI(t, "--data", dir, "--gray", "--max-steps", "1", "--out", filepath.Join(t.TempDir(), "run"))
	if want := filepath.Join(dir, "test_batch.bin") + ": 61450 bytes is not a whole number of 3073-byte CIFAR-10 records (19 records and 3063 bytes over)"; code != exitFailure || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want 1 and %q in\n%s", code, want, stderr)
	}
}

// TestImageFolderTrain: a DIR/<class>/*.png folder of images of two sizes
// trains with --image-size and --gray, its classes become labels that eval
// probes, and a file that does not decode stops the run with exit 1
// naming it, or is skipped and counted with --skip-bad.
func TestImageFolderTrain(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 40 {
		class := []string{"bolt", "nut"}[i%2]
		w := 10 + i%3 // sizes differ
		img := image.NewRGBA(image.Rect(0, 0, w, 9))
		for p := range img.Pix {
			img.Pix[p] = uint8(rng.IntN(256))
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		os.MkdirAll(filepath.Join(dir, class), 0o755)
		os.WriteFile(filepath.Join(dir, class, fmt.Sprintf("%02d.png", i)), b.Bytes(), 0o644)
	}
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runCLI(t, "--data", dir, "--image-size", "8x8", "--gray", "--arch", "10", "--max-steps", "3", "--batch", "16", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "images resized to 8x8 with Catmull-Rom") {
		t.Errorf("stderr does not state the filter:\n%s", stderr)
	}
	mc := readConfig(t, out)
	if mc.Arch[0] != 64 || mc.DataConfig.Format != "images" || mc.DataConfig.ImageSize != "8x8" || fmt.Sprint(mc.DataConfig.Classes) != "[bolt nut]" {
		t.Errorf("config.json: arch %v data_config %+v", mc.Arch, mc.DataConfig)
	}
	code, stdout, stderr := runCLI(t, "eval", "--model", out, "--spectrum-n", "2", "--contraction-n", "2", "--radii", "1")
	if code != exitOK || !strings.Contains(stdout, "knn_accuracy") {
		t.Errorf("eval: exit %d, no knn_accuracy\n%s", code, stderr)
	}
	os.WriteFile(filepath.Join(dir, "nut", "broken.png"), []byte("\x89PNG not really"), 0o644)
	code, _, stderr = runCLI(t, "--data", dir, "--image-size", "8x8", "--max-steps", "1", "--out", filepath.Join(t.TempDir(), "run"))
	if want := filepath.Join(dir, "nut", "broken.png") + ": cannot decode"; code != exitFailure || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want 1 and %q\n%s", code, want, stderr)
	}
	code, _, stderr = runCLI(t, "--data", dir, "--image-size", "8x8", "--skip-bad", "--max-steps", "1", "--out", filepath.Join(t.TempDir(), "run"))
	if code != exitOK || !strings.Contains(stderr, "skipped 1 of 41 images") {
		t.Errorf("--skip-bad: exit %d\n%s", code, stderr)
	}
}

// TestStreamedEvalEncode: eval (--quick and the full report) and encode read .npy and CSV files
// in chunks; their results equal those of reading the file into memory.
func TestStreamedEvalEncode(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	npy := npyOf(t, dir, "f.npy", []int{5000, 6}, func(i int) float32 { return float32(rng.NormFloat64() * 4) })
	var csv strings.Builder
	for i := range 4500 {
		fmt.Fprintf(&csv, "%g,%g,%d\n", rng.Float64(), rng.NormFloat64(), i%4)
	}
	csvPath := filepath.Join(dir, "r.csv")
	os.WriteFile(csvPath, []byte(csv.String()), 0o644)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"npy", []string{"--data", npy, "--arch", "4", "--scale", "standard"}},
		{"csv", []string{"--data", csvPath, "--label-col", "2", "--arch", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			if code, _, stderr := runCLI(t, append(tc.args, "--max-steps", "3", "--out", out)...); code != exitOK {
				t.Fatalf("train: exit %d\n%s", code, stderr)
			}
			both := func(args ...string) (streamed, inMemory string) {
				t.Helper()
				for _, force := range []bool{false, true} {
					forceInMemory = force
					code, stdout, stderr := runCLI(t, args...)
					forceInMemory = false
					if code != exitOK {
						t.Fatalf("%v (in memory: %v): exit %d\n%s", args, force, code, stderr)
					}
					if chunks := strings.Contains(stderr, "in chunks"); chunks == force {
						t.Errorf("in memory %v, but stderr says chunks %v:\n%s", force, chunks, stderr)
					}
					if force {
						inMemory = stdout
					} else {
						streamed = stdout
					}
				}
				return
			}
			// The full report: the same numbers from the rows kept while
			// streaming as from the data in memory.
			s, m := both("eval", "--model", out, "--spectrum-n", "20", "--contraction-n", "30", "--radii", "3", "--train-n", "700", "--report", t.TempDir())
			var fa, fb evalReport
			json.Unmarshal([]byte(s), &fa)
			json.Unmarshal([]byte(m), &fb)
			parts := func(r evalReport) string {
				b, _ := json.Marshal([]any{r.N, r.Saturation, r.Contraction, r.Spectrum, r.KNNAcc, r.ProbeTestAcc, r.ProbeTrainAcc})
				return string(b)
			}
			if fa.Saturation == nil || parts(fa) != parts(fb) {
				t.Errorf("streamed report differs from in memory:\n%s\n%s", s, m)
			}
			if (fa.KNNAcc != nil) != (tc.name == "csv") {
				t.Errorf("k-NN accuracy %v; want one only for the labeled CSV", fa.KNNAcc)
			}
			s, m = both("eval", "--model", out, "--quick")
			var a, b evalReport
			json.Unmarshal([]byte(s), &a)
			json.Unmarshal([]byte(m), &b)
			// Means over 4096-row chunks against 500-row batches: float64
			// sums of float32 per-sample values in another order.
			if a.N != b.N || a.N == 0 || math.Abs(a.TestRecon-b.TestRecon) > 1e-9*math.Abs(b.TestRecon) || math.Abs(a.TestJacobianFro-b.TestJacobianFro) > 1e-9*b.TestJacobianFro {
				t.Errorf("streamed eval %+v, in memory %+v", a, b)
			}
			for _, split := range []string{"train", "test"} {
				p1, p2 := filepath.Join(t.TempDir(), "c.safetensors"), filepath.Join(t.TempDir(), "c.safetensors")
				forceInMemory = false
				if code, _, stderr := runCLI(t, "encode", "--model", out, "--split", split, "--out", p1); code != exitOK {
					t.Fatalf("encode: %d\n%s", code, stderr)
				}
				forceInMemory = true
				code, _, stderr := runCLI(t, "encode", "--model", out, "--split", split, "--out", p2)
				forceInMemory = false
				if code != exitOK {
					t.Fatalf("encode in memory: %d\n%s", code, stderr)
				}
				b1, _ := os.ReadFile(p1)
				b2, _ := os.ReadFile(p2)
				if !bytes.Equal(b1, b2) {
					t.Errorf("%s: streamed and in-memory codes differ (%d and %d bytes)", split, len(b1), len(b2))
				}
			}
		})
	}
}

// TestResumeOwnData: --resume without --data continues a run on the data
// its config.json names, read and split as before (the checkpoint's data
// fingerprint agrees).
func TestResumeOwnData(t *testing.T) {
	dir := t.TempDir()
	npy := npyOf(t, dir, "f.npy", []int{300, 5}, func(i int) float32 { return float32(i%17) - 3 })
	out := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, "--data", npy, "--arch", "3", "--batch", "32", "--max-steps", "4", "--checkpoint-every", "2", "--out", out); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	code, _, stderr := runCLI(t, "--resume", "--out", out, "--max-steps", "8")
	if code != exitOK || !strings.Contains(stderr, "resuming from") || !strings.Contains(stderr, npy) {
		t.Errorf("resume: exit %d\n%s", code, stderr)
	}
	if mc := readConfig(t, out); mc.Steps != 8 {
		t.Errorf("config.json: %d steps, want 8", mc.Steps)
	}
}
