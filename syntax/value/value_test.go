package value

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

type receiver struct{ name string }

func (r *receiver) Send() {}

type sender interface{ Send() }

func TestCapsuleTypeIsCachedPerGoType(t *testing.T) {
	rt := reflect.TypeFor[*receiver]()
	var wg sync.WaitGroup
	types := make([]cty.Type, 16)
	for i := range types {
		wg.Add(1)
		go func() {
			defer wg.Done()
			types[i] = CapsuleType(rt)
		}()
	}
	wg.Wait()
	for _, ct := range types[1:] {
		if !ct.Equals(types[0]) {
			t.Fatalf("CapsuleType returned different types for %s", rt)
		}
	}
	if got, want := types[0].FriendlyName(), "capsule(*value.receiver)"; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}
	if CapsuleType(reflect.TypeFor[sender]()).Equals(types[0]) {
		t.Error("different Go types share a capsule type")
	}
	if !IsCapsuleType(types[0]) {
		t.Error("IsCapsuleType is false for a capsule type")
	}
	if IsCapsuleType(cty.Capsule("other", rt)) {
		t.Error("IsCapsuleType is true for a foreign capsule type")
	}
}

func TestCapsuleRoundTripsTheSameGoValue(t *testing.T) {
	r := &receiver{name: "a"}
	v := Capsule(r)
	got, ok := FromCapsule(v)
	if !ok || got.(*receiver) != r {
		t.Fatalf("FromCapsule = %v, %v; want the same pointer", got, ok)
	}
	// Through a mark too.
	got, ok = FromCapsule(v.Mark(SecretMark))
	if !ok || got.(*receiver) != r {
		t.Fatal("FromCapsule of a marked capsule lost the value")
	}
	// Of an interface type: the capsule is named by the interface.
	iv := CapsuleOf(reflect.ValueOf(r), reflect.TypeFor[sender]())
	if iv.Type().FriendlyName() != "capsule(value.sender)" {
		t.Errorf("interface capsule name = %q", iv.Type().FriendlyName())
	}
	got, _ = FromCapsule(iv)
	if got.(*receiver) != r {
		t.Fatal("interface capsule lost the value")
	}
	if _, ok := FromCapsule(cty.StringVal("x")); ok {
		t.Error("FromCapsule accepted a string")
	}
	if _, ok := FromCapsule(cty.NullVal(CapsuleType(reflect.TypeFor[*receiver]()))); ok {
		t.Error("FromCapsule accepted a null")
	}
	if !Capsule(nil).IsNull() {
		t.Error("Capsule(nil) is not null")
	}
	var nilSender sender
	if !CapsuleOf(reflect.ValueOf(&nilSender).Elem(), reflect.TypeFor[sender]()).IsNull() {
		t.Error("a nil interface does not encode to null")
	}
}

func TestCapsuleEqualityIsIdentity(t *testing.T) {
	r1, r2 := &receiver{name: "a"}, &receiver{name: "a"}
	ch := make(chan int)
	m := map[string]int{}
	fn := func() {}
	tests := []struct {
		name string
		a, b cty.Value
		want bool
	}{
		{"same pointer", Capsule(r1), Capsule(r1), true},
		{"equal contents, other pointer", Capsule(r1), Capsule(r2), false},
		{"same channel", Capsule(ch), Capsule(ch), true},
		{"other channel", Capsule(ch), Capsule(make(chan int)), false},
		{"same map", Capsule(m), Capsule(m), true},
		{"same func, separate capsules", Capsule(fn), Capsule(fn), false},
		{"equal comparable values", Capsule(complex(1, 2)), Capsule(complex(1, 2)), true},
		{"same value via interface type",
			CapsuleOf(reflect.ValueOf(r1), reflect.TypeFor[sender]()),
			CapsuleOf(reflect.ValueOf(r1), reflect.TypeFor[sender]()), true},
		{"other value via interface type",
			CapsuleOf(reflect.ValueOf(r1), reflect.TypeFor[sender]()),
			CapsuleOf(reflect.ValueOf(r2), reflect.TypeFor[sender]()), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.RawEquals(tt.b); got != tt.want {
				t.Errorf("RawEquals = %v, want %v", got, tt.want)
			}
			if got := tt.a.Equals(tt.b).True(); got != tt.want {
				t.Errorf("Equals = %v, want %v", got, tt.want)
			}
			// Inside objects and lists, as exports are compared.
			oa := cty.ObjectVal(map[string]cty.Value{"receiver": tt.a, "n": cty.NumberIntVal(1)})
			ob := cty.ObjectVal(map[string]cty.Value{"receiver": tt.b, "n": cty.NumberIntVal(1)})
			if got := oa.RawEquals(ob); got != tt.want {
				t.Errorf("object RawEquals = %v, want %v", got, tt.want)
			}
		})
	}
	// A set of capsules works (needs HashKey consistent with equality).
	s := cty.SetVal([]cty.Value{Capsule(r1), Capsule(r1), Capsule(r2)})
	if s.LengthInt() != 2 {
		t.Errorf("set of capsules has %d elements, want 2", s.LengthInt())
	}
}

