// SPDX-License-Identifier: Apache-2.0

package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/caetrain/caetrain/internal/atomicfile"
)

const (
	// MaxHeaderSize is the largest JSON header Decode accepts.
	MaxHeaderSize = 100 << 20
	// MaxFileSize is the largest file ReadFile accepts.
	MaxFileSize = 4 << 30
	// MaxRank is the largest number of dimensions a tensor may have (the
	// NumPy limit), which bounds the memory a hostile header can demand.
	MaxRank = 64

	metadataKey = "__metadata__"

	// ChecksumKey is the metadata entry in which WriteFile and
	// EncodeChecked record a CRC-32C of the file's content, so that a
	// damaged file is detected on reading. Its value is 8 lowercase hex
	// digits.
	ChecksumKey = "crc32c"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// dtypeSizes maps the supported dtype names to their element size in bytes.
var dtypeSizes = map[string]int{
	"BOOL": 1,
	"U8":   1,
	"I8":   1,
	"I16":  2,
	"U16":  2,
	"F16":  2,
	"BF16": 2,
	"I32":  4,
	"U32":  4,
	"F32":  4,
	"I64":  8,
	"U64":  8,
	"F64":  8,
}

// DTypeSize returns the element size in bytes of dtype and whether dtype is
// supported.
func DTypeSize(dtype string) (int, bool) {
	n, ok := dtypeSizes[dtype]
	return n, ok
}

// Tensor is one named tensor. Data holds the raw little-endian, row-major
// element bytes; its length is the product of Shape times the element size
// of DType.
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// F32 returns an F32 tensor holding v with the given shape. It panics if
// len(v) is not the product of shape, which is a programming error.
func F32(name string, shape []int, v []float32) Tensor {
	n, ok := numElements(shape)
	if !ok || n != uint64(len(v)) {
		panic(fmt.Sprintf("safetensors: F32 tensor %q: %d values do not match shape %v", name, len(v), shape))
	}
	data := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: "F32", Shape: slices.Clone(shape), Data: data}
}

