// Package decode turns River bodies into Go structs by their `river` field
// tags (see runtime/component for the tag grammar), and Go values back into
// cty values (Encode) for exports, arguments and debug info.
//
// Decoding evaluates each attribute's expression in an hcl.EvalContext and
// converts the cty result to the field's Go type; every problem becomes an
// hcl.Diagnostic pointing at the source, naming the block, and suggesting
// the closest valid name for a typo.
package decode

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/value"
)

// Option adjusts how Body decodes.
type Option func(*options)

type options struct {
	name         string
	header       *hcl.Range
	context      *hcl.Range
	secrets      *[]Masked
	placeholders bool
	reuse        reflect.Value // Reuse's prev, a struct of the target's type
	fresh        func(*syntax.Attribute) bool
}

// Named names the block in messages, such as "discovery.aws.ec2" or
// "discovery.aws.ec2.ec2_targets". Without it messages say "block".
func Named(name string) Option { return func(o *options) { o.name = name } }

// At makes errors about the body as a whole (a missing required attribute or
// block, a Validate error) point at header, usually the block's name, label
// and opening brace. Without it they point at the body.
func At(header hcl.Range) Option { return func(o *options) { o.header = &header } }

// Masked is an attribute expression that must not be shown as written, and
// the River expression to show in its place.
type Masked struct {
	Range hcl.Range
	// Text is "(secret)" (quoted) for a secret. For a value.URL whose
	// written form shows a credential it is the URL with its password and
	// query values masked (value.MaskURL), quoted, so the host and path stay
	// visible; "(secret)" if the URL is inside a list or object or does not
	// parse.
	Text string
}

// maskedSecret is Masked.Text for a secret.
var maskedSecret = strconv.Quote(value.Redacted)

// SecretRanges appends to dst every attribute expression whose value was
// decoded into a value.Secret (at any depth) or into a value.URL that shows a
// credential as written, so the runtime can mask those expressions when it
// shows the config.
func SecretRanges(dst *[]Masked) Option { return func(o *options) { o.secrets = dst } }

// Block decodes block's body into target, naming the block by its name and
// pointing body-wide errors at its header. Later options override these.
func Block(block *syntax.Block, ctx *hcl.EvalContext, target any, opts ...Option) hcl.Diagnostics {
	header := HeaderRange(block)
	o := options{name: block.Name, header: &header, context: &block.Range}
	for _, opt := range opts {
		opt(&o)
	}
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return hcl.Diagnostics{internalError(*o.header, fmt.Sprintf("%s (got %T)", errNotPointer, target))}
	}
	return decodeBody(block.Body, ctx, rv, &o)
}

// Placeholders decodes a body whose values are not all known yet (they
// reference components that have not run), so that everything else about
// it is still checked, Validate included. An attribute whose value is not
// wholly known gets a placeholder of its field's type, the zero value, and
// counts as given; a Validate error that names such an attribute (as a
// word: "url", not "proxy_url") is dropped, since the real value may well
// satisfy it. Errors that do not depend on the unknown values (a
// scrape_timeout longer than the scrape_interval while the targets come
// from discovery) are reported as they would be with every value known.
func Placeholders() Option { return func(o *options) { o.placeholders = true } }

// Reuse decodes a block again after some of the values it reads changed,
// taking from prev, the result of decoding this very block before (the same
// syntax tree, decoded without errors and without secrets), the value of
// every attribute for which fresh reports false and of every nested block
// none of whose attributes is fresh; only fresh attributes are evaluated and
// converted again. Defaults, required attributes and Validate of the blocks
// holding a fresh attribute are checked as in a full decode, so the result
// is what a full decode would give, provided what fresh reports false for
// evaluates as it did.
//
// Values taken from prev are shared with it, not copied: prev must not be
// used afterwards. Reuse is ignored with Placeholders, or when prev is not a
// value of the target's type.
func Reuse(prev any, fresh func(*syntax.Attribute) bool) Option {
	return func(o *options) { o.reuse, o.fresh = reflect.ValueOf(prev), fresh }
}

// HeaderRange is a block's name through its opening brace: where errors
// about the block as a whole point.
func HeaderRange(b *syntax.Block) hcl.Range {
	r := hcl.RangeBetween(b.NameRange, b.OpenBraceRange)
	if b.OpenBraceRange.Filename == "" {
		r = b.NameRange
	}
	return r
}

