// Package syntax parses River files into an AST whose expressions are
// hcl.Expression values: references are hcl.Traversals, evaluation goes through
// an hcl.EvalContext holding cty values and functions, and errors are
// hcl.Diagnostics with source ranges. Decoding into Go structs lives in
// syntax/decode, formatting in syntax/format, the standard library in
// syntax/stdlib, and secret and capsule types in syntax/value.
//
// The API:
//
//	Scan(src []byte, filename string) ([]Token, hcl.Diagnostics)
//	ParseFile(src []byte, filename string) (*File, hcl.Diagnostics)
//	ParseExpression(src []byte, filename string, start hcl.Pos) (hcl.Expression, hcl.Diagnostics)
//	FormatDiagnostics(w io.Writer, files map[string][]byte, diags hcl.Diagnostics)
//	DiagnosticsString(files map[string][]byte, diags hcl.Diagnostics) string
//	DiagnosticLine(d *hcl.Diagnostic) string
//	Suggest(name string, candidates []string) string
//
// The language, where it differs from HCL's native syntax: block names are
// dotted (`discovery.aws.ec2 "label" { }`) with at most one label, which may
// be any string; strings never interpolate ("${1}" is literal text); raw
// strings use backticks; comments are //, # and /* */; `^` is power; `+`
// also joins strings; indexing a missing object key gives null; a function
// is looked up by its full dotted name ("string.format") in ctx.Functions.
//
// Files are split by job: token.go and scanner.go make tokens, parser.go the
// AST (ast.go, expr.go), eval.go evaluates expressions, diag.go renders
// diagnostics and suggest.go proposes names for "did you mean".
package syntax
