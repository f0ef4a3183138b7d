// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/safetensors"
)

func encodeMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("caetrain encode", flag.ContinueOnError)
	model := fs.String("model", "", "directory of a trained model (model.safetensors and config.json)")
	var df dataFlags
	df.register(fs)
	out := fs.String("out", "", "file to write: NAME.safetensors, or NAME.npy (with NAME.labels.npy beside it)")
	split := fs.String("split", "test", "images to encode: train, test or both (both needs .safetensors)")
	n := fs.Int("n", 0, "encode only the first N images of each split (0: all)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: caetrain encode --model DIR [--data DIR] --out FILE [--split train|test|both] [--n N]

Writes the codes h(x) of a trained model, as float32, with the labels, as
int64, in a format NumPy and PyTorch read directly:

  FILE.safetensors  tensors "codes" [N, code] F32 and "labels" [N] I64; with
                    --split both, "train.codes", "train.labels",
                    "test.codes" and "test.labels".
                      from safetensors.torch import load_file
                      t = load_file("codes.safetensors"); t["codes"], t["labels"]
                      (safetensors.numpy.load_file for NumPy arrays)
  FILE.npy          the codes, [N, code] float32, and FILE.labels.npy beside
                    it, [N] int64.
                      codes = np.load("codes.npy"); labels = np.load("codes.labels.npy")
                      torch.from_numpy(codes)

Rows are in the data set's order (for a test split held out with
--val-split, the order of the hold-out). Without --data, the data the model
was trained on, read and scaled as it was; with it, other data scaled the
same way. Data without labels gives no labels tensor (nor FILE.labels.npy),
with a note on stderr. Files are replaced atomically. Prints a JSON summary
on stdout.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *model == "" {
		return usagef("encode: --model DIR is required")
	}
	set := setFlags(fs)
	if err := df.check(set); err != nil {
		return err
	}
	if *out == "" {
		return usagef("encode: --out FILE is required (FILE.safetensors or FILE.npy)")
	}
	ext := strings.ToLower(filepath.Ext(*out))
	if ext != ".safetensors" && ext != ".npy" {
		return usagef("encode: --out %s: want a name ending in .safetensors or .npy", *out)
	}
	var splits []string
	switch *split {
	case "train", "test":
		splits = []string{*split}
	case "both":
		if ext == ".npy" {
			return usagef("encode: --split both needs --out FILE.safetensors (an .npy file holds one array); or run once per split")
		}
		splits = []string{"train", "test"}
	default:
		return usagef("encode: --split %q: want train, test or both", *split)
	}
	if *n < 0 {
		return usagef("encode: --n %d: must not be negative", *n)
	}
	if err := checkWritableDir(filepath.Dir(*out)); err != nil {
		return usagef("encode: --out %s: %v", *out, err)
	}
	p, mc, err := engine.LoadModel(*model)
	if err != nil {
		return err
	}
	d, err := df.openForModel(mc, set, "caetrain encode", stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	if !d.Labeled() {
		fmt.Fprintf(stderr, "caetrain encode: the data has no labels: writing the codes only\n")
	}
	if d.Test.Dim != mc.Arch[0] {
		return fmt.Errorf("encode: the model's input width %d does not match the data's %d values per sample (%s)", mc.Arch[0], d.Test.Dim, d.Source)
	}
	ev, err := engine.NewEvaluator(p)
	if err != nil {
		return err
	}
	defer ev.Close()
	width := mc.Arch[len(mc.Arch)-1]

	type part struct {
		split  string
		codes  []float32
		labels []uint8 // nil without labels
		rows   int
	}
	var parts []part
	for _, sp := range splits {
		s, labels := d.Test, d.TestLabels
		if sp == "train" {
			s, labels = d.Train, d.TrainLabels
		}
		rows := s.N
		if *n > 0 {
			rows = min(*n, s.N)
		}
		fmt.Fprintf(stderr, "caetrain encode: encoding %d %s images\n", rows, sp)
		codes, err := ev.Encode(s, rows)
		if err != nil {
			return err
		}
		if labels != nil {
			labels = labels[:rows]
		}
		parts = append(parts, part{sp, codes, labels, rows})
	}

	files := []string{*out}
	if ext == ".safetensors" {
		var ts []safetensors.Tensor
		for _, pt := range parts {
			prefix := ""
			if len(parts) > 1 {
				prefix = pt.split + "."
			}
			ts = append(ts, safetensors.F32(prefix+"codes", []int{pt.rows, width}, pt.codes))
			if pt.labels != nil {
				ts = append(ts, safetensors.Tensor{Name: prefix + "labels", DType: "I64", Shape: []int{pt.rows}, Data: int64LE(pt.labels)})
			}
		}
		meta := map[string]string{"producer": "caetrain", "model": *model, "data": d.Source, "split": *split, "act": mc.Act}
		if err := safetensors.WriteFile(*out, ts, meta); err != nil {
			return err
		}
	} else {
		pt := parts[0]
		labelsPath := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".labels.npy"
		if err := atomicfile.WriteFile(*out, func(w io.Writer) error {
			return writeNPY(w, "<f4", []int{pt.rows, width}, float32LE(pt.codes))
		}, 0o644); err != nil {
			return err
		}
		if pt.labels != nil {
			if err := atomicfile.WriteFile(labelsPath, func(w io.Writer) error {
				return writeNPY(w, "<i8", []int{pt.rows}, int64LE(pt.labels))
			}, 0o644); err != nil {
				return err
			}
			files = append(files, labelsPath)
		}
	}
	counts := map[string]int{}
	for _, pt := range parts {
		counts[pt.split] = pt.rows
	}
	return json.NewEncoder(stdout).Encode(struct {
		Files     []string       `json:"files"`
		Rows      map[string]int `json:"rows"`
		CodeUnits int            `json:"code_units"`
		Model     string         `json:"model"`
		Data      string         `json:"data"`
	}{files, counts, width, *model, d.Source})
}

func float32LE(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func int64LE(v []uint8) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

// writeNPY writes an array in NumPy's .npy format, version 1.0: the magic
// "\x93NUMPY", the version, a little-endian uint16 header length, then a
// Python dict literal padded with spaces and ending in a newline so that the
// data starts at a multiple of 64 bytes, then the raw C-order data.
func writeNPY(w io.Writer, descr string, shape []int, data []byte) error {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = fmt.Sprint(s)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	const pre = 10 // magic (6) + version (2) + length (2)
	pad := 64 - (pre+len(header)+1)%64
	if pad == 64 {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("npy: header of %d bytes is too long for format 1.0", len(header))
	}
	buf := make([]byte, 0, pre+len(header))
	buf = append(buf, "\x93NUMPY\x01\x00"...)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(header)))
	buf = append(buf, header...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}
