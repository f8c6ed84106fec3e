package httpclient

import (
	"errors"
	"testing"
)

func TestValidateEndpoints(t *testing.T) {
	type ep struct{ name, url string }
	validate := func(e *ep) error {
		if e.url == "" {
			return errors.New("url is required")
		}
		return nil
	}
	name := func(e *ep) string { return e.name }
	for _, tc := range []struct {
		eps  []ep
		want string
	}{
		{eps: []ep{{"a", "u"}, {"b", "u"}}},
		{eps: []ep{{"a", "u"}, {"b", ""}}, want: "endpoint 2: url is required"},
		{eps: []ep{{"a", "u"}, {"b", "u"}, {"a", "u"}}, want: `endpoints 1 and 3 are both named "a"; give each a distinct name`},
	} {
		err := ValidateEndpoints(tc.eps, validate, name)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.eps, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%v: got %v, want %q", tc.eps, err, tc.want)
		}
	}
}
