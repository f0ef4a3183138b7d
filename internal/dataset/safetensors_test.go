// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/internal/safetensors"
)

// stFile encodes tensors as safetensors.torch.save_file does (no
// checksum).
func stFile(t *testing.T, ts ...safetensors.Tensor) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := safetensors.Encode(&b, ts, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSafetensors(t *testing.T) {
	x := safetensors.F32("x", []int{6, 1, 2, 2}, ramp(6, 4))
	y := safetensors.Tensor{Name: "y", DType: "I64", Shape: []int{6}, Data: i64s(0, 1, 2, 0, 1, 2)}
	t.Run("x/y pair as PyTorch saves images", func(t *testing.T) {
		path := fixture(t, "pair.safetensors", stFile(t, x, y))
		d, err := Open(path, Options{ValSplit: 0.5, Seed: 1, Scale: ScaleNone})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if d.Train.N != 3 || d.Test.N != 3 || d.Train.Dim != 4 || d.Train.Rows != 2 || d.Train.Channels != 1 || len(d.Train.Labels) != 3 {
			t.Errorf("got %+v", d.Train)
		}
		for i := range d.Train.N {
			if row := d.Train.X[i*4]; uint8(int(row)/4%3) != d.Train.Labels[i] {
				t.Errorf("row %d (first value %v) has label %d", i, row, d.Train.Labels[i])
			}
		}
	})
	t.Run("x_train/x_test and u8", func(t *testing.T) {
		path := put(t, "a.safetensors", stFile(t,
			safetensors.Tensor{Name: "x_train", DType: "U8", Shape: []int{2, 3}, Data: []byte{0, 51, 255, 1, 2, 3}},
			safetensors.Tensor{Name: "x_test", DType: "U8", Shape: []int{1, 3}, Data: []byte{255, 0, 0}}))
		d, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.TestFrom != "file" || d.Test.N != 1 || !reflect.DeepEqual(d.Train.X[:3], []float32{0, 0.2, 1}) || d.Train.Labels != nil {
			t.Errorf("test from %q, %d test rows, train %v, labels %v", d.TestFrom, d.Test.N, d.Train.X, d.Train.Labels)
		}
	})
	for _, tc := range []struct {
		name string
		ts   []safetensors.Tensor
		o    Options
		want string
	}{
		{"no x", []safetensors.Tensor{y}, Options{}, `no tensor "x"; it holds y I64 [6] (name the data with --x-key)`},
		{"half precision", []safetensors.Tensor{{Name: "x", DType: "F16", Shape: []int{2, 1}, Data: make([]byte, 4)}}, Options{}, "dtype F16 is not supported; save x.float()"},
		{"float labels", []safetensors.Tensor{x, safetensors.F32("y", []int{6}, ramp(6, 1))}, Options{}, `tensor "y": labels must be integers, not F32`},
		{"labels short", []safetensors.Tensor{x, {Name: "y", DType: "I64", Shape: []int{2}, Data: i64s(1, 2)}}, Options{}, `tensor "y" of shape [2] does not hold one label for each of 6 samples`},
		{"missing y-key", []safetensors.Tensor{x}, Options{YKey: "labels"}, `no tensor "labels" (--y-key)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := put(t, "b.safetensors", stFile(t, tc.ts...))
			if tc.o.ValSplit == 0 {
				tc.o.ValSplit = 0.5
			}
			_, err := Open(path, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v, want an error naming %s and containing %q", err, path, tc.want)
			}
		})
	}
}
