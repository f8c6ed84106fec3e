package decode

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax/value"
)

// pathError is a conversion error at a place inside a value, such as
// `filters[1].values`.
type pathError struct {
	path string
	msg  string
}

func (e *pathError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

func errorf(path *vpath, format string, args ...any) error {
	return &pathError{path: path.String(), msg: fmt.Sprintf(format, args...)}
}

// vpath is where a value is inside an attribute: a chain grown as the
// conversion descends, rendered (`filters[1].values`, `labels["k"]`) only
// for an error. Building the text at every step cost the path's length per
// item: a list of 10,000 items under a 100 KB key built a gigabyte.
type vpath struct {
	parent *vpath
	name   string // a field name or a map key
	index  int
	kind   byte // 'f' field, 'i' item, 'k' key
}

func (p *vpath) field(name string) *vpath { return &vpath{parent: p, name: name, kind: 'f'} }
func (p *vpath) item(i int) *vpath        { return &vpath{parent: p, index: i, kind: 'i'} }
func (p *vpath) key(k string) *vpath      { return &vpath{parent: p, name: k, kind: 'k'} }

// rootPath is the path of an attribute, or "" for a whole value.
func rootPath(name string) *vpath {
	if name == "" {
		return nil
	}
	return &vpath{name: name, kind: 'f'}
}

func (p *vpath) String() string {
	if p == nil {
		return ""
	}
	parent := p.parent.String()
	switch p.kind {
	case 'i':
		return parent + "[" + strconv.Itoa(p.index) + "]"
	case 'k':
		return parent + "[" + strconv.Quote(p.name) + "]"
	}
	if parent == "" {
		return p.name
	}
	return parent + "." + p.name
}

// Value converts v into the Go value target points to, by the same rules as
// an attribute (see Body). The error names where in v the problem is.
func Value(v cty.Value, target any) error {
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decode: target must be a non-nil pointer, got %T", target)
	}
	ti := infoFor(rv.Type().Elem())
	if ti.err != nil {
		return fmt.Errorf("decode: invalid type: %w", ti.err)
	}
	var c converter
	return c.convert(v, rv.Elem(), ti, nil)
}

// converter turns cty values into Go values.
type converter struct {
	// sawSecret is set when a secret was stored, so the caller can note the
	// attribute as holding one.
	sawSecret bool
	// hidingURLs counts the URLs stored whose written form shows a
	// credential (value.URLHides); lastURL is the last of them.
	hidingURLs int
	lastURL    string
}

