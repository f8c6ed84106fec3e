package ui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Browser test plumbing: one headless Chromium per test binary, a fresh tab
// (and browser context, so no cookies or cache leak between tests) per test,
// and a screenshot of the tab when a test fails.

var (
	// artifactsDir holds failure screenshots; it is kept when a test failed.
	artifactsDir string
	browserCtx   context.Context
	anyFailed    atomic.Bool
)

// chromiumPath finds the browser: $FLOW_CHROMIUM, else Debian's chromium.
func chromiumPath() (string, error) {
	if p := os.Getenv("FLOW_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: the UI tests drive a real browser; install Debian's package " +
		"(apt-get install -y chromium) or set FLOW_CHROMIUM to a Chromium or Chrome binary")
}

// startBrowser launches the shared headless Chromium; the returned function stops it.
func startBrowser() (func(), error) {
	path, err := chromiumPath()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "flow-ui-chromium-")
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		// Names that resolve to loopback, for the attacks in
		// security_test.go: a hostile site's page, and a DNS-rebinding
		// name (an attacker's name that now resolves to 127.0.0.1).
		chromedp.Flag("host-resolver-rules", "MAP "+hostileHost+" 127.0.0.1, MAP "+rebindHost+" 127.0.0.1"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Start the browser now, so a broken install fails here with its
	// message. (No timeout context: cancelling the context of the first Do
	// would close the browser.)
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	browserCtx = bctx
	return func() {
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(profile)
	}, nil
}

// newTab opens a 1280x800 tab in a fresh browser context for t. Every request
// the tab makes must go to origin or one of also (nothing is loaded from
// another host); this is checked when the test ends. When t fails, a
// screenshot of the tab is saved in artifactsDir and its path is logged.
func newTab(t testing.TB, origin string, also ...string) context.Context {
	t.Helper()
	if browserCtx == nil {
		t.Fatal("the browser is not running (TestMain did not start it)")
	}
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("opening a browser tab: %v", err)
	}
	var mu sync.Mutex
	var foreign []string
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			defer mu.Unlock()
			u := e.Request.URL
			if strings.HasPrefix(u, "data:") || u == "about:blank" {
				return
			}
			for _, o := range append([]string{origin}, also...) {
				if strings.HasPrefix(u, o+"/") || u == o {
					return
				}
			}
			foreign = append(foreign, u)
		}
	})
	if err != nil {
		t.Fatalf("watching the tab's requests: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if len(foreign) > 0 {
			t.Errorf("the page requested URLs outside %s (everything must be served by flow): %v", origin, foreign)
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		anyFailed.Store(true)
		sctx, c := context.WithTimeout(ctx, 10*time.Second)
		defer c()
		png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Logf("could not take a failure screenshot: %v", err)
			return
		}
		name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".png"
		p := filepath.Join(artifactsDir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Logf("could not save the failure screenshot: %v", err)
			return
		}
		t.Logf("failure screenshot: %s", p)
	})
	return ctx
}

// do runs browser steps and fails t with what was being done.
func do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %q: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is truthy or the timeout passes.
func waitJS(t testing.TB, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")",
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting %s for %s: %v", timeout, what, err)
	}
}
