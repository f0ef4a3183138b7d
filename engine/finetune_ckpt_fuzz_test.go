// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/internal/ckpt"
)

// FuzzDecodeFinetuneCheckpoint checks that decoding a fine-tuning
// checkpoint never panics, that its errors name the input, and that
// whatever decodes re-encodes to the same bytes. Each input is tried as is
// and with its checksum fixed, so the fuzzer reaches the checks behind the
// checksum. The seed is a real checkpoint of a small run.
func FuzzDecodeFinetuneCheckpoint(f *testing.F) {
	f.Add(smallFinetuneCheckpoint(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, ckpt.FixChecksum(data)} {
			c, err := decodeFinetuneCheckpoint(in, "fuzz.ckpt")
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz.ckpt: ") {
					t.Fatalf("error %q does not name the input", err)
				}
				continue
			}
			var b bytes.Buffer
			if err := c.encode(&b); err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			again, err := decodeFinetuneCheckpoint(b.Bytes(), "again.ckpt")
			if err != nil {
				t.Fatalf("decoding the re-encoded checkpoint: %v", err)
			}
			var b2 bytes.Buffer
			if err := again.encode(&b2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), b2.Bytes()) {
				t.Fatal("re-encoding is not stable")
			}
		}
	})
}

// smallFinetuneCheckpoint fine-tunes a tiny classifier for one epoch and
// returns its checkpoint file's bytes.
func smallFinetuneCheckpoint(tb testing.TB) []byte {
	tb.Helper()
	all, lab := clusters(120, 6, 2, 4)
	train, tl, val, vl, err := SplitValidation(all, lab, 40)
	if err != nil {
		tb.Fatal(err)
	}
	cae := testCAE(tb, []int{6, 4}, 1)
	p, err := ClassifierFromCAE(cae, 2, 7)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := testFinetuneConfig(p.Spec)
	cfg.Epochs = 1
	ft, err := NewFinetuner(cfg, p)
	if err != nil {
		tb.Fatal(err)
	}
	defer ft.Close()
	dir := tb.TempDir()
	var path string
	ft.Save = func(c *FinetuneCheckpoint) error {
		err := WriteFinetuneCheckpoint(dir, c)
		path = c.Path
		return err
	}
	if _, err := Finetune(context.Background(), ft, train, tl, val, vl, nil, nil); err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}
