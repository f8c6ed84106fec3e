package decode

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

// suggest returns the candidate closest to name, if it is close enough to be
// a likely typo (as HCL does: an edit distance under 3), or "".
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// levenshtein is the edit distance between a and b, counted in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
