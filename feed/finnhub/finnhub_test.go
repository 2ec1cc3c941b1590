package finnhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/trade"
)

// testKey is the API key the fake server accepts. Tests check that it shows
// nowhere: not in errors, logs, reports or names.
const testKey = "sk-test-9f8e7d6c5b4a"

// waitLimit bounds every wait in these tests. Nothing is asserted on how
// long things take: a wait that reaches the limit is a failure, not a
// measurement.
const waitLimit = 10 * time.Second

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeFinnhub is a websocket server on 127.0.0.1 that speaks Finnhub's
// protocol: the test drives what it sends, it records what clients send.
type fakeFinnhub struct {
	t          *testing.T
	srv        *httptest.Server // nil on the in-memory network
	pipe       *pipeListener    // nil on 127.0.0.1
	ctx        context.Context  // ends the server's connections
	reject     atomic.Int32     // HTTP status to refuse handshakes with, 0 to accept
	handshakes atomic.Int64
	conns      chan *fakeConn
}

// fakeConn is one accepted connection.
type fakeConn struct {
	ws     *websocket.Conn
	closed chan struct{} // closed when the client side is gone

	mu   sync.Mutex
	msgs []string // "subscribe AAPL", "unsubscribe MSFT", in order
}

func newFakeFinnhub(t *testing.T) *fakeFinnhub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fs := &fakeFinnhub{t: t, ctx: ctx, conns: make(chan *fakeConn, 64)}
	fs.srv = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(func() {
		cancel()
		fs.srv.Close()
	})
	return fs
}

