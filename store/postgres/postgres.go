// Package postgres is the store on PostgreSQL, through pgx, with versioned
// schema migrations. Its tables have the keys of the other stores', and
// views for dashboards: volume_today, candles_v, trades_v.
package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/internal/rowkey"
	"github.com/tradetop/tradetop/trade"
)

// Store is the store.Store on PostgreSQL. Write is meant to be called from
// one goroutine at a time; concurrent calls are safe but run one after the
// other. The reads may be called from any goroutine, concurrently with
// Write and with each other. Close may be called from any goroutine; it
// waits for a Write in progress, and every method then returns an error
// wrapping store.ErrClosed.
type Store struct {
	cfg    Config
	where  string // host:port/database
	pool   *pgxpool.Pool
	closed atomic.Bool

	// wmu serialises Write and Close and guards w.
	wmu sync.Mutex
	w   writeState
}

var _ store.Store = (*Store)(nil)

// Open connects to the server cfg names, creates the schema and its tables
// when missing and migrates them to this program's schema version.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	cfg = cfg.WithDefaults()
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// pgconn's error quotes the DSN only after removing passwords,
		// and the DSN holds none (Validate).
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	if cfg.Password != "" {
		pc.ConnConfig.Password = cfg.Password
	}
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	pc.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
	pc.ConnConfig.RuntimeParams["application_name"] = "tradetop"
	// Each statement must be durable at commit, whatever the server's
	// default: committed offsets follow a Write's return.
	pc.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pc.MaxConns = cfg.MaxConns
	pc.MinConns = 1
	pc.MaxConnIdleTime = 5 * time.Minute
	pc.HealthCheckPeriod = 30 * time.Second
	s := &Store{cfg: cfg, where: where(pc)}
	if s.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	openCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.Timeout)
	defer cancel()
	if err := s.pool.Ping(openCtx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("connecting to postgres %s: %w", s.where, err)
	}
	if err := migrate(openCtx, s.pool, cfg.Schema); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("opening postgres store %s: %w", s.where, err)
	}
	return s, nil
}

// where names the server and database of pc, for errors.
func where(pc *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", pc.ConnConfig.Host, pc.ConnConfig.Port, pc.ConnConfig.Database)
}

// Name describes the store for status lines: server, database and schema.
func (s *Store) Name() string { return "postgres " + s.where + " schema " + s.cfg.Schema }

// Close waits for a Write in progress, then closes every connection. It is
// safe to call twice; the second call does nothing.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	s.pool.Close()
	return nil
}

// op starts one operation: it fails once the store is closed, and bounds
// the operation by Config.Timeout.
func (s *Store) op(ctx context.Context, what string) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, fmt.Errorf("%s: %w", what, store.ErrClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	return ctx, cancel, nil
}

