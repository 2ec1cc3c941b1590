// Package sqlite is the embedded store: one SQLite file in the data
// directory whose tables mirror the Cassandra schema, so that tradetop runs
// on any machine without a database server.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/internal/rowkey"
	"github.com/tradetop/tradetop/trade"
)

// Synchronous is SQLite's PRAGMA synchronous level for the writer in WAL mode.
type Synchronous string

const (
	// SynchronousNormal writes each commit to the WAL file without syncing
	// it; only checkpoints sync. A commit survives a crash of the process
	// (the data is in the operating system's page cache) but the last
	// commits may be lost on a power failure or kernel crash.
	SynchronousNormal Synchronous = "NORMAL"
	// SynchronousFull syncs the WAL file at every commit, so a commit also
	// survives a power failure.
	SynchronousFull Synchronous = "FULL"
)

// Options configures OpenWith. The zero value of every field
// means its default.
type Options struct {
	// Synchronous is how durable a commit is. Default SynchronousNormal: a
	// Write that returned nil survives a crash or kill -9 of the process,
	// which is all the commit protocol needs while Kafka lives and dies
	// with the process too (the embedded broker keeps its log in memory),
	// and Write is about 20% faster than with SynchronousFull on
	// 2000-trade batches (BenchmarkSQLiteWrite). Choose SynchronousFull
	// when the consumer offsets outlive this machine, as with real
	// brokers: a power failure could otherwise lose the last Writes after
	// their offsets were committed.
	Synchronous Synchronous
	// BusyTimeout is how long a statement waits for a lock another
	// connection or process holds before failing. Default 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of the reader connection pool. Default 4.
	ReadConns int
}

// defaultOptions holds every Options default.
func defaultOptions() Options {
	return Options{
		Synchronous: SynchronousNormal,
		BusyTimeout: 5 * time.Second,
		ReadConns:   4,
	}
}

// withDefaults returns o with each zero field replaced by its default.
func (o Options) withDefaults() Options {
	d := defaultOptions()
	if o.Synchronous == "" {
		o.Synchronous = d.Synchronous
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = d.BusyTimeout
	}
	if o.ReadConns == 0 {
		o.ReadConns = d.ReadConns
	}
	return o
}

// Validate reports why o cannot be used, or nil. Zero fields are valid: they
// mean the default.
func (o Options) Validate() error {
	switch {
	case o.Synchronous != "" && o.Synchronous != SynchronousNormal && o.Synchronous != SynchronousFull:
		return fmt.Errorf("sqlite synchronous %q: want %s or %s", o.Synchronous, SynchronousNormal, SynchronousFull)
	case o.BusyTimeout < 0:
		return fmt.Errorf("sqlite busy timeout %s is negative", o.BusyTimeout)
	case o.ReadConns < 0:
		return fmt.Errorf("sqlite read connections %d is negative", o.ReadConns)
	}
	return nil
}

// Counts is the number of rows in each table of a store.
type Counts struct {
	Trades  int64
	Candles int64
	Sectors int64
}

// Store is the embedded store.Store: one SQLite file in WAL mode, written
// through a single connection and read through a pool, so reads see the last
// committed Write and never wait for one in progress. A goroutine of its own copies
// committed WAL pages into the database file, so that Write seldom waits for
// that copy; Close stops it.
//
// Write is meant to be called from one goroutine at a time; concurrent calls
// are safe but run one after the other. Candles, RecentCandles, SectorVolume,
// TradeCount, Counts and Path may be called from any goroutine, concurrently
// with Write and with each other. Close may be called from any goroutine; it
// waits for a Write in progress, and every method but Path then returns an
// error wrapping store.ErrClosed.
type Store struct {
	path   string
	writer *sql.DB // one connection: every write goes through it
	reader *sql.DB // query_only connections
	ckpt   *checkpointer

	closed atomic.Bool

	// wmu serialises Write and Close and guards w.
	wmu sync.Mutex
	w   writeState

	candlesRange  *sql.Stmt
	candlesRecent *sql.Stmt
	sectorDay     *sql.Stmt
	tradeCount    *sql.Stmt
	reread        *sql.Stmt
	counts        *sql.Stmt
}

