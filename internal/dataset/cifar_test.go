// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// cifarRecords builds CIFAR-10 records: image i's red bytes are 10i, its
// green 10i+1, its blue 10i+2.
func cifarRecords(labels ...byte) []byte {
	var b []byte
	for i, l := range labels {
		b = append(b, l)
		for c := range 3 {
			for range 1024 {
				b = append(b, byte(10*i+c))
			}
		}
	}
	return b
}

// TestCIFAR reads the committed fixture testdata/cifar (four training and
// two test records, in the format of the CIFAR-10 binary version) in
// colour and in gray.
func TestCIFAR(t *testing.T) {
	dir := filepath.Join("testdata", "cifar")
	if *update {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "data_batch_1.bin"), cifarRecords(6, 9, 9, 4), 0o644)
		os.WriteFile(filepath.Join(dir, "test_batch.bin"), cifarRecords(3, 8), 0o644)
	}
	if f, err := DetectFormat(dir); err != nil || f != FormatCIFAR {
		t.Fatalf("DetectFormat: %q, %v", f, err)
	}
	for _, tc := range []struct {
		name          string
		gray          bool
		dim, channels int
		layout        string
		first         float32 // image 1's first value
	}{
		{"colour", false, 3072, 3, "CHW", 10. / 255},
		{"gray", true, 1024, 1, "", (0.299*10 + 0.587*11 + 0.114*12) / 255},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(dir, Options{Gray: tc.gray})
			if err != nil {
				t.Fatal(err)
			}
			if d.Train.N != 4 || d.Test.N != 2 || d.Train.Dim != tc.dim || d.Train.Channels != tc.channels || d.Train.Layout != tc.layout || d.Train.Rows != 32 || d.TestFrom != "file" {
				t.Errorf("got %d/%d samples of %d, %d channels %q, %d rows, test from %q", d.Train.N, d.Test.N, d.Train.Dim, d.Train.Channels, d.Train.Layout, d.Train.Rows, d.TestFrom)
			}
			if !reflect.DeepEqual(d.Train.Labels, []uint8{6, 9, 9, 4}) || !reflect.DeepEqual(d.Test.Labels, []uint8{3, 8}) {
				t.Errorf("labels %v %v", d.Train.Labels, d.Test.Labels)
			}
			if got := d.Train.X[tc.dim]; got-tc.first > 1e-6 || tc.first-got > 1e-6 {
				t.Errorf("image 1's first value %v, want %v", got, tc.first)
			}
		})
	}
	t.Run("damaged", func(t *testing.T) {
		bad := t.TempDir()
		os.WriteFile(filepath.Join(bad, "data_batch_1.bin"), cifarRecords(1, 2), 0o644)
		os.WriteFile(filepath.Join(bad, "data_batch_2.bin"), cifarRecords(1, 200), 0o644)
		_, err := Open(bad, Options{})
		want := filepath.Join(bad, "data_batch_2.bin") + ": record 1 (byte 3073): label 200 is not a CIFAR-10 class"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	})
}
