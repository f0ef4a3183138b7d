// SPDX-License-Identifier: Apache-2.0

package picture

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func constant(n int, v float32) []float32 {
	img := make([]float32, n)
	for i := range img {
		img[i] = v
	}
	return img
}

func TestGridLayout(t *testing.T) {
	const w, h, scale = 3, 2, 2
	rows := [][][]float32{
		{constant(w*h, 0), constant(w*h, 1)},
		{constant(w*h, 0.5), constant(w*h, 0.25)},
	}
	img, err := Grid(rows, w, h, scale)
	if err != nil {
		t.Fatal(err)
	}
	// gap = 4, cells 6x4: width 4+6+4+6+4 = 24, height 4+4+4+4+4 = 20.
	if got, want := img.Bounds(), image.Rect(0, 0, 24, 20); got != want {
		t.Fatalf("bounds = %v, want %v", got, want)
	}
	cells := []struct {
		x0, y0 int
		want   uint8
	}{
		{4, 4, 0},
		{14, 4, 255},
		{4, 12, 128}, // 0.5*255 = 127.5 rounds to 128
		{14, 12, 64}, // 0.25*255 = 63.75 rounds to 64
	}
	for _, c := range cells {
		for y := c.y0; y < c.y0+h*scale; y++ {
			for x := c.x0; x < c.x0+w*scale; x++ {
				if got := img.GrayAt(x, y).Y; got != c.want {
					t.Errorf("pixel (%d,%d) = %d, want %d", x, y, got, c.want)
				}
			}
		}
	}
	border := []image.Point{
		{0, 0}, {3, 3}, {23, 19}, {10, 5}, {13, 5}, {5, 8}, {5, 11}, {20, 15}, {16, 16}, {0, 19},
	}
	for _, p := range border {
		if got := img.GrayAt(p.X, p.Y).Y; got != BorderGray {
			t.Errorf("border pixel %v = %d, want %d", p, got, BorderGray)
		}
	}
	// Every pixel outside the cells is border.
	n := 0
	for _, v := range img.Pix {
		if v == BorderGray {
			n++
		}
	}
	if want := 24*20 - 4*w*scale*h*scale; n != want {
		t.Errorf("%d border pixels, want %d", n, want)
	}
}

