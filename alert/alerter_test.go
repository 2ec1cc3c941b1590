package alert

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

// board records what it is shown, as the pipeline would carry it.
type board struct {
	firing [][]state.Alert
	events []state.Event
}

func (b *board) ShowAlerts(firing []state.Alert, events []state.Event) {
	b.firing = append(b.firing, firing)
	b.events = append(b.events, events...)
}

// judge has a judge the snapshots of AAPL at prices, a second apart.
func judge(a *Alerter, ps ...float64) {
	for _, st := range prices("AAPL", ps...) {
		a.Judge(st.s, &monitor.Report{Time: st.s.Time})
	}
}

func TestAnAlertIsShownLoggedAndCounted(t *testing.T) {
	var logs bytes.Buffer
	b := &board{}
	a := New(Config{
		Rules: parse(t, "  - {name: aapl-200, kind: price_above, symbol: AAPL, level: 200}\n  - {name: never, kind: stage_down, stage: kafka}\n"),
		Board: b,
		Log:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: dropTime})),
	})
	judge(a, 199, 201.5, 202)
	if got := a.Counts(); len(got) != 2 || got[0] != (RuleCount{Rule: "aapl-200", Fired: 1, Firing: 1}) || got[1] != (RuleCount{Rule: "never"}) {
		t.Errorf("counts %+v, want aapl-200 fired once and firing, never nothing", got)
	}
	if len(b.firing) != 1 || len(b.firing[0]) != 1 {
		t.Fatalf("shown %+v: want one change, one alert firing", b.firing)
	}
	want := state.Alert{Rule: "aapl-200", Subject: "AAPL", Symbol: "AAPL", Since: t0.Add(time.Second), Message: "AAPL 201.50 above 200.00"}
	if got := b.firing[0][0]; got != want {
		t.Errorf("firing %+v, want %+v", got, want)
	}
	wantEv := state.Event{Time: t0.Add(time.Second), Level: slog.LevelWarn, Source: state.AlertSource, Message: "aapl-200: AAPL 201.50 above 200.00"}
	if len(b.events) != 1 || b.events[0] != wantEv {
		t.Errorf("events %+v, want %+v", b.events, wantEv)
	}
	wantLog := `level=WARN msg="alert fired" rule=aapl-200 kind=price_above symbol=AAPL value=201.5 threshold=200 message="AAPL 201.50 above 200.00"` + "\n"
	if logs.String() != wantLog {
		t.Errorf("log:\n%s\nwant:\n%s", logs.String(), wantLog)
	}

	logs.Reset()
	judge(a, 197)
	if got := a.Counts(); got[0] != (RuleCount{Rule: "aapl-200", Fired: 1}) {
		t.Errorf("counts %+v after it re-armed, want fired once, firing for none", got)
	}
	if len(b.firing) != 2 || len(b.firing[1]) != 0 || len(b.events) != 2 || b.events[1].Level != slog.LevelInfo {
		t.Errorf("shown %+v, events %+v: want nothing firing and an info event", b.firing, b.events)
	}
	if !strings.HasPrefix(logs.String(), `level=INFO msg="alert re-armed" rule=aapl-200`) || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("log %q: want one line saying aapl-200 re-armed", logs.String())
	}
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

// hook is a webhook on loopback that answers each request with the next
// of codes (200 once they are spent) and keeps what it was sent.
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	codes  []int
	bodies [][]byte
	types  []string
}

