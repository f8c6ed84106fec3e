package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/flowproc"
)

// The Live tab (live.js) against a real `flow run`: entries sent to a real
// Firehose endpoint appear exactly and in order; filter, pause/resume and
// clear work; secrets never appear; a 100k samples/s component leaves the
// page responsive.

// firehoseSend posts records to the Firehose endpoint until it accepts them.
func firehoseSend(t *testing.T, port int, lines ...string) {
	t.Helper()
	sender := &firehosetest.Sender{URL: fmt.Sprintf("http://127.0.0.1:%d/awsfirehose/api/v1/push", port)}
	var records [][]byte
	for _, l := range lines {
		records = append(records, []byte(l))
	}
	sender.SendUntilAccepted(t, 30*time.Second, records)
}

// liveTexts is the text of every entry line the page lays out (a line the
// filter hides has no box).
const liveTexts = `[...document.querySelectorAll("#live-lines li.live-line:not(.live-marker)")].filter(li => li.getClientRects().length > 0).map(li => li.querySelector(".live-text").textContent)`

// openLiveTab opens id's Live tab and waits for its stream.
func openLiveTab(t *testing.T, ctx context.Context, base, id string) {
	t.Helper()
	do(t, ctx, "opening the Live tab of "+id, chromedp.Navigate(base+"/#/component/"+id+"/live"))
	waitJS(t, ctx, "the live stream to open", `document.querySelector("#live-status")?.dataset.state === "live"`, 20*time.Second)
}

func TestLiveTabEntriesInOrderFilterPause(t *testing.T) {
	port := flowproc.FreePort(t)
	f := startFlow(t, fmt.Sprintf(`livedebugging {
  enabled = true
}

loki.source.aws_firehose "fh" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = %d
  }
  forward_to = [loki.echo.out.receiver]
}

loki.echo "out" {}
`, port), nil)
	ctx := newTab(t, f.URL)
	// From the component page, the Live tab is one click away.
	do(t, ctx, "opening the component page", chromedp.Navigate(f.URL+"/#/component/loki.source.aws_firehose.fh"))
	do(t, ctx, "clicking the Live tab", chromedp.Click(chromedp.CSS(`#tab-live`), chromedp.NodeVisible))
	waitJS(t, ctx, "the live stream to open", `document.querySelector("#live-status")?.dataset.state === "live"`, 20*time.Second)

	var alpha []string
	for i := range 12 {
		alpha = append(alpha, fmt.Sprintf("alpha %02d {\"user\":\"u%d\"}", i, i))
	}
	firehoseSend(t, port, alpha...)
	waitJS(t, ctx, "the 12 entries", liveTexts+`.length === 12`, 20*time.Second)
	got := eval[[]string](t, ctx, liveTexts)
	for i, text := range got {
		// "<RFC 3339 time> {labels} <line>", as loki.echo prints it.
		if !strings.HasSuffix(text, " "+alpha[i]) {
			t.Fatalf("line %d = %q, want the entry %q (in the order sent); all: %q", i, text, alpha[i], got)
		}
	}

	// Filter by text: only the matching line stays visible; clearing the
	// filter shows all again.
	do(t, ctx, "filtering", chromedp.SendKeys(chromedp.CSS(`#live-filter`), "ALPHA 07"))
	waitJS(t, ctx, "the filter to apply", liveTexts+`.length === 1`, 5*time.Second)
	if got := eval[[]string](t, ctx, liveTexts); !strings.HasSuffix(got[0], alpha[7]) {
		t.Fatalf("filtered to %q, want only %q", got, alpha[7])
	}
	do(t, ctx, "clearing the filter", chromedp.Evaluate[chromedp.Void](`(() => { const f = document.querySelector("#live-filter"); f.value = ""; f.dispatchEvent(new Event("input")); })()`))
	waitJS(t, ctx, "every line again", liveTexts+`.length === 12`, 5*time.Second)

	// Paused, new entries are held, not shown; resumed, they follow in order.
	do(t, ctx, "pausing", chromedp.Click(chromedp.CSS(`#live-pause`), chromedp.NodeVisible))
	beta := []string{"beta 0", "beta 1", "beta 2", "beta 3", "beta 4"}
	firehoseSend(t, port, beta...)
	waitJS(t, ctx, "the paused count to show the 5 new entries", `document.querySelector("#live-count").textContent.includes("paused, 5 new")`, 20*time.Second)
	if n := eval[int](t, ctx, liveTexts+`.length`); n != 12 {
		t.Fatalf("while paused the page shows %d lines, want the 12 from before", n)
	}
	do(t, ctx, "resuming", chromedp.Click(chromedp.CSS(`#live-pause`), chromedp.NodeVisible))
	waitJS(t, ctx, "the held entries", liveTexts+`.length === 17`, 10*time.Second)
	got = eval[[]string](t, ctx, liveTexts)
	for i, want := range append(slices.Clone(alpha), beta...) {
		if !strings.HasSuffix(got[i], " "+want) {
			t.Fatalf("after resuming, line %d = %q, want %q", i, got[i], want)
		}
	}
	if eval[bool](t, ctx, `!document.querySelector("#live-dropped").hidden`) {
		t.Fatalf("17 entries within the rate limit, but the page reports drops: %s", eval[string](t, ctx, `document.querySelector("#live-dropped").textContent`))
	}
	do(t, ctx, "clearing", chromedp.Click(chromedp.CSS(`#live-clear`), chromedp.NodeVisible))
	waitJS(t, ctx, "an empty list", `document.querySelectorAll("#live-lines li").length === 0`, 5*time.Second)
}

