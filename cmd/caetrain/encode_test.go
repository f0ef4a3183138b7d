// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/internal/npy"
	"github.com/caetrain/caetrain/internal/safetensors"
)

// readNPY parses a version 1.0 .npy file the way NumPy does and returns its
// dtype descriptor, shape and data.
func readNPY(t *testing.T, path string) (string, []int, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || string(b[:8]) != "\x93NUMPY\x01\x00" {
		t.Fatalf("%s: not an .npy 1.0 file: % x", path, b[:min(len(b), 10)])
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	if (10+hl)%64 != 0 {
		t.Errorf("%s: data starts at %d, not a multiple of 64", path, 10+hl)
	}
	header := string(b[10 : 10+hl])
	if !strings.HasSuffix(header, "\n") {
		t.Errorf("%s: header does not end in a newline: %q", path, header)
	}
	m := regexp.MustCompile(`^\{'descr': '([<>|][a-z][0-9]+)', 'fortran_order': False, 'shape': \(([0-9, ]*)\), \} *\n$`).FindStringSubmatch(header)
	if m == nil {
		t.Fatalf("%s: header %q", path, header)
	}
	var shape []int
	for _, f := range strings.Split(m[2], ",") {
		if f = strings.TrimSpace(f); f != "" {
			var n int
			if err := json.Unmarshal([]byte(f), &n); err != nil {
				t.Fatal(err)
			}
			shape = append(shape, n)
		}
	}
	return m[1], shape, b[10+hl:]
}

func TestEncodeNPY(t *testing.T) {
	model := tinyModel(t, graph.Sigmoid)
	out := filepath.Join(t.TempDir(), "codes.npy")
	code, stdout, stderr := runCLI(t, "encode", "--model", model, "--out", out, "--n", "30")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	var summary struct {
		Files []string       `json:"files"`
		Rows  map[string]int `json:"rows"`
	}
	if err := json.Unmarshal([]byte(stdout), &summary); err != nil || summary.Rows["test"] != 30 || len(summary.Files) != 2 {
		t.Fatalf("summary %s (%v)", stdout, err)
	}
	descr, shape, data := readNPY(t, out)
	if descr != "<f4" || len(shape) != 2 || shape[0] != 30 || shape[1] != 8 || len(data) != 30*8*4 {
		t.Fatalf("codes: %s %v, %d bytes", descr, shape, len(data))
	}
	// The codes are the model's: compare with Encode on the same images.
	p, _, err := engine.LoadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	d, err := engine.LoadData("")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := engine.NewEvaluator(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	want, err := ev.Encode(d.Test, 30)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])); got != w {
			t.Fatalf("code value %d: file %v, Encode %v", i, got, w)
		}
	}
	labels := filepath.Join(filepath.Dir(out), "codes.labels.npy")
	if summary.Files[1] != labels {
		t.Errorf("labels written to %q, want %q", summary.Files[1], labels)
	}
	descr, shape, data = readNPY(t, labels)
	if descr != "<i8" || len(shape) != 1 || shape[0] != 30 || len(data) != 30*8 {
		t.Fatalf("labels: %s %v, %d bytes", descr, shape, len(data))
	}
	for i := 0; i < 30; i++ {
		if got := binary.LittleEndian.Uint64(data[8*i:]); got != uint64(d.TestLabels[i]) {
			t.Fatalf("label %d: %d, want %d", i, got, d.TestLabels[i])
		}
	}
}

func TestEncodeSafetensorsBothSplits(t *testing.T) {
	model := tinyModel(t, graph.Tanh)
	out := filepath.Join(t.TempDir(), "codes.safetensors")
	code, _, stderr := runCLI(t, "encode", "--model", model, "--out", out, "--split", "both", "--n", "20")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	f, err := safetensors.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range []string{"train", "test"} {
		c, ok := f.Get(sp + ".codes")
		l, ok2 := f.Get(sp + ".labels")
		if !ok || !ok2 {
			t.Fatalf("%s: tensors %s.codes or %s.labels missing", out, sp, sp)
		}
		if c.DType != "F32" || len(c.Shape) != 2 || c.Shape[0] != 20 || c.Shape[1] != 8 {
			t.Errorf("%s.codes: %s %v", sp, c.DType, c.Shape)
		}
		if l.DType != "I64" || len(l.Shape) != 1 || l.Shape[0] != 20 {
			t.Errorf("%s.labels: %s %v", sp, l.DType, l.Shape)
		}
		v, _ := c.Float32()
		for _, h := range v {
			if !(h > -1 && h < 1) {
				t.Fatalf("%s.codes: %v is not a tanh value", sp, h)
			}
		}
	}
	if f.Metadata["producer"] != "caetrain" || f.Metadata["split"] != "both" {
		t.Errorf("metadata %v", f.Metadata)
	}

	one := filepath.Join(t.TempDir(), "train.safetensors")
	if code, _, stderr := runCLI(t, "encode", "--model", model, "--out", one, "--split", "train", "--n", "5"); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	f, err = safetensors.ReadFile(one)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := f.Get("codes"); !ok || c.Shape[0] != 5 {
		t.Errorf("one split: tensor \"codes\" missing or of shape %v", c.Shape)
	}
	if _, ok := f.Get("labels"); !ok {
		t.Error("one split: tensor \"labels\" missing")
	}
}

func TestEncodeUsageErrors(t *testing.T) {
	model := tinyModel(t, graph.Sigmoid)
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--model", model}, "--out"},
		{[]string{"--out", filepath.Join(dir, "a.npy")}, "--model"},
		{[]string{"--model", model, "--out", filepath.Join(dir, "a.csv")}, ".safetensors or .npy"},
		{[]string{"--model", model, "--out", filepath.Join(dir, "a.npy"), "--split", "both"}, "--split both"},
		{[]string{"--model", model, "--out", filepath.Join(dir, "a.npy"), "--split", "val"}, "--split"},
		{[]string{"--model", model, "--out", filepath.Join(dir, "a.npy"), "--n", "-1"}, "--n"},
	}
	for _, tc := range tests {
		code, _, stderr := runCLI(t, append([]string{"encode"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "encode", "--model", filepath.Join(dir, "none"), "--out", filepath.Join(dir, "a.npy")); code != exitFailure || !strings.Contains(stderr, "config.json") {
		t.Errorf("a missing model: exit %d:\n%s", code, stderr)
	}
}

func TestWriteNPYAlignment(t *testing.T) {
	for _, shape := range [][]int{{0}, {7}, {3, 4}, {123456789, 1000}} {
		var b bytes.Buffer
		if err := npy.Write(&b, "<f4", shape, nil); err != nil {
			t.Fatal(err)
		}
		if b.Len()%64 != 0 || b.Bytes()[b.Len()-1] != '\n' {
			t.Errorf("shape %v: header of %d bytes", shape, b.Len())
		}
	}
}
