// SPDX-License-Identifier: Apache-2.0

package cifar

import (
	"bufio"
	"fmt"
	"io"
)

// Image geometry and record size.
const (
	Side       = 32
	Plane      = Side * Side // bytes per colour plane
	ImageBytes = 3 * Plane
	RecordSize = 1 + ImageBytes
	Classes    = 10
)

// Batch is one batch file's records.
type Batch struct {
	N      int
	Labels []uint8 // N labels, 0..9
	Pixels []uint8 // N images of ImageBytes, channel-major (R, G, B planes)
}

// Decode reads a batch file of size bytes from r; name is the file's, for
// errors.
func Decode(r io.Reader, size int64, name string) (*Batch, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%s: the file is empty; a CIFAR-10 batch holds %d-byte records", name, RecordSize)
	}
	if size%RecordSize != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %d-byte CIFAR-10 records (%d records and %d bytes over); the file is cut short or not a CIFAR-10 binary batch",
			name, size, RecordSize, size/RecordSize, size%RecordSize)
	}
	n := int(size / RecordSize)
	b := &Batch{N: n, Labels: make([]uint8, n), Pixels: make([]uint8, n*ImageBytes)}
	br := bufio.NewReaderSize(r, 1<<16)
	for i := range n {
		off := int64(i) * RecordSize
		lab, err := br.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%s: record %d (byte %d): cut short: %v", name, i, off, err)
		}
		if lab >= Classes {
			return nil, fmt.Errorf("%s: record %d (byte %d): label %d is not a CIFAR-10 class (0-9); is this CIFAR-100 or another file?", name, i, off, lab)
		}
		b.Labels[i] = lab
		if _, err := io.ReadFull(br, b.Pixels[i*ImageBytes:(i+1)*ImageBytes]); err != nil {
			return nil, fmt.Errorf("%s: record %d (byte %d): image cut short: %v", name, i, off+1, err)
		}
	}
	return b, nil
}

// Gray returns the batch's images in luminance, 0.299R + 0.587G + 0.114B
// (ITU-R BT.601, as Rifai et al.'s CIFAR-bw), scaled to [0,1]: N images of
// Plane values.
func (b *Batch) Gray() []float32 {
	out := make([]float32, b.N*Plane)
	for i := range b.N {
		img := b.Pixels[i*ImageBytes:]
		dst := out[i*Plane : (i+1)*Plane]
		for p := range dst {
			dst[p] = (0.299*float32(img[p]) + 0.587*float32(img[Plane+p]) + 0.114*float32(img[2*Plane+p])) / 255
		}
	}
	return out
}

// Color returns the batch's images scaled to [0,1], channel-major as
// stored: N images of ImageBytes values.
func (b *Batch) Color() []float32 {
	out := make([]float32, len(b.Pixels))
	for i, v := range b.Pixels {
		out[i] = float32(v) / 255
	}
	return out
}