// Body decodes a block body into target, a non-nil pointer to a struct with
// river tags.
//
// The struct's current field values are the defaults; SetToDefault is called
// on it (and on every nested struct) first if it has one, and Validate after
// if it has one. Each attribute's expression is evaluated with ctx and
// converted to its field's type:
//
//   - string, bool, integers (whole and in range), floats;
//   - time.Duration and model.Duration from strings such as "15s" or "1m30s";
//   - value.Secret from a string or a secret;
//   - value.URL from a string, or from a secret (then shown as "(secret)");
//     no other type accepts a secret;
//   - []T from a list, map[string]T from an object or map, a struct from an
//     object whose keys are the fields' river names, *T by allocating a T;
//   - interfaces, funcs and other non-data types from a capsule whose Go
//     value is assignable (a list of capsules for []I).
//
// A block field takes a block: a struct (or *struct) once, a slice of them
// once per repeated block, and a map[string]T the attributes of its block.
func Body(body *syntax.Body, ctx *hcl.EvalContext, target any, opts ...Option) hcl.Diagnostics {
	o := options{name: "block"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.header == nil {
		o.header = &body.Range
	}
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return hcl.Diagnostics{internalError(*o.header, fmt.Sprintf("%s (got %T)", errNotPointer, target))}
	}
	return decodeBody(body, ctx, rv, &o)
}

func decodeBody(body *syntax.Body, ctx *hcl.EvalContext, rv reflect.Value, o *options) hcl.Diagnostics {
	buf := seenPool.Get().(*[]fieldSeen)
	d := &decoder{ctx: ctx, secrets: o.secrets, placeholders: o.placeholders, seen: (*buf)[:0]}
	ti := infoFor(rv.Elem().Type())
	var prev reflect.Value
	if o.fresh != nil && !o.placeholders && o.reuse.IsValid() && o.reuse.Type() == rv.Elem().Type() {
		prev, d.fresh = o.reuse, o.fresh
	}
	d.block(body, rv, ti, o.name, *o.header, o.context, prev)
	if cap(d.seen) <= maxPooledSeen {
		clear(d.seen[:cap(d.seen)]) // no AST or value kept alive by the pool
		*buf = d.seen[:0]
		seenPool.Put(buf)
	}
	return d.diags
}

// seenPool recycles decoders' per-field slots (decoder.seen): a body is
// decoded on every evaluation of every component. Buffers of more than
// maxPooledSeen slots (a struct of that many fields nested deep) are left
// to the collector.
var seenPool = sync.Pool{New: func() any { return new([]fieldSeen) }}

const maxPooledSeen = 1024

func internalError(r hcl.Range, msg string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "internal error: " + msg, Subject: &r}
}

// decoder decodes one body and everything nested in it.
type decoder struct {
	ctx     *hcl.EvalContext
	diags   hcl.Diagnostics
	secrets *[]Masked
	// placeholders is the Placeholders option; placeheld lists the
	// attributes given a placeholder so far, innermost last.
	placeholders bool
	placeheld    []string
	// fresh is Reuse's: the attributes to evaluate again (nil: all).
	fresh func(*syntax.Attribute) bool
	// seen holds the fieldSeen slots of the bodies being decoded, nested
	// ones after their parent's, as a stack.
	seen []fieldSeen
}

func (d *decoder) errorf(subject hcl.Range, context *hcl.Range, format string, args ...any) {
	if d.full() {
		return
	}
	d.add(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf(format, args...),
		Subject:  &subject,
		Context:  context,
	})
}

// add records diagnostics, up to syntax.MaxErrors and a note that there
// were more: a block of a hundred thousand misspelt attributes would
// otherwise make as many.
func (d *decoder) add(diags ...*hcl.Diagnostic) {
	for _, dg := range diags {
		if d.full() {
			return
		}
		d.diags = append(d.diags, dg)
		if len(d.diags) == syntax.MaxErrors {
			d.diags = append(d.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("too many errors; only the first %d in this component are reported", syntax.MaxErrors),
				Subject:  dg.Subject,
			})
		}
	}
}

// full reports whether the decoder has stopped recording errors, and so
// decoding the rest of the body is pointless.
func (d *decoder) full() bool { return len(d.diags) > syntax.MaxErrors }

