// Package river builds River configs for the converters: blocks, attributes,
// comments and literal or reference expressions, rendered as text and laid
// out by syntax/format, so converted output is byte for byte what `flow fmt`
// would print.
package river

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/format"
)

// Expr is a River expression.
type Expr interface {
	write(w *writer, indent int)
}

type (
	stringExpr string
	rawExpr    string
	listExpr   []Expr
	objectExpr []Field
)

// Field is one key of an object expression.
type Field struct {
	Key   string
	Value Expr
}

// String is a string literal.
func String(s string) Expr { return stringExpr(s) }

// Raw is an expression written as is, such as a reference
// (`prometheus.remote_write.default.receiver`) or a number.
func Raw(text string) Expr { return rawExpr(text) }

// Int is an integer literal.
func Int[T ~int | ~int64 | ~uint | ~uint64 | ~uint32 | ~int32](n T) Expr {
	return rawExpr(fmt.Sprint(n))
}

// Float is a number literal.
func Float(f float64) Expr { return rawExpr(strconv.FormatFloat(f, 'g', -1, 64)) }

// Bool is true or false.
func Bool(b bool) Expr { return rawExpr(strconv.FormatBool(b)) }

// Duration is a duration string in Prometheus' notation ("15s", "1m30s", "1d").
func Duration(d time.Duration) Expr { return stringExpr(model.Duration(d).String()) }

// List is an array expression.
func List(items ...Expr) Expr { return listExpr(items) }

// Strings is an array of string literals.
func Strings(ss []string) Expr {
	l := make(listExpr, len(ss))
	for i, s := range ss {
		l[i] = stringExpr(s)
	}
	return l
}

// Object is an object expression with fields in the given order.
func Object(fields ...Field) Expr { return objectExpr(fields) }

// StringMap is an object of string values, keys sorted, except that the
// keys of first that m has come ahead of the rest, in that order: a target
// reads best with __address__ (and, for files, __path__) first.
func StringMap(m map[string]string, first ...string) Expr {
	keys := make([]string, 0, len(m))
	for _, k := range first {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(first, k) {
			keys = append(keys, k)
		}
	}
	o := make(objectExpr, len(keys))
	for i, k := range keys {
		o[i] = Field{Key: k, Value: stringExpr(m[k])}
	}
	return o
}

// Body holds the statements of a file or a block.
type Body struct {
	items []item
}

type item struct {
	comment []string // comment lines before the statement (or alone)
	attr    string
	value   Expr
	block   *Block
}

// Block is a block statement.
type Block struct {
	Name  string
	Label string
	Body
}

// Attr appends `name = value`.
func (b *Body) Attr(name string, v Expr) { b.items = append(b.items, item{attr: name, value: v}) }

// OptString adds the attribute name = s when s is not empty: the converters
// carry an unset YAML string over as an unset attribute (its default).
func (b *Body) OptString(name, s string) {
	if s != "" {
		b.Attr(name, String(s))
	}
}

// Comment appends `// text` lines (one per line of text).
func (b *Body) Comment(text string) {
	b.items = append(b.items, item{comment: strings.Split(strings.TrimRight(text, "\n"), "\n")})
}

// Block appends a block and returns it for filling in.
func (b *Body) Block(name, label string) *Block {
	blk := &Block{Name: name, Label: label}
	b.items = append(b.items, item{block: blk})
	return blk
}

// Len is the number of statements and comments.
func (b *Body) Len() int { return len(b.items) }

// File is a whole config.
type File struct {
	Body
	// Replace, if set, rewrites every string literal (the converters use it
	// to put placeholders such as <YOUR_AWS_REGION> back).
	Replace func(string) string
}

// Bytes renders the file in canonical layout. An error means the builder
// made invalid River, which is a bug in the converter.
func (f *File) Bytes() ([]byte, error) {
	w := &writer{replace: f.Replace}
	w.body(&f.Body, 0)
	src := w.buf.Bytes()
	out, diags := format.Format(src, "converted.river")
	if diags.HasErrors() {
		return nil, fmt.Errorf("converter produced invalid River (a bug): %s\n%s", syntax.DiagnosticsString(map[string][]byte{"converted.river": src}, diags), src)
	}
	return out, nil
}

type writer struct {
	buf     bytes.Buffer
	replace func(string) string
}

func (w *writer) indent(n int) {
	for range n {
		w.buf.WriteString("  ")
	}
}

func (w *writer) body(b *Body, indent int) {
	for i, it := range b.items {
		// A blank line before a block, or before a comment that follows
		// something, keeps sections readable; the formatter keeps at most one.
		if i > 0 && (it.block != nil || (it.comment != nil && it.attr == "" && b.items[i-1].block == nil)) {
			w.buf.WriteByte('\n')
		}
		for _, c := range it.comment {
			w.indent(indent)
			if c == "" {
				w.buf.WriteString("//\n")
				continue
			}
			w.buf.WriteString("// ")
			w.buf.WriteString(c)
			w.buf.WriteByte('\n')
		}
		switch {
		case it.block != nil:
			w.indent(indent)
			w.buf.WriteString(it.block.Name)
			if it.block.Label != "" {
				w.buf.WriteByte(' ')
				w.buf.WriteString(strconv.Quote(it.block.Label))
			}
			if len(it.block.items) == 0 {
				w.buf.WriteString(" { }\n")
				continue
			}
			w.buf.WriteString(" {\n")
			w.body(&it.block.Body, indent+1)
			w.indent(indent)
			w.buf.WriteString("}\n")
		case it.attr != "":
			w.indent(indent)
			w.buf.WriteString(it.attr)
			w.buf.WriteString(" = ")
			it.value.write(w, indent)
			w.buf.WriteByte('\n')
		}
	}
}

