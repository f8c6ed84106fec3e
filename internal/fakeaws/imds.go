package fakeaws

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveIMDS implements IMDSv2: a session token from PUT /latest/api/token is
// required on every GET, as on an instance with IMDSv1 disabled.
func (f *AWS) serveIMDS(w http.ResponseWriter, r *http.Request) {
	now := f.now()
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			http.Error(w, "IMDSv2 token requests must use PUT", http.StatusMethodNotAllowed)
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		if err != nil || ttl < 1 || ttl > 21600 {
			http.Error(w, "X-aws-ec2-metadata-token-ttl-seconds must be 1..21600", http.StatusBadRequest)
			return
		}
		tok := "fake-imds-" + randomSecret(40)
		f.mu.Lock()
		f.imdsTokens[tok] = now.Add(time.Duration(ttl) * time.Second)
		f.mu.Unlock()
		f.countIMDS("imds:token")
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", strconv.Itoa(ttl))
		_, _ = w.Write([]byte(tok))
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tok := r.Header.Get("X-Aws-Ec2-Metadata-Token")
	f.mu.Lock()
	exp, ok := f.imdsTokens[tok]
	role, region := f.imdsRole, f.imdsRegion
	f.mu.Unlock()
	if tok == "" || !ok || !now.Before(exp) {
		// IMDSv1 is off: no (valid) token, no data.
		f.countIMDS("imds:unauthorized")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}

	const credsPrefix = "/latest/meta-data/iam/security-credentials/"
	p := r.URL.Path
	switch {
	case p == credsPrefix || p == strings.TrimSuffix(credsPrefix, "/"):
		if role == "" {
			f.countIMDS("imds:no-role")
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(role))
	case strings.HasPrefix(p, credsPrefix):
		name := strings.TrimPrefix(p, credsPrefix)
		if role == "" || name != role {
			f.countIMDS("imds:no-role")
			http.NotFound(w, r)
			return
		}
		k := f.instanceCredentials(role)
		f.countIMDS("imds:credentials")
		writeJSON(w, map[string]any{
			"Code":            "Success",
			"LastUpdated":     iso8601(k.issued),
			"Type":            "AWS-HMAC",
			"AccessKeyId":     k.AccessKeyID,
			"SecretAccessKey": k.SecretAccessKey,
			"Token":           k.SessionToken,
			"Expiration":      k.Expires.UTC().Format(time.RFC3339Nano),
		})
	case p == "/latest/meta-data/placement/region":
		if region == "" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(region))
	case p == "/latest/meta-data/placement/availability-zone":
		if region == "" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(region + "a"))
	case p == "/latest/meta-data/instance-id":
		_, _ = w.Write([]byte("i-0fake000000000001"))
	case p == "/latest/dynamic/instance-identity/document":
		if region == "" {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, map[string]any{
			"accountId":        f.opts.Account,
			"architecture":     "x86_64",
			"availabilityZone": region + "a",
			"imageId":          "ami-0fake",
			"instanceId":       "i-0fake000000000001",
			"instanceType":     "t3.micro",
			"privateIp":        "10.0.0.1",
			"region":           region,
			"version":          "2017-09-30",
		})
	default:
		http.NotFound(w, r)
	}
}

// instanceCredentials returns the instance profile's current credentials,
// issuing a new set once a third of the lifetime has passed (real IMDS
// also hands out new credentials well before the old ones expire).
func (f *AWS) instanceCredentials(role string) *Key {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if k := f.imdsKey; k != nil && k.Expires.Sub(now) > f.opts.CredentialLifetime*2/3 {
		return k
	}
	principal := "arn:aws:sts::" + f.opts.Account + ":assumed-role/" + role + "/i-0fake000000000001"
	f.imdsKey = f.store.issue(principal, f.opts.Account, "imds|"+role, f.opts.CredentialLifetime, f.roleDeny(role))
	return f.imdsKey
}

// roleDeny finds the Deny list of a role added with AddRole by its name.
// Callers hold f.mu.
func (f *AWS) roleDeny(name string) []string {
	for arn, r := range f.roles {
		if strings.HasSuffix(arn, ":role/"+name) {
			return r.Deny
		}
	}
	return nil
}

// serveECS implements the ECS/EKS container credentials endpoint
// (AWS_CONTAINER_CREDENTIALS_FULL_URI with an authorization token).
func (f *AWS) serveECS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	role, want := f.ecsRole, f.ecsToken
	f.mu.Unlock()
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
		writeJSONStatus(w, http.StatusUnauthorized, map[string]string{"code": "AccessDenied", "message": "authorization token is wrong"})
		return
	}
	if role == "" {
		writeJSONStatus(w, http.StatusNotFound, map[string]string{"code": "NotFound", "message": "no task role"})
		return
	}
	f.mu.Lock()
	now := f.now()
	if f.ecsKey == nil || f.ecsKey.Expires.Sub(now) <= f.opts.CredentialLifetime*2/3 {
		principal := "arn:aws:sts::" + f.opts.Account + ":assumed-role/" + role + "/ecs-task"
		f.ecsKey = f.store.issue(principal, f.opts.Account, "ecs|"+role, f.opts.CredentialLifetime, f.roleDeny(role))
	}
	k := f.ecsKey
	f.mu.Unlock()
	f.countIMDS("ecs:credentials")
	writeJSON(w, map[string]string{
		"AccessKeyId":     k.AccessKeyID,
		"SecretAccessKey": k.SecretAccessKey,
		"Token":           k.SessionToken,
		"Expiration":      k.Expires.UTC().Format(time.RFC3339Nano),
		"RoleArn":         "arn:aws:iam::" + f.opts.Account + ":role/" + role,
	})
}

// countIMDS counts an unsigned metadata request by kind.
func (f *AWS) countIMDS(kind string) {
	f.store.mu.Lock()
	f.store.stats.ByAction[kind]++
	f.store.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
