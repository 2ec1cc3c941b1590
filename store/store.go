// Package store persists what the pipeline produces: raw trades, closed
// candles and per-partition sector volume. Every write is an idempotent upsert,
// so replaying a Kafka partition from an older offset rewrites identical rows.
// The stores are in packages of their own: sqlite, embedded, and cassandra.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/trade"
)

// ErrClosed is returned by a store's methods after its Close.
var ErrClosed = errors.New("store is closed")

// Batch is one unit of durable work: when Write returns nil, every row in it
// is durable and the Kafka offsets that produced it may be committed.
type Batch struct {
	Trades []trade.Trade
	// Origins, when set, say where each of Trades was read, one per trade
	// in the same order. The rows keep them, so that a partition's open
	// windows can be rebuilt from the store (Reread).
	Origins []Origin
	Candles []agg.Candle
	Sectors []agg.SectorVolume
}

// Origin is where a trade was read: its Kafka partition and offset.
type Origin struct {
	Partition int32
	Offset    int64
	// IfAbsent says to store the trade only if no trade with its ID is
	// stored: a trade that came after its windows closed may be a copy of
	// one stored earlier, and the earlier one's origin is the one a
	// rebuild must see. Other trades are upserted.
	IfAbsent bool
}

// Len is the number of rows in the batch.
func (b *Batch) Len() int { return len(b.Trades) + len(b.Candles) + len(b.Sectors) }

// SectorTotal is a sector's volume over a day, summed over windows and Kafka
// partitions.
type SectorTotal struct {
	Sector   string
	Volume   float64
	Notional float64
	Count    int64
}

// Store is what the pipeline writes to and the UI and checks read from.
// Write is called from one goroutine at a time; the read methods may be called
// concurrently with Write and with each other.
type Store interface {
	// Write upserts every row of b and returns when they are durable.
	Write(ctx context.Context, b *Batch) error
	// Candles returns the symbol's candles of the interval whose start lies in
	// [from, to), oldest first.
	Candles(ctx context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error)
	// RecentCandles returns at most n of the symbol's latest candles of the
	// interval, oldest first.
	RecentCandles(ctx context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error)
	// SectorVolume returns each sector's totals for the UTC day containing
	// day, largest volume first.
	SectorVolume(ctx context.Context, day time.Time) ([]SectorTotal, error)
	// TradeCount returns how many trades of the symbol are stored for the UTC
	// day containing day.
	TradeCount(ctx context.Context, symbol string, day time.Time) (int64, error)
	// Reread calls each with every stored trade read from the Kafka
	// partition before the offset before, with an event time at or after
	// since, each symbol's in the order they were read (symbols one after
	// another, or all in the order they were read). A partition's new owner
	// rebuilds its open windows from them.
	// Trades stored without an origin are not among them. An error from
	// each stops it and is returned.
	Reread(ctx context.Context, partition int32, since time.Time, before int64, each func(trade.Trade) error) error
	// Close releases the store. It is safe to call twice.
	Close() error
}
