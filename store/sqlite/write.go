package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/internal/rowkey"
	"github.com/tradetop/tradetop/trade"
)

// rowsPerStmt are the row counts of the prepared multi-row INSERT statements,
// largest first. A batch goes out in statements of the largest count, and
// the rest in at most one statement of each smaller count.
var rowsPerStmt = [...]int{128, 64, 32, 16, 8, 4, 2, 1}

// insert is one table's multi-row upsert, prepared once for each of
// rowsPerStmt.
type insert struct {
	table string
	cols  int
	stmts [len(rowsPerStmt)]*sql.Stmt
}

func (ins *insert) prepare(ctx context.Context, db *sql.DB, head, tail string) error {
	row := "(" + strings.Repeat("?, ", ins.cols-1) + "?)"
	for i, n := range rowsPerStmt {
		var q strings.Builder
		q.WriteString(head)
		q.WriteString(" VALUES ")
		for r := range n {
			if r > 0 {
				q.WriteString(", ")
			}
			q.WriteString(row)
		}
		q.WriteString(" ")
		q.WriteString(tail)
		var err error
		if ins.stmts[i], err = db.PrepareContext(ctx, q.String()); err != nil {
			return fmt.Errorf("preparing %s upsert: %w", ins.table, err)
		}
	}
	return nil
}

// exec upserts the rows whose values args holds, ins.cols per row.
func (ins *insert) exec(ctx context.Context, tx *sql.Tx, args []any) error {
	var txStmts [len(rowsPerStmt)]*sql.Stmt
	rows := len(args) / ins.cols
	for i, n := range rowsPerStmt {
		for rows >= n {
			if txStmts[i] == nil {
				txStmts[i] = tx.StmtContext(ctx, ins.stmts[i])
			}
			k := n * ins.cols
			if _, err := txStmts[i].ExecContext(ctx, args[:k]...); err != nil {
				return fmt.Errorf("writing %s: %w", ins.table, err)
			}
			args, rows = args[k:], rows-n
		}
	}
	return nil
}

