// Package remote is a running tradetop reached through its API (package
// api): the latest snapshot of its stream, its stored candles and its
// controls, as the terminal UI's Source. It keeps the stream going across
// the service's restarts and outages, reconnecting with backoff, and says
// how the connection stands.
package remote

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/api"
	"github.com/tradetop/tradetop/state"
	"github.com/tradetop/tradetop/trade"
	"github.com/tradetop/tradetop/tui"
)

// Options configure a client.
type Options struct {
	// Token is the service's control token; empty: read-only.
	Token string
	// TLS is the configuration for an https URL. Default: the system's
	// authorities.
	TLS *tls.Config
	// Timeout bounds a request other than the stream. Default 5s.
	Timeout time.Duration
	// Silence is how long the stream may say nothing before it counts as
	// lost. Default 30s (the service speaks at least every 15s).
	Silence time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnections.
	// Defaults 250ms and 5s.
	MinBackoff, MaxBackoff time.Duration
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Silence <= 0 {
		o.Silence = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	return o
}

// Client is one running tradetop seen through its API. It implements
// tui.Source, tui.Linked and the UI's optional controls.
type Client struct {
	base   string // the URL up to and including /api/v1
	o      Options
	http   *http.Client // requests other than the stream
	stream *http.Client
	cancel context.CancelFunc
	done   chan struct{}

	snap atomic.Pointer[state.Snapshot]
	mu   sync.Mutex
	link tui.Link
}

var _ tui.Source = (*Client)(nil)
var _ tui.Linked = (*Client)(nil)

// ParseURL checks that raw is the http or https URL of a tradetop and
// returns the URL of its API.
func ParseURL(raw string) (string, error) {
	if strings.Contains(raw, "@") {
		return "", errors.New("the URL must not carry credentials: the control token comes from TRADETOP_CONTROL_TOKEN or --control-token-file")
	}
	quoted := strconv.Quote(trade.Excerpt(raw, 80))
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("%s is not a URL", quoted)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%s is not an http:// or https:// URL", quoted)
	case u.Host == "":
		return "", fmt.Errorf("%s names no host", quoted)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("%s: the URL takes no query or fragment", quoted)
	}
	path := strings.TrimSuffix(u.Path, "/")
	path = strings.TrimSuffix(path, api.Prefix)
	return u.Scheme + "://" + u.Host + path + api.Prefix, nil
}

// Dial starts following the tradetop at rawURL; it returns at once, and
// the connection is made, lost and made again in the background until
// Close.
func Dial(rawURL string, o Options) (*Client, error) {
	base, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = o.TLS
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		base:   base,
		o:      o,
		http:   &http.Client{Transport: tr, Timeout: o.Timeout},
		stream: &http.Client{Transport: tr},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	c.link.ReadOnly = c.readOnlyReason("")
	go c.follow(ctx)
	return c, nil
}

// Close stops following the service.
func (c *Client) Close() {
	c.cancel()
	<-c.done
}

// Snapshot is the latest snapshot received, nil before the first.
func (c *Client) Snapshot() *state.Snapshot { return c.snap.Load() }

// Link says how the connection stands.
func (c *Client) Link() tui.Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link
}

func (c *Client) setLink(f func(*tui.Link)) {
	c.mu.Lock()
	f(&c.link)
	c.mu.Unlock()
}

// readOnlyReason says why controls will be refused, from what the service
// said of this client's token ("" when it did not say).
func (c *Client) readOnlyReason(controls string) string {
	switch {
	case controls == "off":
		return "the service takes no controls: it has no control token"
	case controls == "wrong token":
		return "the service refused the control token"
	case c.o.Token == "" || controls == "no token given":
		return "no control token: TRADETOP_CONTROL_TOKEN or --control-token-file"
	}
	return ""
}

