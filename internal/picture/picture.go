// SPDX-License-Identifier: Apache-2.0

package picture

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"

	"github.com/caetrain/caetrain/internal/atomicfile"
)

// BorderGray is the gray level of the border around and between the images
// of a grid.
const BorderGray = 224

// MaxSide is the largest width or height, in pixels, of a grid image.
const MaxSide = 1 << 15

// Grid draws images in a grid: rows[r][c] is the image in row r and column
// c, given as w*h float32 pixels in row-major order with values in [0, 1]
// (0 is black, 1 is white). Values outside [0, 1] are clamped and NaN is
// drawn as 0. Each image is upscaled by the integer factor scale with
// nearest-neighbour sampling, and the images are separated from each other
// and surrounded by a border of 2*scale pixels of gray level BorderGray.
//
// Grid returns an error if w, h or scale is not positive, if there are no
// images, if rows have different lengths, if an image does not have w*h
// pixels, or if the result would be wider or taller than MaxSide.
func Grid(rows [][][]float32, w, h int, scale int) (*image.Gray, error) {
	width, height, err := gridSize(rows, w, h, 1, scale)
	if err != nil {
		return nil, err
	}
	out := image.NewGray(image.Rect(0, 0, width, height))
	for i := range out.Pix {
		out.Pix[i] = BorderGray
	}
	eachPixel(rows, w, h, scale, func(img []float32, p, x, y int) {
		out.Pix[y*out.Stride+x] = level(img[p])
	})
	return out, nil
}

// GridColor is Grid for color images of c ≥ 3 channels, drawn from the
// first three as red, green and blue: each image is c·w·h values,
// channel-last (the c values of pixel 0, then of pixel 1, …; as NumPy's
// H×W×C arrays) or, with chw, channel-first (the w·h values of channel 0,
// then of channel 1, …; as CIFAR-10's records and PyTorch's C×H×W tensors).
func GridColor(rows [][][]float32, w, h, c, scale int, chw bool) (*image.RGBA, error) {
	if c < 3 {
		return nil, fmt.Errorf("picture: %d channels: a color image needs at least 3", c)
	}
	width, height, err := gridSize(rows, w, h, c, scale)
	if err != nil {
		return nil, err
	}
	out := image.NewRGBA(image.Rect(0, 0, width, height))
	for i := range out.Pix {
		out.Pix[i] = BorderGray
		if i%4 == 3 {
			out.Pix[i] = 255
		}
	}
	hw := w * h
	eachPixel(rows, w, h, scale, func(img []float32, p, x, y int) {
		o := y*out.Stride + 4*x
		for k := range 3 {
			if chw {
				out.Pix[o+k] = level(img[k*hw+p])
			} else {
				out.Pix[o+k] = level(img[p*c+k])
			}
		}
	})
	return out, nil
}

// gridSize checks a grid of w×h images of c values per pixel, as Grid
// documents, and returns its size in pixels.
func gridSize(rows [][][]float32, w, h, c, scale int) (width, height int, err error) {
	if w <= 0 || h <= 0 || scale <= 0 {
		return 0, 0, fmt.Errorf("picture: image size %dx%d and scale %d must be positive", w, h, scale)
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return 0, 0, errors.New("picture: no images to draw")
	}
	cols := len(rows[0])
	for r, row := range rows {
		if len(row) != cols {
			return 0, 0, fmt.Errorf("picture: row %d has %d images, row 0 has %d", r, len(row), cols)
		}
		for i, img := range row {
			if len(img) != w*h*c && c == 1 {
				return 0, 0, fmt.Errorf("picture: image in row %d, column %d has %d pixels, want %dx%d = %d",
					r, i, len(img), w, h, w*h)
			}
			if len(img) != w*h*c {
				return 0, 0, fmt.Errorf("picture: image in row %d, column %d has %d values, want %dx%dx%d = %d",
					r, i, len(img), w, h, c, w*h*c)
			}
		}
	}
	// w*h fits in an int because the images above hold that many pixels;
	// bound each factor before multiplying so the sizes cannot overflow.
	if w > MaxSide || h > MaxSide || scale > MaxSide || cols > MaxSide || len(rows) > MaxSide {
		return 0, 0, fmt.Errorf("picture: %dx%d grid of %dx%d images at scale %d is too large", len(rows), cols, w, h, scale)
	}
	gap := int64(2 * scale)
	cellW, cellH := int64(w)*int64(scale), int64(h)*int64(scale)
	wd := int64(cols)*cellW + int64(cols+1)*gap
	ht := int64(len(rows))*cellH + int64(len(rows)+1)*gap
	if wd > MaxSide || ht > MaxSide {
		return 0, 0, fmt.Errorf("picture: %dx%d grid of %dx%d images at scale %d would be %dx%d pixels, more than %d on a side",
			len(rows), cols, w, h, scale, wd, ht, MaxSide)
	}
	return int(wd), int(ht), nil
}

// eachPixel calls f for every pixel (x, y) of a checked grid's images,
// upscaled by scale with nearest-neighbour sampling: img is the image
// drawn there and p the index of its source pixel (row-major, w·h).
func eachPixel(rows [][][]float32, w, h, scale int, f func(img []float32, p, x, y int)) {
	g, cw, ch := 2*scale, w*scale, h*scale
	for r, row := range rows {
		y0 := g + r*(ch+g)
		for c, img := range row {
			x0 := g + c*(cw+g)
			for y := 0; y < ch; y++ {
				for x := 0; x < cw; x++ {
					f(img, (y/scale)*w+x/scale, x0+x, y0+y)
				}
			}
		}
	}
}

// level maps v in [0, 1] to a gray level, clamping values outside the range
// and mapping NaN to 0.
func level(v float32) uint8 {
	switch {
	case !(v > 0): // also NaN
		return 0
	case v >= 1:
		return 255
	}
	return uint8(math.Round(float64(v) * 255))
}

// WritePNG atomically writes img to path as a PNG file; an existing file at
// path is replaced only on success.
func WritePNG(path string, img image.Image) error {
	if img == nil {
		return fmt.Errorf("picture: writing %s: nil image", path)
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		return png.Encode(w, img)
	}, 0o644)
}
