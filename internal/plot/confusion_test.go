// SPDX-License-Identifier: Apache-2.0

package plot

import (
	"path/filepath"
	"testing"
)

func TestConfusion(t *testing.T) {
	dir := t.TempDir()
	m := make([][]int, 10)
	for i := range m {
		m[i] = make([]int, 10)
		m[i][i] = 980
		m[i][(i+1)%10] = 3
	}
	m[4] = make([]int, 10) // a class with no samples
	path := filepath.Join(dir, "confusion.png")
	if err := Confusion(path, "test", m); err != nil {
		t.Fatal(err)
	}
	decode(t, path, 576, 576) // 6 × 6 inches at 96 dpi
	if err := Confusion(filepath.Join(dir, "bad.png"), "bad", [][]int{{1, 2}, {3}}); err == nil {
		t.Error("a ragged matrix drew without error")
	}
}