// Without the livedebugging block, the Live tab says live debugging is
// disabled and how to enable it, as Alloy's UI does.
func TestLiveTabDisabledSaysHowToEnable(t *testing.T) {
	f := startFlow(t, `local.file "a" {
  filename = "$DIR/a.txt"
}
`, map[string]string{"a.txt": "hello"})
	ctx := newTab(t, f.URL)
	do(t, ctx, "opening the Live tab", chromedp.Navigate(f.URL+"/#/component/local.file.a/live"))
	waitJS(t, ctx, "the disabled message", `document.querySelector("#live-disabled")`, 20*time.Second)
	text := eval[string](t, ctx, `document.querySelector("#live-disabled").textContent`)
	if !strings.Contains(text, "disabled") || !strings.Contains(text, "livedebugging {") || !strings.Contains(text, "enabled = true") {
		t.Fatalf("disabled Live tab says %q; want that it is disabled and the block that enables it", text)
	}
}

// A secret file and rotating AWS credentials, both watched: the stream and
// the page show that they changed, never the values.
func TestLiveTabNeverShowsSecrets(t *testing.T) {
	fake, user, role := awstest.StartWithRole(t, fakeaws.Options{CredentialLifetime: 4 * time.Second}, "agent", "live", "")
	const fileSecret = "FILE-SECRET-b5c1e0d2"
	f := startFlow(t, fmt.Sprintf(`livedebugging {
  enabled = true
}

local.file "token" {
  filename       = "$DIR/token"
  is_secret      = true
  poll_frequency = "100ms"
}

local.file "plain" {
  filename       = "$DIR/plain"
  poll_frequency = "100ms"
}

aws.credentials "role" {
  role_arn = %q
  region   = %q
}
`, role, fake.Region()), map[string]string{"token": fileSecret, "plain": "plain v1"})

	ctxFile := newTab(t, f.URL)
	openLiveTab(t, ctxFile, f.URL, "local.file.token")
	ctxPlain := newTab(t, f.URL)
	openLiveTab(t, ctxPlain, f.URL, "local.file.plain")
	ctxCreds := newTab(t, f.URL)
	openLiveTab(t, ctxCreds, f.URL, "aws.credentials.role")
	// Raw stream too, as curl would read it.
	rawCreds := f.liveStream("aws.credentials.role", 12*time.Second)
	rawFile := f.liveStream("local.file.token", 12*time.Second)

	secrets := []string{fileSecret, "FILE-SECRET-rotated-77aa", user.SecretAccessKey}
	for i := range 3 {
		v := "FILE-SECRET-rotated-77aa"
		if i%2 == 1 {
			v = fileSecret
		}
		if err := os.WriteFile(filepath.Join(f.Dir, "token"), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.Dir, "plain"), []byte(fmt.Sprintf("plain v%d", i+2)), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	waitJS(t, ctxFile, "the secret file's updates", liveTexts+`.filter(t => t === "updated (secret)").length >= 2`, 20*time.Second)
	waitJS(t, ctxPlain, "the plain file's content", liveTexts+`.some(t => t.includes("plain v4"))`, 20*time.Second)
	// Credentials of 4 s are refreshed every ~2 s: wait for two refreshes.
	waitJS(t, ctxCreds, "two credential refreshes", liveTexts+`.filter(t => t.startsWith("refreshed at") && t.includes("AssumeRoleProvider")).length >= 2`, 30*time.Second)

	// Every credential the fake issued, and the user's keys, are secrets.
	for _, k := range fake.Keys() {
		secrets = append(secrets, k.SecretAccessKey)
		if k.SessionToken != "" {
			secrets = append(secrets, k.SessionToken)
		}
	}
	if len(secrets) < 5 {
		t.Fatalf("the fake issued too few credentials (%d secrets) for the test to mean anything", len(secrets))
	}
	pages := map[string]string{}
	for name, ctx := range map[string]context.Context{"secret file": ctxFile, "plain file": ctxPlain, "credentials": ctxCreds} {
		pages[name] = eval[string](t, ctx, `document.documentElement.outerHTML + document.body.innerText`)
	}
	pages["raw credentials stream"] = rawCreds()
	pages["raw secret file stream"] = rawFile()
	if !strings.Contains(pages["raw credentials stream"], "refreshed at") || !strings.Contains(pages["raw secret file stream"], "updated (secret)") {
		t.Fatalf("the raw streams carried no events:\n%s\n%s", pages["raw credentials stream"], pages["raw secret file stream"])
	}
	for name, text := range pages {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("the %s shows a secret value (%.6s…)", name, s)
			}
		}
	}
}

