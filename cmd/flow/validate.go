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
// running any component. Each argument is checked as its own graph, exactly as
// `flow run ARG` would load it: a file alone, or a directory whose files form
// one graph. (Checking `flow validate examples/*.river` as one graph would
// report the examples' shared labels as duplicates.)
func validateCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf runFlags
	fs.StringVar(&rf.configFormat, "config.format", "river", "format of the files: river, or prometheus, promtail, static (converted first, as flow run --config.format)")
	fs.BoolVar(&rf.bypassConversionErrors, "config.bypass-conversion-errors", false, "with --config.format, validate what could be converted despite conversion errors")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flow validate [--config.format=FORMAT] FILE|DIR...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 || !configFormatValid(rf.configFormat) {
		fs.Usage()
		return 2
	}
	errs, nfiles := 0, 0
	for _, path := range fs.Args() {
		files, err := rf.readConfig(path, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "flow validate: %v\n", err)
			errs++
			continue
		}
		nfiles += len(files)
		// The environment (sys.env) is the running machine's, not this
		// one's: a value read from it is not a validation error.
		rt := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler), UnknownEnvironment: true})
		diags := rt.Validate(files)
		syntax.FormatDiagnostics(stderr, files, diags)
		errs += len(diags.Errs())
	}
	if errs > 0 {
		fmt.Fprintf(stderr, "%d error(s) in %d file(s)\n", errs, nfiles)
		return 1
	}
	fmt.Fprintf(stdout, "config valid (%d file(s))\n", nfiles)
	return 0
}
