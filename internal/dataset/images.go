// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"fmt"
	"image"
	_ "image/jpeg" // decoders registered for image.Decode
	_ "image/png"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/image/draw"
)

// FormatImages is a folder of images.
const FormatImages = "images"

// ImageFilter is the filter --image-size resizes with.
const ImageFilter = "Catmull-Rom (golang.org/x/image/draw.CatmullRom; it averages over the source when shrinking)"

func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// imageFiles lists an image folder: DIR/<class>/*.png|jpg (classes sorted
// by name, as torchvision's ImageFolder) or DIR/*.png|jpg (no labels).
func imageFiles(dir string) (files []string, labels []int64, classes []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--data %s: %v", dir, err)
	}
	var loose []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			sub, err := os.ReadDir(p)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %v", p, err)
			}
			var in []string
			for _, s := range sub {
				if !s.IsDir() && isImageFile(s.Name()) {
					in = append(in, filepath.Join(p, s.Name()))
				}
			}
			if len(in) > 0 {
				classes = append(classes, e.Name())
				for _, f := range in {
					files = append(files, f)
					labels = append(labels, int64(len(classes)-1))
				}
			}
		} else if isImageFile(e.Name()) {
			loose = append(loose, p)
		}
	}
	switch {
	case len(classes) > 0 && len(loose) > 0:
		return nil, nil, nil, fmt.Errorf("--data %s: holds images both in class folders (%s/…) and loose (%s); keep one layout", dir, classes[0], filepath.Base(loose[0]))
	case len(classes) > 0:
		return files, labels, classes, nil
	case len(loose) > 0:
		return loose, nil, nil, nil
	}
	return nil, nil, nil, fmt.Errorf("--data %s: no .png or .jpg images in it or in its subfolders", dir)
}

func looksLikeImages(dir string) bool {
	files, _, _, err := imageFiles(dir)
	return err == nil && len(files) > 0
}

// ParseImageSize parses "28x28" (width x height).
func ParseImageSize(s string) (w, h int, err error) {
	a, b, ok := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 || w*h > 1<<24 {
		return 0, 0, fmt.Errorf("--image-size %q: want WIDTHxHEIGHT, e.g. 28x28", s)
	}
	return w, h, nil
}

// readImages decodes an image folder on all cores into rows of H×W (gray)
// or H×W×3 (RGB) values in [0,1]. Without --image-size every image must
// have the size of the first; with it, each is resized with ImageFilter.
func readImages(dir string, o *Options) (*raw, error) {
	files, labels, classes, err := imageFiles(dir)
	if err != nil {
		return nil, err
	}
	w, h := 0, 0
	if o.ImageSize != "" {
		if w, h, err = ParseImageSize(o.ImageSize); err != nil {
			return nil, err
		}
	} else {
		// The first image that decodes sets the size.
		var first error
		for _, f := range files {
			cfg, err := decodeConfig(f)
			if err == nil {
				w, h = cfg.Width, cfg.Height
				break
			}
			if first == nil {
				first = fmt.Errorf("%s: cannot decode: %v", f, err)
			}
		}
		if w == 0 {
			return nil, fmt.Errorf("--data %s: not one of its %d images decodes; the first: %v", dir, len(files), first)
		}
	}
	ch := 3
	if o.Gray {
		ch = 1
	}
	dim := w * h * ch
	if err := o.checkFits(dir, int64(len(files))*int64(dim)*4, fmt.Sprintf("%d images of %d×%d×%d", len(files), w, h, ch)); err != nil {
		return nil, err
	}
	x := make([]float32, len(files)*dim)
	errs := make([]error, len(files))
	var next, done atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if o.Progress != nil {
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					o.Progress(int(done.Load()), len(files))
				}
			}
		}()
	}
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				errs[i] = decodeInto(files[i], x[i*dim:(i+1)*dim], w, h, o.Gray, o.ImageSize != "")
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if o.Progress != nil {
		o.Progress(len(files), len(files))
	}
	// Drop (or refuse) the files that did not decode, keeping the order.
	kept, bad := 0, 0
	var firstBad error
	for i, err := range errs {
		if err != nil {
			if !o.SkipBad {
				return nil, fmt.Errorf("%v (--skip-bad skips such files)", err)
			}
			if firstBad == nil {
				firstBad = err
			}
			bad++
			continue
		}
		if kept != i {
			copy(x[kept*dim:(kept+1)*dim], x[i*dim:(i+1)*dim])
			if labels != nil {
				labels[kept] = labels[i]
			}
		}
		kept++
	}
	if kept == 0 {
		return nil, fmt.Errorf("--data %s: none of its %d images could be used (first: %v)", dir, len(files), firstBad)
	}
	r := &raw{u8: true, trainName: dir,
		train: Split{X: x[:kept*dim], N: kept, Dim: dim, Rows: h, Cols: w, Channels: ch}}
	if ch > 1 {
		r.train.Layout = "HWC"
	}
	if labels != nil {
		r.trainLabels = labels[:kept]
		r.classNames = classes
	}
	if bad > 0 {
		r.notes = append(r.notes, fmt.Sprintf("skipped %d of %d images that could not be used (--skip-bad); the first: %v", bad, len(files), firstBad))
	}
	if o.ImageSize != "" {
		r.notes = append(r.notes, fmt.Sprintf("images resized to %dx%d with %s", w, h, ImageFilter))
	}
	return r, nil
}

func decodeConfig(path string) (image.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return image.Config{}, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	return cfg, err
}

// decodeInto decodes path into dst, w×h pixels, resizing when resize is
// set, else refusing another size.
func decodeInto(path string, dst []float32, w, h int, gray, resize bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	img, _, err := image.Decode(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: cannot decode: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		if !resize {
			return fmt.Errorf("%s: is %dx%d, the first image %dx%d; give --image-size WxH to resize them all", path, b.Dx(), b.Dy(), w, h)
		}
		r := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.CatmullRom.Scale(r, r.Bounds(), img, b, draw.Src, nil)
		img, b = r, r.Bounds()
	}
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA() // 16-bit
			rf, gf, bf := float32(r)/65535, float32(g)/65535, float32(bl)/65535
			if gray {
				dst[i] = 0.299*rf + 0.587*gf + 0.114*bf
				i++
			} else {
				dst[i], dst[i+1], dst[i+2] = rf, gf, bf
				i += 3
			}
		}
	}
	return nil
}
