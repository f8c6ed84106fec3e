package decode

import "github.com/flow-telemetry/flow/syntax"

// names returns the river names of a struct's fields; block picks blocks
// (true), attributes (false) or both (nil).
func (st *structInfo) names(block *bool) []string {
	out := make([]string, 0, len(st.fields))
	for _, f := range st.fields {
		if block == nil || *block == f.block {
			out = append(out, f.name)
		}
	}
	return out
}

// suggest returns the candidate closest to name if it is a likely typo, using
// the same rule as every other "did you mean" in flow.
func suggest(name string, candidates []string) string {
	return syntax.Suggest(name, candidates)
}
