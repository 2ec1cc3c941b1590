package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/pipeline"
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

func TestReplayTheSampleRecording(t *testing.T) {
	sum := headless(t, "--source", "replay:testdata/sample-trades.jsonl", "--speed", "max", "--data-dir", t.TempDir())
	if sum.StoredTrades != 30000 || sum.FeedBad != 0 || sum.Errors != 0 {
		t.Errorf("summary %+v: want the sample's 30000 trades stored, nothing bad", sum)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
