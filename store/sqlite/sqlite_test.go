package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/internal/storetesting"
	"github.com/tradetop/tradetop/trade"
)

// The fixtures the tests of both stores share.
var (
	day0      = storetesting.Day0
	trades    = storetesting.Trades
	candle    = storetesting.Candle
	sector    = storetesting.Sector
	mustWrite = storetesting.MustWrite
)

func openTestSQLite(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func openTestSQLiteStore(t testing.TB) store.Store { return openTestSQLite(t) }

func mustCounts(t testing.TB, s *Store) Counts {
	t.Helper()
	c, err := s.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSQLiteWriteTwiceStoresOnce(t *testing.T) {
	tests := []struct {
		name  string
		batch store.Batch
		want  Counts
	}{
		{
			name:  "trades",
			batch: store.Batch{Trades: trades("AAPL", "s1", day0.Add(time.Hour), 300)},
			want:  Counts{Trades: 300},
		},
		{
			name: "candles",
			batch: store.Batch{Candles: []agg.Candle{
				candle("AAPL", time.Second, day0, 1),
				candle("AAPL", time.Minute, day0, 1),
				candle("MSFT", time.Second, day0, 1),
			}},
			want: Counts{Candles: 3},
		},
		{
			name: "sectors",
			batch: store.Batch{Sectors: []agg.SectorVolume{
				sector("Tech", day0, 0, 1),
				sector("Tech", day0, 1, 1),
				sector("Energy", day0, 0, 1),
			}},
			want: Counts{Sectors: 3},
		},
		{
			name: "mixed",
			batch: store.Batch{
				Trades:  trades("AAPL", "s1", day0, 1000),
				Candles: []agg.Candle{candle("AAPL", time.Second, day0, 1)},
				Sectors: []agg.SectorVolume{sector("Tech", day0, 0, 1)},
			},
			want: Counts{Trades: 1000, Candles: 1, Sectors: 1},
		},
		{
			name: "duplicates within one batch",
			batch: store.Batch{
				Trades:  append(trades("AAPL", "s1", day0, 5), trades("AAPL", "s1", day0, 5)...),
				Candles: []agg.Candle{candle("AAPL", time.Second, day0, 1), candle("AAPL", time.Second, day0, 2)},
				Sectors: []agg.SectorVolume{sector("Tech", day0, 0, 1), sector("Tech", day0, 0, 2)},
			},
			want: Counts{Trades: 5, Candles: 1, Sectors: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestSQLite(t)
			mustWrite(t, s, &tt.batch)
			mustWrite(t, s, &tt.batch)
			if got := mustCounts(t, s); got != tt.want {
				t.Errorf("counts = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestSQLiteVWAPFollowsTheLastWrite checks the vwap column, which the
// store API does not read back, after a candle is written again: the
// contract suite checks the rest of the last write winning.
func TestSQLiteVWAPFollowsTheLastWrite(t *testing.T) {
	s := openTestSQLite(t)
	last := candle("AAPL", time.Second, day0, 2)
	last.Count = 7
	mustWrite(t, s, &store.Batch{Candles: []agg.Candle{candle("AAPL", time.Second, day0, 1)}})
	mustWrite(t, s, &store.Batch{Candles: []agg.Candle{last}})
	var vwap float64
	if err := s.reader.QueryRowContext(t.Context(), "SELECT vwap FROM candles").Scan(&vwap); err != nil {
		t.Fatal(err)
	}
	if vwap != last.VWAP() {
		t.Errorf("vwap = %v, want %v", vwap, last.VWAP())
	}
}

func TestSQLiteTradesRoundTrip(t *testing.T) {
	s := openTestSQLite(t)
	in := trade.Trade{
		ID: "live-9f86d081-1", Symbol: "BINANCE:BTCUSDT", Price: 0.1 + 0.2, Volume: 1e-8,
		Time: time.Date(2026, 1, 2, 23, 59, 59, 999999999, time.UTC),
	}
	mustWrite(t, s, &store.Batch{Trades: []trade.Trade{in}})
	var (
		out  trade.Trade
		day  string
		ns   int64
		view string
	)
	err := s.reader.QueryRowContext(t.Context(),
		"SELECT trade_id, symbol, price, volume, day, ts_ns FROM trades").
		Scan(&out.ID, &out.Symbol, &out.Price, &out.Volume, &day, &ns)
	if err != nil {
		t.Fatal(err)
	}
	out.Time = time.Unix(0, ns).UTC()
	if out != in || day != "2026-01-02" {
		t.Errorf("stored %+v on %s, want %+v on 2026-01-02", out, day, in)
	}
	if err := s.reader.QueryRowContext(t.Context(), "SELECT ts FROM trades_v").Scan(&view); err != nil {
		t.Fatal(err)
	}
	if want := "2026-01-02T23:59:59.999999999Z"; view != want {
		t.Errorf("trades_v.ts = %q, want %q", view, want)
	}
}

func TestSQLiteViews(t *testing.T) {
	s := openTestSQLite(t)
	mustWrite(t, s, &store.Batch{
		Trades:  trades("AAPL", "s1", day0.Add(90*time.Minute), 1),
		Candles: []agg.Candle{candle("AAPL", time.Minute, day0.Add(90*time.Minute), 1)},
		Sectors: []agg.SectorVolume{sector("Tech", day0.Add(90*time.Minute), 3, 2), sector("Tech", day0, 1, 1)},
	})
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{"trades_v", "SELECT symbol || ' ' || ts FROM trades_v", "AAPL 2026-01-02T01:30:00.000000000Z"},
		{"candles_v", "SELECT symbol || ' ' || interval || ' ' || bucket_start FROM candles_v", "AAPL 1m 2026-01-02T01:30:00Z"},
		{"sector_volume_v", "SELECT sector || ' ' || bucket_start || ' ' || kafka_partition FROM sector_volume_v WHERE kafka_partition = 3", "Tech 2026-01-02T01:30:00Z 3"},
		{"sector_day_v", "SELECT day || ' ' || sector || ' ' || volume FROM sector_day_v", "2026-01-02 Tech 3.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			if err := s.reader.QueryRowContext(t.Context(), tt.query).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSQLiteReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dirs", "tradetop.db")
	batch := &store.Batch{
		Trades:  trades("AAPL", "s1", day0, 10),
		Candles: []agg.Candle{candle("AAPL", time.Second, day0, 1)},
		Sectors: []agg.SectorVolume{sector("Tech", day0, 0, 1)},
	}
	want := Counts{Trades: 10, Candles: 1, Sectors: 1}

	var firstSchema string
	for i := range 3 {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			mustWrite(t, s, batch)
		}
		if got := mustCounts(t, s); got != want {
			t.Errorf("open %d: counts = %+v, want %+v", i, got, want)
		}
		var version, objects int
		var schema string
		if err := s.reader.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			t.Fatal(err)
		}
		if err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*), group_concat(sql, ';')
			FROM (SELECT sql FROM sqlite_master ORDER BY name)`).
			Scan(&objects, &schema); err != nil {
			t.Fatal(err)
		}
		// Three tables and four views.
		if version != sqliteSchemaVersion || objects != 7 {
			t.Errorf("open %d: user_version %d with %d schema objects, want %d with 7",
				i, version, objects, sqliteSchemaVersion)
		}
		if i == 0 {
			firstSchema = schema
		} else if schema != firstSchema {
			t.Errorf("open %d: schema changed:\n%s\nwas\n%s", i, schema, firstSchema)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSQLiteNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tradetop.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.ExecContext(ctx, "PRAGMA user_version = 1000"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("opened a store with a newer schema")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

func TestSQLiteOpenPath(t *testing.T) {
	tests := []struct {
		name string
		rel  string
	}{
		{"plain", "tradetop.db"},
		{"missing parents", "a/b/c/tradetop.db"},
		{"uri characters", "dir with space/what?#100%/trade top.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.rel)
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Path() != path {
				t.Errorf("Path() = %q, want %q", s.Path(), path)
			}
			mustWrite(t, s, &store.Batch{Trades: trades("AAPL", "s1", day0, 1)})
			if _, err := os.Stat(path); err != nil {
				t.Errorf("database file: %v", err)
			}
		})
	}
}

func TestSQLiteOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		sync    int // PRAGMA synchronous: 1 NORMAL, 2 FULL
		wantErr bool
	}{
		{name: "defaults", opts: Options{}, sync: 1},
		{name: "normal", opts: Options{Synchronous: SynchronousNormal}, sync: 1},
		{name: "full", opts: Options{Synchronous: SynchronousFull, ReadConns: 1, BusyTimeout: time.Second}, sync: 2},
		{name: "bad synchronous", opts: Options{Synchronous: "OFF"}, wantErr: true},
		{name: "negative timeout", opts: Options{BusyTimeout: -1}, wantErr: true},
		{name: "negative pool", opts: Options{ReadConns: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenWith(t.Context(), filepath.Join(t.TempDir(), "tradetop.db"), tt.opts)
			if tt.wantErr {
				if err == nil {
					s.Close()
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var sync, fk int
			var mode string
			if err := s.writer.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&sync); err != nil {
				t.Fatal(err)
			}
			if err := s.writer.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil {
				t.Fatal(err)
			}
			if err := s.reader.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if sync != tt.sync || fk != 0 || mode != "wal" {
				t.Errorf("synchronous %d, foreign_keys %d, journal_mode %s; want %d, 0, wal", sync, fk, mode, tt.sync)
			}
			if _, err := s.reader.ExecContext(t.Context(), "DELETE FROM trades"); err == nil {
				t.Error("a reader connection could write")
			}
		})
	}
}

func TestSQLiteContract(t *testing.T) { storetesting.Suite(t, openTestSQLiteStore) }

func TestSortTrades(t *testing.T) {
	at := func(ms int) time.Time { return day0.Add(time.Duration(ms) * time.Millisecond) }
	tr := func(symbol, id string, ms int) trade.Trade {
		return trade.Trade{ID: id, Symbol: symbol, Price: 1, Volume: 1, Time: at(ms)}
	}
	tests := []struct {
		name   string
		trades []trade.Trade
	}{
		{"empty", nil},
		{"one", []trade.Trade{tr("A", "1", 0)}},
		{"interleaved symbols in time order", []trade.Trade{tr("B", "1", 0), tr("A", "2", 1), tr("B", "3", 2), tr("A", "4", 3)}},
		{"symbols out of order", []trade.Trade{tr("C", "1", 0), tr("A", "2", 1), tr("B", "3", 2), tr("A", "4", 3), tr("C", "5", 4)}},
		{"times out of order", []trade.Trade{tr("A", "1", 5), tr("B", "2", 1), tr("A", "3", 2), tr("A", "4", 9), tr("B", "5", 0)}},
		{"same time, ids out of order", []trade.Trade{tr("A", "z", 1), tr("A", "b", 1), tr("A", "a", 0), tr("A", "c", 1)}},
		{"duplicates", []trade.Trade{tr("A", "1", 1), tr("B", "1", 1), tr("A", "1", 1)}},
	}
	var mixed []trade.Trade
	for i := range 300 {
		mixed = append(mixed, tr("S"+strconv.Itoa(i*7%13), strconv.Itoa(i), i*31%50))
	}
	tests = append(tests, struct {
		name   string
		trades []trade.Trade
	}{"mixed", mixed})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys []tradeKey
			for i, tr := range tt.trades {
				keys = append(keys, tradeKey{symbol: tr.Symbol, ns: tr.Time.UnixNano(), id: tr.ID, i: i})
			}
			got := sortTrades(slices.Clone(keys))
			if len(got) != len(keys) {
				t.Fatalf("got %d keys, want %d", len(got), len(keys))
			}
			for k := 1; k < len(got); k++ {
				a, b := got[k-1], got[k]
				if a.ns > b.ns || a.ns == b.ns && (a.symbol > b.symbol || a.symbol == b.symbol && a.id > b.id) {
					t.Fatalf("key %d %+v after %+v: not in time, symbol, id order\n%+v", k, b, a, got)
				}
				if a.ns == b.ns && a.symbol == b.symbol && a.id == b.id && a.i > b.i {
					t.Errorf("copies of a key out of batch order: %+v then %+v", a, b)
				}
			}
			seen := make(map[int]bool)
			for _, k := range got {
				seen[k.i] = true
			}
			if len(seen) != len(keys) {
				t.Errorf("sorted keys are not a permutation of the input: %+v", got)
			}
		})
	}
}

func TestSQLiteWriteIsAtomic(t *testing.T) {
	tests := []struct {
		name  string
		batch store.Batch
	}{
		{"bad candle interval", store.Batch{
			Trades:  trades("AAPL", "s1", day0, 500),
			Candles: []agg.Candle{candle("AAPL", 1500*time.Millisecond, day0, 1)},
		}},
		{"bad sector interval", store.Batch{
			Trades:  trades("AAPL", "s1", day0, 500),
			Candles: []agg.Candle{candle("AAPL", time.Second, day0, 1)},
			Sectors: []agg.SectorVolume{{Sector: "Tech", Start: day0}},
		}},
		{"trade time out of range", store.Batch{
			Trades: append(trades("AAPL", "s1", day0, 500), trade.Trade{ID: "x", Symbol: "AAPL", Price: 1, Volume: 1}),
		}},
		{"NaN price", store.Batch{
			Trades: append(trades("AAPL", "s1", day0, 500), trade.Trade{ID: "x", Symbol: "AAPL", Price: nan(), Volume: 1, Time: day0}),
		}},
		{"NaN candle", store.Batch{
			Trades:  trades("AAPL", "s1", day0, 500),
			Candles: []agg.Candle{candle("AAPL", time.Second, day0, nan())},
		}},
		{"NaN sector volume", store.Batch{
			Trades:  trades("AAPL", "s1", day0, 500),
			Sectors: []agg.SectorVolume{sector("Tech", day0, 0, nan())},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestSQLite(t)
			if err := s.Write(t.Context(), &tt.batch); err == nil {
				t.Fatal("no error")
			}
			if got := mustCounts(t, s); got != (Counts{}) {
				t.Errorf("counts after a failed write = %+v, want none", got)
			}
			// The store stays usable.
			mustWrite(t, s, &store.Batch{Trades: trades("AAPL", "s2", day0, 3)})
			if got := mustCounts(t, s); got.Trades != 3 {
				t.Errorf("trades after a good write = %d, want 3", got.Trades)
			}
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestSQLiteCanceled(t *testing.T) {
	s := openTestSQLite(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Write(ctx, &store.Batch{Trades: trades("AAPL", "s1", day0, 10)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a canceled context: %v, want context.Canceled", err)
	}
	if got := mustCounts(t, s); got != (Counts{}) {
		t.Errorf("counts = %+v, want none", got)
	}
	if _, err := s.Candles(ctx, "AAPL", time.Second, day0, day0.Add(time.Hour)); err == nil {
		t.Error("Candles with a canceled context: no error")
	}
	if _, err := s.RecentCandles(ctx, "AAPL", time.Second, 10); err == nil {
		t.Error("RecentCandles with a canceled context: no error")
	}
	if _, err := s.SectorVolume(ctx, day0); err == nil {
		t.Error("SectorVolume with a canceled context: no error")
	}
	if _, err := s.TradeCount(ctx, "AAPL", day0); err == nil {
		t.Error("TradeCount with a canceled context: no error")
	}
	if _, err := s.Counts(ctx); err == nil {
		t.Error("Counts with a canceled context: no error")
	}
}

func TestSQLiteClose(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, &store.Batch{Trades: trades("AAPL", "s1", day0, 10)})
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(s.Path() + "-wal"); !os.IsNotExist(err) {
		t.Errorf("WAL file after Close: %v, want it checkpointed and removed", err)
	}

	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"Write", func() error { return s.Write(ctx, &store.Batch{Trades: trades("AAPL", "s2", day0, 1)}) }},
		{"Write empty", func() error { return s.Write(ctx, &store.Batch{}) }},
		{"Candles", func() error { _, err := s.Candles(ctx, "AAPL", time.Second, day0, day0.Add(time.Hour)); return err }},
		{"RecentCandles", func() error { _, err := s.RecentCandles(ctx, "AAPL", time.Second, 1); return err }},
		{"SectorVolume", func() error { _, err := s.SectorVolume(ctx, day0); return err }},
		{"TradeCount", func() error { _, err := s.TradeCount(ctx, "AAPL", day0); return err }},
		{"Counts", func() error { _, err := s.Counts(ctx); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, store.ErrClosed) {
				t.Errorf("after Close: %v, want store.ErrClosed", err)
			}
		})
	}
}

// TestSQLiteConcurrentReads reads while a writer writes; run it with -race.
// Each reader sees counts that never go down and always cover whole batches.
func TestSQLiteConcurrentReads(t *testing.T) {
	s := openTestSQLite(t)
	ctx := t.Context()
	const batches, perBatch = 40, 500
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range batches {
			start := day0.Add(time.Duration(i) * time.Second)
			b := &store.Batch{
				Trades:  trades("AAPL", "b"+strconv.Itoa(i), start, perBatch),
				Candles: []agg.Candle{candle("AAPL", time.Second, start, float64(i))},
				Sectors: []agg.SectorVolume{sector("Tech", start, 0, 1)},
			}
			if err := s.Write(ctx, b); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			var last int64
			for {
				select {
				case <-done:
					return
				default:
				}
				n, err := s.TradeCount(ctx, "AAPL", day0)
				if err != nil {
					t.Error(err)
					return
				}
				if n < last || n%perBatch != 0 {
					t.Errorf("trade count %d after %d", n, last)
					return
				}
				last = n
				if _, err := s.RecentCandles(ctx, "AAPL", time.Second, 10); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.SectorVolume(ctx, day0); err != nil {
					t.Error(err)
					return
				}
				c, err := s.Counts(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if c.Trades != c.Candles*perBatch || c.Candles != c.Sectors {
					t.Errorf("counts %+v do not cover whole batches", c)
					return
				}
			}
		})
	}
	wg.Wait()
	if got, want := mustCounts(t, s), (Counts{Trades: batches * perBatch, Candles: batches, Sectors: batches}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
}

// TestSQLiteQueryPlans checks that the reads walk the primary keys in order
// rather than sort.
func TestSQLiteQueryPlans(t *testing.T) {
	s := openTestSQLite(t)
	tests := []struct {
		name  string
		query string
		args  []any
	}{
		{"candles", `SELECT bucket_start_ns FROM candles
			WHERE symbol = ? AND interval = ? AND day >= ? AND day <= ?
				AND bucket_start_ns >= ? AND bucket_start_ns < ?
			ORDER BY day, bucket_start_ns`, []any{"AAPL", "1s", "2026-01-01", "2026-01-02", 0, 1}},
		{"recent candles", `SELECT bucket_start_ns FROM candles WHERE symbol = ? AND interval = ?
			ORDER BY day DESC, bucket_start_ns DESC LIMIT ?`, []any{"AAPL", "1s", 10}},
		{"trade count", `SELECT COUNT(*) FROM trades WHERE ts_ns >= ? AND ts_ns <= ? AND day = ? AND symbol = ?`, []any{0, 1, "2026-01-01", "AAPL"}},
		{"sector volume", `SELECT sector, SUM(volume) FROM sector_volume WHERE day = ? GROUP BY sector`, []any{"2026-01-01"}},
		// Sorted by offset, but only the trades since the open windows.
		{"reread", `SELECT symbol FROM trades WHERE ts_ns >= ? AND kafka_partition = ? AND kafka_offset < ? ORDER BY kafka_offset`, []any{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(plan, "; ")
			sorts := tt.name == "reread"
			if strings.Contains(joined, "TEMP B-TREE") != sorts || !strings.Contains(joined, "SEARCH") {
				t.Errorf("plan %q: want a primary key search, sorted only for the reread", joined)
			}
		})
	}
}

// TestSQLiteSurvivesKill writes from a child process at SynchronousNormal,
// kills it with SIGKILL after some writes have returned, and checks that
// every one of them is in the file and that no batch is there in part.
func TestSQLiteSurvivesKill(t *testing.T) {
	if path := os.Getenv("TRADETOP_SQLITE_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "tradetop.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSQLiteSurvivesKill$")
	cmd.Env = append(os.Environ(), "TRADETOP_SQLITE_CRASH_CHILD="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 20
	written := 0
	lines := bufio.NewScanner(out)
	for written < killAfter && lines.Scan() {
		if n, err := strconv.Atoi(strings.TrimPrefix(lines.Text(), "written ")); err == nil {
			written = n
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed
	if written < killAfter {
		t.Fatalf("child reported %d writes before it ended, want %d", written, killAfter)
	}

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := mustCounts(t, s)
	if got.Trades < int64(written)*crashBatch || got.Candles < int64(written) {
		t.Errorf("after kill -9: %+v, want at least %d trades and %d candles", got, written*crashBatch, written)
	}
	if got.Trades != got.Candles*crashBatch {
		t.Errorf("after kill -9: %+v, a batch was stored in part", got)
	}
}

const crashBatch = 1000

// crashChild writes batches to the store at path, printing "written n" after
// the n-th Write returns, until it is killed.
func crashChild(path string) {
	ctx := context.Background()
	s, err := OpenWith(ctx, path, Options{Synchronous: SynchronousNormal})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 1; ; i++ {
		start := day0.Add(time.Duration(i) * time.Second)
		b := &store.Batch{
			Trades:  trades("AAPL", "c"+strconv.Itoa(i), start, crashBatch),
			Candles: []agg.Candle{candle("AAPL", time.Second, start, 1)},
		}
		if err := s.Write(ctx, b); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("written %d\n", i)
	}
}

// BenchmarkSQLiteWrite measures Write for each synchronous level with
// batches of 2000 trades, 100 candles and 20 sector rows, and with the
// 20000-trade batches the pipeline merges when the store falls behind; with
// new rows ("insert") and with a batch written again, as after a Kafka replay
// ("replay"). trades/s is the write throughput, MB/s that of the trades'
// wire form.
func BenchmarkSQLiteWrite(b *testing.B) {
	for _, sync := range []Synchronous{SynchronousFull, SynchronousNormal} {
		for _, n := range []int{2000, 20000} {
			for _, replay := range []bool{false, true} {
				name := fmt.Sprintf("sync=%s/batch=%d/insert", sync, n)
				if replay {
					name = fmt.Sprintf("sync=%s/batch=%d/replay", sync, n)
				}
				b.Run(name, func(b *testing.B) { benchmarkWrite(b, sync, n, replay) })
			}
		}
	}
}

func benchmarkWrite(b *testing.B, sync Synchronous, n int, replay bool) {
	s, err := OpenWith(b.Context(), filepath.Join(b.TempDir(), "bench.db"), Options{Synchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var batch store.Batch
	storetesting.BenchBatch(&batch, 0, n)
	if replay {
		mustWrite(b, s, &batch)
	}
	var wire []byte
	for i := range batch.Trades {
		wire = trade.AppendJSON(wire, &batch.Trades[i])
	}
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !replay {
			b.StopTimer()
			i++
			storetesting.BenchBatch(&batch, i, n)
			b.StartTimer()
		}
		if err := s.Write(b.Context(), &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "trades/s")
}

// TestSQLiteMigratesAVersion1File opens a file of the first schema, with a
// trade in it: the trade stays, without an origin, so it is never read back
// for a rebuild, and new trades are stored with theirs.
func TestSQLiteMigratesAVersion1File(t *testing.T) {
	s := openOldFile(t, sqliteMigrations[1], "PRAGMA user_version = 1",
		`INSERT INTO trades (symbol, day, ts_ns, trade_id, price, volume) VALUES ('AAPL', '`+trade.Day(day0)+`', `+
			strconv.FormatInt(day0.UnixNano(), 10)+`, 'old', 1, 1)`)
	mustWrite(t, s, &store.Batch{
		Trades:  []trade.Trade{{ID: "new", Symbol: "AAPL", Price: 2, Volume: 1, Time: day0.Add(time.Second)}},
		Origins: []store.Origin{{Partition: 0, Offset: 7}},
	})
	if c := mustCounts(t, s); c.Trades != 2 {
		t.Errorf("%d trades after the migration, want the old one and the new one", c.Trades)
	}
	var got []string
	err := s.Reread(t.Context(), 0, day0, 100, func(tr trade.Trade) error { got = append(got, tr.ID); return nil })
	if err != nil || !slices.Equal(got, []string{"new"}) {
		t.Errorf("Reread = %q, %v; want the new trade only", got, err)
	}
}

// TestSQLiteMigratesAVersion2File opens a file whose trades are keyed by
// symbol, with a trade_index: its trades are kept, with their origins, in
// the table keyed by time, and stay unique.
func TestSQLiteMigratesAVersion2File(t *testing.T) {
	row := func(symbol, id string, d time.Duration, partition, offset int) string {
		ts := day0.Add(d)
		return fmt.Sprintf(`INSERT INTO trades (symbol, day, ts_ns, trade_id, price, volume, kafka_partition, kafka_offset)
			VALUES ('%s', '%s', %d, '%s', %d, 1, %d, %d)`, symbol, trade.Day(ts), ts.UnixNano(), id, offset, partition, offset)
	}
	s := openOldFile(t, sqliteMigrations[1], sqliteMigrations[2], "PRAGMA user_version = 2",
		row("MSFT", "m1", 2*time.Second, 0, 3),
		row("AAPL", "a1", 3*time.Second, 0, 4),
		row("AAPL", "a0", time.Second, 0, 5), // read after m1 and a1
		row("XOM", "x1", time.Second, 1, 1),
		`INSERT INTO trade_index VALUES (0, '`+trade.Day(day0)+`', 'AAPL'), (0, '`+trade.Day(day0)+`', 'MSFT'), (1, '`+trade.Day(day0)+`', 'XOM')`)
	var got []string
	err := s.Reread(t.Context(), 0, day0, 100, func(tr trade.Trade) error {
		got = append(got, fmt.Sprintf("%s %s %s %g", tr.Symbol, tr.ID, tr.Time.Sub(day0), tr.Price))
		return nil
	})
	if want := []string{"MSFT m1 2s 3", "AAPL a1 3s 4", "AAPL a0 1s 5"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Reread after the migration = %q, %v; want %q, in the order they were read", got, err, want)
	}
	// The same trade again, from elsewhere, is not stored twice; a new one is.
	mustWrite(t, s, &store.Batch{
		Trades: []trade.Trade{
			{ID: "a1", Symbol: "AAPL", Price: 9, Volume: 1, Time: day0.Add(3 * time.Second)},
			{ID: "a2", Symbol: "AAPL", Price: 9, Volume: 1, Time: day0.Add(4 * time.Second)},
		},
		Origins: []store.Origin{{Partition: 1, Offset: 50}, {Partition: 1, Offset: 51}},
	})
	if c := mustCounts(t, s); c.Trades != 5 {
		t.Errorf("%d trades, want the 4 of version 2 and one new", c.Trades)
	}
	if n, err := s.TradeCount(t.Context(), "AAPL", day0); err != nil || n != 3 {
		t.Errorf("TradeCount(AAPL) = %d, %v; want 3", n, err)
	}
	var price float64
	if err := s.reader.QueryRowContext(t.Context(), `SELECT price FROM trades WHERE trade_id = 'a1'`).Scan(&price); err != nil || price != 4 {
		t.Errorf("a1's price = %g, %v; want the first stored, 4", price, err)
	}
	var tables int
	if err := s.reader.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM sqlite_master WHERE name IN ('trade_index', 'trades_by_time')`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("%d of trade_index and trades_by_time left, %v; want none", tables, err)
	}
}

// openOldFile makes a file with queries, as an earlier version wrote it,
// and opens it; the store is closed when the test ends.
func openOldFile(t *testing.T, queries ...string) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkSQLiteReread measures the rebuild read of one of 6 partitions:
// the last 2 minutes of a 5-minute store of 2,000 trades/s. trades/s is
// the rate at which the partition's trades are read back; the range read
// holds those of every partition.
func BenchmarkSQLiteReread(b *testing.B) {
	const partitions, perSecond, seconds, window = 6, 2000, 300, 120
	s, err := OpenWith(b.Context(), filepath.Join(b.TempDir(), "bench.db"), Options{Synchronous: SynchronousNormal})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var offsets [partitions]int64
	var batch store.Batch
	for i := range seconds / 10 {
		storetesting.BenchBatch(&batch, i, 10*perSecond)
		batch.Origins = batch.Origins[:0]
		for _, t := range batch.Trades {
			p, _ := strconv.Atoi(strings.TrimPrefix(t.Symbol, "SYM"))
			p %= partitions
			batch.Origins = append(batch.Origins, store.Origin{Partition: int32(p), Offset: offsets[p]})
			offsets[p]++
		}
		mustWrite(b, s, &batch)
	}
	since := storetesting.Day0.Add((seconds - window) * time.Second)
	var n int
	for b.Loop() {
		n = 0
		err := s.Reread(b.Context(), 0, since, offsets[0], func(trade.Trade) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	if want := window * perSecond * 9 / 50; n != want { // symbols 0, 6, ..., 48 of 50
		b.Fatalf("reread %d trades, want %d", n, want)
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "trades/s")
}
