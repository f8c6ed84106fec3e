package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/livedebug"
)

// The Live tab of local.file shows new content, and of a secret file only
// that it changed.
func TestLiveShowsContentButNeverASecret(t *testing.T) {
	for _, secret := range []bool{false, true} {
		svc := livedebug.New()
		svc.SetEnabled(true)
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, []byte("first-value-0001"), 0o600); err != nil {
			t.Fatal(err)
		}
		args := defaults(Arguments{Filename: path, IsSecret: secret, PollFrequency: 100 * time.Millisecond})
		v, err := svc.Watch("local.file.test")
		if err != nil {
			t.Fatal(err)
		}
		startLive(t, args, svc.Publisher("local.file.test"))
		if err := os.WriteFile(path, []byte("second-value-0002"), 0o600); err != nil {
			t.Fatal(err)
		}
		var texts []string
		for len(texts) < 2 {
			e := testwait.Receive(t, 30*time.Second, v.Events(), "secret=%v: events %q, want two", secret, texts)
			texts = append(texts, e.Text)
		}
		v.Close()
		for _, text := range texts {
			switch {
			case secret && text != "updated (secret)":
				t.Fatalf("secret file published %q, want only \"updated (secret)\"", text)
			case !secret && !strings.Contains(text, "-value-000"):
				t.Fatalf("plain file published %q, want its content", text)
			}
		}
		if !secret && !strings.HasSuffix(texts[1], "second-value-0002") {
			t.Fatalf("plain file's second event %q, want the new content", texts[1])
		}
	}
}
