// SPDX-License-Identifier: Apache-2.0

package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// WriteFile atomically replaces the file at path with the bytes produced by
// write. The data is written through a bufio.Writer to a temporary file
// (".<base>.tmp-*") in the same directory as path, which is then flushed,
// fsynced, closed, given permissions perm (applied as is, without the umask),
// and renamed over path; finally the directory itself is fsynced so that the
// rename is durable.
//
// If write or any step before the rename fails, the temporary file is
// removed and the file previously at path, if any, is left untouched. The
// returned error names path and wraps the underlying error.
//
// If path is a symbolic link, the link itself is replaced, not its target.
func WriteFile(path string, write func(w io.Writer) error, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if base == "" {
		return fmt.Errorf("atomicfile: writing %s: path names a directory", path)
	}
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err != nil && !renamed {
			f.Close() // may already be closed; the error is irrelevant
			os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("atomicfile: writing %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("atomicfile: writing %s: close: %w", path, err)
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("atomicfile: writing %s: sync directory: %w", path, err)
	}
	return nil
}

// WriteBytes atomically replaces the file at path with data; see WriteFile.
func WriteBytes(path string, data []byte, perm os.FileMode) error {
	return WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, perm)
}

// syncDir fsyncs directory dir so that a rename within it is durable.
// Platforms and file systems that cannot sync directories are tolerated.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		err = nil // file system does not support syncing directories
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
