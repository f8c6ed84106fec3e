// Package value holds the Go types River values decode into that need special
// treatment: secrets, URLs whose credentials are masked wherever they are
// shown, and capsules carrying Go values through expressions.
package value

import "log/slog"

// Secret is a string that must never be shown: its String, GoString, JSON and
// text forms are all "(secret)", so printing or logging it cannot leak it. Use
// string(s) only where the real value is needed (signing a request).
//
// In expressions a secret is a string marked with SecretMark: a string converts
// to a secret implicitly, a secret becomes a string only through nonsensitive().
type Secret string

// Redacted is how a secret is shown everywhere.
const Redacted = "(secret)"

func (s Secret) String() string               { return Redacted }
func (s Secret) GoString() string             { return Redacted }
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(Redacted) }

type secretMark struct{}

// SecretMark is the cty value mark that makes a string a secret.
var SecretMark = secretMark{}
