// SPDX-License-Identifier: Apache-2.0

package idx

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

const (
	// ImageMagic is the magic number of an IDX image file: two zero bytes,
	// data type 0x08 (unsigned byte) and 3 dimensions.
	ImageMagic = 0x00000803
	// LabelMagic is the magic number of an IDX label file: two zero bytes,
	// data type 0x08 (unsigned byte) and 1 dimension.
	LabelMagic = 0x00000801

	// MaxSide is the largest number of rows or columns accepted.
	MaxSide = 4096
	// MaxLabel is the largest label value accepted (ten classes, 0..9).
	MaxLabel = 9

	typeUnsignedByte = 0x08

	// initialBuf caps the first allocation made for the data section, so
	// that a header claiming a huge count cannot force a huge allocation.
	initialBuf = 64 << 10
)

// Images is the content of an IDX image file: N images of Rows×Cols
// pixels, stored row-major and image after image in Pix.
type Images struct {
	N, Rows, Cols int
	Pix           []uint8 // len N*Rows*Cols
}

// Dim returns the number of pixels per image, Rows*Cols.
func (m *Images) Dim() int { return m.Rows * m.Cols }

// Float32 returns the pixels scaled to [0,1] (p/255), in the same order as
// Pix.
func (m *Images) Float32() []float32 {
	out := make([]float32, len(m.Pix))
	for i, p := range m.Pix {
		out[i] = float32(p) / 255
	}
	return out
}

// ReadImages reads an IDX image file, raw or gzip-compressed.
func ReadImages(path string) (*Images, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeImages(f, path)
}

// ReadLabels reads an IDX label file, raw or gzip-compressed.
func ReadLabels(path string) ([]uint8, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeLabels(f, path)
}

// DecodeImages decodes an IDX image file from r, raw or gzip-compressed.
// name identifies the input in error messages.
func DecodeImages(r io.Reader, name string) (*Images, error) {
	d, err := newDecoder(r, name)
	if err != nil {
		return nil, err
	}
	defer d.close()
	if err := d.magic(ImageMagic, 3, "an IDX image file"); err != nil {
		return nil, err
	}
	var dims [3]uint32
	for i, what := range []string{"image count", "row count", "column count"} {
		if dims[i], err = d.uint32(what); err != nil {
			return nil, err
		}
		if dims[i] == 0 {
			return nil, d.errorf("%s is zero", what)
		}
	}
	n, rows, cols := dims[0], dims[1], dims[2]
	if rows > MaxSide || cols > MaxSide {
		return nil, d.errorf("image size %d×%d exceeds the maximum %d×%d", rows, cols, MaxSide, MaxSide)
	}
	// rows*cols ≤ 2^24 and n < 2^32, so the product fits in a uint64.
	size := uint64(n) * uint64(rows) * uint64(cols)
	if size > math.MaxInt-1 {
		return nil, d.errorf("header declares %d images of %d×%d pixels, too large to address", n, rows, cols)
	}
	what := fmt.Sprintf("%d images of %d×%d pixels", n, rows, cols)
	pix, err := d.data(int(size), what)
	if err != nil {
		return nil, err
	}
	return &Images{N: int(n), Rows: int(rows), Cols: int(cols), Pix: pix}, nil
}

// DecodeLabels decodes an IDX label file from r, raw or gzip-compressed.
// name identifies the input in error messages. Every label must be in
// 0..MaxLabel.
func DecodeLabels(r io.Reader, name string) ([]uint8, error) {
	d, err := newDecoder(r, name)
	if err != nil {
		return nil, err
	}
	defer d.close()
	if err := d.magic(LabelMagic, 1, "an IDX label file"); err != nil {
		return nil, err
	}
	n, err := d.uint32("label count")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, d.errorf("label count is zero")
	}
	if uint64(n) > math.MaxInt-1 {
		return nil, d.errorf("header declares %d labels, too large to address", n)
	}
	labels, err := d.data(int(n), fmt.Sprintf("%d labels", n))
	if err != nil {
		return nil, err
	}
	for i, v := range labels {
		if v > MaxLabel {
			return nil, d.errorf("label %d has value %d (want 0..%d)", i, v, MaxLabel)
		}
	}
	return labels, nil
}

