// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synth describes a synthetic data directory.
type synth struct {
	nTrain, nTest int
	rows, cols    int
	gzip          bool
	trainLabels   int // if non-zero, the count written to the train label file
	skip          string
}

func writeIDX(t *testing.T, path string, data []byte, gz bool) {
	t.Helper()
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
		data = b.Bytes()
		path += ".gz"
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func imageData(n, rows, cols int, seed byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, d := range []int{n, rows, cols} {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	for i := range n * rows * cols {
		b = append(b, byte(i)*seed)
	}
	return b
}

func labelData(n int) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0x801)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for i := range n {
		b = append(b, byte(i%10))
	}
	return b
}

// makeDir writes a synthetic data directory and returns its path.
func makeDir(t *testing.T, s synth) string {
	t.Helper()
	dir := t.TempDir()
	nLabels := s.nTrain
	if s.trainLabels != 0 {
		nLabels = s.trainLabels
	}
	files := map[string][]byte{
		TrainImagesFile: imageData(s.nTrain, s.rows, s.cols, 7),
		TrainLabelsFile: labelData(nLabels),
		TestImagesFile:  imageData(s.nTest, s.rows, s.cols, 13),
		TestLabelsFile:  labelData(s.nTest),
	}
	for name, data := range files {
		if name != s.skip {
			writeIDX(t, filepath.Join(dir, name), data, s.gzip)
		}
	}
	return dir
}

// override points the system directory and the environment at test values
// for the duration of the test. env == nil means CAETRAIN_DATA is unset.
func override(t *testing.T, sysDir string, env *string) {
	t.Helper()
	oldSys, oldLookup := systemDir, lookupEnv
	t.Cleanup(func() { systemDir, lookupEnv = oldSys, oldLookup })
	systemDir = sysDir
	lookupEnv = func(key string) (string, bool) {
		if key != EnvVar || env == nil {
			return "", false
		}
		return *env, true
	}
}

func ptr(s string) *string { return &s }

func TestResolve(t *testing.T) {
	small := synth{nTrain: 4, nTest: 2, rows: 2, cols: 3, gzip: true}
	flagDir := makeDir(t, small)
	envDir := makeDir(t, small)
	sysDir := makeDir(t, synth{nTrain: 4, nTest: 2, rows: 2, cols: 3}) // raw files
	partial := makeDir(t, synth{nTrain: 4, nTest: 2, rows: 2, cols: 3, skip: TestLabelsFile})
	missing := filepath.Join(t.TempDir(), "nope")
	notDir := filepath.Join(flagDir, TrainImagesFile+".gz")

	tests := []struct {
		name         string
		flag         string
		env          *string
		sys          string
		wantDir      string
		wantEmbedded bool
		wantErr      []string // substrings of the error
	}{
		{name: "flag beats env and system", flag: flagDir, env: ptr(envDir), sys: sysDir, wantDir: flagDir},
		{name: "env beats system", env: ptr(envDir), sys: sysDir, wantDir: envDir},
		{name: "empty env is unset", env: ptr(""), sys: sysDir, wantDir: sysDir},
		{name: "system dir", sys: sysDir, wantDir: sysDir},
		{name: "embedded when system dir is absent", sys: missing, wantEmbedded: true},
		{name: "embedded when system dir is incomplete", sys: partial, wantEmbedded: true},
		{name: "embedded when system dir is empty", sys: t.TempDir(), wantEmbedded: true},
		{name: "flag dir missing", flag: missing, sys: sysDir,
			wantErr: []string{"data directory " + missing + " (from --data) does not exist"}},
		{name: "flag dir lacks a file", flag: partial, env: ptr(envDir), sys: sysDir,
			wantErr: []string{partial, "(from --data)", "lacks " + TestLabelsFile + ".gz (or uncompressed " + TestLabelsFile + ")"}},
		{name: "flag is a file", flag: notDir, wantErr: []string{notDir, "is not a directory"}},
		{name: "env dir missing", env: ptr(missing), sys: sysDir,
			wantErr: []string{"data directory " + missing + " (from CAETRAIN_DATA) does not exist"}},
		{name: "env dir lacks a file", env: ptr(partial), sys: sysDir,
			wantErr: []string{partial, "(from CAETRAIN_DATA)", "lacks " + TestLabelsFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			override(t, tt.sys, tt.env)
			dir, embedded, err := Resolve(tt.flag)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Resolve(%q) = %q, %v, nil; want an error", tt.flag, dir, embedded)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error = %q, want it to contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.flag, err)
			}
			if dir != tt.wantDir || embedded != tt.wantEmbedded {
				t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.flag, dir, embedded, tt.wantDir, tt.wantEmbedded)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := makeDir(t, synth{nTrain: 5, nTest: 3, rows: 4, cols: 2, gzip: true})
	tests := []struct {
		name         string
		flag         string
		env          *string
		wantSource   string
		wantEmbedded bool
		wantTrain    int
	}{
		{"flag", dir, nil, dir, false, 5},
		{"env", "", ptr(dir), dir, false, 5},
		{"embedded", "", nil, EmbeddedSource, true, SampleTrain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			override(t, filepath.Join(t.TempDir(), "none"), tt.env)
			d, err := Load(tt.flag)
			if err != nil {
				t.Fatal(err)
			}
			if d.Source != tt.wantSource || d.Embedded != tt.wantEmbedded || d.Train.N != tt.wantTrain {
				t.Errorf("Load: Source=%q Embedded=%v Train.N=%d, want %q %v %d",
					d.Source, d.Embedded, d.Train.N, tt.wantSource, tt.wantEmbedded, tt.wantTrain)
			}
		})
	}
	override(t, t.TempDir(), nil)
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load(missing dir) succeeded, want an error")
	}
}

