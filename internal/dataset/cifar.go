// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/caetrain/caetrain/internal/cifar"
)

// CIFAR-10's batch files.
var (
	cifarTrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	cifarTestFile   = "test_batch.bin"
)

// cifarDir returns the directory holding the batches: dir, or its
// cifar-10-batches-bin (as the archive unpacks).
func cifarDir(dir string) string {
	sub := filepath.Join(dir, "cifar-10-batches-bin")
	if isFile(filepath.Join(sub, cifarTrainFiles[0])) || isFile(filepath.Join(sub, cifarTestFile)) {
		return sub
	}
	return dir
}

func looksLikeCIFAR(dir string) bool {
	d := cifarDir(dir)
	for _, f := range append([]string{cifarTestFile}, cifarTrainFiles...) {
		if isFile(filepath.Join(d, f)) {
			return true
		}
	}
	return false
}

// readCIFAR reads CIFAR-10 binary batches: from a directory, the
// data_batch_N.bin present as the training split and test_batch.bin as the
// test split (held out with --val-split if absent); a single .bin file is
// the training split. --gray gives 32×32 luminance images, else 3×32×32
// colour ones (channel-major, as stored).
func readCIFAR(path string, o *Options) (*raw, error) {
	var trainFiles []string
	testFile := ""
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		trainFiles = []string{path}
	} else {
		d := cifarDir(path)
		for _, f := range cifarTrainFiles {
			if p := filepath.Join(d, f); isFile(p) {
				trainFiles = append(trainFiles, p)
			}
		}
		if p := filepath.Join(d, cifarTestFile); isFile(p) {
			testFile = p
		}
		if len(trainFiles) == 0 {
			return nil, fmt.Errorf("--data %s: no CIFAR-10 training batch (data_batch_1.bin … data_batch_5.bin) in %s", path, d)
		}
	}
	dim := cifar.ImageBytes
	if o.Gray {
		dim = cifar.Plane
	}
	// The memory needed, from the files' sizes.
	var records int64
	for _, f := range append(trainFiles, testFile) {
		if st, err := os.Stat(f); f != "" && err == nil {
			records += st.Size() / cifar.RecordSize
		}
	}
	if err := o.checkFits(path, records*int64(dim)*4, fmt.Sprintf("%d CIFAR-10 images", records)); err != nil {
		return nil, err
	}
	read := func(files []string) (Split, []int64, error) {
		s := Split{Dim: dim, Rows: cifar.Side, Cols: cifar.Side, Channels: 1}
		if !o.Gray {
			s.Channels, s.Layout = 3, "CHW"
		}
		var labels []int64
		for _, p := range files {
			f, err := os.Open(p)
			if err != nil {
				return s, nil, err
			}
			st, err := f.Stat()
			if err != nil {
				f.Close()
				return s, nil, err
			}
			b, err := cifar.Decode(f, st.Size(), p)
			f.Close()
			if err != nil {
				return s, nil, err
			}
			if o.Gray {
				s.X = append(s.X, b.Gray()...)
			} else {
				s.X = append(s.X, b.Color()...)
			}
			for _, l := range b.Labels {
				labels = append(labels, int64(l))
			}
			s.N += b.N
		}
		return s, labels, nil
	}
	r := &raw{u8: true, trainName: trainFiles[0]}
	var err error
	if r.train, r.trainLabels, err = read(trainFiles); err != nil {
		return nil, err
	}
	if testFile != "" {
		if r.test, r.testLabels, err = read([]string{testFile}); err != nil {
			return nil, err
		}
		r.hasTest, r.testName = true, testFile
	}
	return r, nil
}
