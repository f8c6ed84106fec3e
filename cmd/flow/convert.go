package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/flow-telemetry/flow/internal/converter"
	"github.com/flow-telemetry/flow/internal/converter/common"
	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/syntax"
)

// convertFlags are `flow convert`'s flags, named as `alloy convert`'s.
type convertFlags struct {
	sourceFormat string
	output       string
	report       string
	bypassErrors bool
	extraArgs    string
}

// convertCommand is `flow convert`: a Prometheus, Promtail or Grafana Agent
// static-mode YAML file in, a River config out (stdout or -o), with
// diagnostics on stderr and, with --report, in a file.
func convertCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var f convertFlags
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	formats := strings.Join(converter.Formats, ", ")
	for _, n := range []string{"source-format", "f"} {
		fs.StringVar(&f.sourceFormat, n, "", "the format of FILE: "+formats+" (required)")
	}
	for _, n := range []string{"output", "o"} {
		fs.StringVar(&f.output, n, "", "write the River config to this file instead of stdout")
	}
	for _, n := range []string{"report", "r"} {
		fs.StringVar(&f.report, n, "", "write a report of every diagnostic to this file")
	}
	for _, n := range []string{"bypass-errors", "b"} {
		fs.BoolVar(&f.bypassErrors, n, false, "write the config even if some of the input could not be converted")
	}
	for _, n := range []string{"extra-args", "e"} {
		fs.StringVar(&f.extraArgs, n, "", "command-line flags the original program ran with (supported: -config.expand-env)")
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flow convert --source-format=prometheus|promtail|static [-o OUT] [--report=FILE] [--bypass-errors] [FILE]")
		fmt.Fprintln(stderr, "FILE is read from stdin when absent or \"-\". Flags may come before or after FILE.")
		fs.PrintDefaults()
	}
	pos, ok := parseInterleaved(fs, args)
	if !ok {
		return 2
	}
	if len(pos) > 1 || f.sourceFormat == "" {
		if f.sourceFormat == "" {
			fmt.Fprintf(stderr, "flow convert: --source-format is required (%s)\n", formats)
		}
		fs.Usage()
		return 2
	}
	name := "-"
	if len(pos) == 1 {
		name = pos[0]
	}
	src, file, err := readConvertInput(name, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "flow convert: %v\n", err)
		return 1
	}
	out, diags := convertSource(f.sourceFormat, file, src, f.extraArgs)
	if len(diags) > 0 {
		files := map[string][]byte{file: src}
		syntax.FormatDiagnostics(stderr, files, diags.HCL(files))
	}
	if f.report != "" {
		if err := writeReport(f.report, diags, f.bypassErrors); err != nil {
			fmt.Fprintf(stderr, "flow convert: writing the report: %v\n", err)
			return 1
		}
	}
	if out == nil || diags.Blocking(f.bypassErrors) {
		switch {
		case diags.Has(diag.Critical):
			fmt.Fprintln(stderr, "flow convert: nothing was converted: fix the critical errors above")
		default:
			fmt.Fprintln(stderr, "flow convert: not everything could be converted (errors above); pass --bypass-errors to write the rest")
		}
		return 1
	}
	if f.output == "" {
		_, _ = stdout.Write(out)
		return 0
	}
	// The config may hold passwords and keys from the YAML: readable by its
	// owner only, as the YAML usually is.
	if err := writeFileAtomic(f.output, out, 0o600); err != nil {
		fmt.Fprintf(stderr, "flow convert: %v\n", err)
		return 1
	}
	return 0
}

// convertSource applies the extra args and converts.
func convertSource(format, file string, src []byte, extraArgs string) ([]byte, diag.Diagnostics) {
	expand, diags := parseExtraArgs(extraArgs)
	if diags.Has(diag.Critical) {
		return nil, diags
	}
	if expand {
		src = []byte(os.Expand(string(src), func(k string) string {
			if k == "$" {
				return "$"
			}
			return os.Getenv(k)
		}))
	}
	out, more := converter.Convert(format, file, src)
	return out, append(diags, more...)
}