func (s stringExpr) write(w *writer, _ int) {
	v := string(s)
	if w.replace != nil {
		v = w.replace(v)
	}
	w.buf.WriteString(Quote(v))
}

func (r rawExpr) write(w *writer, _ int) { w.buf.WriteString(string(r)) }

func (l listExpr) write(w *writer, indent int) {
	if len(l) == 0 {
		w.buf.WriteString("[]")
		return
	}
	if !l.multiline() {
		w.buf.WriteByte('[')
		for i, e := range l {
			if i > 0 {
				w.buf.WriteString(", ")
			}
			e.write(w, indent)
		}
		w.buf.WriteByte(']')
		return
	}
	w.buf.WriteString("[\n")
	for _, e := range l {
		w.indent(indent + 1)
		e.write(w, indent+1)
		w.buf.WriteString(",\n")
	}
	w.indent(indent)
	w.buf.WriteByte(']')
}

// multiline lists hold objects or more than a few items.
func (l listExpr) multiline() bool {
	if len(l) > 4 {
		return true
	}
	for _, e := range l {
		switch e := e.(type) {
		case objectExpr:
			if len(e) > 0 {
				return true
			}
		case listExpr:
			return true
		}
	}
	return false
}

func (o objectExpr) write(w *writer, indent int) {
	if len(o) == 0 {
		w.buf.WriteString("{}")
		return
	}
	w.buf.WriteString("{\n")
	for _, f := range o {
		w.indent(indent + 1)
		w.buf.WriteString(ObjectKey(f.Key))
		w.buf.WriteString(" = ")
		f.Value.write(w, indent+1)
		w.buf.WriteString(",\n")
	}
	w.indent(indent)
	w.buf.WriteByte('}')
}

// Quote returns s as a River string literal. River's escapes are Go's, so
// strconv.Quote's output is always valid River.
func Quote(s string) string { return strconv.Quote(s) }

// ObjectKey returns k bare if it is an identifier, else quoted.
func ObjectKey(k string) string {
	if IsIdentifier(k) {
		return k
	}
	return Quote(k)
}

// IsIdentifier reports whether s is a River identifier: a letter or '_'
// followed by letters, digits or '_'.
func IsIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r)) {
			continue
		}
		return false
	}
	switch s {
	case "true", "false", "null":
		return false
	}
	return true
}

// Label turns s into an identifier-shaped component label, as Alloy
// requires (flow accepts any label, but converted configs must load in
// Alloy too): every character outside [A-Za-z0-9_] becomes '_', and a
// leading digit gets a '_' prefix. An empty s becomes "default".
func Label(s string) string {
	if s == "" {
		return "default"
	}
	var sb strings.Builder
	for i, r := range s {
		switch {
		case r == '_' || (r < unicode.MaxASCII && unicode.IsLetter(r)):
			sb.WriteRune(r)
		case r < unicode.MaxASCII && unicode.IsDigit(r):
			if i == 0 {
				sb.WriteByte('_')
			}
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	return sb.String()
}

// Labels hands out unique labels per component name: the second "node"
// becomes "node_2", as in Alloy's converter.
type Labels struct {
	used map[string]bool
}

// Unique returns Label(s), suffixed with _2, _3… if already used for name.
func (l *Labels) Unique(name, s string) string {
	if l.used == nil {
		l.used = map[string]bool{}
	}
	base := Label(s)
	label := base
	for i := 2; l.used[name+"."+label]; i++ {
		label = fmt.Sprintf("%s_%d", base, i)
	}
	l.used[name+"."+label] = true
	return label
}

// Append moves src's statements to the end of b.
func (b *Body) Append(src *Body) { b.items = append(b.items, src.items...) }

type callExpr struct {
	name string
	args []Expr
}

// Call is a function call, such as array.concat(a, b).
func Call(name string, args ...Expr) Expr { return callExpr{name: name, args: args} }

func (c callExpr) write(w *writer, indent int) {
	w.buf.WriteString(c.name)
	if len(c.args) < 2 {
		w.buf.WriteByte('(')
		for _, a := range c.args {
			a.write(w, indent)
		}
		w.buf.WriteByte(')')
		return
	}
	w.buf.WriteString("(\n")
	for _, a := range c.args {
		w.indent(indent + 1)
		a.write(w, indent+1)
		w.buf.WriteString(",\n")
	}
	w.indent(indent)
	w.buf.WriteByte(')')
}
