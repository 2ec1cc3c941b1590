// Package finnhub is the live source of trades from Finnhub's websocket
// API: every line of tradetop that talks to Finnhub. The source implements
// feed.Source, feed.Reporter and feed.Subscriber.
package finnhub

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/coder/websocket"

	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/trade"
)

// Defaults of Config, and the fixed limits of a Finnhub connection.
const (
	DefaultURL          = "wss://ws.finnhub.io"
	DefaultStallTimeout = 30 * time.Second
	DefaultMinBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
	DefaultBuffer       = 10000

	// MaxFrame is the largest frame read, in bytes. A larger frame
	// is bad input: it is counted, and the connection is reset.
	MaxFrame = 1 << 20

	// writeTimeout bounds every write on the connection (subscribe
	// and unsubscribe messages). A write that takes longer resets it.
	writeTimeout = 10 * time.Second

	// excerptLen is how many bytes of bad input LastBad quotes.
	excerptLen = 80
)

// keyPlaceholder stands for the API key wherever it would otherwise appear.
const keyPlaceholder = "REDACTED"

// ErrUnauthorized is wrapped by the error Run returns when the server
// rejects the API key (HTTP 401 or 403 on the websocket handshake). It is
// fatal: Run does not retry.
var ErrUnauthorized = errors.New("finnhub rejected the api key")

// Config configures a live Finnhub websocket source. Its String and
// GoString hide Key, so the config may be printed and logged.
type Config struct {
	// URL is the websocket endpoint, ws:// or wss://, without the token:
	// the key is added as the query parameter "token".
	// Default: "wss://ws.finnhub.io".
	URL string
	// Key is the Finnhub API key. Required. It is never printed: errors,
	// logs, URLs shown and the Report hold "REDACTED" in its place.
	Key string
	// Symbols are the initial subscriptions ("AAPL", "BINANCE:BTCUSDT"):
	// printable, without spaces, at most 64 bytes each. Required;
	// duplicates are ignored.
	Symbols []string
	// StallTimeout is how long the link may stay silent (no trade, no ping)
	// before it is taken for dead and reconnected; it also bounds the
	// websocket handshake. Default: 30s.
	StallTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a reconnection
	// attempt: it doubles from MinBackoff with each failed attempt up to
	// MaxBackoff, and a random jitter takes up to half of it off.
	// Defaults: 500ms and 30s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Buffer is the number of trades queued between the websocket reader
	// and emit. When it is full, trades are dropped and counted in
	// feed.Report.Dropped: the reader never waits for the pipeline.
	// Default: 10000.
	Buffer int
	// Log receives connection events (connected, lost, server error
	// frames) and, at debug level, each bad input. Default: discard.
	Log *slog.Logger
	// Now is the clock of feed.Report.LastErrorTime. Default: time.Now.
	Now func() time.Time
}

// withDefaults returns c with every zero field that has a default set to it.
func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports what is wrong with c, or nil. Zero fields that have a
// default are valid. The error never holds the key.
func (c Config) Validate() error {
	var errs []error
	if c.Key == "" {
		errs = append(errs, errors.New("api key is required"))
	} else if !trade.Printable(c.Key) || strings.ContainsFunc(c.Key, unicode.IsSpace) {
		errs = append(errs, errors.New("api key holds spaces or control characters"))
	}
	if c.URL != "" {
		if _, err := parseURL(c.URL); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.Symbols) == 0 {
		errs = append(errs, errors.New("no symbols to subscribe"))
	}
	for _, s := range c.Symbols {
		if err := validateSymbol(s); err != nil {
			errs = append(errs, err)
		}
	}
	d := c.withDefaults()
	if c.StallTimeout < 0 {
		errs = append(errs, fmt.Errorf("stall timeout %v is negative", c.StallTimeout))
	}
	if c.MinBackoff < 0 {
		errs = append(errs, fmt.Errorf("min backoff %v is negative", c.MinBackoff))
	}
	if c.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("max backoff %v is negative", c.MaxBackoff))
	}
	if d.MinBackoff > 0 && d.MaxBackoff > 0 && d.MinBackoff > d.MaxBackoff {
		errs = append(errs, fmt.Errorf("min backoff %v is above max backoff %v", d.MinBackoff, d.MaxBackoff))
	}
	if c.Buffer < 0 {
		errs = append(errs, fmt.Errorf("buffer %d is negative", c.Buffer))
	}
	if len(errs) > 0 {
		return redactKeyError(fmt.Errorf("finnhub feed: %w", errors.Join(errs...)), c.Key)
	}
	return nil
}