// parseExtraArgs reads --extra-args: the flags Grafana Agent or Promtail
// ran with. Only -config.expand-env changes the conversion (it expands
// ${VAR} in the YAML first, as those programs did); any other flag is
// reported so it is not forgotten.
func parseExtraArgs(s string) (expand bool, diags diag.Diagnostics) {
	for _, a := range strings.Fields(s) {
		name, val, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case name == "config.expand-env" && (val == "" || val == "true"):
			expand = true
		case name == "config.expand-env" && val == "false":
		case name == "config.file":
			diags.Add(diag.Diagnostic{Severity: diag.Info, Summary: "extra arg " + a + " is not needed: give the file as flow convert's argument"})
		default:
			diags.Add(diag.Diagnostic{Severity: diag.Warning, Summary: "extra arg " + a + " is not converted",
				Hint: "set the equivalent flow run flag or River argument by hand"})
		}
	}
	return expand, diags
}

// readConvertInput reads FILE, or stdin for "-", bounded by
// common.MaxInputBytes.
func readConvertInput(name string, stdin io.Reader) ([]byte, string, error) {
	r, file := stdin, "<stdin>"
	if name != "-" {
		fi, err := os.Stat(name)
		if err != nil {
			return nil, "", err
		}
		if fi.IsDir() {
			return nil, "", fmt.Errorf("%s is a directory: convert one YAML file at a time", name)
		}
		fh, err := os.Open(name)
		if err != nil {
			return nil, "", err
		}
		defer fh.Close()
		r, file = fh, name
	}
	src, err := io.ReadAll(io.LimitReader(r, common.MaxInputBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", file, err)
	}
	if len(src) > common.MaxInputBytes {
		return nil, "", fmt.Errorf("%s is larger than %d bytes; a config that size is not a config", file, common.MaxInputBytes)
	}
	return src, file, nil
}

func writeReport(path string, diags diag.Diagnostics, bypass bool) error {
	var sb strings.Builder
	if err := diags.WriteReport(&sb, bypass); err != nil {
		return err
	}
	return writeFileAtomic(path, []byte(sb.String()), 0o644)
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path, so a crash never leaves half a config.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// parseInterleaved parses flags that may come before or after the
// positional arguments (`flow convert in.yaml -o out.river`), as cobra does
// for `alloy convert`. A lone "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, true
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// configFormats are what `flow run --config.format` accepts: River (also
// spelled alloy) and the converter's source formats.
func configFormatValid(f string) bool {
	if f == "river" || f == "alloy" || f == "" {
		return true
	}
	for _, s := range converter.Formats {
		if s == f {
			return true
		}
	}
	return false
}

// errConversion is returned by readConvertedConfig when diagnostics block
// the conversion; they were already written.
var errConversion = errors.New("the config could not be converted")

// readConvertedConfig reads PATH in a YAML format and converts it, as `flow
// run --config.format` does at start and on every reload. The River config
// is keyed by PATH + ".river" in the returned files, so diagnostics and the
// API name what was generated from which file.
func readConvertedConfig(path, format string, bypass bool, extraArgs string, stderr io.Writer) (map[string][]byte, error) {
	src, file, err := readConvertInput(path, nil)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	out, diags := convertSource(format, file, src, extraArgs)
	if len(diags) > 0 && stderr != nil {
		files := map[string][]byte{file: src}
		syntax.FormatDiagnostics(stderr, files, diags.HCL(files))
	}
	if out == nil || diags.Blocking(bypass) {
		hint := ""
		if !diags.Has(diag.Critical) {
			hint = "; pass --config.bypass-conversion-errors to run what could be converted"
		}
		return nil, fmt.Errorf("%w from --config.format=%s (%d error(s), shown above)%s", errConversion, format, diags.Count(diag.Error)+diags.Count(diag.Critical), hint)
	}
	return map[string][]byte{path + ".river": out}, nil
}

// readConfig reads PATH as `flow run` was told to: River, or YAML converted
// on the fly with --config.format.
func (f runFlags) readConfig(path string, stderr io.Writer) (map[string][]byte, error) {
	if f.configFormat == "" || f.configFormat == "river" || f.configFormat == "alloy" {
		return readConfig(path)
	}
	return readConvertedConfig(path, f.configFormat, f.bypassConversionErrors, f.configExtraArgs, stderr)
}
