package fakeaws

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

type xmlCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type xmlAssumedRoleUser struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

type xmlResponseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// stsResponse is an STS answer to Action, as STS writes it:
// <ActionResponse xmlns="…"><ActionResult>Result</ActionResult>
// <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></ActionResponse>.
type stsResponse struct {
	Action    string
	Result    any
	RequestID string
}

func (r stsResponse) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	start := xml.StartElement{Name: xml.Name{Space: "https://sts.amazonaws.com/doc/2011-06-15/", Local: r.Action + "Response"}}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeElement(r.Result, xml.StartElement{Name: xml.Name{Local: r.Action + "Result"}}); err != nil {
		return err
	}
	if err := e.EncodeElement(xmlResponseMetadata{r.RequestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

// serveSTS implements the STS Query API: AssumeRole,
// AssumeRoleWithWebIdentity and GetCallerIdentity.
func (f *AWS) serveSTS(w http.ResponseWriter, r *http.Request) {
	reqID := f.nextRequestID()
	fail := func(e *Error) {
		f.store.reject(e)
		writeError(w, protoQuery, e, reqID)
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		fail(&Error{Status: 405, Code: "InvalidAction", Message: "STS accepts GET and POST"})
		return
	}
	if r.Header.Get("Authorization") == "" {
		// AssumeRoleWithWebIdentity is the one unsigned call (the token is
		// the proof); everything else falls through to the signature check,
		// which rejects the missing signature.
		body, err := readBody(r)
		if err != nil {
			fail(&Error{Status: 400, Code: "IncompleteBody", Message: err.Error()})
			return
		}
		if form, err := requestForm(r, body); err == nil && form.Get("Action") == "AssumeRoleWithWebIdentity" {
			f.assumeRoleWithWebIdentity(w, form, reqID, fail, nil)
			return
		}
	}
	ver, form, action, ok := f.queryRequest(r, "sts", fail, func(k *Key, action string) *Error {
		return &Error{Status: 403, Code: "AccessDenied", Message: "User: " + k.Principal + " is not authorized to perform: sts:" + action}
	})
	if !ok {
		return
	}
	switch action {
	case "GetCallerIdentity":
		f.store.accept("sts:GetCallerIdentity", ver.key)
		type result struct {
			Arn     string `xml:"Arn"`
			UserID  string `xml:"UserId"`
			Account string `xml:"Account"`
		}
		writeXML(w, 200, stsResponse{"GetCallerIdentity", result{Arn: ver.key.Principal, UserID: ver.key.AccessKeyID, Account: ver.key.Account}, reqID})
	case "AssumeRole":
		f.assumeRole(w, form, ver.key, reqID, fail)
	case "AssumeRoleWithWebIdentity":
		// Signed web identity calls are allowed too.
		f.assumeRoleWithWebIdentity(w, form, reqID, fail, ver.key)
	default:
		fail(&Error{Status: 400, Code: "InvalidAction", Message: "Could not find operation " + action + " for version 2011-06-15"})
	}
}

func (f *AWS) assumeRole(w http.ResponseWriter, form url.Values, caller *Key, reqID string, fail func(*Error)) {
	roleARN, session := form.Get("RoleArn"), form.Get("RoleSessionName")
	if roleARN == "" || session == "" {
		fail(&Error{Status: 400, Code: "MissingParameter", Message: "AssumeRole needs RoleArn and RoleSessionName"})
		return
	}
	if !sessionNameRE.MatchString(session) {
		fail(&Error{Status: 400, Code: "ValidationError", Message: "1 validation error detected: Value '" + session +
			"' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"})
		return
	}
	denied := &Error{Status: 403, Code: "AccessDenied", Message: "User: " + caller.Principal +
		" is not authorized to perform: sts:AssumeRole on resource: " + roleARN}
	f.mu.Lock()
	role := f.roles[roleARN]
	f.mu.Unlock()
	if role == nil {
		fail(denied)
		return
	}
	if len(role.TrustedPrincipals) > 0 && !slices.Contains(role.TrustedPrincipals, caller.Principal) {
		fail(denied)
		return
	}
	if role.ExternalID != "" && form.Get("ExternalId") != role.ExternalID {
		fail(denied)
		return
	}
	lifetime := f.lifetime(role, form.Get("DurationSeconds"))
	name := roleARN[strings.LastIndexByte(roleARN, '/')+1:]
	principal := "arn:aws:sts::" + f.opts.Account + ":assumed-role/" + name + "/" + session
	k := f.store.issue(principal, f.opts.Account, "assume-role|"+caller.Principal+"|"+principal, lifetime, role.Deny)
	f.store.accept("sts:AssumeRole", caller)

	type result struct {
		Credentials     xmlCredentials     `xml:"Credentials"`
		AssumedRoleUser xmlAssumedRoleUser `xml:"AssumedRoleUser"`
	}
	writeXML(w, 200, stsResponse{"AssumeRole", result{
		Credentials:     credsXML(k),
		AssumedRoleUser: xmlAssumedRoleUser{Arn: principal, AssumedRoleID: "AROA" + randomID(16) + ":" + session},
	}, reqID})
}

func (f *AWS) assumeRoleWithWebIdentity(w http.ResponseWriter, form url.Values, reqID string, fail func(*Error), caller *Key) {
	roleARN, session, token := form.Get("RoleArn"), form.Get("RoleSessionName"), form.Get("WebIdentityToken")
	if roleARN == "" || session == "" || token == "" {
		fail(&Error{Status: 400, Code: "MissingParameter", Message: "AssumeRoleWithWebIdentity needs RoleArn, RoleSessionName and WebIdentityToken"})
		return
	}
	if !sessionNameRE.MatchString(session) {
		fail(&Error{Status: 400, Code: "ValidationError", Message: "invalid RoleSessionName '" + session + "'"})
		return
	}
	if inj := f.injectedFailure("sts:AssumeRoleWithWebIdentity"); inj != nil {
		fail(inj)
		return
	}
	f.mu.Lock()
	allowed, known := f.webTokens[strings.TrimSpace(token)]
	role := f.roles[roleARN]
	f.mu.Unlock()
	if !known {
		fail(&Error{Status: 400, Code: "InvalidIdentityToken", Message: "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements"})
		return
	}
	if allowed != roleARN || role == nil {
		fail(&Error{Status: 403, Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"})
		return
	}
	lifetime := f.lifetime(role, form.Get("DurationSeconds"))
	name := roleARN[strings.LastIndexByte(roleARN, '/')+1:]
	principal := "arn:aws:sts::" + f.opts.Account + ":assumed-role/" + name + "/" + session
	k := f.store.issue(principal, f.opts.Account, "web-identity|"+principal, lifetime, role.Deny)
	if caller != nil {
		f.store.accept("sts:AssumeRoleWithWebIdentity", caller)
	} else {
		f.countIMDS("sts:AssumeRoleWithWebIdentity")
	}

	type result struct {
		Credentials                 xmlCredentials     `xml:"Credentials"`
		SubjectFromWebIdentityToken string             `xml:"SubjectFromWebIdentityToken"`
		AssumedRoleUser             xmlAssumedRoleUser `xml:"AssumedRoleUser"`
		Provider                    string             `xml:"Provider"`
		Audience                    string             `xml:"Audience"`
	}
	writeXML(w, 200, stsResponse{"AssumeRoleWithWebIdentity", result{
		Credentials:                 credsXML(k),
		SubjectFromWebIdentityToken: "system:serviceaccount:default:flow",
		AssumedRoleUser:             xmlAssumedRoleUser{Arn: principal, AssumedRoleID: "AROA" + randomID(16) + ":" + session},
		Provider:                    "arn:aws:iam::" + f.opts.Account + ":oidc-provider/oidc.fake.local",
		Audience:                    "sts.amazonaws.com",
	}, reqID})
}

// lifetime is the role's (or the fake's) lifetime, shortened if the
// caller asked for less.
func (f *AWS) lifetime(role *Role, durationSeconds string) time.Duration {
	l := f.opts.CredentialLifetime
	if role.Lifetime > 0 {
		l = role.Lifetime
	}
	if n, err := strconv.Atoi(durationSeconds); err == nil && n > 0 {
		if d := time.Duration(n) * time.Second; d < l {
			l = d
		}
	}
	return l
}

func credsXML(k *Key) xmlCredentials {
	return xmlCredentials{
		AccessKeyID:     k.AccessKeyID,
		SecretAccessKey: k.SecretAccessKey,
		SessionToken:    k.SessionToken,
		Expiration:      iso8601(k.Expires),
	}
}