// follow keeps the stream going until ctx is done.
func (c *Client) follow(ctx context.Context) {
	defer close(c.done)
	wait := c.o.MinBackoff
	for {
		got, err := c.once(ctx)
		if ctx.Err() != nil {
			return
		}
		if got {
			wait = c.o.MinBackoff
		}
		now := time.Now()
		c.setLink(func(l *tui.Link) {
			if l.Connected || l.Since.IsZero() {
				l.Since = now
			}
			l.Connected, l.Err = false, err.Error()
		})
		// Full jitter: many viewers of one restarted service do not all
		// come back at once.
		d := wait/2 + rand.N(wait/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		wait = min(wait*2, c.o.MaxBackoff)
	}
}

// once asks what the service allows this client, then reads its stream
// until it ends; got says a snapshot arrived.
func (c *Client) once(ctx context.Context) (got bool, err error) {
	var in api.Info
	if err := c.get(ctx, "", &in); err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/snapshots", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	c.authorize(req)
	resp, err := c.stream.Do(req)
	if err != nil {
		return false, unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, answerError(resp)
	}
	// The stream counts as lost when it is silent for too long.
	alive := make(chan struct{}, 1)
	go func() {
		t := time.NewTimer(c.o.Silence)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-alive:
				t.Reset(c.o.Silence)
			case <-t.C:
				cancel()
				return
			}
		}
	}()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var data []byte
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long data line: read it whole.
			rest, err2 := r.ReadBytes('\n')
			line, err = append(append([]byte(nil), line...), rest...), err2
		}
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return got, fmt.Errorf("the service said nothing for %s", c.o.Silence)
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				return got, errors.New("the service closed the stream")
			}
			return got, unwrapURLError(err)
		}
		select {
		case alive <- struct{}{}:
		default:
		}
		line = trimEOL(line)
		switch {
		case len(line) == 0:
			if data == nil {
				continue
			}
			var s state.Snapshot
			if err := json.Unmarshal(data, &s); err != nil {
				return got, fmt.Errorf("a snapshot the service sent is not readable: %v", err)
			}
			data = data[:0]
			c.snap.Store(&s)
			if !got {
				got = true
				now := time.Now()
				c.setLink(func(l *tui.Link) {
					*l = tui.Link{Connected: true, Since: now, ReadOnly: c.readOnlyReason(in.Controls)}
				})
			}
		case line[0] == ':':
			// A comment: the keep-alive.
		default:
			if v, ok := strings.CutPrefix(string(line), "data:"); ok {
				data = append(data, strings.TrimPrefix(v, " ")...)
			}
		}
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (c *Client) authorize(req *http.Request) {
	if c.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.Token)
	}
}

// get reads the JSON answer at path into v.
func (c *Client) get(ctx context.Context, path string, v any) error {
	return c.do(ctx, http.MethodGet, path, v)
}

// do sends a request to path and reads its JSON answer into v, if v is
// not nil; an answer other than 200 is an error with the service's reason.
func (c *Client) do(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return answerError(resp)
	}
	if v == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("the service's answer is not readable: %v", err)
	}
	return nil
}

// answerError is the service's reason for an answer other than 200.
func answerError(resp *http.Response) error {
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
		if len(e.Error) > 200 {
			e.Error = e.Error[:200] + "…"
		}
	}
	return fmt.Errorf("%s: %s", resp.Status, e.Error)
}

// unwrapURLError drops the method and URL that net/http puts before a
// transport error: the UI says where it is connected elsewhere.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// control sends a control request; its error says why it was refused.
func (c *Client) control(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	return c.do(ctx, http.MethodPost, path, nil)
}

// SetPaused pauses or resumes the service's feed.
func (c *Client) SetPaused(paused bool) error {
	if paused {
		return c.control("/pause")
	}
	return c.control("/resume")
}

// Pause and Resume are SetPaused for callers that cannot take an error.
func (c *Client) Pause()  { _ = c.SetPaused(true) }
func (c *Client) Resume() { _ = c.SetPaused(false) }

// Subscribe and Unsubscribe change the service's live subscriptions.
func (c *Client) Subscribe(symbol string) error {
	return c.control("/subscribe?symbol=" + url.QueryEscape(symbol))
}

func (c *Client) Unsubscribe(symbol string) error {
	return c.control("/unsubscribe?symbol=" + url.QueryEscape(symbol))
}

// SetRate changes the pace of the service's feed; 0 is max.
func (c *Client) SetRate(rate float64) error {
	v := "max"
	if rate > 0 {
		v = strconv.FormatFloat(rate, 'f', -1, 64)
	}
	return c.control("/rate?rate=" + v)
}

// Stop asks the service to drain and stop.
func (c *Client) Stop() error { return c.control("/stop") }

// RecentCandles reads the newest n stored candles of the symbol.
func (c *Client) RecentCandles(ctx context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error) {
	var out []agg.Candle
	err := c.get(ctx, fmt.Sprintf("/candles?symbol=%s&interval=%s&n=%d", url.QueryEscape(symbol), interval, n), &out)
	return out, err
}

// Candles reads the stored candles of the symbol starting in [from, to).
func (c *Client) Candles(ctx context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error) {
	var out []agg.Candle
	err := c.get(ctx, fmt.Sprintf("/candles?symbol=%s&interval=%s&from=%s&to=%s", url.QueryEscape(symbol), interval,
		url.QueryEscape(from.Format(time.RFC3339Nano)), url.QueryEscape(to.Format(time.RFC3339Nano))), &out)
	return out, err
}
