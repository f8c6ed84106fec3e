package runtime

import (
	"bytes"
	"slices"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/syntax"
)

// RestoreSecrets returns files with every attribute written as ConfigFiles
// shows a masked one ("(secret)", or a URL with its credentials masked)
// given back its running expression, where the running config has that
// masked attribute at the same place (same component ID, same nested block,
// same attribute name) shown the same way. ConfigFiles masks secrets; this
// lets a config fetched from the API be edited and posted back without
// losing them. An attribute the user changed (a URL given a new host) is
// taken as written. Files that do not parse are returned unchanged, for
// Load to report.
func (r *Runtime) RestoreSecrets(files map[string][]byte) map[string][]byte {
	g := r.graph.Load()
	var shown [][]byte // every masked text, to skip files holding none
	seen := map[string]bool{}
	for _, n := range g.nodes {
		for _, m := range n.secretRanges() {
			if !seen[m.Text] {
				seen[m.Text] = true
				shown = append(shown, []byte(m.Text))
			}
		}
	}
	out := make(map[string][]byte, len(files))
	for name, src := range files {
		out[name] = src
		if !slices.ContainsFunc(shown, func(t []byte) bool { return bytes.Contains(src, t) }) {
			continue
		}
		f, diags := parseFile(src, name)
		if diags.HasErrors() {
			continue
		}
		type edit struct {
			rng  hcl.Range
			text []byte
		}
		var edits []edit
		for _, b := range f.Body.Blocks() {
			live, ok := g.byID[b.ID()]
			if !ok {
				continue
			}
			live.st.mu.Lock()
			secrets := live.secretRanges()
			live.st.mu.Unlock()
			if len(secrets) == 0 {
				continue
			}
			liveSrc := g.files[live.block.NameRange.Filename]
			liveAttrs := attributePaths(live.block.Body, "")
			for path, a := range attributePaths(b.Body, "") {
				if a.Expr == nil {
					continue
				}
				la, ok := liveAttrs[path]
				if !ok || la.Expr == nil {
					continue
				}
				m, ok := maskedAt(secrets, la.Expr.Range())
				if !ok || !bytes.Equal(bytes.TrimSpace(a.Expr.Range().SliceBytes(src)), []byte(m.Text)) {
					continue
				}
				edits = append(edits, edit{a.Expr.Range(), la.Expr.Range().SliceBytes(liveSrc)})
			}
		}
		if len(edits) == 0 {
			continue
		}
		sort.Slice(edits, func(i, j int) bool { return edits[i].rng.Start.Byte > edits[j].rng.Start.Byte })
		buf := slices.Clone(src)
		for _, e := range edits {
			buf = slices.Concat(buf[:e.rng.Start.Byte], e.text, buf[e.rng.End.Byte:])
		}
		out[name] = buf
	}
	return out
}

// attributePaths indexes a body's attributes by a path of nested block names
// with their occurrence index: "endpoint[0].basic_auth[0].password".
func attributePaths(body *syntax.Body, prefix string) map[string]*syntax.Attribute {
	out := map[string]*syntax.Attribute{}
	seen := map[string]int{}
	for _, s := range body.Stmts {
		switch s := s.(type) {
		case *syntax.Attribute:
			out[prefix+s.Name] = s
		case *syntax.Block:
			k := s.Name
			if s.HasLabel {
				k += strconv.Quote(s.Label)
			}
			p := prefix + k + "[" + strconv.Itoa(seen[k]) + "]."
			seen[k]++
			for kk, a := range attributePaths(s.Body, p) {
				out[kk] = a
			}
		}
	}
	return out
}

// maskedAt returns the masked expression at exactly r.
func maskedAt(ms []masked, r hcl.Range) (masked, bool) {
	for _, m := range ms {
		x := m.Range
		if x.Filename == r.Filename && x.Start.Byte == r.Start.Byte && x.End.Byte == r.End.Byte {
			return m, true
		}
	}
	return masked{}, false
}
