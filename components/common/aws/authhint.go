package aws

// AuthErrorHint follows a 401/403 from a SigV4-signed endpoint that carries
// no AWS error code to explain (an API Gateway with a custom answer, a
// proxy). Such answers are usually transient, which is why loki.write and
// prometheus.remote_write retry them by default (retry_on_http_auth_error).
const AuthErrorHint = "with aws_sigv4 this is usually transient: credentials that expired or were not " +
	"refreshed in time (for example during an STS outage), this machine's clock more than 5 minutes off " +
	"(check NTP), or IAM permissions not yet propagated after a change; if it lasts, check the IAM policy " +
	"allows the request (aps:RemoteWrite for Amazon Managed Prometheus, execute-api:Invoke behind API Gateway)"
