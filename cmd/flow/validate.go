package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/syntax"
)

// validateCommand checks configs the way `flow run` loads them (parse,
// graph, evaluation and decoding of every component) without building or
// running any component. Several files or directories form one graph.
func validateCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flow validate FILE|DIR...")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	files, err := readConfigs(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "flow validate: %v\n", err)
		return 1
	}
	rt := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler)})
	diags := rt.Validate(files)
	syntax.FormatDiagnostics(stderr, files, diags)
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "%d error(s) in %d file(s)\n", len(diags.Errs()), len(files))
		return 1
	}
	fmt.Fprintf(stdout, "config valid (%d file(s))\n", len(files))
	return 0
}
