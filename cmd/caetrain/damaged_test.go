// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/internal/safetensors"
)

// TestDamagedModel: caetrain eval on a damaged model.safetensors (truncated,
// a bit flipped, wrong shapes, a header claiming huge sizes) exits 1 with an
// error naming the file and saying what is wrong, never a panic.
func TestDamagedModel(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good")
	if code, _, stderr := runCLI(t, smallArgs(good, "--max-steps", "2")...); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	model, err := os.ReadFile(filepath.Join(good, engine.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	hlen := binary.LittleEndian.Uint64(model)
	tests := []struct {
		name   string
		damage func() []byte
		want   string
	}{
		{"truncated", func() []byte { return model[:len(model)*3/4] }, "extend beyond"},
		{"empty", func() []byte { return nil }, "too short"},
		{"bit flip in a weight", func() []byte {
			d := bytes.Clone(model)
			d[len(d)-1000] ^= 0x10
			return d
		}, "checksum mismatch"},
		{"bit flip in a tensor name", func() []byte {
			d := bytes.Clone(model)
			i := bytes.Index(d, []byte("encoder.1.bias"))
			d[i+8] ^= 0x01 // encoder.0.bias: a duplicate name
			return d
		}, "encoder.0.bias"},
		{"wrong shapes", func() []byte {
			f, err := safetensors.Decode(model, "m")
			if err != nil {
				t.Fatal(err)
			}
			for i, ts := range f.Tensors {
				if ts.Name == "encoder.0.weight" {
					v, _ := ts.Float32()
					f.Tensors[i] = safetensors.F32(ts.Name, []int{ts.Shape[1], ts.Shape[0]}, v)
				}
			}
			var b bytes.Buffer
			if err := safetensors.EncodeChecked(&b, f.Tensors, f.Metadata); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}, `tensor "encoder.0.weight" has shape [784 16]`},
		{"header length claims 2^60 bytes", func() []byte {
			d := bytes.Clone(model)
			binary.LittleEndian.PutUint64(d, 1<<60)
			return d
		}, "exceeds the limit"},
		{"tensor claims 2^40 values", func() []byte {
			header := string(model[8 : 8+hlen])
			i := strings.Index(header, `"shape":[16,784]`)
			if i < 0 {
				t.Fatalf("no shape [16,784] in %s", header)
			}
			header = header[:i] + `"shape":[1099511627776,784]` + header[i+len(`"shape":[16,784]`):]
			var b bytes.Buffer
			binary.Write(&b, binary.LittleEndian, uint64(len(header)))
			b.WriteString(header)
			b.Write(model[8+hlen:])
			return b.Bytes()
		}, "need"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, _ := os.ReadFile(filepath.Join(good, engine.ConfigFile))
			os.WriteFile(filepath.Join(dir, engine.ConfigFile), cfg, 0o644)
			path := filepath.Join(dir, engine.ModelFile)
			os.WriteFile(path, tc.damage(), 0o644)
			code, _, stderr := runCLI(t, "eval", "--model", dir, "--n", "5")
			if code != exitFailure {
				t.Errorf("exit %d, want 1\n%s", code, stderr)
			}
			if !strings.Contains(stderr, path) || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr should name %s and say %q:\n%s", path, tc.want, stderr)
			}
		})
	}
}
