package storetest

import (
	"cmp"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/trade"
)

// Contents is what a store holds, read from its tables directly (SQL or
// CQL), never through tradetop's own read path, or what it should hold for
// an input (Reference).
type Contents struct {
	// Rows is the number of raw trade rows.
	Rows int64
	// Trades are the raw trades by ID.
	Trades map[string]Trade
	// Candles are every candle row, of every interval.
	Candles map[CandleKey]agg.Candle
	// Sectors are the sector volume rows summed over Kafka partitions,
	// per sector and window.
	Sectors map[SectorKey]Sector
}

// Trade is one raw trade row.
type Trade struct {
	Symbol        string
	Time          time.Time
	Price, Volume float64
	// Partition and Offset are where the trade was read; -1 when the row
	// has no origin (and in a reference).
	Partition int32
	Offset    int64
}

// CandleKey names a candle row.
type CandleKey struct {
	Symbol   string
	Interval time.Duration
	Start    int64 // Unix ns
}

// SectorKey names one sector window.
type SectorKey struct {
	Sector   string
	Interval time.Duration
	Start    int64 // Unix ns
}

// Sector is one sector window, summed over Kafka partitions.
type Sector struct {
	Volume, Notional float64
	Count            int64
}

func newContents() Contents {
	return Contents{Trades: map[string]Trade{}, Candles: map[CandleKey]agg.Candle{}, Sectors: map[SectorKey]Sector{}}
}

// Windows are the windows a reference aggregates into.
type Windows struct {
	// Intervals are the candle windows. Default 1s and 1m.
	Intervals []time.Duration
	// Sector is the sector volume window. Default 1m.
	Sector time.Duration
	// SectorOf maps a symbol to its sector. Required.
	SectorOf func(symbol string) string
}

func (w Windows) withDefaults() Windows {
	if len(w.Intervals) == 0 {
		w.Intervals = []time.Duration{time.Second, time.Minute}
	}
	if w.Sector == 0 {
		w.Sector = time.Minute
	}
	return w
}

// Reference is what a store should hold for input: every trade once, the
// candles of every window computed from the trades in the order given
// (open the first, close the last), and the sector windows. It shares no
// code with the aggregation engine, so that it can tell it is wrong.
func Reference(input []trade.Trade, w Windows) Contents {
	w = w.withDefaults()
	c := newContents()
	c.Rows = int64(len(input))
	for _, tr := range input {
		c.Trades[tr.ID] = Trade{tr.Symbol, tr.Time.UTC(), tr.Price, tr.Volume, -1, -1}
		for _, iv := range w.Intervals {
			start := floor(tr.Time, iv)
			k := CandleKey{tr.Symbol, iv, start.UnixNano()}
			cd, ok := c.Candles[k]
			if !ok {
				cd = agg.Candle{Symbol: tr.Symbol, Interval: iv, Start: start, Open: tr.Price, High: tr.Price, Low: tr.Price}
			}
			cd.High = math.Max(cd.High, tr.Price)
			cd.Low = math.Min(cd.Low, tr.Price)
			cd.Close = tr.Price
			cd.Volume += tr.Volume
			cd.Notional += tr.Price * tr.Volume
			cd.Count++
			c.Candles[k] = cd
		}
		k := SectorKey{w.SectorOf(tr.Symbol), w.Sector, floor(tr.Time, w.Sector).UnixNano()}
		s := c.Sectors[k]
		s.Volume += tr.Volume
		s.Notional += tr.Price * tr.Volume
		s.Count++
		c.Sectors[k] = s
	}
	return c
}

