package remote

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/api"
	"github.com/tradetop/tradetop/api/apitest"
	"github.com/tradetop/tradetop/tui"
)

const token = "remote-test-token-0123456789"

var t0 = time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)

// service serves svc's API on addr ("127.0.0.1:0" for any port) until the
// returned stop is called.
func service(t *testing.T, addr string, svc api.Service, o api.Options) (url string, stop func()) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 100 { // the port of a service just stopped may linger a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(svc, o).Register(mux)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Close()
		}
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

func dial(t *testing.T, url string, o Options) *Client {
	t.Helper()
	o.MinBackoff, o.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	c, err := Dial(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// until polls cond, failing the test if it never holds.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestFollowsTheServiceAcrossARestart: the client shows the stream's
// snapshots, says when the service goes away and since when, and picks
// up the new run when it is back on the same address.
func TestFollowsTheServiceAcrossARestart(t *testing.T) {
	svc := apitest.New(t0, 4)
	url, stop := service(t, "127.0.0.1:0", svc, api.Options{Token: token, OpenReads: true, Interval: 10 * time.Millisecond})
	c := dial(t, url, Options{Token: token})
	until(t, "a snapshot", func() bool { return c.Snapshot() != nil && c.Link().Connected })
	if s := c.Snapshot(); !s.Started.Equal(t0) || len(s.Symbols) != 4 || s.Symbols[3].Symbol != "SYM003" {
		t.Fatalf("snapshot %+v", s)
	}
	if l := c.Link(); l.ReadOnly != "" || l.Since.IsZero() {
		t.Fatalf("link with the token: %+v", l)
	}
	seen := c.Snapshot()
	until(t, "newer snapshots", func() bool { return c.Snapshot().Time.After(seen.Time) })

	stop()
	until(t, "the loss to be seen", func() bool { return !c.Link().Connected })
	lost := c.Link()
	if lost.Err == "" || lost.Since.IsZero() {
		t.Fatalf("a lost link says %+v", lost)
	}
	last := c.Snapshot()
	time.Sleep(50 * time.Millisecond) // a few failed reconnections
	if l := c.Link(); !l.Since.Equal(lost.Since) {
		t.Errorf("each failed reconnection moved 'since': %v then %v", lost.Since, l.Since)
	}
	if c.Snapshot() != last {
		t.Error("the snapshot changed while disconnected")
	}

	t1 := t0.Add(time.Hour)
	service(t, strings.TrimPrefix(url, "http://"), apitest.New(t1, 2), api.Options{Token: token, OpenReads: true, Interval: 10 * time.Millisecond})
	until(t, "the new run", func() bool { s := c.Snapshot(); return s.Started.Equal(t1) && c.Link().Connected })
	if s := c.Snapshot(); len(s.Symbols) != 2 {
		t.Errorf("new run has %d symbols, want 2", len(s.Symbols))
	}
}

// TestControlsAndTheirRefusals: with the token the controls reach the
// service; without, or with a wrong one, the client is read-only, says
// why, and every control fails with the service's reason.
func TestControlsAndTheirRefusals(t *testing.T) {
	svc := apitest.New(t0, 2)
	url, _ := service(t, "127.0.0.1:0", svc, api.Options{Token: token, OpenReads: true, Interval: 10 * time.Millisecond})
	for given, reason := range map[string]string{"": "no control token", "wrong-token-wrong-token": "the service refused the control token"} {
		c := dial(t, url, Options{Token: given})
		until(t, "a snapshot", func() bool { return c.Link().Connected })
		if l := c.Link(); !strings.HasPrefix(l.ReadOnly, reason) {
			t.Errorf("token %q: read-only %q, want %q", given, l.ReadOnly, reason)
		}
		for name, f := range map[string]func() error{
			"pause":       func() error { return c.SetPaused(true) },
			"subscribe":   func() error { return c.Subscribe("AAPL") },
			"rate":        func() error { return c.SetRate(10) },
			"stop":        c.Stop,
			"unsubscribe": func() error { return c.Unsubscribe("AAPL") },
		} {
			if err := f(); err == nil || !strings.Contains(err.Error(), "401") {
				t.Errorf("token %q: %s answered %v, want a 401", given, name, err)
			}
		}
	}
	if a := svc.Asked(); a.Pauses+a.Resumes+len(a.Subs)+len(a.Rates) != 0 {
		t.Fatalf("refused controls reached the service: %+v", a)
	}

	c := dial(t, url, Options{Token: token})
	until(t, "a snapshot", func() bool { return c.Link().Connected })
	if err := c.SetPaused(true); err != nil {
		t.Fatal(err)
	}
	until(t, "a paused snapshot", func() bool { return c.Snapshot().Paused })
	if err := c.SetPaused(false); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("BINANCE:BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("NOPE"); err == nil || !strings.Contains(err.Error(), apitest.ErrUnknownSymbol.Error()) {
		t.Errorf("a refused subscription: %v", err)
	}
	if err := c.SetRate(0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetRate(2.5); err != nil {
		t.Fatal(err)
	}
	a := svc.Asked()
	if a.Pauses != 1 || a.Resumes != 1 || len(a.Subs) != 1 || a.Subs[0] != "+BINANCE:BTCUSDT" || len(a.Rates) != 2 || a.Rates[0] != 0 || a.Rates[1] != 2.5 {
		t.Errorf("asked %+v", a)
	}

	got, err := c.RecentCandles(context.Background(), "MSFT", time.Second, 4)
	if err != nil || len(got) != 4 || got[3] != apitest.Candle("MSFT", time.Second, t0, 3) {
		t.Errorf("recent candles %+v %v", got, err)
	}
	from := t0.Add(-24 * time.Hour).Add(123456789)
	got, err = c.Candles(context.Background(), "MSFT", time.Minute, from, from.Add(5*time.Minute))
	if err != nil || len(got) != 5 || !got[0].Start.Equal(from) {
		t.Errorf("candles of a range %+v %v", got, err)
	}
}

// TestNoTokenServiceSaysControlsAreOff: a service without a control token
// makes every viewer read-only, and says so.
func TestNoTokenServiceSaysControlsAreOff(t *testing.T) {
	url, _ := service(t, "127.0.0.1:0", apitest.New(t0, 2), api.Options{OpenReads: true, Interval: 10 * time.Millisecond})
	c := dial(t, url, Options{Token: token})
	until(t, "a snapshot", func() bool { return c.Link().Connected })
	if l := c.Link(); !strings.Contains(l.ReadOnly, "takes no controls") {
		t.Errorf("read-only %q", l.ReadOnly)
	}
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:7070":         "http://127.0.0.1:7070/api/v1",
		"http://127.0.0.1:7070/":        "http://127.0.0.1:7070/api/v1",
		"https://h.example/tt/api/v1/":  "https://h.example/tt/api/v1",
		"https://[::1]:7070/prefix":     "https://[::1]:7070/prefix/api/v1",
		"ftp://h:1":                     "",
		"127.0.0.1:7070":                "",
		"http://":                       "",
		"http://user:pw@h:1":            "",
		"http://h:1/?token=x":           "",
		"http://h:1/\x00":               "",
		"http://h:1/#frag":              "",
		"  http://h:1":                  "",
		"http://h:1/api/v1/snapshots?x": "",
	} {
		got, err := ParseURL(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "pw")) {
			t.Errorf("ParseURL(%q) error %q: two lines or a password", in, err)
		}
	}
}

var _ tui.Source = (*Client)(nil)
