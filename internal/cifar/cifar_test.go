// SPDX-License-Identifier: Apache-2.0

package cifar

import (
	"bytes"
	"strings"
	"testing"
)

// Records builds CIFAR-10 records with the given labels; image i has every
// red byte i, green 2i and blue 3i (mod 256).
func records(labels ...byte) []byte {
	var b []byte
	for i, l := range labels {
		b = append(b, l)
		for c := 1; c <= 3; c++ {
			b = append(b, bytes.Repeat([]byte{byte(c * i)}, Plane)...)
		}
	}
	return b
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []byte
		labels []uint8
		err    string
	}{
		{name: "two records", data: records(3, 9), labels: []uint8{3, 9}},
		{name: "empty", data: nil, err: "b.bin: the file is empty"},
		{name: "cut short", data: records(1, 2)[:RecordSize+100], err: "b.bin: 3173 bytes is not a whole number of 3073-byte CIFAR-10 records (1 records and 100 bytes over)"},
		{name: "bad label", data: records(1, 10), err: "b.bin: record 1 (byte 3073): label 10 is not a CIFAR-10 class"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Decode(bytes.NewReader(tc.data), int64(len(tc.data)), "b.bin")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Labels, tc.labels) || b.N != len(tc.labels) {
				t.Errorf("labels %v, want %v", b.Labels, tc.labels)
			}
		})
	}
}

// TestGray: luminance weights 0.299, 0.587, 0.114 (BT.601), over 255.
func TestGray(t *testing.T) {
	b, err := Decode(bytes.NewReader(records(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), 21*RecordSize, "b.bin")
	if err != nil {
		t.Fatal(err)
	}
	g, c := b.Gray(), b.Color()
	for _, i := range []int{0, 1, 20} {
		r, gr, bl := float64(i%256), float64(2*i%256), float64(3*i%256)
		want := (0.299*r + 0.587*gr + 0.114*bl) / 255
		// float32 arithmetic: relative 1e-6.
		if got := float64(g[i*Plane+5]); got-want > 1e-6 || want-got > 1e-6 {
			t.Errorf("image %d: gray %v, want %v", i, got, want)
		}
		if got := float64(c[i*ImageBytes+Plane+7]); got != float64(float32(gr)/255) {
			t.Errorf("image %d: green %v, want %v", i, got, gr/255)
		}
	}
}

// FuzzDecode: no input makes the record reader panic; an accepted batch
// has whole records and labels 0-9.
func FuzzDecode(f *testing.F) {
	f.Add(records(1, 2))
	f.Add(records(11))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(bytes.NewReader(data), int64(len(data)), "f.bin")
		if err != nil {
			return
		}
		if b.N*RecordSize != len(data) || len(b.Pixels) != b.N*ImageBytes {
			t.Fatalf("%d bytes gave %d records", len(data), b.N)
		}
		for _, l := range b.Labels {
			if l >= Classes {
				t.Fatalf("label %d accepted", l)
			}
		}
	})
}
