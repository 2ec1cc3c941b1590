package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/api"
	"github.com/tradetop/tradetop/api/apitest"
	"github.com/tradetop/tradetop/state"
)

const token = "s3cret-token-of-the-tests"

var t0 = time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)

func serve(t *testing.T, svc api.Service, o api.Options) (*httptest.Server, *api.Server) {
	t.Helper()
	a := api.New(svc, o)
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, a
}

func request(t *testing.T, method, url, tok string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestControlsNeedTheToken: without the token, or with a wrong one, or on
// a service that has none, every control answers 401 and changes nothing;
// with it, each does what it says.
func TestControlsNeedTheToken(t *testing.T) {
	controls := []string{"/pause", "/resume", "/subscribe?symbol=AAPL", "/unsubscribe?symbol=AAPL", "/rate?rate=10", "/stop"}
	for _, c := range []struct {
		name, serverToken, given string
	}{
		{"no token given", token, ""},
		{"wrong token", token, "not-the-token-at-all-000"},
		{"the token with a suffix", token, token + "x"},
		{"a prefix of the token", token, token[:len(token)-1]},
		{"service without a token", "", token},
	} {
		t.Run(c.name, func(t *testing.T) {
			svc := apitest.New(t0, 3)
			stops := 0
			srv, _ := serve(t, svc, api.Options{Token: c.serverToken, OpenReads: true, Stop: func() { stops++ }})
			for _, path := range controls {
				code, body := request(t, http.MethodPost, srv.URL+api.Prefix+path, c.given)
				if code != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
					t.Errorf("POST %s: %d %s, want 401 with an error", path, code, body)
				}
			}
			if a := svc.Asked(); a.Pauses+a.Resumes != 0 || len(a.Subs)+len(a.Rates) != 0 || stops != 0 {
				t.Errorf("refused controls changed the service: %+v, stops %d", a, stops)
			}
		})
	}

	svc := apitest.New(t0, 3)
	stops := 0
	srv, _ := serve(t, svc, api.Options{Token: token, OpenReads: true, Stop: func() { stops++ }})
	for _, path := range controls {
		if code, body := request(t, http.MethodPost, srv.URL+api.Prefix+path, token); code != http.StatusOK {
			t.Errorf("POST %s with the token: %d %s", path, code, body)
		}
	}
	for _, bad := range []string{"/rate?rate=abc", "/rate?rate=-5", "/rate?rate=NaN", "/subscribe"} {
		if code, _ := request(t, http.MethodPost, srv.URL+api.Prefix+bad, token); code != http.StatusBadRequest {
			t.Errorf("POST %s: %d, want 400", bad, code)
		}
	}
	if code, body := request(t, http.MethodPost, srv.URL+api.Prefix+"/subscribe?symbol=NOPE", token); code != http.StatusConflict || !strings.Contains(body, apitest.ErrUnknownSymbol.Error()) {
		t.Errorf("a refused subscription: %d %s", code, body)
	}
	if code, _ := request(t, http.MethodPost, srv.URL+api.Prefix+"/rate?rate=max", token); code != http.StatusOK {
		t.Errorf("rate=max: %d", code)
	}
	a := svc.Asked()
	if a.Pauses != 1 || a.Resumes != 1 || !slices.Equal(a.Subs, []string{"+AAPL", "-AAPL"}) || !slices.Equal(a.Rates, []float64{10, 0}) || stops != 1 {
		t.Errorf("with the token: %+v, stops %d", a, stops)
	}
	// The scheme's name is case-insensitive (RFC 9110); other schemes are not the token.
	for header, want := range map[string]int{"bearer " + token: 200, "BEARER " + token: 200, "Basic " + token: 401, token: 401, "Bearer  " + token: 401} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+api.Prefix+"/resume", nil)
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", strings.Replace(header, token, "<token>", 1), resp.StatusCode, want)
		}
	}
	if code, _ := request(t, http.MethodGet, srv.URL+api.Prefix+"/pause", token); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of a control: %d, want 405", code)
	}
}