// convert stores v into rv (settable) of type ti. path says where v is, for
// error messages.
func (c *converter) convert(v cty.Value, rv reflect.Value, ti *typeInfo, path *vpath) error {
	if !v.IsKnown() {
		return errorf(path, "value is not known")
	}
	u, marks := v.Unmark()
	_, secret := marks[value.SecretMark]

	// A capsule passes through untouched whenever its Go value fits.
	if !u.IsNull() && u.Type().IsCapsuleType() {
		gv, _ := value.FromCapsule(u)
		if ti.class == classAny {
			rv.Set(reflect.ValueOf(gv))
			return nil
		}
		if gv != nil && reflect.TypeOf(gv).AssignableTo(ti.t) {
			rv.Set(reflect.ValueOf(gv))
			return nil
		}
		if ti.class == classPointer && gv != nil && reflect.TypeOf(gv).AssignableTo(ti.elem.t) {
			p := reflect.New(ti.elem.t)
			p.Elem().Set(reflect.ValueOf(gv))
			rv.Set(p)
			return nil
		}
		return c.mismatch(v, ti, path)
	}

	if u.IsNull() {
		switch ti.class {
		case classPointer, classAny, classSlice, classMap:
			rv.SetZero()
			return nil
		case classCapsule:
			if isNilable(ti.t.Kind()) {
				rv.SetZero()
				return nil
			}
		}
		return c.mismatch(v, ti, path)
	}

	switch ti.class {
	case classSecret:
		if u.Type() != cty.String {
			return c.mismatch(v, ti, path)
		}
		rv.SetString(u.AsString())
		c.sawSecret = true
		return nil
	case classURL:
		if u.Type() != cty.String {
			return c.mismatch(v, ti, path)
		}
		s := u.AsString()
		if secret {
			rv.Set(reflect.ValueOf(value.NewSecretURL(s)))
			c.sawSecret = true
			return nil
		}
		rv.Set(reflect.ValueOf(value.NewURL(s)))
		if value.URLHides(s) {
			c.hidingURLs++
			c.lastURL = s
		}
		return nil
	case classAny:
		gv, err := c.natural(v, path)
		if err != nil {
			return err
		}
		if gv == nil {
			rv.SetZero()
		} else {
			rv.Set(reflect.ValueOf(gv))
		}
		return nil
	}

	if secret && isLeaf(ti.class) {
		return c.mismatch(v, ti, path)
	}

	switch ti.class {
	case classString:
		if u.Type() != cty.String {
			return c.mismatch(v, ti, path)
		}
		rv.SetString(u.AsString())
	case classBool:
		if u.Type() != cty.Bool {
			return c.mismatch(v, ti, path)
		}
		rv.SetBool(u.True())
	case classInt, classUint, classFloat:
		if u.Type() != cty.Number {
			return c.mismatch(v, ti, path)
		}
		return setNumber(u, rv, ti, path)
	case classDuration, classPromDuration:
		if u.Type() != cty.String {
			return c.mismatch(v, ti, path)
		}
		d, err := parseDuration(u.AsString(), ti.class == classPromDuration)
		if err != nil {
			return errorf(path, "%s", err)
		}
		rv.SetInt(int64(d))
	case classText:
		if u.Type() == cty.Number && isIntKind(ti.t.Kind()) {
			// An integer type with a text form (a byte size) also takes a
			// whole number, as in Alloy: body_size_limit = 1048576.
			bf := u.AsBigFloat()
			if !bf.IsInt() {
				return errorf(path, "expected a whole number or a string, got %s", bf.Text('g', -1))
			}
			return setText(bf.Text('f', 0), rv, ti, path)
		}
		if u.Type() != cty.String {
			return c.mismatch(v, ti, path)
		}
		return setText(u.AsString(), rv, ti, path)
	case classSlice:
		return c.convertList(u, secret, rv, ti, path, v)
	case classMap:
		return c.convertMap(u, secret, rv, ti, path, v)
	case classStruct:
		return c.convertStruct(u, secret, rv, ti, path, v)
	case classPointer:
		p := reflect.New(ti.elem.t)
		if !rv.IsNil() {
			// Start from the default the field already holds, without
			// touching it: it may be shared with the prototype.
			p.Elem().Set(rv.Elem())
		}
		if err := c.convert(v, p.Elem(), ti.elem, path); err != nil {
			return err
		}
		rv.Set(p)
	default:
		return c.mismatch(v, ti, path)
	}
	return nil
}

// isLeaf reports whether a class holds a single value, so a secret given
// for it cannot be passed down to elements.
func isLeaf(cl class) bool {
	switch cl {
	case classSlice, classMap, classStruct, classPointer:
		return false
	}
	return true
}

func isNilable(k reflect.Kind) bool {
	switch k {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return true
	}
	return false
}

// mismatch is the "expected X, got Y" error.
func (c *converter) mismatch(v cty.Value, ti *typeInfo, path *vpath) error {
	got := value.TypeName(v)
	if got == "secret" && ti.class != classSecret {
		return errorf(path, "expected %s, got secret; use nonsensitive() to convert a secret to a string", ti.describe())
	}
	if value.IsSecret(v) && got != "secret" {
		got = "secret " + got
	}
	return errorf(path, "expected %s, got %s", ti.describe(), got)
}

// elemMark gives an element the secret mark its container had.
func elemMark(e cty.Value, secret bool) cty.Value {
	if secret {
		return e.Mark(value.SecretMark)
	}
	return e
}

func (c *converter) convertList(u cty.Value, secret bool, rv reflect.Value, ti *typeInfo, path *vpath, orig cty.Value) error {
	t := u.Type()
	if !t.IsListType() && !t.IsTupleType() && !t.IsSetType() {
		return c.mismatch(orig, ti, path)
	}
	n := u.LengthInt()
	out := reflect.MakeSlice(ti.t, n, n)
	i := 0
	for it := u.ElementIterator(); it.Next(); i++ {
		_, e := it.Element()
		if err := c.convert(elemMark(e, secret), out.Index(i), ti.elem, path.item(i)); err != nil {
			return err
		}
	}
	rv.Set(out)
	return nil
}

