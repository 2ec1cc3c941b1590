package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/internal/storetesting"
	"github.com/tradetop/tradetop/store/storetest"
	"github.com/tradetop/tradetop/trade"
)

func TestValidateDSN(t *testing.T) {
	tests := []struct {
		name, dsn string
		ok        bool
	}{
		{"url", "postgres://tradetop@127.0.0.1:5432/tradetop", true},
		{"postgresql url", "postgresql://127.0.0.1/tradetop?sslmode=disable", true},
		{"key value", "host=127.0.0.1 port=5432 user=tradetop dbname=tradetop", true},
		{"empty", "  ", false},
		{"not a dsn", "127.0.0.1:5432", false},
		{"url with password", "postgres://tradetop:secret@127.0.0.1/tradetop", false},
		{"url with password parameter", "postgres://127.0.0.1/tradetop?password=secret", false},
		{"key value with password", "host=127.0.0.1 password=secret", false},
		{"key value with password first", "password = secret host=127.0.0.1", false},
		{"bad url", "postgres://a b@%zz", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDSN(tt.dsn)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateDSN(%q) = %v, want ok %v", tt.dsn, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{DSN: "host=127.0.0.1"}
	tests := []struct {
		name string
		edit func(*Config)
		want string // in the error; "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"schema", func(c *Config) { c.Schema = "tt_1" }, ""},
		{"quoted schema", func(c *Config) { c.Schema = `a"; DROP TABLE x` }, "postgres schema"},
		{"upper case schema", func(c *Config) { c.Schema = "Trades" }, "postgres schema"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		{"one connection", func(c *Config) { c.MaxConns = 1 }, "at least 2"},
		{"no dsn", func(c *Config) { c.DSN = "" }, "DSN is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDayOf(t *testing.T) {
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{storetesting.Day0, "2026-01-02"},
		{storetesting.Day0.Add(-time.Nanosecond), "2026-01-01"},
		{time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), "1969-12-31"},
		{time.Unix(0, -1<<63), "1677-09-21"},
		{time.Unix(0, 1<<63-1), "2262-04-11"},
	} {
		if got := dayOf(tt.at.UnixNano()).Format(time.DateOnly); got != tt.want {
			t.Errorf("dayOf(%v) = %s, want %s", tt.at, got, tt.want)
		}
	}
}

// openTest opens a store on a fresh schema of the test server.
func openTest(t testing.TB) *Store {
	t.Helper()
	pg := storetest.NeedPostgres(t)
	return openSchema(t, pg, pg.Schema(t, "tt_test_"))
}

func openSchema(t testing.TB, pg storetest.Postgres, schema string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{DSN: pg.DSN, Password: pg.Password, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresContract(t *testing.T) {
	storetesting.Suite(t, func(t testing.TB) store.Store { return openTest(t) })
}

// TestPostgresRoundTrip writes trades, candles and sector rows and reads
// the tables directly: every column as written, the exact time of a trade
// to the nanosecond, and the views dashboards read.
func TestPostgresRoundTrip(t *testing.T) {
	pg := storetest.NeedPostgres(t)
	schema := pg.Schema(t, "tt_test_")
	s := openSchema(t, pg, schema)
	now := time.Now().UTC()
	in := []trade.Trade{
		{ID: "t1", Symbol: "AAPL", Price: 187.25, Volume: 3, Time: storetesting.Day0.Add(1234567891 * time.Nanosecond)},
		{ID: "t2", Symbol: "XOM", Price: 101.5, Volume: 0.5, Time: now},
	}
	cd := storetesting.Candle("AAPL", time.Minute, storetesting.Day0, 187)
	b := &store.Batch{
		Trades:  in,
		Origins: []store.Origin{{Partition: 2, Offset: 41}, {Partition: 0, Offset: 7}},
		Candles: []agg.Candle{cd},
		Sectors: []agg.SectorVolume{
			storetesting.Sector("Energy", now.Truncate(time.Minute), 0, 3),
			storetesting.Sector("Energy", now.Truncate(time.Minute), 1, 4),
			storetesting.Sector("Technology", now.Truncate(time.Minute), 1, 9),
			storetesting.Sector("Technology", storetesting.Day0, 1, 100), // another day
		},
	}
	storetesting.MustWrite(t, s, b)

	got := storetest.ReadPostgres(t, pg, schema)
	want := map[string]storetest.Trade{
		"t1": {Symbol: "AAPL", Time: in[0].Time, Price: 187.25, Volume: 3, Partition: 2, Offset: 41},
		"t2": {Symbol: "XOM", Time: in[1].Time, Price: 101.5, Volume: 0.5, Partition: 0, Offset: 7},
	}
	if fmt.Sprint(got.Trades) != fmt.Sprint(want) {
		t.Errorf("trades = %v, want %v", got.Trades, want)
	}
	if c := got.Candles[storetest.CandleKey{Symbol: "AAPL", Interval: time.Minute, Start: cd.Start.UnixNano()}]; c != cd {
		t.Errorf("candle = %+v, want %+v", c, cd)
	}

	conn := pg.Conn(t, schema)
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT sector, volume, trades FROM volume_today")
	if err != nil {
		t.Fatal(err)
	}
	var today []string
	for rows.Next() {
		var sec string
		var vol float64
		var n int64
		if err := rows.Scan(&sec, &vol, &n); err != nil {
			t.Fatal(err)
		}
		today = append(today, fmt.Sprintf("%s %g %d", sec, vol, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Technology 9 1", "Energy 7 2"}; fmt.Sprint(today) != fmt.Sprint(want) {
		t.Errorf("volume_today = %q, want %q", today, want)
	}
	var ts time.Time
	var bucket time.Time
	if err := conn.QueryRow(t.Context(), "SELECT ts FROM trades_v WHERE trade_id = 't1'").Scan(&ts); err != nil {
		t.Fatal(err)
	}
	if want := in[0].Time.Truncate(time.Microsecond); !ts.Equal(want) {
		t.Errorf("trades_v ts = %v, want %v", ts, want)
	}
	if err := conn.QueryRow(t.Context(), "SELECT bucket_start FROM candles_v WHERE symbol = 'AAPL'").Scan(&bucket); err != nil {
		t.Fatal(err)
	}
	if !bucket.Equal(cd.Start) {
		t.Errorf("candles_v bucket_start = %v, want %v", bucket, cd.Start)
	}
}

// TestPostgresWriteIsAtomic checks that a batch whose last statement fails
// leaves nothing of itself behind.
func TestPostgresWriteIsAtomic(t *testing.T) {
	pg := storetest.NeedPostgres(t)
	schema := pg.Schema(t, "tt_test_")
	s := openSchema(t, pg, schema)
	// A sector row breaking a constraint only the server checks: the
	// trades and candles sent before it in the same round trip must go.
	conn := pg.Conn(t, schema)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "ALTER TABLE sector_volume ADD CONSTRAINT positive CHECK (volume > 0)"); err != nil {
		t.Fatal(err)
	}
	b := &store.Batch{
		Trades:  storetesting.Trades("AAPL", "atomic", storetesting.Day0, 50),
		Origins: make([]store.Origin, 50),
		Candles: []agg.Candle{storetesting.Candle("AAPL", time.Second, storetesting.Day0, 1)},
		Sectors: []agg.SectorVolume{storetesting.Sector("Tech", storetesting.Day0, 0, -1)},
	}
	if err := s.Write(t.Context(), b); err == nil {
		t.Fatal("a batch breaking a constraint was written")
	}
	got := storetest.ReadPostgres(t, pg, schema)
	if got.Rows != 0 || len(got.Candles) != 0 || len(got.Sectors) != 0 {
		t.Errorf("after a failed Write: %d trades, %d candles, %d sector rows; want none", got.Rows, len(got.Candles), len(got.Sectors))
	}
	var idx int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM trade_index").Scan(&idx); err != nil || idx != 0 {
		t.Errorf("trade_index rows = %d, %v; want 0", idx, err)
	}
	// The same batch, fixed, is stored whole, with its trade_index row
	// (which the failed Write must not have counted as stored).
	b.Sectors[0].Volume = 1
	storetesting.MustWrite(t, s, b)
	if got := storetest.ReadPostgres(t, pg, schema); got.Rows != 50 {
		t.Errorf("trades = %d, want 50", got.Rows)
	}
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM trade_index").Scan(&idx); err != nil || idx != 1 {
		t.Errorf("trade_index rows = %d, %v; want 1", idx, err)
	}
}

func TestPostgresMigrationIsIdempotentAndConcurrent(t *testing.T) {
	pg := storetest.NeedPostgres(t)
	schema := pg.Schema(t, "tt_test_")
	// Three processes' worth of stores open one fresh schema at once.
	var wg sync.WaitGroup
	stores := make([]*Store, 3)
	errs := make([]error, 3)
	for i := range stores {
		wg.Go(func() {
			stores[i], errs[i] = Open(t.Context(), Config{DSN: pg.DSN, Password: pg.Password, Schema: schema})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	conn := pg.Conn(t, schema)
	defer conn.Close(context.Background())
	var rows, version int
	if err := conn.QueryRow(t.Context(), "SELECT count(*), max(version) FROM schema_version").Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version != schemaVersion {
		t.Errorf("schema_version: %d rows, version %d; want one row, %d", rows, version, schemaVersion)
	}
	openSchema(t, pg, schema) // reopening changes nothing
	if _, err := conn.Exec(t.Context(), "UPDATE schema_version SET version = $1", schemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), Config{DSN: pg.DSN, Password: pg.Password, Schema: schema}); err == nil || !strings.Contains(err.Error(), "newer than this program") {
		if s != nil {
			s.Close()
		}
		t.Errorf("opening a newer schema: err = %v", err)
	}
}

func TestPostgresWrongPassword(t *testing.T) {
	pg := storetest.NeedPostgres(t)
	_, err := Open(t.Context(), Config{DSN: pg.DSN, Password: "not-" + pg.Password, Schema: pg.Schema(t, "tt_test_")})
	if err == nil || !strings.Contains(err.Error(), "connecting to postgres") || strings.Contains(err.Error(), pg.Password) {
		t.Fatalf("err = %v, want one line saying the login failed, without the password", err)
	}
}

func TestPostgresUnreachable(t *testing.T) {
	// A port nothing listens on: one clear error, quickly.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	_, err = Open(t.Context(), Config{DSN: fmt.Sprintf("host=127.0.0.1 port=%d user=x dbname=x", addr.Port), ConnectTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("connecting to postgres 127.0.0.1:%d/x", addr.Port)) {
		t.Fatalf("err = %v", err)
	}
}

// TestPostgresServerGoesAway ends the store's connections from the server
// side, as a restart would, and checks that the next Write fails or
// succeeds cleanly and the one after it succeeds: nothing is lost when
// the pipeline retries.
func TestPostgresServerGoesAway(t *testing.T) {
	pg := storetest.NeedPostgres(t)
	schema := pg.Schema(t, "tt_test_")
	s := openSchema(t, pg, schema)
	storetesting.MustWrite(t, s, &store.Batch{Trades: storetesting.Trades("AAPL", "before", storetesting.Day0, 10)})
	conn := pg.Conn(t, schema)
	defer conn.Close(context.Background())
	var ended int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'tradetop' AND pid <> pg_backend_pid()) t`).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	if ended == 0 {
		t.Fatal("no tradetop connection to end")
	}
	b := &store.Batch{Trades: storetesting.Trades("AAPL", "after", storetesting.Day0.Add(time.Minute), 10)}
	var err error
	for range 3 {
		if err = s.Write(t.Context(), b); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Write after the server ended the connections, three times: %v", err)
	}
	if got := storetest.ReadPostgres(t, pg, schema); got.Rows != 20 {
		t.Errorf("trades = %d, want 20", got.Rows)
	}
}

func TestPostgresCanceled(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Write(ctx, &store.Batch{Trades: storetesting.Trades("AAPL", "c", storetesting.Day0, 1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a canceled context = %v", err)
	}
}

func BenchmarkPostgresWrite(b *testing.B) {
	for _, n := range []int{2000, 20000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s := openTest(b)
			var batch store.Batch
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				storetesting.BenchBatch(&batch, i, n) // keys no other iteration uses
				i++
				b.StartTimer()
				if err := s.Write(b.Context(), &batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "trades/s")
		})
	}
}
