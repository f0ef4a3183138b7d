// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caetrain/caetrain/internal/idx"
)

// maxTotal is the budget for the four output files together.
const maxTotal = 3_000_000

func main() {
	src := flag.String("src", "", "directory holding the full Fashion-MNIST IDX files (.gz or raw)")
	dst := flag.String("dst", "", "output directory")
	nTrain := flag.Int("train", 5800, "number of training images to keep (the first ones)")
	nTest := flag.Int("test", 1000, "number of test images to keep (the first ones)")
	flag.Parse()
	if *src == "" || *dst == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mksample -src DIR -dst DIR [-train N] [-test M]")
		os.Exit(2)
	}
	if err := run(*src, *dst, *nTrain, *nTest); err != nil {
		fmt.Fprintln(os.Stderr, "mksample:", err)
		os.Exit(1)
	}
}

func run(src, dst string, nTrain, nTest int) error {
	if nTrain <= 0 || nTest <= 0 {
		return fmt.Errorf("-train and -test must be positive, got %d and %d", nTrain, nTest)
	}
	type output struct {
		name string
		data []byte
	}
	var outs []output
	for _, s := range []struct {
		prefix string
		n      int
	}{{"train", nTrain}, {"t10k", nTest}} {
		imgName := s.prefix + "-images-idx3-ubyte"
		lblName := s.prefix + "-labels-idx1-ubyte"
		img, err := idx.ReadImages(find(src, imgName))
		if err != nil {
			return err
		}
		labels, err := idx.ReadLabels(find(src, lblName))
		if err != nil {
			return err
		}
		if err := idx.CheckPair(img, labels, imgName, lblName); err != nil {
			return err
		}
		if s.n > img.N {
			return fmt.Errorf("%s has only %d images, asked for %d", imgName, img.N, s.n)
		}
		imgData, err := gzipIDX(append(header(0x803, s.n, img.Rows, img.Cols), img.Pix[:s.n*img.Dim()]...))
		if err != nil {
			return err
		}
		lblData, err := gzipIDX(append(header(0x801, s.n), labels[:s.n]...))
		if err != nil {
			return err
		}
		outs = append(outs, output{imgName + ".gz", imgData}, output{lblName + ".gz", lblData})
	}
	total := 0
	for _, o := range outs {
		total += len(o.data)
	}
	if total >= maxTotal {
		return fmt.Errorf("sample of %d train + %d test images is %d bytes, over the %d-byte budget", nTrain, nTest, total, maxTotal)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, o := range outs {
		p := filepath.Join(dst, o.name)
		if err := os.WriteFile(p, o.data, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d bytes\n", p, len(o.data))
	}
	fmt.Printf("total: %d bytes (%d train + %d test images)\n", total, nTrain, nTest)
	return nil
}

// find returns dir/name.gz if it exists, else dir/name.
func find(dir, name string) string {
	p := filepath.Join(dir, name+".gz")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join(dir, name)
}

// header returns an IDX header: the magic number then the dimensions.
func header(magic uint32, dims ...int) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return b
}

// gzipIDX compresses data at level 9 with an empty gzip header (no name,
// no modification time), so the output is reproducible.
func gzipIDX(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
