package aws

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/smithy-go"
)

// hints are what the AWS error codes users meet when signing or getting
// credentials usually mean in practice. They, and the package's regular
// expressions, are built on first use, not at start-up: every flow process
// links this package, few meet an AWS error (issue 16: the init heap counts
// twice in RSS, as live heap and as the collector's headroom over it).
var hints = sync.OnceValue(func() map[string]string {
	h := map[string]string{
		"NoCredentialProviders": "no AWS credentials were found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, " +
			"a profile in the shared config/credentials files, IRSA (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE) " +
			"or an ECS task role, or attach an IAM role (instance profile) to this EC2 instance and allow IMDSv2",
		"AccessDenied": "the caller is not allowed to do this: for AssumeRole, check the role's trust policy " +
			"names this principal and that external_id matches; otherwise check the IAM policy grants the action",
		"AccessDeniedException": "the IAM policy of these credentials does not grant the action " +
			"(for example aps:RemoteWrite or execute-api:Invoke on this resource)",
		"UnauthorizedOperation": "the IAM policy of these credentials does not grant the action (for discovery, ec2:DescribeInstances)",
		"ExpiredToken": "the session token has expired: the credentials were not refreshed in time " +
			"(check the source credentials are still valid) or this machine's clock is wrong (check NTP)",
		"ExpiredTokenException": "the session token has expired: the credentials were not refreshed in time " +
			"or this machine's clock is wrong (check NTP)",
		"RequestExpired": "the request or its session token has expired: usually this machine's clock is wrong " +
			"(check NTP), or the credentials were not refreshed in time",
		"InvalidClientTokenId": "AWS does not know this access key or session token: the key was deleted or rotated, " +
			"a temporary key is used without its session token, or the credentials are for another partition or " +
			"a region where STS is not enabled",
		"UnrecognizedClientException": "AWS does not know this access key or session token: the key was deleted or " +
			"rotated, or a temporary key is used without its session token",
		"AuthFailure": "AWS could not validate these credentials: the key was deleted or rotated, the session token " +
			"is missing, or the secret key is wrong",
		"SignatureDoesNotMatch": "the signature does not match what AWS computed: usually a wrong region or " +
			"service_name (the credential scope), a wrong secret key, or a proxy that changed the path, query, " +
			"headers or body after signing",
		"InvalidSignatureException": "the signature does not match what AWS computed: usually a wrong region or " +
			"service_name, a wrong secret key, a skewed clock, or a proxy that changed the request after signing",
		"IncompleteSignature": "the request's signature is malformed or incomplete: a proxy may have stripped " +
			"the Authorization or X-Amz-Date header",
		"MissingAuthenticationToken": "the request was not signed: configure aws_sigv4 (or sigv4) on this endpoint",
		"RequestTimeTooSkewed": "this machine's clock differs from AWS's by more than 5 minutes: fix time " +
			"synchronisation (NTP/chrony)",
		"InvalidIdentityToken": "STS rejected the web identity token: check the IAM OIDC provider for the cluster " +
			"exists and the role's trust policy allows this service account and audience",
		"IDPCommunicationError": "STS could not reach the identity provider to check the web identity token: retry later",
	}
	// JSON and REST services spell some codes with an Exception suffix.
	for _, c := range []string{"MissingAuthenticationToken", "IncompleteSignature"} {
		h[c+"Exception"] = h[c]
	}
	return h
})

// Hint returns what an AWS error code usually means, or "".
func Hint(code string) string { return hints()[code] }

// AuthError is an AWS authentication or authorization failure, with the
// AWS error code and a hint for the usual cause. It never holds secrets:
// the message is cut to its first line and scrubbed.
type AuthError struct {
	// Op says what was being done ("assuming role arn:…", "signing the request").
	Op string
	// Status is the HTTP status, when the error came from a response.
	Status  int
	Code    string
	Message string
	Hint    string
	Err     error
}

func (e *AuthError) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, "AWS answered %d ", e.Status)
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

func (e *AuthError) Unwrap() error { return e.Err }

// ClassifyError finds the AWS error code and message in err (an SDK
// error chain), recognizing the SDK's "no credentials anywhere" failure as
// NoCredentialProviders. ok is false if err carries no recognizable code.
func ClassifyError(err error) (code, message string, ok bool) {
	if err == nil {
		return "", "", false
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() != "" {
		return api.ErrorCode(), api.ErrorMessage(), true
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "EC2 IMDS role"), strings.Contains(s, "failed to get API token"),
		strings.Contains(s, "ec2imds"):
		return "NoCredentialProviders", "the environment, shared files, web identity and container " +
			"endpoint have no credentials, and the EC2 instance metadata service gave none (" + firstLine(s) + ")", true
	}
	return "", "", false
}

