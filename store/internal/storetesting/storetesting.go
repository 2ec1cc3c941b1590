// Package storetesting holds what the tests of both stores share: fixtures,
// and the checks every store.Store must pass, each run against a store that
// open returns.
package storetesting

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/trade"
)

// Day0 is the first day of the fixtures, a Friday.
var Day0 = time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)

// MustWrite writes b to s and fails the test if that fails.
func MustWrite(t testing.TB, s store.Store, b *store.Batch) {
	t.Helper()
	if err := s.Write(t.Context(), b); err != nil {
		t.Fatal(err)
	}
}

// Trades returns n trades of symbol, one a millisecond from start, with ids
// prefix-0, prefix-1, and so on.
func Trades(symbol, prefix string, start time.Time, n int) []trade.Trade {
	ts := make([]trade.Trade, n)
	for i := range ts {
		ts[i] = trade.Trade{
			ID:     prefix + "-" + strconv.Itoa(i),
			Symbol: symbol,
			Price:  100 + float64(i%100)/8,
			Volume: float64(1 + i%10),
			Time:   start.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return ts
}

// Candle returns a candle of symbol whose prices are all price.
func Candle(symbol string, interval time.Duration, start time.Time, price float64) agg.Candle {
	return agg.Candle{
		Symbol: symbol, Interval: interval, Start: start,
		Open: price, High: price + 1, Low: price - 1, Close: price,
		Volume: 10, Notional: 10 * price, Count: 3,
	}
}

// Sector returns a one-minute window of a sector's volume on a Kafka
// partition.
func Sector(name string, start time.Time, partition int32, volume float64) agg.SectorVolume {
	return agg.SectorVolume{
		Sector: name, Interval: time.Minute, Start: start, Partition: partition,
		Volume: volume, Notional: 100 * volume, Count: 1,
	}
}

// TestCandles checks a store's Candles against fixtures written to the
// store open returns.
func TestCandles(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	// AAPL 1m candles every minute from 23:57 on Day0 to 00:03 the next
	// day, written newest first; a 1s candle and an MSFT candle at 23:59.
	var cs []agg.Candle
	base := Day0.Add(24*time.Hour - 3*time.Minute)
	for i := 6; i >= 0; i-- {
		cs = append(cs, Candle("AAPL", time.Minute, base.Add(time.Duration(i)*time.Minute), float64(i)))
	}
	cs = append(cs,
		Candle("AAPL", time.Second, base.Add(2*time.Minute), 50),
		Candle("MSFT", time.Minute, base.Add(2*time.Minute), 60))
	MustWrite(t, s, &store.Batch{Candles: cs})

	minute := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	tests := []struct {
		name     string
		symbol   string
		interval time.Duration
		from, to time.Time
		want     []float64 // Open of each candle, in order
	}{
		{"all", "AAPL", time.Minute, time.Time{}, minute(100), []float64{0, 1, 2, 3, 4, 5, 6}},
		{"across midnight", "AAPL", time.Minute, minute(2), minute(5), []float64{2, 3, 4}},
		{"from is inclusive, to exclusive", "AAPL", time.Minute, minute(1), minute(2), []float64{1}},
		{"inside a window", "AAPL", time.Minute, minute(1).Add(time.Second), minute(2), nil},
		{"next day only", "AAPL", time.Minute, Day0.Add(24 * time.Hour), minute(100), []float64{3, 4, 5, 6}},
		{"empty range", "AAPL", time.Minute, minute(3), minute(3), nil},
		{"reversed range", "AAPL", time.Minute, minute(5), minute(1), nil},
		{"other interval", "AAPL", time.Second, time.Time{}, minute(100), []float64{50}},
		{"other symbol", "MSFT", time.Minute, time.Time{}, minute(100), []float64{60}},
		{"unknown symbol", "IBM", time.Minute, time.Time{}, minute(100), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Candles(t.Context(), tt.symbol, tt.interval, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if opens := candleOpens(got); !equalFloats(opens, tt.want) {
				t.Errorf("opens = %v, want %v", opens, tt.want)
			}
			for _, c := range got {
				if c.Symbol != tt.symbol || c.Interval != tt.interval || c.Start.Location() != time.UTC {
					t.Errorf("candle %+v: want symbol %s, interval %s, UTC start", c, tt.symbol, tt.interval)
				}
			}
		})
	}

	if _, err := s.Candles(t.Context(), "AAPL", 1500*time.Millisecond, time.Time{}, minute(100)); err == nil {
		t.Error("Candles with a 1.5s interval: no error")
	}
}

// TestRecentCandles checks a store's RecentCandles against fixtures written to the
// store open returns.
func TestRecentCandles(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	var cs []agg.Candle
	base := Day0.Add(24*time.Hour - 2*time.Second)
	for i := range 5 { // two seconds of Day0, three of the next day
		cs = append(cs, Candle("AAPL", time.Second, base.Add(time.Duration(i)*time.Second), float64(i)))
	}
	cs = append(cs, Candle("AAPL", time.Minute, base.Add(time.Hour), 99))
	MustWrite(t, s, &store.Batch{Candles: cs})

	tests := []struct {
		name     string
		interval time.Duration
		n        int
		want     []float64
	}{
		{"latest three", time.Second, 3, []float64{2, 3, 4}},
		{"across midnight", time.Second, 4, []float64{1, 2, 3, 4}},
		{"more than stored", time.Second, 100, []float64{0, 1, 2, 3, 4}},
		{"one", time.Second, 1, []float64{4}},
		{"zero", time.Second, 0, nil},
		{"negative", time.Second, -1, nil},
		{"other interval", time.Minute, 10, []float64{99}},
		{"nothing stored", time.Hour, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RecentCandles(t.Context(), "AAPL", tt.interval, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if opens := candleOpens(got); !equalFloats(opens, tt.want) {
				t.Errorf("opens = %v, want %v", opens, tt.want)
			}
		})
	}
}

func candleOpens(cs []agg.Candle) []float64 {
	var opens []float64
	for _, c := range cs {
		opens = append(opens, c.Open)
	}
	return opens
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSectorVolume checks a store's SectorVolume against fixtures written to the
// store open returns.
func TestSectorVolume(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	day1 := Day0.Add(24 * time.Hour)
	MustWrite(t, s, &store.Batch{Sectors: []agg.SectorVolume{
		// Tech on Day0: two windows, three partitions.
		Sector("Tech", Day0, 0, 10),
		Sector("Tech", Day0, 1, 20),
		Sector("Tech", Day0.Add(time.Minute), 2, 30),
		Sector("Tech", Day0.Add(23*time.Hour+59*time.Minute), 0, 5),
		// Energy on Day0: one window, two partitions.
		Sector("Energy", Day0.Add(time.Hour), 0, 40),
		Sector("Energy", Day0.Add(time.Hour), 1, 50),
		// Utilities ties Energy's volume.
		Sector("Utilities", Day0, 3, 90),
		// Only on the next day.
		Sector("Tech", day1, 0, 1000),
		Sector("Health", day1, 0, 7),
	}})

	tests := []struct {
		name string
		day  time.Time
		want []store.SectorTotal
	}{
		{"day0", Day0.Add(13 * time.Hour), []store.SectorTotal{
			{Sector: "Energy", Volume: 90, Notional: 9000, Count: 2},
			{Sector: "Utilities", Volume: 90, Notional: 9000, Count: 1},
			{Sector: "Tech", Volume: 65, Notional: 6500, Count: 4},
		}},
		{"next day", day1, []store.SectorTotal{
			{Sector: "Tech", Volume: 1000, Notional: 100000, Count: 1},
			{Sector: "Health", Volume: 7, Notional: 700, Count: 1},
		}},
		{"day in another zone", time.Date(2026, 1, 2, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)), []store.SectorTotal{
			{Sector: "Tech", Volume: 1000, Notional: 100000, Count: 1},
			{Sector: "Health", Volume: 7, Notional: 700, Count: 1},
		}},
		{"empty day", Day0.Add(-time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.SectorVolume(t.Context(), tt.day)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestTradeCount checks a store's TradeCount against fixtures written to the
// store open returns.
func TestTradeCount(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	late := Day0.Add(24*time.Hour - 100*time.Millisecond)
	MustWrite(t, s, &store.Batch{Trades: slices.Concat(
		Trades("AAPL", "a", late, 250), // 100 on Day0, 150 on the next day
		Trades("MSFT", "m", Day0, 40),
		Trades("MSFT", "m2", Day0.Add(-time.Hour), 3),
	)})
	tests := []struct {
		name   string
		symbol string
		day    time.Time
		want   int64
	}{
		{"AAPL day0", "AAPL", Day0, 100},
		{"AAPL next day", "AAPL", Day0.Add(24 * time.Hour), 150},
		{"AAPL any time of the day", "AAPL", Day0.Add(24*time.Hour + 23*time.Hour), 150},
		{"MSFT day0", "MSFT", Day0, 40},
		{"MSFT day before", "MSFT", Day0.Add(-time.Minute), 3},
		{"unknown symbol", "IBM", Day0, 0},
		{"empty day", "AAPL", Day0.Add(72 * time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.TradeCount(t.Context(), tt.symbol, tt.day)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("TradeCount = %d, want %d", got, tt.want)
			}
		})
	}
}

// BenchBatch fills b with iteration i of a workload of n trades a batch, a
// multiple of 2000: n/2000 seconds of 2000 trades a second over 50 symbols,
// with a 1s and a 1m candle for each symbol and second and 20 sector rows (10
// sectors, 2 partitions) a second, all with keys no other iteration uses.
func BenchBatch(b *store.Batch, i, n int) {
	const symbols, sectors, perSecond = 50, 10, 2000
	seconds := n / perSecond
	start := Day0.Add(time.Duration(i*seconds) * time.Second)
	prefix := "s7-" + strconv.Itoa(i) + "-"
	b.Trades, b.Candles, b.Sectors = b.Trades[:0], b.Candles[:0], b.Sectors[:0]
	for j := range n {
		b.Trades = append(b.Trades, trade.Trade{
			ID:     prefix + strconv.Itoa(j),
			Symbol: "SYM" + strconv.Itoa(j%symbols),
			Price:  100 + float64(j%1000)/64,
			Volume: float64(1 + j%500),
			Time:   start.Add(time.Duration(j) * time.Second / perSecond),
		})
	}
	for sec := range seconds {
		at := start.Add(time.Duration(sec) * time.Second)
		for j := range symbols {
			sym := "SYM" + strconv.Itoa(j)
			b.Candles = append(b.Candles,
				Candle(sym, time.Second, at, 100+float64(j)),
				Candle(sym, time.Minute, at, 100+float64(j))) // a start of its own, like a later minute
		}
		for j := range sectors * 2 {
			b.Sectors = append(b.Sectors, Sector("Sector"+strconv.Itoa(j/2), at, int32(j%2), float64(j)))
		}
	}
}

// TestReread writes trades of two Kafka partitions across midnight, out of
// order, some of them again as copies at later offsets, and reads one
// partition back.
func TestReread(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	at := func(d time.Duration) time.Time { return Day0.Add(24*time.Hour + d) }
	tr := func(id, sym string, d time.Duration, price float64) trade.Trade {
		return trade.Trade{ID: id, Symbol: sym, Price: price, Volume: 1, Time: at(d)}
	}
	var b store.Batch
	add := func(t trade.Trade, part int32, off int64, ifAbsent bool) {
		b.Trades = append(b.Trades, t)
		b.Origins = append(b.Origins, store.Origin{Partition: part, Offset: off, IfAbsent: ifAbsent})
	}
	add(tr("a1", "AAPL", -2*time.Second, 10), 1, 100, false) // the day before
	add(tr("m1", "MSFT", -time.Second, 20), 1, 101, false)
	add(tr("a2", "AAPL", 500*time.Microsecond, 11), 1, 102, false)
	add(tr("x1", "XOM", 0, 30), 2, 100, false)                     // another partition
	add(tr("a0", "AAPL", -time.Hour, 9), 1, 103, false)            // before since
	add(tr("a3", "AAPL", 300*time.Microsecond, 12), 1, 104, false) // earlier than a2, read later
	add(tr("m2", "MSFT", time.Second, 21), 1, 200, false)          // at or after before
	MustWrite(t, s, &b)
	// A copy of m1 read again, late, at a later offset: it must not move
	// m1's origin. A late trade not stored yet is stored.
	b = store.Batch{}
	add(tr("m1", "MSFT", -time.Second, 20), 1, 150, true)
	add(tr("a4", "AAPL", -1500*time.Millisecond, 13), 1, 105, true)
	MustWrite(t, s, &b)
	// Trades written without an origin are not read back.
	MustWrite(t, s, &store.Batch{Trades: []trade.Trade{tr("n1", "AAPL", 10*time.Millisecond, 14)}})

	reread := func(partition int32, since time.Time, before int64) map[string][]trade.Trade {
		t.Helper()
		got := map[string][]trade.Trade{}
		err := s.Reread(t.Context(), partition, since, before, func(tr trade.Trade) error {
			got[tr.Symbol] = append(got[tr.Symbol], tr)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ids := func(ts []trade.Trade) []string {
		var out []string
		for _, x := range ts {
			out = append(out, x.ID)
		}
		return out
	}
	got := reread(1, at(-3*time.Second), 150)
	if len(got) != 2 || !slices.Equal(ids(got["AAPL"]), []string{"a1", "a2", "a3", "a4"}) || !slices.Equal(ids(got["MSFT"]), []string{"m1"}) {
		t.Fatalf("Reread = %v, want AAPL a1 a2 a3 a4 and MSFT m1 (each symbol's in read order, partition 1, from since, before offset 150)", got)
	}
	if g := got["AAPL"][1]; g.Symbol != "AAPL" || g.Price != 11 || g.Volume != 1 || !g.Time.Equal(at(500*time.Microsecond)) {
		t.Errorf("a2 read back as %+v", g)
	}
	// m1 keeps the offset it was first read at: before 101 it is not.
	if got := reread(1, at(-3*time.Second), 101); len(got) != 1 || !slices.Equal(ids(got["AAPL"]), []string{"a1"}) {
		t.Errorf("Reread before 101 = %v, want a1 only", got)
	}
	if got := reread(3, Day0, 1000); len(got) != 0 {
		t.Errorf("Reread of a partition with nothing = %v", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Reread(t.Context(), 1, Day0, 1000, func(trade.Trade) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Reread with a failing callback = %v after %d calls, want its error after one", err, n)
	}
}

// TestWriteTwiceStoresOnce writes a batch twice, with copies of rows
// inside it too, and checks that each key is stored once, with the first
// trade and the last candle and sector rows.
func TestWriteTwiceStoresOnce(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	// 300 trades of one symbol, 10 of them twice, 2 of the day before,
	// copies of a candle and of a sector row inside the batch. The last
	// copies hold the smaller values, so that a store which settles ties
	// by value (as Cassandra does for writes of one timestamp) keeps the
	// wrong one.
	b := &store.Batch{
		Trades: slices.Concat(Trades("AAPL", "a", Day0.Add(time.Hour), 300), Trades("AAPL", "a", Day0.Add(time.Hour), 10),
			Trades("MSFT", "m", Day0.Add(-time.Second), 2)),
		Candles: []agg.Candle{Candle("AAPL", time.Second, Day0, 2), Candle("AAPL", time.Second, Day0, 1)},
		Sectors: []agg.SectorVolume{Sector("Tech", Day0, 0, 1), Sector("Tech", Day0, 1, 4), Sector("Tech", Day0, 1, 2)},
	}
	for range 2 {
		MustWrite(t, s, b)
	}
	count := func(symbol string, day time.Time) int64 {
		n, err := s.TradeCount(t.Context(), symbol, day)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count("AAPL", Day0); got != 300 {
		t.Errorf("AAPL trades = %d, want 300", got)
	}
	if got := count("MSFT", Day0.Add(-time.Hour)); got != 2 {
		t.Errorf("MSFT trades the day before = %d, want 2", got)
	}
	cs, err := s.RecentCandles(t.Context(), "AAPL", time.Second, 10)
	if err != nil || len(cs) != 1 || cs[0] != b.Candles[1] {
		t.Errorf("candles = %+v, %v; want the batch's last copy, %+v", cs, err, b.Candles[1])
	}
	sv, err := s.SectorVolume(t.Context(), Day0)
	want := store.SectorTotal{Sector: "Tech", Volume: 3, Notional: 300, Count: 2}
	if err != nil || len(sv) != 1 || sv[0] != want {
		t.Errorf("sector volume = %+v, %v; want [%+v]: partition 0's 1 and partition 1's last copy, 2", sv, err, want)
	}
}

// TestLastCopyInABigBatchWins writes a batch of many candles and sector
// rows, each key twice, the second copy with other values, as one write:
// the store must keep every second copy, however it orders the rows.
func TestLastCopyInABigBatchWins(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	const symbols = 60
	var b store.Batch
	for copyN := range 2 {
		for i := range symbols {
			b.Candles = append(b.Candles, Candle("S"+strconv.Itoa(i), time.Second, Day0, float64(10+i-copyN)))
			b.Sectors = append(b.Sectors, Sector("Sector"+strconv.Itoa(i), Day0, 0, float64(100+i-copyN)))
		}
	}
	MustWrite(t, s, &b)
	for i := range symbols {
		cs, err := s.RecentCandles(t.Context(), "S"+strconv.Itoa(i), time.Second, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := b.Candles[symbols+i]; len(cs) != 1 || cs[0] != want {
			t.Errorf("S%d: candles %+v, want the last copy %+v", i, cs, want)
		}
	}
	sv, err := s.SectorVolume(t.Context(), Day0)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sv {
		i, _ := strconv.Atoi(strings.TrimPrefix(st.Sector, "Sector"))
		if want := float64(99 + i); st.Volume != want {
			t.Errorf("%s: volume %v, want the last copy's %v", st.Sector, st.Volume, want)
		}
	}
	if len(sv) != symbols {
		t.Errorf("%d sectors, want %d", len(sv), symbols)
	}
}

// TestLastWriteWins writes a candle and a sector row, then new values of
// both, and reads the new values back.
func TestLastWriteWins(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	ctx := t.Context()
	first := Candle("AAPL", time.Second, Day0, 1)
	last := Candle("AAPL", time.Second, Day0, 2)
	last.Count = 7
	MustWrite(t, s, &store.Batch{
		Candles: []agg.Candle{first},
		Sectors: []agg.SectorVolume{Sector("Tech", Day0, 0, 1)},
	})
	MustWrite(t, s, &store.Batch{
		Candles: []agg.Candle{last},
		Sectors: []agg.SectorVolume{Sector("Tech", Day0, 0, 5)},
	})
	cs, err := s.Candles(ctx, "AAPL", time.Second, Day0, Day0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0] != last {
		t.Errorf("candles = %+v, want [%+v]", cs, last)
	}
	st, err := s.SectorVolume(ctx, Day0)
	if err != nil {
		t.Fatal(err)
	}
	want := store.SectorTotal{Sector: "Tech", Volume: 5, Notional: 500, Count: 1}
	if len(st) != 1 || st[0] != want {
		t.Errorf("sector volume = %+v, want [%+v]", st, want)
	}
}

// TestRefusesBadRows checks that a batch with a row no key can hold is
// refused whole.
func TestRefusesBadRows(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	tests := []struct {
		name  string
		batch store.Batch
	}{
		{"a 1.5s candle", store.Batch{
			Trades:  Trades("AAPL", "bad-candle", Day0, 3),
			Candles: []agg.Candle{Candle("AAPL", 1500*time.Millisecond, Day0, 1)},
		}},
		{"origins that do not match the trades", store.Batch{
			Trades:  Trades("AAPL", "bad-origins", Day0, 3),
			Origins: []store.Origin{{Partition: 0, Offset: 1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Write(t.Context(), &tt.batch); err == nil {
				t.Error("Write = nil, want an error")
			}
		})
	}
	if n, err := s.TradeCount(t.Context(), "AAPL", Day0); err != nil || n != 0 {
		t.Errorf("TradeCount after refused writes = %d, %v; want 0: nothing of a refused batch is stored", n, err)
	}
}

// TestClose checks that Close is safe twice and that the store refuses
// work after it.
func TestClose(t *testing.T, open func(testing.TB) store.Store) {
	s := open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Write(t.Context(), &store.Batch{Trades: Trades("AAPL", "x", Day0, 1)}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := s.TradeCount(t.Context(), "AAPL", Day0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("TradeCount after Close: %v", err)
	}
	if _, err := s.SectorVolume(t.Context(), Day0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("SectorVolume after Close: %v", err)
	}
	if err := s.Reread(t.Context(), 0, Day0, 1, func(trade.Trade) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Reread after Close: %v", err)
	}
}

// Suite runs every check a store.Store must pass, each against a store
// open returns.
func Suite(t *testing.T, open func(testing.TB) store.Store) {
	for _, c := range []struct {
		name string
		test func(*testing.T, func(testing.TB) store.Store)
	}{
		{"Candles", TestCandles},
		{"RecentCandles", TestRecentCandles},
		{"SectorVolume", TestSectorVolume},
		{"TradeCount", TestTradeCount},
		{"Reread", TestReread},
		{"WriteTwiceStoresOnce", TestWriteTwiceStoresOnce},
		{"LastWriteWins", TestLastWriteWins},
		{"LastCopyInABigBatchWins", TestLastCopyInABigBatchWins},
		{"RefusesBadRows", TestRefusesBadRows},
		{"Close", TestClose},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open) })
	}
}
