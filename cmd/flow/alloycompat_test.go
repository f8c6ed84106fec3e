package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/internal/alloyargs"
)

// Alloy compatibility, argument by argument. testdata/alloy-args/<component>.txt
// lists every argument and block Alloy's reference documentation gives the
// component (transcribed from the tables, with the doc version in each
// file's header). TestAlloyArgumentsValidate generates configs that
// together use every listed argument, each with a value of its documented
// type, and requires `flow validate` to accept each; so a listed argument
// flow does not know fails here as `unknown attribute`.
// TestAlloyArgumentsDocumented requires each listed argument in the
// component's section of docs/alloy-compatibility.md.
//
// discovery.ec2 and loki.source.awsfirehose have the same two tests in
// their packages (testdata/alloy-arguments.txt there).

// peers are the components the generated configs refer to.
const alloyPeers = `
prometheus.relabel "sink" {
  forward_to = []
}

loki.echo "sink" { }
`

// alloySpecs gives, per component, the values whose generated default
// would not be valid (URLs, enumerations, references) and the groups of
// arguments Alloy itself forbids together.
func alloySpecs(dir string) map[string]alloyargs.Spec {
	rules := func(prefix string) map[string]string {
		return map[string]string{
			prefix + "action":        `"hashmod"`,
			prefix + "modulus":       "8",
			prefix + "regex":         `"(.+)"`,
			prefix + "replacement":   `"$1"`,
			prefix + "separator":     `";"`,
			prefix + "source_labels": `["__address__"]`,
			prefix + "target_label":  `"__tmp_shard"`,
		}
	}
	// The auth group of an HTTP client extended with the other ways
	// remote_write authenticates.
	withAuth := func(prefix string, extra ...string) [][][]string {
		groups := alloyargs.HTTPClientExclusive(prefix)
		for i, g := range groups {
			if len(g) > 0 && len(g[0]) == 1 && strings.HasSuffix(g[0][0], "basic_auth") {
				for _, e := range extra {
					groups[i] = append(groups[i], []string{prefix + " > " + e})
				}
			}
		}
		return groups
	}

	scrape := alloyargs.HTTPClientValues("")
	maps.Copy(scrape, map[string]string{
		"targets":                            `[{"__address__" = "127.0.0.1:9100", "job" = "node"}]`,
		"forward_to":                         `[prometheus.relabel.sink.receiver]`,
		"body_size_limit":                    `"10MB"`,
		"scheme":                             `"https"`,
		"metrics_path":                       `"/metrics"`,
		"scrape_interval":                    `"30s"`,
		"scrape_timeout":                     `"10s"`,
		"params":                             `{ "module" = ["http_2xx"] }`,
		"scrape_protocols":                   `["PrometheusProto", "OpenMetricsText1.0.0", "PrometheusText0.0.4"]`,
		"scrape_fallback_protocol":           `"PrometheusText0.0.4"`,
		"metric_name_validation_scheme":      `"utf8"`,
		"metric_name_escaping_scheme":        `"allow-utf-8"`,
		"native_histogram_bucket_limit":      "160",
		"native_histogram_min_bucket_factor": "1.1",
		"scrape_failure_log_file":            `"/var/log/flow/scrape-failures.log"`,
		"sample_limit":                       "10000",
	})

	rw := alloyargs.HTTPClientValues("endpoint")
	maps.Copy(rw, rules("endpoint > write_relabel_config > "))
	maps.Copy(rw, map[string]string{
		"external_labels":                                   `{ "cluster" = "prod" }`,
		"endpoint > url":                                    `"https://mimir.example/api/v1/push"`,
		"endpoint > name":                                   `"mimir"`,
		"endpoint > headers":                                `{ "X-Scope-OrgID" = "tenant-1" }`,
		"endpoint > http_headers":                           `{ "X-Team" = ["observability"] }`,
		"endpoint > protobuf_message":                       `"prometheus.WriteRequest"`,
		"endpoint > remote_timeout":                         `"30s"`,
		"endpoint > azuread > cloud":                        `"AzurePublic"`,
		"endpoint > azuread > managed_identity > client_id": `"00000000-0000-4000-8000-000000000001"`,
		"endpoint > azuread > oauth > client_id":            `"00000000-0000-4000-8000-000000000002"`,
		"endpoint > azuread > oauth > tenant_id":            `"contoso.onmicrosoft.com"`,
		"endpoint > azuread > sdk > tenant_id":              `"00000000-0000-4000-8000-000000000003"`,
		"endpoint > google_iam > credentials_file":          `"/etc/flow/gcp-service-account.json"`,
		"endpoint > sigv4 > region":                         `"us-east-1"`,
		"endpoint > sigv4 > role_arn":                       `"arn:aws:iam::123456789012:role/prometheus-writer"`,
		"endpoint > sigv4 > service_name":                   `"aps"`,
		"endpoint > queue_config > capacity":                "10000",
		"endpoint > queue_config > max_samples_per_send":    "2000",
		"endpoint > queue_config > min_shards":              "1",
		"endpoint > queue_config > max_shards":              "50",
		"endpoint > queue_config > min_backoff":             `"30ms"`,
		"endpoint > queue_config > max_backoff":             `"5s"`,
		"endpoint > queue_config > batch_send_deadline":     `"5s"`,
		"endpoint > queue_config > sample_age_limit":        `"1h"`,
		"endpoint > metadata_config > max_samples_per_send": "2000",
		"wal > truncate_frequency":                          `"2h"`,
		"wal > min_keepalive_time":                          `"5m"`,
		"wal > max_keepalive_time":                          `"8h"`,
	})
	rwExclusive := withAuth("endpoint", "sigv4", "azuread", "google_iam")
	rwExclusive = append(rwExclusive,
		[][]string{{"endpoint > azuread > managed_identity"}, {"endpoint > azuread > oauth"}, {"endpoint > azuread > sdk"}},
		// Static keys or a profile, as in the AWS SDK.
		[][]string{{"endpoint > sigv4 > access_key", "endpoint > sigv4 > secret_key"}, {"endpoint > sigv4 > profile"}},
	)

	lw := alloyargs.HTTPClientValues("endpoint")
	maps.Copy(lw, map[string]string{
		"external_labels":                         `{ "cluster" = "prod" }`,
		"max_streams":                             "10000",
		"endpoint > url":                          `"https://loki.example/loki/api/v1/push"`,
		"endpoint > name":                         `"loki"`,
		"endpoint > headers":                      `{ "X-Team" = "observability" }`,
		"endpoint > http_headers":                 `{ "X-Source" = ["flow"] }`,
		"endpoint > batch_size":                   `"1MiB"`,
		"endpoint > batch_wait":                   `"1s"`,
		"endpoint > min_backoff_period":           `"500ms"`,
		"endpoint > max_backoff_period":           `"5m"`,
		"endpoint > max_backoff_retries":          "10",
		"endpoint > remote_timeout":               `"10s"`,
		"endpoint > tenant_id":                    `"tenant-1"`,
		"endpoint > queue_config > capacity":      `"10MiB"`,
		"endpoint > queue_config > min_shards":    "1",
		"wal > min_read_frequency":                `"250ms"`,
		"wal > max_read_frequency":                `"1s"`,
		"wal > max_segment_age":                   `"1h"`,
		"wal > drain_timeout":                     `"30s"`,
		"endpoint > queue_config > drain_timeout": `"1m"`,
	})

	prel := rules("rule > ")
	maps.Copy(prel, map[string]string{
		"forward_to":     `[prometheus.relabel.sink.receiver]`,
		"max_cache_size": "0",
		"cache_ttl":      `"10m"`,
	})
	drel := rules("rule > ")
	drel["targets"] = `[{"__address__" = "10.0.0.1:9100"}]`

	return map[string]alloyargs.Spec{
		"prometheus.scrape": {Values: scrape, Exclusive: append(alloyargs.HTTPClientExclusive(""),
			// Alloy refuses the deprecated switch with scrape_protocols.
			[][]string{{"enable_protobuf_negotiation"}, {"scrape_protocols"}})},
		"prometheus.remote_write": {Values: rw, Exclusive: rwExclusive},
		"loki.write":              {Values: lw, Exclusive: alloyargs.HTTPClientExclusive("endpoint")},
		"prometheus.relabel":      {Values: prel},
		"discovery.relabel":       {Values: drel},
		"local.file": {Values: map[string]string{
			"filename":       `"/etc/hostname"`,
			"detector":       `"poll"`,
			"poll_frequency": `"1m"`,
		}},
		"local.file_match": {Values: map[string]string{
			"path_targets":      `[{"__path__" = "/var/log/**/*.log", "__path_exclude__" = "/var/log/**/*.gz", "job" = "varlog"}]`,
			"sync_period":       `"10s"`,
			"ignore_older_than": `"24h"`,
		}},
		"loki.source.file": {Values: map[string]string{
			"targets":                         `[{"__path__" = "/var/log/*.log", "job" = "varlog"}]`,
			"forward_to":                      `[loki.echo.sink.receiver]`,
			"encoding":                        `"UTF-16"`,
			"legacy_positions_file":           `"/var/lib/promtail/positions.yaml"`,
			"on_positions_file_error":         `"restart_from_end"`,
			"decompression > format":          `"gz"`,
			"decompression > initial_delay":   `"10s"`,
			"file_match > sync_period":        `"10s"`,
			"file_match > ignore_older_than":  `"24h"`,
			"file_watch > min_poll_frequency": `"250ms"`,
			"file_watch > max_poll_frequency": `"10s"`,
		}},
		"loki.relabel": {Values: func() map[string]string {
			v := rules("rule > ")
			v["forward_to"] = `[loki.echo.sink.receiver]`
			v["max_cache_size"] = "10000"
			return v
		}()},
		"loki.echo": {},
		"logging": {Values: map[string]string{
			"level":       `"info"`,
			"format":      `"json"`,
			"write_to":    `[loki.echo.sink.receiver]`,
			"destination": `"stderr"`,
		}},
		"aws.credentials": {Values: map[string]string{
			"region":                  `"us-east-1"`,
			"role_arn":                `"arn:aws:iam::123456789012:role/agent"`,
			"session_duration":        `"1h"`,
			"refresh_before":          `"5m"`,
			"sts_endpoint":            `"https://sts.us-east-1.amazonaws.com"`,
			"web_identity_token_file": `"/var/run/secrets/eks.amazonaws.com/serviceaccount/token"`,
		}, Exclusive: [][][]string{
			// Where the base credentials come from: static keys, a profile
			// or a web identity token (whose AssumeRoleWithWebIdentity takes
			// no external_id).
			{{"access_key_id", "secret_access_key", "external_id"}, {"profile", "external_id"}, {"web_identity_token_file"}},
		}},
	}
}

