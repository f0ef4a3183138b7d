// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/npy"
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

Rows are in the data set's order within each split (with --val-split, the
training split is the file less the held-out rows). Without --data: IDX data
where training looks for it, or the model's own data file of another format,
read and scaled as it was; with --data, other data scaled the same way. Data
without labels gives no labels tensor (nor FILE.labels.npy), with a note on
stderr. .npy and CSV/TSV files are read in chunks (only the codes are held).
Files are replaced atomically. Prints a JSON summary on stdout.

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
	st, err := df.streamForModel(mc, set, "caetrain encode", stderr)
	if err != nil {
		return err
	}
	var (
		d      *engine.Data
		source string
	)
	if st != nil {
		defer st.Close()
		source = st.Source
		if st.Dim != mc.Arch[0] {
			return fmt.Errorf("encode: the model's input width %d does not match the data's %d values per sample (%s)", mc.Arch[0], st.Dim, st.Source)
		}
	} else {
		if d, err = df.openForModel(mc, set, "caetrain encode", stderr); err != nil {
			return err
		}
		defer d.Close()
		source = d.Source
		if d.Test.Dim != mc.Arch[0] {
			return fmt.Errorf("encode: the model's input width %d does not match the data's %d values per sample (%s)", mc.Arch[0], d.Test.Dim, d.Source)
		}
	}
	if (st != nil && !st.Labeled) || (d != nil && !d.Labeled()) {
		fmt.Fprintf(stderr, "caetrain encode: the data has no labels: writing the codes only\n")
	}
	ev, err := engine.NewEvaluator(p)
	if err != nil {
		return err
	}
	defer ev.Close()
	width := mc.Arch[len(mc.Arch)-1]

	var parts []part
	if st != nil {
		if parts, err = encodeStream(ev, st, splits, *n, width, stderr); err != nil {
			return err
		}
	} else {
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
		meta := map[string]string{"producer": "caetrain", "model": *model, "data": source, "split": *split, "act": mc.Act}
		if err := safetensors.WriteFile(*out, ts, meta); err != nil {
			return err
		}
	} else {
		pt := parts[0]
		labelsPath := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".labels.npy"
		if err := atomicfile.WriteFile(*out, func(w io.Writer) error {
			return npy.Write(w, "<f4", []int{pt.rows, width}, float32LE(pt.codes))
		}, 0o644); err != nil {
			return err
		}
		if pt.labels != nil {
			if err := atomicfile.WriteFile(labelsPath, func(w io.Writer) error {
				return npy.Write(w, "<i8", []int{pt.rows}, int64LE(pt.labels))
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
	}{files, counts, width, *model, source})
}

// part is one split's codes.
type part struct {
	split  string
	codes  []float32
	labels []uint8 // nil without labels
	rows   int
}

// encodeStream encodes the splits of a file read in chunks: each row's
// code goes to its place in its split, so the result is what encoding the
// data in memory gives. Only the codes are held.
func encodeStream(ev *engine.Evaluator, st *engine.DataStream, splits []string, limit, width int, stderr io.Writer) ([]part, error) {
	parts := make([]part, len(splits))
	want := [2]int{-1, -1} // part index of train, test
	for i, sp := range splits {
		rows := st.TrainN
		if sp == "test" {
			rows = st.TestN
			want[1] = i
		} else {
			want[0] = i
		}
		if limit > 0 {
			rows = min(rows, limit)
		}
		parts[i] = part{split: sp, codes: make([]float32, rows*width), rows: rows}
		if st.Labeled {
			parts[i].labels = make([]uint8, rows)
		}
		fmt.Fprintf(stderr, "caetrain encode: encoding %d %s samples, reading %s in chunks\n", rows, sp, st.Source)
	}
	const chunk = 4096
	var (
		c     *engine.DataChunk
		batch []float32
		dest  []int // part, index of each row of batch
		err   error
	)
	for {
		c, err = st.Next(chunk, c)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		batch, dest = batch[:0], dest[:0]
		for i := range c.N {
			sp := 0
			if c.Test[i] {
				sp = 1
			}
			pi := want[sp]
			if pi < 0 || c.Index[i] >= parts[pi].rows {
				continue
			}
			batch = append(batch, c.X[i*st.Dim:(i+1)*st.Dim]...)
			dest = append(dest, pi, c.Index[i])
			if c.Labels != nil {
				parts[pi].labels[c.Index[i]] = c.Labels[i]
			}
		}
		if len(dest) == 0 {
			continue
		}
		codes, err := ev.Encode(engine.Samples{X: batch, N: len(dest) / 2, Dim: st.Dim}, 0)
		if err != nil {
			return nil, err
		}
		for r := 0; r < len(dest); r += 2 {
			copy(parts[dest[r]].codes[dest[r+1]*width:], codes[r/2*width:(r/2+1)*width])
		}
	}
	if n := st.Clipped(); n > 0 {
		fmt.Fprintf(stderr, "caetrain encode: --scale minmax: %d value(s) fell outside the range of the model's training split and were clipped to [0,1]\n", n)
	}
	return parts, nil
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
