package runtime

import (
	"bytes"
	"fmt"
	"sort"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/decode"
	"github.com/flow-telemetry/flow/syntax/stdlib"
)

// This file is the runtime's whole use of the language packages, so the rest
// of the runtime reads as graph and scheduling code.

func parseFile(src []byte, filename string) (*syntax.File, hcl.Diagnostics) {
	return syntax.ParseFile(src, filename)
}

// parseConfig parses the files of one config, in name order, within the
// size and syntax-tree limits of the config as a whole (syntax.MaxConfigBytes,
// syntax.TreeBudget). A file whose source is byte for byte that of one in
// prev (the running config's) is not parsed again: its tree is shared, as
// nothing modifies a syntax tree once parsed, and parsing it again could only
// give the same tree without errors.
func parseConfig(files map[string][]byte, prev []*syntax.File) ([]*syntax.File, hcl.Diagnostics) {
	if d := syntax.ConfigTooLarge(files); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	names := make([]string, 0, len(files))
	total := 0
	for n, src := range files {
		names = append(names, n)
		total += len(src)
	}
	sort.Strings(names)
	budget := syntax.NewTreeBudget(total)
	var parsed []*syntax.File
	var diags hcl.Diagnostics
	old := make(map[string]*syntax.File, len(prev))
	for _, f := range prev {
		old[f.Name] = f
	}
	for _, name := range names {
		if f := old[name]; f != nil && bytes.Equal(f.Bytes, files[name]) {
			parsed = append(parsed, f)
			continue
		}
		f, d := syntax.ParseFileIn(files[name], name, budget)
		diags = append(diags, d...)
		if f != nil {
			parsed = append(parsed, f)
		}
	}
	return parsed, diags
}

// masked is an attribute expression not shown as written (a secret, or a URL
// with credentials) and the text shown in its place.
type masked = decode.Masked

// decodeBody decodes block into target (a pointer to an Arguments struct),
// appending the attributes holding secrets to secrets.
// With placeholders, values not known yet get placeholders
// (decode.Placeholders).
func decodeBody(block *syntax.Block, ctx *hcl.EvalContext, target any, secrets *[]masked, placeholders bool, opts ...decode.Option) hcl.Diagnostics {
	if placeholders {
		return decode.Block(block, ctx, target, decode.SecretRanges(secrets), decode.Placeholders())
	}
	if len(opts) == 0 {
		return decode.Block(block, ctx, target, decode.SecretRanges(secrets))
	}
	return decode.Block(block, ctx, target, append(opts, decode.SecretRanges(secrets))...)
}

// encodeValue encodes arguments, exports or debug info as cty values.
func encodeValue(v any) (out cty.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("encoding %T: %v", v, p)
		}
	}()
	return decode.Encode(v), nil
}

// argsEqual reports whether two Arguments (or Exports) values encode to
// equal values, without encoding them (decode.Equal): an Update is skipped
// when they are.
func argsEqual(a, b any) bool { return decode.Equal(a, b) }

// stdlibContext is the parent of every component's context. One shared
// context suffices: evaluation only reads it.
var stdlibContext = sync.OnceValue(stdlib.EvalContext)

// stdlibUnknownEnv is stdlibContext with sys.env unknown
// (Options.UnknownEnvironment).
var stdlibUnknownEnv = sync.OnceValue(stdlib.EvalContextUnknownEnvironment)

// stdlib is the parent context of r's component contexts.
func (r *Runtime) stdlib() *hcl.EvalContext {
	if r.opts.UnknownEnvironment {
		return stdlibUnknownEnv()
	}
	return stdlibContext()
}

// evalBudget bounds the work of evaluating a config of size bytes, or one
// component's block (see syntax.EvalBudget).
func evalBudget(size int) *syntax.EvalBudget { return syntax.NewEvalBudget(size) }

// setBudget makes evaluations in ctx, which must be a context of the
// runtime's own making, spend b.
func setBudget(ctx *hcl.EvalContext, b *syntax.EvalBudget) { syntax.SetBudget(ctx, b) }

// maxErrors is where validating a config stops: a config of a hundred
// thousand bad components would otherwise make as many diagnostics.
const maxErrors = syntax.MaxErrors

func countErrors(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

func tooManyErrors(n int, at string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("too many errors; only the first %d are reported, and %s and the components after it are not checked", n, at),
		Subject:  rng.Ptr(),
	}
}