// block decodes body into p, a pointer to a struct of type ti. name is the
// block's path for messages ("prometheus.remote_write > endpoint"). prev,
// when valid, is the struct a decode of this body gave before (Reuse).
func (d *decoder) block(body *syntax.Body, p reflect.Value, ti *typeInfo, name string, header hcl.Range, context *hcl.Range, prev reflect.Value) {
	if ti.err != nil {
		d.add(internalError(header, ti.err.Error()))
		return
	}
	before := len(d.diags.Errs())
	held := len(d.placeheld)
	setDefaults(p)
	rv := p.Elem()

	base, n := len(d.seen), len(ti.st.fields)
	d.seen = slices.Grow(d.seen, n)[:base+n]
	clear(d.seen[base:])
	// A nested body growing d.seen may move it: this body keeps using its
	// own slots, wherever they are, and frees them on return.
	defer func() { d.seen = d.seen[:base] }()
	bs := &bodyState{
		st:   ti.st,
		name: name,
		rv:   rv,
		prev: prev,
		seen: d.seen[base : base+n : base+n],
	}
	for _, stmt := range body.Stmts {
		if d.full() {
			return
		}
		switch s := stmt.(type) {
		case *syntax.Attribute:
			d.attribute(s, bs)
		case *syntax.Block:
			d.nestedBlock(s, bs)
		}
	}
	for i, f := range bs.st.fields {
		if s := bs.seen[i].repeated; s.IsValid() {
			rv.FieldByIndex(f.index).Set(s)
		}
	}

	for i, f := range bs.st.fields {
		if s := &bs.seen[i]; f.optional || s.attr != nil || s.block != nil || s.explained {
			continue
		}
		if f.block {
			d.errorf(header, context, "missing required block %q in %s", f.name, name)
		} else {
			d.errorf(header, context, "missing required attribute %q in %s", f.name, name)
		}
	}
	if len(d.diags.Errs()) > before {
		return // Validate would only add noise about what is already wrong
	}
	if err := validate(p); err != nil && !namesAny(err.Error(), d.placeheld[held:]) {
		d.errorf(header, context, "%s: %s", name, err)
	}
}

// namesAny reports whether msg contains one of names as a whole word
// (letters, digits and underscores around it do not count).
func namesAny(msg string, names []string) bool {
	for _, n := range names {
		for i := 0; ; {
			j := strings.Index(msg[i:], n)
			if j < 0 {
				break
			}
			j += i
			end := j + len(n)
			if (j == 0 || !isWordByte(msg[j-1])) && (end == len(msg) || !isWordByte(msg[end])) {
				return true
			}
			i = j + 1
		}
	}
	return false
}

func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// bodyState is what decoding one body has seen so far.
type bodyState struct {
	st   *structInfo
	name string        // the block's path, for messages
	rv   reflect.Value // the struct being filled
	prev reflect.Value // what a decode of this body gave before (Reuse), or invalid
	// seen is what the body gave for each field, by fieldInfo.pos: one
	// slice rather than maps by name, as a body is decoded on every
	// evaluation.
	seen []fieldSeen
}

// fieldSeen is what a body gave for one field.
type fieldSeen struct {
	// attr and block say where the field was first given as an attribute
	// or a block (a repeated block: last given).
	attr, block *hcl.Range
	// explained is set when an error already explains the field's absence:
	// the suggestion for a typo, an attribute written as a block or vice
	// versa.
	explained bool
	// repeated collects repeated blocks, set on the struct at the end so
	// that they replace the default rather than add to it.
	repeated reflect.Value
}