// A component receiving 100k samples/s, watched: the server samples the
// stream (a drop marker says how many were left out) and the page stays
// responsive: an animation frame comes within 100 ms, measured in the page.
func TestLiveTabHundredThousandSamplesStaysResponsive(t *testing.T) {
	f := startFlow(t, `livedebugging {
  enabled = true
}

prometheus.relabel "hot" {
  forward_to = []
  rule {
    source_labels = ["series"]
    regex         = "1.*"
    action        = "drop"
  }
}

testcomponents.samples "gen" {
  rate       = 100000
  series     = 5000
  forward_to = [prometheus.relabel.hot.receiver]
}
`, nil)
	ctx := newTab(t, f.URL)
	openLiveTab(t, ctx, f.URL, "prometheus.relabel.hot")
	waitJS(t, ctx, "samples on the page", liveTexts+`.length > 100`, 20*time.Second)
	waitJS(t, ctx, "a drop marker", `document.querySelector("#live-lines li.live-marker") && !document.querySelector("#live-dropped").hidden`, 20*time.Second)
	texts := eval[[]string](t, ctx, liveTexts)
	if !strings.Contains(texts[0], `gen_samples`) || !strings.Contains(texts[0], " → ") {
		t.Fatalf("a line reads %q; want a relabelled sample (in → out)", texts[0])
	}
	// 40 frames measured while the stream runs: each callback's delay
	// after being requested. The worst may be a GC pause of the loaded
	// test machine; the 90th percentile is what a user feels.
	delays := eval[[]float64](t, ctx, `(async () => {
		const out = [];
		for (let i = 0; i < 40; i++) {
			const t0 = performance.now();
			await new Promise(r => requestAnimationFrame(() => r()));
			out.push(performance.now() - t0);
			await new Promise(r => setTimeout(r, 50));
		}
		return out;
	})()`)
	slices.Sort(delays)
	p90 := delays[len(delays)*9/10]
	t.Logf("animation frame delay while streaming 100k samples/s: median %.1f ms, p90 %.1f ms, max %.1f ms", delays[len(delays)/2], p90, delays[len(delays)-1])
	if p90 > 100 {
		t.Errorf("animation frames came late while streaming: p90 %.1f ms > 100 ms (all: %v)", p90, delays)
	}
	lines := eval[int](t, ctx, `document.querySelectorAll("#live-lines li").length`)
	if lines > 2000 {
		t.Errorf("the page holds %d lines; it keeps at most 2000", lines)
	}
	dropped := eval[string](t, ctx, `document.querySelector("#live-dropped").textContent`)
	t.Logf("page: %d lines, %s", lines, dropped)
}
