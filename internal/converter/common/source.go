package common

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/diag"
)

// Source is a YAML file being converted: its node tree (for positions and
// for finding what is set) and a working copy of its text that upstream
// decoders read. The working copy keeps every line where it was, so the
// line:col in an upstream library's error is the line:col in the user's
// file, while two kinds of rewriting happen in place:
//
//   - Placeholders such as <YOUR_AWS_REGION> (the seed article's) are
//     masked with same-length tokens that survive URL and host parsing, and
//     put back in every string of the output (Restore).
//   - Fields the converter handles itself (the article's variants, discovery
//     mechanisms flow lacks) are blanked out (Strip), so the upstream
//     decoder never sees them.
type Source struct {
	File string
	// Root is the top-level mapping, nil for an empty file.
	Root *yaml.Node

	text     [][]byte // working copy, one slice per line
	restore  *strings.Replacer
	sentinel map[string]string // placeholder -> token
	stripped map[*yaml.Node]bool
}

// Stripped reports whether key node k was removed by Strip (its
// converter handled or reported it already).
func (s *Source) Stripped(k *yaml.Node) bool { return s.stripped[k] }

// placeholderRE matches <UPPER_CASE> placeholders, but not a regex's named
// group (?P<NAME>…) or (?<NAME>…).
var placeholderRE = regexp.MustCompile(`<[A-Z][A-Z0-9_]*>`)

// NewSource reads src. Critical diagnostics mean there is nothing to convert.
func NewSource(file string, src []byte) (*Source, diag.Diagnostics) {
	s := &Source{File: file, sentinel: map[string]string{}}
	masked, pairs := s.maskPlaceholders(src)
	root, diags := ParseYAML(file, masked)
	if diags.Has(diag.Critical) {
		return nil, diags
	}
	s.Root = root
	s.text = bytes.Split(masked, []byte("\n"))
	s.restore = strings.NewReplacer(pairs...)
	s.warnPlaceholders(root, &diags)
	return s, diags
}

func (s *Source) maskPlaceholders(src []byte) ([]byte, []string) {
	prefix := "phz"
	for _, p := range []string{"phz", "pqx", "zqj", "xjq"} {
		if !bytes.Contains(src, []byte(p)) {
			prefix = p
			break
		}
	}
	var pairs []string
	out := append([]byte(nil), src...)
	for _, loc := range placeholderRE.FindAllIndex(src, -1) {
		if loc[0] >= 2 && (string(src[loc[0]-2:loc[0]]) == "?P" || src[loc[0]-1] == '?') {
			continue
		}
		ph := string(src[loc[0]:loc[1]])
		tok, ok := s.sentinel[ph]
		if !ok {
			tok = fmt.Sprintf("%s%dz", prefix, len(s.sentinel))
			for len(tok) < len(ph) {
				tok += "q"
			}
			s.sentinel[ph] = tok
			pairs = append(pairs, tok, ph)
		}
		if len(tok) == len(ph) {
			copy(out[loc[0]:loc[1]], tok)
		}
	}
	// Tokens longer than their placeholder (only for very short ones such
	// as <A>) shift the rest of their line: replace them in a second pass.
	for ph, tok := range s.sentinel {
		if len(tok) != len(ph) {
			out = bytes.ReplaceAll(out, []byte(ph), []byte(tok))
		}
	}
	return out, pairs
}

// warnPlaceholders reports every value holding a placeholder, once per
// placeholder and line.
func (s *Source) warnPlaceholders(n *yaml.Node, diags *diag.Diagnostics) {
	if n == nil || len(s.sentinel) == 0 {
		return
	}
	if n.Kind == yaml.ScalarNode {
		for _, ph := range slices.Sorted(maps.Keys(s.sentinel)) { // a stable report
			if strings.Contains(n.Value, s.sentinel[ph]) {
				diags.Add(diag.Diagnostic{Severity: diag.Warning, File: s.File, Line: n.Line, Column: n.Column,
					Summary: fmt.Sprintf("placeholder %s is carried over as is", ph),
					Hint:    "replace it with a real value before running the converted config"})
			}
		}
	}
	for _, c := range n.Content {
		s.warnPlaceholders(c, diags)
	}
}

// Restore puts placeholders back into a string taken from the decoded config.
func (s *Source) Restore(v string) string {
	if s == nil || s.restore == nil {
		return v
	}
	return s.restore.Replace(v)
}

// Text returns the working copy of the file.
func (s *Source) Text() []byte { return bytes.Join(s.text, []byte("\n")) }

// Strip removes key k and its value v from the working copy, keeping every
// other line where it is. The key's line keeps what precedes the key (a
// sequence item's "- "), so stripping an item's first key leaves a valid
// item. It reports false when the key cannot be cut out by lines (it shares
// a line with a sibling, as in a flow mapping {a: 1, b: 2}).
func (s *Source) Strip(k, v *yaml.Node) bool {
	if k == nil || k.Line < 1 || k.Line > len(s.text) {
		return false
	}
	end := EndLine(v)
	if end < k.Line {
		end = k.Line
	}
	if k.Style&yaml.FlowStyle != 0 || (v != nil && v.Line == k.Line && v.Style&yaml.FlowStyle != 0 && end > k.Line) {
		return false
	}
	line := s.text[k.Line-1]
	col := k.Column - 1
	if col > len(line) {
		return false
	}
	// A flow mapping's key: something other than "- " or spaces before it.
	for _, c := range line[:col] {
		if c != ' ' && c != '-' && c != '\t' {
			return false
		}
	}
	if s.stripped == nil {
		s.stripped = map[*yaml.Node]bool{}
	}
	s.stripped[k] = true
	s.text[k.Line-1] = bytes.TrimRight(line[:col], " \t")
	for l := k.Line + 1; l <= end && l <= len(s.text); l++ {
		s.text[l-1] = nil
	}
	return true
}

// EndLine is the last line a node's text occupies (a literal block scalar
// spans several).
func EndLine(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	end := n.Line
	if n.Kind == yaml.ScalarNode && (n.Style&(yaml.LiteralStyle|yaml.FoldedStyle)) != 0 {
		end = n.Line + strings.Count(strings.TrimRight(n.Value, "\n"), "\n") + 1
	}
	for _, c := range n.Content {
		end = max(end, EndLine(c))
	}
	return end
}
