// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"unsafe"

	"github.com/caetrain/caetrain/internal/safetensors"
)

// readSafetensors reads a safetensors file with the data in "x" and the
// labels in "y" (safetensors.torch.save_file({"x": x, "y": y}, path)), or
// "x_train"/"x_test" with "y_train"/"y_test", or the tensors named by
// --x-key and --y-key. The file is read whole; an aligned little-endian
// F32 tensor is used in place, other dtypes are converted.
func readSafetensors(path string, o *Options) (*raw, error) {
	if st, err := os.Stat(path); err == nil {
		// The file is held while its float32 copy is made.
		if err := o.checkFits(path, st.Size()*2, fmt.Sprintf("a %.2f GB safetensors file", gb(st.Size()))); err != nil {
			return nil, err
		}
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	names := func() string {
		var n []string
		for _, t := range f.Tensors {
			n = append(n, fmt.Sprintf("%s %s %v", t.Name, t.DType, t.Shape))
		}
		return strings.Join(n, ", ")
	}
	has := func(k string) bool { _, ok := f.Get(k); return ok }
	xTrain, xTest, yTrain, yTest := "x", "", "y", ""
	switch {
	case o.XKey != "":
		xTrain = o.XKey
		yTrain = ""
	case !has("x") && has("x_train"):
		xTrain, xTest, yTrain, yTest = "x_train", "x_test", "y_train", "y_test"
	}
	if o.YKey != "" {
		yTrain, yTest = o.YKey, ""
	}
	if !has(xTrain) {
		return nil, fmt.Errorf("%s: no tensor %q; it holds %s (name the data with --x-key)", path, xTrain, names())
	}
	r := &raw{trainName: path + "[" + xTrain + "]"}
	if r.train, r.u8, err = tensorSamples(f, path, xTrain, o); err != nil {
		return nil, err
	}
	if xTest != "" && has(xTest) {
		var u8 bool
		if r.test, u8, err = tensorSamples(f, path, xTest, o); err != nil {
			return nil, err
		}
		if u8 != r.u8 || r.test.Dim != r.train.Dim {
			return nil, fmt.Errorf("%s: %q and %q differ in dtype or sample shape; the splits must match", path, xTrain, xTest)
		}
		r.hasTest, r.testName = true, path+"["+xTest+"]"
	}
	for _, l := range []struct {
		key string
		n   int
		dst *[]int64
	}{{yTrain, r.train.N, &r.trainLabels}, {yTest, r.test.N, &r.testLabels}} {
		if l.key == "" || !has(l.key) || (l.dst == &r.testLabels && !r.hasTest) {
			if l.key != "" && l.key == o.YKey {
				return nil, fmt.Errorf("%s: no tensor %q (--y-key); it holds %s", path, l.key, names())
			}
			continue
		}
		t, _ := f.Get(l.key)
		v, err := tensorInts(t)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %v", path, l.key, err)
		}
		shape := t.Shape
		if len(shape) == 2 && shape[1] == 1 {
			shape = shape[:1]
		}
		if len(shape) != 1 || shape[0] != l.n {
			return nil, fmt.Errorf("%s: tensor %q of shape %v does not hold one label for each of %d samples", path, l.key, t.Shape, l.n)
		}
		*l.dst = v
	}
	return r, nil
}

// tensorSamples makes a Split of tensor key, samples along its first axis:
// [N, D], [N, H, W], or [N, C, H, W] as PyTorch's images come.
func tensorSamples(f *safetensors.File, path, key string, o *Options) (Split, bool, error) {
	t, _ := f.Get(key)
	name := fmt.Sprintf("%s: tensor %q", path, key)
	if len(t.Shape) < 2 {
		return Split{}, false, fmt.Errorf("%s: shape %v: want samples along the first axis, e.g. [N, D] or [N, C, H, W]", name, t.Shape)
	}
	s := Split{N: t.Shape[0], Dim: 1}
	for _, d := range t.Shape[1:] {
		s.Dim *= d
	}
	if s.N == 0 || s.Dim == 0 {
		return s, false, fmt.Errorf("%s: shape %v holds no values", name, t.Shape)
	}
	switch sh := t.Shape; len(sh) {
	case 3:
		s.Rows, s.Cols, s.Channels = sh[1], sh[2], 1
	case 4:
		switch {
		case sh[1] == 1 || sh[1] == 3 || sh[1] == 4:
			s.Rows, s.Cols, s.Channels, s.Layout = sh[2], sh[3], sh[1], "CHW"
		case sh[3] == 1 || sh[3] == 3 || sh[3] == 4:
			s.Rows, s.Cols, s.Channels, s.Layout = sh[1], sh[2], sh[3], "HWC"
		}
	}
	if s.Channels == 1 {
		s.Layout = ""
	}
	n := s.N * s.Dim
	switch t.DType {
	case "U8":
		s.X = bytesToUnit(t.Data[:n])
		return s, true, nil
	case "F32":
		if p := unsafe.Pointer(unsafe.SliceData(t.Data)); uintptr(p)%4 == 0 {
			s.X = unsafe.Slice((*float32)(p), n) // the file's own bytes: no copy
		} else {
			s.X = make([]float32, n)
			for i := range s.X {
				s.X[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
			}
		}
	case "F64":
		s.X = make([]float32, n)
		for i := range s.X {
			s.X[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
	default:
		return s, false, fmt.Errorf("%s: dtype %s is not supported; save x.float() (F32), F64 or U8", name, t.DType)
	}
	return s, false, nil
}

// tensorInts returns an integer tensor's values.
func tensorInts(t safetensors.Tensor) ([]int64, error) {
	size, _ := safetensors.DTypeSize(t.DType)
	if !slices.Contains([]string{"U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "BOOL"}, t.DType) {
		return nil, fmt.Errorf("labels must be integers, not %s (save y.long())", t.DType)
	}
	n := len(t.Data) / size
	v := make([]int64, n)
	for i := range v {
		e := t.Data[i*size : (i+1)*size]
		switch t.DType {
		case "U8", "BOOL":
			v[i] = int64(e[0])
		case "I8":
			v[i] = int64(int8(e[0]))
		case "I16":
			v[i] = int64(int16(binary.LittleEndian.Uint16(e)))
		case "U16":
			v[i] = int64(binary.LittleEndian.Uint16(e))
		case "I32":
			v[i] = int64(int32(binary.LittleEndian.Uint32(e)))
		case "U32":
			v[i] = int64(binary.LittleEndian.Uint32(e))
		default:
			v[i] = int64(binary.LittleEndian.Uint64(e))
		}
	}
	return v, nil
}