func TestLoadDir(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := makeDir(t, synth{nTrain: 5, nTest: 3, rows: 4, cols: 2, gzip: gz})
		d, err := LoadDir(dir)
		if err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		checkSplit(t, "train", d.Train, 5, 4, 2)
		checkSplit(t, "test", d.Test, 3, 4, 2)
		if d.Source != dir || d.Embedded {
			t.Errorf("Source, Embedded = %q, %v; want %q, false", d.Source, d.Embedded, dir)
		}
		// Pixel i of the training set is byte(i)*7, scaled.
		for i, v := range d.Train.X {
			if want := float32(byte(i)*7) / 255; v != want {
				t.Fatalf("Train.X[%d] = %v, want %v", i, v, want)
			}
		}
	}
}

func TestLoadDirPrefersGzip(t *testing.T) {
	dir := makeDir(t, synth{nTrain: 5, nTest: 3, rows: 2, cols: 2, gzip: true})
	// Raw files alongside, with other counts: they must be ignored.
	writeIDX(t, filepath.Join(dir, TrainImagesFile), imageData(2, 2, 2, 1), false)
	writeIDX(t, filepath.Join(dir, TrainLabelsFile), labelData(2), false)
	d, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 5 {
		t.Errorf("Train.N = %d, want 5 (from the .gz files)", d.Train.N)
	}
}

func TestLoadDirErrors(t *testing.T) {
	tests := []struct {
		name string
		s    synth
		want []string
	}{
		{"mismatched train pair", synth{nTrain: 4, nTest: 2, rows: 2, cols: 2, trainLabels: 3},
			[]string{TrainImagesFile, "has 4 images but", TrainLabelsFile, "has 3 labels"}},
		{"missing file", synth{nTrain: 4, nTest: 2, rows: 2, cols: 2, skip: TrainImagesFile},
			[]string{"lacks " + TrainImagesFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := makeDir(t, tt.s)
			_, err := LoadDir(dir)
			if err == nil {
				t.Fatal("LoadDir succeeded, want an error")
			}
			for _, want := range append(tt.want, dir) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %q, want it to contain %q", err, want)
				}
			}
		})
	}

	t.Run("train and test sizes differ", func(t *testing.T) {
		dir := makeDir(t, synth{nTrain: 4, nTest: 2, rows: 2, cols: 2})
		writeIDX(t, filepath.Join(dir, TestImagesFile), imageData(2, 3, 3, 1), false)
		_, err := LoadDir(dir)
		if err == nil || !strings.Contains(err.Error(), "2×2 images but") || !strings.Contains(err.Error(), "3×3") {
			t.Errorf("LoadDir = %v, want an error about 2×2 vs 3×3 images", err)
		}
	})
	t.Run("corrupt file", func(t *testing.T) {
		dir := makeDir(t, synth{nTrain: 4, nTest: 2, rows: 2, cols: 2})
		bad := filepath.Join(dir, TestLabelsFile)
		writeIDX(t, bad, labelData(2)[:9], false)
		_, err := LoadDir(dir)
		if err == nil || !strings.HasPrefix(err.Error(), bad+": truncated") {
			t.Errorf("LoadDir = %v, want a truncation error naming %s", err, bad)
		}
	})
}

