package river

import (
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/syntax"
)

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{
		"node": "node", "prometheus-1": "prometheus_1", "1job": "_1job", "": "default",
		"a.b/c d": "a_b_c_d", "héllo": "h_llo",
	} {
		if got := Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
	var l Labels
	if a, b, c := l.Unique("x", "job"), l.Unique("x", "job"), l.Unique("y", "job"); a != "job" || b != "job_2" || c != "job" {
		t.Errorf("Unique: %q %q %q (labels are unique per component name)", a, b, c)
	}
}

// TestQuoteRoundTrip: every string, however odd, is written as a River
// literal that parses back to itself.
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{`plain`, `${1}:9100`, "tab\there", `back\slash "quoted"`, "nul\x00", "é and \u2028", "\xff invalid"} {
		f := &File{}
		b := f.Block("x", "l")
		b.Attr("s", String(s))
		b.Attr("m", StringMap(map[string]string{"odd-key": s, "ok": "v"}))
		out, err := f.Bytes()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if _, d := syntax.ParseFile(out, "t.river"); d.HasErrors() {
			t.Fatalf("%q: %s\n%s", s, d.Error(), out)
		}
		if !strings.Contains(string(out), `"odd-key" =`) {
			t.Errorf("a key that is not an identifier must be quoted:\n%s", out)
		}
	}
}

// TestStringMapKeyOrder: the keys named first (those present) lead, in
// their order; the rest follow sorted.
func TestStringMapKeyOrder(t *testing.T) {
	m := map[string]string{"job": "j", "__path__": "/p", "env": "e", "__address__": "a"}
	var keys []string
	for _, f := range StringMap(m, "__address__", "__path__", "__path_exclude__").(objectExpr) {
		keys = append(keys, f.Key)
	}
	if got, want := strings.Join(keys, " "), "__address__ __path__ env job"; got != want {
		t.Errorf("keys %q, want %q", got, want)
	}
	keys = nil
	for _, f := range StringMap(m).(objectExpr) {
		keys = append(keys, f.Key)
	}
	if got, want := strings.Join(keys, " "), "__address__ __path__ env job"; got != want {
		t.Errorf("keys without first %q, want %q (sorted)", got, want)
	}
	keys = nil
	for _, f := range StringMap(m, "job").(objectExpr) {
		keys = append(keys, f.Key)
	}
	if got, want := strings.Join(keys, " "), "job __address__ __path__ env"; got != want {
		t.Errorf("keys with job first %q, want %q", got, want)
	}
}
