package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tradetop/tradetop/alert"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

var t0 = time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)

// snapshot is a pipeline of three partitions at second sec, partition 2 not
// read by this instance.
func snapshot(sec int) *state.Snapshot {
	now := t0.Add(time.Duration(sec) * time.Second)
	n := int64(1000 * sec)
	return &state.Snapshot{
		Time: now, Started: t0, Source: "synthetic", Store: "sqlite", Topic: "trades", Group: "tradetop",
		Produced: n, Consumed: n - 30, StoredTrades: n - 50, Late: 3, Duplicates: 4, Bad: 5, Errors: 6,
		ProduceRetries: 1, StoreRetries: 2, Candles: 70, SectorRows: 80, Rebuilt: 90,
		Latency: state.Latency{N: 3, Sum: 0.6, Buckets: []uint64{0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 3, 3, 3}},
		Lag: []state.PartitionLag{
			{Partition: 0, End: n / 3, Committed: n/3 - 10, Lag: 10},
			{Partition: 1, End: n / 3, Committed: -1, Lag: n / 3},
			{Partition: 2, End: n / 3, Committed: n/3 - 5, Lag: 5},
		},
		Positions: map[int]int64{0: n/3 - 4, 1: n / 3},
		TotalLag:  10 + n/3 + 5, Unread: 4, CommitTrail: 6, LagTime: now,
		Feed: &feed.Report{Bad: 7, Dropped: 8, Reconnects: 9, Connected: true},
	}
}