// String describes c with its key hidden.
func (c Config) String() string {
	key := ""
	if c.Key != "" {
		key = keyPlaceholder
	}
	return redactKey(fmt.Sprintf("FinnhubConfig{URL:%q Key:%q Symbols:%q StallTimeout:%v MinBackoff:%v MaxBackoff:%v Buffer:%d}",
		c.URL, key, c.Symbols, c.StallTimeout, c.MinBackoff, c.MaxBackoff, c.Buffer), c.Key)
}

// GoString is String, so that %#v hides the key too.
func (c Config) GoString() string { return c.String() }

// parseURL checks that raw is a ws:// or wss:// URL with a host and
// without a token of its own.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("url is not a valid URL")
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("url scheme %q is not ws or wss", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("url has no host")
	}
	if u.User != nil {
		return nil, errors.New("url must not hold user information")
	}
	if u.Query().Has("token") {
		return nil, errors.New("url must not hold a token: set the key instead")
	}
	return u, nil
}

// validateSymbol reports why s cannot be subscribed, or nil.
func validateSymbol(s string) error {
	switch {
	case s == "":
		return errors.New("empty symbol")
	case len(s) > trade.MaxSymbolLen:
		return fmt.Errorf("symbol %.16q… longer than %d bytes", s, trade.MaxSymbolLen)
	case !trade.Printable(s):
		return fmt.Errorf("symbol %q is not printable UTF-8", s)
	case strings.ContainsFunc(s, unicode.IsSpace):
		return fmt.Errorf("symbol %q holds a space", s)
	}
	return nil
}

// Source is a live source of trades from Finnhub's websocket API
// (https://finnhub.io/docs/api/websocket-trades). It keeps one connection,
// reconnects with backoff when it is lost or stalls, and subscribes the
// current symbols on each. Run may be called by one goroutine at a time,
// and again once it has returned; Report, Subscribe, Unsubscribe and
// Symbols from any goroutine at any time.
//
// Each trade's ID is "f-", the hex FNV-1a 64-bit hash of its content
// (symbol, price, time, volume and conditions as sent), "-", and the number
// of trades with the same content before it in the same frame. The same
// trade sent again (after a reconnect) keeps its ID, so the store keeps it
// once; identical trades in one frame stay apart. Identical trades in
// different frames share an ID by design: the feed gives no way to tell
// them apart, so they are stored once.
type Source struct {
	cfg         Config
	url         string // with the token: never printed
	redactedURL string
	name        string
	client      *http.Client
	transport   *http.Transport
	running     atomic.Bool

	// wake holds a token when the subscriptions changed since the
	// connection's writer last looked.
	wake chan struct{}

	mu     sync.Mutex
	subs   map[string]struct{}
	report feed.Report
}

var (
	_ feed.Source     = (*Source)(nil)
	_ feed.Reporter   = (*Source)(nil)
	_ feed.Subscriber = (*Source)(nil)
)

// New validates cfg, fills in its defaults and returns the source.
// It does not connect: Run does.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Symbols = slices.Clone(cfg.Symbols)
	u, err := parseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("finnhub feed: %w", err)
	}
	shown := *u
	q := u.Query()
	q.Set("token", cfg.Key)
	u.RawQuery = q.Encode()
	q.Set("token", keyPlaceholder)
	shown.RawQuery = q.Encode()

	// A transport of our own, without keep-alives, leaves no idle
	// connection (and its goroutines) behind a rejected handshake; redirects
	// are not followed, so the token goes to no other host.
	transport := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		transport = dt.Clone()
	}
	transport.DisableKeepAlives = true
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}

	f := &Source{
		cfg:         cfg,
		url:         u.String(),
		redactedURL: shown.String(),
		client:      client,
		transport:   transport,
		wake:        make(chan struct{}, 1),
		subs:        make(map[string]struct{}, len(cfg.Symbols)),
	}
	for _, s := range cfg.Symbols {
		f.subs[s] = struct{}{}
	}
	f.name = "finnhub " + strconv.Itoa(len(f.subs)) + " symbols"
	return f, nil
}

// Name describes the source ("finnhub 3 symbols", counting the initial
// subscriptions).
func (f *Source) Name() string { return f.name }

