// Package fakeaws is a fake AWS for tests and demos that checks every
// signature: STS (AssumeRole, AssumeRoleWithWebIdentity, GetCallerIdentity),
// EC2 (DescribeInstances, DescribeAvailabilityZones), IMDSv2 and the ECS
// container credentials endpoint, each an httptest server on loopback,
// reached by the real AWS SDK through its endpoint settings (see Env).
//
// Every signed request is verified by recomputing its SigV4 signature from
// the request as received and the secret the fake issued, with the fake's
// own canonicalization (sigv4.go), written from the specification
// independently of the SDK's signer and checked against AWS's test suite.
// Unknown keys are rejected with InvalidClientTokenId, bad signatures with
// SignatureDoesNotMatch, expired credentials with ExpiredToken, clock skew
// with RequestTimeTooSkewed. Stats counts accepted and rejected requests and
// stale ones: requests signed with credentials that a newer issued set had
// replaced more than Options.StaleGrace earlier (the sign that a component
// kept old credentials after a rotation).
//
// Issued credentials last Options.CredentialLifetime, which tests set to a
// few seconds to see many rotations. Options.ExpirationSkew puts the fake's
// clock behind the host's (a host clock ahead of AWS), so credentials can
// arrive already expired.
//
// RequireSigV4 puts the same check in front of any handler (a remote-write
// receiver, a fake Loki): (*AWS).RequireSigV4 accepts every key the fake
// issued; the package-level RequireSigV4 makes a standalone check with one key.
//
// # Standalone
//
// cmd/fakeaws runs the same servers as a process, to demonstrate the seed
// pipelines on a laptop:
//
//	go run ./cmd/fakeaws -credential-lifetime 1m -instances 5
//
// It prints the variables to export (AWS_ENDPOINT_URL_STS,
// AWS_ENDPOINT_URL_EC2, AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_REGION and a
// pair of long-term keys) and, with -proxy-upstream, a SigV4-checking
// reverse proxy for a local Mimir or Loki.
package fakeaws
