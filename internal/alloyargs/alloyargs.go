// Package alloyargs generates River configs that use every argument and
// block Alloy documents for a component, for tests that check flow accepts
// them all. The documented surface is a plain list (usually a testdata file
// transcribed from Alloy's reference tables):
//
//	# comment
//	region                      string
//	filter                      block
//	filter > name               string
//	oauth2 > tls_config > ca_pem string
//
// Arguments that Alloy itself forbids together (basic_auth and oauth2,
// ca_pem and ca_file, …) are declared as exclusive groups; Configs then
// returns as many configs as it takes for every listed argument to appear in
// at least one, each config valid on its own.
package alloyargs

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Arg is one documented argument or block.
type Arg struct {
	// Path is the argument's name with its enclosing blocks: "oauth2 >
	// tls_config > ca_pem".
	Path string
	// Type is Alloy's documented type ("string", "secret", "bool", "int",
	// "duration", "list(string)", "map(string)", "map(list(secret))",
	// "map(any)", …) or "block".
	Type string
}

// Block reports whether a is a block.
func (a Arg) Block() bool { return a.Type == "block" }

func (a Arg) parts() []string { return strings.Split(a.Path, " > ") }

// ReadFile reads a list file (usually a component's
// testdata/alloy-arguments.txt) and parses it; its errors name the file.
func ReadFile(path string) ([]Arg, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	args, err := Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return args, nil
}

// Parse reads the list format described in the package comment.
func Parse(text string) ([]Arg, error) {
	var out []Arg
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The type is the last field; the path may contain " > ".
		i := strings.LastIndexAny(line, " \t")
		if i < 0 {
			return nil, fmt.Errorf("line %d: want \"path type\", got %q", n, line)
		}
		a := Arg{Path: normalize(line[:i]), Type: strings.TrimSpace(line[i+1:])}
		if seen[a.Path] {
			return nil, fmt.Errorf("line %d: %q listed twice", n, a.Path)
		}
		seen[a.Path] = true
		out = append(out, a)
	}
	for _, a := range out {
		p := a.parts()
		for j := 1; j < len(p); j++ {
			parent := strings.Join(p[:j], " > ")
			if !seen[parent] {
				return nil, fmt.Errorf("%q is inside block %q, which is not listed", a.Path, parent)
			}
		}
	}
	return out, nil
}

func normalize(path string) string {
	f := strings.Split(path, ">")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return strings.Join(f, " > ")
}

// Spec describes a component's documented surface.
type Spec struct {
	// Component is the block name ("discovery.ec2"); Label its label, empty
	// for a config block that takes none (logging).
	Component, Label string
	Args             []Arg
	// Exclusive lists groups of alternatives: a config uses exactly one
	// alternative of each group whose enclosing block it includes. An
	// alternative is a list of path prefixes ("basic_auth" stands for the
	// block and everything in it).
	Exclusive [][][]string
	// Values overrides the generated value of an attribute (River
	// expression text) by path; other attributes get a value of their
	// documented type.
	Values map[string]string
}

// Configs returns River configs that together use every argument of s, and
// a report of any argument no config could use (empty when all are used).
func (s Spec) Configs() (configs []string, unused []string) {
	covered := map[string]bool{}
	for len(configs) < 64 {
		included := s.choose(covered)
		progress := false
		for p := range included {
			if !covered[p] {
				covered[p] = true
				progress = true
			}
		}
		if !progress {
			break
		}
		configs = append(configs, s.render(included))
	}
	for _, a := range s.Args {
		if !covered[a.Path] {
			unused = append(unused, a.Path)
		}
	}
	return configs, unused
}

func hasPrefix(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+" > ")
}

func inAlternative(path string, alt []string) bool {
	for _, p := range alt {
		if hasPrefix(path, p) {
			return true
		}
	}
	return false
}

// depth of a group: how deeply nested its shallowest prefix is, so outer
// choices are made before the choices inside them.
func depth(group [][]string) int {
	d := 1 << 30
	for _, alt := range group {
		for _, p := range alt {
			d = min(d, strings.Count(p, " > "))
		}
	}
	return d
}

// choose picks, group by group (outer first), the alternative that would
// use the most arguments not yet covered, and returns the included paths.
func (s Spec) choose(covered map[string]bool) map[string]bool {
	excluded := map[string]bool{} // paths of alternatives not chosen
	groups := append([][][]string(nil), s.Exclusive...)
	sort.SliceStable(groups, func(i, j int) bool { return depth(groups[i]) < depth(groups[j]) })
	for _, g := range groups {
		best, bestScore := 0, -1
		for i, alt := range g {
			score := 0
			for _, a := range s.Args {
				if inAlternative(a.Path, alt) && !excluded[a.Path] && !covered[a.Path] && s.parentsIncluded(a.Path, excluded) {
					score++
				}
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		for i, alt := range g {
			if i == best {
				continue
			}
			for _, a := range s.Args {
				if inAlternative(a.Path, alt) && !inAlternative(a.Path, g[best]) {
					excluded[a.Path] = true
				}
			}
		}
	}
	included := map[string]bool{}
	for _, a := range s.Args {
		if !excluded[a.Path] && s.parentsIncluded(a.Path, excluded) {
			included[a.Path] = true
		}
	}
	return included
}

func (s Spec) parentsIncluded(path string, excluded map[string]bool) bool {
	p := strings.Split(path, " > ")
	for j := 1; j < len(p); j++ {
		if excluded[strings.Join(p[:j], " > ")] {
			return false
		}
	}
	return true
}

// render writes the component block with the included arguments, blocks
// in the listed order.
func (s Spec) render(included map[string]bool) string {
	var b strings.Builder
	if s.Label == "" {
		// A config block such as logging, which takes no label.
		fmt.Fprintf(&b, "%s {\n", s.Component)
	} else {
		fmt.Fprintf(&b, "%s %q {\n", s.Component, s.Label)
	}
	s.renderBody(&b, "", 1, included)
	b.WriteString("}\n")
	return b.String()
}

func (s Spec) renderBody(b *strings.Builder, prefix string, indent int, included map[string]bool) {
	pad := strings.Repeat("  ", indent)
	for _, a := range s.Args {
		if !included[a.Path] {
			continue
		}
		parent, name := "", a.Path
		if i := strings.LastIndex(a.Path, " > "); i >= 0 {
			parent, name = a.Path[:i], a.Path[i+3:]
		}
		if parent != prefix {
			continue
		}
		if a.Block() {
			fmt.Fprintf(b, "%s%s {\n", pad, name)
			s.renderBody(b, a.Path, indent+1, included)
			fmt.Fprintf(b, "%s}\n", pad)
			continue
		}
		fmt.Fprintf(b, "%s%s = %s\n", pad, name, s.value(a))
	}
}

func (s Spec) value(a Arg) string {
	if v, ok := s.Values[a.Path]; ok {
		return v
	}
	return ValueOf(a.Type)
}

// ValueOf is a River value of a documented type.
func ValueOf(typ string) string {
	switch typ {
	case "string", "secret":
		return `"example"`
	case "bool":
		return "true"
	case "int", "uint", "number":
		return "1"
	case "float", "float64", "number(float)":
		return "0.5"
	case "duration":
		return `"1m"`
	case "list(string)", "list(secret)":
		return `["example"]`
	case "map(string)", "map(secret)":
		return `{ "key" = "value" }`
	case "map(list(string))", "map(list(secret))":
		return `{ "X-Example" = ["value"] }`
	case "map(any)", "object":
		return `{ "key" = "value" }`
	}
	return `"example"`
}
