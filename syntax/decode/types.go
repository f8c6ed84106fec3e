package decode

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax/value"
)

// class is how a Go type maps onto River values.
type class int

const (
	classCapsule      class = iota // any non-data Go type: travels untouched
	classString                    // string kinds (named ones included)
	classBool                      // bool
	classInt                       // signed integers
	classUint                      // unsigned integers
	classFloat                     // float32, float64
	classDuration                  // time.Duration, written "15s"
	classPromDuration              // model.Duration, written "15s" or "1d"
	classSecret                    // value.Secret
	classURL                       // value.URL
	classText                      // implements encoding.TextMarshaler and TextUnmarshaler
	classSlice                     // []T: a list
	classMap                       // map[string-kind]T: an object or map
	classStruct                    // struct with river tags: an object or a block body
	classPointer                   // *T where T is data: null or T
	classAny                       // interface{}: whatever the value is
)

var (
	durationType     = reflect.TypeFor[time.Duration]()
	promDurationType = reflect.TypeFor[model.Duration]()
	secretType       = reflect.TypeFor[value.Secret]()
	urlType          = reflect.TypeFor[value.URL]()
	textMarshaler    = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler  = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// typeInfo is everything decoding and encoding need to know about one Go
// type, computed once per type.
type typeInfo struct {
	t     reflect.Type
	class class
	elem  *typeInfo   // slice, map and pointer element
	st    *structInfo // classStruct
	// cty is the type every encoded value of t has, or DynamicPseudoType when
	// that depends on the value (interface{} fields, recursive types).
	cty cty.Type
	// err is a programming error in t's river tags, reported when t is used.
	err error
}

// structInfo lists a struct's River fields, squashed fields flattened.
type structInfo struct {
	fields []*fieldInfo
	byName map[string]*fieldInfo
}

type fieldInfo struct {
	name     string
	pos      int   // index in structInfo.fields
	index    []int // reflect index path, through squashed structs
	block    bool
	optional bool
	info     *typeInfo
	// mapBlock is a block whose attributes are the entries of a map field.
	mapBlock bool
	// repeated is a block given any number of times (a slice of structs).
	repeated bool
}

var (
	infoCache sync.Map   // reflect.Type -> *typeInfo
	buildMu   sync.Mutex // serializes building, so a half-built info is never published
)

// infoFor returns the cached typeInfo for t, building it on first use.
func infoFor(t reflect.Type) *typeInfo {
	if ti, ok := infoCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if ti, ok := infoCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	b := builder{building: map[reflect.Type]*typeInfo{}}
	ti := b.build(t)
	for bt, bi := range b.building {
		infoCache.Store(bt, bi)
	}
	return ti
}

type builder struct {
	building map[reflect.Type]*typeInfo
}

func (b *builder) build(t reflect.Type) *typeInfo {
	if ti, ok := infoCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	if ti, ok := b.building[t]; ok {
		return ti // recursive type: the caller sees it while it is filled in
	}
	ti := &typeInfo{t: t, cty: cty.DynamicPseudoType}
	b.building[t] = ti

	switch {
	case t == secretType:
		ti.class, ti.cty = classSecret, cty.String
	case t == urlType:
		ti.class, ti.cty = classURL, cty.String
	case t == durationType:
		ti.class, ti.cty = classDuration, cty.String
	case t == promDurationType:
		ti.class, ti.cty = classPromDuration, cty.String
	case t.Kind() == reflect.Struct && isRiverStruct(t):
		ti.class = classStruct
		ti.st, ti.err = b.buildStruct(t)
		if ti.err == nil {
			ti.cty = structCtyType(ti.st)
		}
	case isText(t):
		ti.class, ti.cty = classText, cty.String
	default:
		b.buildKind(ti)
	}
	return ti
}

func (b *builder) buildKind(ti *typeInfo) {
	t := ti.t
	switch t.Kind() {
	case reflect.String:
		ti.class, ti.cty = classString, cty.String
	case reflect.Bool:
		ti.class, ti.cty = classBool, cty.Bool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		ti.class, ti.cty = classInt, cty.Number
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		ti.class, ti.cty = classUint, cty.Number
	case reflect.Float32, reflect.Float64:
		ti.class, ti.cty = classFloat, cty.Number
	case reflect.Slice:
		ti.class = classSlice
		ti.elem = b.build(t.Elem())
		ti.cty = cty.List(ti.elem.cty)
		ti.err = ti.elem.err
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			ti.class, ti.cty = classCapsule, value.CapsuleType(t)
			return
		}
		ti.class = classMap
		ti.elem = b.build(t.Elem())
		ti.cty = cty.Map(ti.elem.cty)
		ti.err = ti.elem.err
	case reflect.Pointer:
		elem := b.build(t.Elem())
		if elem.class == classCapsule {
			ti.class, ti.cty = classCapsule, value.CapsuleType(t)
			return
		}
		ti.class, ti.elem, ti.cty, ti.err = classPointer, elem, elem.cty, elem.err
	case reflect.Interface:
		if t.NumMethod() == 0 {
			ti.class = classAny // cty stays DynamicPseudoType
			return
		}
		ti.class, ti.cty = classCapsule, value.CapsuleType(t)
	default:
		// Structs without river tags, arrays, funcs, channels, complex numbers.
		ti.class, ti.cty = classCapsule, value.CapsuleType(t)
	}
}