// newPipeFinnhub is newFakeFinnhub on an in-memory network (net.Pipe), for
// tests in a synctest bubble, where time is fake and advances only when
// every goroutine waits: a silence of a minute takes no time, and a ping
// sent every second arrives every second, however busy the machine.
// Connect f to it with dialPipe.
func newPipeFinnhub(t *testing.T) *fakeFinnhub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fs := &fakeFinnhub{t: t, ctx: ctx, conns: make(chan *fakeConn, 64)}
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	fs.pipe = ln
	srv := &http.Server{Handler: http.HandlerFunc(fs.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return fs
}

// dialPipe makes f connect to fs's in-memory network.
func (fs *fakeFinnhub) dialPipe(f *Source) {
	f.transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		select {
		case fs.pipe.conns <- server:
			return client, nil
		case <-fs.pipe.done:
			return nil, net.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// pipeListener hands the server ends of net.Pipe connections to an
// http.Server.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "finnhub.test:80" }

// url is the server's websocket URL, without a token.
func (fs *fakeFinnhub) url() string {
	if fs.pipe != nil {
		return "ws://finnhub.test"
	}
	return "ws" + strings.TrimPrefix(fs.srv.URL, "http")
}

func (fs *fakeFinnhub) serve(w http.ResponseWriter, r *http.Request) {
	fs.handshakes.Add(1)
	if code := fs.reject.Load(); code != 0 {
		http.Error(w, "Invalid API key", int(code))
		return
	}
	if r.URL.Query().Get("token") != testKey {
		http.Error(w, "Invalid API key", http.StatusUnauthorized)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	fc := &fakeConn{ws: ws, closed: make(chan struct{})}
	defer close(fc.closed)
	defer ws.CloseNow()
	fs.conns <- fc
	for {
		_, b, err := ws.Read(fs.ctx)
		if err != nil {
			return
		}
		var m struct{ Type, Symbol string }
		if err := json.Unmarshal(b, &m); err != nil {
			m.Type = "malformed " + string(b)
		}
		fc.mu.Lock()
		fc.msgs = append(fc.msgs, m.Type+" "+m.Symbol)
		fc.mu.Unlock()
	}
}

// accept returns the next connection a client opened.
func (fs *fakeFinnhub) accept() *fakeConn {
	fs.t.Helper()
	select {
	case fc := <-fs.conns:
		return fc
	case <-time.After(waitLimit):
		fs.t.Fatal("gave up waiting for a connection")
		return nil
	}
}

// send writes one frame.
func (fc *fakeConn) send(t *testing.T, frame string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	if err := fc.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatalf("server write: %v", err)
	}
}

// messages returns what the client sent so far.
func (fc *fakeConn) messages() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Clone(fc.msgs)
}

// waitMessages waits until the client has sent exactly want.
func (fc *fakeConn) waitMessages(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := fc.messages()
		if slices.Equal(got, want) {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("client sent %q, want %q", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// newTestFinnhub builds a source for url with small backoffs and a
// captured debug log, which must never show the key.
func newTestFinnhub(t *testing.T, url string, edit func(*Config)) (*Source, *e2e.Buffer) {
	t.Helper()
	logs := &e2e.Buffer{}
	cfg := Config{
		URL:          url,
		Key:          testKey,
		Symbols:      []string{"AAPL", "MSFT"},
		StallTimeout: waitLimit,
		MinBackoff:   time.Millisecond,
		MaxBackoff:   5 * time.Millisecond,
		Log:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if s := logs.String(); strings.Contains(s, testKey) {
			t.Errorf("the key is in the log:\n%s", s)
		}
		r := f.Report()
		if strings.Contains(r.LastError+r.LastBad+f.Name(), testKey) {
			t.Errorf("the key is in the report or name: %+v %q", r, f.Name())
		}
	})
	return f, logs
}

// running is a Run in progress whose trades the test reads.
type running struct {
	trades chan trade.Trade
	done   chan error
	cancel context.CancelFunc
}

// start runs f with an emit that hands each trade to the test, and stops it
// at the end of the test.
func start(t *testing.T, f *Source) *running {
	t.Helper()
	return startEmit(t, f, nil)
}

// startEmit is start with a hook called by emit before it hands a trade on.
func startEmit(t *testing.T, f *Source, hook func(trade.Trade)) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{trades: make(chan trade.Trade, 1000), done: make(chan error, 1), cancel: cancel}
	go func() {
		r.done <- f.Run(ctx, func(tr trade.Trade) error {
			if hook != nil {
				hook(tr)
			}
			select {
			case r.trades <- tr:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(waitLimit):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	return r
}

// next returns the next n trades.
func (r *running) next(t *testing.T, n int) []trade.Trade {
	t.Helper()
	var got []trade.Trade
	for len(got) < n {
		select {
		case tr := <-r.trades:
			got = append(got, tr)
		case err := <-r.done:
			t.Fatalf("Run returned %v after %d of %d trades", err, len(got), n)
		case <-time.After(waitLimit):
			t.Fatalf("gave up waiting after %d of %d trades", len(got), n)
		}
	}
	return got
}

// stop cancels Run and returns its error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after its context was cancelled")
		return nil
	}
}

// tradeFrame is a trade frame of the given data elements.
func tradeFrame(data ...string) string {
	return `{"type":"trade","data":[` + strings.Join(data, ",") + `]}`
}

// tj is one trade element as Finnhub sends it.
func tj(sym string, price float64, ms int64, vol float64, conds ...string) string {
	c := "null"
	if conds != nil {
		b, _ := json.Marshal(conds)
		c = string(b)
	}
	return fmt.Sprintf(`{"s":%q,"p":%v,"t":%d,"v":%v,"c":%s}`, sym, price, ms, vol, c)
}

// sentinel sends a trade no test sends otherwise and checks that it is the
// next to arrive: nothing was emitted twice or out of turn before it.
func sentinel(t *testing.T, fc *fakeConn, r *running) {
	t.Helper()
	fc.send(t, tradeFrame(tj("SENTINEL", 1, 1700000009999, 1)))
	if got := r.next(t, 1)[0]; got.Symbol != "SENTINEL" {
		t.Fatalf("next trade is %+v, want the sentinel", got)
	}
}

var idPattern = regexp.MustCompile(`^f-[0-9a-f]{16}-[0-9]+$`)

func TestNewFinnhub(t *testing.T) {
	ok := Config{Key: testKey, Symbols: []string{"AAPL"}}
	with := func(edit func(*Config)) Config {
		c := ok
		c.Symbols = slices.Clone(ok.Symbols)
		edit(&c)
		return c
	}
	tests := []struct {
		name     string
		cfg      Config
		wantErr  string
		wantName string
	}{
		{name: "minimal", cfg: ok, wantName: "finnhub 1 symbols"},
		{name: "duplicates", cfg: with(func(c *Config) { c.Symbols = []string{"AAPL", "BINANCE:BTCUSDT", "AAPL"} }), wantName: "finnhub 2 symbols"},
		{name: "no key", cfg: with(func(c *Config) { c.Key = "" }), wantErr: "api key is required"},
		{name: "key with space", cfg: with(func(c *Config) { c.Key = "a " + testKey }), wantErr: "api key holds spaces"},
		{name: "no symbols", cfg: with(func(c *Config) { c.Symbols = nil }), wantErr: "no symbols"},
		{name: "empty symbol", cfg: with(func(c *Config) { c.Symbols = []string{""} }), wantErr: "empty symbol"},
		{name: "symbol with space", cfg: with(func(c *Config) { c.Symbols = []string{"BRK A"} }), wantErr: `symbol "BRK A" holds a space`},
		{name: "symbol with control", cfg: with(func(c *Config) { c.Symbols = []string{"A\x01"} }), wantErr: "not printable"},
		{name: "long symbol", cfg: with(func(c *Config) { c.Symbols = []string{strings.Repeat("X", 65)} }), wantErr: "longer than 64 bytes"},
		{name: "symbol of 64 bytes", cfg: with(func(c *Config) { c.Symbols = []string{strings.Repeat("X", 64)} }), wantName: "finnhub 1 symbols"},
		{name: "http url", cfg: with(func(c *Config) { c.URL = "http://ws.finnhub.io" }), wantErr: `scheme "http" is not ws or wss`},
		{name: "url without host", cfg: with(func(c *Config) { c.URL = "ws:///x" }), wantErr: "url has no host"},
		{name: "url with token", cfg: with(func(c *Config) { c.URL = "wss://ws.finnhub.io?token=" + testKey }), wantErr: "url must not hold a token"},
		{name: "url with key in user", cfg: with(func(c *Config) { c.URL = "wss://" + testKey + "@ws.finnhub.io" }), wantErr: "user information"},
		{name: "negative stall", cfg: with(func(c *Config) { c.StallTimeout = -1 }), wantErr: "stall timeout -1ns is negative"},
		{name: "min above max", cfg: with(func(c *Config) { c.MinBackoff = time.Minute }), wantErr: "min backoff 1m0s is above max backoff 30s"},
		{name: "negative buffer", cfg: with(func(c *Config) { c.Buffer = -1 }), wantErr: "buffer -1 is negative"},
		{name: "several problems", cfg: Config{Buffer: -1}, wantErr: "api key is required\nno symbols to subscribe\nbuffer -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("New: no error, want %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "finnhub feed: ") {
					t.Fatalf("New: %q, want it to hold %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Fatalf("the error holds the key: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := f.Name(); got != tt.wantName {
				t.Errorf("Name() = %q, want %q", got, tt.wantName)
			}
		})
	}
}

func TestFinnhubDefaults(t *testing.T) {
	f, err := New(Config{Key: testKey, Symbols: []string{"AAPL"}})
	if err != nil {
		t.Fatal(err)
	}
	c := f.cfg
	if c.URL != "wss://ws.finnhub.io" || c.StallTimeout != 30*time.Second || c.MinBackoff != 500*time.Millisecond ||
		c.MaxBackoff != 30*time.Second || c.Buffer != 10000 || c.Log == nil || c.Now == nil {
		t.Errorf("defaults: %v", c)
	}
	if want := "wss://ws.finnhub.io?token=REDACTED"; f.redactedURL != want {
		t.Errorf("shown URL %q, want %q", f.redactedURL, want)
	}
}

func TestFinnhubConfigHidesKey(t *testing.T) {
	cfg := Config{URL: "wss://ws.finnhub.io", Key: testKey, Symbols: []string{"AAPL"}}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		for _, v := range []any{cfg, &cfg, f, []Config{cfg}, struct{ C Config }{cfg}} {
			s := fmt.Sprintf(format, v)
			if strings.Contains(s, testKey) || strings.Contains(s, fmt.Sprintf("%x", testKey)) {
				t.Errorf("Sprintf(%q, %T) shows the key: %s", format, v, s)
			}
		}
	}
	if s := cfg.String(); !strings.Contains(s, `Key:"REDACTED"`) || !strings.Contains(s, `Symbols:["AAPL"]`) {
		t.Errorf("String() = %s", s)
	}
}

func TestFinnhubSymbols(t *testing.T) {
	f, _ := newTestFinnhub(t, "ws://127.0.0.1:1", nil)
	if err := f.Subscribe("BINANCE:BTCUSDT"); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := f.Subscribe("AAPL"); err != nil {
		t.Fatalf("Subscribe again: %v", err)
	}
	for _, bad := range []string{"", "A B", "A\n", strings.Repeat("Z", 65), "\xff"} {
		if err := f.Subscribe(bad); err == nil {
			t.Errorf("Subscribe(%q): no error", bad)
		}
	}
	if err := f.Unsubscribe("MSFT"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if err := f.Unsubscribe("MSFT"); err == nil || !strings.Contains(err.Error(), `"MSFT" is not subscribed`) {
		t.Errorf("Unsubscribe twice: %v", err)
	}
	if got, want := f.Symbols(), []string{"AAPL", "BINANCE:BTCUSDT"}; !slices.Equal(got, want) {
		t.Errorf("Symbols() = %q, want %q", got, want)
	}
}

// TestFinnhubTrades checks that trades arrive once each, in order, with
// their fields and IDs, and that the source subscribes its symbols.
func TestFinnhubTrades(t *testing.T) {
	fs := newFakeFinnhub(t)
	f, logs := newTestFinnhub(t, fs.url(), nil)
	r := start(t, f)
	fc := fs.accept()
	fc.waitMessages(t, "subscribe AAPL", "subscribe MSFT")
	waitFor(t, "Connected", func() bool { return f.Report().Connected })

	fc.send(t, tradeFrame(
		tj("AAPL", 229.1, 1700000000000, 100, "1", "12"),
		tj("MSFT", 410.25, 1700000000001, 0.5),
		tj("AAPL", 229.1, 1700000000000, 100, "1", "12"), // the same as the first
	))
	fc.send(t, `{"type":"ping"}`)
	fc.send(t, `{"type":"trade","data":[{"s":"BINANCE:BTCUSDT","p":37000.5,"t":1700000000002,"v":0.0012}]}`)
	fc.send(t, `{"type":"news","data":"ignored"}`)
	got := r.next(t, 4)
	sentinel(t, fc, r)

	want := []trade.Trade{
		{Symbol: "AAPL", Price: 229.1, Volume: 100, Time: time.UnixMilli(1700000000000).UTC()},
		{Symbol: "MSFT", Price: 410.25, Volume: 0.5, Time: time.UnixMilli(1700000000001).UTC()},
		{Symbol: "AAPL", Price: 229.1, Volume: 100, Time: time.UnixMilli(1700000000000).UTC()},
		{Symbol: "BINANCE:BTCUSDT", Price: 37000.5, Volume: 0.0012, Time: time.UnixMilli(1700000000002).UTC()},
	}
	for i := range want {
		g := got[i]
		if !idPattern.MatchString(g.ID) {
			t.Errorf("trade %d: ID %q does not match %s", i, g.ID, idPattern)
		}
		if err := g.Validate(); err != nil {
			t.Errorf("trade %d: %v", i, err)
		}
		g.ID = ""
		if g != want[i] || g.Time.Location() != time.UTC {
			t.Errorf("trade %d = %+v, want %+v", i, g, want[i])
		}
	}
	// The same content in one frame: the same hash, another occurrence.
	if got[0].ID == got[2].ID || strings.TrimSuffix(got[0].ID, "-0") != strings.TrimSuffix(got[2].ID, "-1") {
		t.Errorf("identical trades in a frame got IDs %q and %q, want one hash with -0 and -1", got[0].ID, got[2].ID)
	}
	if got[1].ID == got[0].ID || !strings.HasSuffix(got[1].ID, "-0") {
		t.Errorf("distinct trades: IDs %q and %q", got[0].ID, got[1].ID)
	}

	rep := f.Report()
	if rep.Bad != 0 || rep.Dropped != 0 || rep.Reconnects != 0 || !rep.Connected || rep.LastError != "" {
		t.Errorf("Report() = %+v, want a clean connected report", rep)
	}
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v, want context.Canceled", err)
	}
	if f.Report().Connected {
		t.Error("still connected after Run returned")
	}
	if s := logs.String(); !strings.Contains(s, "token=REDACTED") {
		t.Errorf("the log does not show the redacted URL:\n%s", s)
	}
}

// TestFinnhubReconnect drops the connection mid-stream: the source
// reconnects, resubscribes what is subscribed now, and a frame sent again
// yields the same IDs.
func TestFinnhubReconnect(t *testing.T) {
	fs := newFakeFinnhub(t)
	f, _ := newTestFinnhub(t, fs.url(), nil)
	r := start(t, f)
	fc := fs.accept()
	fc.waitMessages(t, "subscribe AAPL", "subscribe MSFT")

	if err := f.Subscribe("BINANCE:BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	fc.waitMessages(t, "subscribe AAPL", "subscribe MSFT", "subscribe BINANCE:BTCUSDT")
	if err := f.Unsubscribe("MSFT"); err != nil {
		t.Fatal(err)
	}
	fc.waitMessages(t, "subscribe AAPL", "subscribe MSFT", "subscribe BINANCE:BTCUSDT", "unsubscribe MSFT")

	frame := tradeFrame(
		tj("AAPL", 229.1, 1700000000000, 100, "1"),
		tj("AAPL", 229.1, 1700000000000, 100, "1"),
		tj("BINANCE:BTCUSDT", 37000.5, 1700000000002, 0.25),
	)
	fc.send(t, frame)
	first := r.next(t, 3)

	fc.ws.CloseNow()
	fc2 := fs.accept()
	fc2.waitMessages(t, "subscribe AAPL", "subscribe BINANCE:BTCUSDT")
	waitFor(t, "Reconnects == 1", func() bool { return f.Report().Reconnects == 1 })
	fc2.send(t, frame)
	again := r.next(t, 3)
	sentinel(t, fc2, r)

	if !slices.Equal(first, again) {
		t.Errorf("the frame sent again gave\n%+v\nwant\n%+v", again, first)
	}
	rep := f.Report()
	if rep.Reconnects != 1 || !rep.Connected || rep.LastError == "" || rep.LastErrorTime.IsZero() {
		t.Errorf("Report() = %+v, want 1 reconnect, connected, the loss recorded", rep)
	}
	if got := fs.handshakes.Load(); got != 2 {
		t.Errorf("%d handshakes, want 2", got)
	}
}

// TestFinnhubPingsKeepAlive sends nothing but pings, a second apart, for a
// minute: with a StallTimeout of 5s the link stays up. It runs on fake time.
func TestFinnhubPingsKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newPipeFinnhub(t)
		f, _ := newTestFinnhub(t, fs.url(), func(c *Config) { c.StallTimeout = 5 * time.Second })
		fs.dialPipe(f)
		r := start(t, f)
		fc := fs.accept()
		fc.waitMessages(t, "subscribe AAPL", "subscribe MSFT")
		for range 60 {
			fc.send(t, `{"type":"ping"}`)
			time.Sleep(time.Second)
		}
		sentinel(t, fc, r)
		if rep := f.Report(); rep.Reconnects != 0 || !rep.Connected || rep.LastError != "" {
			t.Errorf("Report() = %+v, want the first connection alive", rep)
		}
		if got := fs.handshakes.Load(); got != 1 {
			t.Errorf("%d handshakes, want 1", got)
		}
	})
}

// TestFinnhubStall keeps the link silent after a ping: once StallTimeout
// has passed since the ping, and not before, the source takes the link for
// dead and reconnects. It runs on fake time.
func TestFinnhubStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const stall = 5 * time.Second
		fs := newPipeFinnhub(t)
		f, _ := newTestFinnhub(t, fs.url(), func(c *Config) { c.StallTimeout = stall })
		fs.dialPipe(f)
		r := start(t, f)
		fc := fs.accept()
		fc.send(t, `{"type":"ping"}`)
		synctest.Wait()
		pinged := time.Now()
		fc2 := fs.accept()
		if silent := time.Since(pinged); silent < stall || silent > stall+time.Second {
			t.Errorf("reconnected after %v of silence, want %v", silent, stall)
		}
		select {
		case <-fc.closed:
		case <-time.After(time.Minute):
			t.Fatal("the stalled connection was not closed")
		}
		waitFor(t, "Reconnects == 1", func() bool { return f.Report().Reconnects == 1 })
		if rep := f.Report(); rep.LastError != "link stalled: no message for 5s" {
			t.Errorf("LastError = %q, want the stall", rep.LastError)
		}
		fc2.send(t, tradeFrame(tj("AAPL", 1, 1700000000000, 1)))
		if got := r.next(t, 1)[0]; got.Symbol != "AAPL" {
			t.Errorf("got %+v", got)
		}
	})
}

