// Package syntax parses River files into an AST whose expressions are
// hcl.Expression values: references are hcl.Traversals, evaluation goes through
// an hcl.EvalContext holding cty values and functions, and errors are
// hcl.Diagnostics with source ranges. Decoding into Go structs lives in
// syntax/decode, formatting in syntax/format, the standard library in
// syntax/stdlib, and secret and capsule types in syntax/value.
//
// The API:
//
//	ParseFile(src []byte, filename string) (*File, hcl.Diagnostics)
//	ParseExpression(src []byte, filename string, start hcl.Pos) (hcl.Expression, hcl.Diagnostics)
//	FormatDiagnostics(w io.Writer, files map[string][]byte, diags hcl.Diagnostics)
package syntax
