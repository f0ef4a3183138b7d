// SPDX-License-Identifier: Apache-2.0

package idx_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/internal/idx"
)

func TestDecodeImagesRoundTrip(t *testing.T) {
	tests := []struct {
		name          string
		n, rows, cols int
		gzip          bool
	}{
		{"raw 3x2x4", 3, 2, 4, false},
		{"gzip 3x2x4", 3, 2, 4, true},
		{"raw 1x1x1", 1, 1, 1, false},
		{"gzip 10x28x28", 10, 28, 28, true},
		{"raw non-square 5x7x3", 5, 7, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pix := seq(tt.n*tt.rows*tt.cols, 37)
			data := encodeImages(uint32(tt.n), uint32(tt.rows), uint32(tt.cols), pix)
			if tt.gzip {
				data = gzipBytes(data)
			}
			got, err := idx.DecodeImages(bytes.NewReader(data), "x")
			if err != nil {
				t.Fatalf("DecodeImages: %v", err)
			}
			if got.N != tt.n || got.Rows != tt.rows || got.Cols != tt.cols {
				t.Errorf("got N,Rows,Cols = %d,%d,%d, want %d,%d,%d", got.N, got.Rows, got.Cols, tt.n, tt.rows, tt.cols)
			}
			if got.Dim() != tt.rows*tt.cols {
				t.Errorf("Dim() = %d, want %d", got.Dim(), tt.rows*tt.cols)
			}
			if !bytes.Equal(got.Pix, pix) {
				t.Errorf("Pix = %v, want %v", got.Pix, pix)
			}
			f := got.Float32()
			if len(f) != len(pix) {
				t.Fatalf("len(Float32()) = %d, want %d", len(f), len(pix))
			}
			for i, p := range pix {
				if want := float32(p) / 255; f[i] != want {
					t.Fatalf("Float32()[%d] = %v, want %v", i, f[i], want)
				}
			}
		})
	}
}

func TestFloat32Range(t *testing.T) {
	m := &idx.Images{N: 1, Rows: 1, Cols: 3, Pix: []uint8{0, 128, 255}}
	got := m.Float32()
	want := []float32{0, 128.0 / 255, 1}
	if !slices.Equal(got, want) {
		t.Errorf("Float32() = %v, want %v", got, want)
	}
}

func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	pix := seq(2*3*3, 11)
	labels := []byte{7, 0}
	files := map[string][]byte{
		"img":    encodeImages(2, 3, 3, pix),
		"img.gz": gzipBytes(encodeImages(2, 3, 3, pix)),
		"lbl":    encodeLabels(2, labels),
		// Compression is detected from the content, not the name.
		"lbl-gzip-without-extension": gzipBytes(encodeLabels(2, labels)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"img", "img.gz"} {
		got, err := idx.ReadImages(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("ReadImages(%s): %v", name, err)
		}
		if !bytes.Equal(got.Pix, pix) {
			t.Errorf("ReadImages(%s).Pix = %v, want %v", name, got.Pix, pix)
		}
	}
	for _, name := range []string{"lbl", "lbl-gzip-without-extension"} {
		got, err := idx.ReadLabels(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("ReadLabels(%s): %v", name, err)
		}
		if !bytes.Equal(got, labels) {
			t.Errorf("ReadLabels(%s) = %v, want %v", name, got, labels)
		}
	}
	missing := filepath.Join(dir, "nope.gz")
	if _, err := idx.ReadImages(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("ReadImages(missing) error = %v, want one naming %s", err, missing)
	}
	if _, err := idx.ReadLabels(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("ReadLabels(missing) error = %v, want one naming %s", err, missing)
	}
	// The error from a malformed file names the path.
	lblPath := filepath.Join(dir, "lbl")
	if _, err := idx.ReadImages(lblPath); err == nil || !strings.HasPrefix(err.Error(), lblPath+": bad magic number") {
		t.Errorf("ReadImages(label file) error = %v, want prefix %q", err, lblPath+": bad magic number")
	}
}