// String is Name, so that printing the source never shows its config.
func (f *Source) String() string { return f.name }

// GoString is Name, so that %#v never shows the config either.
func (f *Source) GoString() string { return f.name }

// Report returns the counts since Run started.
func (f *Source) Report() feed.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.report
}

// Symbols returns the symbols subscribed now, sorted.
func (f *Source) Symbols() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.symbolsLocked()
}

func (f *Source) symbolsLocked() []string {
	out := make([]string, 0, len(f.subs))
	for s := range f.subs {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Subscribe adds symbol to the subscriptions. The live connection, if any,
// subscribes it shortly; every reconnection does too. Subscribing a symbol
// twice is not an error.
func (f *Source) Subscribe(symbol string) error {
	if err := validateSymbol(symbol); err != nil {
		return fmt.Errorf("finnhub feed: subscribing: %w", err)
	}
	f.mu.Lock()
	f.subs[symbol] = struct{}{}
	f.mu.Unlock()
	f.poke()
	return nil
}

// Unsubscribe removes symbol from the subscriptions. The live connection,
// if any, unsubscribes it shortly; reconnections no longer subscribe it.
func (f *Source) Unsubscribe(symbol string) error {
	f.mu.Lock()
	_, ok := f.subs[symbol]
	delete(f.subs, symbol)
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("finnhub feed: unsubscribing: %q is not subscribed", symbol)
	}
	f.poke()
	return nil
}

// poke tells the connection's writer that the subscriptions changed.
func (f *Source) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run connects, subscribes and calls emit with each valid trade, from the
// calling goroutine, until ctx is done (it returns ctx.Err()), emit fails
// (its error) or the server rejects the key (an error wrapping
// ErrUnauthorized). A lost, stalled or failing connection is not an
// error: Run reconnects, with backoff, for as long as ctx lasts. Trades
// that find the buffer full are dropped and counted. When Run returns, the
// connection is closed and every goroutine it started has ended.
func (f *Source) Run(ctx context.Context, emit func(trade.Trade) error) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("finnhub feed: already running")
	}
	defer f.running.Store(false)
	f.mu.Lock()
	f.report = feed.Report{}
	f.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	buf := make(chan trade.Trade, f.cfg.Buffer)
	fatal := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.maintain(ctx, buf); err != nil {
			fatal <- err
		}
	}()
	defer func() {
		cancel()
		<-done
		f.transport.CloseIdleConnections()
		f.mu.Lock()
		f.report.Connected = false
		f.mu.Unlock()
	}()

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-fatal:
			return err
		case t := <-buf:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := emit(t); err != nil {
				return err
			}
		}
	}
}

// maintain keeps a connection up until ctx is done (it returns nil) or the
// key is rejected (it returns that error). It runs on its own goroutine.
func (f *Source) maintain(ctx context.Context, out chan<- trade.Trade) error {
	log := f.cfg.Log
	attempt := 0
	everConnected := false
	for {
		conn, err := f.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			f.connectionError(err)
			if errors.Is(err, ErrUnauthorized) {
				log.Error("finnhub key rejected", "url", f.redactedURL, "err", err)
				return err
			}
			wait := f.backoff(attempt)
			attempt++
			log.Warn("finnhub connection failed", "url", f.redactedURL, "err", err, "retry_in", wait)
			if feed.Sleep(ctx, wait) != nil {
				return nil
			}
			continue
		}

		f.mu.Lock()
		if everConnected {
			f.report.Reconnects++
		}
		f.report.Connected = true
		n := len(f.subs)
		f.mu.Unlock()
		everConnected = true
		log.Info("finnhub connected", "url", f.redactedURL, "symbols", n)

		heard, err := f.session(ctx, conn, out)
		f.mu.Lock()
		f.report.Connected = false
		f.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		f.connectionError(err)
		if heard {
			attempt = 0
		}
		wait := f.backoff(attempt)
		attempt++
		log.Warn("finnhub connection lost", "err", err, "retry_in", wait)
		if feed.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// connectionError records err as the latest connection problem.
func (f *Source) connectionError(err error) {
	msg := f.redactKey(err.Error())
	now := f.cfg.Now()
	f.mu.Lock()
	f.report.LastError = msg
	f.report.LastErrorTime = now
	f.mu.Unlock()
}

// backoff is the wait before reconnection attempt n (0 for the first after
// a loss): MinBackoff doubled n times, at most MaxBackoff, less a random
// jitter of up to half.
func (f *Source) backoff(n int) time.Duration {
	d := f.cfg.MinBackoff
	for i := 0; i < n && d < f.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, f.cfg.MaxBackoff)
	if half := d / 2; half > 0 {
		d -= rand.N(half + 1)
	}
	return d
}

