// SPDX-License-Identifier: Apache-2.0

package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Magic opens every .npy file.
const Magic = "\x93NUMPY"

// maxHeader bounds the header length accepted (NumPy itself refuses
// headers over 10000 bytes unless told otherwise).
const maxHeader = 1 << 20

// Header is an .npy file's header.
type Header struct {
	Descr   string // dtype, e.g. "<f4"
	Fortran bool   // fortran_order
	Shape   []int
	// DataOffset is where the elements start, from the file's first byte.
	DataOffset int64
}

// Elems returns the number of elements the shape holds, or -1 if it
// overflows.
func (h Header) Elems() int64 {
	n := int64(1)
	for _, d := range h.Shape {
		if d != 0 && n > (1<<62)/int64(d) {
			return -1
		}
		n *= int64(d)
	}
	return n
}

// ShapeString formats the shape as NumPy does: (3, 4) or (3,).
func (h Header) ShapeString() string { return shapeString(h.Shape) }

func shapeString(shape []int) string {
	s := make([]string, len(shape))
	for i, d := range shape {
		s[i] = strconv.Itoa(d)
	}
	if len(s) == 1 {
		return "(" + s[0] + ",)"
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// ReadHeader reads an .npy header from r, leaving r at the first element.
func ReadHeader(r io.Reader) (Header, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return Header{}, fmt.Errorf("not an .npy array: it is shorter than the 8-byte preamble %q+version", Magic)
	}
	if string(pre[:6]) != Magic {
		return Header{}, fmt.Errorf("not an .npy array: it starts with %q, not %q", pre[:6], Magic)
	}
	var hlen, start int
	switch pre[6] {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return Header{}, errors.New("cut short in the header length (bytes 8-9)")
		}
		hlen, start = int(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return Header{}, errors.New("cut short in the header length (bytes 8-11)")
		}
		n := binary.LittleEndian.Uint32(l[:])
		if n > maxHeader {
			return Header{}, fmt.Errorf("header length %d at bytes 8-11 is over the %d accepted", n, maxHeader)
		}
		hlen, start = int(n), 12
	default:
		return Header{}, fmt.Errorf("format version %d.%d at bytes 6-7 is not one of 1.0, 2.0, 3.0", pre[6], pre[7])
	}
	buf := make([]byte, hlen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return Header{}, fmt.Errorf("cut short in the %d-byte header that starts at byte %d", hlen, start)
	}
	h, err := ParseDict(string(buf))
	if err != nil {
		return Header{}, fmt.Errorf("header at bytes %d-%d: %w", start, start+hlen, err)
	}
	h.DataOffset = int64(start + hlen)
	return h, nil
}

// ParseHeader parses the header at the start of b, an .npy file's first
// bytes.
func ParseHeader(b []byte) (Header, error) {
	return ReadHeader(strings.NewReader(string(b)))
}

// ParseDict parses the header's dict literal, e.g.
// "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }". The keys
// may come in any order; each must appear once.
func ParseDict(s string) (Header, error) {
	p := dictParser{s: strings.TrimRight(s, " \n\x00")}
	var h Header
	if !p.eat('{') {
		return h, p.errf("the dict does not start with '{'")
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, p.errf("key %q appears twice", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return h, p.errf("no ':' after key %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if h.Descr, err = p.str(); err != nil {
				return h, err
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.Fortran = true
			case p.word("False"):
			default:
				return h, p.errf("'fortran_order' is neither True nor False")
			}
		case "shape":
			if h.Shape, err = p.tuple(); err != nil {
				return h, err
			}
		default:
			return h, p.errf("unknown key %q (want 'descr', 'fortran_order', 'shape')", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat('}') {
			break
		}
		return h, p.errf("want ',' or '}' after the value of %q", key)
	}
	if p.space(); p.i != len(p.s) {
		return h, p.errf("text after the dict's '}'")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("the dict lacks the key %q", k)
		}
	}
	if h.Elems() < 0 {
		return h, fmt.Errorf("shape %s holds more elements than can be addressed", h.ShapeString())
	}
	return h, nil
}

type dictParser struct {
	s string
	i int
}

func (p *dictParser) errf(format string, a ...any) error {
	return fmt.Errorf("dict character %d: %s", p.i, fmt.Sprintf(format, a...))
}

func (p *dictParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *dictParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *dictParser) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes, as NumPy writes them.
func (p *dictParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", p.errf("want a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", p.errf("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", p.errf("escapes in strings are not supported")
	}
	p.i += end + 2
	return v, nil
}

// tuple reads "(3, 4)", "(3,)" or "()".
func (p *dictParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.errf("'shape' is not a tuple")
	}
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			return shape, nil
		}
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if j == p.i {
			return nil, p.errf("'shape' holds something other than non-negative integers")
		}
		p.eat('L') // Python 2's long
		d, err := strconv.Atoi(strings.TrimSuffix(p.s[j:p.i], "L"))
		if err != nil || d > 1<<50 {
			return nil, p.errf("dimension %q in 'shape' is too large", p.s[j:p.i])
		}
		shape = append(shape, d)
		if len(shape) > 32 {
			return nil, p.errf("'shape' has more than 32 dimensions")
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat(')') {
			return shape, nil
		}
		return nil, p.errf("want ',' or ')' in 'shape'")
	}
}
