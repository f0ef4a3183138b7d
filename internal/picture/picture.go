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
	if w <= 0 || h <= 0 || scale <= 0 {
		return nil, fmt.Errorf("picture: image size %dx%d and scale %d must be positive", w, h, scale)
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return nil, errors.New("picture: no images to draw")
	}
	cols := len(rows[0])
	for r, row := range rows {
		if len(row) != cols {
			return nil, fmt.Errorf("picture: row %d has %d images, row 0 has %d", r, len(row), cols)
		}
		for c, img := range row {
			if len(img) != w*h {
				return nil, fmt.Errorf("picture: image in row %d, column %d has %d pixels, want %dx%d = %d",
					r, c, len(img), w, h, w*h)
			}
		}
	}
	// w*h fits in an int because the images above hold that many pixels;
	// bound each factor before multiplying so the sizes cannot overflow.
	if w > MaxSide || h > MaxSide || scale > MaxSide || cols > MaxSide || len(rows) > MaxSide {
		return nil, fmt.Errorf("picture: %dx%d grid of %dx%d images at scale %d is too large", len(rows), cols, w, h, scale)
	}
	gap := int64(2 * scale)
	cellW, cellH := int64(w)*int64(scale), int64(h)*int64(scale)
	width := int64(cols)*cellW + int64(cols+1)*gap
	height := int64(len(rows))*cellH + int64(len(rows)+1)*gap
	if width > MaxSide || height > MaxSide {
		return nil, fmt.Errorf("picture: %dx%d grid of %dx%d images at scale %d would be %dx%d pixels, more than %d on a side",
			len(rows), cols, w, h, scale, width, height, MaxSide)
	}

	out := image.NewGray(image.Rect(0, 0, int(width), int(height)))
	for i := range out.Pix {
		out.Pix[i] = BorderGray
	}
	g, cw, ch := int(gap), int(cellW), int(cellH)
	for r, row := range rows {
		y0 := g + r*(ch+g)
		for c, img := range row {
			x0 := g + c*(cw+g)
			for y := 0; y < ch; y++ {
				line := out.Pix[(y0+y)*out.Stride+x0:]
				src := img[(y/scale)*w:]
				for x := 0; x < cw; x++ {
					line[x] = level(src[x/scale])
				}
			}
		}
	}
	return out, nil
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