var _ store.Store = (*Store)(nil)

// Open opens the SQLite store at path with the default options,
// creating the file, its parent directory and the schema as needed.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith opens the SQLite store at path, creating the file, its parent
// directory and the schema as needed, and migrating an older schema. Opening a
// store that is up to date changes nothing.
func OpenWith(ctx context.Context, path string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("opening sqlite store: %w", err)
	}
	opts = opts.withDefaults()
	if path == "" {
		return nil, errors.New("opening sqlite store: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", abs, err)
	}
	s := &Store{path: abs}
	if err := s.open(ctx, opts); err != nil {
		_ = s.closeAll() // err says what went wrong
		return nil, fmt.Errorf("opening sqlite store %s: %w", abs, err)
	}
	return s, nil
}

// dsn is the driver's name for the file at abs with the given parameters.
// The file: URI form percent-encodes any '?', '#' or '%' in the path.
func dsn(abs string, params url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // file:///C:/dir/file.db
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

func (s *Store) open(ctx context.Context, opts Options) error {
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	var err error
	wp := url.Values{
		"_busy_timeout": {busy},
		"_journal_mode": {"WAL"},
		"_synchronous":  {string(opts.Synchronous)},
		"_foreign_keys": {"0"},
		"_txlock":       {"immediate"},
		"_pragma": {
			"wal_autocheckpoint(" + strconv.Itoa(walAutocheckpoint) + ")",
			// Truncate the WAL file back to 64 MiB when it starts
			// over rather than let it keep its largest size.
			"journal_size_limit(67108864)",
			// Statement journals, which the multi-row upserts of
			// candles and sector volume need, stay in memory.
			"temp_store(MEMORY)",
			// 32 MiB of page cache holds the last pages of many
			// symbols' B-tree ranges, where inserts go.
			"cache_size(-32768)",
		},
	}
	s.writer, err = sql.Open("sqlite", dsn(s.path, wp))
	if err != nil {
		return err
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)

	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("reading journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal (is the file on a network file system?)", mode)
	}
	if err := migrate(ctx, s.writer); err != nil {
		return err
	}
	if err := s.w.prepare(ctx, s.writer); err != nil {
		return err
	}
	s.ckpt, err = startCheckpointer(s.path, url.Values{
		"_busy_timeout": {busy},
		// A checkpoint syncs as its connection's level says.
		"_synchronous": {string(opts.Synchronous)},
	})
	if err != nil {
		return err
	}

	s.reader, err = sql.Open("sqlite", dsn(s.path, url.Values{
		"_busy_timeout": {busy},
		"_foreign_keys": {"0"},
		"_query_only":   {"1"},
	}))
	if err != nil {
		return err
	}
	s.reader.SetMaxOpenConns(opts.ReadConns)
	s.reader.SetMaxIdleConns(opts.ReadConns)
	s.reader.SetConnMaxLifetime(0)
	s.reader.SetConnMaxIdleTime(0)
	for _, q := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		// The day bounds let SQLite walk the primary key in order;
		// within a symbol and interval, (day, bucket_start_ns) orders
		// as bucket_start_ns does.
		{&s.candlesRange, `SELECT bucket_start_ns, open, high, low, close, volume, notional, trades
			FROM candles
			WHERE symbol = ? AND interval = ? AND day >= ? AND day <= ?
				AND bucket_start_ns >= ? AND bucket_start_ns < ?
			ORDER BY day, bucket_start_ns`},
		{&s.candlesRecent, `SELECT bucket_start_ns, open, high, low, close, volume, notional, trades
			FROM candles
			WHERE symbol = ? AND interval = ?
			ORDER BY day DESC, bucket_start_ns DESC
			LIMIT ?`},
		{&s.sectorDay, `SELECT sector, SUM(volume), SUM(notional), SUM(trades)
			FROM sector_volume
			WHERE day = ?
			GROUP BY sector
			ORDER BY 2 DESC, sector`},
		// Trades are in time order: the day is a range of ts_ns.
		{&s.tradeCount, `SELECT COUNT(*) FROM trades
			WHERE ts_ns >= ? AND ts_ns <= ? AND day = ? AND symbol = ?`},
		{&s.reread, `SELECT symbol, trade_id, ts_ns, price, volume FROM trades
			WHERE ts_ns >= ? AND kafka_partition = ? AND kafka_offset < ?
			ORDER BY kafka_offset`},
		{&s.counts, `SELECT (SELECT COUNT(*) FROM trades), (SELECT COUNT(*) FROM candles),
			(SELECT COUNT(*) FROM sector_volume)`},
	} {
		if *q.stmt, err = s.reader.PrepareContext(ctx, q.sql); err != nil {
			return fmt.Errorf("preparing queries: %w", err)
		}
	}
	return nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close waits for a Write in progress, then closes the store. It is safe to