func (ins *insert) close() error {
	var errs []error
	for _, st := range ins.stmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// writeState is what Write reuses from one call to the next. It belongs to
// the goroutine holding Store.wmu.
type writeState struct {
	trades, candles, sectors insert

	// args holds the statement arguments of one table at a time.
	args []any
	// tradeKeys and order hold the rows of one table in primary key order.
	tradeKeys []tradeKey
	order     []int
	// day and ivl hold the last encodings made: the rows of a batch
	// mostly share their day and their interval. symbols holds each
	// symbol boxed once.
	day     dayCache
	ivl     intervalCache
	symbols map[string]any
}

// maxSymbols bounds writeState.symbols; past it, it starts over.
const maxSymbols = 10_000

func (w *writeState) prepare(ctx context.Context, db *sql.DB) error {
	w.trades = insert{table: "trades", cols: 8}
	w.candles = insert{table: "candles", cols: 12}
	w.sectors = insert{table: "sector_volume", cols: 8}
	// OR ROLLBACK: a row that breaks NOT NULL (a NaN price) ends the
	// transaction, as Write would anyway, and SQLite keeps no statement
	// journal, which the default OR ABORT needs for multi-row statements.
	// Trade rows are never updated: one id always names the same trade,
	// and the first origin stored is the one a rebuild needs.
	if err := w.trades.prepare(ctx, db,
		"INSERT OR ROLLBACK INTO trades (symbol, day, ts_ns, trade_id, price, volume, kafka_partition, kafka_offset)",
		"ON CONFLICT DO NOTHING"); err != nil {
		return err
	}
	if err := w.candles.prepare(ctx, db,
		`INSERT INTO candles (symbol, interval, day, bucket_start_ns,
			open, high, low, close, volume, notional, vwap, trades)`,
		`ON CONFLICT (symbol, interval, day, bucket_start_ns) DO UPDATE SET
			open = excluded.open, high = excluded.high, low = excluded.low,
			close = excluded.close, volume = excluded.volume,
			notional = excluded.notional, vwap = excluded.vwap,
			trades = excluded.trades`); err != nil {
		return err
	}
	if err := w.sectors.prepare(ctx, db,
		`INSERT INTO sector_volume (day, sector, bucket_start_ns, kafka_partition,
			interval, volume, notional, trades)`,
		`ON CONFLICT (day, sector, bucket_start_ns, kafka_partition) DO UPDATE SET
			interval = excluded.interval, volume = excluded.volume,
			notional = excluded.notional, trades = excluded.trades`); err != nil {
		return err
	}
	return nil
}

func (w *writeState) close() error {
	return errors.Join(w.trades.close(), w.candles.close(), w.sectors.close())
}

// write upserts the rows of b inside tx.
func (w *writeState) write(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	defer func() {
		// Drop the references to b's strings.
		clear(w.args)
		clear(w.tradeKeys)
		w.args, w.tradeKeys = w.args[:0], w.tradeKeys[:0]
	}()
	var err error
	if len(b.Trades) > 0 {
		if len(b.Origins) != 0 && len(b.Origins) != len(b.Trades) {
			return fmt.Errorf("writing trades: %d origins for %d trades", len(b.Origins), len(b.Trades))
		}
		if w.args, err = w.appendTrades(w.args[:0], b.Trades, b.Origins); err != nil {
			return fmt.Errorf("writing trades: %w", err)
		}
		if err := w.trades.exec(ctx, tx, w.args); err != nil {
			return err
		}
	}
	if len(b.Candles) > 0 {
		if w.args, err = w.appendCandles(w.args[:0], b.Candles); err != nil {
			return fmt.Errorf("writing candles: %w", err)
		}
		if err := w.candles.exec(ctx, tx, w.args); err != nil {
			return err
		}
	}
	if len(b.Sectors) > 0 {
		if w.args, err = w.appendSectors(w.args[:0], b.Sectors); err != nil {
			return fmt.Errorf("writing sector volume: %w", err)
		}
		if err := w.sectors.exec(ctx, tx, w.args); err != nil {
			return err
		}
	}
	return nil
}

// appendTrades appends the columns of ts, and of their origins if any, to
// args in primary key order: by time, the table's order, so that a
// transaction's trades go to the table's last pages.
func (w *writeState) appendTrades(args []any, ts []trade.Trade, origins []store.Origin) ([]any, error) {
	keys := w.tradeKeys[:0]
	for i := range ts {
		t := &ts[i]
		ns, ok := rowkey.UnixNano(t.Time)
		if !ok {
			return args, fmt.Errorf("trade %q: time %s out of range", t.ID, t.Time)
		}
		keys = append(keys, tradeKey{symbol: t.Symbol, ns: ns, id: t.ID, i: i})
	}
	w.tradeKeys = sortTrades(keys)
	for _, key := range keys {
		t := &ts[key.i]
		args = append(args, w.symbol(key.symbol), w.day.get(key.ns), key.ns, key.id, t.Price, t.Volume)
		if origins == nil {
			args = append(args, nil, nil)
			continue
		}
		o := origins[key.i]
		args = append(args, int64(o.Partition), o.Offset)
	}
	return args, nil
}

// symbol returns name boxed, once for each symbol.
func (w *writeState) symbol(name string) any {
	if v, ok := w.symbols[name]; ok {
		return v
	}
	if w.symbols == nil || len(w.symbols) >= maxSymbols {
		w.symbols = make(map[string]any)
	}
	// A copy: name may share the memory of a larger buffer.
	name = strings.Clone(name)
	v := any(name)
	w.symbols[name] = v
	return v
}

// tradeKey is a trade's primary key and its index in the batch.
type tradeKey struct {
	ns     int64 // the day is that of ns
	symbol string
	id     string
	i      int
}

// sortTrades sorts keys by time, symbol and id, in place, and returns them.
// Copies of a key keep their order in the batch, so the first is the one
// stored. A batch is often in time order already.
func sortTrades(keys []tradeKey) []tradeKey {
	if !slices.IsSortedFunc(keys, compareTradeKeys) {
		slices.SortStableFunc(keys, compareTradeKeys)
	}
	return keys
}

func compareTradeKeys(a, b tradeKey) int {
	if c := cmp.Compare(a.ns, b.ns); c != 0 {
		return c
	}
	if c := strings.Compare(a.symbol, b.symbol); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// appendCandles appends the columns of cs to args in primary key order.
func (w *writeState) appendCandles(args []any, cs []agg.Candle) ([]any, error) {
	w.order = w.order[:0]
	for i := range cs {
		c := &cs[i]
		if _, ok := rowkey.UnixNano(c.Start); !ok {
			return args, fmt.Errorf("candle %s: start %s out of range", c.Symbol, c.Start)
		}
		w.order = append(w.order, i)
	}
	// Of copies of one key, the last is written: the sort below is not
	// stable, so the others go first.
	w.order = rowkey.KeepLast(w.order, func(i *int) rowkey.CandleID { return rowkey.CandleKey(&cs[*i]) })
	slices.SortFunc(w.order, func(i, j int) int { return rowkey.CompareCandleKeys(&cs[i], &cs[j]) })
	for _, i := range w.order {
		c := &cs[i]
		ivl, err := w.ivl.get(c.Interval)
		if err != nil {
			return args, fmt.Errorf("candle %s: %w", c.Symbol, err)
		}
		ns := c.Start.UnixNano()
		args = append(args, c.Symbol, ivl, w.day.get(ns), ns,
			c.Open, c.High, c.Low, c.Close, c.Volume, c.Notional, c.VWAP(), c.Count)
	}
	return args, nil
}

// appendSectors appends the columns of ss to args in primary key order.
func (w *writeState) appendSectors(args []any, ss []agg.SectorVolume) ([]any, error) {
	w.order = w.order[:0]
	for i := range ss {
		s := &ss[i]
		if _, ok := rowkey.UnixNano(s.Start); !ok {
			return args, fmt.Errorf("sector %s: start %s out of range", s.Sector, s.Start)
		}
		w.order = append(w.order, i)
	}
	w.order = rowkey.KeepLast(w.order, func(i *int) rowkey.SectorID { return rowkey.SectorKey(&ss[*i]) })
	slices.SortFunc(w.order, func(i, j int) int {
		a, b := &ss[i], &ss[j]
		if c := cmp.Compare(unixDay(a.Start.UnixNano()), unixDay(b.Start.UnixNano())); c != 0 {
			return c
		}
		if c := strings.Compare(a.Sector, b.Sector); c != 0 {
			return c
		}
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	for _, i := range w.order {
		s := &ss[i]
		ivl, err := w.ivl.get(s.Interval)
		if err != nil {
			return args, fmt.Errorf("sector %s: %w", s.Sector, err)
		}
		ns := s.Start.UnixNano()
		args = append(args, w.day.get(ns), s.Sector, ns, int64(s.Partition),
			ivl, s.Volume, s.Notional, s.Count)
	}
	return args, nil
}

const nsPerDay = int64(24 * time.Hour)

// dayCache remembers the day column of the last Unix day encoded, boxed once.
type dayCache struct {
	num int64
	val any // the day as a string; nil until first use
}

// unixDay is the number of the UTC day of the Unix nanosecond time ns.
func unixDay(ns int64) int64 { return rowkey.FloorDiv(ns, nsPerDay) }

// get returns the UTC day of the Unix nanosecond time ns, as trade.Day writes it.
func (c *dayCache) get(ns int64) any {
	num := unixDay(ns)
	if c.val == nil || num != c.num {
		c.num, c.val = num, trade.Day(time.Unix(0, ns))
	}
	return c.val
}

// intervalCache remembers the interval column of the last interval encoded,
// boxed once.
type intervalCache struct {
	d   time.Duration
	val any // the store.IntervalName as a string; nil until first use
}

func (c *intervalCache) get(d time.Duration) (any, error) {
	if c.val == nil || d != c.d {
		name, err := rowkey.Interval(d)
		if err != nil {
			return nil, err
		}
		c.d, c.val = d, name
	}
	return c.val, nil
}