func TestDecodeImagesErrors(t *testing.T) {
	valid := encodeImages(2, 2, 3, seq(12, 5))
	validGz := gzipBytes(valid)
	tests := []struct {
		name string
		data []byte
		want string // substring of the error
	}{
		{"empty", nil, "empty file"},
		{"one byte", []byte{0}, "truncated header: file ends while reading magic number (1 of 4 bytes)"},
		{"label magic", withMagic(valid, 0x00000801), "bad magic number 0x00000801 (want 0x00000803, an IDX image file): this is an IDX label file"},
		{"not idx", withMagic(valid, 0x504b0304), "bad magic number 0x504b0304 (want 0x00000803, an IDX image file): not an IDX file"},
		{"float data type", withMagic(valid, 0x00000d03), "data type 0x0d is not 0x08 (unsigned byte)"},
		{"2 dims", withMagic(valid, 0x00000802), "2 dimensions, want 3"},
		{"4 dims", withMagic(valid, 0x00000804), "4 dimensions, want 3"},
		{"truncated header", valid[:10], "truncated header: file ends while reading row count (2 of 4 bytes)"},
		{"zero images", encodeImages(0, 2, 3, nil), "image count is zero"},
		{"zero rows", encodeImages(2, 0, 3, nil), "row count is zero"},
		{"zero cols", encodeImages(2, 2, 0, nil), "column count is zero"},
		{"too many rows", encodeImages(1, 4097, 1, nil), "image size 4097×1 exceeds the maximum 4096×4096"},
		{"too many cols", encodeImages(1, 1, 1<<31, nil), "exceeds the maximum"},
		{"truncated data", valid[:len(valid)-1], "truncated: header declares 2 images of 2×3 pixels, 12 bytes, but found only 11 bytes"},
		{"no data", valid[:16], "but found only 0 bytes"},
		{"trailing byte", append(bytes.Clone(valid), 0), "trailing data: header declares 2 images of 2×3 pixels, 12 bytes, but more follow"},
		{"gzip of label file", gzipBytes(encodeLabels(1, []byte{1})), "bad magic number 0x00000801"},
		{"gzip in gzip", gzipBytes(validGz), "gzip inside gzip?"},
		{"gzip truncated in data", validGz[:len(validGz)-12], "corrupt or truncated gzip stream"},
		{"gzip truncated trailer", validGz[:len(validGz)-3], "corrupt or truncated gzip stream"},
		{"gzip truncated header", validGz[:5], "corrupt or truncated gzip stream"},
		{"gzip bad checksum", flipByte(validGz, len(validGz)-6), "corrupt or truncated gzip stream"},
		{"gzip trailing garbage", append(bytes.Clone(validGz), "junk"...), "corrupt or truncated gzip stream"},
		{"gzip truncated data", gzipBytes(valid[:len(valid)-2]), "but found only 10 bytes"},
		{"gzip trailing byte", gzipBytes(append(bytes.Clone(valid), 1)), "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := idx.DecodeImages(bytes.NewReader(tt.data), "f.gz")
			if err == nil {
				t.Fatalf("DecodeImages succeeded with %d images, want error containing %q", got.N, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "f.gz: ") {
				t.Errorf("error %q does not start with the file name", err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func flipByte(data []byte, i int) []byte {
	out := bytes.Clone(data)
	out[i] ^= 0xff
	return out
}

func TestDecodeLabels(t *testing.T) {
	labels := []byte{9, 0, 1, 2, 3, 4, 5, 6, 7, 8}
	for _, gz := range []bool{false, true} {
		data := encodeLabels(uint32(len(labels)), labels)
		if gz {
			data = gzipBytes(data)
		}
		got, err := idx.DecodeLabels(bytes.NewReader(data), "l")
		if err != nil {
			t.Fatalf("gzip=%v: DecodeLabels: %v", gz, err)
		}
		if !bytes.Equal(got, labels) {
			t.Errorf("gzip=%v: DecodeLabels = %v, want %v", gz, got, labels)
		}
	}
}

func TestDecodeLabelsErrors(t *testing.T) {
	valid := encodeLabels(3, []byte{1, 2, 3})
	validGz := gzipBytes(valid)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", []byte{}, "empty file"},
		{"image magic", withMagic(valid, 0x00000803), "bad magic number 0x00000803 (want 0x00000801, an IDX label file): this is an IDX image file"},
		{"int data type", withMagic(valid, 0x00000c01), "data type 0x0c is not 0x08 (unsigned byte)"},
		{"2 dims", withMagic(valid, 0x00000802), "2 dimensions, want 1"},
		{"truncated count", valid[:6], "truncated header: file ends while reading label count (2 of 4 bytes)"},
		{"zero count", encodeLabels(0, nil), "label count is zero"},
		{"truncated", valid[:len(valid)-1], "truncated: header declares 3 labels, 3 bytes, but found only 2 bytes"},
		{"trailing", append(bytes.Clone(valid), 4), "trailing data: header declares 3 labels, 3 bytes, but more follow"},
		{"out of range", encodeLabels(4, []byte{1, 9, 10, 255}), "label 2 has value 10 (want 0..9)"},
		{"out of range 255", encodeLabels(2, []byte{255, 0}), "label 0 has value 255 (want 0..9)"},
		{"gzip truncated", validGz[:len(validGz)-10], "corrupt or truncated gzip stream"},
		{"gzip out of range", gzipBytes(encodeLabels(1, []byte{11})), "label 0 has value 11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := idx.DecodeLabels(bytes.NewReader(tt.data), "l.gz")
			if err == nil {
				t.Fatalf("DecodeLabels = %v, want error containing %q", got, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "l.gz: ") {
				t.Errorf("error %q does not start with the file name", err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestHugeClaimBoundedAlloc checks that a header claiming far more data
// than the input holds is rejected without allocating for the claim.
func TestHugeClaimBoundedAlloc(t *testing.T) {
	const maxAlloc = 4 << 20
	tail := seq(92, 3) // with the headers, the files are 100 bytes
	tests := []struct {
		name   string
		data   []byte
		decode func([]byte) error
	}{
		{"images 2^31 of 28x28", encodeImages(1<<31, 28, 28, tail[:84]), decodeImages},
		{"images max of 4096x4096", encodeImages(1<<32-1, 4096, 4096, tail[:84]), decodeImages},
		{"gzip images 2^31 of 28x28", gzipBytes(encodeImages(1<<31, 28, 28, tail[:84])), decodeImages},
		{"labels 2^32-1", encodeLabels(1<<32-1, tail), decodeLabels},
		{"gzip labels 2^31", gzipBytes(encodeLabels(1<<31, tail)), decodeLabels},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err = tt.decode(tt.data)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("decode succeeded, want a truncation error")
			}
			if !strings.Contains(err.Error(), "truncated") {
				t.Errorf("error = %q, want a truncation error", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > maxAlloc {
				t.Errorf("decoding a %d-byte input allocated %d bytes, want ≤ %d", len(tt.data), got, maxAlloc)
			}
		})
	}
}

func decodeImages(b []byte) error {
	_, err := idx.DecodeImages(bytes.NewReader(b), "huge")
	return err
}

func decodeLabels(b []byte) error {
	_, err := idx.DecodeLabels(bytes.NewReader(b), "huge")
	return err
}

func TestCheckPair(t *testing.T) {
	img := &idx.Images{N: 3, Rows: 1, Cols: 1, Pix: []uint8{1, 2, 3}}
	tests := []struct {
		name   string
		img    *idx.Images
		labels []uint8
		want   string // "" for success
	}{
		{"match", img, []uint8{0, 1, 2}, ""},
		{"fewer labels", img, []uint8{0, 1}, "imgs has 3 images but lbls has 2 labels"},
		{"more labels", img, []uint8{0, 1, 2, 3}, "imgs has 3 images but lbls has 4 labels"},
		{"nil images", nil, []uint8{0}, "imgs: no images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := idx.CheckPair(tt.img, tt.labels, "imgs", "lbls")
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckPair = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckPair = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

// realDir holds the real Fashion-MNIST files, if present.
const realDir = "../../../shared/data/fashion-mnist"

func TestRealFashionMNIST(t *testing.T) {
	if _, err := os.Stat(realDir); err != nil {
		t.Skipf("real data not available: %v", err)
	}
	tests := []struct {
		prefix     string
		n          int
		firstLabel uint8
	}{
		{"train", 60000, 9},
		{"t10k", 10000, 9},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			imgPath := filepath.Join(realDir, tt.prefix+"-images-idx3-ubyte.gz")
			lblPath := filepath.Join(realDir, tt.prefix+"-labels-idx1-ubyte.gz")
			img, err := idx.ReadImages(imgPath)
			if err != nil {
				t.Fatal(err)
			}
			labels, err := idx.ReadLabels(lblPath)
			if err != nil {
				t.Fatal(err)
			}
			if img.N != tt.n || img.Rows != 28 || img.Cols != 28 || len(img.Pix) != tt.n*784 {
				t.Errorf("images: N=%d Rows=%d Cols=%d len(Pix)=%d, want %d×28×28", img.N, img.Rows, img.Cols, len(img.Pix), tt.n)
			}
			if len(labels) != tt.n {
				t.Errorf("len(labels) = %d, want %d", len(labels), tt.n)
			}
			if labels[0] != tt.firstLabel {
				t.Errorf("labels[0] = %d, want %d", labels[0], tt.firstLabel)
			}
			var perClass [10]int
			for _, l := range labels {
				perClass[l]++
			}
			for c, k := range perClass {
				if k != tt.n/10 {
					t.Errorf("class %d has %d labels, want %d", c, k, tt.n/10)
				}
			}
			if err := idx.CheckPair(img, labels, imgPath, lblPath); err != nil {
				t.Error(err)
			}
		})
	}
}