// dial opens a connection. A handshake rejected with 401 or 403 gives an
// error wrapping ErrUnauthorized; no error holds the key.
func (f *Source) dial(ctx context.Context) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.StallTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, f.url, &websocket.DialOptions{
		HTTPClient:      f.client,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("finnhub feed: connecting to %s: %w (HTTP %d)", f.redactedURL, ErrUnauthorized, resp.StatusCode)
		}
		return nil, f.redactKeyError(fmt.Errorf("connecting to %s: %w", f.redactedURL, err))
	}
	conn.SetReadLimit(MaxFrame)
	return conn, nil
}

// session reads conn until it fails, stalls or ctx is done, while a second
// goroutine keeps its subscriptions in line with f's. It closes conn and
// waits for that goroutine before it returns. It reports whether any frame
// arrived, and why the connection ended.
func (f *Source) session(ctx context.Context, conn *websocket.Conn, out chan<- trade.Trade) (heard bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	var werr error
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		if err := f.syncSubscriptions(ctx, conn); err != nil && ctx.Err() == nil {
			werr = err
			conn.CloseNow()
		}
	}()
	heard, err = f.read(ctx, conn, out)
	cancel()
	conn.CloseNow()
	<-writerDone
	if werr != nil {
		err = werr
	}
	return heard, err
}

// syncSubscriptions sends conn the subscribe and unsubscribe messages that
// bring what it was sent in line with f's subscriptions, first all of them,
// then each change, until ctx is done or a write fails.
func (f *Source) syncSubscriptions(ctx context.Context, conn *websocket.Conn) error {
	sent := make(map[string]struct{})
	for {
		want := f.Symbols()
		for _, s := range want {
			if _, ok := sent[s]; !ok {
				if err := f.send(ctx, conn, "subscribe", s); err != nil {
					return err
				}
				sent[s] = struct{}{}
			}
		}
		var gone []string
		for s := range sent {
			if _, ok := slices.BinarySearch(want, s); !ok {
				gone = append(gone, s)
			}
		}
		slices.Sort(gone)
		for _, s := range gone {
			if err := f.send(ctx, conn, "unsubscribe", s); err != nil {
				return err
			}
			delete(sent, s)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		}
	}
}

// send writes one subscription message, within writeTimeout.
func (f *Source) send(ctx context.Context, conn *websocket.Conn, typ, symbol string) error {
	msg, err := json.Marshal(struct {
		Type   string `json:"type"`
		Symbol string `json:"symbol"`
	}{typ, symbol})
	if err != nil {
		return fmt.Errorf("encoding %s %q: %w", typ, symbol, err)
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return f.redactKeyError(fmt.Errorf("sending %s %q: %w", typ, symbol, err))
	}
	return nil
}

// read hands the trades of each frame from conn to out until the
// connection fails, stays silent for StallTimeout or ctx is done.
func (f *Source) read(ctx context.Context, conn *websocket.Conn, out chan<- trade.Trade) (heard bool, err error) {
	for {
		rctx, rcancel := context.WithTimeout(ctx, f.cfg.StallTimeout)
		_, b, err := conn.Read(rctx)
		stalled := errors.Is(rctx.Err(), context.DeadlineExceeded)
		rcancel()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return heard, ctx.Err()
			case stalled:
				return heard, fmt.Errorf("link stalled: no message for %v", f.cfg.StallTimeout)
			case errors.Is(err, websocket.ErrMessageTooBig):
				f.bad(fmt.Sprintf("frame larger than %d bytes", MaxFrame))
				return heard, fmt.Errorf("frame larger than %d bytes: connection reset", MaxFrame)
			default:
				return heard, f.redactKeyError(fmt.Errorf("reading: %w", err))
			}
		}
		heard = true
		f.handle(b, out)
	}
}

