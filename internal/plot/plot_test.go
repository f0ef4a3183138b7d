// SPDX-License-Identifier: Apache-2.0

package plot

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// decode checks that path is a PNG of the given size in pixels.
func decode(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s is %d×%d, want %d×%d", path, b.Dx(), b.Dy(), w, h)
	}
}

func TestFigureWritePNG(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		fig     Figure
		wantErr string // empty: success
	}{
		{"linear", Figure{Title: "t", XLabel: "x", YLabel: "y", Series: []Series{
			{Name: "a", X: []float64{1, 2, 3}, Y: []float64{3, 1, 2}},
			{Name: "b", X: []float64{1, 2, 3}, Y: []float64{0, -1, 5}, Points: true},
		}}, ""},
		// Zero and negative values cannot sit on a log axis: dropped.
		{"log with zeros", Figure{LogX: true, LogY: true, Series: []Series{
			{Name: "a", X: []float64{0, 0.01, 0.1, 1, 10}, Y: []float64{1, 0.5, 0, 0.2, 0.1}},
		}}, ""},
		// A log range inside one decade is widened so that it has a tick.
		{"narrow log range", Figure{LogY: true, Series: []Series{{X: []float64{1, 2}, Y: []float64{5, 6}}}}, ""},
		{"nothing left", Figure{LogY: true, Series: []Series{{X: []float64{1}, Y: []float64{0}}}}, "nothing to draw"},
		{"no series", Figure{}, "nothing to draw"},
		{"ragged", Figure{Series: []Series{{Name: "r", X: []float64{1, 2}, Y: []float64{1}}}}, `"r"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".png")
			err := tc.fig.WritePNG(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Errorf("error %v, want one naming %s and saying %q", err, path, tc.wantErr)
				}
				if _, err := os.Stat(path); err == nil {
					t.Errorf("%s was written despite the error", path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			decode(t, path, 576, 384) // 6 × 4 inches at gonum/plot's 96 dpi
		})
	}
	if err := (Figure{Width: 3, Height: 2, Series: []Series{{X: []float64{1, 2}, Y: []float64{1, 2}}}}).WritePNG(filepath.Join(dir, "small.png")); err != nil {
		t.Fatal(err)
	}
	decode(t, filepath.Join(dir, "small.png"), 288, 192)
}

const metrics = `{"event":"log","epoch":1,"step":5,"loss":300,"recon":290,"penalty":100,"seconds":0.1}
{"event":"log","epoch":1,"step":10,"loss":200,"recon":195,"penalty":50,"seconds":0.2}
{"event":"epoch","epoch":1,"step":12,"loss":250,"recon":240,"penalty":80,"seconds":0.3,"test_recon":190,"test_jacobian_fro":3}
{"event":"final","epoch":1,"step":12,"loss":250,"recon":240,"penalty":80,"seconds":0.3,"test_recon":190,"test_jacobian_fro":3}
`

func TestLossCurve(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, body string
		wantErr    string
	}{
		{"run", metrics, ""},
		{"epochs only", `{"event":"epoch","step":3,"loss":2,"recon":2,"test_recon":1.5}` + "\n", ""},
		{"lambda zero", strings.ReplaceAll(metrics, `"loss":300,"recon":290`, `"loss":290,"recon":290`), ""},
		{"empty", "", "no loss values"},
		{"not json", metrics + "oops\n", ":5:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := write(strings.ReplaceAll(tc.name, " ", "_")+".jsonl", tc.body)
			png := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".png")
			err := LossCurve(m, png)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), m) {
					t.Errorf("error %v, want one naming %s and saying %q", err, m, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			decode(t, png, 576, 384)
		})
	}
	if err := LossCurve(filepath.Join(dir, "missing.jsonl"), filepath.Join(dir, "x.png")); err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("a missing file gave %v", err)
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		labels []string
	}{
		{0.01, 10, []string{"0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10"}},
		{0.2, 0.9, []string{"0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"}},
		{1e-6, 1e3, []string{"1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1", "10", "100", "1000"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tk := range (logTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.labels, " ") {
			t.Errorf("Ticks(%v, %v) labels %q, want %q", tc.lo, tc.hi, got, tc.labels)
		}
	}
}
