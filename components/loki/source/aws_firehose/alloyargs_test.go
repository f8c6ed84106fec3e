package awsfirehose

import (
	"os"
	"testing"

	_ "github.com/flow-telemetry/flow/components/loki/echo"
	_ "github.com/flow-telemetry/flow/components/loki/relabel"
	"github.com/flow-telemetry/flow/internal/alloyargs"
)

func alloyArgs(t *testing.T) []alloyargs.Arg {
	t.Helper()
	text, err := os.ReadFile("testdata/alloy-arguments.txt")
	if err != nil {
		t.Fatal(err)
	}
	args, err := alloyargs.Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	return args
}

// alloySpec is the generated-config spec of the component under name.
func alloySpec(name string, args []alloyargs.Arg) alloyargs.Spec {
	values := map[string]string{
		"forward_to":                                      `[loki.echo.out.receiver]`,
		"relabel_rules":                                   `loki.relabel.rules.rules`,
		"http > listen_address":                           `"127.0.0.1"`,
		"grpc > listen_address":                           `"127.0.0.1"`,
		"http > listen_port":                              "8080",
		"grpc > listen_port":                              "9095",
		"grpc > server_max_recv_msg_size":                 "4194304",
		"grpc > server_max_send_msg_size":                 "4194304",
		"http > http2 > max_read_frame_size":              "16384",
		"http > http2 > max_upload_buffer_per_connection": "1048576",
		"http > http2 > max_upload_buffer_per_stream":     "1048576",
	}
	var exclusive [][][]string
	for _, srv := range []string{"http", "grpc"} {
		exclusive = append(exclusive, [][]string{{srv + " > tls"}, {srv + " > tls_config"}})
		for _, blk := range []string{"tls", "tls_config"} {
			p := srv + " > " + blk + " > "
			values[p+"client_auth_type"] = `"RequireAndVerifyClientCert"`
			values[p+"min_version"] = `"VersionTLS12"`
			values[p+"cipher_suites"] = `"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"`
			exclusive = append(exclusive,
				[][]string{{p + "cert_pem"}, {p + "cert_file"}},
				[][]string{{p + "key_pem"}, {p + "key_file"}},
				[][]string{{p + "client_ca_file"}, {p + "client_ca"}, {p + "client_ca_pem"}})
		}
	}
	return alloyargs.Spec{Component: name, Label: "every", Args: args, Exclusive: exclusive, Values: values}
}

// peers are the components the generated configs refer to.
const peers = `
loki.echo "out" { }

loki.relabel "rules" {
  forward_to = []
  rule {
    source_labels = ["__aws_cw_log_group"]
    target_label  = "log_group"
  }
}
`

// TestEveryAlloyArgumentValidates builds, from the list of every argument
// and block of Alloy's loki.source.awsfirehose (testdata/alloy-arguments.txt),
// configs that together use each of them with a value of its documented
// type, and requires `flow validate` (runtime.Validate) to accept every one,
// under both of the component's names.
func TestEveryAlloyArgumentValidates(t *testing.T) {
	args := alloyArgs(t)
	if len(args) < 80 {
		t.Fatalf("%d arguments and blocks listed; Alloy has 80 (counting tls and tls_config, client_ca and client_ca_pem)", len(args))
	}
	for _, name := range []string{"loki.source.awsfirehose", "loki.source.aws_firehose"} {
		configs, unused := alloySpec(name, args).Configs()
		if len(unused) > 0 {
			t.Fatalf("no valid config can use %v: fix the exclusive groups", unused)
		}
		alloyargs.CheckValidates(t, configs, map[string][]byte{"peers.alloy": []byte(peers)})
		if name == "loki.source.awsfirehose" {
			t.Logf("%d arguments and blocks in %d configs; the first:\n%s", len(args), len(configs), configs[0])
		}
	}
}

// TestAlloyArgumentsListed keeps the compatibility table honest: every
// argument of the list is named in docs/alloy-compatibility.md's
// loki.source.awsfirehose section.
func TestAlloyArgumentsListed(t *testing.T) {
	alloyargs.CheckDocumented(t, "../../../../docs/alloy-compatibility.md", "loki.source.awsfirehose", alloyArgs(t))
}
