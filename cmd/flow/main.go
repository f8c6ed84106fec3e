// Command flow runs telemetry pipelines written in River.
//
//	flow run [flags] PATH       run the config in PATH (a file, or a directory of .river/.alloy files)
//	flow fmt [-w] FILE...       print (or, with -w, rewrite) files in canonical layout
//	flow validate FILE...       check configs without running anything
//	flow convert [flags] FILE   convert Prometheus, Promtail or Grafana Agent static-mode YAML to River
//	flow version                print the version
//
// `flow run` is a github.com/oklog/run group of three actors: the HTTP
// server (control plane, API and UI), the component runtime, and a signal
// handler (SIGINT/SIGTERM stop, SIGHUP reloads the config from disk).
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	_ "github.com/flow-telemetry/flow/components/all"
	"github.com/flow-telemetry/flow/internal/build"
)

func main() {
	os.Exit(flowMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: flow <command> [arguments]

commands:
  run [flags] PATH     run the config in PATH (a .river/.alloy file, or a directory of them)
  fmt [-w] FILE...     format files in canonical layout (stdin when no FILE)
  validate FILE...     check configs (files or directories) without running them
  convert [flags] FILE convert Prometheus, Promtail or Grafana Agent YAML to River
  version              print the version

Run 'flow <command> -h' for a command's flags.
`

// flowMain dispatches a command line and returns the process exit code.
func flowMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stderr)
	case "fmt":
		return fmtCommand(args[1:], stdin, stdout, stderr)
	case "validate":
		return validateCommand(args[1:], stdout, stderr)
	case "convert":
		return convertCommand(args[1:], stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "flow %s\n", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "flow: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// versionString is the build's version (see internal/build) and the Go
// toolchain it was built with.
func versionString() string {
	return build.Version() + " " + runtime.Version()
}
