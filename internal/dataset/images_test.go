// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

// pngOf encodes a w×h image whose pixel (x, y) is (v, 2v, 3v) with
// v = 10(x+y) + shade.
func pngOf(t *testing.T, w, h int, shade uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(10*(x+y)) + shade
			img.Set(x, y, color.RGBA{v, 2 * v, 3 * v, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeTree(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestImageFolder reads the committed fixture testdata/images (cat/ and
// dog/, three 4×3 PNGs) as ImageFolder does: classes from the folder
// names in order, in colour and in gray, on all cores.
func TestImageFolder(t *testing.T) {
	dir := filepath.Join("testdata", "images")
	if *update {
		os.RemoveAll(dir)
		writeTree(t, dir, map[string][]byte{
			"cat/a.png": pngOf(t, 4, 3, 1), "cat/b.png": pngOf(t, 4, 3, 2), "dog/c.png": pngOf(t, 4, 3, 3),
			"notes.txt": []byte("not an image: ignored\n"),
		})
	}
	if f, err := DetectFormat(dir); err != nil || f != FormatImages {
		t.Fatalf("DetectFormat: %q, %v", f, err)
	}
	for _, tc := range []struct {
		name    string
		gray    bool
		dim, ch int
		pixel1  []float32 // image 0, pixel (1,0)
	}{
		{"colour", false, 36, 3, []float32{11. / 255, 22. / 255, 33. / 255}},
		{"gray", true, 12, 1, []float32{(0.299*11 + 0.587*22 + 0.114*33) / 255}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			d, err := Open(dir, Options{Gray: tc.gray, ValSplit: 0.34, Seed: 1, Progress: func(done, total int) { calls.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != FormatImages || d.Train.N+d.Test.N != 3 || d.Train.Dim != tc.dim || d.Train.Channels != tc.ch || d.Train.Rows != 3 || d.Train.Cols != 4 {
				t.Errorf("got %s, %d+%d images of %d (%d×%d×%d)", d.Format, d.Train.N, d.Test.N, d.Train.Dim, d.Train.Rows, d.Train.Cols, d.Train.Channels)
			}
			if !reflect.DeepEqual(d.Classes, []string{"cat", "dog"}) {
				t.Errorf("classes %v", d.Classes)
			}
			if calls.Load() == 0 {
				t.Error("Progress was never called")
			}
			// Find a cat image with shade 1 or 2 and check pixel (1, 0).
			all := append(append([]float32{}, d.Train.X...), d.Test.X...)
			found := false
			for i := 0; i < 3; i++ {
				got := all[i*tc.dim+tc.ch : i*tc.dim+2*tc.ch]
				if approx(got, tc.pixel1) {
					found = true
				}
			}
			if !found {
				t.Errorf("no image has pixel (1,0) = %v: %v", tc.pixel1, all)
			}
		})
	}
}

func TestImageFolderErrors(t *testing.T) {
	var jb bytes.Buffer
	jpeg.Encode(&jb, image.NewGray(image.Rect(0, 0, 8, 6)), nil)
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		o     Options
		want  string // "" for success
		n     int
		notes string
	}{
		{name: "flat, no labels", files: map[string][]byte{"a.png": pngOf(t, 2, 2, 0), "b.PNG": pngOf(t, 2, 2, 5)}, n: 2},
		{name: "sizes differ", files: map[string][]byte{"x/a.png": pngOf(t, 2, 2, 0), "x/b.png": pngOf(t, 3, 2, 0)}, want: "b.png: is 3x2, the first image 2x2; give --image-size WxH"},
		{name: "resized", files: map[string][]byte{"x/a.png": pngOf(t, 2, 2, 0), "y/b.jpg": jb.Bytes()}, o: Options{ImageSize: "4x4"}, n: 2, notes: "resized to 4x4 with Catmull-Rom"},
		{name: "bad file", files: map[string][]byte{"x/a.png": pngOf(t, 2, 2, 0), "x/b.png": []byte("garbage")}, want: "b.png: cannot decode: image: unknown format (--skip-bad skips such files)"},
		{name: "bad file skipped", files: map[string][]byte{"x/a.png": pngOf(t, 2, 2, 0), "x/b.png": []byte("garbage"), "x/c.png": pngOf(t, 2, 2, 9)}, o: Options{SkipBad: true}, n: 2, notes: "skipped 1 of 3 images"},
		{name: "mixed layout", files: map[string][]byte{"x/a.png": pngOf(t, 2, 2, 0), "b.png": pngOf(t, 2, 2, 0)}, want: "holds images both in class folders"},
		{name: "bad size flag", files: map[string][]byte{"a.png": pngOf(t, 2, 2, 0)}, o: Options{ImageSize: "28"}, want: `--image-size "28": want WIDTHxHEIGHT`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			tc.o.ValSplit, tc.o.Format = 0.5, FormatImages
			d, err := Open(dir, tc.o)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Train.N+d.Test.N != tc.n {
				t.Errorf("%d images, want %d", d.Train.N+d.Test.N, tc.n)
			}
			if tc.notes != "" && !strings.Contains(strings.Join(d.Notes, "\n"), tc.notes) {
				t.Errorf("notes %q lack %q", d.Notes, tc.notes)
			}
		})
	}
}