// ExplainError wraps err (from getting credentials or calling AWS) in an
// *AuthError naming the AWS error code and its usual cause, if it has one;
// otherwise it returns err wrapped with op. secrets are scrubbed from the
// message.
func ExplainError(op string, err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	code, msg, ok := ClassifyError(err)
	if !ok {
		if msg := err.Error(); Scrub(msg, secrets...) != msg {
			// Never wrap an error whose text holds a secret.
			return fmt.Errorf("%s: %s", op, Scrub(msg, secrets...))
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	ae := &AuthError{Op: op, Code: code, Message: Scrub(firstLine(msg), secrets...), Hint: hints()[code], Err: err}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		ae.Status = re.HTTPStatusCode()
	}
	return ae
}

// ExplainResponse inspects a failed response from an AWS-signed endpoint
// (the body already read, or its first part) and returns an *AuthError
// naming the AWS error code and its usual cause, or nil if the response is
// not such an error. It understands XML (<Code>, <Message>) and JSON
// ({"__type"|"code", "message"}) bodies and the x-amzn-ErrorType header.
// remote_write and loki.write call it on 4xx responses.
func ExplainResponse(resp *http.Response, body []byte) error {
	if e := explainResponse(resp, body); e != nil {
		return e
	}
	return nil
}

// explainResponse is ExplainResponse, also scrubbing the given secrets
// from the message.
func explainResponse(resp *http.Response, body []byte, secrets ...string) error {
	if resp == nil || resp.StatusCode < 400 || resp.StatusCode >= 500 {
		return nil
	}
	code, msg := errorFromResponse(resp.Header, body)
	if code == "" {
		return nil
	}
	if _, known := hints()[code]; !known {
		return nil
	}
	return &AuthError{Op: "request to " + redactURL(resp.Request), Status: resp.StatusCode,
		Code: code, Message: Scrub(firstLine(msg), secrets...), Hint: hints()[code]}
}

func redactURL(r *http.Request) string {
	if r == nil || r.URL == nil {
		return "AWS"
	}
	// Scheme, host and path only: a query string may hold presigned secrets.
	return r.URL.Scheme + "://" + r.URL.Host + r.URL.Path
}

// errorFromResponse extracts an AWS error code and message.
func errorFromResponse(h http.Header, body []byte) (code, msg string) {
	if t := h.Get("X-Amzn-ErrorType"); t != "" {
		// "AccessDeniedException:http://internal.amazon.com/coral/..."
		code, _, _ = strings.Cut(t, ":")
	}
	trimmed := strings.TrimSpace(string(body))
	switch {
	case strings.HasPrefix(trimmed, "{"):
		var j map[string]any
		if json.Unmarshal([]byte(trimmed), &j) == nil {
			for _, k := range []string{"__type", "code", "Code"} {
				if s, ok := j[k].(string); ok && s != "" && code == "" {
					code = s
				}
			}
			for _, k := range []string{"message", "Message", "errorMessage"} {
				if s, ok := j[k].(string); ok && s != "" {
					msg = s
					break
				}
			}
		}
	case strings.HasPrefix(trimmed, "<"):
		c, m := xmlCodeMessage(trimmed)
		if code == "" {
			code = c
		}
		msg = m
	}
	// JSON protocols qualify the type: "com.amazonaws.sts#ExpiredTokenException".
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	return strings.TrimSpace(code), strings.TrimSpace(msg)
}

// xmlCodeMessage finds the first <Code> and <Message> elements at any depth
// (STS's ErrorResponse/Error, EC2's Response/Errors/Error, S3's Error).
func xmlCodeMessage(s string) (code, msg string) {
	d := xml.NewDecoder(strings.NewReader(s))
	var cur string
	for {
		tok, err := d.Token()
		if err != nil {
			return code, msg
		}
		switch t := tok.(type) {
		case xml.StartElement:
			cur = t.Name.Local
		case xml.EndElement:
			cur = ""
		case xml.CharData:
			switch {
			case cur == "Code" && code == "":
				code = string(t)
			case cur == "Message" && msg == "":
				msg = string(t)
			}
		}
		if code != "" && msg != "" {
			return code, msg
		}
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	const max = 400
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// Scrub replaces every occurrence of the given secrets (secret keys,
// session tokens) in s, and, since a message may echo credentials flow
// does not hold (the base keys of an assumed role live inside the SDK),
// every run of 40 or more base64 characters: the shape of AWS secret keys
// and session tokens. Access key IDs (20 characters) and ARNs survive.
func Scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 8 {
			s = strings.ReplaceAll(s, sec, "(secret)")
		}
	}
	return secretShapeRE().ReplaceAllString(s, "(secret)")
}

var secretShapeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[A-Za-z0-9/+=]{40,}`) })
