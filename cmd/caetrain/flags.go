// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

var (
	errHelp      = errors.New("help requested")
	errFlagParse = errors.New("bad flags")
)

// parseFlags parses args with fs, printing problems and usage to stderr.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errFlagParse
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (flags start with -; see -h)", fs.Arg(0))
	}
	return nil
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// parseArch parses "784,64,32,16" or "64,32,16" (see resolveArch).
func parseArch(s string) ([]int, error) {
	var arch []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--arch %q: want comma-separated positive widths from the input to the code, e.g. 784,64,32,16", s)
		}
		arch = append(arch, n)
	}
	return arch, nil
}

func formatArch(a []int) string {
	s := make([]string, len(a))
	for i, v := range a {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}