func TestGridNearestNeighbour(t *testing.T) {
	// One 2x2 image [[0, 1], [1, 0.5]] at scale 3.
	img, err := Grid([][][]float32{{{0, 1, 1, 0.5}}}, 2, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Bounds().Size(), image.Pt(6+2*6, 6+2*6); got != want {
		t.Fatalf("size = %v, want %v", got, want)
	}
	const g = 6
	for y := 0; y < 6; y++ {
		for x := 0; x < 6; x++ {
			want := [2][2]uint8{{0, 255}, {255, 128}}[y/3][x/3]
			if got := img.GrayAt(g+x, g+y).Y; got != want {
				t.Errorf("pixel (%d,%d) of the image = %d, want %d", x, y, got, want)
			}
		}
	}
}

func TestGridClamp(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	in := []float32{-1, 2, nan, inf, -inf, 0.999, 0.001, 1}
	want := []uint8{0, 255, 0, 255, 0, 255, 0, 255}
	img, err := Grid([][][]float32{{in}}, len(in), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, wv := range want {
		if got := img.GrayAt(2+i, 2).Y; got != wv {
			t.Errorf("value %v drawn as %d, want %d", in[i], got, wv)
		}
	}
}

func TestGridTenAboveReconstructions(t *testing.T) {
	rows := make([][][]float32, 2)
	for r := range rows {
		for c := 0; c < 10; c++ {
			rows[r] = append(rows[r], constant(28*28, float32(c)/9))
		}
	}
	img, err := Grid(rows, 28, 28, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Bounds().Size(), image.Pt(10*56+11*4, 2*56+3*4); got != want {
		t.Errorf("size = %v, want %v", got, want)
	}
}

func TestGridErrors(t *testing.T) {
	ok := constant(4, 0.5)
	tests := []struct {
		name        string
		rows        [][][]float32
		w, h, scale int
		phrase      string
	}{
		{"wrong length", [][][]float32{{ok, constant(3, 0)}}, 2, 2, 1, "row 0, column 1 has 3 pixels, want 2x2 = 4"},
		{"ragged", [][][]float32{{ok, ok}, {ok}}, 2, 2, 1, "row 1 has 1 images, row 0 has 2"},
		{"no rows", nil, 2, 2, 1, "no images"},
		{"empty row", [][][]float32{{}}, 2, 2, 1, "no images"},
		{"zero scale", [][][]float32{{ok}}, 2, 2, 0, "must be positive"},
		{"negative size", [][][]float32{{ok}}, -2, -2, 1, "must be positive"},
		{"too large", [][][]float32{{ok}}, 2, 2, MaxSide + 1, "too large"},
		{"too wide", [][][]float32{{ok}}, 2, 2, MaxSide / 4, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Grid(tt.rows, tt.w, tt.h, tt.scale)
			if err == nil {
				t.Fatalf("Grid succeeded with bounds %v", img.Bounds())
			}
			if !strings.HasPrefix(err.Error(), "picture: ") || !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("error %q does not contain %q", err, tt.phrase)
			}
		})
	}
}

func TestWritePNG(t *testing.T) {
	img, err := Grid([][][]float32{{{0, 0.2, 0.4, 0.6, 0.8, 1}}, {{1, 0.5, 0, 0.5, 1, 0}}}, 3, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "grid.png")
	if err := WritePNG(path, img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds() != img.Bounds() {
		t.Fatalf("decoded bounds %v, want %v", got.Bounds(), img.Bounds())
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if g := color.GrayModel.Convert(got.At(x, y)).(color.Gray); g != img.GrayAt(x, y) {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, g, img.GrayAt(x, y))
			}
		}
	}

	missing := filepath.Join(dir, "no", "such", "grid.png")
	if err := WritePNG(missing, img); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("WritePNG into a missing directory: err = %v", err)
	}
	if err := WritePNG(filepath.Join(dir, "nil.png"), nil); err == nil {
		t.Error("WritePNG(nil) succeeded")
	}
	// A failed encode (empty image) leaves the existing file intact.
	if err := WritePNG(path, image.NewGray(image.Rect(0, 0, 0, 0))); err == nil {
		t.Error("WritePNG of an empty image succeeded")
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("existing PNG lost after failed write: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(ents))
	}
}

// TestGridColor: a 2×1 image of a red then a green pixel, in both layouts,
// lands at the right place in the right colors; 4 channels use the first
// three; fewer than 3 is an error.
func TestGridColor(t *testing.T) {
	for _, c := range []struct {
		name string
		img  []float32
		ch   int
		chw  bool
	}{
		{"HWC", []float32{1, 0, 0, 0, 1, 0}, 3, false},
		{"CHW", []float32{1, 0, 0, 1, 0, 0}, 3, true}, // planes: r of both pixels, then g, then b
		{"HWC, alpha", []float32{1, 0, 0, 0.5, 0, 1, 0, 0.5}, 4, false},
	} {
		img := c.img
		g, err := GridColor([][][]float32{{img}}, 2, 1, c.ch, 1, c.chw)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if g.Bounds().Dx() != 2+2*2 || g.Bounds().Dy() != 1+2*2 {
			t.Fatalf("%s: size %v", c.name, g.Bounds())
		}
		for x, want := range [][4]uint8{{255, 0, 0, 255}, {0, 255, 0, 255}} {
			o := 2*g.Stride + 4*(2+x)
			if got := [4]uint8(g.Pix[o : o+4]); got != want {
				t.Errorf("%s: pixel %d is %v, want %v", c.name, x, got, want)
			}
		}
		if got := [4]uint8(g.Pix[0:4]); got != [4]uint8{BorderGray, BorderGray, BorderGray, 255} {
			t.Errorf("%s: border %v", c.name, got)
		}
	}
	if _, err := GridColor([][][]float32{{make([]float32, 4)}}, 2, 1, 2, 1, false); err == nil {
		t.Error("2 channels: no error")
	}
}