func TestToJSON(t *testing.T) {
	r := &receiver{}
	huge, _, _ := big.ParseFloat("1e400", 10, 512, big.ToNearestEven)
	v := cty.ObjectVal(map[string]cty.Value{
		"s":        cty.StringVal("x"),
		"n":        cty.NumberIntVal(42),
		"f":        cty.NumberFloatVal(1.5),
		"third":    cty.NumberVal(new(big.Float).Quo(big.NewFloat(1), big.NewFloat(3))),
		"huge":     cty.NumberVal(huge),
		"inf":      cty.PositiveInfinity,
		"b":        cty.True,
		"null":     cty.NullVal(cty.String),
		"unknown":  cty.UnknownVal(cty.String),
		"secret":   SecretVal("hunter2"),
		"list":     cty.ListVal([]cty.Value{cty.StringVal("a"), SecretVal("hunter3")}),
		"tuple":    cty.TupleVal([]cty.Value{cty.NumberIntVal(1), cty.StringVal("b")}),
		"set":      cty.SetVal([]cty.Value{cty.StringVal("c")}),
		"map":      cty.MapVal(map[string]cty.Value{"k": cty.StringVal("v")}),
		"capsule":  Capsule(r),
		"secretls": cty.ListVal([]cty.Value{cty.StringVal("hunter4")}).Mark(SecretMark),
		"deep": cty.ObjectVal(map[string]cty.Value{
			"deeper": cty.ObjectVal(map[string]cty.Value{"token": SecretVal("hunter5")}),
		}),
	})
	b, err := MarshalValueJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"b":true,"capsule":"capsule(*value.receiver)","deep":{"deeper":{"token":"(secret)"}},` +
		`"f":1.5,"huge":"1e+400","inf":"+Inf","list":["a","(secret)"],"map":{"k":"v"},"n":42,"null":null,` +
		`"s":"x","secret":"(secret)","secretls":"(secret)","set":["c"],"third":0.3333333333333333,` +
		`"tuple":[1,"b"],"unknown":null}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
	if strings.Contains(string(b), "hunter") {
		t.Fatal("a secret leaked into JSON")
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("output is not valid JSON: %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s),
		fmt.Sprintf("%v", struct{ P Secret }{s}),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	b, _ := json.Marshal(map[string]Secret{"p": s})
	if strings.Contains(string(b), "hunter2") {
		t.Errorf("secret leaked into JSON: %s", b)
	}
}

func TestTypeName(t *testing.T) {
	tests := []struct {
		v    cty.Value
		want string
	}{
		{cty.StringVal("x"), "string"},
		{SecretVal("x"), "secret"},
		{cty.NumberIntVal(1), "number"},
		{cty.True, "bool"},
		{cty.NullVal(cty.String), "null"},
		{cty.NullVal(cty.DynamicPseudoType), "null"},
		{cty.ListValEmpty(cty.String), "list"},
		{cty.EmptyTupleVal, "list"},
		{cty.EmptyObjectVal, "object"},
		{cty.MapValEmpty(cty.String), "map"},
		{Capsule(&receiver{}), "capsule(*value.receiver)"},
	}
	for _, tt := range tests {
		if got := TypeName(tt.v); got != tt.want {
			t.Errorf("TypeName(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if !IsSecret(cty.ListVal([]cty.Value{SecretVal("x")})) || IsSecret(cty.ListVal([]cty.Value{cty.StringVal("x")})) {
		t.Error("IsSecret does not look inside lists")
	}
}