func (d *decoder) attribute(a *syntax.Attribute, bs *bodyState) {
	name := bs.name
	f := bs.st.byName[a.Name]
	switch {
	case f == nil:
		d.unknownName("attribute", a.Name, false, a.NameRange, &a.Range, bs)
		return
	case f.block && !f.mapBlock:
		bs.seen[f.pos].explained = true
		d.errorf(a.NameRange, &a.Range, "%q in %s is a block, not an attribute; write it as %s { … }", a.Name, name, a.Name)
		return
	}
	// A map block (`labels { job = "x" }`) may also be written as an
	// attribute holding an object (`labels = { job = "x" }`), but not both.
	seen := &bs.seen[f.pos]
	if first := seen.block; first != nil && f.mapBlock {
		d.errorf(a.NameRange, &a.Range, "%q in %s is given both as an attribute and as a block (first at %s); use one", a.Name, name, posString(*first))
		return
	}
	if first := seen.attr; first != nil {
		d.errorf(a.NameRange, &a.Range, "attribute %q in %s is set twice; it was first set at %s", a.Name, name, posString(*first))
		return
	}
	seen.attr = &a.NameRange

	if bs.prev.IsValid() && !d.fresh(a) {
		bs.rv.FieldByIndex(f.index).Set(bs.prev.FieldByIndex(f.index))
		return
	}
	val, diags := a.Expr.Value(d.ctx)
	d.add(diags...)
	if diags.HasErrors() {
		return
	}
	exprRange := a.Expr.Range()
	if d.placeholders && !val.IsWhollyKnown() {
		fv := bs.rv.FieldByIndex(f.index)
		fv.Set(reflect.Zero(fv.Type()))
		d.placeheld = append(d.placeheld, a.Name)
		return
	}
	if !val.IsKnown() {
		d.errorf(exprRange, &a.Range, "the value of %q is not known", a.Name)
		return
	}
	if u, _ := val.Unmark(); u.IsNull() {
		if !f.optional {
			d.errorf(exprRange, &a.Range, "attribute %q in %s is required, but its value is null", a.Name, name)
		}
		return // null keeps an optional attribute's default
	}
	d.convertInto(val, bs.rv.FieldByIndex(f.index), f.info, a.Name, exprRange, &a.Range)
}

// unknownName reports an attribute or block the struct does not have,
// suggesting the closest name (of the same kind first) and noting that the
// suggestion's absence is then explained.
func (d *decoder) unknownName(kind, got string, block bool, at hcl.Range, context *hcl.Range, bs *bodyState) {
	msg := fmt.Sprintf("unknown %s %q in %s", kind, got, bs.name)
	if s := suggestName(got, bs.st, block); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
		bs.seen[bs.st.byName[s].pos].explained = true
	}
	d.errorf(at, context, "%s", msg)
}

// convertInto converts an attribute's value into a field, reporting errors at
// the expression and noting it if it held a secret.
func (d *decoder) convertInto(val cty.Value, field reflect.Value, ti *typeInfo, path string, exprRange hcl.Range, context *hcl.Range) {
	var c converter
	if err := c.convert(val, field, ti, rootPath(path)); err != nil {
		d.errorf(exprRange, context, "%s", err)
		return
	}
	if d.secrets == nil {
		return
	}
	switch {
	case c.sawSecret, c.hidingURLs > 1:
		*d.secrets = append(*d.secrets, Masked{Range: exprRange, Text: maskedSecret})
	case c.hidingURLs == 1:
		// An attribute that is the URL itself shows it masked; a URL inside
		// a list or object, or one that does not parse, hides it whole.
		text := maskedSecret
		if u, _ := val.Unmark(); u.Type() == cty.String {
			if _, err := url.Parse(c.lastURL); err == nil {
				text = strconv.Quote(value.MaskURL(c.lastURL))
			}
		}
		*d.secrets = append(*d.secrets, Masked{Range: exprRange, Text: text})
	}
}

