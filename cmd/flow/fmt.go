package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/format"
)

// fmtCommand formats files in the layout of alloy fmt: printed to stdout,
// rewritten in place with -w, or only checked with -t (as alloy fmt -t, for
// a CI gate). Invalid files are reported with their diagnostics and make the
// exit code 1; the others are still formatted.
func fmtCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fmt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	write := fs.Bool("w", false, "write the result to each file instead of printing it")
	test := fs.Bool("t", false, "print nothing; exit 1 naming each file that is not formatted")
	// alloy fmt's long names, so scripts written for it work unchanged.
	fs.BoolVar(write, "write", false, "same as -w")
	fs.BoolVar(test, "test", false, "same as -t")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flow fmt [-w | -t] FILE...  (reads stdin when no FILE is given, or for -)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	mode := fmtPrint
	switch {
	case *write && *test:
		fmt.Fprintln(stderr, "flow fmt: -w and -t cannot be used together")
		return 2
	case *write:
		mode = fmtWrite
	case *test:
		mode = fmtTest
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	code := 0
	for _, name := range files {
		if name == "-" && *write {
			fmt.Fprintln(stderr, "flow fmt: -w needs files to write, not standard input")
			return 2
		}
		src, err := readFmtInput(name, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "flow fmt: %v\n", err)
			code = 1
			continue
		}
		if name == "-" {
			name = "<stdin>"
		}
		if c := formatOne(name, src, mode, stdout, stderr); c != 0 {
			code = c
		}
	}
	return code
}

// readFmtInput reads a config file, or standard input for "-", refusing
// one larger than a config may be (syntax.MaxConfigBytes) before reading it
// all.
func readFmtInput(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	} else {
		name = "standard input"
	}
	src, err := io.ReadAll(io.LimitReader(r, syntax.MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(src) > syntax.MaxConfigBytes {
		return nil, fmt.Errorf("%s is larger than a config may be (%d MiB)", name, syntax.MaxConfigBytes>>20)
	}
	return src, nil
}

type fmtMode int

const (
	fmtPrint fmtMode = iota // print the result
	fmtWrite                // rewrite the file
	fmtTest                 // only report whether it is formatted
)

func formatOne(name string, src []byte, mode fmtMode, stdout, stderr io.Writer) int {
	out, diags := format.Format(src, name)
	if diags.HasErrors() {
		syntax.FormatDiagnostics(stderr, map[string][]byte{name: src}, diags)
		return 1
	}
	switch mode {
	case fmtPrint:
		_, _ = stdout.Write(out)
		return 0
	case fmtTest:
		if !bytes.Equal(out, src) {
			fmt.Fprintf(stderr, "flow fmt: %s is not formatted; flow fmt -w %s formats it\n", name, name)
			return 1
		}
		return 0
	}
	if bytes.Equal(out, src) {
		return 0
	}
	fi, err := os.Stat(name)
	if err != nil {
		fmt.Fprintf(stderr, "flow fmt: %v\n", err)
		return 1
	}
	if err := os.WriteFile(name, out, fi.Mode().Perm()); err != nil {
		fmt.Fprintf(stderr, "flow fmt: %v\n", err)
		return 1
	}
	return 0
}
