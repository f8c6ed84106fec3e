package decode

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax/value"
)

const everyTypeSrc = `test.component "x" {
  region           = "us-east-1"
  port             = 9100
  count            = 3
  ratio            = 0.25
  enabled          = true
  refresh_interval = "1m30s"
  scrape_interval  = "1d"
  password         = "hunter2"
  tags             = ["a", "b"]
  extra            = { one = 1 }
  label_set        = { job = "node" }
  filters          = [{ name = "tag:Name", values = ["web*"] }]
  targets          = [{"__address__" = "localhost:9100", "job" = "node"}]
  forward_to       = [remote.receiver]
  output           = remote.receiver
  anything         = { list = [1, 2.5, "x"], secret = creds.secret_access_key, capsule = remote.receiver }
  maybe_name       = "named"
  addr             = "10.0.0.1"
  when             = "2024-05-01T10:00:00Z"
  bearer_token     = creds.secret_access_key

  labels {
    job = "firehose_logs"
  }

  rule {
    source_labels = ["__meta_ec2_instance_id"]
  }

  endpoint {
    url = "https://example.com"

    aws_sigv4 {
      credentials {
        access_key_id     = creds.access_key_id
        secret_access_key = creds.secret_access_key
      }
    }
  }
}`

func TestEncodeJSON(t *testing.T) {
	args, diags := decodeArgs(t, everyTypeSrc)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	js, err := value.MarshalValueJSON(Encode(args))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"addr":"10.0.0.1","anything":{"capsule":"capsule(*decode.recv)","list":[1,2.5,"x"],"secret":"(secret)"},` +
		`"bearer_token":"(secret)","callback":null,"count":3,"credentials":null,"enabled":true,` +
		`"endpoint":[{"aws_sigv4":{"credentials":{"access_key_id":"AKIA","secret_access_key":"(secret)","token":"(secret)"},"region":""},` +
		`"headers":[],"queue_config":{"batch_wait":"5s","capacity":10000},"url":"https://example.com"}],` +
		`"extra":{"one":1},"filters":[{"name":"tag:Name","values":["web*"]}],"follow_redirects":true,` +
		`"forward_to":["capsule(decode.Receiver)"],"label_set":{"job":"node"},"labels":{"job":"firehose_logs"},` +
		`"maybe_name":"named","output":"capsule(decode.Receiver)","password":"(secret)","port":9100,"ratio":0.25,"ratio32":0,` +
		`"refresh_interval":"1m30s","region":"us-east-1","rule":[{"action":"replace","regex":"(.*)","source_labels":["__meta_ec2_instance_id"]}],` +
		`"scrape_interval":"1d","small":0,"tags":["a","b"],"targets":[{"__address__":"localhost:9100","job":"node"}],` +
		`"when":"2024-05-01T10:00:00Z"}`
	if string(js) != want {
		t.Errorf("JSON:\n got %s\nwant %s", js, want)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	args, diags := decodeArgs(t, everyTypeSrc)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var back Args
	if err := Value(Encode(args), &back); err != nil {
		t.Fatal(err)
	}
	// Encode writes a nil slice as an empty list, so consumers always get a
	// list; it comes back empty rather than nil.
	args.Endpoints[0].Headers = []string{}
	if !reflect.DeepEqual(args, back) {
		t.Errorf("round trip changed the value:\n%s\n%s", dump(args), dump(back))
	}
	if back.Output.(*recv) != theReceiver || back.ForwardTo[0].(*recv) != theReceiver {
		t.Error("capsules did not round-trip to the same Go value")
	}
}

func TestEncodeEqualityFollowsIdentity(t *testing.T) {
	type exports struct {
		Receiver Receiver `river:"receiver,attr"`
		Count    int      `river:"count,attr"`
	}
	r := &recv{}
	a, b := Encode(exports{Receiver: r, Count: 1}), Encode(exports{Receiver: r, Count: 1})
	if !a.RawEquals(b) || !a.Equals(b).True() {
		t.Error("exports carrying the same receiver are not equal")
	}
	c := Encode(exports{Receiver: &recv{}, Count: 1})
	if a.RawEquals(c) {
		t.Error("exports carrying a new receiver are equal to the old")
	}
	if a.RawEquals(Encode(exports{Receiver: r, Count: 2})) {
		t.Error("a changed count is not a change")
	}
	if !Encode(exports{}).GetAttr("receiver").IsNull() {
		t.Error("a nil interface does not encode to null")
	}
}

func TestEncodeShapes(t *testing.T) {
	type block struct {
		A int `river:"a,attr"`
	}
	type node struct {
		Name string `river:"name,attr"`
		Next *node  `river:"next,block,optional"`
	}
	type opaque struct{ x int }
	tests := []struct {
		name string
		in   any
		want cty.Value
	}{
		{"nil", nil, cty.NullVal(cty.DynamicPseudoType)},
		{"duration", 2 * time.Hour, cty.StringVal("2h")},
		{"duration with minutes", 90 * time.Minute, cty.StringVal("1h30m")},
		{"sub-second duration", 1500 * time.Millisecond, cty.StringVal("1.5s")},
		{"nil slice is an empty list", struct {
			L []string `river:"l,attr"`
		}{}, cty.ObjectVal(map[string]cty.Value{"l": cty.ListValEmpty(cty.String)})},
		{"nil map is an empty map", struct {
			M map[string]int `river:"m,attr"`
		}{}, cty.ObjectVal(map[string]cty.Value{"m": cty.MapValEmpty(cty.Number)})},
		{"repeated blocks", struct {
			B []block `river:"b,block,optional"`
		}{B: []block{{1}, {2}}}, cty.ObjectVal(map[string]cty.Value{"b": cty.ListVal([]cty.Value{
			cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(1)}),
			cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(2)}),
		})})},
		{"mixed interface list is a tuple", []any{1, "x"}, cty.TupleVal([]cty.Value{cty.NumberIntVal(1), cty.StringVal("x")})},
		{"recursive type", node{Name: "a", Next: &node{Name: "b"}}, cty.ObjectVal(map[string]cty.Value{
			"name": cty.StringVal("a"),
			"next": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("b"), "next": cty.NullVal(cty.DynamicPseudoType)}),
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Encode(tt.in); !got.RawEquals(tt.want) {
				t.Errorf("Encode = %#v, want %#v", got, tt.want)
			}
		})
	}
	// Opaque Go values travel as capsules of their own type.
	o := &opaque{x: 1}
	v := Encode(struct {
		O *opaque  `river:"o,attr"`
		C chan int `river:"c,attr"`
		F func()   `river:"f,attr"`
	}{O: o})
	if got, _ := value.FromCapsule(v.GetAttr("o")); got != o {
		t.Errorf("pointer to an opaque struct is not a capsule of it: %#v", v.GetAttr("o"))
	}
	if !v.GetAttr("c").IsNull() || !v.GetAttr("f").IsNull() {
		t.Error("nil chan and func are not null")
	}
	if name := v.GetAttr("c").Type().FriendlyName(); name != "capsule(chan int)" {
		t.Errorf("chan capsule named %q", name)
	}
}

func TestEncodeInvalidTagsIsACapsule(t *testing.T) {
	type bad struct {
		A string `river:"a,nope"`
	}
	v := Encode(bad{A: "x"})
	if !strings.HasPrefix(v.Type().FriendlyName(), "capsule(") {
		t.Errorf("invalid type encoded as %#v", v)
	}
}

// TestConcurrentFirstUse encodes and decodes a type from many goroutines at
// once, as components starting together do; run with -race.
func TestConcurrentFirstUse(t *testing.T) {
	type fresh struct {
		Name  string `river:"name,attr"`
		Inner *struct {
			A int `river:"a,attr"`
		} `river:"inner,block,optional"`
		Recv Receiver `river:"recv,attr,optional"`
	}
	done := make(chan cty.Value)
	for range 8 {
		go func() {
			v := Encode(fresh{Name: "x", Recv: theReceiver})
			var back fresh
			if err := Value(v, &back); err != nil || back.Recv != theReceiver {
				t.Errorf("round trip: %v", err)
			}
			done <- v
		}()
	}
	first := <-done
	for range 7 {
		if v := <-done; !v.RawEquals(first) {
			t.Error("concurrent encodings differ")
		}
	}
}

func TestFieldNames(t *testing.T) {
	type inner struct {
		B string `river:"b,attr"`
	}
	type outer struct {
		A      string `river:"a,attr"`
		Inner  inner  `river:",squash"`
		Hidden string `river:"-"`
		Plain  string
		C      []inner `river:"c,block,optional"`
	}
	if got := FieldNames(reflect.TypeFor[*outer]()); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("FieldNames(*outer) = %v, want [a b c]", got)
	}
	type bad struct {
		A string `river:"a,attribute"`
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[bad](), reflect.TypeFor[int](), reflect.TypeFor[struct{}]()} {
		if got := FieldNames(typ); len(got) != 0 {
			t.Errorf("FieldNames(%v) = %v, want none", typ, got)
		}
	}
}