// TestReadsAreOpenOnlyWhenSaidSo: a service reachable from elsewhere
// answers reads only with the token.
func TestReadsAreOpenOnlyWhenSaidSo(t *testing.T) {
	svc := apitest.New(t0, 3)
	closed, _ := serve(t, svc, api.Options{Token: token})
	open, _ := serve(t, svc, api.Options{Token: token, OpenReads: true})
	for _, path := range []string{"", "/snapshot", "/candles?symbol=AAPL&interval=1m", "/snapshots"} {
		if code, _ := request(t, http.MethodGet, closed.URL+api.Prefix+path, ""); code != http.StatusUnauthorized {
			t.Errorf("closed GET %q without the token: %d, want 401", path, code)
		}
		if path == "/snapshots" {
			continue // a stream: read in its own test
		}
		if code, _ := request(t, http.MethodGet, closed.URL+api.Prefix+path, token); code != http.StatusOK {
			t.Errorf("closed GET %q with the token: %d", path, code)
		}
		if code, _ := request(t, http.MethodGet, open.URL+api.Prefix+path, ""); code != http.StatusOK {
			t.Errorf("open GET %q: %d", path, code)
		}
	}
	for given, want := range map[string]string{"": "no token given", "nope": "wrong token", token: "allowed"} {
		_, body := request(t, http.MethodGet, open.URL+api.Prefix, given)
		var in api.Info
		if err := json.Unmarshal([]byte(body), &in); err != nil || in.Controls != want || in.API != 1 || !in.Started.Equal(t0) {
			t.Errorf("info for token %q: %s (%v), want controls %q", given, body, err, want)
		}
	}
}

// TestSnapshotAndCandles: what the reads answer is what the service holds.
func TestSnapshotAndCandles(t *testing.T) {
	svc := apitest.New(t0, 5)
	srv, _ := serve(t, svc, api.Options{OpenReads: true})
	code, body := request(t, http.MethodGet, srv.URL+api.Prefix+"/snapshot", "")
	var s state.Snapshot
	if err := json.Unmarshal([]byte(body), &s); code != 200 || err != nil {
		t.Fatalf("snapshot: %d %v", code, err)
	}
	if len(s.Symbols) != 5 || s.Symbols[4].Symbol != "SYM004" || s.Positions[0] != 50 || s.Lag[0].Committed != 47 || s.Intervals[1] != time.Minute {
		t.Errorf("snapshot read back wrong: %+v", s)
	}

	code, body = request(t, http.MethodGet, srv.URL+api.Prefix+"/candles?symbol=AAPL&interval=1m&n=3", "")
	var cs []agg.Candle
	if err := json.Unmarshal([]byte(body), &cs); code != 200 || err != nil || len(cs) != 3 {
		t.Fatalf("recent candles: %d %v %s", code, err, body)
	}
	if want := apitest.Candle("AAPL", time.Minute, t0, 2); cs[2] != want {
		t.Errorf("candle 2 = %+v, want %+v", cs[2], want)
	}
	from := t0.Add(-time.Hour)
	code, body = request(t, http.MethodGet, fmt.Sprintf("%s%s/candles?symbol=AAPL&interval=1m&from=%s&to=%s", srv.URL, api.Prefix,
		from.Format(time.RFC3339), from.Add(10*time.Minute).Format(time.RFC3339)), "")
	if err := json.Unmarshal([]byte(body), &cs); code != 200 || err != nil || len(cs) != 10 || !cs[0].Start.Equal(from) {
		t.Fatalf("candles of a range: %d %v, %d candles", code, err, len(cs))
	}
	for _, bad := range []string{"?interval=1m", "?symbol=A&interval=soon", "?symbol=A&interval=1m&n=0", "?symbol=A&interval=1m&n=999999",
		"?symbol=A&interval=1m&from=yesterday&to=today", "?symbol=A&interval=1m&from=2026-12-05T10:00:00Z&to=2026-12-05T09:00:00Z"} {
		if code, body := request(t, http.MethodGet, srv.URL+api.Prefix+"/candles"+bad, ""); code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("candles%s: %d %s, want 400", bad, code, body)
		}
	}
	if got := svc.Asked().Candles; !slices.Equal(got, []string{"recent AAPL 1m0s 3", "range AAPL 1m0s 2026-12-05T13:00:00Z 2026-12-05T13:10:00Z"}) {
		t.Errorf("the service was asked %q", got)
	}
}