// Float32 decodes the elements of an F32 tensor. It returns an error for
// other dtypes or if the data length does not match the shape.
func (t Tensor) Float32() ([]float32, error) {
	if t.DType != "F32" {
		return nil, fmt.Errorf("safetensors: tensor %q has dtype %s, not F32", t.Name, t.DType)
	}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	v := make([]float32, len(t.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// check reports whether t is internally consistent.
func (t Tensor) check() error {
	size, ok := dtypeSizes[t.DType]
	if !ok {
		return fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
	}
	if len(t.Shape) > MaxRank {
		return fmt.Errorf("tensor %q: shape has %d dimensions, more than %d", t.Name, len(t.Shape), MaxRank)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("tensor %q: shape %v has a negative dimension", t.Name, t.Shape)
		}
	}
	n, ok := numElements(t.Shape)
	if ok {
		n, ok = mulCheck(n, uint64(size))
	}
	if !ok {
		return fmt.Errorf("tensor %q: shape %v of %s overflows", t.Name, t.Shape, t.DType)
	}
	if uint64(len(t.Data)) != n {
		return fmt.Errorf("tensor %q: data holds %d bytes but shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.DType, n)
	}
	return nil
}

// numElements returns the product of the non-negative dimensions in shape,
// and false if it overflows a uint64. A zero dimension makes the product
// zero regardless of the other dimensions.
func numElements(shape []int) (uint64, bool) {
	if slices.Contains(shape, 0) {
		return 0, true
	}
	n := uint64(1)
	for _, d := range shape {
		var ok bool
		if n, ok = mulCheck(n, uint64(d)); !ok {
			return 0, false
		}
	}
	return n, true
}

func mulCheck(a, b uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	return lo, hi == 0
}

// File is a decoded safetensors file.
type File struct {
	// Tensors holds the tensors sorted by name.
	Tensors []Tensor
	// Metadata holds the "__metadata__" entries; it is never nil after
	// Decode, but may be empty.
	Metadata map[string]string
}

// Get returns the tensor called name.
func (f *File) Get(name string) (Tensor, bool) {
	i, ok := sort.Find(len(f.Tensors), func(i int) int { return strings.Compare(name, f.Tensors[i].Name) })
	if !ok {
		return Tensor{}, false
	}
	return f.Tensors[i], true
}

// Encode writes tensors and metadata to w in safetensors format. Tensors are
// laid out in name order with contiguous offsets; metadata is omitted from
// the header when empty. The header is padded with spaces so that its length
// is a multiple of 8. Encode validates its input before writing anything:
// names must be unique, valid UTF-8 and not "__metadata__", dtypes must be
// supported, and each tensor's data length must match its shape.
//
// The metadata key ChecksumKey is reserved: see EncodeChecked.
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	if _, ok := metadata[ChecksumKey]; ok {
		return fmt.Errorf("safetensors: metadata key %q is reserved for the checksum EncodeChecked adds", ChecksumKey)
	}
	return encodeRaw(w, tensors, metadata)
}

// EncodeChecked is Encode with one more metadata entry, ChecksumKey: the
// CRC-32C (Castagnoli) of the header that Encode would write for tensors
// and metadata, followed by the tensors' data in name order. Decode checks
// it when present, so a bit flip anywhere in the tensors, their names,
// shapes or metadata is reported as damage. Other readers ignore it.
func EncodeChecked(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	if _, ok := metadata[ChecksumKey]; ok {
		return fmt.Errorf("safetensors: metadata key %q is reserved for the checksum", ChecksumKey)
	}
	sum, err := contentChecksum(tensors, metadata)
	if err != nil {
		return err
	}
	md := make(map[string]string, len(metadata)+1)
	for k, v := range metadata {
		md[k] = v
	}
	md[ChecksumKey] = fmt.Sprintf("%08x", sum)
	return encodeRaw(w, tensors, md)
}

// contentChecksum is the checksum EncodeChecked records.
func contentChecksum(tensors []Tensor, metadata map[string]string) (uint32, error) {
	header, order, err := encodeHeader(tensors, metadata)
	if err != nil {
		return 0, err
	}
	h := crc32.New(castagnoli)
	h.Write(header)
	for _, i := range order {
		h.Write(tensors[i].Data)
	}
	return h.Sum32(), nil
}

func encodeRaw(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	header, order, err := encodeHeader(tensors, metadata)
	if err != nil {
		return err
	}
	var lenbuf [8]byte
	binary.LittleEndian.PutUint64(lenbuf[:], uint64(len(header)))
	if _, err := w.Write(lenbuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, i := range order {
		if _, err := w.Write(tensors[i].Data); err != nil {
			return err
		}
	}
	return nil
}

// encodeHeader validates tensors and metadata and returns the padded JSON
// header and the order (indices into tensors) in which to write the data.
func encodeHeader(tensors []Tensor, metadata map[string]string) ([]byte, []int, error) {
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(tensors[a].Name, tensors[b].Name) })

	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, nil, fmt.Errorf("safetensors: metadata key %q: key or value is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteString(`"` + metadataKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(&buf, k)
			buf.WriteByte(':')
			writeJSONString(&buf, metadata[k])
		}
		buf.WriteByte('}')
		first = false
	}
	var offset uint64
	for j, i := range order {
		t := tensors[i]
		if j > 0 && t.Name == tensors[order[j-1]].Name {
			return nil, nil, fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		if t.Name == metadataKey {
			return nil, nil, fmt.Errorf("safetensors: tensor name %q is reserved", t.Name)
		}
		if !utf8.ValidString(t.Name) {
			return nil, nil, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", t.Name)
		}
		if err := t.check(); err != nil {
			return nil, nil, fmt.Errorf("safetensors: %w", err)
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		writeJSONString(&buf, t.Name)
		buf.WriteString(`:{"dtype":`)
		writeJSONString(&buf, t.DType)
		buf.WriteString(`,"shape":[`)
		for k, d := range t.Shape {
			if k > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		end := offset + uint64(len(t.Data))
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), order, nil
}

// writeJSONString writes s as a JSON string without HTML escaping.
func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // cannot fail for a string
	buf.Truncate(buf.Len() - 1)
}

// FormatError reports a malformed safetensors file.
type FormatError struct {
	File string // file name as given to Decode
	Msg  string // what is wrong
}

func (e *FormatError) Error() string { return e.File + ": " + e.Msg }

// Decode parses a safetensors file held in data; name identifies the file
// in error messages. The returned tensors' Data slices alias data.
//
// Decode rejects malformed input with a *FormatError naming the file and
// the problem: a header length beyond the file or above MaxHeaderSize,
// header JSON that is invalid or not an object, duplicate names, unknown
// dtypes, shapes with negative dimensions or overflowing sizes, malformed
// or out-of-range data_offsets, data lengths that do not match shapes,
// overlapping tensors, gaps between tensors, trailing bytes after the last
// tensor, and "__metadata__" that is not an object of strings. When the
// metadata holds ChecksumKey (files written by WriteFile or EncodeChecked),
// Decode verifies the checksum, reports a mismatch as damage, and removes
// the entry from Metadata.
func Decode(data []byte, name string) (*File, error) {
	if name == "" {
		name = "safetensors data"
	}
	fail := func(format string, args ...any) (*File, error) {
		return nil, &FormatError{File: name, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) < 8 {
		return fail("file is %d bytes, too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return fail("header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return fail("header length %d exceeds the %d bytes after the length prefix", n, len(data)-8)
	}
	header := data[8 : 8+n]
	buffer := data[8+n:]
	if !utf8.Valid(header) {
		return fail("header is not valid UTF-8")
	}

	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil {
		return fail("invalid JSON header: %v", jsonErr(err))
	} else if tok != json.Delim('{') {
		return fail("header is not a JSON object")
	}
	f := &File{Metadata: map[string]string{}}
	seen := map[string]bool{}
	var spans []span
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("invalid JSON header: %v", jsonErr(err))
		}
		key, ok := tok.(string)
		if !ok {
			return fail("invalid JSON header: object key is %v", tok)
		}
		if seen[key] {
			if key == metadataKey {
				return fail("duplicate %s entry", metadataKey)
			}
			return fail("duplicate tensor name %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fail("invalid JSON header: %v", jsonErr(err))
		}
		if key == metadataKey {
			if err := decodeMetadata(raw, f.Metadata); err != nil {
				return fail("%v", err)
			}
			continue
		}
		t, sp, err := decodeEntry(key, raw, len(buffer))
		if err != nil {
			return fail("tensor %q: %v", key, err)
		}
		sp.index = len(f.Tensors)
		spans = append(spans, sp)
		f.Tensors = append(f.Tensors, t)
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return fail("invalid JSON header: %v", jsonErr(err))
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return fail("invalid JSON header after the top-level object: %v", jsonErr(err))
		}
		return fail("invalid JSON header: unexpected %v after the top-level object", tok)
	}

	// The tensors must cover the buffer exactly.
	byOffset := slices.Clone(spans)
	slices.SortFunc(byOffset, func(a, b span) int {
		if c := a.begin - b.begin; c != 0 {
			return c
		}
		return a.end - b.end
	})
	pos := 0
	for i, sp := range byOffset {
		switch {
		case sp.begin < pos:
			prev := byOffset[i-1]
			return fail("tensor %q: data_offsets [%d, %d] overlap tensor %q at [%d, %d]",
				f.Tensors[sp.index].Name, sp.begin, sp.end, f.Tensors[prev.index].Name, prev.begin, prev.end)
		case sp.begin > pos:
			return fail("gap: buffer bytes [%d, %d) are not covered by any tensor", pos, sp.begin)
		}
		pos = sp.end
	}
	if pos != len(buffer) {
		return fail("%d trailing bytes after the last tensor (data ends at %d, buffer holds %d bytes)",
			len(buffer)-pos, pos, len(buffer))
	}
	for _, sp := range spans {
		f.Tensors[sp.index].Data = buffer[sp.begin:sp.end:sp.end]
	}
	slices.SortFunc(f.Tensors, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	if sum, ok := f.Metadata[ChecksumKey]; ok {
		delete(f.Metadata, ChecksumKey)
		want, err := strconv.ParseUint(sum, 16, 32)
		if err != nil || len(sum) != 8 {
			return fail("metadata %s %q is not 8 hex digits", ChecksumKey, truncate([]byte(sum)))
		}
		got, err := contentChecksum(f.Tensors, f.Metadata)
		if err != nil {
			return fail("%v", err)
		}
		if uint32(want) != got {
			return fail("checksum mismatch (recorded %08x, computed %08x): the file is damaged", want, got)
		}
	}
	return f, nil
}

// span is the byte range of the data of f.Tensors[index] in the buffer.
type span struct{ index, begin, end int }

// decodeEntry parses and validates one tensor entry of the header against a
// data buffer of buflen bytes. It returns the tensor without its Data and
// the tensor's byte range in the buffer.
func decodeEntry(name string, raw json.RawMessage, buflen int) (Tensor, span, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return Tensor{}, span{}, errors.New("entry is not a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Tensor{}, span{}, fmt.Errorf("invalid entry: %v", jsonErr(err))
	}
	t := Tensor{Name: name}

	rawDType, ok := fields["dtype"]
	if !ok {
		return Tensor{}, span{}, errors.New(`missing "dtype"`)
	}
	if err := json.Unmarshal(rawDType, &t.DType); err != nil || rawDType[0] != '"' {
		return Tensor{}, span{}, fmt.Errorf("dtype %s is not a string", rawDType)
	}
	size, ok := dtypeSizes[t.DType]
	if !ok {
		return Tensor{}, span{}, fmt.Errorf("unknown dtype %q", t.DType)
	}

	rawShape, ok := fields["shape"]
	if !ok {
		return Tensor{}, span{}, errors.New(`missing "shape"`)
	}
	dims, err := intArray(rawShape, MaxRank)
	if err != nil {
		return Tensor{}, span{}, fmt.Errorf("shape %s is not an array of at most %d integers: %v", truncate(rawShape), MaxRank, err)
	}
	t.Shape = make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			return Tensor{}, span{}, fmt.Errorf("shape %v has a negative dimension", dims)
		}
		if d > math.MaxInt {
			return Tensor{}, span{}, fmt.Errorf("shape %v overflows: dimension %d does not fit in an int", dims, d)
		}
		t.Shape[i] = int(d)
	}
	nelem, ok := numElements(t.Shape)
	var nbytes uint64
	if ok {
		nbytes, ok = mulCheck(nelem, uint64(size))
	}
	if !ok {
		return Tensor{}, span{}, fmt.Errorf("shape %v of %s overflows: its byte size does not fit in 64 bits", t.Shape, t.DType)
	}

	rawOffsets, ok := fields["data_offsets"]
	if !ok {
		return Tensor{}, span{}, errors.New(`missing "data_offsets"`)
	}
	offs, err := intArray(rawOffsets, 2)
	if err != nil || len(offs) != 2 {
		return Tensor{}, span{}, fmt.Errorf("data_offsets %s is not a [begin, end] pair of integers", truncate(rawOffsets))
	}
	b, e := offs[0], offs[1]
	if b < 0 || e < 0 {
		return Tensor{}, span{}, fmt.Errorf("data_offsets [%d, %d] are negative", b, e)
	}
	if b > e {
		return Tensor{}, span{}, fmt.Errorf("data_offsets [%d, %d] have begin > end", b, e)
	}
	if e > int64(buflen) {
		return Tensor{}, span{}, fmt.Errorf("data_offsets [%d, %d] extend beyond the %d-byte data buffer", b, e, buflen)
	}
	if got := uint64(e - b); got != nbytes {
		return Tensor{}, span{}, fmt.Errorf("data_offsets [%d, %d] hold %d bytes but shape %v of %s needs %d",
			b, e, got, t.Shape, t.DType, nbytes)
	}
	return t, span{begin: int(b), end: int(e)}, nil
}

// intArray parses raw, a syntactically valid JSON value, as an array of
// at most max integers. Quoted numbers, fractions and exponents are
// rejected. It allocates only the result.
func intArray(raw json.RawMessage, max int) ([]int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return nil, errors.New("not an array")
	}
	inner := bytes.TrimSpace(raw[1 : len(raw)-1])
	if len(inner) == 0 {
		return []int64{}, nil
	}
	n := bytes.Count(inner, []byte(",")) + 1
	if n > max {
		return nil, fmt.Errorf("more than %d elements", max)
	}
	v := make([]int64, 0, n)
	for len(inner) > 0 {
		el := inner
		if i := bytes.IndexByte(inner, ','); i >= 0 {
			el, inner = inner[:i], inner[i+1:]
		} else {
			inner = nil
		}
		x, err := parseInt(bytes.TrimSpace(el))
		if err != nil {
			return nil, err
		}
		v = append(v, x)
	}
	return v, nil
}

// parseInt parses a JSON integer without allocating.
func parseInt(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, errors.New("not an integer")
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("not an integer")
		}
		var ok bool
		if u, ok = mulCheck(u, 10); !ok {
			return 0, errors.New("integer out of range")
		}
		if u += uint64(c - '0'); u < uint64(c-'0') {
			return 0, errors.New("integer out of range")
		}
	}
	if neg {
		if u > 1<<63 {
			return 0, errors.New("integer out of range")
		}
		return -int64(u), nil
	}
	if u > math.MaxInt64 {
		return 0, errors.New("integer out of range")
	}
	return int64(u), nil
}

// decodeMetadata parses the "__metadata__" object into m.
func decodeMetadata(raw json.RawMessage, m map[string]string) error {
	if string(raw) == "null" {
		return nil
	}
	if raw[0] != '{' {
		return fmt.Errorf("%s is not a JSON object", metadataKey)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Errorf("invalid %s: %v", metadataKey, jsonErr(err))
	}
	for k, v := range fields {
		var s string
		if v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return fmt.Errorf("%s value for key %q is not a string: %s", metadataKey, k, truncate(v))
		}
		m[k] = s
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func jsonErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("unexpected end of JSON")
	}
	return err
}

// ReadFile reads and decodes the safetensors file at path. Files larger
// than MaxFileSize are rejected before reading.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s: not a regular file", path)
	}
	size := fi.Size()
	if size > MaxFileSize || size > math.MaxInt {
		return nil, fmt.Errorf("safetensors: %s: file is %d bytes, larger than the limit of %d", path, size, int64(MaxFileSize))
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(fh, data); err != nil {
		return nil, fmt.Errorf("safetensors: reading %s: %w", path, err)
	}
	return Decode(data, path)
}

// WriteFile atomically writes tensors and metadata to path in safetensors
// format, with a checksum; see EncodeChecked. An existing file at path is
// replaced only on success.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		return EncodeChecked(w, tensors, metadata)
	}, 0o644)
}
