package remotewrite

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// metadata_config with Remote-Write 1.0: the metadata the component
// receives reaches the endpoint every send_interval, by metric family, in
// requests of at most max_samples_per_send entries; send = false sends none.
func TestMetadataRemoteWrite1(t *testing.T) {
	for _, send := range []bool{true, false} {
		r := rwtest.Start(t)
		args := testArgs(r.URL(), func(ep *EndpointOptions) {
			ep.MetadataOptions.Send = send
			ep.MetadataOptions.SendInterval = 200 * time.Millisecond
			ep.MetadataOptions.MaxSamplesPerSend = 2
		})
		_, recv, _ := start(t, args)
		series := []struct {
			l  labels.Labels
			md metadata.Metadata
		}{
			{labels.FromStrings("__name__", "http_requests_total", "code", "200"), metadata.Metadata{Type: model.MetricTypeCounter, Help: "Requests."}},
			{labels.FromStrings("__name__", "rpc_seconds_bucket", "le", "1"), metadata.Metadata{Type: model.MetricTypeHistogram, Help: "RPC latency.", Unit: "seconds"}},
			{labels.FromStrings("__name__", "rpc_seconds_count"), metadata.Metadata{Type: model.MetricTypeHistogram, Help: "RPC latency.", Unit: "seconds"}},
			{labels.FromStrings("__name__", "temperature"), metadata.Metadata{Type: model.MetricTypeGauge, Help: "Temperature."}},
		}
		app := recv.Appender(context.Background())
		ts := time.Now().UnixMilli()
		for _, s := range series {
			ref, err := app.Append(0, s.l, ts, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := app.UpdateMetadata(ref, s.l, s.md); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
		if !send {
			time.Sleep(time.Second)
			for _, req := range r.Requests() {
				if req.Metadata > 0 {
					t.Fatalf("metadata sent with send = false: %v", req.MetadataEntries)
				}
			}
			continue
		}
		want := []string{"http_requests_total counter Requests.", "rpc_seconds histogram RPC latency.", "temperature gauge Temperature."}
		var got []string
		testwait.Eventually(t, 10*time.Second, func() bool {
			got = metadataSeen(r)
			return slices.Equal(got, want)
		}, "the three families' metadata")
		for _, req := range r.Requests() {
			if req.Metadata > 2 {
				t.Errorf("a request carried %d metadata entries, max_samples_per_send is 2", req.Metadata)
			}
		}
		// Sent again every send_interval.
		n := metadataRequests(r)
		testwait.Eventually(t, 10*time.Second, func() bool { return metadataRequests(r) >= n+2 }, "metadata sent again")
	}
}

func metadataSeen(r *rwtest.Receiver) []string {
	seen := map[string]bool{}
	for _, req := range r.Requests() {
		for _, e := range req.MetadataEntries {
			seen[e] = true
		}
	}
	var out []string
	for e := range seen {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

func metadataRequests(r *rwtest.Receiver) int {
	n := 0
	for _, req := range r.Requests() {
		if req.Metadata > 0 {
			n++
		}
	}
	return n
}

func TestFamilyName(t *testing.T) {
	for _, tc := range []struct {
		series string
		typ    model.MetricType
		want   string
	}{
		{"http_requests_total", model.MetricTypeCounter, "http_requests_total"},
		{"http_requests_created", model.MetricTypeCounter, "http_requests"},
		{"rpc_seconds_bucket", model.MetricTypeHistogram, "rpc_seconds"},
		{"rpc_seconds_sum", model.MetricTypeSummary, "rpc_seconds"},
		{"queue_gsum", model.MetricTypeGaugeHistogram, "queue"},
		{"up_count", model.MetricTypeGauge, "up_count"},
		{"_count", model.MetricTypeHistogram, "_count"},
	} {
		if got := familyName(tc.series, tc.typ); got != tc.want {
			t.Errorf("familyName(%q, %s) = %q, want %q", tc.series, tc.typ, got, tc.want)
		}
	}
}