// events reads server-sent events from r, sending each snapshot's data.
func events(r io.Reader, out chan<- state.Snapshot) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var s state.Snapshot
			if json.Unmarshal([]byte(v), &s) == nil {
				out <- s
			}
		}
	}
	close(out)
}

// TestStalledViewerIsDropped: a viewer that stops reading is dropped and
// counted once its buffer is full, while another viewer keeps getting every
// snapshot: the hub never waits for anyone.
func TestStalledViewerIsDropped(t *testing.T) {
	svc := apitest.New(t0, 50) // snapshots of about 15 KB
	a := api.New(svc, api.Options{OpenReads: true, Interval: 20 * time.Millisecond, Buffer: 8})
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	// Small socket buffers, so that a reader that stops fills them soon.
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if tc, ok := c.(*net.TCPConn); ok && s == http.StateNew {
			_ = tc.SetWriteBuffer(8 << 10)
		}
	}
	srv.Start()
	defer srv.Close()

	healthy := make(chan state.Snapshot, 1024)
	resp, err := http.Get(srv.URL + api.Prefix + "/snapshots")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	go events(resp.Body, healthy)
	<-healthy

	// The stalled viewer asks for the stream and never reads a byte.
	stalled, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_ = stalled.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(stalled, "GET %s/snapshots HTTP/1.1\r\nHost: x\r\n\r\n", api.Prefix)

	var got []state.Snapshot
	for i := 0; ; i++ {
		if _, dropped := a.Viewers(); dropped == 1 {
			break
		}
		if i == 20000 {
			t.Fatalf("the stalled viewer was never dropped (%d snapshots read by the other)", len(got))
		}
		var s state.Snapshot
		var ok bool
		select {
		case s, ok = <-healthy:
		case <-time.After(30 * time.Second):
			t.Fatal("the healthy viewer got nothing for 30 s: the stream waits for the stalled viewer")
		}
		if !ok {
			t.Fatal("the healthy viewer's stream ended")
		}
		got = append(got, s)
	}
	// The healthy viewer is still there and still getting snapshots.
	for range 10 {
		s, ok := <-healthy
		if !ok {
			t.Fatal("the healthy viewer was dropped with the stalled one")
		}
		got = append(got, s)
	}
	if connected, dropped := a.Viewers(); connected != 1 || dropped != 1 {
		t.Fatalf("viewers %d dropped %d, want 1 and 1", connected, dropped)
	}
	// Every snapshot the healthy viewer got was newer than the one before:
	// none was held back or repeated while the stalled viewer blocked.
	for i := 1; i < len(got); i++ {
		if !got[i].Time.After(got[i-1].Time) {
			t.Fatalf("snapshot %d at %v after %v", i, got[i].Time, got[i-1].Time)
		}
	}
	t.Logf("the healthy viewer read %d snapshots while the stalled one was dropped", len(got))
}

// TestIdleStreamCostsNothing: with no viewer the API never takes a
// snapshot; once the last viewer leaves it stops.
func TestIdleStreamCostsNothing(t *testing.T) {
	svc := apitest.New(t0, 3)
	a := api.New(svc, api.Options{OpenReads: true, Interval: time.Millisecond})
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	time.Sleep(20 * time.Millisecond)
	if n := svc.Reads(); n != 0 {
		t.Fatalf("%d snapshots taken with no viewer", n)
	}
	resp, err := http.Get(srv.URL + api.Prefix + "/snapshots")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan state.Snapshot, 64)
	go events(resp.Body, ch)
	for range 3 {
		<-ch
	}
	resp.Body.Close()
	for i := 0; ; i++ {
		if c, _ := a.Viewers(); c == 0 {
			break
		}
		if i == 10000 {
			t.Fatal("the viewer that left is still counted")
		}
		time.Sleep(time.Millisecond)
	}
	// One more publish may be under way as the last viewer leaves.
	time.Sleep(10 * time.Millisecond)
	before := svc.Reads()
	time.Sleep(20 * time.Millisecond)
	if after := svc.Reads(); after != before {
		t.Fatalf("%d snapshots taken after the last viewer left", after-before)
	}
}
