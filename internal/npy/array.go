// SPDX-License-Identifier: Apache-2.0

package npy

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"
)

// Array is one array read from an .npy file or an .npz archive.
type Array struct {
	Name  string // the file, and in an archive "file[key]"
	Descr string // the dtype as stored, e.g. "<f4"
	Shape []int
	// F32 holds the elements of a float array, converted to float32 where
	// stored otherwise; U8 those of a uint8 array; I64 those of an integer
	// or bool array (labels). Exactly one is set.
	F32 []float32
	U8  []uint8
	I64 []int64
	// Mapped says that F32 is the file itself, memory-mapped.
	Mapped bool
	unmap  func() error
}

// Close unmaps a mapped array; its slices must not be used after.
func (a *Array) Close() error {
	if a == nil || a.unmap == nil {
		return nil
	}
	f := a.unmap
	a.unmap, a.F32 = nil, nil
	return f()
}

// Bytes returns the array's size in memory, as held.
func (a *Array) Bytes() int64 {
	return int64(len(a.F32))*4 + int64(len(a.U8)) + int64(len(a.I64))*8
}

// kind is a dtype as this package handles it.
type kind struct {
	class byte // 'f' float, 'u' uint8 data, 'i' integer (labels), 'b' bool
	size  int
	order binary.ByteOrder
}

func parseDescr(d string) (kind, error) {
	if len(d) < 3 {
		return kind{}, fmt.Errorf("dtype %q is not a plain numeric dtype", d)
	}
	var k kind
	switch d[0] {
	case '<', '|', '=':
		k.order = binary.LittleEndian
	case '>':
		k.order = binary.BigEndian
	default:
		return k, fmt.Errorf("dtype %q has no byte order ('<', '>', '|')", d)
	}
	switch d[1:] {
	case "f4", "f8":
		k.class = 'f'
	case "u1":
		k.class = 'u'
	case "i1", "i2", "i4", "i8", "u2", "u4", "u8":
		k.class = 'i'
	case "b1":
		k.class = 'b'
	default:
		return k, fmt.Errorf("dtype %q is not supported (want uint8, float32 or float64 data; integer labels); convert with x.astype(np.float32)", d)
	}
	k.size = int(d[2] - '0')
	return k, nil
}