// isRiverStruct reports whether t is configuration: a struct with river tags,
// or an empty struct. Any other struct is an opaque Go value (a capsule).
func isRiverStruct(t reflect.Type) bool {
	if t.NumField() == 0 {
		return true
	}
	for i := range t.NumField() {
		if _, ok := t.Field(i).Tag.Lookup("river"); ok {
			return true
		}
	}
	return false
}

// isText reports whether t round-trips through text (time.Time, net.IP,
// *regexp.Regexp): it is written and read as a string.
func isText(t reflect.Type) bool {
	if !t.Implements(textMarshaler) {
		return false
	}
	if t.Kind() == reflect.Pointer {
		return t.Implements(textUnmarshaler)
	}
	return reflect.PointerTo(t).Implements(textUnmarshaler)
}

func (b *builder) buildStruct(t reflect.Type) (*structInfo, error) {
	st := &structInfo{byName: map[string]*fieldInfo{}}
	if err := b.addFields(st, t, nil); err != nil {
		return nil, err
	}
	return st, nil
}

func (b *builder) addFields(st *structInfo, t reflect.Type, prefix []int) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("river")
		if !ok || tag == "-" {
			continue
		}
		index := append(append([]int(nil), prefix...), i)
		parts := strings.Split(tag, ",")
		name, opts := parts[0], parts[1:]
		if len(opts) == 1 && opts[0] == "squash" {
			ft := f.Type
			if ft.Kind() != reflect.Struct {
				return fmt.Errorf("%s.%s: squash needs a struct field, not %s", t, f.Name, ft)
			}
			if err := b.addFields(st, ft, index); err != nil {
				return err
			}
			continue
		}
		if !f.IsExported() {
			return fmt.Errorf("%s.%s: river tag on an unexported field", t, f.Name)
		}
		fi := &fieldInfo{name: name, index: index}
		if name == "" || len(opts) == 0 || len(opts) > 2 {
			return fmt.Errorf("%s.%s: river tag %q must be \"name,attr\" or \"name,block\", optionally followed by \",optional\"", t, f.Name, tag)
		}
		switch opts[0] {
		case "attr":
		case "block":
			fi.block = true
		default:
			return fmt.Errorf("%s.%s: river tag %q: %q is neither attr nor block", t, f.Name, tag, opts[0])
		}
		if len(opts) == 2 {
			if opts[1] != "optional" {
				return fmt.Errorf("%s.%s: river tag %q: unknown option %q", t, f.Name, tag, opts[1])
			}
			fi.optional = true
		}
		fi.info = b.build(f.Type)
		if fi.info.err != nil {
			return fi.info.err
		}
		if fi.block {
			if err := checkBlockField(fi); err != nil {
				return fmt.Errorf("%s.%s: %w", t, f.Name, err)
			}
		}
		if _, dup := st.byName[name]; dup {
			return fmt.Errorf("%s.%s: river name %q is used twice", t, f.Name, name)
		}
		fi.pos = len(st.fields)
		st.byName[name] = fi
		st.fields = append(st.fields, fi)
	}
	return nil
}

// checkBlockField sorts a block field into a plain block (struct or
// *struct), a repeated block (slice of those) or a map block.
func checkBlockField(fi *fieldInfo) error {
	ti := fi.info
	switch {
	case blockStruct(ti) != nil:
	case ti.class == classSlice && blockStruct(ti.elem) != nil:
		fi.repeated = true
	case ti.class == classMap:
		fi.mapBlock = true
	default:
		return fmt.Errorf("a block must be a struct, a pointer to one, a slice of them or a map, not %s", ti.t)
	}
	return nil
}

// blockStruct returns the struct info of a struct or *struct type.
func blockStruct(ti *typeInfo) *typeInfo {
	if ti.class == classPointer {
		ti = ti.elem
	}
	if ti.class == classStruct {
		return ti
	}
	return nil
}

// structCtyType is the object type of an encoded struct; repeated blocks
// are lists of objects.
func structCtyType(st *structInfo) cty.Type {
	attrs := make(map[string]cty.Type, len(st.fields))
	for _, f := range st.fields {
		attrs[f.name] = f.info.cty
	}
	return cty.Object(attrs)
}

// describe names the River type a Go type expects, for "expected …" messages.
func (ti *typeInfo) describe() string {
	switch ti.class {
	case classString:
		return "string"
	case classBool:
		return "bool"
	case classInt, classUint, classFloat:
		return "number"
	case classDuration, classPromDuration:
		return "duration"
	case classSecret:
		return "secret"
	case classText, classURL:
		return "string"
	case classSlice:
		return "list of " + ti.elem.describe()
	case classMap:
		return "map of " + ti.elem.describe()
	case classStruct:
		return "object"
	case classPointer:
		return ti.elem.describe()
	case classAny:
		return "any"
	}
	return "capsule(" + ti.t.String() + ")"
}
