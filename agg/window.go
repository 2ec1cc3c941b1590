package agg

import (
	"time"
)

// Candle is the OHLCV summary of one symbol's trades in one event-time window
// [Start, Start+Interval).
type Candle struct {
	Symbol   string
	Interval time.Duration
	Start    time.Time
	Open     float64
	High     float64
	Low      float64
	Close    float64
	// Volume is the sum of the trades' volumes.
	Volume float64
	// Notional is the sum of price × volume; VWAP = Notional / Volume.
	Notional float64
	// Count is the number of trades.
	Count int64
}

// VWAP is the volume-weighted average price of the window.
func (c *Candle) VWAP() float64 {
	if c.Volume == 0 {
		return 0
	}
	return c.Notional / c.Volume
}

// End is the first instant after the window.
func (c *Candle) End() time.Time { return c.Start.Add(c.Interval) }

// SectorVolume is one Kafka partition's share of a sector's trading in one
// event-time window. Summing the rows of all partitions gives the sector's
// total, so results are the same with one processing instance or ten.
type SectorVolume struct {
	Sector    string
	Interval  time.Duration
	Start     time.Time
	Partition int32
	Volume    float64
	Notional  float64
	Count     int64
}

// Closed holds windows that the engine has closed and that are ready to be
// stored.
type Closed struct {
	Candles []Candle
	Sectors []SectorVolume
}

// Len is the number of closed windows held.
func (c *Closed) Len() int { return len(c.Candles) + len(c.Sectors) }

// Reset empties c, keeping its capacity.
func (c *Closed) Reset() {
	c.Candles = c.Candles[:0]
	c.Sectors = c.Sectors[:0]
}
