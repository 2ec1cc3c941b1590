// Package cassandra is the store on Apache Cassandra, through gocql, with
// versioned schema migrations.
package cassandra

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/internal/rowkey"
	"github.com/tradetop/tradetop/trade"
)

// Store is the store.Store on Apache Cassandra. Write is called from one
// goroutine at a time; the reads may be called from any goroutine.
type Store struct {
	cfg     Config
	session *gocql.Session
	closed  atomic.Bool

	// days and indexed are the candle_days and trade_index rows known to
	// be written. Only Write uses them.
	days    map[candleDay]struct{}
	indexed map[rowkey.Index]struct{}
}

type candleDay struct {
	symbol, interval string
	day              int64 // days since the Unix epoch
}

// maxKnownDays bounds the candle_days rows Write remembers; past it, it
// forgets them all and writes them again, which is harmless.
const maxKnownDays = 100_000

// sharedRows is the most rows of a batch that holds several partitions:
// Cassandra warns of a batch across partitions past 5 KiB
// (batch_size_warn_threshold), which on the dev stack 25 trade rows passed
// and 5 stay well under.
const sharedRows = 5

// Open connects to the cluster cfg names, creates the keyspace and
// tables when missing and migrates them to this program's schema version.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	cluster := gocql.NewCluster(cfg.Hosts...)
	cluster.Consistency = gocql.Consistency(cfg.Consistency)
	cluster.SerialConsistency = gocql.LocalSerial
	cluster.Timeout = cfg.Timeout
	cluster.WriteTimeout = cfg.Timeout
	cluster.ConnectTimeout = cfg.ConnectTimeout
	cluster.NumConns = 2
	cluster.ProtoVersion = 4
	cluster.DefaultTimestamp = true
	cluster.ReconnectInterval = cfg.ReconnectInterval
	cluster.ReconnectionPolicy = &gocql.ExponentialReconnectionPolicy{
		MaxRetries: 8, InitialInterval: 200 * time.Millisecond, MaxInterval: cfg.ReconnectInterval,
	}
	cluster.MaxWaitSchemaAgreement = cfg.SchemaWait
	cluster.WriteCoalesceWaitTime = max(cfg.WriteCoalesce, 0)
	// Requests are retried per query, by retryPolicy, which knows the
	// request's context; a cluster-wide policy would retry every error.
	cluster.RetryPolicy = nil
	fallback := gocql.RoundRobinHostPolicy()
	if cfg.LocalDC != "" {
		fallback = gocql.DCAwareRoundRobinPolicy(cfg.LocalDC)
	}
	cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(fallback)
	if cfg.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	if cfg.TLS != nil {
		cluster.SslOpts = &gocql.SslOptions{Config: cfg.TLS, EnableHostVerification: !cfg.TLS.InsecureSkipVerify}
	}
	cluster.Logger = driverLog{cfg.Log}

	session, err := cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("connecting to cassandra %s: %w", strings.Join(cfg.Hosts, ","), explainTLS(ctx, cfg, err))
	}
	c := &Store{cfg: cfg, session: session, days: map[candleDay]struct{}{}, indexed: map[rowkey.Index]struct{}{}}
	if err := c.migrate(ctx); err != nil {
		session.Close()
		return nil, err
	}
	c.checkReplication(ctx)
	return c, nil
}

// explainTLS returns why a TLS handshake with the first host fails in place
// of err, gocql's failure to open a session, when that is a certificate no
// trusted authority signs. gocql flattens its errors to text, so a direct
// dial, bounded by ConnectTimeout, gets the error as a value. Otherwise it
// returns err.
func explainTLS(ctx context.Context, cfg Config, err error) error {
	if cfg.TLS == nil {
		return err
	}
	addr := cfg.Hosts[0]
	if _, _, serr := net.SplitHostPort(addr); serr != nil {
		addr = net.JoinHostPort(addr, "9042")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: cfg.ConnectTimeout}, Config: cfg.TLS}
	conn, derr := d.DialContext(ctx, "tcp", addr)
	if derr == nil {
		conn.Close()
		return err
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(derr, &unknown) {
		return err
	}
	return fmt.Errorf("its TLS certificate is not trusted: it is not signed by the CA of --cassandra-tls-ca "+
		"(or a system CA, without that flag): %w", derr)
}

