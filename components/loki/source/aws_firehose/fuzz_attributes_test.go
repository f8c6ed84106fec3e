package awsfirehose

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

// FuzzCommonAttributes feeds arbitrary X-Amz-Firehose-Common-Attributes
// headers, which any Firehose client sets, through their decoding: it must
// never panic, and every label it adds has a valid name.
//
//	go test -fuzz FuzzCommonAttributes ./components/loki/source/aws_firehose/
func FuzzCommonAttributes(f *testing.F) {
	for _, s := range []string{
		`{"commonAttributes": {"lbl_env": "prod", "team": "x"}}`,
		`{"commonAttributes": {"lbl_": "x", "lbl_9a": "y", "lbl_é-x": "z"}}`,
		`{"commonAttributes": null}`, `{"commonAttributes": {"a": 1}}`, `[]`, `{`, ``,
	} {
		f.Add(s)
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	c := &Component{log: slog.New(slog.DiscardHandler), m: m, tenants: map[string]struct{}{}}
	f.Fuzz(func(t *testing.T, header string) {
		ls := model.LabelSet{}
		c.commonAttributes(header, "", ls)
		for name := range ls {
			if !model.LegacyValidation.IsValidLabelName(string(name)) {
				t.Fatalf("invalid label name %q from %q", name, header)
			}
		}
	})
}
