// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/internal/plot"
)

// dataFlags are the flags that say what --data is and how to read it,
// shared by train, eval and encode.
type dataFlags struct {
	path, format, xKey, yKey, header, labelCol, scale string
	imageSize                                         string
	valSplit                                          float64
	gray, skipBad                                     bool
}

const dataHelp = `--data is a directory of IDX files (MNIST, Fashion-MNIST), a directory of
CIFAR-10 binary batches, a folder of images (DIR/<class>/*.png|jpg, or flat),
or a file: .npy, .npz, .csv, .tsv, .safetensors (--format overrides the
detection). Without a test split of its own, a seeded --val-split of the rows
is held out as one. Bytes are divided by 255; float data are scaled as
--scale says, with statistics from the training split, saved in config.json
and reused by eval and encode.`

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.path, "data", "", "the data: a directory of IDX files, of CIFAR-10 batches or of images, or a .npy, .npz, .csv, .tsv or .safetensors file")
	fs.StringVar(&d.format, "format", "", "the data's format when its name does not say: "+strings.Join(engine.DataFormats, ", "))
	fs.StringVar(&d.xKey, "x-key", "", "the data array in an .npz or .safetensors file (default x_train and x_test, or x)")
	fs.StringVar(&d.yKey, "y-key", "", "the labels array in an .npz or .safetensors file (default y_train and y_test, or y)")
	fs.StringVar(&d.header, "header", "auto", "CSV/TSV: is the first row a header? auto, yes or no")
	fs.StringVar(&d.labelCol, "label-col", "", "CSV/TSV: the label column, by header name or 0-based index (default: no labels)")
	fs.Float64Var(&d.valSplit, "val-split", 0.1, "fraction of the rows held out, seeded by --seed, as the test split when the data has none")
	fs.StringVar(&d.scale, "scale", "auto", "float inputs: minmax (each feature to [0,1]), standard (zero mean, unit variance), none, or auto (none if in [0,1], else minmax)")
	fs.BoolVar(&d.gray, "gray", false, "CIFAR-10 and images: convert to gray, 0.299R+0.587G+0.114B (Rifai's CIFAR-bw)")
	fs.StringVar(&d.imageSize, "image-size", "", "images: resize every image to WIDTHxHEIGHT, e.g. 28x28, with a Catmull-Rom filter (default: all must have the first's size)")
	fs.BoolVar(&d.skipBad, "skip-bad", false, "images: skip files that do not decode (counted on stderr) instead of stopping")
}

// check validates the flags; set holds the flags given.
func (d *dataFlags) check(set map[string]bool) error {
	if d.format != "" && !slices.Contains(engine.DataFormats, d.format) {
		return usagef("--format %q: want one of %s", d.format, strings.Join(engine.DataFormats, ", "))
	}
	switch d.header {
	case "auto", "yes", "no":
	default:
		return usagef("--header %q: want auto, yes or no", d.header)
	}
	switch d.scale {
	case "auto", "minmax", "standard", "none":
	default:
		return usagef("--scale %q: want auto, minmax, standard or none", d.scale)
	}
	if d.imageSize != "" {
		if _, _, err := engine.ParseImageSize(d.imageSize); err != nil {
			return usageError{err}
		}
	}
	if !(d.valSplit > 0 && d.valSplit < 1) {
		return usagef("--val-split %v: must lie strictly between 0 and 1", d.valSplit)
	}
	if d.path == "" && (d.format != "" || set["x-key"] || set["y-key"] || set["label-col"]) {
		return usagef("--format, --x-key, --y-key and --label-col need --data FILE")
	}
	return nil
}

// fromModel sets the flags to read the data the run in dir was trained on
// (its config.json's data_config), for --resume without --data. A run
// without a data_config, or trained on the embedded sample, keeps the
// default search.
func (d *dataFlags) fromModel(dir string) {
	_, mc, err := engine.LoadModel(dir)
	if err != nil || mc.DataConfig == nil || mc.DataConfig.Path == "" {
		return
	}
	c := mc.DataConfig
	d.path, d.format, d.xKey, d.yKey, d.labelCol = c.Path, c.Format, c.XKey, c.YKey, c.LabelCol
	d.gray, d.imageSize, d.skipBad = c.Gray, c.ImageSize, c.SkipBad
	if c.Header != "" {
		d.header = c.Header
	}
	if c.ValSplit > 0 {
		d.valSplit = c.ValSplit
	}
	if c.Scaling != nil && c.Scaling.Kind != "u8/255" {
		d.scale = c.Scaling.Kind
	}
}