// call twice; the second call does nothing and returns nil.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.closeAll(); err != nil {
		return fmt.Errorf("closing sqlite store %s: %w", s.path, err)
	}
	return nil
}

// closeAll closes whatever open created. Readers go first, so that the
// writer is the last connection and checkpoints the WAL into the file.
func (s *Store) closeAll() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.candlesRange, s.candlesRecent, s.sectorDay, s.tradeCount, s.reread, s.counts} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	errs = append(errs, s.w.close())
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	return errors.Join(errs...)
}

// Write upserts every row of b in one transaction and returns once it is
// committed, durable as Options.Synchronous says: past a crash of the
// process always, past a power failure with SynchronousFull. On an error
// nothing of b is stored. Trades are keyed by (symbol, day, time, id) and a second write
// of a key keeps the first row, since one id always names the same trade;
// candle and sector rows take the values of the last write of their key.
// Sector rows must all be of one interval, as the key does not include it.
func (s *Store) Write(ctx context.Context, b *store.Batch) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("writing batch: %w", store.ErrClosed)
	}
	if b == nil || b.Len() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("writing batch: %w", err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing batch: beginning transaction: %w", err)
	}
	if err := s.w.write(ctx, tx, b); err != nil {
		_ = tx.Rollback() // the error that matters is err; the context may have rolled back already
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("writing batch: committing: %w", err)
	}
	s.ckpt.wrote(b.Len())
	return nil
}

// Candles returns the symbol's candles of the interval whose start lies in
// [from, to), oldest first.
func (s *Store) Candles(ctx context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("reading candles: %w", store.ErrClosed)
	}
	ivl, err := rowkey.Interval(interval)
	if err != nil {
		return nil, fmt.Errorf("reading candles: %w", err)
	}
	from, to = rowkey.ClampTime(from), rowkey.ClampTime(to)
	if !from.Before(to) {
		return nil, nil
	}
	rows, err := s.candlesRange.QueryContext(ctx, symbol, ivl, trade.Day(from), trade.Day(to),
		from.UnixNano(), to.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("reading candles: %w", err)
	}
	cs, err := scanCandles(rows, symbol, interval)
	if err != nil {
		return nil, fmt.Errorf("reading candles: %w", err)
	}
	return cs, nil
}

// RecentCandles returns at most n of the symbol's latest candles of the
// interval, oldest first.
func (s *Store) RecentCandles(ctx context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("reading recent candles: %w", store.ErrClosed)
	}
	ivl, err := rowkey.Interval(interval)
	if err != nil {
		return nil, fmt.Errorf("reading recent candles: %w", err)
	}
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.candlesRecent.QueryContext(ctx, symbol, ivl, n)
	if err != nil {
		return nil, fmt.Errorf("reading recent candles: %w", err)
	}
	cs, err := scanCandles(rows, symbol, interval)
	if err != nil {
		return nil, fmt.Errorf("reading recent candles: %w", err)
	}
	slices.Reverse(cs)
	return cs, nil
}

