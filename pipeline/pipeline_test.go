package pipeline

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/sqlite"
	"github.com/tradetop/tradetop/trade"
)

var pinned = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

func synthetic(t *testing.T, seed, count int64) *feed.Synthetic {
	t.Helper()
	src, err := feed.NewSynthetic(feed.SyntheticConfig{Seed: seed, Start: pinned, Count: count})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// generated returns the trades the source produces, in order.
func generated(t *testing.T, src feed.Source) []trade.Trade {
	t.Helper()
	var out []trade.Trade
	err := src.Run(context.Background(), func(tr trade.Trade) error {
		out = append(out, tr)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tempSQLite opens a SQLite store in a temporary directory, closed when
// the test ends.
func tempSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// runOnce runs the whole pipeline, embedded broker and SQLite store, until
// the source is exhausted and drained.
func runOnce(t *testing.T, src feed.Source, dir string) (Summary, *sqlite.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := feed.DefaultUniverse()
	p, err := New(Config{Source: src, Store: st, Sector: u.Sector, BatchTrades: 700})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v (summary %+v)", err, sum)
	}
	return sum, st
}

type candleKey struct {
	symbol   string
	interval time.Duration
	start    time.Time
}

// reference computes every candle directly from the trades, in the order the
// feed produced them, which is the order of each symbol's partition. Volume
// and notional are the exact sums, rounded once, as the engine keeps them.
func reference(trades []trade.Trade, intervals []time.Duration) map[candleKey]agg.Candle {
	out := map[candleKey]agg.Candle{}
	type sums struct{ volume, notional *big.Float }
	exact := map[candleKey]sums{}
	for _, tr := range trades {
		for _, iv := range intervals {
			k := candleKey{tr.Symbol, iv, tr.Time.Truncate(iv)}
			c, ok := out[k]
			if !ok {
				c = agg.Candle{Symbol: tr.Symbol, Interval: iv, Start: k.start, Open: tr.Price, High: tr.Price, Low: tr.Price}
				exact[k] = sums{new(big.Float).SetPrec(2048), new(big.Float).SetPrec(2048)}
			}
			c.High = math.Max(c.High, tr.Price)
			c.Low = math.Min(c.Low, tr.Price)
			c.Close = tr.Price
			e := exact[k]
			e.volume.Add(e.volume, big.NewFloat(tr.Volume))
			e.notional.Add(e.notional, big.NewFloat(tr.Price*tr.Volume))
			c.Volume, _ = e.volume.Float64()
			c.Notional, _ = e.notional.Float64()
			c.Count++
			out[k] = c
		}
	}
	return out
}

func TestPipelineStoresEveryTradeAndCandle(t *testing.T) {
	const n = 6000
	trades := generated(t, synthetic(t, 7, n))
	sum, st := runOnce(t, synthetic(t, 7, n), t.TempDir())
	checkStored(t, sum, st, trades)

	counts, err := st.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := reference(trades, []time.Duration{time.Second, time.Minute}); counts.Trades != n || counts.Candles != int64(len(want)) {
		t.Errorf("tables hold %d trades and %d candles, want %d and %d", counts.Trades, counts.Candles, n, len(want))
	}
}

// checkStored checks a drained run of trades, in the order the feed
// produced them, against what st holds: every trade once, every candle of
// the default windows equal to one computed directly from the trades, and
// every sector's volume.
func checkStored(t *testing.T, sum Summary, st store.Store, trades []trade.Trade) {
	t.Helper()
	n := int64(len(trades))
	if sum.Produced != n || sum.Consumed != n || sum.StoredTrades != n {
		t.Errorf("produced %d, consumed %d, stored %d; want %d each", sum.Produced, sum.Consumed, sum.StoredTrades, n)
	}
	if sum.Errors != 0 || sum.Late != 0 || sum.Bad != 0 {
		t.Errorf("errors %d, late %d, bad %d; want 0", sum.Errors, sum.Late, sum.Bad)
	}
	intervals := []time.Duration{time.Second, time.Minute}
	if want := reference(trades, intervals); sum.Candles != int64(len(want)) {
		t.Errorf("%d candles written, want %d", sum.Candles, len(want))
	}
	checkRows(t, st, trades)
}

// checkRows checks that st holds trades once each, and exactly the candles
// and sector volumes computed from them.
func checkRows(t *testing.T, st store.Store, trades []trade.Trade) {
	t.Helper()
	ctx := context.Background()
	perSymbol := map[string]int64{}
	for _, tr := range trades {
		perSymbol[tr.Symbol]++
	}
	day := trades[0].Time
	for sym, want := range perSymbol {
		got, err := st.TradeCount(ctx, sym, day)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %d trades stored, want %d", sym, got, want)
		}
	}

	intervals := []time.Duration{time.Second, time.Minute}
	want := reference(trades, intervals)
	from, to := pinned.Add(-time.Hour), trades[len(trades)-1].Time.Add(time.Hour)
	seen := 0
	for sym := range perSymbol {
		for _, iv := range intervals {
			got, err := st.Candles(ctx, sym, iv, from, to)
			if err != nil {
				t.Fatal(err)
			}
			seen += len(got)
			for _, c := range got {
				w, ok := want[candleKey{sym, iv, c.Start}]
				if !ok {
					t.Errorf("unexpected candle %+v", c)
					continue
				}
				if c != w {
					t.Errorf("candle %s %s %s:\n got %+v\nwant %+v", sym, iv, c.Start.Format(time.TimeOnly), c, w)
				}
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d candles stored, want %d", seen, len(want))
	}

	sectors := map[string]float64{}
	u := feed.DefaultUniverse()
	for _, tr := range trades {
		sectors[u.Sector(tr.Symbol)] += tr.Volume
	}
	totals, err := st.SectorVolume(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(totals) != len(sectors) {
		t.Errorf("%d sectors stored, want %d", len(totals), len(sectors))
	}
	for _, s := range totals {
		// Partial sums per window and partition add up in another order.
		if math.Abs(s.Volume-sectors[s.Sector]) > 1e-9*sectors[s.Sector] {
			t.Errorf("sector %s volume %v, want %v", s.Sector, s.Volume, sectors[s.Sector])
		}
	}
}

// dump returns every row of the trades and candles tables, in key order.
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	for _, q := range []string{
		"SELECT symbol, day, ts_ns, trade_id, price, volume FROM trades ORDER BY symbol, day, ts_ns, trade_id",
		"SELECT symbol, interval, day, bucket_start_ns, open, high, low, close, volume, notional, trades FROM candles ORDER BY symbol, interval, day, bucket_start_ns",
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

func TestPinnedRunsAreIdentical(t *testing.T) {
	const n = 3000
	a, b := t.TempDir(), t.TempDir()
	_, sa := runOnce(t, synthetic(t, 11, n), a)
	_, sb := runOnce(t, synthetic(t, 11, n), b)
	sa.Close()
	sb.Close()
	da, db := dump(t, filepath.Join(a, "tradetop.db")), dump(t, filepath.Join(b, "tradetop.db"))
	if da != db {
		t.Error("two runs with the same seed and start stored different rows")
	}
	if strings.Count(da, "\n") < n {
		t.Errorf("dump has %d rows, want at least %d", strings.Count(da, "\n"), n)
	}
}

func TestRerunIntoSameStoreKeepsOneRowPerTrade(t *testing.T) {
	const n = 2000
	dir := t.TempDir()
	_, s1 := runOnce(t, synthetic(t, 5, n), dir)
	before := dump(t, filepath.Join(dir, "tradetop.db"))
	s1.Close()
	_, s2 := runOnce(t, synthetic(t, 5, n), dir)
	counts, err := s2.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counts.Trades != n {
		t.Errorf("after two identical runs the store holds %d trades, want %d", counts.Trades, n)
	}
	s2.Close()
	if after := dump(t, filepath.Join(dir, "tradetop.db")); after != before {
		t.Error("rerunning the same trades changed stored rows")
	}
}

// A produce that one partition refuses fails part-way: send writes again
// only the trades of that partition, once, and counts one error and one
// produce retry in one Kafka outage.
func TestSendRetriesOnlyWhatWasNotAcknowledged(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(2, "trades"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var refused atomic.Int32 // the partition whose first produce request is refused
	refused.Store(-1)
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				refused.Store(rp.Partition)
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	kcfg := bus.Config{Brokers: c.ListenAddrs(), Topic: "trades", WriteAttempts: 1}
	pr := bus.NewProducer(kcfg)
	defer pr.Close()
	var logs bytes.Buffer
	p, err := New(Config{Source: synthetic(t, 1, 1), Store: stuckStore{}, Kafka: kcfg, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var buf []trade.Trade
	for i := range 200 {
		buf = append(buf, trade.Trade{ID: fmt.Sprint(i), Symbol: fmt.Sprint("S", i), Price: 1, Volume: 1, Time: pinned})
	}

	if err := p.send(context.Background(), pr, buf, 0); err != nil {
		t.Fatal(err)
	}
	admin := bus.NewAdmin(kcfg)
	defer admin.Close()
	ends, err := admin.EndOffsets(context.Background(), "trades")
	if err != nil {
		t.Fatal(err)
	}
	if refused.Load() < 0 || ends[0] == 0 || ends[1] == 0 || ends[0]+ends[1] != int64(len(buf)) {
		t.Errorf("partition %d refused; end offsets %v, want the %d trades spread over both, each once", refused.Load(), ends, len(buf))
	}
	if r, e := p.m.produceRetries.Load(), p.errs.total.Load(); r != 1 || e != 1 {
		t.Errorf("%d produce retries and %d errors, want 1 of each", r, e)
	}
	out := logs.String()
	if strings.Count(out, `msg="kafka down"`) != 1 || strings.Count(out, `msg="kafka is back"`) != 1 {
		t.Errorf("want one line for the outage and one for the recovery:\n%s", out)
	}
}
