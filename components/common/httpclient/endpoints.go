package httpclient

import "fmt"

// ValidateEndpoints checks each `endpoint` block with validate and refuses
// two that share a name: the name keys an endpoint's queue, metrics, health
// and data directory in prometheus.remote_write and loki.write alike.
// Endpoints are numbered from 1 in messages, as they appear in the config.
func ValidateEndpoints[E any](eps []E, validate func(*E) error, name func(*E) string) error {
	seen := make(map[string]int, len(eps))
	for i := range eps {
		e := &eps[i]
		if err := validate(e); err != nil {
			return fmt.Errorf("endpoint %d: %w", i+1, err)
		}
		n := name(e)
		if j, dup := seen[n]; dup {
			return fmt.Errorf("endpoints %d and %d are both named %q; give each a distinct name", j+1, i+1, n)
		}
		seen[n] = i
	}
	return nil
}