// options returns the options for a new training run.
func (d *dataFlags) options(seed uint64) engine.DataOptions {
	return engine.DataOptions{
		Format: d.format, XKey: d.xKey, YKey: d.yKey, Header: d.header, LabelCol: d.labelCol,
		Gray: d.gray, ValSplit: d.valSplit, Seed: seed, Scale: d.scale,
		ImageSize: d.imageSize, SkipBad: d.skipBad,
	}
}

// progressTo draws a bar of image decoding on stderr when it is a
// terminal.
func progressTo(stderr io.Writer, who string) func(done, total int) {
	f, ok := stderr.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(done, total int) {
		const width = 30
		filled := width
		if total > 0 {
			filled = width * done / total
		}
		fmt.Fprintf(stderr, "\r%s: decoding images [%s%s] %d/%d", who, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total)
		if done == total {
			fmt.Fprintln(stderr)
		}
	}
}

// open reads the data for train (training: scaling fitted on it).
func (d *dataFlags) open(seed uint64, stderr io.Writer) (*engine.Data, error) {
	o := d.options(seed)
	o.Progress = progressTo(stderr, "caetrain")
	data, err := engine.OpenData(d.path, o)
	if err != nil {
		if errors.Is(err, engine.ErrUnknownDataFormat) {
			return nil, usageError{err}
		}
		return nil, err
	}
	announce(data, "caetrain", stderr)
	return data, nil
}

// modelData returns where and how eval and encode read their data: as the
// model's run read its own (format, split and scaling from config.json)
// when --data is not given or names the same data; the flags given
// override the format's options, and the model's scaling is always
// applied.
func (d *dataFlags) modelData(mc engine.ModelConfig, set map[string]bool) (string, engine.DataOptions, []string) {
	var o engine.DataOptions
	var classes []string
	path := d.path
	if mc.DataConfig != nil {
		o = mc.DataConfig.Options()
		classes = mc.DataConfig.Classes
		// IDX data is looked for as it always was (--data, $CAETRAIN_DATA,
		// the system directory, the embedded sample); other data is the
		// model's own file.
		if path == "" && mc.DataConfig.Format != "idx" {
			path = mc.DataConfig.Path
		}
	} else {
		o.Scaling = &engine.Scaling{Kind: "u8/255"}
	}
	if set["format"] {
		o.Format = d.format
	}
	if set["x-key"] {
		o.XKey = d.xKey
	}
	if set["y-key"] {
		o.YKey = d.yKey
	}
	if set["header"] {
		o.Header = d.header
	}
	if set["label-col"] {
		o.LabelCol = d.labelCol
	}
	if set["gray"] {
		o.Gray = d.gray
	}
	if set["image-size"] {
		o.ImageSize = d.imageSize
	}
	if set["skip-bad"] {
		o.SkipBad = d.skipBad
	}
	if set["val-split"] || o.ValSplit == 0 {
		o.ValSplit = d.valSplit
	}
	if set["data"] && mc.DataConfig != nil && d.path != mc.DataConfig.Path && !set["format"] {
		o.Format = "" // other data: detect its format
	}
	return path, o, classes
}

// openForModel reads the data for eval and encode into memory (see
// modelData).
func (d *dataFlags) openForModel(mc engine.ModelConfig, set map[string]bool, who string, stderr io.Writer) (*engine.Data, error) {
	path, o, _ := d.modelData(mc, set)
	o.Progress = progressTo(stderr, who)
	data, err := engine.OpenData(path, o)
	if err != nil {
		if errors.Is(err, engine.ErrDataTooLarge) {
			err = fmt.Errorf("%w\n(eval and encode read .npy and CSV files in chunks)", err)
		}
		if errors.Is(err, engine.ErrUnknownDataFormat) {
			return nil, usageError{err}
		}
		return nil, err
	}
	announce(data, who, stderr)
	return data, nil
}