// fixedWatcher is a watcher that has judged snaps, in order.
func fixedWatcher(t *testing.T, snaps ...*state.Snapshot) *monitor.Watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	next := make(chan *state.Snapshot)
	var cur *state.Snapshot
	// Woken every millisecond, it takes each snapshot sent on next.
	wake := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case wake <- struct{}{}:
				time.Sleep(time.Millisecond)
			}
		}
	}()
	w := monitor.Watch(ctx, func() *state.Snapshot {
		select {
		case s := <-next:
			cur = s
		default:
		}
		return cur
	}, wake, nil)
	for _, s := range snaps {
		next <- s
	}
	for i := 0; i < 5000; i++ {
		if got, _ := w.Latest(); got == snaps[len(snaps)-1] {
			return w
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the watcher never judged the last snapshot")
	return nil
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mf
}

// value is the value of family name's series with labels (name=value
// pairs), and whether there is one.
func value(mf map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := mf[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsSayWhatTheSnapshotSays(t *testing.T) {
	var snaps []*state.Snapshot
	for sec := 1; sec <= 40; sec++ {
		snaps = append(snaps, snapshot(sec))
	}
	w := fixedWatcher(t, snaps...)
	s, r := w.Latest()
	mf := scrape(t, Handler(w, "test", Viewers{API: func() (int, int64) { return 3, 2 }, SSH: func() int { return 4 }}, nil))
	want := map[string]float64{
		"tradetop_api_viewers":                      3,
		"tradetop_api_viewers_dropped_total":        2,
		"tradetop_ssh_sessions":                     4,
		"tradetop_trades_produced_total":            float64(s.Produced),
		"tradetop_trades_consumed_total":            float64(s.Consumed),
		"tradetop_trades_stored_total":              float64(s.StoredTrades),
		"tradetop_trades_late_total":                3,
		"tradetop_trades_duplicate_total":           4,
		"tradetop_messages_bad_total":               5,
		"tradetop_errors_total":                     6,
		"tradetop_candles_written_total":            70,
		"tradetop_sector_rows_written_total":        80,
		"tradetop_trades_rebuilt_total":             90,
		"tradetop_trades_in_flight":                 50,
		"tradetop_feed_bad_total":                   7,
		"tradetop_feed_dropped_total":               8,
		"tradetop_feed_reconnects_total":            9,
		"tradetop_feed_connected":                   1,
		"tradetop_unread_messages":                  4,
		"tradetop_commit_lag_messages":              float64(s.TotalLag),
		"tradetop_commit_trail_messages":            6,
		"tradetop_ingest_to_stored_latency_seconds": 3,
	}
	for name, v := range want {
		if got, ok := value(mf, name); !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tradetop_retries_total", []string{"stage", "kafka"}, 1},
		{"tradetop_retries_total", []string{"stage", "store"}, 2},
		{"tradetop_outage", []string{"system", "kafka"}, 0},
		{"tradetop_partition_end_offset", []string{"partition", "1"}, float64(s.Lag[1].End)},
		{"tradetop_partition_lag_messages", []string{"partition", "0"}, 10},
		{"tradetop_partition_committed_offset", []string{"partition", "2"}, float64(s.Lag[2].Committed)},
		{"tradetop_partition_unread_messages", []string{"partition", "0"}, 4},
	} {
		if got, ok := value(mf, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(mf, "tradetop_partition_committed_offset", "partition", "1"); ok {
		t.Error("a committed offset for partition 1, which has none")
	}
	if _, ok := value(mf, "tradetop_partition_unread_messages", "partition", "2"); ok {
		t.Error("unread messages of partition 2, which this instance does not read")
	}
	// Verdicts and health are state sets: one 1 each, the monitor's.
	for _, p := range r.Partitions {
		id := []string{"partition", string(rune('0' + p.ID))}
		for _, v := range []monitor.Verdict{monitor.OK, monitor.Warn, monitor.Stall, monitor.Stop} {
			got, ok := value(mf, "tradetop_partition_verdict", append(id, "verdict", v.String())...)
			if wantOne := p.Verdict == v; !ok || (got == 1) != wantOne {
				t.Errorf("partition %d verdict %v = %v, the monitor says %v", p.ID, v, got, p.Verdict)
			}
		}
	}
	for i, stage := range monitor.StageNames {
		got, ok := value(mf, "tradetop_stage_health", "stage", stage, "health", r.Stages[i].String())
		if !ok || got != 1 {
			t.Errorf("stage %s health %v = %v, want 1", stage, r.Stages[i], got)
		}
	}
}

// TestMetricsFollowTheConventions lints the exposition as promtool does:
// names, units, _total counters, help texts.
func TestMetricsFollowTheConventions(t *testing.T) {
	w := fixedWatcher(t, snapshot(1), snapshot(2))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newCollector(w, "test"), alertCollector{fixedAlerts{}})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestProbes(t *testing.T) {
	get := func(h http.Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, strings.TrimSpace(string(b))
	}
	unassigned := snapshot(1)
	unassigned.Positions = nil
	down := snapshot(2)
	down.StoreDownSince = down.Time.Add(-3 * time.Second)
	role := func(name string, joined bool, lagRead bool) *state.Snapshot {
		s := snapshot(1)
		s.Role, s.Joined, s.Positions = name, joined, nil
		if !lagRead {
			s.LagTime = time.Time{}
		}
		return s
	}
	for _, c := range []struct {
		name  string
		snap  *state.Snapshot
		code  int
		words string
	}{
		{"ready", snapshot(1), 200, "ready"},
		{"no partition assigned", unassigned, 503, "no partition"},
		{"store down", down, 503, "store down"},
		{"an idle processor", role("process", true, true), 200, "ready"},
		{"a processor not yet in the group", role("process", false, true), 503, "not a member of group"},
		{"an ingest", role("ingest", false, true), 200, "ready"},
		{"an ingest before any offsets", role("ingest", false, false), 503, "no offsets"},
	} {
		h := Handler(fixedWatcher(t, c.snap), "test", Viewers{}, nil)
		if code, body := get(h, "/healthz"); code != 200 || body != "ok" {
			t.Errorf("%s: /healthz %d %q, want 200 ok", c.name, code, body)
		}
		if code, body := get(h, "/readyz"); code != c.code || !strings.Contains(body, c.words) {
			t.Errorf("%s: /readyz %d %q, want %d saying %q", c.name, code, body, c.code, c.words)
		}
	}
}

// BenchmarkScrape is the cost of one scrape of /metrics over six
// partitions: what serving metrics costs the process per scrape.
func BenchmarkScrape(b *testing.B) {
	t := &testing.T{}
	s := snapshot(10)
	for i := range 3 {
		s.Lag = append(s.Lag, state.PartitionLag{Partition: 3 + i, End: 100, Committed: 90, Lag: 10})
	}
	h := Handler(fixedWatcher(t, snapshot(9), s), "bench", Viewers{}, nil)
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// fixedAlerts is what two alert rules did.
type fixedAlerts struct{}

func (fixedAlerts) Counts() []alert.RuleCount {
	return []alert.RuleCount{{Rule: "aapl-200", Fired: 3, Firing: 1}, {Rule: "store-down", Fired: 0, Firing: 0}}
}

func (fixedAlerts) ActionCounts() alert.ActionCounts {
	return alert.ActionCounts{Done: 5, Failed: 1, Dropped: 2}
}

func TestMetricsCountAlerts(t *testing.T) {
	w := fixedWatcher(t, snapshot(1))
	mf := scrape(t, Handler(w, "test", Viewers{}, fixedAlerts{}))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tradetop_alerts_fired_total", []string{"rule", "aapl-200"}, 3},
		{"tradetop_alerts_fired_total", []string{"rule", "store-down"}, 0},
		{"tradetop_alerts_firing", []string{"rule", "aapl-200"}, 1},
		{"tradetop_alerts_firing", []string{"rule", "store-down"}, 0},
		{"tradetop_alert_actions_total", []string{"result", "done"}, 5},
		{"tradetop_alert_actions_total", []string{"result", "failed"}, 1},
		{"tradetop_alert_actions_total", []string{"result", "dropped"}, 2},
	} {
		if got, ok := value(mf, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Without rules there are no alert series.
	mf = scrape(t, Handler(w, "test", Viewers{}, nil))
	for _, name := range []string{"tradetop_alerts_fired_total", "tradetop_alerts_firing", "tradetop_alert_actions_total"} {
		if _, ok := mf[name]; ok {
			t.Errorf("%s without alert rules", name)
		}
	}
}
