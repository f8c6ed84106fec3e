package decode

import (
	"math"
	"net"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/syntax/value"
)

// TestEqualAgreesWithEncode checks Equal against its definition: two values
// are equal exactly when their encodings are (RawEquals), for a value of
// every kind of field and a change to each.
func TestEqualAgreesWithEncode(t *testing.T) {
	base := func() Args {
		a, diags := decodeArgs(t, everyTypeSrc)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return a
	}
	other := &recv{name: "other"}
	nan := math.NaN()
	changes := map[string]func(a *Args){
		"region":               func(a *Args) { a.Region = "eu-west-1" },
		"port":                 func(a *Args) { a.Port++ },
		"count":                func(a *Args) { a.Count++ },
		"ratio":                func(a *Args) { a.Ratio = 0.5 },
		"ratio negative zero":  func(a *Args) { a.Ratio = math.Copysign(0, -1) },
		"enabled":              func(a *Args) { a.Enabled = false },
		"interval":             func(a *Args) { a.Interval = time.Second },
		"prom interval":        func(a *Args) { a.PromInterval += model.Duration(time.Second) },
		"password":             func(a *Args) { a.Password = "other" },
		"tags element":         func(a *Args) { a.Tags[1] = "c" },
		"tags longer":          func(a *Args) { a.Tags = append(a.Tags, "c") },
		"tags nil":             func(a *Args) { a.Tags = nil },
		"extra value":          func(a *Args) { a.Extra["one"] = 2 },
		"extra key":            func(a *Args) { a.Extra = map[string]int{"two": 1} },
		"label set":            func(a *Args) { a.LabelSet["job"] = "other" },
		"filter value":         func(a *Args) { a.Filters[0].Values = []string{"db*"} },
		"target label":         func(a *Args) { a.Targets[0]["job"] = "other" },
		"rule":                 func(a *Args) { a.Rules[0].Regex = "x" },
		"endpoint url":         func(a *Args) { a.Endpoints[0].URL = "https://other.example.com" },
		"endpoint nil":         func(a *Args) { a.Endpoints[0] = nil },
		"nested secret":        func(a *Args) { a.Endpoints[0].SigV4.Credentials.SecretAccessKey = "x" },
		"forward_to receiver":  func(a *Args) { a.ForwardTo[0] = other },
		"forward_to nil":       func(a *Args) { a.ForwardTo[0] = nil },
		"output receiver":      func(a *Args) { a.Output = other },
		"output nil":           func(a *Args) { a.Output = nil },
		"anything list":        func(a *Args) { a.Anything.(map[string]any)["list"] = []any{1} },
		"anything nil":         func(a *Args) { a.Anything = nil },
		"maybe name":           func(a *Args) { s := "other"; a.MaybeName = &s },
		"maybe name nil":       func(a *Args) { a.MaybeName = nil },
		"addr":                 func(a *Args) { a.Addr = net.ParseIP("10.0.0.2") },
		"addr nil":             func(a *Args) { a.Addr = nil },
		"when":                 func(a *Args) { a.When = a.When.Add(time.Second) },
		"bearer token":         func(a *Args) { a.BearerToken = "other" },
		"follow redirects":     func(a *Args) { a.FollowRedirects = !a.FollowRedirects },
		"ratio NaN":            func(a *Args) { a.Ratio = nan },
		"labels block":         func(a *Args) { a.Labels = map[string]string{} },
		"credentials nil":      func(a *Args) { a.Credentials = nil },
		"capsule of same kind": func(a *Args) { a.Output = &recv{name: "default"} },
	}
	if !Equal(base(), base()) {
		t.Error("two decodings of the same source are not Equal")
	}
	if !Encode(base()).RawEquals(Encode(base())) {
		t.Fatal("two decodings of the same source encode differently")
	}
	variants := map[string]Args{"unchanged": base()}
	for name, change := range changes {
		a := base()
		change(&a)
		variants[name] = a
	}
	for na, a := range variants {
		for nb, b := range variants {
			want := Encode(a).RawEquals(Encode(b))
			if got := Equal(a, b); got != want {
				t.Errorf("Equal(%s, %s) = %v, encodings equal: %v", na, nb, got, want)
			}
		}
	}
	// A change and its reverse: equal again.
	a := base()
	a.Tags[0] = "z"
	a.Tags[0] = base().Tags[0]
	if !Equal(a, base()) {
		t.Error("a value changed back is not Equal")
	}
	// NaN encodes to null: two NaNs are equal.
	x, y := base(), base()
	x.Ratio, y.Ratio = nan, nan
	if !Equal(x, y) {
		t.Error("two NaNs are not Equal though both encode to null")
	}
}

func TestEqualTypes(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b any
		want bool
	}{
		{"nil and nil", nil, nil, true},
		{"nil and value", nil, Args{}, false},
		{"different types", Args{}, Rule{}, false},
		{"secret URL and plain URL", urlArgs{URL: value.NewSecretURL("http://x")}, urlArgs{URL: value.NewURL("http://x")}, false},
		{"same URL", urlArgs{URL: value.NewURL("http://x")}, urlArgs{URL: value.NewURL("http://x")}, true},
	} {
		if got := Equal(c.a, c.b); got != c.want {
			t.Errorf("%s: Equal = %v, want %v", c.name, got, c.want)
		}
	}
}