// Open reads the .npy file at path.
func Open(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	a, err := read(f, st.Size(), path, func(off, n int64) ([]byte, func() error, error) {
		return mmap(f, off, n)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	a.Name = path
	return a, nil
}

// Archive is an open .npz file.
type Archive struct {
	Path  string
	f     *os.File
	z     *zip.Reader
	byKey map[string]*zip.File
}

// OpenArchive opens the .npz archive at path.
func OpenArchive(path string) (*Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	z, err := zip.NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not an .npz archive (np.savez writes a zip file): %v", path, err)
	}
	ar := &Archive{Path: path, f: f, z: z, byKey: map[string]*zip.File{}}
	for _, zf := range z.File {
		if k, ok := strings.CutSuffix(zf.Name, ".npy"); ok {
			ar.byKey[k] = zf
		}
	}
	return ar, nil
}

// Close closes the archive file (arrays mapped from it stay valid).
func (ar *Archive) Close() error { return ar.f.Close() }

// Keys returns the names of the archive's arrays, sorted.
func (ar *Archive) Keys() []string {
	keys := make([]string, 0, len(ar.byKey))
	for k := range ar.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Has reports whether the archive holds the array key.
func (ar *Archive) Has(key string) bool { return ar.byKey[key] != nil }

// Read reads the array key.
func (ar *Archive) Read(key string) (*Array, error) {
	name := fmt.Sprintf("%s[%s]", ar.Path, key)
	zf := ar.byKey[key]
	if zf == nil {
		return nil, fmt.Errorf("%s: no array %q; the archive holds %s", ar.Path, key, strings.Join(ar.Keys(), ", "))
	}
	var (
		a   *Array
		err error
	)
	// A stored member is read (and mapped) in place, but only where the
	// zip directory's sizes agree and lie inside the file: mapped pages
	// past the end of a file fault on access.
	st, _ := ar.f.Stat()
	if off, oerr := zf.DataOffset(); oerr == nil && zf.Method == zip.Store && st != nil &&
		zf.CompressedSize64 == zf.UncompressedSize64 && off >= 0 && uint64(off)+zf.UncompressedSize64 <= uint64(st.Size()) {
		sr := io.NewSectionReader(ar.f, off, int64(zf.UncompressedSize64))
		a, err = read(sr, int64(zf.UncompressedSize64), name, func(o, n int64) ([]byte, func() error, error) {
			return mmap(ar.f, off+o, n)
		})
	} else {
		var rc io.ReadCloser
		if rc, err = zf.Open(); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		a, err = read(rc, int64(zf.UncompressedSize64), name, nil)
		rc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	a.Name = name
	return a, nil
}

// read reads an array of size bytes from r. mapAt, if not nil, maps n bytes
// at offset off of the array's bytes.
func read(r io.Reader, size int64, name string, mapAt func(off, n int64) ([]byte, func() error, error)) (*Array, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	h, err := ReadHeader(br)
	if err != nil {
		return nil, err
	}
	k, err := parseDescr(h.Descr)
	if err != nil {
		return nil, err
	}
	if h.Fortran && len(h.Shape) > 1 {
		return nil, fmt.Errorf("the array is in Fortran order; save np.ascontiguousarray(x) instead")
	}
	n := h.Elems()
	want := n * int64(k.size)
	if n < 0 || want/int64(k.size) != n {
		return nil, fmt.Errorf("shape %s is too large", h.ShapeString())
	}
	if have := size - h.DataOffset; have != want {
		return nil, fmt.Errorf("shape %s of %s needs %d data bytes after the %d-byte header, but the file holds %d", h.ShapeString(), h.Descr, want, h.DataOffset, have)
	}
	if uint64(n) > math.MaxInt/8 {
		return nil, fmt.Errorf("shape %s is too large", h.ShapeString())
	}
	a := &Array{Descr: h.Descr, Shape: h.Shape}
	if k.class == 'f' && k.size == 4 && k.order == binary.LittleEndian && mapAt != nil && n > 0 {
		b, unmap, err := mapAt(h.DataOffset, want)
		if err == nil && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0 {
			a.F32 = unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n)
			a.Mapped, a.unmap = true, unmap
			return a, nil
		}
		if err == nil {
			unmap()
		}
		// Not mappable here: read it.
	}
	switch k.class {
	case 'f':
		a.F32 = make([]float32, n)
	case 'u':
		a.U8 = make([]uint8, n)
	default:
		a.I64 = make([]int64, n)
	}
	const chunk = 1 << 16
	buf := make([]byte, chunk*k.size)
	for i := int64(0); i < n; {
		m := min(n-i, chunk)
		b := buf[:m*int64(k.size)]
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("data cut short at element %d of %d: %v", i, n, err)
		}
		decode(a, k, b, i)
		i += m
	}
	return a, nil
}

// decode converts the elements in b to a's slice from element at.
func decode(a *Array, k kind, b []byte, at int64) {
	m := int64(len(b) / k.size)
	switch {
	case k.class == 'u':
		copy(a.U8[at:], b)
	case k.class == 'f' && k.size == 4:
		dst := a.F32[at : at+m]
		for j := range dst {
			dst[j] = math.Float32frombits(k.order.Uint32(b[4*j:]))
		}
	case k.class == 'f':
		dst := a.F32[at : at+m]
		for j := range dst {
			dst[j] = float32(math.Float64frombits(k.order.Uint64(b[8*j:])))
		}
	default:
		dst := a.I64[at : at+m]
		signed := k.class == 'i' && a.Descr[1] == 'i'
		for j := range dst {
			e := b[k.size*j : k.size*(j+1)]
			var u uint64
			switch k.size {
			case 1:
				u = uint64(e[0])
				if signed {
					u = uint64(int64(int8(e[0])))
				}
			case 2:
				u = uint64(k.order.Uint16(e))
				if signed {
					u = uint64(int64(int16(u)))
				}
			case 4:
				u = uint64(k.order.Uint32(e))
				if signed {
					u = uint64(int64(int32(u)))
				}
			case 8:
				u = k.order.Uint64(e)
			}
			dst[j] = int64(u)
		}
	}
}

// IsArchive reports whether path names an .npz file.
func IsArchive(path string) bool { return strings.EqualFold(filepath.Ext(path), ".npz") }

// ReadFileHeader reads the header of the .npy file at path.
func ReadFileHeader(path string) (Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	h, err := ReadHeader(bufio.NewReader(f))
	if err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// Header reads the header of the array key.
func (ar *Archive) Header(key string) (Header, error) {
	zf := ar.byKey[key]
	if zf == nil {
		return Header{}, fmt.Errorf("%s: no array %q; the archive holds %s", ar.Path, key, strings.Join(ar.Keys(), ", "))
	}
	rc, err := zf.Open()
	if err != nil {
		return Header{}, fmt.Errorf("%s[%s]: %v", ar.Path, key, err)
	}
	defer rc.Close()
	h, err := ReadHeader(rc)
	if err != nil {
		return h, fmt.Errorf("%s[%s]: %w", ar.Path, key, err)
	}
	return h, nil
}