func (d *decoder) nestedBlock(b *syntax.Block, bs *bodyState) {
	name := bs.name
	f := bs.st.byName[b.Name]
	switch {
	case f == nil:
		d.unknownName("block", b.Name, true, b.NameRange, &b.Range, bs)
		return
	case !f.block:
		bs.seen[f.pos].explained = true
		d.errorf(b.NameRange, &b.Range, "%q in %s is an attribute, not a block; write it as %s = …", b.Name, name, b.Name)
		return
	case b.HasLabel:
		d.errorf(b.LabelRange, &b.Range, "block %q in %s takes no label", b.Name, name)
		return
	}
	childName := name + " > " + b.Name
	header := HeaderRange(b)

	seen := &bs.seen[f.pos]
	if f.repeated {
		slice := seen.repeated
		if !slice.IsValid() {
			slice = reflect.MakeSlice(f.info.t, 0, 1)
		}
		seen.block = &b.NameRange
		elem := f.info.elem
		var prev reflect.Value
		if bs.prev.IsValid() {
			// This is the block's k-th occurrence, so prev's k-th element.
			if ps := bs.prev.FieldByIndex(f.index); slice.Len() < ps.Len() {
				prev = ps.Index(slice.Len())
				if !d.anyFresh(b.Body) {
					seen.repeated = reflect.Append(slice, prev)
					return
				}
				if elem.class == classPointer {
					prev = derefStruct(prev)
				}
			}
		}
		st := blockStruct(elem)
		p := reflect.New(st.t) // each repeated block starts from zero, then its defaults
		d.block(b.Body, p, st, childName, header, &b.Range, prev)
		if elem.class == classPointer {
			slice = reflect.Append(slice, p)
		} else {
			slice = reflect.Append(slice, p.Elem())
		}
		seen.repeated = slice
		return
	}

	if first := seen.block; first != nil {
		d.errorf(b.NameRange, &b.Range, "block %q may only be given once in %s; it was first given at %s", b.Name, name, posString(*first))
		return
	}
	if first := seen.attr; first != nil && f.mapBlock {
		d.errorf(b.NameRange, &b.Range, "%q in %s is given both as an attribute and as a block (first at %s); use one", b.Name, name, posString(*first))
		return
	}
	seen.block = &b.NameRange
	field := bs.rv.FieldByIndex(f.index)
	var prev reflect.Value
	if bs.prev.IsValid() {
		prev = bs.prev.FieldByIndex(f.index)
		if !d.anyFresh(b.Body) {
			field.Set(prev)
			return
		}
		if f.mapBlock {
			prev = reflect.Value{}
		} else if f.info.class == classPointer {
			prev = derefStruct(prev)
		}
	}

	if f.mapBlock {
		d.mapBlock(b, field, f.info, childName)
		return
	}
	st2 := blockStruct(f.info)
	p := reflect.New(st2.t)
	// Start from the default the field holds, copied so that the prototype
	// it may share is never modified.
	if f.info.class == classPointer {
		if !field.IsNil() {
			p.Elem().Set(field.Elem())
		}
	} else {
		p.Elem().Set(field)
	}
	d.block(b.Body, p, st2, childName, header, &b.Range, prev)
	if f.info.class == classPointer {
		field.Set(p)
	} else {
		field.Set(p.Elem())
	}
}

// anyFresh reports whether body holds an attribute to evaluate again (Reuse).
func (d *decoder) anyFresh(body *syntax.Body) bool {
	fresh := false
	syntax.Walk(body, func(a *syntax.Attribute) { fresh = fresh || d.fresh(a) })
	return fresh
}

// derefStruct is the struct a pointer from a previous decode points to, or
// invalid for nil.
func derefStruct(p reflect.Value) reflect.Value {
	if p.IsNil() {
		return reflect.Value{}
	}
	return p.Elem()
}

// mapBlock decodes `labels { job = "x" }`: each attribute is a map entry.
func (d *decoder) mapBlock(b *syntax.Block, field reflect.Value, ti *typeInfo, name string) {
	m := reflect.MakeMap(ti.t)
	keyType := ti.t.Key()
	seen := map[string]hcl.Range{}
	for _, stmt := range b.Body.Stmts {
		if d.full() {
			return
		}
		switch s := stmt.(type) {
		case *syntax.Block:
			d.errorf(s.NameRange, &s.Range, "%s takes only attributes (its map entries), not the block %q", name, s.Name)
		case *syntax.Attribute:
			if first, dup := seen[s.Name]; dup {
				d.errorf(s.NameRange, &s.Range, "%q in %s is set twice; it was first set at %s", s.Name, name, posString(first))
				continue
			}
			seen[s.Name] = s.NameRange
			val, diags := s.Expr.Value(d.ctx)
			d.add(diags...)
			if diags.HasErrors() {
				continue
			}
			ev := reflect.New(ti.elem.t).Elem()
			before := len(d.diags)
			d.convertInto(val, ev, ti.elem, b.Name+"."+s.Name, s.Expr.Range(), &s.Range)
			if len(d.diags) == before {
				m.SetMapIndex(reflect.ValueOf(s.Name).Convert(keyType), ev)
			}
		}
	}
	field.Set(m)
}

// suggestName finds the closest field name, preferring the same kind
// (attribute or block) as what was written.
func suggestName(name string, st *structInfo, block bool) string {
	if s := suggest(name, st.names(&block)); s != "" {
		return s
	}
	return suggest(name, st.names(nil))
}

// posString says where something is, in a message about something else.
func posString(r hcl.Range) string {
	return fmt.Sprintf("line %d, column %d", r.Start.Line, r.Start.Column)
}