// Name describes the store for status lines: hosts and keyspace.
func (c *Store) Name() string {
	return "cassandra " + strings.Join(c.cfg.Hosts, ",") + "/" + c.cfg.Keyspace
}

// Close closes the session. It is safe to call twice.
func (c *Store) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.session.Close()
	}
	return nil
}

// Write upserts every row of b. Rows are grouped by partition into unlogged
// batches of at most BatchRows; partitions with fewer than sharedRows rows
// share batches, BatchPartitions at most, so that a quiet beat is a few
// requests, not one a symbol. Concurrency batches are in flight at once. Write returns nil
// only when every batch was acknowledged at the configured consistency.
func (c *Store) Write(ctx context.Context, b *store.Batch) error {
	if c.closed.Load() {
		return fmt.Errorf("writing to cassandra: %w", store.ErrClosed)
	}
	if len(b.Origins) != 0 && len(b.Origins) != len(b.Trades) {
		return fmt.Errorf("writing to cassandra: %d origins for %d trades", len(b.Origins), len(b.Trades))
	}
	present, err := c.present(ctx, b)
	if err != nil {
		return fmt.Errorf("writing to cassandra: %w", err)
	}
	jobs, days, index, err := c.plan(ctx, b, present)
	if err != nil {
		return fmt.Errorf("writing to cassandra: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	for _, job := range jobs {
		g.Go(func() error {
			return c.session.ExecuteBatch(job.WithContext(gctx).RetryPolicy(c.retry(gctx)))
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("writing to cassandra: %w", err)
	}
	if len(c.days)+len(days) > maxKnownDays {
		clear(c.days)
	}
	for _, d := range days {
		c.days[d] = struct{}{}
	}
	if len(c.indexed)+len(index) > maxKnownDays {
		clear(c.indexed)
	}
	for _, k := range index {
		c.indexed[k] = struct{}{}
	}
	return nil
}

// present returns the IDs of the trades of b marked IfAbsent that are
// stored already, reading each (symbol, day) partition they fall in once.
func (c *Store) present(ctx context.Context, b *store.Batch) (map[string]bool, error) {
	type part struct {
		symbol string
		day    int64
	}
	keys := map[part][]*trade.Trade{}
	for i, o := range b.Origins {
		if o.IfAbsent {
			t := &b.Trades[i]
			p := part{t.Symbol, dayNumber(t.Time)}
			keys[p] = append(keys[p], t)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	present := map[string]bool{}
	for p, ts := range keys {
		for chunk := range slices.Chunk(ts, 100) {
			tuples := make([]string, len(chunk))
			args := []any{p.symbol, time.Unix(p.day*86400, 0).UTC()}
			for i, t := range chunk {
				tuples[i] = "(?, ?)"
				args = append(args, t.Time, t.ID)
			}
			iter := c.query(ctx, c.stmt(`SELECT trade_id FROM {ks}.trades WHERE symbol = ? AND day = ? AND (ts, trade_id) IN (`+
				strings.Join(tuples, ", ")+`)`), args...).Iter()
			var id string
			for iter.Scan(&id) {
				present[id] = true
			}
			if err := iter.Close(); err != nil {
				return nil, fmt.Errorf("reading which late trades are stored: %w", err)
			}
		}
	}
	return present, nil
}

// plan turns b into batches of rows grouped by partition, leaving out the
// trades marked IfAbsent that present says are stored, and lists the
// candle_days and trade_index rows it writes.
func (c *Store) plan(ctx context.Context, b *store.Batch, present map[string]bool) ([]*gocql.Batch, []candleDay, []rowkey.Index, error) {
	var jobs []*gocql.Batch
	var cur *gocql.Batch
	parts := 0 // the partitions cur holds rows of
	flush := func() {
		if cur != nil && cur.Size() > 0 {
			jobs = append(jobs, cur)
		}
		cur, parts = nil, 0
	}
	// add puts a row in a batch; same says whether the row shares the
	// partition of the one added before. A partition's rows go in batches
	// of up to BatchRows; the rows of partitions with few share one, up to
	// BatchPartitions partitions and sharedRows rows.
	add := func(same bool, stmt string, args ...any) {
		if cur != nil {
			switch {
			case same && cur.Size() >= c.cfg.BatchRows,
				!same && (parts >= c.cfg.BatchPartitions || cur.Size() >= sharedRows),
				same && parts > 1 && cur.Size() >= sharedRows:
				flush()
			}
		}
		if cur == nil {
			cur = c.session.NewBatch(gocql.UnloggedBatch)
			cur.SetConsistency(gocql.Consistency(c.cfg.Consistency))
		}
		if !same || parts == 0 {
			parts++
		}
		cur.Query(stmt, args...)
	}

	// Trades, grouped by (symbol, day).
	idx := make([]int, len(b.Trades))
	for i := range idx {
		idx[i] = i
	}
	ts := b.Trades
	slices.SortFunc(idx, func(i, j int) int {
		return cmp.Or(strings.Compare(ts[i].Symbol, ts[j].Symbol), cmp.Compare(dayNumber(ts[i].Time), dayNumber(ts[j].Time)))
	})
	insTrade := c.stmt(`INSERT INTO {ks}.trades (symbol, day, ts, trade_id, ns, price, volume, kafka_partition, kafka_offset)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	var index []rowkey.Index
	for k, i := range idx {
		t := &ts[i]
		same := k > 0 && ts[idx[k-1]].Symbol == t.Symbol && dayNumber(ts[idx[k-1]].Time) == dayNumber(t.Time)
		var part, off any // null without an origin
		if b.Origins != nil {
			o := b.Origins[i]
			if o.IfAbsent && present[t.ID] {
				continue
			}
			part, off = int(o.Partition), o.Offset
			ik := rowkey.Index{Partition: o.Partition, Day: dayNumber(t.Time), Symbol: t.Symbol}
			if _, known := c.indexed[ik]; !known && !slices.Contains(index, ik) {
				index = append(index, ik)
			}
		}
		add(same, insTrade, t.Symbol, dayOf(t.Time), t.Time, t.ID, t.Time.Nanosecond()%int(time.Millisecond), t.Price, t.Volume, part, off)
	}
	insIndex := c.stmt(`INSERT INTO {ks}.trade_index (kafka_partition, day, symbol) VALUES (?, ?, ?)`)
	slices.SortFunc(index, func(a, b rowkey.Index) int { return cmp.Compare(a.Partition, b.Partition) })
	for k, ik := range index {
		add(k > 0 && index[k-1].Partition == ik.Partition, insIndex, int(ik.Partition), time.Unix(ik.Day*86400, 0).UTC(), ik.Symbol)
	}

	// Candles, grouped by (symbol, interval, day), and the days they touch.
	// Only the last copy of a key is written: rows of one batch share a
	// timestamp, and Cassandra would settle between copies by value.
	cs := rowkey.KeepLast(slices.Clone(b.Candles), rowkey.CandleKey)
	slices.SortFunc(cs, func(a, b agg.Candle) int { return rowkey.CompareCandleKeys(&a, &b) })
	insCandle := c.stmt(`INSERT INTO {ks}.candles (symbol, interval, day, bucket_start, open, high, low, close, volume, notional, vwap, trades)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	insDay := c.stmt(`INSERT INTO {ks}.candle_days (symbol, interval, day) VALUES (?, ?, ?)`)
	var days []candleDay
	for k := range cs {
		cd := &cs[k]
		ivl, err := rowkey.Interval(cd.Interval)
		if err != nil {
			return nil, nil, nil, err
		}
		d := candleDay{cd.Symbol, ivl, dayNumber(cd.Start)}
		same := k > 0 && cs[k-1].Symbol == cd.Symbol && cs[k-1].Interval == cd.Interval && dayNumber(cs[k-1].Start) == d.day
		add(same, insCandle, cd.Symbol, ivl, dayOf(cd.Start), cd.Start, cd.Open, cd.High, cd.Low, cd.Close,
			cd.Volume, cd.Notional, cd.VWAP(), cd.Count)
		if _, known := c.days[d]; !known && !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	for _, d := range days {
		add(false, insDay, d.symbol, d.interval, time.Unix(d.day*86400, 0).UTC())
	}

	// Sector volume, grouped by day.
	ss := rowkey.KeepLast(slices.Clone(b.Sectors), rowkey.SectorKey)
	slices.SortFunc(ss, func(a, b agg.SectorVolume) int { return a.Start.Compare(b.Start) })
	insSector := c.stmt(`INSERT INTO {ks}.sector_volume (day, sector, bucket_start, kafka_partition, interval, volume, notional, trades)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	for k := range ss {
		s := &ss[k]
		ivl, err := rowkey.Interval(s.Interval)
		if err != nil {
			return nil, nil, nil, err
		}
		same := k > 0 && dayNumber(ss[k-1].Start) == dayNumber(s.Start)
		add(same, insSector, dayOf(s.Start), s.Sector, s.Start, int(s.Partition), ivl, s.Volume, s.Notional, s.Count)
	}
	flush()
	return jobs, days, index, ctx.Err()
}

// Reread calls each with every stored trade read from the Kafka partition
// before the offset before, with an event time at or after since: one symbol
// after another, each symbol's in the order they were read. The symbols and
// days come from trade_index; each (symbol, day) partition is read from
// since on, and a symbol's trades sorted by offset.
func (c *Store) Reread(ctx context.Context, partition int32, since time.Time, before int64, each func(trade.Trade) error) error {
	if c.closed.Load() {
		return fmt.Errorf("reading back partition %d: %w", partition, store.ErrClosed)
	}
	days := map[string][]time.Time{}
	var symbols []string
	iter := c.query(ctx, c.stmt(`SELECT day, symbol FROM {ks}.trade_index WHERE kafka_partition = ? AND day >= ?`),
		int(partition), dayOf(since)).Iter()
	var (
		day time.Time
		sym string
	)
	for iter.Scan(&day, &sym) {
		if _, ok := days[sym]; !ok {
			symbols = append(symbols, sym)
		}
		days[sym] = append(days[sym], day)
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("reading back partition %d: %w", partition, err)
	}
	type read struct {
		t      trade.Trade
		offset int64
	}
	var reads []read
	for _, sym := range symbols {
		reads = reads[:0]
		for _, day := range days[sym] {
			iter := c.query(ctx, c.stmt(`SELECT trade_id, ts, ns, price, volume, kafka_partition, kafka_offset FROM {ks}.trades
				WHERE symbol = ? AND day = ? AND ts >= ?`), sym, day, since.Truncate(time.Millisecond)).PageSize(5000).Iter()
			var (
				t    = trade.Trade{Symbol: sym}
				ns   int
				from *int
				off  *int64
			)
			for iter.Scan(&t.ID, &t.Time, &ns, &t.Price, &t.Volume, &from, &off) {
				t.Time = t.Time.Add(time.Duration(ns)).UTC()
				if from == nil || off == nil || int32(*from) != partition || *off >= before || t.Time.Before(since) {
					continue
				}
				reads = append(reads, read{t, *off})
			}
			if err := iter.Close(); err != nil {
				return fmt.Errorf("reading back partition %d: %w", partition, err)
			}
		}
		slices.SortFunc(reads, func(a, b read) int { return cmp.Compare(a.offset, b.offset) })
		for _, r := range reads {
			if err := each(r.t); err != nil {
				return err
			}
		}
	}
	return nil
}

// Candles returns the symbol's candles of the interval whose start lies in
// [from, to), oldest first.
func (c *Store) Candles(ctx context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error) {
	if c.closed.Load() {
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
	days, err := c.candleDays(ctx, symbol, ivl)
	if err != nil {
		return nil, fmt.Errorf("reading candles: %w", err)
	}
	first, last := dayNumber(from), dayNumber(to.Add(-1))
	q := c.stmt(`SELECT bucket_start, open, high, low, close, volume, notional, trades FROM {ks}.candles
		WHERE symbol = ? AND interval = ? AND day = ? AND bucket_start >= ? AND bucket_start < ?`)
	var out []agg.Candle
	for _, d := range slices.Backward(days) { // oldest first
		if d < first || d > last {
			continue
		}
		iter := c.query(ctx, q, symbol, ivl, time.Unix(d*86400, 0).UTC(), from.Truncate(time.Millisecond), to).Iter()
		cs, err := scanCassandraCandles(iter, symbol, interval)
		if err != nil {
			return nil, fmt.Errorf("reading candles: %w", err)
		}
		for _, cd := range cs {
			if !cd.Start.Before(from) && cd.Start.Before(to) {
				out = append(out, cd)
			}
		}
	}
	return out, nil
}

// RecentCandles returns at most n of the symbol's latest candles of the
// interval, oldest first.
func (c *Store) RecentCandles(ctx context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("reading recent candles: %w", store.ErrClosed)
	}
	ivl, err := rowkey.Interval(interval)
	if err != nil {
		return nil, fmt.Errorf("reading recent candles: %w", err)
	}
	if n <= 0 {
		return nil, nil
	}
	days, err := c.candleDays(ctx, symbol, ivl)
	if err != nil {
		return nil, fmt.Errorf("reading recent candles: %w", err)
	}
	q := c.stmt(`SELECT bucket_start, open, high, low, close, volume, notional, trades FROM {ks}.candles
		WHERE symbol = ? AND interval = ? AND day = ? ORDER BY bucket_start DESC LIMIT ?`)
	var out []agg.Candle // newest first
	for _, d := range days {
		if len(out) >= n {
			break
		}
		iter := c.query(ctx, q, symbol, ivl, time.Unix(d*86400, 0).UTC(), n-len(out)).Iter()
		cs, err := scanCassandraCandles(iter, symbol, interval)
		if err != nil {
			return nil, fmt.Errorf("reading recent candles: %w", err)
		}
		out = append(out, cs...)
	}
	slices.Reverse(out)
	return out, nil
}

// candleDays lists the days holding candles of the symbol and interval,
// newest first, as days since the Unix epoch.
func (c *Store) candleDays(ctx context.Context, symbol, ivl string) ([]int64, error) {
	iter := c.query(ctx, c.stmt(`SELECT day FROM {ks}.candle_days WHERE symbol = ? AND interval = ?`), symbol, ivl).Iter()
	var days []int64
	var d time.Time
	for iter.Scan(&d) {
		days = append(days, dayNumber(d))
	}
	if err := iter.Close(); err != nil {
		return nil, err
	}
	return days, nil
}

func scanCassandraCandles(iter *gocql.Iter, symbol string, interval time.Duration) ([]agg.Candle, error) {
	var out []agg.Candle
	for {
		cd := agg.Candle{Symbol: symbol, Interval: interval}
		if !iter.Scan(&cd.Start, &cd.Open, &cd.High, &cd.Low, &cd.Close, &cd.Volume, &cd.Notional, &cd.Count) {
			break
		}
		cd.Start = cd.Start.UTC()
		out = append(out, cd)
	}
	return out, iter.Close()
}

// SectorVolume returns each sector's totals for the UTC day containing day,
// largest volume first: the per-window, per-partition rows summed by
// Cassandra.
func (c *Store) SectorVolume(ctx context.Context, day time.Time) ([]store.SectorTotal, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("reading sector volume: %w", store.ErrClosed)
	}
	iter := c.query(ctx, c.stmt(`SELECT sector, sum(volume), sum(notional), sum(trades) FROM {ks}.sector_volume
		WHERE day = ? GROUP BY sector`), dayOf(day)).Iter()
	var out []store.SectorTotal
	var t store.SectorTotal
	for iter.Scan(&t.Sector, &t.Volume, &t.Notional, &t.Count) {
		out = append(out, t)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("reading sector volume: %w", err)
	}
	slices.SortFunc(out, func(a, b store.SectorTotal) int {
		return cmp.Or(cmp.Compare(b.Volume, a.Volume), strings.Compare(a.Sector, b.Sector))
	})
	return out, nil
}

// TradeCount returns how many trades of the symbol are stored for the UTC
// day containing day. It counts the whole partition, so it is meant for
// checks, not for every frame.
func (c *Store) TradeCount(ctx context.Context, symbol string, day time.Time) (int64, error) {
	if c.closed.Load() {
		return 0, fmt.Errorf("counting trades: %w", store.ErrClosed)
	}
	var n int64
	if err := c.query(ctx, c.stmt(`SELECT count(*) FROM {ks}.trades WHERE symbol = ? AND day = ?`), symbol, dayOf(day)).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting trades: %w", err)
	}
	return n, nil
}

// query returns a query bound to ctx that retries temporary failures.
func (c *Store) query(ctx context.Context, stmt string, args ...any) *gocql.Query {
	return c.session.Query(stmt, args...).WithContext(ctx).RetryPolicy(c.retry(ctx)).Idempotent(true)
}

// dayNumber is the UTC day of t, in days since the Unix epoch.
func dayNumber(t time.Time) int64 { return rowkey.FloorDiv(t.Unix(), 86400) }

// dayOf is the start of t's UTC day, which gocql writes as a CQL date.
func dayOf(t time.Time) time.Time { return time.Unix(dayNumber(t)*86400, 0).UTC() }

// retry returns the retry policy of one request made under ctx.
func (c *Store) retry(ctx context.Context) *retryPolicy {
	return &retryPolicy{ctx: ctx, max: c.cfg.Retries, wait: c.cfg.RetryMin, cap: c.cfg.RetryMax}
}

// retryPolicy retries one request after temporary failures, waiting longer
// each time, with jitter. It belongs to one request: gocql calls it from the
// goroutine executing that request.
type retryPolicy struct {
	ctx   context.Context
	max   int
	wait  time.Duration
	cap   time.Duration
	tries int
}

// Attempt says whether another attempt is allowed. gocql asks it before it
// looks at the error, so the waiting is done in GetRetryType.
func (r *retryPolicy) Attempt(q gocql.RetryableQuery) bool { return q.Attempts() <= r.max }

// GetRetryType waits before a retry of a temporary failure and rethrows
// every other error at once.
func (r *retryPolicy) GetRetryType(err error) gocql.RetryType {
	if !temporary(err) || r.ctx.Err() != nil {
		return gocql.Rethrow
	}
	r.tries++
	d := min(r.wait<<(r.tries-1), r.cap)
	d = d/2 + rand.N(d/2+1) // jitter over the upper half
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return gocql.RetryNextHost
	case <-r.ctx.Done():
		return gocql.Rethrow
	}
}

// temporary reports whether err may go away by itself: a coordinator that
// timed out, lacked replicas, was overloaded or starting, or a connection
// that failed.
func temporary(err error) bool {
	var (
		wt *gocql.RequestErrWriteTimeout
		rt *gocql.RequestErrReadTimeout
		un *gocql.RequestErrUnavailable
		re gocql.RequestError
		ne net.Error
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &wt), errors.As(err, &rt), errors.As(err, &un):
		return true
	case errors.As(err, &re):
		return re.Code() == gocql.ErrCodeOverloaded || re.Code() == gocql.ErrCodeBootstrapping
	}
	return errors.Is(err, gocql.ErrTimeoutNoResponse) || errors.Is(err, gocql.ErrConnectionClosed) ||
		errors.Is(err, gocql.ErrNoConnections) || errors.Is(err, gocql.ErrUnavailable) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.As(err, &ne)
}

// driverLog sends gocql's messages to the log at debug level, never to the
// terminal.
type driverLog struct{ l *slog.Logger }

func (d driverLog) Print(v ...any) { d.l.Debug(strings.TrimSpace(fmt.Sprint(v...)), "from", "gocql") }
func (d driverLog) Printf(format string, v ...any) {
	d.l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "from", "gocql")
}
func (d driverLog) Println(v ...any) {
	d.l.Debug(strings.TrimSpace(fmt.Sprintln(v...)), "from", "gocql")
}
