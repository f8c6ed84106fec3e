// Package migration holds the end-to-end tests of running Prometheus YAML
// through flow (`flow run --config.format=prometheus`, built on
// internal/converter) against real Prometheus binaries. It has no code of
// its own; it lives here to use components/prometheus/internal/promproc.
package migration