// handle acts on one frame: it queues its valid trades, counts what it had
// to reject or drop, and records server errors.
func (f *Source) handle(b []byte, out chan<- trade.Trade) {
	fr := decodeFrame(b)
	if len(fr.bad) > 0 {
		f.bad(fr.bad...)
	}
	if fr.kind == "error" {
		msg := f.redactKey("server error: " + fr.msg)
		f.cfg.Log.Warn("finnhub error frame", "msg", msg)
		now := f.cfg.Now()
		f.mu.Lock()
		f.report.LastError = msg
		f.report.LastErrorTime = now
		f.mu.Unlock()
	}
	var dropped int64
	for _, t := range fr.trades {
		select {
		case out <- t:
		default:
			dropped++
		}
	}
	if dropped > 0 {
		f.mu.Lock()
		f.report.Dropped += dropped
		f.mu.Unlock()
	}
}

// bad counts rejected inputs, one for each description in what.
func (f *Source) bad(what ...string) {
	for i, w := range what {
		what[i] = f.redactKey(w)
		f.cfg.Log.Debug("finnhub bad input", "what", what[i])
	}
	f.mu.Lock()
	f.report.Bad += int64(len(what))
	f.report.LastBad = what[len(what)-1]
	f.mu.Unlock()
}

// redactKey replaces the key in s.
func (f *Source) redactKey(s string) string { return redactKey(s, f.cfg.Key) }

// redactKeyError returns err with the key replaced in its message.
func (f *Source) redactKeyError(err error) error { return redactKeyError(err, f.cfg.Key) }

// redactKey replaces key, raw and URL-escaped, in s.
func redactKey(s, key string) string {
	if key == "" {
		return s
	}
	s = strings.ReplaceAll(s, key, keyPlaceholder)
	if esc := url.QueryEscape(key); esc != key {
		s = strings.ReplaceAll(s, esc, keyPlaceholder)
	}
	if esc := url.PathEscape(key); esc != key {
		s = strings.ReplaceAll(s, esc, keyPlaceholder)
	}
	return s
}

// keyRedactedError is an error whose message has the key replaced. It does not
// unwrap to the error it was made from, whose message may hold the key,
// but to the well-known errors that one matched, so errors.Is still works
// for them.
type keyRedactedError struct {
	msg    string
	causes []error
}

func (e *keyRedactedError) Error() string   { return e.msg }
func (e *keyRedactedError) Unwrap() []error { return e.causes }

// keptErrors are the errors a keyRedactedError keeps for errors.Is.
var keptErrors = []error{
	context.Canceled, context.DeadlineExceeded, io.EOF, io.ErrUnexpectedEOF,
	net.ErrClosed, websocket.ErrMessageTooBig, ErrUnauthorized,
}

// redactKeyError returns an error with err's message, the key replaced, that
// still matches the well-known errors err matches.
func redactKeyError(err error, key string) error {
	if err == nil {
		return nil
	}
	e := &keyRedactedError{msg: redactKey(err.Error(), key)}
	for _, k := range keptErrors {
		if errors.Is(err, k) {
			e.causes = append(e.causes, k)
		}
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		e.causes = append(e.causes, ce)
	}
	return e
}

// wireFrame is what one websocket message said.
type wireFrame struct {
	// kind is the frame's type: "trade", "ping", "error" or another, ""
	// when the frame could not be read.
	kind string
	// trades are the valid trades of a trade frame, in order.
	trades []trade.Trade
	// bad describes each rejected part: the whole frame, or one trade.
	bad []string
	// msg is the message of an error frame.
	msg string
}

// wireTrade is one element of a trade frame's data. Pointers tell a
// missing (or null) field from a zero.
type wireTrade struct {
	S *string   `json:"s"`
	P *float64  `json:"p"`
	T *int64    `json:"t"`
	V *float64  `json:"v"`
	C *[]string `json:"c"`
}

