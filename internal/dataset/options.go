// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Formats Open knows, as --format names them.
const (
	FormatIDX         = "idx"
	FormatNPY         = "npy"
	FormatNPZ         = "npz"
	FormatCSV         = "csv"
	FormatTSV         = "tsv"
	FormatCIFAR       = "cifar10"
	FormatSafetensors = "safetensors"
)

// FormatNames lists the formats --format accepts.
var FormatNames = []string{FormatIDX, FormatNPY, FormatNPZ, FormatCSV, FormatTSV, FormatCIFAR, FormatSafetensors, FormatImages}

// Options say how Open reads a data file and prepares it.
type Options struct {
	Format string // one of FormatNames; "" detects it from the path

	XKey, YKey string // .npz/.safetensors array names; "" takes the defaults

	Header   string // CSV: "auto" (detect), "yes" or "no"
	LabelCol string // CSV: the label column's name or 0-based index; "" for none

	Gray bool // CIFAR-10 and images: convert to luminance (Rifai's CIFAR-bw)

	// Image folders: ImageSize "WxH" resizes every image (else all must
	// have the first's size); SkipBad skips files that do not decode;
	// Progress, if set, is called with the images decoded so far.
	ImageSize string
	SkipBad   bool
	Progress  func(done, total int)

	// ValSplit is the fraction of the training rows held out, with Seed, as
	// the test split when the data has none of its own.
	ValSplit float64
	Seed     uint64

	// Scale is "auto", "minmax", "standard" or "none" (see Scaling).
	// Scaling, when not nil, is applied instead (eval and encode reuse the
	// training run's).
	Scale   string
	Scaling *Scaling

	// MemAvailable returns the memory the data may use, in bytes; nil reads
	// MemAvailable in /proc/meminfo.
	MemAvailable func() (int64, bool)
}

// ErrUnknownFormat is wrapped by errors for a path whose format cannot be
// told from its name.
var ErrUnknownFormat = errors.New("cannot tell the format")

// ErrTooLarge is wrapped by errors for data that will not fit in memory.
var ErrTooLarge = errors.New("data too large for the available memory")

// DetectFormat returns the format of path from its name, or of a
// directory from its files.
func DetectFormat(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("--data %s does not exist", path)
		}
		return "", fmt.Errorf("--data %s: %v", path, err)
	}
	if st.IsDir() {
		if _, err := findFiles(path, ""); err != nil {
			if looksLikeCIFAR(path) {
				return FormatCIFAR, nil
			}
			if looksLikeImages(path) {
				return FormatImages, nil
			}
		}
		// Else IDX: loading it names a missing file.
		return FormatIDX, nil
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".npy":
		return FormatNPY, nil
	case ".npz":
		return FormatNPZ, nil
	case ".csv":
		return FormatCSV, nil
	case ".tsv", ".tab":
		return FormatTSV, nil
	case ".safetensors":
		return FormatSafetensors, nil
	case ".bin":
		return FormatCIFAR, nil
	default:
		return "", fmt.Errorf("--data %s: %w from the name %q; give --format (%s)", path, ErrUnknownFormat, ext, strings.Join(FormatNames, ", "))
	}
}

// memAvailable reads MemAvailable from /proc/meminfo.
func memAvailable() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}

// checkFits refuses data of need bytes when the machine has less available.
func (o *Options) checkFits(name string, need int64, what string) error {
	avail := o.MemAvailable
	if avail == nil {
		avail = memAvailable
	}
	have, ok := avail()
	if !ok || need <= have {
		return nil
	}
	return fmt.Errorf("%s: %w: %s needs %.2f GB as float32 but only %.2f GB is available (MemAvailable in /proc/meminfo); "+
		"use a subset, or a float32 .npy file, which is memory-mapped rather than copied", name, ErrTooLarge, what, gb(need), gb(have))
}

func gb(b int64) float64 { return float64(b) / 1e9 }
