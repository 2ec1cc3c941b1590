package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tradetop/tradetop/alert"
)

// A bad rules file stops tradetop at start with one line that names the
// file, the rule and the field, and exit code 2, as a bad flag does.
func TestBadAlertsFileIsOneLineAndExitTwo(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "alerts.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - name: aapl-high\n    kind: price_above\n    symbol: AAPL\n    level: lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("rules:\n  - {name: lag, kind: lag_above, lag: 10, lagg: 5}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"a value of the wrong type", []string{"--alerts", bad}, []string{"-alerts", bad, `rule "aapl-high" (line 2)`, "field level: want a number"}},
		{"an unknown field", []string{"--alerts", unknown}, []string{"-alerts", unknown, `rule "lag" (line 2)`, `unknown field "lagg"`}},
		{"no such file", []string{"--alerts", filepath.Join(dir, "none.yaml")}, []string{"-alerts", "none.yaml"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append(tt.args, "--no-ui", "--data-dir", dir), env(nil), &out, &errOut)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			lines := strings.Split(strings.TrimRight(errOut.String(), "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("stderr %q: want one line", errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr %q does not name %q", lines[0], w)
				}
			}
		})
	}
}

// TestAlertsOfAHeadlessRun runs a pinned synthetic market headless with
// two rules on AAPL: one whose level its price is always above, which
// fires once, at the first snapshot that has AAPL, and one it never
// reaches. The fire is one line in the log and one POST to the rule's
// webhook; commands do not inherit tradetop's secrets.
func TestAlertsOfAHeadlessRun(t *testing.T) {
	const seed, start, n = 3, "2026-01-02T15:00:00Z", 3000
	lo := math.Inf(1)
	for _, tr := range syntheticInput(t, seed, start, n) {
		if tr.Symbol == "AAPL" {
			lo = min(lo, tr.Price)
		}
	}
	if math.IsInf(lo, 1) {
		t.Fatal("the pinned market has no AAPL trade")
	}
	var mu sync.Mutex
	var posts []alert.Payload
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alert.Payload
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		mu.Lock()
		posts = append(posts, p)
		mu.Unlock()
	}))
	defer hook.Close()
	dir := t.TempDir()
	rules := filepath.Join(dir, "alerts.yaml")
	body := fmt.Sprintf(`rules:
  - name: aapl-up
    kind: price_above
    symbol: AAPL
    level: %.2f
    actions:
      - webhook: %s/alerts
  - {name: aapl-down, kind: price_below, symbol: AAPL, level: %.2f}
`, math.Floor(lo)-1, hook.URL, math.Floor(lo)-1)
	if err := os.WriteFile(rules, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	args := []string{"--no-ui", "--count", fmt.Sprint(n), "--rate", "1500", "--seed", fmt.Sprint(seed), "--start", start,
		"--summary", "none", "--data-dir", filepath.Join(dir, "data"), "--alerts", rules}
	if code := run(args, env(nil), &out, &errOut); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, errOut.String())
	}
	var fired []string
	for _, l := range strings.Split(errOut.String(), "\n") {
		if strings.Contains(l, "alert") && !strings.Contains(l, "judging alert rules") {
			fired = append(fired, l)
		}
	}
	if len(fired) != 1 || !strings.Contains(fired[0], `msg="alert fired" rule=aapl-up kind=price_above symbol=AAPL`) {
		t.Errorf("alert lines %q: want one, aapl-up fired", fired)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != 1 || posts[0].Rule != "aapl-up" || posts[0].Symbol != "AAPL" || posts[0].Value <= posts[0].Threshold {
		t.Errorf("webhook got %+v, want aapl-up's one fire, above its threshold", posts)
	}
}

func TestAlertCommandsGetNoSecrets(t *testing.T) {
	got := commandEnv([]string{"PATH=/bin", "HOME=/home/x", controlTokenEnv + "=t", kafkaPasswordEnv + "=k",
		cassandraPasswordEnv + "=c", finnhubKeyEnv + "=f", "TRADETOP_RATE=10"})
	if want := []string{"PATH=/bin", "HOME=/home/x", "TRADETOP_RATE=10"}; !slices.Equal(got, want) {
		t.Errorf("environment %q, want %q", got, want)
	}
}
