package fakeaws

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// SuiteCase is one case of AWS's SigV4 test suite (testdata/aws-sigv4-suite,
// from awslabs/aws-c-auth), header-signed variant.
type SuiteCase struct {
	Name    string
	Context SuiteContext

	// The request to sign, as in request.txt.
	Request SuiteRequest
	// The expected results (header-*.txt).
	CanonicalRequest string
	StringToSign     string
	Signature        string
	SignedRequest    SuiteRequest
}

// SuiteContext is context.json.
type SuiteContext struct {
	Credentials struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		Token           string `json:"token"`
	} `json:"credentials"`
	Region           string    `json:"region"`
	Service          string    `json:"service"`
	Timestamp        time.Time `json:"timestamp"`
	Normalize        bool      `json:"normalize"`
	SignBody         bool      `json:"sign_body"`
	OmitSessionToken bool      `json:"omit_session_token"`
}

// SuiteRequest is a parsed request.txt: the request line's parts kept
// exactly as written (the path is raw, possibly with spaces or UTF-8).
type SuiteRequest struct {
	Method   string
	RawPath  string
	RawQuery string
	Headers  []HeaderField
	Body     []byte
}

// HeaderField is one header line, name as written.
type HeaderField struct{ Name, Value string }

// Values returns the values of the header name (case-insensitive), in order.
func (r SuiteRequest) Values(name string) []string {
	var out []string
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// LoadSuite reads every case folder under dir, sorted by name.
func LoadSuite(dir string) ([]SuiteCase, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the SigV4 suite: %w", err)
	}
	var cases []SuiteCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := loadCase(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("SigV4 suite case %s: %w", e.Name(), err)
		}
		cases = append(cases, c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	return cases, nil
}

func loadCase(dir string) (SuiteCase, error) {
	c := SuiteCase{Name: filepath.Base(dir)}
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return string(b), err
	}
	ctx, err := read("context.json")
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(ctx), &c.Context); err != nil {
		return c, fmt.Errorf("context.json: %w", err)
	}
	req, err := read("request.txt")
	if err != nil {
		return c, err
	}
	if c.Request, err = ParseSuiteRequest(req); err != nil {
		return c, fmt.Errorf("request.txt: %w", err)
	}
	if c.CanonicalRequest, err = read("header-canonical-request.txt"); err != nil {
		return c, err
	}
	if c.StringToSign, err = read("header-string-to-sign.txt"); err != nil {
		return c, err
	}
	sig, err := read("header-signature.txt")
	if err != nil {
		return c, err
	}
	c.Signature = strings.TrimSpace(sig)
	signed, err := read("header-signed-request.txt")
	if err != nil {
		return c, err
	}
	if c.SignedRequest, err = ParseSuiteRequest(signed); err != nil {
		return c, fmt.Errorf("header-signed-request.txt: %w", err)
	}
	return c, nil
}

// ParseSuiteRequest parses the suite's request format: "METHOD path
// HTTP/1.1", header lines "Name:value", continuation lines starting with
// whitespace, a blank line, the body. Continuation lines are obsolete line
// folding (RFC 7230 §3.2.4): an HTTP recipient replaces each fold with a
// space before interpreting the value, and so does this parser.
func ParseSuiteRequest(s string) (SuiteRequest, error) {
	var r SuiteRequest
	head, body, _ := strings.Cut(s, "\n\n")
	r.Body = []byte(body)
	lines := strings.Split(head, "\n")
	line := lines[0]
	sp := strings.IndexByte(line, ' ')
	end := strings.LastIndex(line, " HTTP/")
	if sp < 0 || end <= sp {
		return r, fmt.Errorf("malformed request line %q", line)
	}
	r.Method = line[:sp]
	target := line[sp+1 : end]
	r.RawPath, r.RawQuery, _ = strings.Cut(target, "?")
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(r.Headers) == 0 {
				return r, fmt.Errorf("continuation line before any header")
			}
			last := &r.Headers[len(r.Headers)-1]
			last.Value += " " + strings.TrimLeft(l, " \t")
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return r, fmt.Errorf("malformed header line %q", l)
		}
		r.Headers = append(r.Headers, HeaderField{Name: name, Value: value})
	}
	return r, nil
}
