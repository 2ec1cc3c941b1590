package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/internal/rowkey"
)

// The upserts take each table's rows as one array per column, so that a
// Write is one statement per table whatever its size, sent together in one
// round trip. Trade rows are never updated: one id always names the same
// trade, and the first origin stored is the one a rebuild needs. Candle and
// sector rows take the values of the last write of their key.
const (
	insertTrades = `INSERT INTO trades (symbol, day, ts_ns, trade_id, price, volume, kafka_partition, kafka_offset)
		SELECT * FROM unnest($1::text[], $2::date[], $3::bigint[], $4::text[], $5::float8[], $6::float8[], $7::int4[], $8::int8[])
		ON CONFLICT DO NOTHING`
	insertIndex = `INSERT INTO trade_index (kafka_partition, day, symbol)
		SELECT * FROM unnest($1::int4[], $2::date[], $3::text[])
		ON CONFLICT DO NOTHING`
	insertCandles = `INSERT INTO candles (symbol, interval, day, bucket_start_ns,
			open, high, low, close, volume, notional, vwap, trades)
		SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::bigint[],
			$5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::int8[])
		ON CONFLICT (symbol, interval, day, bucket_start_ns) DO UPDATE SET
			open = excluded.open, high = excluded.high, low = excluded.low,
			close = excluded.close, volume = excluded.volume,
			notional = excluded.notional, vwap = excluded.vwap,
			trades = excluded.trades`
	insertSectors = `INSERT INTO sector_volume (day, sector, bucket_start_ns, kafka_partition,
			interval, volume, notional, trades)
		SELECT * FROM unnest($1::date[], $2::text[], $3::bigint[], $4::int4[],
			$5::text[], $6::float8[], $7::float8[], $8::int8[])
		ON CONFLICT (day, sector, bucket_start_ns, kafka_partition) DO UPDATE SET
			interval = excluded.interval, volume = excluded.volume,
			notional = excluded.notional, trades = excluded.trades`
)

// Write upserts every row of b in one transaction and returns once it is
// committed, which with synchronous_commit on means it is in the server's
// durable log. On an error nothing of b is stored. Trades are keyed by
// (symbol, day, time, id) and a second write of a key keeps the first row;
// candle and sector rows take the values of the last write of their key,
// within a batch too. Sector rows must all be of one interval, as the key
// does not include it.
func (s *Store) Write(ctx context.Context, b *store.Batch) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	const what = "writing batch"
	ctx, cancel, err := s.op(ctx, what)
	if err != nil {
		return err
	}
	defer cancel()
	if b == nil || b.Len() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	batch, err := s.w.fill(b)
	defer s.w.reset()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, batch).Close()
	}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	s.w.committed()
	return nil
}

// writeState is what Write reuses from one call to the next: a column
// slice per table column. It belongs to the goroutine holding Store.wmu.
type writeState struct {
	trades struct {
		symbol, id    []string
		day           []time.Time
		ns            []int64
		price, volume []float64
		partition     []pgtype.Int4
		offset        []pgtype.Int8
	}
	index struct {
		partition []int32
		day       []time.Time
		symbol    []string
	}
	candles struct {
		symbol, interval                               []string
		day                                            []time.Time
		ns, count                                      []int64
		open, high, low, close, volume, notional, vwap []float64
	}
	sectors struct {
		day              []time.Time
		sector, interval []string
		ns               []int64
		partition        []int32
		volume, notional []float64
		count            []int64
	}
	// order holds the indexes of the candle or sector rows to write.
	order []int
	// indexed are the trade_index rows known to be stored, and fresh those
	// the current Write adds.
	indexed, fresh map[rowkey.Index]struct{}
}

// maxIndexed bounds the trade_index rows a store remembers writing; past
// it, it forgets them and writes them again, which changes nothing.
const maxIndexed = 100_000

// fill lays b out in the column slices and returns the statements that
// upsert them.
func (w *writeState) fill(b *store.Batch) (*pgx.Batch, error) {
	if w.indexed == nil {
		w.indexed, w.fresh = map[rowkey.Index]struct{}{}, map[rowkey.Index]struct{}{}
	}
	batch := &pgx.Batch{}
	if len(b.Trades) > 0 {
		if err := w.fillTrades(b); err != nil {
			return nil, fmt.Errorf("writing trades: %w", err)
		}
		t := &w.trades
		batch.Queue(insertTrades, t.symbol, t.day, t.ns, t.id, t.price, t.volume, t.partition, t.offset)
		if len(w.fresh) > 0 {
			ix := &w.index
			for k := range w.fresh {
				ix.partition = append(ix.partition, k.Partition)
				ix.day = append(ix.day, time.Unix(k.Day*secondsPerDay, 0).UTC())
				ix.symbol = append(ix.symbol, k.Symbol)
			}
			batch.Queue(insertIndex, ix.partition, ix.day, ix.symbol)
		}
	}
	if len(b.Candles) > 0 {
		if err := w.fillCandles(b.Candles); err != nil {
			return nil, fmt.Errorf("writing candles: %w", err)
		}
		c := &w.candles
		batch.Queue(insertCandles, c.symbol, c.interval, c.day, c.ns,
			c.open, c.high, c.low, c.close, c.volume, c.notional, c.vwap, c.count)
	}
	if len(b.Sectors) > 0 {
		if err := w.fillSectors(b.Sectors); err != nil {
			return nil, fmt.Errorf("writing sector volume: %w", err)
		}
		s := &w.sectors
		batch.Queue(insertSectors, s.day, s.sector, s.ns, s.partition, s.interval, s.volume, s.notional, s.count)
	}
	return batch, nil
}

