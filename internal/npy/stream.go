// SPDX-License-Identifier: Apache-2.0

package npy

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// Stream reads an .npy file's elements a chunk at a time, for files larger
// than memory.
type Stream struct {
	Header
	Name string
	f    *os.File
	br   *bufio.Reader
	k    kind
	left int64 // elements not yet read
	buf  []byte
	a    Array
}

// OpenStream opens the .npy file at path and reads its header; the data
// must be uint8 or float (see Open).
func OpenStream(path string) (*Stream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &Stream{Name: path, f: f, br: bufio.NewReaderSize(f, 1<<16)}
	fail := func(err error) (*Stream, error) {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Header, err = ReadHeader(s.br); err != nil {
		return fail(err)
	}
	if s.k, err = parseDescr(s.Descr); err != nil {
		return fail(err)
	}
	if s.k.class != 'f' && s.k.class != 'u' {
		return fail(fmt.Errorf("dtype %s holds integers; the data must be uint8, float32 or float64", s.Descr))
	}
	if s.Fortran && len(s.Shape) > 1 {
		return fail(fmt.Errorf("the array is in Fortran order; save np.ascontiguousarray(x) instead"))
	}
	s.left = s.Elems()
	if want := s.left * int64(s.k.size); s.left < 0 || st.Size()-s.DataOffset != want {
		return fail(fmt.Errorf("shape %s of %s needs %d data bytes after the %d-byte header, but the file holds %d", s.ShapeString(), s.Descr, want, s.DataOffset, st.Size()-s.DataOffset))
	}
	s.a.Descr = s.Descr
	return s, nil
}

// Bytes reports whether the elements are uint8 (read as 0..255).
func (s *Stream) Bytes() bool { return s.k.class == 'u' }

// Read reads up to len(dst) elements into dst as float32 (uint8 ones as
// 0..255) and returns how many; io.EOF once all are read.
func (s *Stream) Read(dst []float32) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(dst)), s.left)
	if need := int(n) * s.k.size; cap(s.buf) < need {
		s.buf = make([]byte, need)
	}
	b := s.buf[:int(n)*s.k.size]
	if _, err := io.ReadFull(s.br, b); err != nil {
		return 0, fmt.Errorf("%s: data cut short: %v", s.Name, err)
	}
	if s.k.class == 'u' {
		for i, v := range b {
			dst[i] = float32(v)
		}
	} else {
		s.a.F32 = dst[:n]
		decode(&s.a, s.k, b, 0)
	}
	s.left -= n
	return int(n), nil
}

// Close closes the file.
func (s *Stream) Close() error { return s.f.Close() }