// TestFinnhubBadInput sends malformed frames and invalid trades among valid
// ones: each is counted, described, and skipped; the valid trades arrive.
func TestFinnhubBadInput(t *testing.T) {
	fs := newFakeFinnhub(t)
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	f, logs := newTestFinnhub(t, fs.url(), func(c *Config) { c.Now = func() time.Time { return now } })
	r := start(t, f)
	fc := fs.accept()

	fc.send(t, `not json at all`)
	fc.send(t, `{"type":"trade","data":[{"s":"AAPL","p":"229.1","t":1700000000000,"v":100}]}`)
	fc.send(t, tradeFrame(
		tj("AAPL", 1.5, 1700000000000, 10),
		tj("AAPL", -1, 1700000000000, 10),
		tj("", 1, 1700000000000, 10),
		`{"s":"MSFT","p":2,"t":1700000000000,"v":-3}`,
		`{"s":"MSFT","p":2,"t":"soon","v":3}`,
		`{"s":"MSFT","p":2,"v":3}`,
		`[1,2]`,
		tj("MSFT", 2.5, 1700000000001, 20),
	))
	fc.send(t, `{"type":"trade","data":5}`)
	fc.send(t, `{"type":"trade"}`)
	fc.send(t, `{"data":[]}`)
	fc.send(t, `{"type":"trade","data":[{"s":"AAPL","p":1,"t":1700000000000,"v":1,"c":[1]}]}`)
	fc.send(t, `{"type":"trade","data":[{"s":"AAPL","p":3,"t":1700000000000,"v":1,"c":null}, {"s":"AAPL","p":4,"t":1700000000000,"v":1}]}`)
	fc.send(t, `{"type":"error","msg":"Invalid symbol"}`)
	got := r.next(t, 4)
	for i, want := range []float64{1.5, 2.5, 3, 4} {
		if got[i].Price != want {
			t.Errorf("trade %d = %+v, want price %v", i, got[i], want)
		}
	}
	sentinel(t, fc, r)
	rep := f.Report()
	// 1 not JSON, 1 wrong type, 6 bad trades, data 5, no data, no type,
	// a numeric condition.
	if rep.Bad != 12 {
		t.Errorf("Bad = %d, want 12 (LastBad %q)", rep.Bad, rep.LastBad)
	}
	if want := `trade 1 of 1: field "c" is number, want string`; !strings.Contains(rep.LastBad, want) {
		t.Errorf("LastBad = %q, want it to hold %q", rep.LastBad, want)
	}
	if rep.LastError != "server error: Invalid symbol" || !rep.LastErrorTime.Equal(now) || !rep.Connected || rep.Reconnects != 0 {
		t.Errorf("Report() = %+v, want the error frame recorded, still connected", rep)
	}
	for _, want := range []string{
		`is not JSON (offset 2): \"not json at all\"`,
		`trade 1 of 1: field \"p\" is string, want number`,
		`trade 2 of 8: price -1 out of range`,
		`trade 3 of 8: empty symbol`,
		`trade 4 of 8: volume -3 out of range`,
		`trade 5 of 8: field \"t\" is string, want integer`,
		`trade 6 of 8: missing field \"t\"`,
		`trade 7 of 8: is array, want object`,
		`trade frame data is number, want array`,
		`trade frame without data`,
		`frame without type`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not hold %q", want)
		}
	}

	// A frame over the read limit is bad input, and resets the connection.
	big := `{"type":"trade","data":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	fc.ws.Write(ctx, websocket.MessageText, []byte(big)) // The client may hang up before the end.
	cancel()
	fc2 := fs.accept()
	fc2.send(t, tradeFrame(tj("AAPL", 5, 1700000000003, 1)))
	if got := r.next(t, 1)[0]; got.Price != 5 {
		t.Errorf("after the reset: %+v", got)
	}
	rep = f.Report()
	if rep.Bad != 13 || rep.LastBad != "frame larger than 1048576 bytes" || rep.Reconnects != 1 {
		t.Errorf("Report() = %+v, want the big frame counted and a reconnect", rep)
	}
}

// TestFinnhubUnauthorized checks that a rejected key stops Run at once with
// ErrUnauthorized, and that the key shows nowhere.
func TestFinnhubUnauthorized(t *testing.T) {
	for _, tt := range []struct {
		name   string
		reject int32
		key    string
	}{
		{name: "wrong key", key: "sk-wrong-0000111122223333"},
		{name: "403", reject: http.StatusForbidden, key: testKey},
		{name: "401", reject: http.StatusUnauthorized, key: testKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeFinnhub(t)
			fs.reject.Store(tt.reject)
			f, logs := newTestFinnhub(t, fs.url(), func(c *Config) { c.Key = tt.key })
			r := start(t, f)
			var err error
			select {
			case err = <-r.done:
				r.done <- err
			case <-time.After(waitLimit):
				t.Fatal("Run did not return")
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Run: %v, want ErrUnauthorized", err)
			}
			for _, s := range []string{err.Error(), logs.String(), f.Name(), f.Report().LastError, fmt.Sprintf("%+v %#v", f, f)} {
				if strings.Contains(s, tt.key) {
					t.Errorf("the key shows in %q", s)
				}
			}
			if !strings.Contains(err.Error(), "token=REDACTED") {
				t.Errorf("error %q does not say where it connected", err)
			}
			if got := fs.handshakes.Load(); got != 1 {
				t.Errorf("%d handshakes, want 1: no retry", got)
			}
		})
	}
}

// TestFinnhubDialFailureHidesKey points the source at a closed port: it
// retries, and the dial errors (whose URL would hold the token) are
// redacted.
func TestFinnhubDialFailureHidesKey(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f, logs := newTestFinnhub(t, "ws://"+addr, nil)
	start(t, f)
	waitFor(t, "a few failed attempts", func() bool {
		return strings.Count(logs.String(), "finnhub connection failed") >= 3
	})
	rep := f.Report()
	if !strings.Contains(rep.LastError, "connecting to ws://"+addr+"?token=REDACTED") || rep.Connected {
		t.Errorf("Report() = %+v, want the redacted dial error", rep)
	}
}

// TestFinnhubRetriesRefusedHandshake refuses the first handshakes with a
// server error: the source retries until one succeeds.
func TestFinnhubRetriesRefusedHandshake(t *testing.T) {
	fs := newFakeFinnhub(t)
	fs.reject.Store(http.StatusServiceUnavailable)
	f, _ := newTestFinnhub(t, fs.url(), nil)
	r := start(t, f)
	waitFor(t, "3 handshakes", func() bool { return fs.handshakes.Load() >= 3 })
	if rep := f.Report(); !strings.Contains(rep.LastError, "503") {
		t.Errorf("LastError = %q, want the refusal", rep.LastError)
	}
	fs.reject.Store(0)
	fc := fs.accept()
	fc.send(t, tradeFrame(tj("AAPL", 1, 1700000000000, 1)))
	r.next(t, 1)
	if rep := f.Report(); rep.Reconnects != 0 || !rep.Connected {
		t.Errorf("Report() = %+v, want connected, no reconnect: it never had a connection to lose", rep)
	}
}

// TestFinnhubSlowEmit blocks emit: the reader keeps reading, the overflow
// of the buffer is dropped and counted, and what fit arrives in order.
func TestFinnhubSlowEmit(t *testing.T) {
	const buffer = 4
	fs := newFakeFinnhub(t)
	f, _ := newTestFinnhub(t, fs.url(), func(c *Config) { c.Buffer = buffer })
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	r := startEmit(t, f, func(trade.Trade) {
		once.Do(func() {
			close(entered)
			<-release
		})
	})
	fc := fs.accept()
	fc.send(t, tradeFrame(tj("AAPL", 1, 1700000000000, 1)))
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("emit was not called")
	}

	// emit is blocked: 4 of these 20 trades fit, 16 are dropped.
	for i := range 20 {
		fc.send(t, tradeFrame(tj("AAPL", float64(100+i), 1700000000000, 1)))
	}
	fc.send(t, `{"type":"ping"}`)
	waitFor(t, "16 dropped", func() bool { return f.Report().Dropped == 16 })
	// The reader still reads while emit is blocked.
	fc.send(t, tradeFrame(tj("AAPL", 200, 1700000000000, 1)))
	waitFor(t, "17 dropped", func() bool { return f.Report().Dropped == 17 })

	close(release)
	got := r.next(t, 1+buffer)
	for i, want := range []float64{1, 100, 101, 102, 103} {
		if got[i].Price != want {
			t.Errorf("trade %d has price %v, want %v", i, got[i].Price, want)
		}
	}
	sentinel(t, fc, r)
	if rep := f.Report(); rep.Dropped != 17 || rep.Bad != 0 || rep.Reconnects != 0 {
		t.Errorf("Report() = %+v", rep)
	}
}

// TestFinnhubRunLeavesNothing checks that Run returns when ctx is done and
// leaves no goroutine of its own behind, and that Run may run again.
func TestFinnhubRunLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		fs := newFakeFinnhub(t)
		f, _ := newTestFinnhub(t, fs.url(), nil)
		for round := range 2 {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			got := make(chan trade.Trade, 1)
			go func() {
				done <- f.Run(ctx, func(tr trade.Trade) error { got <- tr; return nil })
			}()
			fc := fs.accept()
			fc.send(t, tradeFrame(tj("AAPL", 1, 1700000000000, 1)))
			select {
			case <-got:
			case <-time.After(waitLimit):
				t.Fatalf("round %d: no trade", round)
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("round %d: Run: %v", round, err)
				}
			case <-time.After(waitLimit):
				t.Fatalf("round %d: Run did not return", round)
			}
			// A goroutine that has signalled its end may still be on its
			// way out: give it time, but not forever.
			deadline := time.Now().Add(waitLimit)
			for g := goroutinesIn("feed.(*Source)"); len(g) != 0; g = goroutinesIn("feed.(*Source)") {
				if time.Now().After(deadline) {
					t.Fatalf("round %d: goroutines of the source left after Run returned:\n%s", round, strings.Join(g, "\n\n"))
				}
				time.Sleep(time.Millisecond)
			}
			select {
			case <-fc.closed:
			case <-time.After(waitLimit):
				t.Fatalf("round %d: the connection is still open", round)
			}
		}
		// The server goes with its test; closing it here lets the count
		// below include everything.
		fs.srv.Close()
	}()
	waitFor(t, "the goroutine count to come back", func() bool { return runtime.NumGoroutine() <= before })
}

// goroutinesIn returns the stacks of the goroutines that hold fn.
func goroutinesIn(fn string) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			out = append(out, g)
		}
	}
	return out
}

func TestFinnhubRunTwice(t *testing.T) {
	fs := newFakeFinnhub(t)
	f, _ := newTestFinnhub(t, fs.url(), nil)
	start(t, f)
	fs.accept()
	err := f.Run(t.Context(), func(trade.Trade) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
}

func TestFinnhubEmitError(t *testing.T) {
	fs := newFakeFinnhub(t)
	f, _ := newTestFinnhub(t, fs.url(), nil)
	stop := errors.New("stop here")
	done := make(chan error, 1)
	go func() { done <- f.Run(t.Context(), func(trade.Trade) error { return stop }) }()
	fs.accept().send(t, tradeFrame(tj("AAPL", 1, 1700000000000, 1)))
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Errorf("Run: %v, want emit's error", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
}

func TestFinnhubBackoff(t *testing.T) {
	f, _ := newTestFinnhub(t, "ws://127.0.0.1:1", func(c *Config) {
		c.MinBackoff = 100 * time.Millisecond
		c.MaxBackoff = time.Second
	})
	for n, ceil := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		ceil *= time.Millisecond
		for range 50 {
			if d := f.backoff(n); d < ceil/2 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, ceil/2, ceil)
			}
		}
	}
	if d := f.backoff(1000); d < 500*time.Millisecond || d > time.Second {
		t.Errorf("backoff(1000) = %v", d)
	}
}

func TestDecodeFinnhubFrame(t *testing.T) {
	tests := []struct {
		name   string
		frame  string
		kind   string
		prices []float64
		bad    []string
		msg    string
	}{
		{name: "ping", frame: `{"type":"ping"}`, kind: "ping"},
		{name: "unknown type", frame: `{"type":"news","data":{}}`, kind: "news"},
		{name: "error", frame: `{"type":"error","msg":"Subscribing to too many symbols"}`, kind: "error", msg: "Subscribing to too many symbols"},
		{name: "error with control", frame: `{"type":"error","msg":"a\u0000b"}`, kind: "error", msg: "a b"},
		{name: "trades", frame: tradeFrame(tj("AAPL", 1.25, 1700000000000, 3, "1"), tj("AAPL", 2, 1700000000000, 3)), kind: "trade", prices: []float64{1.25, 2}},
		{name: "empty data", frame: `{"type":"trade","data":[]}`, kind: "trade"},
		{name: "not json", frame: `{"type":`, bad: []string{`frame is not JSON (offset 8): "{\"type\":"`}},
		{name: "not an object", frame: `[1]`, bad: []string{`frame is array, want object: "[1]"`}},
		{name: "type not a string", frame: `{"type":1}`, bad: []string{`frame field "type" is number, want string: "{\"type\":1}"`}},
		{name: "zero price", frame: tradeFrame(tj("AAPL", 0, 1700000000000, 3)), kind: "trade", bad: []string{`trade 1 of 1: price 0 out of range (0, 1e+12]: "{\"s\":\"AAPL\",\"p\":0,`}},
		{name: "zero volume", frame: tradeFrame(tj("AAPL", 1, 1700000000000, 0)), kind: "trade", bad: []string{`trade 1 of 1: volume 0 out of range`}},
		{name: "missing price", frame: `{"type":"trade","data":[{"s":"A","t":1700000000000,"v":1}]}`, kind: "trade", bad: []string{`trade 1 of 1: missing field "p"`}},
		{name: "null volume", frame: `{"type":"trade","data":[{"s":"A","p":1,"t":1700000000000,"v":null}]}`, kind: "trade", bad: []string{`trade 1 of 1: missing field "v"`}},
		{name: "fractional time", frame: `{"type":"trade","data":[{"s":"A","p":1,"t":1.5,"v":1}]}`, kind: "trade", bad: []string{`field "t" is number 1.5, want integer`}},
		{name: "time far out", frame: tradeFrame(tj("AAPL", 1, 9e15, 1)), kind: "trade", bad: []string{`time`}},
		{name: "huge price", frame: `{"type":"trade","data":[{"s":"A","p":1e400,"t":1700000000000,"v":1}]}`, kind: "trade", bad: []string{`field "p" is number 1e400, want number`}},
		{name: "long number", frame: `{"type":"trade","data":[{"s":"A","p":1` + strings.Repeat("0", 5000) + `,"t":1700000000000,"v":1}]}`, kind: "trade", bad: []string{`field "p" is number 1000000000`}},
		{name: "symbol with control", frame: `{"type":"trade","data":[{"s":"A\n","p":1,"t":1700000000000,"v":1}]}`, kind: "trade", bad: []string{`symbol is not printable`}},
		{name: "long excerpt", frame: `{"type":"trade","data":[{"s":"` + strings.Repeat("é", 100) + `","p":1,"t":1700000000000,"v":1}]}`, kind: "trade", bad: []string{`symbol longer than 64 bytes: "{\"s\":\"éééé`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := decodeFrame([]byte(tt.frame))
			if fr.kind != tt.kind || fr.msg != tt.msg {
				t.Errorf("kind %q msg %q, want %q %q", fr.kind, fr.msg, tt.kind, tt.msg)
			}
			var prices []float64
			for _, tr := range fr.trades {
				prices = append(prices, tr.Price)
			}
			if !slices.Equal(prices, tt.prices) {
				t.Errorf("prices %v, want %v", prices, tt.prices)
			}
			if len(fr.bad) != len(tt.bad) {
				t.Fatalf("bad %q, want %d like %q", fr.bad, len(tt.bad), tt.bad)
			}
			for i := range tt.bad {
				if !strings.Contains(fr.bad[i], tt.bad[i]) {
					t.Errorf("bad[%d] = %q, want it to hold %q", i, fr.bad[i], tt.bad[i])
				}
				if len(fr.bad[i]) > 200 {
					t.Errorf("bad[%d] is %d bytes long", i, len(fr.bad[i]))
				}
			}
		})
	}
}