func (c *converter) convertMap(u cty.Value, secret bool, rv reflect.Value, ti *typeInfo, path *vpath, orig cty.Value) error {
	t := u.Type()
	if !t.IsObjectType() && !t.IsMapType() {
		return c.mismatch(orig, ti, path)
	}
	if !secret && ti.t.Key() == stringType && ti.elem.class == classString && ti.elem.t == stringType {
		if m, ok := plainStringMap(u); ok {
			rv.Set(reflect.ValueOf(m).Convert(ti.t))
			return nil
		}
	}
	out := reflect.MakeMapWithSize(ti.t, u.LengthInt())
	keyType := ti.t.Key()
	for it := u.ElementIterator(); it.Next(); {
		k, e := it.Element()
		key := k.AsString()
		ev := reflect.New(ti.elem.t).Elem()
		if err := c.convert(elemMark(e, secret), ev, ti.elem, path.key(key)); err != nil {
			return err
		}
		out.SetMapIndex(reflect.ValueOf(key).Convert(keyType), ev)
	}
	rv.Set(out)
	return nil
}

var stringType = reflect.TypeFor[string]()

// plainStringMap converts a map or object whose elements are all known,
// unmarked, non-null strings to a map[string]string without reflection (the
// labels of every target a discovery component passes on); ok is false for
// anything else, which the general conversion handles (and reports).
func plainStringMap(u cty.Value) (m map[string]string, ok bool) {
	m = make(map[string]string, u.LengthInt())
	for it := u.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if !e.IsKnown() || e.IsMarked() || e.IsNull() || e.Type() != cty.String {
			return nil, false
		}
		m[k.AsString()] = e.AsString()
	}
	return m, true
}

// convertStruct fills a struct from an object, as in
// `filters = [{ name = "x", values = ["y"] }]`: keys are the fields' river
// names. The struct starts from the value rv holds, then its defaults.
func (c *converter) convertStruct(u cty.Value, secret bool, rv reflect.Value, ti *typeInfo, path *vpath, orig cty.Value) error {
	t := u.Type()
	if !t.IsObjectType() && !t.IsMapType() {
		return c.mismatch(orig, ti, path)
	}
	p := reflect.New(ti.t)
	p.Elem().Set(rv)
	setDefaults(p)
	set := make(map[string]bool, u.LengthInt())
	for it := u.ElementIterator(); it.Next(); {
		k, e := it.Element()
		key := k.AsString()
		f := ti.st.byName[key]
		fpath := path.field(key)
		if f == nil {
			msg := fmt.Sprintf("unknown field %q", key)
			if s := suggest(key, ti.st.names(nil)); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			return &pathError{path: path.String(), msg: msg}
		}
		set[key] = true
		if eu, _ := e.Unmark(); eu.IsNull() && eu.IsKnown() {
			if f.optional {
				continue // null keeps the default
			}
			return errorf(fpath, "expected %s, got null", f.info.describe())
		}
		if err := c.convert(elemMark(e, secret), p.Elem().FieldByIndex(f.index), f.info, fpath); err != nil {
			return err
		}
	}
	for _, f := range ti.st.fields {
		if !f.optional && !set[f.name] {
			return errorf(path, "missing required field %q", f.name)
		}
	}
	if err := validate(p); err != nil {
		return errorf(path, "%s", err)
	}
	rv.Set(p.Elem())
	return nil
}

func setNumber(u cty.Value, rv reflect.Value, ti *typeInfo, path *vpath) error {
	bf := u.AsBigFloat()
	switch ti.class {
	case classInt:
		if !bf.IsInt() {
			return errorf(path, "expected a whole number, got %s", bf.Text('g', 10))
		}
		i, acc := bf.Int64()
		if acc != 0 || rv.OverflowInt(i) {
			lo, hi := intRange(ti.t)
			return errorf(path, "%s is out of range (%d to %d)", bf.Text('f', 0), lo, hi)
		}
		rv.SetInt(i)
	case classUint:
		if !bf.IsInt() || bf.Sign() < 0 {
			return errorf(path, "expected a whole number of 0 or more, got %s", bf.Text('g', 10))
		}
		n, acc := bf.Uint64()
		if acc != 0 || rv.OverflowUint(n) {
			return errorf(path, "%s is out of range (0 to %d)", bf.Text('f', 0), uint64(math.MaxUint64)>>(64-ti.t.Bits()))
		}
		rv.SetUint(n)
	case classFloat:
		f, _ := bf.Float64()
		if rv.OverflowFloat(f) {
			return errorf(path, "%s is out of range for a %d-bit float", bf.Text('g', 10), ti.t.Bits())
		}
		rv.SetFloat(f)
	}
	return nil
}

