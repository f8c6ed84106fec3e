package syntax

import (
	"strings"

	"github.com/agext/levenshtein"
)

// Suggest returns the candidate closest to name by edit distance, or "" if
// none is close enough to be the likely intent. It is for "did you mean"
// hints on misspelt attributes, components, references and functions.
//
// A candidate is close enough when at most max(2, len(name)/4) edits away and
// no more than half of name changes, so short names get no wild guesses. Case
// differences count as half an edit. Ties go to the earliest candidate.
func Suggest(name string, candidates []string) string {
	if name == "" {
		return ""
	}
	limit := max(2, len(name)/4)
	limit = min(limit, len(name)/2)
	lower := strings.ToLower(name)
	best, bestDist := "", 2*limit+1 // distances in half edits
	for _, c := range candidates {
		if c == name {
			continue
		}
		// Cheap length filter: the distance is at least the length difference.
		if d := len(c) - len(name); d > limit || -d > limit {
			continue
		}
		dist := 2 * levenshtein.Distance(lower, strings.ToLower(c), nil)
		if dist == 0 {
			dist = 1 // differs only in case
		}
		if dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}