func TestLoadEmbedded(t *testing.T) {
	d, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	checkSplit(t, "train", d.Train, SampleTrain, 28, 28)
	checkSplit(t, "test", d.Test, SampleTest, 28, 28)
	if d.Train.Dim != 784 {
		t.Errorf("Train.Dim = %d, want 784", d.Train.Dim)
	}
	if d.Source != EmbeddedSource || !d.Embedded {
		t.Errorf("Source, Embedded = %q, %v; want %q, true", d.Source, d.Embedded, EmbeddedSource)
	}
	if d.Train.Labels[0] != 9 {
		t.Errorf("first training label = %d, want 9 (ankle boot)", d.Train.Labels[0])
	}
	for _, s := range []struct {
		name  string
		split Split
		min   int
	}{{"train", d.Train, 500}, {"test", d.Test, 80}} {
		var perClass [10]int
		for _, l := range s.split.Labels {
			perClass[l]++
		}
		for c, n := range perClass {
			if n < s.min {
				t.Errorf("%s: class %d has %d images, want ≥ %d", s.name, c, n, s.min)
			}
		}
	}
}

func TestSampleSize(t *testing.T) {
	const budget = 3_000_000
	entries, err := fs.ReadDir(sampleFS, "sample")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += int(info.Size())
	}
	if len(entries) != 4 {
		t.Errorf("sample has %d files, want 4", len(entries))
	}
	if total >= budget {
		t.Errorf("embedded sample is %d bytes, want < %d", total, budget)
	}
}

func TestNotice(t *testing.T) {
	n := Notice()
	for _, want := range []string{
		"embedded sample (5800 train / 1000 test images of Fashion-MNIST)",
		"apt-get install dataset-fashion-mnist",
		SystemDir, "--data DIR", "CAETRAIN_DATA",
		TrainImagesFile + ".gz", TestLabelsFile + ".gz",
	} {
		if !strings.Contains(n, want) {
			t.Errorf("Notice() = %q, want it to contain %q", n, want)
		}
	}
}

// realDir holds the real Fashion-MNIST files, if present.
const realDir = "../../../shared/data/fashion-mnist"

func TestLoadReal(t *testing.T) {
	if _, err := os.Stat(realDir); err != nil {
		t.Skipf("real data not available: %v", err)
	}
	override(t, t.TempDir(), nil)
	d, err := Load(realDir)
	if err != nil {
		t.Fatal(err)
	}
	checkSplit(t, "train", d.Train, 60000, 28, 28)
	checkSplit(t, "test", d.Test, 10000, 28, 28)
	if d.Source != realDir || d.Embedded {
		t.Errorf("Source, Embedded = %q, %v; want %q, false", d.Source, d.Embedded, realDir)
	}
	if d.Train.Labels[0] != 9 {
		t.Errorf("first training label = %d, want 9", d.Train.Labels[0])
	}

	// The embedded sample is the start of the real sets.
	s, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name       string
		real, samp Split
	}{{"train", d.Train, s.Train}, {"test", d.Test, s.Test}} {
		if !bytes.Equal(p.samp.Labels, p.real.Labels[:p.samp.N]) {
			t.Errorf("%s: sample labels differ from the first %d real labels", p.name, p.samp.N)
		}
		for i, v := range p.samp.X {
			if v != p.real.X[i] {
				t.Errorf("%s: sample pixel %d = %v, real %v", p.name, i, v, p.real.X[i])
				break
			}
		}
	}
}

func checkSplit(t *testing.T, name string, s Split, n, rows, cols int) {
	t.Helper()
	if s.N != n || s.Rows != rows || s.Cols != cols || s.Dim != rows*cols {
		t.Errorf("%s: N=%d Rows=%d Cols=%d Dim=%d, want %d, %d, %d, %d", name, s.N, s.Rows, s.Cols, s.Dim, n, rows, cols, rows*cols)
	}
	if len(s.X) != n*rows*cols || len(s.Labels) != n {
		t.Fatalf("%s: len(X)=%d len(Labels)=%d, want %d, %d", name, len(s.X), len(s.Labels), n*rows*cols, n)
	}
	for i, v := range s.X {
		if v < 0 || v > 1 {
			t.Fatalf("%s: X[%d] = %v, not in [0,1]", name, i, v)
		}
	}
	for i, l := range s.Labels {
		if l > 9 {
			t.Fatalf("%s: Labels[%d] = %d, not in 0..9", name, i, l)
		}
	}
}