func intRange(t reflect.Type) (int64, int64) {
	bits := t.Bits()
	return -1 << (bits - 1), 1<<(bits-1) - 1
}

// parseDuration reads "15s", "1m30s", "1.5h" and Prometheus' "1d", "2w".
func parseDuration(s string, promFirst bool) (time.Duration, error) {
	if promFirst {
		if d, err := model.ParseDuration(s); err == nil {
			return time.Duration(d), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("invalid duration %q: write a number and a unit, such as \"15s\", \"1m30s\", \"1h\" or \"1d\"", s)
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func setText(s string, rv reflect.Value, ti *typeInfo, path *vpath) error {
	var target reflect.Value
	if ti.t.Kind() == reflect.Pointer {
		target = reflect.New(ti.t.Elem())
	} else {
		target = reflect.New(ti.t)
	}
	u, ok := target.Interface().(interface{ UnmarshalText([]byte) error })
	if !ok {
		return errorf(path, "cannot decode a string into %s", ti.t)
	}
	if err := u.UnmarshalText([]byte(s)); err != nil {
		return errorf(path, "invalid %s %q: %s", ti.t, s, err)
	}
	if ti.t.Kind() == reflect.Pointer {
		rv.Set(target)
	} else {
		rv.Set(target.Elem())
	}
	return nil
}

// natural converts v to the Go value an interface{} field gets: string,
// value.Secret, bool, int or float64, []any, map[string]any, the Go value of
// a capsule, or nil.
func (c *converter) natural(v cty.Value, path *vpath) (any, error) {
	if !v.IsKnown() {
		return nil, errorf(path, "value is not known")
	}
	u, marks := v.Unmark()
	_, secret := marks[value.SecretMark]
	if u.IsNull() {
		return nil, nil
	}
	t := u.Type()
	switch {
	case t == cty.String:
		if secret {
			c.sawSecret = true
			return value.Secret(u.AsString()), nil
		}
		return u.AsString(), nil
	case secret && (t == cty.Number || t == cty.Bool):
		return nil, errorf(path, "expected a value that can hold a secret, got secret %s", value.TypeString(t))
	case t == cty.Bool:
		return u.True(), nil
	case t == cty.Number:
		bf := u.AsBigFloat()
		if bf.IsInt() {
			if i, acc := bf.Int64(); acc == 0 && i >= math.MinInt && i <= math.MaxInt {
				return int(i), nil
			}
		}
		f, _ := bf.Float64()
		return f, nil
	case t.IsCapsuleType():
		gv, _ := value.FromCapsule(u)
		return gv, nil
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		out := make([]any, 0, u.LengthInt())
		i := 0
		for it := u.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			ge, err := c.natural(elemMark(e, secret), path.item(i))
			if err != nil {
				return nil, err
			}
			out = append(out, ge)
		}
		return out, nil
	case t.IsObjectType() || t.IsMapType():
		out := make(map[string]any, u.LengthInt())
		for it := u.ElementIterator(); it.Next(); {
			k, e := it.Element()
			ge, err := c.natural(elemMark(e, secret), path.key(k.AsString()))
			if err != nil {
				return nil, err
			}
			out[k.AsString()] = ge
		}
		return out, nil
	}
	return nil, errorf(path, "cannot decode a value of type %s", value.TypeString(t))
}

// setDefaults calls SetToDefault on p (a pointer) if it has one.
func setDefaults(p reflect.Value) {
	if d, ok := p.Interface().(interface{ SetToDefault() }); ok {
		d.SetToDefault()
	}
}

// validate calls Validate on p (a pointer) if it has one.
func validate(p reflect.Value) error {
	if v, ok := p.Interface().(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

var errNotPointer = errors.New("decode target must be a non-nil pointer to a struct")
