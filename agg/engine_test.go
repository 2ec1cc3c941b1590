package agg

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/trade"
)

var t0 = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

func tr(sym string, at time.Duration, price, vol float64) trade.Trade {
	return trade.Trade{ID: sym + "-" + at.String(), Symbol: sym, Price: price, Volume: vol, Time: t0.Add(at)}
}

func sectorOf(sym string) string {
	switch sym {
	case "AAPL", "MSFT":
		return "Tech"
	case "XOM":
		return "Energy"
	}
	return "Other"
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.Sector == nil {
		cfg.Sector = sectorOf
	}
	e, err := New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func key(c Candle) string {
	return fmt.Sprintf("%s/%s/%s", c.Symbol, c.Interval, c.Start.Format("15:04:05"))
}

func closedCandles(e *Engine) map[string]Candle {
	var c Closed
	e.TakeClosed(&c)
	m := map[string]Candle{}
	for _, cd := range c.Candles {
		m[key(cd)] = cd
	}
	return m
}

func TestWindows(t *testing.T) {
	second := Config{Intervals: []time.Duration{time.Second}, SectorInterval: time.Minute, AllowedLateness: new(time.Duration(0))}
	tests := []struct {
		name   string
		cfg    Config
		trades []trade.Trade
		stop   bool
		want   map[string]Candle // closed candles of interval 1s, by key
		late   int64
	}{
		{
			name: "trade at a window's start belongs to it; one at its end to the next",
			cfg:  second,
			trades: []trade.Trade{
				tr("AAPL", 0, 10, 1),
				tr("AAPL", time.Second-1, 11, 2),
				tr("AAPL", time.Second, 12, 3),
				tr("AAPL", 2*time.Second, 13, 1),
			},
			want: map[string]Candle{
				"AAPL/1s/15:00:00": {Symbol: "AAPL", Interval: time.Second, Start: t0, Open: 10, High: 11, Low: 10, Close: 11, Volume: 3, Notional: 32, Count: 2},
				"AAPL/1s/15:00:01": {Symbol: "AAPL", Interval: time.Second, Start: t0.Add(time.Second), Open: 12, High: 12, Low: 12, Close: 12, Volume: 3, Notional: 36, Count: 1},
			},
		},
		{
			name: "empty windows produce no candle",
			cfg:  second,
			trades: []trade.Trade{
				tr("AAPL", 0, 10, 1),
				tr("AAPL", 5*time.Second, 11, 1),
			},
			want: map[string]Candle{
				"AAPL/1s/15:00:00": {Symbol: "AAPL", Interval: time.Second, Start: t0, Open: 10, High: 10, Low: 10, Close: 10, Volume: 1, Notional: 10, Count: 1},
			},
		},
		{
			name: "out of order within lateness counts; open and close follow arrival",
			cfg:  Config{Intervals: []time.Duration{time.Second}, AllowedLateness: new(2 * time.Second)},
			trades: []trade.Trade{
				tr("AAPL", 500*time.Millisecond, 10, 1),
				tr("AAPL", 2500*time.Millisecond, 30, 1),
				tr("AAPL", 100*time.Millisecond, 5, 1), // earlier in time, later in arrival
				tr("AAPL", 5*time.Second, 50, 1),
			},
			want: map[string]Candle{
				"AAPL/1s/15:00:00": {Symbol: "AAPL", Interval: time.Second, Start: t0, Open: 10, High: 10, Low: 5, Close: 5, Volume: 2, Notional: 15, Count: 2},
				"AAPL/1s/15:00:02": {Symbol: "AAPL", Interval: time.Second, Start: t0.Add(2 * time.Second), Open: 30, High: 30, Low: 30, Close: 30, Volume: 1, Notional: 30, Count: 1},
			},
		},
		{
			name: "a trade behind the watermark is late and left out",
			cfg:  Config{Intervals: []time.Duration{time.Second}, AllowedLateness: new(time.Second)},
			trades: []trade.Trade{
				tr("AAPL", 0, 10, 1),
				tr("AAPL", 3*time.Second, 30, 1), // watermark 2s closes [0s,1s)
				tr("AAPL", 500*time.Millisecond, 99, 1),
				tr("AAPL", 10*time.Second, 40, 1),
			},
			want: map[string]Candle{
				"AAPL/1s/15:00:00": {Symbol: "AAPL", Interval: time.Second, Start: t0, Open: 10, High: 10, Low: 10, Close: 10, Volume: 1, Notional: 10, Count: 1},
				"AAPL/1s/15:00:03": {Symbol: "AAPL", Interval: time.Second, Start: t0.Add(3 * time.Second), Open: 30, High: 30, Low: 30, Close: 30, Volume: 1, Notional: 30, Count: 1},
			},
			late: 1,
		},
		{
			name: "symbols are windowed apart",
			cfg:  second,
			trades: []trade.Trade{
				tr("AAPL", 0, 10, 1),
				tr("XOM", 10*time.Millisecond, 100, 2),
				tr("AAPL", 1500*time.Millisecond, 11, 1),
			},
			want: map[string]Candle{
				"AAPL/1s/15:00:00": {Symbol: "AAPL", Interval: time.Second, Start: t0, Open: 10, High: 10, Low: 10, Close: 10, Volume: 1, Notional: 10, Count: 1},
				"XOM/1s/15:00:00":  {Symbol: "XOM", Interval: time.Second, Start: t0, Open: 100, High: 100, Low: 100, Close: 100, Volume: 2, Notional: 200, Count: 1},
			},
		},
		{
			name:   "a stop stores open windows as they stand",
			cfg:    second,
			trades: []trade.Trade{tr("AAPL", 200*time.Millisecond, 10, 1)},
			stop:   true,
			want: map[string]Candle{
				"AAPL/1s/15:00:00": {Symbol: "AAPL", Interval: time.Second, Start: t0, Open: 10, High: 10, Low: 10, Close: 10, Volume: 1, Notional: 10, Count: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, tt.cfg)
			for i := range tt.trades {
				e.Add(&tt.trades[i])
			}
			got := closedCandles(e)
			if tt.stop {
				var c Closed
				e.AppendOpen(&c)
				for _, cd := range c.Candles {
					got[key(cd)] = cd
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("closed %d candles %v, want %d", len(got), got, len(tt.want))
			}
			for k, w := range tt.want {
				if g, ok := got[k]; !ok || g != w {
					t.Errorf("candle %s = %+v, want %+v", k, g, w)
				}
			}
			if e.Late() != tt.late {
				t.Errorf("late = %d, want %d", e.Late(), tt.late)
			}
		})
	}
}

func TestSectorVolumeByPartition(t *testing.T) {
	e := newEngine(t, Config{Intervals: []time.Duration{time.Minute}, SectorInterval: time.Minute, AllowedLateness: new(time.Duration(0))})
	for _, x := range []trade.Trade{
		tr("AAPL", 0, 10, 1),
		tr("MSFT", time.Second, 20, 2),
		tr("XOM", 2*time.Second, 30, 3),
		tr("ZZZ", 3*time.Second, 40, 4),
		tr("AAPL", time.Minute, 10, 5),
	} {
		e.Add(&x)
	}
	var c Closed
	e.TakeClosed(&c)
	got := map[string]SectorVolume{}
	for _, s := range c.Sectors {
		got[s.Sector] = s
	}
	want := map[string]SectorVolume{
		"Tech":   {Sector: "Tech", Interval: time.Minute, Start: t0, Partition: 3, Volume: 3, Notional: 50, Count: 2},
		"Energy": {Sector: "Energy", Interval: time.Minute, Start: t0, Partition: 3, Volume: 3, Notional: 90, Count: 1},
		"Other":  {Sector: "Other", Interval: time.Minute, Start: t0, Partition: 3, Volume: 4, Notional: 160, Count: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("sector rows %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("sector %s = %+v, want %+v", k, got[k], w)
		}
	}
	days := e.AppendSectorDays(nil)
	var total float64
	for _, d := range days {
		total += d.Volume
	}
	if total != 15 {
		t.Errorf("day volume over sectors = %v, want 15", total)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"5s and 1h", Config{Intervals: []time.Duration{5 * time.Second, time.Hour}}, true},
		{"negative window", Config{Intervals: []time.Duration{-time.Second}}, false},
		{"sub-second window", Config{Intervals: []time.Duration{500 * time.Millisecond}}, false},
		{"window not dividing a day", Config{Intervals: []time.Duration{7 * time.Second}}, false},
		{"duplicate window", Config{Intervals: []time.Duration{time.Second, time.Second}}, false},
		{"bad sector window", Config{SectorInterval: 13 * time.Hour}, false},
		{"negative lateness", Config{AllowedLateness: new(-time.Second)}, false},
		{"zero lateness", Config{AllowedLateness: new(time.Duration(0))}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// stream makes a partition's worth of trades with event times that wander
// back and forth, some beyond the allowed lateness.
func stream(r *rand.Rand, n int) []trade.Trade {
	syms := []string{"AAPL", "MSFT", "XOM", "ZZZ"}
	out := make([]trade.Trade, n)
	at := time.Duration(0)
	for i := range out {
		at += time.Duration(r.IntN(40)) * time.Millisecond
		jitter := time.Duration(r.IntN(3000)) * time.Millisecond
		if r.IntN(50) == 0 {
			jitter = time.Duration(r.IntN(90)) * time.Second
		}
		out[i] = tr(syms[r.IntN(len(syms))], at-jitter+time.Hour, float64(1+r.IntN(1000))/8, float64(1+r.IntN(9)))
		// IDs of every form: a sequence number after a prefix, as
		// generated and replayed trades have, or not.
		switch i % 4 {
		case 0:
			out[i].ID = strconv.Itoa(i)
		case 1:
			out[i].ID = "s7-1767366000000-" + strconv.Itoa(i)
		case 2:
			out[i].ID = "f-" + strconv.FormatUint(uint64(i)*0x9e3779b97f4a7c15, 16) + "-0"
		default:
			out[i].ID = "x" + strconv.Itoa(i) + "z"
		}
	}
	return out
}

// store applies closed windows as upserts, like the real stores, and keeps
// the raw trades with the offset they were read at, as Cassandra does: an
// upsert (the last write wins), but a late trade only if its ID is not
// stored yet, and a duplicate not at all (see pipeline).
type store struct {
	candles map[string]Candle
	sectors map[string]SectorVolume
	raw     map[string]rawRow
}

type rawRow struct {
	t      trade.Trade
	offset int64
}

func newStore() store {
	return store{map[string]Candle{}, map[string]SectorVolume{}, map[string]rawRow{}}
}

func (s *store) write(c *Closed) {
	for _, cd := range c.Candles {
		s.candles[key(cd)] = cd
	}
	for _, sv := range c.Sectors {
		s.sectors[fmt.Sprintf("%s/%s", sv.Sector, sv.Start.Format("15:04:05"))] = sv
	}
	c.Reset()
}

// read is a trade read at an offset and what Add made of it.
type read struct {
	t       trade.Trade
	offset  int64
	outcome Outcome
}

func (s *store) writeRaw(rs []read) {
	for _, r := range rs {
		switch _, stored := s.raw[r.t.ID]; {
		case r.outcome == Duplicate, r.outcome == Late && stored:
		default:
			s.raw[r.t.ID] = rawRow{r.t, r.offset}
		}
	}
}

// reread is what a partition's new owner reads back to rebuild its open
// windows: the trades read before the committed offset, with event times
// from since on, each symbol's in offset order, the symbols in an order of
// their own (r's).
func (s *store) reread(since time.Time, before int64, r *rand.Rand) []trade.Trade {
	var rows []rawRow
	for _, row := range s.raw {
		if row.offset < before && !row.t.Time.Before(since) {
			rows = append(rows, row)
		}
	}
	rank := map[string]int{}
	for _, sym := range []string{"AAPL", "MSFT", "XOM", "ZZZ"} {
		rank[sym] = r.IntN(100)
	}
	slices.SortFunc(rows, func(a, b rawRow) int {
		return cmp.Or(cmp.Compare(rank[a.t.Symbol], rank[b.t.Symbol]), strings.Compare(a.t.Symbol, b.t.Symbol), cmp.Compare(a.offset, b.offset))
	})
	out := make([]trade.Trade, len(rows))
	for i, row := range rows {
		out[i] = row.t
	}
	return out
}

// TestReplayFromCommitIsExact checks the commit protocol: processing a
// partition, crashing at an arbitrary point, and resuming from the last
// committed offset and watermark leaves the store exactly as one uninterrupted
// run does.
func TestReplayFromCommitIsExact(t *testing.T) {
	cfg := Config{Intervals: []time.Duration{time.Second, time.Minute}, SectorInterval: time.Minute, AllowedLateness: new(2 * time.Second)}
	for seed := range uint64(60) {
		r := rand.New(rand.NewPCG(seed, 99))
		in := stream(r, 3000)
		want := runOnce(t, cfg, in)
		got := runWithCrashes(t, cfg, in, r)
		sameStore(t, fmt.Sprintf("seed %d", seed), got, want)
	}
}

// TestDuplicatesCountOnce checks that trades delivered again — at once, a
// little later, or long after, as a producer retry or a re-ingest after a
// crash delivers them — leave the store exactly as the stream without them
// does, with or without crashes in between.
func TestDuplicatesCountOnce(t *testing.T) {
	cfg := Config{Intervals: []time.Duration{time.Second, time.Minute}, SectorInterval: time.Minute, AllowedLateness: new(2 * time.Second)}
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		in := stream(r, 3000)
		want := runOnce(t, cfg, in)

		var dup []trade.Trade
		copies := 0
		for i := range in {
			dup = append(dup, in[i])
			switch r.IntN(20) {
			case 0: // a retry: again at once
				dup = append(dup, in[i])
				copies++
			case 1: // a resend of an earlier stretch
				from := max(0, i-r.IntN(200))
				dup = append(dup, in[from:i+1]...)
				copies += i + 1 - from
			case 2: // a resend from about when the minute windows close
				if i > 1700 {
					from := i - 1300 - r.IntN(400)
					dup = append(dup, in[from:from+50]...)
					copies += 50
				}
			}
		}
		if seed == 0 {
			// A re-ingest of the whole input after it all went through.
			dup = append(dup, in...)
			copies += len(in)
		}
		e := newEngine(t, cfg)
		late := int64(0)
		for i := range dup {
			if e.Add(&dup[i]) == Late {
				late++
			}
		}
		if got := e.Duplicates() + late - lateIn(t, cfg, in); got != int64(copies) {
			t.Fatalf("seed %d: duplicates %d + late copies %d = %d, want the %d copies", seed, e.Duplicates(), late-lateIn(t, cfg, in), got, copies)
		}
		sameStore(t, fmt.Sprintf("seed %d, one run", seed), runOnce(t, cfg, dup), want)
		sameStore(t, fmt.Sprintf("seed %d, with crashes", seed), runWithCrashes(t, cfg, dup, r), want)
	}
}

func lateIn(t *testing.T, cfg Config, in []trade.Trade) int64 {
	e := newEngine(t, cfg)
	for i := range in {
		e.Add(&in[i])
	}
	return e.Late()
}

// runOnce runs in through one engine and stores its windows, the open ones
// as they stand, as an uninterrupted run with a clean stop does.
func runOnce(t *testing.T, cfg Config, in []trade.Trade) store {
	s := newStore()
	e := newEngine(t, cfg)
	var c Closed
	for i := range in {
		e.Add(&in[i])
	}
	e.TakeClosed(&c)
	e.AppendOpen(&c)
	s.write(&c)
	return s
}

// runWithCrashes runs in with up to four interruptions at random points,
// each followed by a new engine that resumes from the last committed offset
// and watermark: it rebuilds the open windows from the stored trades read
// before that offset, then reads on from it. Batches (raw trades and closed
// windows) are stored at random points, and then committed at the read
// position, or not: a crash may fall between the two. An interruption is a
// crash, or a clean stop that stores the open windows as they stand and
// commits.
func runWithCrashes(t *testing.T, cfg Config, in []trade.Trade, r *rand.Rand) store {
	got := newStore()
	var c Closed
	var pending []read
	next := 0
	var wm time.Time
	hasWM := false
	for run := 0; next < len(in); run++ {
		e := newEngine(t, cfg)
		if hasWM {
			e.AdvanceWatermark(wm)
			for _, x := range got.reread(cfg.OpenSince(wm), int64(next), r) {
				e.Restore(&x)
			}
		}
		pending = pending[:0]
		crash, failed := len(in), false
		if run < 4 {
			crash = next + r.IntN(len(in)-next+1)
		}
		for i := next; i < crash; i++ {
			pending = append(pending, read{in[i], int64(i), e.Add(&in[i])})
			if r.IntN(25) == 0 && run < 4 && r.IntN(10) == 0 {
				// A write that failed part of the way, then a crash:
				// some rows of the batch are stored, not all.
				for _, p := range pending {
					if r.IntN(2) == 0 {
						got.writeRaw([]read{p})
					}
				}
				crash, failed = i+1, true
				break
			}
			if r.IntN(25) == 0 { // a batch: store, then maybe commit
				got.writeRaw(pending)
				pending = pending[:0]
				e.TakeClosed(&c)
				got.write(&c)
				if r.IntN(4) != 0 {
					next = i + 1
					wm, hasWM = e.Watermark()
				}
			}
		}
		if !failed && (crash == len(in) || r.IntN(2) == 0) {
			got.writeRaw(pending)
			e.TakeClosed(&c)
			e.AppendOpen(&c)
			got.write(&c)
			next = crash
			wm, hasWM = e.Watermark()
		}
		if crash == len(in) && !failed {
			break // the input is exhausted
		}
	}
	return got
}

func sameStore(t *testing.T, what string, got, want store) {
	t.Helper()
	if len(got.candles) != len(want.candles) || len(got.sectors) != len(want.sectors) {
		t.Fatalf("%s: %d candles, %d sector rows; want %d, %d", what, len(got.candles), len(got.sectors), len(want.candles), len(want.sectors))
	}
	for k, w := range want.candles {
		if got.candles[k] != w {
			t.Fatalf("%s: candle %s = %+v, want %+v", what, k, got.candles[k], w)
		}
	}
	for k, w := range want.sectors {
		if got.sectors[k] != w {
			t.Fatalf("%s: sector %s = %+v, want %+v", what, k, got.sectors[k], w)
		}
	}
}

func TestDuplicateOutcomes(t *testing.T) {
	cfg := Config{Intervals: []time.Duration{time.Second, time.Minute}, SectorInterval: time.Minute, AllowedLateness: new(time.Second)}
	e := newEngine(t, cfg)
	a := tr("AAPL", 100*time.Millisecond, 10, 1)
	b := tr("AAPL", 200*time.Millisecond, 11, 2)
	later := tr("MSFT", 5*time.Second, 12, 1) // closes the first second
	for _, step := range []struct {
		x    trade.Trade
		want Outcome
	}{
		{a, Counted},
		{a, Duplicate}, // at once
		{b, Counted},
		{later, Counted},
		{a, Duplicate}, // its second has closed, its minute is open
		{later, Duplicate},
	} {
		if got := e.Add(&step.x); got != step.want {
			t.Fatalf("%s: %s, want %s", step.x.ID, got, step.want)
		}
	}
	if e.Duplicates() != 3 || e.Late() != 0 {
		t.Errorf("duplicates %d, late %d; want 3, 0", e.Duplicates(), e.Late())
	}
	// Past the minute every window of a has closed: its IDs are forgotten
	// and a copy is late, like any trade for a closed window.
	next := tr("MSFT", 2*time.Minute, 12, 1)
	e.Add(&next)
	if len(e.seen) != 1 {
		t.Errorf("%d buckets of IDs kept after the first minute closed, want 1", len(e.seen))
	}
	if got := e.Add(&a); got != Late {
		t.Errorf("a copy after its windows closed: %s, want late", got)
	}
	// A trade without an ID cannot be recognised: it always counts.
	anon := tr("XOM", 2*time.Minute, 1, 1)
	anon.ID = ""
	if e.Add(&anon) != Counted || e.Add(&anon) != Counted {
		t.Error("trades without an ID are not all counted")
	}
}

func TestIDsEndingInANumberAreKeptApart(t *testing.T) {
	s := &idSet{seqs: map[[2]uint64]map[uint64]uint64{}, ids: map[[2]uint64]struct{}{}}
	ids := []string{
		"a7", "a007", "a07", "a70", "a", "7", "0", "00", "a0",
		"a1", "a12", "a-1", "a-12", "b12",
		"s1-1767366000000-63", "s1-1767366000000-64", "s1-1767366000000-65",
		"n123456789012345678", "n1234567890123456789", "n-18446744073709551615",
		"x@1767366000000", "@1767366000000:s1-1767366000000-5",
	}
	for _, id := range ids {
		if s.add(id) {
			t.Errorf("%q taken for a duplicate of an earlier, different ID", id)
		}
	}
	for _, id := range ids {
		if !s.add(id) {
			t.Errorf("%q again not recognised", id)
		}
	}
}

func TestIDHashIsFNV128a(t *testing.T) {
	for _, id := range []string{"", "a", "s1-1767366000000-42", "f-9c1d3e-7", string(make([]byte, 300))} {
		h := fnv.New128a()
		h.Write([]byte(id))
		sum := h.Sum(nil)
		want := [2]uint64{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
		if got := idHash(id); got != want {
			t.Errorf("idHash(%q) = %x, want %x", id, got, want)
		}
	}
}

func TestAddDoesNotAllocate(t *testing.T) {
	e := newEngine(t, Config{})
	in := benchTrades(10000)
	for i := range in {
		e.Add(&in[i])
	}
	var c Closed
	e.TakeClosed(&c)
	i := 0
	allocs := testing.AllocsPerRun(5000, func() {
		x := in[i%len(in)]
		// Each pass over in is minutes later, so its IDs are new again.
		x.Time = x.Time.Add(time.Duration(1+i/len(in)) * 3 * time.Minute)
		e.Add(&x)
		if i%500 == 0 {
			c.Reset()
			e.TakeClosed(&c)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("Add allocates %.2f times per trade in steady state, want 0", allocs)
	}
}

func benchTrades(n int) []trade.Trade {
	r := rand.New(rand.NewPCG(1, 2))
	syms := make([]string, 50)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%02d", i)
	}
	out := make([]trade.Trade, n)
	at := time.Duration(0)
	for i := range out {
		at += time.Duration(r.IntN(20)) * time.Microsecond
		out[i] = trade.Trade{ID: strconv.Itoa(i), Symbol: syms[r.IntN(len(syms))], Price: 100 + r.Float64(), Volume: 100, Time: t0.Add(at)}
	}
	return out
}

func BenchmarkEngineAdd(b *testing.B) {
	in := benchTrades(1 << 16)
	e, _ := New(Config{Sector: func(s string) string { return s[:2] }}, 0)
	var c Closed
	// Each pass over in is whole minutes later, past every window of the
	// previous pass, so its IDs are new again.
	span := in[len(in)-1].Time.Sub(in[0].Time).Truncate(time.Minute) + 3*time.Minute
	shift := time.Duration(0)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		x := in[i]
		x.Time = x.Time.Add(shift)
		e.Add(&x)
		if i++; i == len(in) {
			i = 0
			shift += span
			c.Reset()
			e.TakeClosed(&c)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "trades/s")
}
