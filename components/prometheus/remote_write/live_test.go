package remotewrite

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/runtime/livedebug"
)

// The Live tab of prometheus.remote_write shows the samples appended to its
// WAL.
func TestLiveShowsReceivedSamples(t *testing.T) {
	svc := livedebug.New()
	svc.SetEnabled(true)
	opts, ex, _ := promtest.Options(t, "prometheus.remote_write.live")
	opts.LiveDebug = svc.Publisher(opts.ID)
	c, err := New(opts, testArgs("http://127.0.0.1:1/api/v1/write"))
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	v, err := svc.Watch(opts.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	recv := ex.Last().(Exports).Receiver
	app := recv.Appender(context.Background())
	if _, err := app.Append(0, labels.FromStrings("__name__", "rw_live", "k", "v"), 1_700_000_000_000, 3); err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-v.Events():
		if want := `{__name__="rw_live", k="v"} 3 2023-11-14T22:13:20.000Z`; e.Kind != "sample" || e.Text != want {
			t.Fatalf("event = %s %q, want sample %q", e.Kind, e.Text, want)
		}
	default:
		t.Fatal("the appended sample was not published")
	}
}
