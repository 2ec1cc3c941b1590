package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tradetop/tradetop/e2e"
)

const testFinnhubKey = "sekrit-KEY-8c1d"

// acceptFinnhub answers r as Finnhub does: a request without the test key
// is refused with 401; otherwise it accepts the websocket and reads the
// client's subscriptions. It returns nil when the request was refused or
// the client went away.
func acceptFinnhub(w http.ResponseWriter, r *http.Request, subscriptions int) *websocket.Conn {
	if r.URL.Query().Get("token") != testFinnhubKey {
		http.Error(w, "Invalid API key", http.StatusUnauthorized)
		return nil
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return nil
	}
	for range subscriptions {
		if _, _, err := ws.Read(r.Context()); err != nil {
			ws.CloseNow()
			return nil
		}
	}
	return ws
}

// keepReading reads ws until it fails, so that pings and the close
// handshake work while the server writes.
func keepReading(ctx context.Context, ws *websocket.Conn) {
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
	}
}

// scriptedFinnhub speaks Finnhub's protocol: on the first connection it
// sends trades, a frame with a bad trade and a broken frame, then drops
// the link; on the second it resends a frame, sends more trades and pings
// until the client leaves.
func scriptedFinnhub(t *testing.T) (url string, distinct int) {
	t.Helper()
	now := time.Now().UnixMilli()
	frame := func(trades ...string) string { return `{"type":"trade","data":[` + strings.Join(trades, ",") + `]}` }
	tr := func(sym string, p float64, dt int64, v float64) string {
		return fmt.Sprintf(`{"s":%q,"p":%g,"t":%d,"v":%g,"c":["1"]}`, sym, p, now+dt, v)
	}
	a := frame(tr("AAPL", 229.1, 0, 100), tr("MSFT", 511.2, 1, 5), tr("BINANCE:BTCUSDT", 97000.5, 2, 0.0123))
	b := frame(tr("AAPL", 229.2, 3, 10), tr("AAPL", -1, 4, 10), tr("MSFT", 511.1, 5, 7))
	c := frame(tr("BINANCE:BTCUSDT", 97001, 6, 0.5), tr("AAPL", 229.3, 7, 1))
	scripts := [][]string{{a, b, `{"type":"trade","data":[{"s":`}, {b, c}}
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws := acceptFinnhub(w, r, 3) // the three subscriptions
		if ws == nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		n := int(conns.Add(1)) - 1
		if n >= len(scripts) {
			n = len(scripts) - 1
		}
		for _, f := range scripts[n] {
			if ws.Write(ctx, websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		if n == 0 {
			return // drop the link
		}
		go keepReading(ctx, ws)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
				if ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)) != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), 7
}

// TestFinnhubEndToEnd runs the command on a server speaking Finnhub's
// protocol that drops the link and sends bad input: every valid trade is
// stored once, the bad ones are reported, the key is nowhere, and a replay
// of the recording stores the same trades.
func TestFinnhubEndToEnd(t *testing.T) {
	url, distinct := scriptedFinnhub(t)
	dir, again := t.TempDir(), t.TempDir()
	rec := filepath.Join(t.TempDir(), "finnhub.jsonl")
	// kafka-go's reader goroutines may log (at debug) a moment after run
	// returns, so the log's buffer takes a lock.
	var out strings.Builder
	var errOut e2e.Buffer
	code := run([]string{"--no-ui", "--source", "finnhub", "--finnhub-url", url,
		"--symbols", "AAPL,MSFT,BINANCE:BTCUSDT", "--duration", "5s", "--summary", "json",
		"--status-interval", "1s", "--log-level", "debug", "--record", rec, "--data-dir", dir},
		env(map[string]string{"FINNHUB_API_KEY": testFinnhubKey}), &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	recorded, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"stdout": out.String(), "stderr": errOut.String(), "the recording": string(recorded)} {
		if strings.Contains(text, testFinnhubKey) {
			t.Errorf("the key is in %s", name)
		}
	}
	var sum struct {
		StoredTrades int64 `json:"stored_trades"`
		FeedBad      int64 `json:"feed_bad"`
		Errors       int64 `json:"errors"`
	}
	if err := jsonUnmarshal(out.String(), &sum); err != nil {
		t.Fatal(err)
	}
	// The resent frame is delivered twice and stored once; its bad trade is
	// counted each time, with the broken frame: three in all.
	rows := storedTrades(t, dir)
	if got := strings.Count(rows, "\n"); got != distinct {
		t.Errorf("%d trades stored, want the %d distinct valid ones:\n%s", got, distinct, rows)
	}
	if sum.FeedBad != 3 {
		t.Errorf("feed_bad = %d, want 3", sum.FeedBad)
	}
	if log := errOut.String(); !strings.Contains(log, "bad input(s) skipped") || !strings.Contains(log, "feed_bad=3") {
		t.Errorf("the log does not report the bad input:\n%s", log)
	}

	replayed := headless(t, "--source", "replay:"+rec, "--speed", "max", "--data-dir", again)
	if replayed.FeedBad != 0 {
		t.Errorf("the recording replays with %d bad lines", replayed.FeedBad)
	}
	if storedTrades(t, again) != rows {
		t.Error("the replay of the recording stored other trades")
	}
}