func loadAlloyArgs(t *testing.T, dir string) map[string][]alloyargs.Arg {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no argument lists in %s: %v", dir, err)
	}
	out := map[string][]alloyargs.Arg{}
	for _, f := range files {
		args, err := alloyargs.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".txt")] = args
	}
	return out
}

func TestAlloyArgumentsValidate(t *testing.T) {
	const dir = "testdata/alloy-args"
	lists := loadAlloyArgs(t, dir)
	specs := alloySpecs(dir)
	for name := range specs {
		if _, ok := lists[name]; !ok {
			t.Errorf("no argument list %s/%s.txt", dir, name)
		}
	}
	for name, args := range lists {
		t.Run(name, func(t *testing.T) {
			spec, ok := specs[name]
			if !ok {
				t.Fatalf("%s.txt has no spec in alloySpecs", name)
			}
			spec.Component, spec.Args = name, args
			if name != "logging" {
				spec.Label = "every"
			}
			configs, unused := spec.Configs()
			if len(unused) > 0 {
				t.Fatalf("no valid config can use %v: fix the exclusive groups", unused)
			}
			if len(args) == 0 {
				// A component without arguments (loki.echo): its empty block.
				configs = []string{spec.Component + " \"" + spec.Label + "\" { }\n"}
			}
			// Coverage: every listed argument appears in a generated config.
			all := strings.Join(configs, "\n")
			for _, a := range args {
				parts := strings.Split(a.Path, " > ")
				last := parts[len(parts)-1]
				if !strings.Contains(all, last+" = ") && !strings.Contains(all, last+" {") {
					t.Errorf("%q appears in no generated config", a.Path)
				}
			}
			for i, src := range configs {
				path := filepath.Join(t.TempDir(), "every.alloy")
				if err := os.WriteFile(path, []byte(alloyPeers+"\n"+src), 0o644); err != nil {
					t.Fatal(err)
				}
				code, stdout, stderr := flowCmd(t, "", "validate", path)
				if code != 0 || !strings.Contains(stdout, "config valid") {
					t.Errorf("config %d of %d: flow validate exit %d:\n%s\n%s", i+1, len(configs), code, stderr, src)
				}
			}
			t.Logf("%d arguments and blocks in %d configs", len(args), len(configs))
		})
	}
}

func TestAlloyArgumentsDocumented(t *testing.T) {
	for name, args := range loadAlloyArgs(t, "testdata/alloy-args") {
		alloyargs.CheckDocumented(t, "../../docs/alloy-compatibility.md", name, args)
	}
}