// CheckPair reports an error unless img and labels hold the same number of
// items. imgName and lblName identify them in the message.
func CheckPair(img *Images, labels []uint8, imgName, lblName string) error {
	if img == nil {
		return fmt.Errorf("%s: no images", imgName)
	}
	if img.N != len(labels) {
		return fmt.Errorf("%s has %d images but %s has %d labels; they must match",
			imgName, img.N, lblName, len(labels))
	}
	return nil
}

// decoder reads an IDX stream, unwrapping gzip if present.
type decoder struct {
	name string
	r    io.Reader
	gz   *gzip.Reader // nil for raw input
}

func newDecoder(r io.Reader, name string) (*decoder, error) {
	br := bufio.NewReader(r)
	d := &decoder{name: name, r: br}
	head, err := br.Peek(2)
	if err != nil && len(head) == 0 {
		if errors.Is(err, io.EOF) {
			return nil, d.errorf("empty file")
		}
		return nil, d.errorf("reading: %v", err)
	}
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, d.errorf("corrupt or truncated gzip stream: %v", err)
		}
		d.gz, d.r = gz, gz
	}
	return d, nil
}

func (d *decoder) close() {
	if d.gz != nil {
		d.gz.Close()
	}
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", d.name, fmt.Sprintf(format, args...))
}

// readErr describes a read error other than a clean or early end of data.
func (d *decoder) readErr(err error, what string) error {
	if d.gz != nil {
		return d.errorf("corrupt or truncated gzip stream while reading %s: %v", what, err)
	}
	return d.errorf("reading %s: %v", what, err)
}

// full reads exactly len(buf) bytes of the header.
func (d *decoder) full(buf []byte, what string) error {
	n := 0
	for n < len(buf) {
		m, err := d.r.Read(buf[n:])
		n += m
		if n == len(buf) {
			return nil
		}
		if errors.Is(err, io.EOF) {
			return d.errorf("truncated header: file ends while reading %s (%d of %d bytes)", what, n, len(buf))
		}
		if err != nil {
			return d.readErr(err, what)
		}
	}
	return nil
}

func (d *decoder) uint32(what string) (uint32, error) {
	var b [4]byte
	if err := d.full(b[:], what); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// magic reads and checks the magic number.
func (d *decoder) magic(want uint32, dims byte, kind string) error {
	var b [4]byte
	if err := d.full(b[:], "magic number"); err != nil {
		return err
	}
	got := binary.BigEndian.Uint32(b[:])
	if got == want {
		return nil
	}
	msg := fmt.Sprintf("bad magic number 0x%08x (want 0x%08x, %s)", got, want, kind)
	switch {
	case b[0] != 0 || b[1] != 0:
		if b[0] == 0x1f && b[1] == 0x8b {
			msg += ": gzip inside gzip?"
		} else {
			msg += ": not an IDX file"
		}
	case b[2] != typeUnsignedByte:
		msg += fmt.Sprintf(": data type 0x%02x is not 0x08 (unsigned byte)", b[2])
	case got == ImageMagic:
		msg += ": this is an IDX image file"
	case got == LabelMagic:
		msg += ": this is an IDX label file"
	default:
		msg += fmt.Sprintf(": %d dimensions, want %d", b[3], dims)
	}
	return d.errorf("%s", msg)
}

// data reads exactly n bytes of payload and checks that nothing follows.
// The buffer starts small and grows only as data actually arrives, so a
// header claiming a huge n costs no more memory than the input holds.
func (d *decoder) data(n int, what string) ([]byte, error) {
	limit := n + 1 // one extra byte detects trailing data
	buf := make([]byte, 0, min(limit, initialBuf))
	for {
		if len(buf) == cap(buf) {
			if len(buf) == limit {
				break
			}
			grown := make([]byte, len(buf), min(limit, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := d.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, d.readErr(err, what)
		}
	}
	switch {
	case len(buf) < n:
		return nil, d.errorf("truncated: header declares %s, %d bytes, but found only %d bytes", what, n, len(buf))
	case len(buf) > n:
		return nil, d.errorf("trailing data: header declares %s, %d bytes, but more follow", what, n)
	}
	// The loop stopped at EOF, so a gzip reader has verified its checksum.
	return buf[:n:n], nil
}
