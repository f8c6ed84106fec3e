package alloyargs

// HTTPClientExclusive is the exclusive groups of Alloy's HTTP client
// surface (components/common/httpclient) squashed into the block at prefix
// ("" for the component's top level, "endpoint" inside an endpoint block).
func HTTPClientExclusive(prefix string) [][][]string {
	p := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = join(prefix, n)
		}
		return out
	}
	groups := [][][]string{
		{p("basic_auth"), p("authorization"), p("oauth2"), p("bearer_token"), p("bearer_token_file")},
		{p("basic_auth > password"), p("basic_auth > password_file")},
		{p("authorization > credentials"), p("authorization > credentials_file")},
		{p("proxy_url", "no_proxy"), p("proxy_from_environment")},
		{p("oauth2 > proxy_url", "oauth2 > no_proxy"), p("oauth2 > proxy_from_environment")},
		// The grant type decides which credential the oauth2 block takes.
		{
			p("oauth2 > client_secret"),
			p("oauth2 > client_secret_file"),
			p("oauth2 > grant_type", "oauth2 > client_certificate_key", "oauth2 > client_certificate_key_id",
				"oauth2 > signature_algorithm", "oauth2 > iss", "oauth2 > audience", "oauth2 > claims"),
			p("oauth2 > grant_type", "oauth2 > client_certificate_key_file"),
		},
	}
	for _, tls := range []string{"tls_config", "oauth2 > tls_config"} {
		groups = append(groups,
			[][]string{p(tls + " > ca_pem"), p(tls + " > ca_file")},
			[][]string{p(tls + " > cert_pem"), p(tls + " > cert_file")},
			[][]string{p(tls + " > key_pem"), p(tls + " > key_file")},
		)
	}
	return groups
}

// HTTPClientValues is valid values for the HTTP client attributes whose
// generated value would not be (URLs, enumerations, header maps).
func HTTPClientValues(prefix string) map[string]string {
	v := map[string]string{
		"proxy_url":                                  `"http://proxy.example:3128"`,
		"no_proxy":                                   `"10.0.0.0/8,.internal"`,
		"proxy_connect_header":                       `{ "Proxy-Authorization" = ["Basic dXNlcjpwYXNz"] }`,
		"http_headers":                               `{ "X-Scope-OrgID" = ["tenant-1"] }`,
		"authorization > type":                       `"Bearer"`,
		"oauth2 > token_url":                         `"https://auth.example/oauth2/token"`,
		"oauth2 > grant_type":                        `"urn:ietf:params:oauth:grant-type:jwt-bearer"`,
		"oauth2 > signature_algorithm":               `"RS256"`,
		"oauth2 > proxy_url":                         `"http://proxy.example:3128"`,
		"oauth2 > proxy_connect_header":              `{ "Proxy-Authorization" = ["Basic dXNlcjpwYXNz"] }`,
		"tls_config > min_version":                   `"TLS12"`,
		"oauth2 > tls_config > min_version":          `"TLS13"`,
		"tls_config > server_name":                   `"api.example"`,
		"oauth2 > tls_config > server_name":          `"auth.example"`,
		"tls_config > insecure_skip_verify":          "false",
		"oauth2 > tls_config > insecure_skip_verify": "false",
	}
	out := make(map[string]string, len(v))
	for k, val := range v {
		out[join(prefix, k)] = val
	}
	return out
}

func join(prefix, path string) string {
	if prefix == "" {
		return path
	}
	return prefix + " > " + path
}
