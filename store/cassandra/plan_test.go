package cassandra

import (
	"fmt"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/internal/rowkey"
	"github.com/tradetop/tradetop/trade"
)

// planned plans b on a store that never connects, with cfg's batch limits.
func planned(t *testing.T, cfg Config, b *store.Batch) []*gocql.Batch {
	t.Helper()
	c := &Store{cfg: cfg.WithDefaults(), session: &gocql.Session{},
		days: map[candleDay]struct{}{}, indexed: map[rowkey.Index]struct{}{}}
	jobs, _, _, err := c.plan(t.Context(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// symbolTrades returns n trades of each symbol, one day.
func symbolTrades(n int, symbols ...string) []trade.Trade {
	t0 := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	var out []trade.Trade
	for _, s := range symbols {
		for i := range n {
			out = append(out, trade.Trade{ID: fmt.Sprintf("%s-%d", s, i), Symbol: s, Price: 1, Volume: 1, Time: t0.Add(time.Duration(i) * time.Millisecond)})
		}
	}
	return out
}

func symbols(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("S%03d", i)
	}
	return out
}

// shape returns, for each batch, how many partitions (symbols, for trade
// rows) it holds rows of and how many rows, and checks every trade is in
// exactly one batch.
func shape(t *testing.T, jobs []*gocql.Batch, trades []trade.Trade) (parts, rows []int) {
	t.Helper()
	seen := map[string]int{}
	for _, j := range jobs {
		syms := map[any]bool{}
		for _, e := range j.Entries {
			syms[e.Args[0]] = true
			seen[e.Args[3].(string)]++
		}
		parts, rows = append(parts, len(syms)), append(rows, len(j.Entries))
	}
	for _, tr := range trades {
		if seen[tr.ID] != 1 {
			t.Errorf("trade %s is in %d batches, want 1", tr.ID, seen[tr.ID])
		}
	}
	return parts, rows
}

// TestPlanSharesBatchesAmongSmallPartitions: the rows of partitions with
// few share batches of at most BatchPartitions partitions and sharedRows
// rows; a partition with many has batches of its own of up to BatchRows.
func TestPlanSharesBatchesAmongSmallPartitions(t *testing.T) {
	for _, tt := range []struct {
		name        string
		cfg         Config
		trades      []trade.Trade
		parts, rows []int
	}{
		{"a quiet beat: one trade of each of 12 symbols", Config{}, symbolTrades(1, symbols(12)...),
			[]int{5, 5, 2}, []int{5, 5, 2}},
		{"two trades each of 5 symbols", Config{}, symbolTrades(2, symbols(5)...),
			[]int{3, 3}, []int{5, 5}},
		{"a quiet beat, up to 3 partitions a batch", Config{BatchPartitions: 3}, symbolTrades(1, symbols(7)...),
			[]int{3, 3, 1}, []int{3, 3, 1}},
		{"one busy symbol", Config{}, symbolTrades(250, "AAPL"),
			[]int{1, 1, 1}, []int{100, 100, 50}},
		{"quiet symbols, then a busy one", Config{}, append(symbolTrades(1, "A", "B", "C"), symbolTrades(120, "D")...),
			[]int{4, 1, 1}, []int{5, 100, 18}},
		{"a busy symbol, then quiet ones", Config{}, append(symbolTrades(30, "A"), symbolTrades(1, "B", "C")...),
			[]int{1, 2}, []int{30, 2}},
		{"a partition of its own each", Config{BatchPartitions: 1}, symbolTrades(1, symbols(4)...),
			[]int{1, 1, 1, 1}, []int{1, 1, 1, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			jobs := planned(t, tt.cfg, &store.Batch{Trades: tt.trades})
			parts, rows := shape(t, jobs, tt.trades)
			if fmt.Sprint(parts) != fmt.Sprint(tt.parts) || fmt.Sprint(rows) != fmt.Sprint(tt.rows) {
				t.Errorf("batches of %v partitions with %v rows, want %v and %v", parts, rows, tt.parts, tt.rows)
			}
		})
	}
}

// TestPlanSharesBatchesAcrossTables: a quiet beat's trades, candles and
// sector rows share batches when they fit.
func TestPlanSharesBatchesAcrossTables(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	b := &store.Batch{
		Trades:  symbolTrades(1, "A", "B"),
		Candles: []agg.Candle{{Symbol: "A", Interval: time.Second, Start: t0, Open: 1, High: 1, Low: 1, Close: 1, Volume: 1, Notional: 1, Count: 1}},
		Sectors: []agg.SectorVolume{{Sector: "Tech", Interval: time.Minute, Start: t0, Partition: 0, Volume: 1, Notional: 1, Count: 1}},
	}
	jobs := planned(t, Config{}, b)
	if len(jobs) != 1 || len(jobs[0].Entries) != 5 {
		var sizes []int
		for _, j := range jobs {
			sizes = append(sizes, len(j.Entries))
		}
		t.Errorf("batches of %v rows; want one of 5: 2 trades, a candle, its candle_days row and a sector row", sizes)
	}
}