func (w *writeState) fillTrades(b *store.Batch) error {
	if len(b.Origins) != 0 && len(b.Origins) != len(b.Trades) {
		return fmt.Errorf("%d origins for %d trades", len(b.Origins), len(b.Trades))
	}
	t := &w.trades
	for i := range b.Trades {
		tr := &b.Trades[i]
		ns, ok := rowkey.UnixNano(tr.Time)
		if !ok {
			return fmt.Errorf("trade %q: time %s out of range", tr.ID, tr.Time)
		}
		t.symbol = append(t.symbol, tr.Symbol)
		t.day = append(t.day, dayOf(ns))
		t.ns = append(t.ns, ns)
		t.id = append(t.id, tr.ID)
		t.price = append(t.price, tr.Price)
		t.volume = append(t.volume, tr.Volume)
		if b.Origins == nil {
			t.partition = append(t.partition, pgtype.Int4{})
			t.offset = append(t.offset, pgtype.Int8{})
			continue
		}
		o := b.Origins[i]
		t.partition = append(t.partition, pgtype.Int4{Int32: o.Partition, Valid: true})
		t.offset = append(t.offset, pgtype.Int8{Int64: o.Offset, Valid: true})
		k := rowkey.Index{Partition: o.Partition, Day: rowkey.FloorDiv(ns, nsPerDay), Symbol: tr.Symbol}
		if _, ok := w.indexed[k]; !ok {
			w.fresh[k] = struct{}{}
		}
	}
	return nil
}

func (w *writeState) fillCandles(cs []agg.Candle) error {
	w.order = w.order[:0]
	for i := range cs {
		if _, ok := rowkey.UnixNano(cs[i].Start); !ok {
			return fmt.Errorf("candle %s: start %s out of range", cs[i].Symbol, cs[i].Start)
		}
		w.order = append(w.order, i)
	}
	w.order = rowkey.KeepLast(w.order, func(i *int) rowkey.CandleID { return rowkey.CandleKey(&cs[*i]) })
	r := &w.candles
	for _, i := range w.order {
		c := &cs[i]
		ns := c.Start.UnixNano()
		ivl, err := rowkey.Interval(c.Interval)
		if err != nil {
			return fmt.Errorf("candle %s: %w", c.Symbol, err)
		}
		r.symbol = append(r.symbol, c.Symbol)
		r.interval = append(r.interval, ivl)
		r.day = append(r.day, dayOf(ns))
		r.ns = append(r.ns, ns)
		r.open = append(r.open, c.Open)
		r.high = append(r.high, c.High)
		r.low = append(r.low, c.Low)
		r.close = append(r.close, c.Close)
		r.volume = append(r.volume, c.Volume)
		r.notional = append(r.notional, c.Notional)
		r.vwap = append(r.vwap, c.VWAP())
		r.count = append(r.count, c.Count)
	}
	return nil
}

func (w *writeState) fillSectors(ss []agg.SectorVolume) error {
	w.order = w.order[:0]
	for i := range ss {
		if _, ok := rowkey.UnixNano(ss[i].Start); !ok {
			return fmt.Errorf("sector %s: start %s out of range", ss[i].Sector, ss[i].Start)
		}
		w.order = append(w.order, i)
	}
	w.order = rowkey.KeepLast(w.order, func(i *int) rowkey.SectorID { return rowkey.SectorKey(&ss[*i]) })
	r := &w.sectors
	for _, i := range w.order {
		s := &ss[i]
		ns := s.Start.UnixNano()
		ivl, err := rowkey.Interval(s.Interval)
		if err != nil {
			return fmt.Errorf("sector %s: %w", s.Sector, err)
		}
		r.day = append(r.day, dayOf(ns))
		r.sector = append(r.sector, s.Sector)
		r.ns = append(r.ns, ns)
		r.partition = append(r.partition, s.Partition)
		r.interval = append(r.interval, ivl)
		r.volume = append(r.volume, s.Volume)
		r.notional = append(r.notional, s.Notional)
		r.count = append(r.count, s.Count)
	}
	return nil
}

// committed records that the Write that added w.fresh is durable.
func (w *writeState) committed() {
	if len(w.indexed)+len(w.fresh) > maxIndexed {
		clear(w.indexed)
	}
	for k := range w.fresh {
		w.indexed[k] = struct{}{}
	}
}

// reset empties the column slices, keeping their room, and drops their
// references to the batch's strings.
func (w *writeState) reset() {
	t := &w.trades
	clear(t.symbol)
	clear(t.id)
	t.symbol, t.id, t.day, t.ns, t.price, t.volume, t.partition, t.offset =
		t.symbol[:0], t.id[:0], t.day[:0], t.ns[:0], t.price[:0], t.volume[:0], t.partition[:0], t.offset[:0]
	ix := &w.index
	clear(ix.symbol)
	ix.partition, ix.day, ix.symbol = ix.partition[:0], ix.day[:0], ix.symbol[:0]
	c := &w.candles
	clear(c.symbol)
	c.symbol, c.interval, c.day, c.ns, c.count = c.symbol[:0], c.interval[:0], c.day[:0], c.ns[:0], c.count[:0]
	c.open, c.high, c.low, c.close = c.open[:0], c.high[:0], c.low[:0], c.close[:0]
	c.volume, c.notional, c.vwap = c.volume[:0], c.notional[:0], c.vwap[:0]
	s := &w.sectors
	clear(s.sector)
	s.day, s.sector, s.interval, s.ns, s.partition = s.day[:0], s.sector[:0], s.interval[:0], s.ns[:0], s.partition[:0]
	s.volume, s.notional, s.count = s.volume[:0], s.notional[:0], s.count[:0]
	clear(w.fresh)
}
