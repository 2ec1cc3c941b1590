package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/store/storetest"
	"github.com/tradetop/tradetop/trade"
)

// storedTrades returns every trade row of the SQLite store in dir, in key
// order.
func storedTrades(t *testing.T, dir string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, datadir.StoreFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT symbol, day, ts_ns, trade_id, price, volume FROM trades ORDER BY symbol, day, ts_ns, trade_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var sym, day, id string
		var ts int64
		var price, vol float64
		if err := rows.Scan(&sym, &day, &ts, &id, &price, &vol); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, sym, day, ts, id, price, vol)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// headless runs the command with args and returns its JSON summary.
func headless(t *testing.T, args ...string) pipeline.Summary {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(append([]string{"--no-ui", "--summary", "json"}, args...), env(nil), &out, &errOut); code != exitOK {
		t.Fatalf("tradetop %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	var sum pipeline.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary %q: %v", out.String(), err)
	}
	return sum
}

func TestRecordThenReplayStoresTheSameTrades(t *testing.T) {
	const n = 4000
	rec := filepath.Join(t.TempDir(), "trades.jsonl")
	first, second := t.TempDir(), t.TempDir()
	s1 := headless(t, "--count", fmt.Sprint(n), "--seed", "3", "--start", "2026-01-02T15:00:00Z",
		"--rate", "max", "--record", rec, "--data-dir", first)
	s2 := headless(t, "--source", "replay:"+rec, "--speed", "max", "--data-dir", second)
	if s1.StoredTrades != n || s2.StoredTrades != n || s2.FeedBad != 0 {
		t.Fatalf("stored %d then %d (feed_bad %d), want %d each", s1.StoredTrades, s2.StoredTrades, s2.FeedBad, n)
	}
	a, b := storedTrades(t, first), storedTrades(t, second)
	if a != b {
		t.Error("the replay stored other trades than the recorded run")
	}
	if strings.Count(a, "\n") != n {
		t.Errorf("%d rows, want %d", strings.Count(a, "\n"), n)
	}
}

// TestReplayTheSampleRecording replays the sample recording as fast as it
// goes, on its own times, and reads the store it leaves: it must hold every
// trade of the file once and exactly the candles and sector windows those
// trades make. The file is read here line by line, not by the replay.
func TestReplayTheSampleRecording(t *testing.T) {
	const sample = "testdata/sample-trades.jsonl"
	input := recordedTrades(t, sample)
	if len(input) != 30000 {
		t.Fatalf("%s holds %d trades, want 30000", sample, len(input))
	}
	dir := t.TempDir()
	sum := headless(t, "--source", "replay:"+sample, "--speed", "max", "--data-dir", dir)
	got := storetest.ReadSQLite(t, filepath.Join(dir, datadir.StoreFile))
	storetest.Check(t, "replay of the sample recording", got, storetest.Reference(input, defaultRunWindows))
	if sum.FeedBad != 0 || sum.Errors != 0 {
		t.Errorf("summary %+v: want no bad line, no errors", sum)
	}
}

// recordedTrades returns the trades of a JSON lines recording ({"id", "s",
// "p", "v", "t" in Unix ns} a line, as --record writes them), in file
// order. Any other line fails the test.
func recordedTrades(t *testing.T, path string) []trade.Trade {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []trade.Trade
	sc := bufio.NewScanner(f)
	for no := 1; sc.Scan(); no++ {
		var l struct {
			ID     *string  `json:"id"`
			Symbol *string  `json:"s"`
			Price  *float64 `json:"p"`
			Volume *float64 `json:"v"`
			Time   *int64   `json:"t"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil || dec.More() {
			t.Fatalf("%s:%d: %q is not one JSON object: %v", path, no, sc.Text(), err)
		}
		if l.ID == nil || l.Symbol == nil || l.Price == nil || l.Volume == nil || l.Time == nil {
			t.Fatalf("%s:%d: %q lacks a field", path, no, sc.Text())
		}
		out = append(out, trade.Trade{ID: *l.ID, Symbol: *l.Symbol, Price: *l.Price, Volume: *l.Volume, Time: time.Unix(0, *l.Time).UTC()})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
