package common

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/diag"
)

// MaxInputBytes bounds the YAML a converter reads (also `flow run
// --config.format`): Prometheus, Promtail and Grafana Agent configs are
// kilobytes, rarely a megabyte.
const MaxInputBytes = 8 << 20

// MaxYAMLDepth bounds the nesting of the YAML tree the converters walk.
const MaxYAMLDepth = 64

// ParseYAML parses src into its top-level node: a mapping, or nil for an
// empty document. Errors are Critical diagnostics with the line yaml.v3
// names.
func ParseYAML(file string, src []byte) (*yaml.Node, diag.Diagnostics) {
	if len(src) > MaxInputBytes {
		return nil, diag.Diagnostics{{Severity: diag.Critical, File: file,
			Summary: fmt.Sprintf("the file is %d bytes, more than the %d a config may have", len(src), MaxInputBytes),
			Hint:    "is this the right file?"}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, ErrorDiags(file, nil, err, "the file is not valid YAML")
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if depth(root, 0) > MaxYAMLDepth {
		return nil, diag.Diagnostics{{Severity: diag.Critical, File: file, Line: root.Line, Column: root.Column,
			Summary: fmt.Sprintf("the YAML is nested more than %d levels deep", MaxYAMLDepth)}}
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, diag.Diagnostics{{Severity: diag.Critical, File: file, Line: root.Line, Column: root.Column,
			Summary: "the file must be a YAML mapping (key: value lines) at the top level"}}
	}
	return root, nil
}

func depth(n *yaml.Node, d int) int {
	if d > MaxYAMLDepth {
		return d
	}
	m := d
	for _, c := range n.Content {
		m = max(m, depth(c, d+1))
	}
	return m
}

// Key returns the key and value nodes of key in mapping m, or nils.
func Key(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// Value returns the value node of key in mapping m, or nil.
func Value(m *yaml.Node, key string) *yaml.Node {
	_, v := Key(m, key)
	return v
}

// Items returns the items of sequence n (nil for anything else).
func Items(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// Item returns item i of sequence n, or nil.
func Item(n *yaml.Node, i int) *yaml.Node {
	items := Items(n)
	if i < 0 || i >= len(items) {
		return nil
	}
	return items[i]
}

// Pairs calls f for every key of mapping m, in order.
func Pairs(m *yaml.Node, f func(k, v *yaml.Node)) {
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		f(m.Content[i], m.Content[i+1])
	}
}

// IsNull reports whether n is absent or an explicit null (`key:` with nothing).
func IsNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

var lineRE = regexp.MustCompile(`line (\d+)(?::(\d+))?: (.*)`)
var fieldRE = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// ErrorDiags turns a YAML decoding error (yaml.v2's or yaml.v3's, which name
// lines as "line N: …", possibly several) into Critical diagnostics. With
// root, an unknown field's column is found by looking the key up on its line.
func ErrorDiags(file string, root *yaml.Node, err error, context string) diag.Diagnostics {
	var out diag.Diagnostics
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		d := diag.Diagnostic{Severity: diag.Critical, File: file, Summary: context + ": " + line}
		if m := lineRE.FindStringSubmatch(line); m != nil {
			d.Line, _ = strconv.Atoi(m[1])
			if m[2] != "" {
				d.Column, _ = strconv.Atoi(m[2])
			}
			d.Summary = context + ": " + m[3]
			if f := fieldRE.FindStringSubmatch(m[3]); f != nil {
				d.Summary = fmt.Sprintf("%s: unknown field %q (in %s)", context, f[1], f[2])
				if k := findKeyOnLine(root, f[1], d.Line); k != nil {
					d.Column = k.Column
					d.Hint = suggestSibling(root, k)
				}
				if d.Hint == "" {
					d.Hint = "check the spelling and the indentation: the field may belong to another section"
				}
			}
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		out = append(out, diag.Diagnostic{Severity: diag.Critical, File: file, Summary: context})
	}
	return out
}

func findKeyOnLine(n *yaml.Node, key string, line int) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Line == line && k.Value == key {
				return k
			}
		}
	}
	for _, c := range n.Content {
		if k := findKeyOnLine(c, key, line); k != nil {
			return k
		}
	}
	return nil
}

// suggestSibling proposes the closest known field name, or says to check
// the spelling.
func suggestSibling(_ *yaml.Node, k *yaml.Node) string {
	if s := SuggestField(k.Value); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return fmt.Sprintf("remove %q or fix its spelling; see the upstream documentation for the fields this section takes", k.Value)
}

// DecodeStrict decodes the source's working copy (placeholders masked,
// stripped fields gone, every line where it was) into v with yaml.v3,
// refusing unknown fields: a misspelt or misplaced key is a Critical
// diagnostic at its line and column, with a "did you mean". Upstream types
// inside v (Prometheus' relabel and discovery configs) are decoded by their
// own UnmarshalYAML, under the same strictness.
func (s *Source) DecodeStrict(v any, context string) diag.Diagnostics {
	dec := yaml.NewDecoder(bytes.NewReader(s.Text()))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		ds := ErrorDiags(s.File, s.Root, err, context)
		for i := range ds {
			ds[i].Summary = s.Restore(ds[i].Summary)
		}
		return ds
	}
	return nil
}

// ItemOf returns list[i], or nil.
func ItemOf(list []*yaml.Node, i int) *yaml.Node {
	if i < 0 || i >= len(list) {
		return nil
	}
	return list[i]
}