// Candles returns the symbol's candles of the interval whose start lies in
// [from, to), oldest first.
func (s *Store) Candles(ctx context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error) {
	const what = "reading candles"
	ctx, cancel, err := s.op(ctx, what)
	if err != nil {
		return nil, err
	}
	defer cancel()
	ivl, err := rowkey.Interval(interval)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	from, to = rowkey.ClampTime(from), rowkey.ClampTime(to)
	if !from.Before(to) {
		return nil, nil
	}
	// The day bounds let the primary key's order serve the range.
	rows, err := s.pool.Query(ctx, `SELECT bucket_start_ns, open, high, low, close, volume, notional, trades
		FROM candles
		WHERE symbol = $1 AND interval = $2 AND day >= $3 AND day <= $4
			AND bucket_start_ns >= $5 AND bucket_start_ns < $6
		ORDER BY day, bucket_start_ns`,
		symbol, ivl, dayOf(from.UnixNano()), dayOf(to.UnixNano()), from.UnixNano(), to.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cs, err := scanCandles(rows, symbol, interval)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return cs, nil
}

// RecentCandles returns at most n of the symbol's latest candles of the
// interval, oldest first.
func (s *Store) RecentCandles(ctx context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error) {
	const what = "reading recent candles"
	ctx, cancel, err := s.op(ctx, what)
	if err != nil {
		return nil, err
	}
	defer cancel()
	ivl, err := rowkey.Interval(interval)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT bucket_start_ns, open, high, low, close, volume, notional, trades
		FROM candles
		WHERE symbol = $1 AND interval = $2
		ORDER BY day DESC, bucket_start_ns DESC
		LIMIT $3`, symbol, ivl, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cs, err := scanCandles(rows, symbol, interval)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	slices.Reverse(cs)
	return cs, nil
}

// scanCandles reads and closes rows of candles.
func scanCandles(rows pgx.Rows, symbol string, interval time.Duration) ([]agg.Candle, error) {
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
	return cs, rows.Err()
}

// SectorVolume returns each sector's totals for the UTC day containing day,
// summed over windows and Kafka partitions, largest volume first and by
// sector name among equal volumes.
func (s *Store) SectorVolume(ctx context.Context, day time.Time) ([]store.SectorTotal, error) {
	const what = "reading sector volume"
	ctx, cancel, err := s.op(ctx, what)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT sector, SUM(volume), SUM(notional), SUM(trades)::bigint
		FROM sector_volume
		WHERE day = $1
		GROUP BY sector
		ORDER BY 2 DESC, sector`, dayOf(rowkey.ClampTime(day).UnixNano()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var ts []store.SectorTotal
	for rows.Next() {
		var t store.SectorTotal
		if err := rows.Scan(&t.Sector, &t.Volume, &t.Notional, &t.Count); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ts, nil
}

// TradeCount returns how many trades of the symbol are stored for the UTC
// day containing day.
func (s *Store) TradeCount(ctx context.Context, symbol string, day time.Time) (int64, error) {
	const what = "counting trades"
	ctx, cancel, err := s.op(ctx, what)
	if err != nil {
		return 0, err
	}
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM trades WHERE symbol = $1 AND day = $2`,
		symbol, dayOf(rowkey.ClampTime(day).UnixNano())).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// Reread calls each with every stored trade read from the Kafka partition
// before the offset before, with an event time at or after since: one symbol
// after another, each symbol's in the order they were read. It reads in one
// repeatable-read transaction, so the index and the trades agree.
func (s *Store) Reread(ctx context.Context, partition int32, since time.Time, before int64, each func(trade.Trade) error) error {
	what := fmt.Sprintf("reading back partition %d", partition)
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", what, store.ErrClosed)
	}
	// Not bounded by Config.Timeout: a partition's trades of a day may
	// take longer, and each may wait on its caller.
	since = rowkey.ClampTime(since)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT symbol FROM trade_index WHERE kafka_partition = $1 AND day >= $2 ORDER BY symbol`,
			partition, dayOf(since.UnixNano()))
		if err != nil {
			return err
		}
		symbols, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, sym := range symbols {
			rows, err := tx.Query(ctx, `SELECT trade_id, ts_ns, price, volume FROM trades
				WHERE symbol = $1 AND day >= $2 AND ts_ns >= $3 AND kafka_partition = $4 AND kafka_offset < $5
				ORDER BY kafka_offset`,
				sym, dayOf(since.UnixNano()), since.UnixNano(), partition, before)
			if err != nil {
				return err
			}
			t := trade.Trade{Symbol: sym}
			var ns int64
			_, err = pgx.ForEachRow(rows, []any{&t.ID, &ns, &t.Price, &t.Volume}, func() error {
				t.Time = time.Unix(0, ns).UTC()
				return each(t)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

const (
	nsPerDay      = int64(24 * time.Hour)
	secondsPerDay = 24 * 60 * 60
)

// dayOf is the UTC day of the Unix nanosecond time ns, as a date column
// takes it: midnight UTC.
func dayOf(ns int64) time.Time {
	return time.Unix(rowkey.FloorDiv(ns, nsPerDay)*secondsPerDay, 0).UTC()
}
