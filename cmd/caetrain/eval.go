// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/caetrain/caetrain/engine"
)

func evalMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("caetrain eval", flag.ContinueOnError)
	model := fs.String("model", "", "directory of a trained model (model.safetensors and config.json)")
	data := fs.String("data", "", "data directory (default: $CAETRAIN_DATA, /usr/share/datasets/fashion-mnist, else the embedded sample)")
	n := fs.Int("n", 0, "evaluate the first N test images (0: all)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: caetrain eval --model DIR [--data DIR] [--n N]

Prints one JSON object on stdout: test_recon (mean per-sample reconstruction
loss as configured), test_jacobian_fro (mean ‖J_h(x)‖_F), test_jacobian_fro2
(mean ‖J_h(x)‖²_F) and n, over the first N test images.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *model == "" {
		return usagef("eval: --model DIR is required")
	}
	if *n < 0 {
		return usagef("eval: --n %d: must not be negative", *n)
	}
	p, mc, err := engine.LoadModel(*model)
	if err != nil {
		return err
	}
	d, err := engine.LoadData(*data)
	if err != nil {
		return err
	}
	if d.Embedded {
		fmt.Fprintln(stderr, d.Notice)
	}
	if d.Test.Dim != mc.Arch[0] {
		return fmt.Errorf("eval: the model's input width %d does not match the data's %d values per sample (%s)", mc.Arch[0], d.Test.Dim, d.Source)
	}
	ev, err := engine.NewEvaluator(p)
	if err != nil {
		return err
	}
	defer ev.Close()
	res, err := ev.Evaluate(d.Test, *n)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(struct {
		TestRecon        float64 `json:"test_recon"`
		TestJacobianFro  float64 `json:"test_jacobian_fro"`
		TestJacobianFro2 float64 `json:"test_jacobian_fro2"`
		N                int     `json:"n"`
		Model            string  `json:"model"`
		Data             string  `json:"data"`
	}{res.Recon, res.JacobianFro, res.JacobianFro2, res.N, *model, d.Source})
}
