// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// usageError marks an error as the user's: it exits 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errInterrupted is returned when a signal stopped training.
var errInterrupted = errors.New("interrupted")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it never lets a panic escape.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "caetrain: internal error: %v\n(please report it with the command line you ran)\n", r)
			if os.Getenv("CAETRAIN_DEBUG") != "" {
				stderr.Write(debug.Stack())
			}
			code = exitFailure
		}
	}()
	var err error
	switch {
	case len(args) > 0 && args[0] == "eval":
		err = evalMain(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "finetune":
		err = finetuneMain(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "encode":
		err = encodeMain(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "probe":
		err = probeMain(stdout)
	case len(args) > 0 && args[0] == "train":
		err = trainMain(args[1:], stdout, stderr)
	case len(args) > 0 && (args[0] == "help"):
		topUsage(stdout)
		return exitOK
	default:
		err = trainMain(args, stdout, stderr)
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, errFlagParse):
		return exitUsage // the flag package already printed the problem and usage
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "caetrain: %v\n", err)
		return exitUsage
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(stderr, "caetrain: %v\n", err)
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "caetrain: %v\n", err)
		return exitFailure
	}
}

func topUsage(w io.Writer) {
	fmt.Fprint(w, `usage: caetrain [train] [flags]            train a contractive autoencoder (default)
       caetrain eval --model DIR [flags]      evaluate a trained model and write a report
       caetrain encode --model DIR --out FILE write the codes of a data set (.safetensors or .npy)
       caetrain finetune --model DIR [flags]  fine-tune a CAE's encoder into a classifier (test error)
       caetrain probe                         (GPU builds) print the GPU this build would use
Run 'caetrain -h', 'caetrain eval -h', 'caetrain encode -h' or 'caetrain finetune -h' for the flags.
`)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
		return bi.Main.Version
	}
	return ""
}