func newHook(t *testing.T, codes ...int) *hook {
	h := &hook{codes: codes}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.bodies = append(h.bodies, body)
		h.types = append(h.types, r.Method+" "+r.Header.Get("Content-Type"))
		code := http.StatusOK
		if len(h.codes) > 0 {
			code, h.codes = h.codes[0], h.codes[1:]
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) requests() ([][]byte, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bodies, h.types
}

// hooked are rules of one price_above rule with the given action.
func hooked(t *testing.T, action string) []Rule {
	return parse(t, "  - name: aapl-200\n    kind: price_above\n    symbol: AAPL\n    level: 200\n    actions:\n      - "+action+"\n")
}

func TestAWebhookIsRetriedUntilItTakesTheAlert(t *testing.T) {
	h := newHook(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	a := New(Config{Rules: hooked(t, "{webhook: '"+h.URL+"/alerts', retries: 2}"), Backoff: time.Millisecond})
	a.Start()
	judge(a, 199, 201, 202, 199, 197, 203)
	// Close lets the queue drain: both alerts, the first after two refusals.
	a.Close()
	bodies, types := h.requests()
	if len(bodies) != 4 {
		t.Fatalf("%d requests, want 4: the first alert three times, the second once", len(bodies))
	}
	for _, ty := range types {
		if ty != "POST application/json" {
			t.Errorf("request %q, want a POST of JSON", ty)
		}
	}
	var p Payload
	if err := json.Unmarshal(bodies[2], &p); err != nil {
		t.Fatal(err)
	}
	want := Payload{Rule: "aapl-200", Kind: PriceAbove, Subject: "AAPL", Symbol: "AAPL", Value: 201, Threshold: 200,
		Time: t0.Add(time.Second), Message: "AAPL 201.00 above 200.00"}
	if p != want {
		t.Errorf("payload %+v, want %+v", p, want)
	}
	if err := json.Unmarshal(bodies[3], &p); err != nil || p.Value != 203 || !p.Time.Equal(t0.Add(5*time.Second)) {
		t.Errorf("second payload %+v (%v), want the fire at 203 at 5s", p, err)
	}
	if got := a.ActionCounts(); got != (ActionCounts{Done: 2}) {
		t.Errorf("actions %+v, want 2 done", got)
	}
}

func TestAWebhookThatRefusesIsNotRetried(t *testing.T) {
	h := newHook(t, http.StatusBadRequest, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	var logs bytes.Buffer
	a := New(Config{Rules: hooked(t, "{webhook: '"+h.URL+"/secret-token', retries: 5}"), Backoff: time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	a.Start()
	judge(a, 201)
	a.Close()
	if bodies, _ := h.requests(); len(bodies) != 1 {
		t.Errorf("%d requests, want 1: a 400 is not retried", len(bodies))
	}
	if got := a.ActionCounts(); got != (ActionCounts{Failed: 1}) {
		t.Errorf("actions %+v, want 1 failed", got)
	}
	if !strings.Contains(logs.String(), `msg="alert action failed"`) || strings.Contains(logs.String(), "secret-token") {
		t.Errorf("log %q: want the failure, without the webhook's path", logs.String())
	}
}

func TestACommandGetsTheAlertInItsEnvironmentAndOnItsInput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "alert")
	a := New(Config{
		Rules: hooked(t, `{exec: [sh, -c, 'echo "$TRADETOP_ALERT_RULE $TRADETOP_ALERT_SYMBOL $TRADETOP_ALERT_VALUE $TRADETOP_ALERT_THRESHOLD" > "$OUT"; cat >> "$OUT"']}`),
		Env:   []string{"OUT=" + out, "PATH=" + os.Getenv("PATH")},
	})
	a.Start()
	judge(a, 201.25)
	a.Close()
	if got := a.ActionCounts(); got != (ActionCounts{Done: 1}) {
		t.Fatalf("actions %+v, want 1 done", got)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env, input, _ := strings.Cut(string(b), "\n")
	if env != "aapl-200 AAPL 201.25 200" {
		t.Errorf("environment %q, want the rule, the symbol, the value and the threshold", env)
	}
	var p Payload
	if err := json.Unmarshal([]byte(input), &p); err != nil || p.Rule != "aapl-200" || p.Value != 201.25 {
		t.Errorf("input %q (%v): want the alert as JSON", input, err)
	}
}

func TestACommandIsStoppedAtItsTimeout(t *testing.T) {
	var logs bytes.Buffer
	a := New(Config{
		Rules: hooked(t, `{exec: [sh, -c, 'exec sleep 30'], timeout: 50ms, retries: 0}`),
		Log:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	a.Start()
	judge(a, 201)
	start := time.Now()
	a.Close()
	if got := a.ActionCounts(); got != (ActionCounts{Failed: 1}) {
		t.Errorf("actions %+v, want 1 failed", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v: the command outlived its timeout", took)
	}
	if !strings.Contains(logs.String(), "alert action failed") {
		t.Errorf("log %q: want the failure", logs.String())
	}
}

// A full queue drops what does not fit and counts it: the watcher that
// judges never waits on an action.
func TestAFullQueueDropsAndCounts(t *testing.T) {
	h := newHook(t)
	var logs bytes.Buffer
	action := "webhook: '" + h.URL + "/'"
	a := New(Config{
		Rules: parse(t, "  - {name: a, kind: price_above, symbol: AAPL, level: 100, actions: [{"+action+"}]}\n"+
			"  - {name: b, kind: price_above, symbol: AAPL, level: 150, actions: [{"+action+"}]}\n"+
			"  - {name: c, kind: price_above, symbol: AAPL, level: 190, actions: [{"+action+"}]}\n"),
		Queue: 1,
		Log:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	// Not started: nothing takes from the queue. All three fire at once.
	judge(a, 201)
	if got := a.ActionCounts(); got != (ActionCounts{Dropped: 2}) {
		t.Errorf("actions %+v, want 2 dropped", got)
	}
	if n := strings.Count(logs.String(), "alert action dropped"); n != 2 {
		t.Errorf("log %q: want 2 lines of drops", logs.String())
	}
	// The one queued runs once the queue is worked.
	a.Start()
	a.Close()
	if got := a.ActionCounts(); got != (ActionCounts{Done: 1, Dropped: 2}) {
		t.Errorf("actions %+v, want 1 done, 2 dropped", got)
	}
	var p Payload
	if bodies, _ := h.requests(); len(bodies) != 1 || json.Unmarshal(bodies[0], &p) != nil || p.Rule != "a" {
		t.Errorf("webhook got %q, want rule a's alert", bodies)
	}
	// Closed, it takes nothing more.
	a.Close()
	judge(a, 50, 201)
	if got := a.ActionCounts(); got.Dropped != 5 {
		t.Errorf("actions %+v, want 3 more dropped after Close", got)
	}
}