// scanCandles reads and closes rows of candlesRange or candlesRecent.
func scanCandles(rows *sql.Rows, symbol string, interval time.Duration) ([]agg.Candle, error) {
	defer rows.Close()
	var cs []agg.Candle
	for rows.Next() {
		c := agg.Candle{Symbol: symbol, Interval: interval}
		var start int64
		if err := rows.Scan(&start, &c.Open, &c.High, &c.Low, &c.Close, &c.Volume, &c.Notional, &c.Count); err != nil {
			return nil, err
		}
		c.Start = time.Unix(0, start).UTC()
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return cs, rows.Close()
}

// SectorVolume returns each sector's totals for the UTC day containing day,
// summed over windows and Kafka partitions, largest volume first and by
// sector name among equal volumes.
func (s *Store) SectorVolume(ctx context.Context, day time.Time) ([]store.SectorTotal, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("reading sector volume: %w", store.ErrClosed)
	}
	rows, err := s.sectorDay.QueryContext(ctx, trade.Day(day))
	if err != nil {
		return nil, fmt.Errorf("reading sector volume: %w", err)
	}
	defer rows.Close()
	var ts []store.SectorTotal
	for rows.Next() {
		var t store.SectorTotal
		if err := rows.Scan(&t.Sector, &t.Volume, &t.Notional, &t.Count); err != nil {
			return nil, fmt.Errorf("reading sector volume: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading sector volume: %w", err)
	}
	return ts, nil
}

// TradeCount returns how many trades of the symbol are stored for the UTC
// day containing day.
func (s *Store) TradeCount(ctx context.Context, symbol string, day time.Time) (int64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("counting trades: %w", store.ErrClosed)
	}
	d := day.UTC()
	start := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	// From the day's first nanosecond to the next day's, both clamped to
	// the times a row can hold; the day column drops the next day's.
	from, to := rowkey.ClampTime(start).UnixNano(), rowkey.ClampTime(start.AddDate(0, 0, 1)).UnixNano()
	var n int64
	if err := s.tradeCount.QueryRowContext(ctx, from, to, trade.Day(day), symbol).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting trades: %w", err)
	}
	return n, nil
}

// Reread calls each with every stored trade read from the Kafka partition
// before the offset before, with an event time at or after since, in the
// order they were read.
func (s *Store) Reread(ctx context.Context, partition int32, since time.Time, before int64, each func(trade.Trade) error) error {
	if s.closed.Load() {
		return fmt.Errorf("reading back partition %d: %w", partition, store.ErrClosed)
	}
	err := func() error {
		rows, err := s.reread.QueryContext(ctx, rowkey.ClampTime(since).UnixNano(), int64(partition), before)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t trade.Trade
			var ns int64
			if err := rows.Scan(&t.Symbol, &t.ID, &ns, &t.Price, &t.Volume); err != nil {
				return err
			}
			t.Time = time.Unix(0, ns).UTC()
			if err := each(t); err != nil {
				return err
			}
		}
		return rows.Err()
	}()
	if err != nil {
		return fmt.Errorf("reading back partition %d: %w", partition, err)
	}
	return nil
}

// Counts returns the number of rows in each table, read in one snapshot. It
// scans every table, so it is meant for summaries, not for every frame.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	if s.closed.Load() {
		return Counts{}, fmt.Errorf("counting rows: %w", store.ErrClosed)
	}
	var c Counts
	if err := s.counts.QueryRowContext(ctx).Scan(&c.Trades, &c.Candles, &c.Sectors); err != nil {
		return Counts{}, fmt.Errorf("counting rows: %w", err)
	}
	return c, nil
}