// streamForModel opens the data for eval and encode in chunks when it is
// an .npy or CSV/TSV file (nil, nil otherwise).
func (d *dataFlags) streamForModel(mc engine.ModelConfig, set map[string]bool, who string, stderr io.Writer) (*engine.DataStream, error) {
	path, o, classes := d.modelData(mc, set)
	if path == "" {
		return nil, nil
	}
	format := o.Format
	if format == "" {
		var err error
		if format, err = engine.DetectDataFormat(path); err != nil {
			if errors.Is(err, engine.ErrUnknownDataFormat) {
				return nil, usageError{err}
			}
			return nil, err
		}
	}
	if !engine.Streamable(format) || (mc.DataConfig != nil && mc.DataConfig.TestFrom == "file") || forceInMemory {
		return nil, nil
	}
	o.Format = format
	st, err := engine.OpenDataStream(path, o, classes)
	if err != nil {
		return nil, err
	}
	for _, n := range st.Notes {
		fmt.Fprintf(stderr, "%s: %s\n", who, n)
	}
	return st, nil
}

// forceInMemory makes eval and encode read streamable data into memory
// (tests compare the two).
var forceInMemory bool

func announce(d *engine.Data, who string, stderr io.Writer) {
	if d.Embedded {
		fmt.Fprintln(stderr, d.Notice)
	}
	for _, n := range d.Notes {
		fmt.Fprintf(stderr, "%s: %s\n", who, n)
	}
}

// resolveArch returns the architecture for data of width values per
// sample. Without --arch (given false), the preset's with its input width
// replaced by the data's. With it: the widths as given when the first is
// the data's width; the data's width followed by them when there is one
// width or the first is smaller than the data's (the input was left out);
// a usage error naming both widths when the first is larger (a wrong input
// width, or an overcomplete first layer to be written after the input).
func resolveArch(arch []int, given bool, width int, source string) ([]int, error) {
	if !given {
		a := slices.Clone(arch)
		a[0] = width
		return a, nil
	}
	switch {
	case len(arch) == 1 || arch[0] < width:
		return append([]int{width}, arch...), nil
	case arch[0] == width:
		return arch, nil
	default:
		return nil, usagef("--arch %s: the input width %d does not match the data's %d values per sample (%s); give %d,%s to make %d the first hidden layer, or leave the input width out",
			formatArch(arch), arch[0], width, source, width, formatArch(arch), arch[0])
	}
}

// checkRange refuses BCE on data outside [0,1].
func checkRange(loss string, d *engine.Data) error {
	if loss != "bce" {
		return nil
	}
	for _, s := range []struct {
		name string
		x    engine.Samples
	}{{"training", d.Train}, {"test", d.Test}} {
		for i, v := range s.x.X[:s.x.N*s.x.Dim] {
			if v < 0 || v > 1 {
				return usageError{fmt.Errorf("--loss bce needs inputs in [0,1], but %s sample %d, feature %d of %s is %g after scaling (%s); use --scale minmax, or --loss sse",
					s.name, i/s.x.Dim, i%s.x.Dim, d.Source, v, scalingName(d))}
			}
		}
	}
	return nil
}

func scalingName(d *engine.Data) string {
	if d.Config.Scaling == nil {
		return "no scaling"
	}
	return "--scale " + d.Config.Scaling.Kind
}

var errNoLabels = errors.New("the data has no labels")

// saveReconstructions draws ten test samples above their reconstructions
// when the samples are images (gray, or color from the first three
// channels), and otherwise the first three samples and their
// reconstructions as line plots of value against feature.
func saveReconstructions(ev *engine.Evaluator, path string, d *engine.Data) error {
	if d.IsImage() && d.Channels <= 1 {
		return ev.SaveReconstructions(path, d.Test, d.Rows, d.Cols, 10)
	}
	n := min(d.Test.N, 10)
	if n == 0 {
		return nil
	}
	rec, err := ev.Reconstruct(d.Test, n)
	if err != nil {
		return err
	}
	if d.IsImage() && d.Channels >= 3 {
		return ev.SaveColorReconstructionsOf(path, d.Test.X, rec, d.Rows, d.Cols, d.Channels, n, d.Layout == "CHW")
	}
	fig := plot.Figure{Title: "test samples and their reconstructions", XLabel: "feature", YLabel: "value", Width: 9, Height: 5}
	for i := range min(n, 3) {
		xs, a, b := make([]float64, d.Test.Dim), make([]float64, d.Test.Dim), make([]float64, d.Test.Dim)
		for j := range xs {
			xs[j], a[j], b[j] = float64(j), float64(d.Test.X[i*d.Test.Dim+j]), float64(rec[i*d.Test.Dim+j])
		}
		fig.Series = append(fig.Series, plot.Series{Name: fmt.Sprintf("sample %d", i), X: xs, Y: a}, plot.Series{Name: fmt.Sprintf("reconstruction %d", i), X: xs, Y: b})
	}
	return fig.WritePNG(path)
}