// decodeFrame reads one message. It never fails: what it cannot use
// it describes in bad, and every trade it returns passes trade.Validate.
func decodeFrame(b []byte) wireFrame {
	var fr wireFrame
	var head struct {
		Type *string          `json:"type"`
		Data *json.RawMessage `json:"data"`
		Msg  json.RawMessage  `json:"msg"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		fr.bad = append(fr.bad, "frame "+jsonProblem(err)+": "+excerpt(b))
		return fr
	}
	if head.Type == nil {
		fr.bad = append(fr.bad, "frame without type: "+excerpt(b))
		return fr
	}
	fr.kind = *head.Type
	switch fr.kind {
	case "ping":
	case "error":
		var msg string
		if err := json.Unmarshal(head.Msg, &msg); err != nil {
			msg = string(bytes.TrimSpace(head.Msg))
		}
		fr.msg = trade.Excerpt(printable(msg), 200)
	case "trade":
		if head.Data == nil || bytes.Equal(*head.Data, []byte("null")) {
			fr.bad = append(fr.bad, "trade frame without data: "+excerpt(b))
			return fr
		}
		var data []json.RawMessage
		if err := json.Unmarshal(*head.Data, &data); err != nil {
			fr.bad = append(fr.bad, "trade frame data "+jsonProblem(err)+": "+excerpt(b))
			return fr
		}
		fr.trades = make([]trade.Trade, 0, len(data))
		var seen map[uint64]int
		if len(data) > 1 {
			seen = make(map[uint64]int, len(data))
		}
		for i, raw := range data {
			t, sum, err := decodeTrade(raw)
			if err != nil {
				fr.bad = append(fr.bad, fmt.Sprintf("trade %d of %d: %s: %s", i+1, len(data), err, excerpt(raw)))
				continue
			}
			n := seen[sum]
			if seen != nil {
				seen[sum] = n + 1
			}
			t.ID = tradeID(sum, n)
			fr.trades = append(fr.trades, t)
		}
	}
	return fr
}

// decodeTrade reads one trade and hashes its content. The trade it
// returns is valid but for its ID.
func decodeTrade(raw json.RawMessage) (trade.Trade, uint64, error) {
	var ft wireTrade
	if err := json.Unmarshal(raw, &ft); err != nil {
		return trade.Trade{}, 0, errors.New(jsonProblem(err))
	}
	switch {
	case ft.S == nil:
		return trade.Trade{}, 0, errors.New(`missing field "s"`)
	case ft.P == nil:
		return trade.Trade{}, 0, errors.New(`missing field "p"`)
	case ft.T == nil:
		return trade.Trade{}, 0, errors.New(`missing field "t"`)
	case ft.V == nil:
		return trade.Trade{}, 0, errors.New(`missing field "v"`)
	}
	ms := *ft.T
	t := trade.Trade{Symbol: *ft.S, Price: *ft.P, Volume: *ft.V, Time: time.UnixMilli(ms).UTC()}
	var conds []string
	if ft.C != nil {
		conds = *ft.C
	}
	// The ID is checked with a placeholder of the longest form.
	t.ID = "f-0000000000000000-0"
	if err := t.Validate(); err != nil {
		return trade.Trade{}, 0, errors.New(strings.TrimPrefix(err.Error(), trade.ErrInvalid.Error()+": "))
	}

	h := fnv.New64a()
	var n [8]byte
	writeString := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		io.WriteString(h, s)
	}
	writeUint := func(u uint64) {
		binary.BigEndian.PutUint64(n[:], u)
		h.Write(n[:])
	}
	writeString(t.Symbol)
	writeUint(math.Float64bits(t.Price))
	writeUint(uint64(ms))
	writeUint(math.Float64bits(t.Volume))
	writeUint(uint64(len(conds)))
	for _, c := range conds {
		writeString(c)
	}
	return t, h.Sum64(), nil
}

// tradeID is the ID of the n-th trade (from 0) with content hash sum in
// its frame.
func tradeID(sum uint64, n int) string {
	b := make([]byte, 0, 2+16+1+4)
	b = append(b, "f-"...)
	b = fmt.Appendf(b, "%016x", sum)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(n), 10)
	return string(b)
}

// jsonProblem says briefly what encoding/json found wrong.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		// Value quotes a number as sent, which may be long.
		value := trade.Excerpt(printable(te.Value), 40)
		want := jsonKind(te.Type.Kind().String())
		if te.Field != "" {
			return fmt.Sprintf("field %q is %s, want %s", te.Field, value, want)
		}
		return fmt.Sprintf("is %s, want %s", value, want)
	case errors.As(err, &se):
		return fmt.Sprintf("is not JSON (offset %d)", se.Offset)
	}
	return "is not valid JSON"
}

// jsonKind names a Go kind as the JSON type it decodes.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "float64", "float32":
		return "number"
	case "int", "int64", "int32", "uint64":
		return "integer"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return kind
}

// printable returns s as valid UTF-8 with each control character replaced
// by a space, fit for a status line.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// excerpt quotes the start of b for a report.
func excerpt(b []byte) string {
	return strconv.Quote(trade.Excerpt(string(b), excerptLen))
}
