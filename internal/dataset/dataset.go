// SPDX-License-Identifier: Apache-2.0

package dataset

//go:generate go run ../cmd/mksample -src ../../../shared/data/fashion-mnist -dst sample

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/caetrain/caetrain/internal/idx"
)

const (
	// SampleTrain is the number of training images in the embedded sample.
	SampleTrain = 5800
	// SampleTest is the number of test images in the embedded sample.
	SampleTest = 1000

	// SystemDir is where Debian's dataset-fashion-mnist package installs
	// the files.
	SystemDir = "/usr/share/datasets/fashion-mnist"
	// EnvVar names the environment variable that may point at a data
	// directory.
	EnvVar = "CAETRAIN_DATA"

	// EmbeddedSource is Dataset.Source for the embedded sample.
	EmbeddedSource = "embedded sample"
)

// The four IDX files of a data directory, without the optional .gz suffix.
const (
	TrainImagesFile = "train-images-idx3-ubyte"
	TrainLabelsFile = "train-labels-idx1-ubyte"
	TestImagesFile  = "t10k-images-idx3-ubyte"
	TestLabelsFile  = "t10k-labels-idx1-ubyte"
)

var fileNames = [4]string{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile}

// Overridden by tests, so that they do not depend on the machine.
var (
	systemDir = SystemDir
	lookupEnv = os.LookupEnv
)

//go:embed sample/*.gz
var sampleFS embed.FS

// Split is one part (training or test) of a dataset.
type Split struct {
	X      []float32 // N*Dim pixels, row-major, image after image, in [0,1]
	Labels []uint8   // N class labels (nil when the data has none)
	N      int       // number of samples
	Dim    int       // values per sample
	// Rows, Cols and Channels give the image size when the samples are
	// images (Rows*Cols*Channels == Dim); all 0 otherwise. Channels are
	// interleaved (H×W×C) as Layout says.
	Rows, Cols, Channels int
	Layout               string // "HWC" or "CHW" when Channels > 1
}

// Dataset is a training and a test split with the same image size.
type Dataset struct {
	Train, Test Split
	// Source describes where the data came from: the directory, or
	// EmbeddedSource.
	Source   string
	Embedded bool

	Format   string // one of FormatNames
	TestFrom string // "file", or how the test split was held out
	Scaling  *Scaling
	// Classes names the class indices when labels were renumbered.
	Classes []string
	// Notes are for stderr: what was done to the data, and why.
	Notes []string

	u8      bool
	closers []func() error
}

// Notice returns the message to print on stderr when the embedded sample
// is used.
func Notice() string {
	return fmt.Sprintf("caetrain: using the embedded sample (%d train / %d test images of Fashion-MNIST); "+
		"for the full set: apt-get install dataset-fashion-mnist (Debian/Ubuntu, installs to %s) "+
		"or pass --data DIR / set %s to a directory holding the four IDX files "+
		"(%s.gz, %s.gz, %s.gz, %s.gz; gzip or raw)",
		SampleTrain, SampleTest, SystemDir, EnvVar,
		TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile)
}

// Resolve decides where the data comes from. It returns the data directory,
// or embedded == true for the embedded sample. The order is: flagDir if
// non-empty; else $CAETRAIN_DATA if set and non-empty; else SystemDir if it
// holds the four files; else the embedded sample. A directory given by
// flagDir or CAETRAIN_DATA must exist and hold the files; if it does not,
// Resolve returns an error naming the directory and the missing file
// rather than falling back.
func Resolve(flagDir string) (dir string, embedded bool, err error) {
	if flagDir != "" {
		if _, err := findFiles(flagDir, "--data"); err != nil {
			return "", false, err
		}
		return flagDir, false, nil
	}
	if env, ok := lookupEnv(EnvVar); ok && env != "" {
		if _, err := findFiles(env, EnvVar); err != nil {
			return "", false, err
		}
		return env, false, nil
	}
	if _, err := findFiles(systemDir, "system"); err == nil {
		return systemDir, false, nil
	}
	return "", true, nil
}

// Load resolves the data source as Resolve does and loads it.
func Load(flagDir string) (*Dataset, error) {
	dir, embedded, err := Resolve(flagDir)
	if err != nil {
		return nil, err
	}
	if embedded {
		return LoadEmbedded()
	}
	return LoadDir(dir)
}

// LoadDir loads the four IDX files from dir.
func LoadDir(dir string) (*Dataset, error) {
	paths, err := findFiles(dir, "")
	if err != nil {
		return nil, err
	}
	d, err := load(func(i int) (fs.File, string, error) {
		f, err := os.Open(paths[i])
		return f, paths[i], err
	})
	if err != nil {
		return nil, err
	}
	d.Source = dir
	return d, nil
}

// LoadEmbedded loads the sample embedded in the binary.
func LoadEmbedded() (*Dataset, error) {
	d, err := load(func(i int) (fs.File, string, error) {
		name := path.Join("sample", fileNames[i]+".gz")
		f, err := sampleFS.Open(name)
		return f, EmbeddedSource + " " + name, err
	})
	if err != nil {
		return nil, err
	}
	d.Source = EmbeddedSource
	d.Embedded = true
	return d, nil
}

// findFiles returns the paths of the four files in dir, each with .gz if
// that exists, else without. what says where dir came from, for errors.
func findFiles(dir, what string) ([4]string, error) {
	var paths [4]string
	desc := "data directory " + dir
	if what != "" {
		desc += " (from " + what + ")"
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return paths, fmt.Errorf("%s does not exist", desc)
	case err != nil:
		return paths, fmt.Errorf("%s: %v", desc, err)
	case !st.IsDir():
		return paths, fmt.Errorf("%s is not a directory", desc)
	}
	for i, name := range fileNames {
		gz := filepath.Join(dir, name+".gz")
		raw := filepath.Join(dir, name)
		switch {
		case isFile(gz):
			paths[i] = gz
		case isFile(raw):
			paths[i] = raw
		default:
			return paths, fmt.Errorf("%s lacks %s.gz (or uncompressed %s); it must hold the four Fashion-MNIST IDX files %s, %s, %s and %s",
				desc, name, name, TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile)
		}
	}
	return paths, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// load reads the four files in fileNames order through open and checks
// them against each other.
func load(open func(i int) (fs.File, string, error)) (*Dataset, error) {
	var (
		images [2]*idx.Images
		labels [2][]uint8
		names  [4]string
	)
	for i := range fileNames {
		f, name, err := open(i)
		if err != nil {
			return nil, err
		}
		names[i] = name
		if i%2 == 0 {
			images[i/2], err = idx.DecodeImages(f, name)
		} else {
			labels[i/2], err = idx.DecodeLabels(f, name)
		}
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	for s := range 2 {
		if err := idx.CheckPair(images[s], labels[s], names[2*s], names[2*s+1]); err != nil {
			return nil, err
		}
	}
	tr, te := images[0], images[1]
	if tr.Rows != te.Rows || tr.Cols != te.Cols {
		return nil, fmt.Errorf("%s holds %d×%d images but %s holds %d×%d images; train and test must have the same size",
			names[0], tr.Rows, tr.Cols, names[2], te.Rows, te.Cols)
	}
	return &Dataset{
		Train: newSplit(tr, labels[0]),
		Test:  newSplit(te, labels[1]),
	}, nil
}

func newSplit(img *idx.Images, labels []uint8) Split {
	return Split{
		X:        img.Float32(),
		Labels:   labels,
		N:        img.N,
		Dim:      img.Dim(),
		Rows:     img.Rows,
		Cols:     img.Cols,
		Channels: 1,
	}
}