// TestFinnhubIDs pins the ID scheme: IDs are stored, so a change would
// store every live trade seen again after an upgrade a second time.
func TestFinnhubIDs(t *testing.T) {
	a := tj("AAPL", 229.1, 1700000000000, 100, "1", "12")
	ids := func(frame string) []string {
		var out []string
		for _, tr := range decodeFrame([]byte(frame)).trades {
			out = append(out, tr.ID)
		}
		return out
	}
	got := ids(tradeFrame(a, a, tj("AAPL", 229.1, 1700000000000, 100, "1"), a))
	want := []string{"f-4f6a849baabf08b3-0", "f-4f6a849baabf08b3-1", "f-5415962f3089a0e5-0", "f-4f6a849baabf08b3-2"}
	if !slices.Equal(got, want) {
		t.Errorf("IDs %q, want %q", got, want)
	}
	// The same content however it is spelt, and whatever comes between.
	same := `{"v":100.0,"c":["1","12"],"t":1700000000000,"p":229.10,"s":"AAPL","x":1}`
	if got := ids(tradeFrame(tj("MSFT", 1, 1, 1), same)); got[len(got)-1] != want[0] {
		t.Errorf("respelt trade: ID %q, want %q", got[len(got)-1], want[0])
	}
	// Each field is part of the content.
	seen := map[string]bool{}
	for _, e := range []string{
		a,
		tj("AAPM", 229.1, 1700000000000, 100, "1", "12"),
		tj("AAPL", 229.2, 1700000000000, 100, "1", "12"),
		tj("AAPL", 229.1, 1700000000001, 100, "1", "12"),
		tj("AAPL", 229.1, 1700000000000, 101, "1", "12"),
		tj("AAPL", 229.1, 1700000000000, 100, "1", "13"),
		tj("AAPL", 229.1, 1700000000000, 100, "112"),
		tj("AAPL", 229.1, 1700000000000, 100),
	} {
		id := ids(tradeFrame(e))[0]
		if seen[id] {
			t.Errorf("%s: ID %q already seen", e, id)
		}
		seen[id] = true
	}
}

func FuzzFinnhubFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"ping"}`,
		`{"type":"error","msg":"Invalid API key"}`,
		`{"type":"trade","data":[{"s":"AAPL","p":229.1,"t":1700000000000,"v":100,"c":["1","12"]}]}`,
		`{"type":"trade","data":[{"s":"BINANCE:BTCUSDT","p":37000.5,"t":1700000000000,"v":0.0012,"c":null},{"s":"BINANCE:BTCUSDT","p":37000.5,"t":1700000000000,"v":0.0012,"c":null}]}`,
		`{"type":"trade","data":[{"s":"","p":-1,"t":"x","v":null,"c":[1]},[],null,7]}`,
		`{"type":"trade","data":{}}`,
		`{"type":`,
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := decodeFrame(b)
		ids := map[string]bool{}
		for _, tr := range fr.trades {
			if err := tr.Validate(); err != nil {
				t.Fatalf("decoded an invalid trade %+v: %v", tr, err)
			}
			if !idPattern.MatchString(tr.ID) || ids[tr.ID] {
				t.Fatalf("ID %q malformed or repeated", tr.ID)
			}
			ids[tr.ID] = true
		}
		if len(fr.trades) > 0 && fr.kind != "trade" {
			t.Fatalf("%d trades from a %q frame", len(fr.trades), fr.kind)
		}
		for _, s := range append(fr.bad, fr.msg) {
			if len(s) > 400 || !trade.Printable(s) {
				t.Fatalf("description %q is too long or not printable", s)
			}
		}
		again := decodeFrame(b)
		if !slices.Equal(fr.trades, again.trades) {
			t.Fatal("decoding is not deterministic")
		}
	})
}
