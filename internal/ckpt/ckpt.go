// SPDX-License-Identifier: Apache-2.0

package ckpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"unicode/utf8"
)

const (
	// Magic begins every checkpoint file.
	Magic = "CAECKPT\x00"
	// Version is the format version this package writes and reads.
	Version = 1
	// MaxHeaderSize is the largest JSON header accepted.
	MaxHeaderSize = 16 << 20
	// MaxSections is the largest number of sections accepted.
	MaxSections = 4096
	// MaxFileSize is the largest file ReadFile accepts.
	MaxFileSize = 8 << 30

	prefixSize  = 16 // magic, version, header length
	trailerSize = 4  // CRC-32C
)

// The section element types.
const (
	F32 = "f32" // float32
	U32 = "u32" // uint32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Section is one named array of numbers. It is of dtype "u32" when U32 is
// non-nil (even if empty), else "f32" with the values in F32.
type Section struct {
	Name string
	F32  []float32
	U32  []uint32
}

// dtype returns the section's element type.
func (s Section) dtype() string {
	if s.U32 != nil {
		return U32
	}
	return F32
}

func (s Section) len() int {
	if s.U32 != nil {
		return len(s.U32)
	}
	return len(s.F32)
}

// File is a decoded checkpoint.
type File struct {
	Meta     json.RawMessage // the header's "meta" object
	Sections []Section       // in file order
}

// Get returns the section called name.
func (f *File) Get(name string) (Section, bool) {
	for _, s := range f.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// header is the JSON header.
type header struct {
	Meta     json.RawMessage `json:"meta"`
	Sections []sectionHeader `json:"sections"`
}

type sectionHeader struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Len   int64  `json:"len"`
}

// Encode writes a checkpoint holding meta (marshalled as JSON; it must
// marshal to an object) and sections to w. It checks its input before
// writing anything.
func Encode(w io.Writer, meta any, sections []Section) error {
	mj, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("ckpt: meta: %w", err)
	}
	if len(mj) == 0 || mj[0] != '{' {
		return errors.New("ckpt: meta must be a JSON object")
	}
	if len(sections) > MaxSections {
		return fmt.Errorf("ckpt: %d sections, more than %d", len(sections), MaxSections)
	}
	h := header{Meta: mj, Sections: make([]sectionHeader, len(sections))}
	seen := map[string]bool{}
	for i, s := range sections {
		if s.Name == "" || !utf8.ValidString(s.Name) {
			return fmt.Errorf("ckpt: section %d: name %q must be non-empty UTF-8", i, s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("ckpt: duplicate section %q", s.Name)
		}
		if s.F32 != nil && s.U32 != nil {
			return fmt.Errorf("ckpt: section %q holds both float32 and uint32 values", s.Name)
		}
		seen[s.Name] = true
		h.Sections[i] = sectionHeader{Name: s.Name, DType: s.dtype(), Len: int64(s.len())}
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("ckpt: header: %w", err)
	}
	if len(hj) > MaxHeaderSize {
		return fmt.Errorf("ckpt: header is %d bytes, more than %d", len(hj), MaxHeaderSize)
	}
	crc := crc32.New(castagnoli)
	cw := &checkWriter{w: io.MultiWriter(w, crc)}
	var prefix [prefixSize]byte
	copy(prefix[:], Magic)
	binary.LittleEndian.PutUint32(prefix[8:], Version)
	binary.LittleEndian.PutUint32(prefix[12:], uint32(len(hj)))
	cw.write(prefix[:])
	cw.write(hj)
	buf := make([]byte, 0, 64<<10)
	for _, s := range sections {
		n := s.len()
		for i := 0; i < n; i++ {
			var v uint32
			if s.U32 != nil {
				v = s.U32[i]
			} else {
				v = math.Float32bits(s.F32[i])
			}
			buf = binary.LittleEndian.AppendUint32(buf, v)
			if len(buf) == cap(buf) {
				cw.write(buf)
				buf = buf[:0]
			}
		}
	}
	cw.write(buf)
	return writeCRC(w, cw.err, crc)
}

func writeCRC(w io.Writer, err error, crc hash.Hash32) error {
	if err != nil {
		return err
	}
	var tail [trailerSize]byte
	binary.LittleEndian.PutUint32(tail[:], crc.Sum32())
	_, err = w.Write(tail[:])
	return err
}

// checkWriter remembers the first write error and skips later writes.
type checkWriter struct {
	w   io.Writer
	err error
}

func (c *checkWriter) write(p []byte) {
	if c.err == nil && len(p) > 0 {
		_, c.err = c.w.Write(p)
	}
}

// FormatError reports a damaged or malformed checkpoint.
type FormatError struct {
	File string // the name given to Decode
	Msg  string // what is wrong
}

func (e *FormatError) Error() string { return e.File + ": " + e.Msg }

// Decode parses a checkpoint held in data; name identifies it in errors,
// which are *FormatError values.
func Decode(data []byte, name string) (*File, error) {
	if name == "" {
		name = "checkpoint"
	}
	fail := func(format string, args ...any) (*File, error) {
		return nil, &FormatError{File: name, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) < prefixSize+trailerSize {
		return fail("file is %d bytes, too short for a checkpoint (truncated?)", len(data))
	}
	if string(data[:8]) != Magic {
		return fail("not a caetrain checkpoint (bad magic %q)", data[:8])
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != Version {
		return fail("checkpoint format version %d; this caetrain reads version %d", v, Version)
	}
	body := data[:len(data)-trailerSize]
	stored := binary.LittleEndian.Uint32(data[len(data)-trailerSize:])
	if got := crc32.Checksum(body, castagnoli); got != stored {
		return fail("checksum mismatch (stored %08x, computed %08x): the file is damaged or truncated", stored, got)
	}
	hlen := uint64(binary.LittleEndian.Uint32(data[12:]))
	if hlen > MaxHeaderSize {
		return fail("header length %d exceeds the limit of %d bytes", hlen, MaxHeaderSize)
	}
	if hlen > uint64(len(body)-prefixSize) {
		return fail("header length %d exceeds the %d bytes the file holds after its prefix", hlen, len(body)-prefixSize)
	}
	hj := body[prefixSize : prefixSize+hlen]
	payload := body[prefixSize+hlen:]
	if !utf8.Valid(hj) {
		return fail("header is not valid UTF-8")
	}
	var h header
	dec := json.NewDecoder(bytes.NewReader(hj))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return fail("invalid JSON header: %v", jsonErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail("invalid JSON header: data after the top-level object")
	}
	if len(h.Meta) == 0 || h.Meta[0] != '{' {
		return fail(`header has no "meta" object`)
	}
	if len(h.Sections) > MaxSections {
		return fail("header declares %d sections, more than %d", len(h.Sections), MaxSections)
	}
	seen := map[string]bool{}
	var total uint64
	for _, s := range h.Sections {
		if s.Name == "" {
			return fail("a section has no name")
		}
		if seen[s.Name] {
			return fail("duplicate section %q", s.Name)
		}
		seen[s.Name] = true
		if s.DType != F32 && s.DType != U32 {
			return fail("section %q: unknown dtype %q (want %s or %s)", s.Name, s.DType, F32, U32)
		}
		if s.Len < 0 {
			return fail("section %q: negative length %d", s.Name, s.Len)
		}
		if uint64(s.Len) > uint64(len(payload))/4 {
			return fail("section %q claims %d values (%d bytes), more than the file's %d-byte payload holds",
				s.Name, s.Len, uint64(s.Len)*4, len(payload))
		}
		total += uint64(s.Len) * 4 // each term ≤ len(payload), at most MaxSections terms: no overflow
	}
	if total != uint64(len(payload)) {
		return fail("sections declare %d bytes but the payload holds %d", total, len(payload))
	}
	f := &File{Meta: h.Meta, Sections: make([]Section, len(h.Sections))}
	off := 0
	for i, s := range h.Sections {
		n := int(s.Len)
		sec := Section{Name: s.Name}
		switch s.DType {
		case F32:
			sec.F32 = make([]float32, n)
			for j := range sec.F32 {
				sec.F32[j] = math.Float32frombits(binary.LittleEndian.Uint32(payload[off+4*j:]))
			}
		case U32:
			sec.U32 = make([]uint32, n)
			for j := range sec.U32 {
				sec.U32[j] = binary.LittleEndian.Uint32(payload[off+4*j:])
			}
		}
		off += 4 * n
		f.Sections[i] = sec
	}
	return f, nil
}

func jsonErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("unexpected end of JSON")
	}
	return err
}

// ReadFile reads and decodes the checkpoint at path; errors name path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &FormatError{File: path, Msg: "not a regular file"}
	}
	size := fi.Size()
	if size > MaxFileSize || size > math.MaxInt {
		return nil, &FormatError{File: path, Msg: fmt.Sprintf("file is %d bytes, larger than the limit of %d", size, int64(MaxFileSize))}
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(fh, data); err != nil {
		return nil, fmt.Errorf("%s: reading: %w", path, err)
	}
	return Decode(data, path)
}

// FixChecksum returns a copy of data with its trailing checksum recomputed,
// or data itself if it is too short to have one. Tests and fuzz targets use
// it to reach the checks behind the checksum.
func FixChecksum(data []byte) []byte {
	if len(data) < prefixSize+trailerSize {
		return data
	}
	out := bytes.Clone(data)
	body := out[:len(out)-trailerSize]
	binary.LittleEndian.PutUint32(out[len(out)-trailerSize:], crc32.Checksum(body, castagnoli))
	return out
}