// OfStoredTrades is the reference of the raw trades c holds, in event time
// order (ties by ID): what the aggregates should be if every stored trade
// counted. Where trades tie at a window's first or last time, the order of
// the input cannot be known from the rows, so Compare with it may report
// an open or close of one of the tied trades as wrong; inputs without such
// ties are exact.
func OfStoredTrades(c Contents, w Windows) Contents {
	input := make([]trade.Trade, 0, len(c.Trades))
	for id, tr := range c.Trades {
		input = append(input, trade.Trade{ID: id, Symbol: tr.Symbol, Price: tr.Price, Volume: tr.Volume, Time: tr.Time})
	}
	slices.SortFunc(input, func(a, b trade.Trade) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	ref := Reference(input, w)
	ref.Rows = c.Rows
	return ref
}

func floor(t time.Time, iv time.Duration) time.Time {
	ns := t.UnixNano()
	q := ns / int64(iv)
	if ns%int64(iv) != 0 && ns < 0 {
		q--
	}
	return time.Unix(0, q*int64(iv)).UTC()
}

// ReadSQLite reads every row of the SQLite store at path, read-only.
func ReadSQLite(t testing.TB, path string) Contents {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newContents()
	query := func(q string, scan func(*sql.Rows) error) {
		t.Helper()
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	query("SELECT symbol, trade_id, ts_ns, price, volume, kafka_partition, kafka_offset FROM trades", func(r *sql.Rows) error {
		var tr Trade
		var id string
		var ns int64
		var part, off sql.NullInt64
		if err := r.Scan(&tr.Symbol, &id, &ns, &tr.Price, &tr.Volume, &part, &off); err != nil {
			return err
		}
		tr.Time = time.Unix(0, ns).UTC()
		tr.Partition, tr.Offset = int32(orMinus1(part)), orMinus1(off)
		c.addTrade(id, tr)
		return nil
	})
	query("SELECT symbol, interval, bucket_start_ns, open, high, low, close, volume, notional, vwap, trades FROM candles", func(r *sql.Rows) error {
		var cd agg.Candle
		var iv string
		var ns int64
		var vwap float64
		if err := r.Scan(&cd.Symbol, &iv, &ns, &cd.Open, &cd.High, &cd.Low, &cd.Close, &cd.Volume, &cd.Notional, &vwap, &cd.Count); err != nil {
			return err
		}
		cd.Start = time.Unix(0, ns).UTC()
		return c.addCandle(iv, cd, vwap)
	})
	query("SELECT sector, interval, bucket_start_ns, volume, notional, trades FROM sector_volume", func(r *sql.Rows) error {
		var sec, iv string
		var ns int64
		var s Sector
		if err := r.Scan(&sec, &iv, &ns, &s.Volume, &s.Notional, &s.Count); err != nil {
			return err
		}
		return c.addSector(sec, iv, time.Unix(0, ns), s)
	})
	return c
}

// ReadCassandra reads every row of the tradetop keyspace on hosts, at
// LOCAL_QUORUM.
func ReadCassandra(t testing.TB, hosts []string, keyspace string) Contents {
	t.Helper()
	s := Session(t, hosts)
	defer s.Close()
	c := newContents()
	scan := func(q string, dest []any, row func() error) {
		t.Helper()
		iter := s.Query(q).PageSize(5000).Iter()
		for iter.Scan(dest...) {
			if err := row(); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := iter.Close(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var (
		tr       Trade
		id, iv   string
		ns       int
		cd       agg.Candle
		vwap     float64
		sec      string
		start    time.Time
		sv       Sector
		ivCandle string
	)
	var part *int
	var off *int64
	scan("SELECT symbol, trade_id, ts, ns, price, volume, kafka_partition, kafka_offset FROM "+keyspace+".trades",
		[]any{&tr.Symbol, &id, &tr.Time, &ns, &tr.Price, &tr.Volume, &part, &off}, func() error {
			tr.Time = tr.Time.Add(time.Duration(ns)).UTC()
			tr.Partition, tr.Offset = -1, -1
			if part != nil && off != nil {
				tr.Partition, tr.Offset = int32(*part), *off
			}
			c.addTrade(id, tr)
			return nil
		})
	scan("SELECT symbol, interval, bucket_start, open, high, low, close, volume, notional, vwap, trades FROM "+keyspace+".candles",
		[]any{&cd.Symbol, &ivCandle, &cd.Start, &cd.Open, &cd.High, &cd.Low, &cd.Close, &cd.Volume, &cd.Notional, &vwap, &cd.Count}, func() error {
			cd.Start = cd.Start.UTC()
			return c.addCandle(ivCandle, cd, vwap)
		})
	scan("SELECT sector, interval, bucket_start, volume, notional, trades FROM "+keyspace+".sector_volume",
		[]any{&sec, &iv, &start, &sv.Volume, &sv.Notional, &sv.Count}, func() error {
			return c.addSector(sec, iv, start, sv)
		})
	return c
}

func orMinus1(n sql.NullInt64) int64 {
	if !n.Valid {
		return -1
	}
	return n.Int64
}

// MaxOffsets returns the highest offset stored of each Kafka partition.
func (c Contents) MaxOffsets() map[int32]int64 {
	out := map[int32]int64{}
	for _, tr := range c.Trades {
		if tr.Partition >= 0 {
			out[tr.Partition] = max(out[tr.Partition], tr.Offset)
		}
	}
	return out
}

func (c *Contents) addTrade(id string, tr Trade) {
	c.Rows++
	c.Trades[id] = tr
}

// addCandle adds a candle row; a row whose vwap is not its notional over
// its volume is an error, as it would be in the store.
func (c *Contents) addCandle(interval string, cd agg.Candle, vwap float64) error {
	iv, err := parseInterval(interval)
	if err != nil {
		return err
	}
	cd.Interval = iv
	if cd.Volume > 0 && !closeTo(vwap, cd.Notional/cd.Volume) {
		return fmt.Errorf("candle %s %s %s: vwap %v, but notional/volume is %v", cd.Symbol, interval, cd.Start.Format(time.RFC3339), vwap, cd.Notional/cd.Volume)
	}
	c.Candles[CandleKey{cd.Symbol, iv, cd.Start.UnixNano()}] = cd
	return nil
}

func (c *Contents) addSector(sector, interval string, start time.Time, s Sector) error {
	iv, err := parseInterval(interval)
	if err != nil {
		return err
	}
	k := SectorKey{sector, iv, start.UnixNano()}
	acc := c.Sectors[k]
	acc.Volume += s.Volume
	acc.Notional += s.Notional
	acc.Count += s.Count
	c.Sectors[k] = acc
	return nil
}

// Diff is how a store's contents differ from what they should be.
type Diff struct {
	// In is the number of trades that should be stored; Stored the
	// number of distinct trades that are.
	In, Stored int64
	// Doubled and Lost are the trades counted too often and too rarely:
	// extra raw rows or candle counts above the reference, and raw trades
	// missing or candle counts below it.
	Doubled, Lost int64
	// CandlesWrong and SectorWrong are the candle and sector windows that
	// differ from the reference in any field, or are missing or extra.
	CandlesWrong, SectorWrong int
	// Problems say what differs, the first few of each kind.
	Problems []string
}

// OK reports whether the contents are exactly as they should be.
func (d Diff) OK() bool {
	return d.Doubled == 0 && d.Lost == 0 && d.CandlesWrong == 0 && d.SectorWrong == 0 && len(d.Problems) == 0
}

// Figures is the one line a fault test prints about its store.
func (d Diff) Figures(fault string) string {
	return fmt.Sprintf("figures: fault=%q in=%d stored=%d doubled=%d lost=%d candles_wrong=%d sector_wrong=%d",
		fault, d.In, d.Stored, d.Doubled, d.Lost, d.CandlesWrong, d.SectorWrong)
}

// Compare says how got differs from want, field by field.
func Compare(got, want Contents) Diff {
	d := Diff{In: int64(len(want.Trades)), Stored: int64(len(got.Trades))}
	problem := func(format string, args ...any) {
		if len(d.Problems) < 200 {
			d.Problems = append(d.Problems, fmt.Sprintf(format, args...))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want.Trades)) {
		g, ok := got.Trades[id]
		w := want.Trades[id]
		switch {
		case !ok:
			d.Lost++
			problem("trade %s not stored", id)
		case !g.Time.Equal(w.Time) || g.Symbol != w.Symbol || g.Price != w.Price || g.Volume != w.Volume:
			problem("trade %s stored as %+v, want %+v", id, g, w)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(got.Trades)) {
		if _, ok := want.Trades[id]; !ok {
			d.Doubled++
			problem("trade %s stored but not in the input: %+v", id, got.Trades[id])
		}
	}
	if extra := got.Rows - int64(len(got.Trades)); extra > 0 {
		d.Doubled += extra
		problem("%d trade rows for %d trade IDs: %d trades stored more than once", got.Rows, len(got.Trades), extra)
	}
	shortestIv := shortest(want.Candles)
	for _, k := range sortedKeys(want.Candles, got.Candles, compareCandleKeys) {
		w, inWant := want.Candles[k]
		g, inGot := got.Candles[k]
		if k.Interval == shortestIv {
			// Every trade is in exactly one candle of each interval: count
			// doubles and losses once, on the shortest.
			d.Doubled += max(0, g.Count-w.Count)
			d.Lost += max(0, w.Count-g.Count)
		}
		at := time.Unix(0, k.Start).UTC().Format(time.RFC3339)
		switch {
		case !inGot:
			d.CandlesWrong++
			problem("candle %s %s %s missing (want %d trades)", k.Symbol, k.Interval, at, w.Count)
		case !inWant:
			d.CandlesWrong++
			problem("candle %s %s %s unexpected: %+v", k.Symbol, k.Interval, at, g)
		case !sameCandle(g, w):
			d.CandlesWrong++
			problem("candle %s %s %s:\n got %+v\nwant %+v", k.Symbol, k.Interval, at, g, w)
		}
	}
	for _, k := range sortedKeys(want.Sectors, got.Sectors, compareSectorKeys) {
		w, inWant := want.Sectors[k]
		g, inGot := got.Sectors[k]
		at := time.Unix(0, k.Start).UTC().Format(time.RFC3339)
		switch {
		case !inGot:
			d.SectorWrong++
			problem("sector %s %s %s missing (want %+v)", k.Sector, k.Interval, at, w)
		case !inWant:
			d.SectorWrong++
			problem("sector %s %s %s unexpected: %+v", k.Sector, k.Interval, at, g)
		case g.Count != w.Count || !closeTo(g.Volume, w.Volume) || !closeTo(g.Notional, w.Notional):
			d.SectorWrong++
			problem("sector %s %s %s: got %+v, want %+v", k.Sector, k.Interval, at, g, w)
		}
	}
	return d
}

// Check compares got with want, prints the figures line (to the test log,
// and appended to the file TRADETOP_FIGURES_FILE names, if any) and fails t
// unless they are the same.
func Check(t testing.TB, fault string, got, want Contents) Diff {
	t.Helper()
	d := Compare(got, want)
	line := d.Figures(fault)
	t.Log(line)
	WriteFigures(t, line)
	if !d.OK() {
		t.Errorf("%s: the store differs from the reference: doubled=%d lost=%d candles_wrong=%d sector_wrong=%d", fault, d.Doubled, d.Lost, d.CandlesWrong, d.SectorWrong)
		for i, p := range d.Problems {
			if i == 20 {
				t.Errorf("… and %d more differences", len(d.Problems)-i)
				break
			}
			t.Error(p)
		}
	}
	return d
}

// FiguresEnv names the file fault tests append their figures lines to, for
// CI to print and the reliability document to be checked against.
const FiguresEnv = "TRADETOP_FIGURES_FILE"

var figuresMu sync.Mutex

// WriteFigures appends line, with the test's name, to the file FiguresEnv
// names; without it, it does nothing.
func WriteFigures(t testing.TB, line string) {
	t.Helper()
	path := os.Getenv(FiguresEnv)
	if path == "" {
		return
	}
	figuresMu.Lock()
	defer figuresMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("writing figures: %v", err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s %s\n", t.Name(), line); err != nil {
		t.Errorf("writing figures: %v", err)
	}
}

// parseInterval reads an interval column ("1s", "1m", "1h", "1d"), as the
// schema documents it.
func parseInterval(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}
	if len(s) < 2 {
		return 0, fmt.Errorf("interval %q", s)
	}
	unit, ok := units[s[len(s)-1]]
	n, err := strconv.Atoi(s[:len(s)-1])
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("interval %q", s)
	}
	return time.Duration(n) * unit, nil
}

func shortest(m map[CandleKey]agg.Candle) time.Duration {
	var s time.Duration
	for k := range m {
		if s == 0 || k.Interval < s {
			s = k.Interval
		}
	}
	return s
}

func sameCandle(a, b agg.Candle) bool {
	return a.Symbol == b.Symbol && a.Interval == b.Interval && a.Start.Equal(b.Start) &&
		a.Open == b.Open && a.High == b.High && a.Low == b.Low && a.Close == b.Close &&
		closeTo(a.Volume, b.Volume) && closeTo(a.Notional, b.Notional) && a.Count == b.Count
}

// closeTo compares sums that were added up in another order.
func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

func compareCandleKeys(a, b CandleKey) int {
	return cmp.Or(strings.Compare(a.Symbol, b.Symbol), cmp.Compare(a.Interval, b.Interval), cmp.Compare(a.Start, b.Start))
}

func compareSectorKeys(a, b SectorKey) int {
	return cmp.Or(strings.Compare(a.Sector, b.Sector), cmp.Compare(a.Interval, b.Interval), cmp.Compare(a.Start, b.Start))
}

func sortedKeys[K comparable, V any](a, b map[K]V, compare func(K, K) int) []K {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compare)
	return keys
}
