package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

var t0 = time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)

// parse returns the rules of a rules file's body (the list under rules:).
func parse(t *testing.T, body string) []Rule {
	t.Helper()
	rules, err := Parse(strings.NewReader("rules:\n" + body))
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// at is the snapshot and report of one step of a test, at t0 + sec.
type at struct {
	sec int
	s   *state.Snapshot
	r   *monitor.Report
}

// snap is a snapshot at t0 + sec whose symbols are stats.
func snap(sec int, stats ...agg.SymbolStats) *state.Snapshot {
	return &state.Snapshot{Time: t0.Add(time.Duration(sec) * time.Second), Started: t0, Role: "all", Symbols: stats}
}

// traded is a symbol that traded at price last, count times, volume in all.
func traded(sym string, last float64, count int64, volume float64) agg.SymbolStats {
	return agg.SymbolStats{Symbol: sym, Last: last, First: last, High: last, Low: last, Count: count, Volume: volume}
}

// run judges the steps in order and writes what fired and re-armed, one
// line each: "<sec>s fired <subject>" or "<sec>s re-armed <subject>".
func run(e *Evaluator, steps []at) []string {
	var out []string
	for _, st := range steps {
		r := st.r
		if r == nil {
			r = &monitor.Report{Time: st.s.Time}
		}
		for _, a := range e.Observe(st.s, r) {
			verb := "re-armed"
			if a.Firing {
				verb = "fired"
			}
			out = append(out, fmt.Sprintf("%ds %s %s %s", st.sec, a.Rule, verb, a.Subject))
		}
	}
	return out
}

// prices are steps a second apart where sym's last price is each of ps.
func prices(sym string, ps ...float64) []at {
	var out []at
	for i, p := range ps {
		out = append(out, at{sec: i, s: snap(i, traded(sym, p, int64(i+1), float64(i+1)))})
	}
	return out
}

// lags are steps a second apart where the partitions' lags are each row.
func lags(rows ...[]int64) []at {
	var out []at
	for i, row := range rows {
		s := snap(i)
		r := &monitor.Report{Time: s.Time}
		for id, l := range row {
			r.Partitions = append(r.Partitions, monitor.Partition{ID: id, Lag: l})
		}
		out = append(out, at{sec: i, s: s, r: r})
	}
	return out
}

func TestEachKindFiresOncePerCrossing(t *testing.T) {
	// volume is sym's cumulative volume at each second: vol(sec).
	volume := func(sym string, secs int, vol func(sec int) float64) []at {
		var out []at
		for i := 0; i <= secs; i++ {
			out = append(out, at{sec: i, s: snap(i, traded(sym, 100, int64(i+1), vol(i)))})
		}
		return out
	}
	// counts are steps a second apart where the feed produced each of ns;
	// paused says from which second to which the feed is paused.
	counts := func(paused [2]int, ns ...int64) []at {
		var out []at
		for i, n := range ns {
			s := snap(i)
			s.Produced = n
			s.Paused = i >= paused[0] && i < paused[1]
			out = append(out, at{sec: i, s: s})
		}
		return out
	}
	verdicts := func(vs ...monitor.Verdict) []at {
		var out []at
		for i, v := range vs {
			s := snap(i)
			out = append(out, at{sec: i, s: s, r: &monitor.Report{Time: s.Time, Partitions: []monitor.Partition{
				{ID: 0, Verdict: v, Reason: "reason " + v.String()}, {ID: 1}}}})
		}
		return out
	}
	stages := func(hs ...monitor.Health) []at {
		var out []at
		for i, h := range hs {
			s := snap(i)
			r := &monitor.Report{Time: s.Time}
			r.Stages[3] = h
			out = append(out, at{sec: i, s: s, r: r})
		}
		return out
	}
	ok, warn, stall, stop := monitor.OK, monitor.Warn, monitor.Stall, monitor.Stop
	up, slow, down := monitor.Healthy, monitor.Slow, monitor.Down

	for _, tt := range []struct {
		name  string
		rules string
		steps []at
		want  []string
	}{
		{"price above: fires above the level, re-arms at or below level × (1 − hysteresis)",
			"  - {name: r, kind: price_above, symbol: AAPL, level: 200}\n",
			prices("AAPL", 190, 200, 201, 202, 199, 198.5, 197.9, 201, 197, 203),
			[]string{"2s r fired AAPL", "6s r re-armed AAPL", "7s r fired AAPL", "8s r re-armed AAPL", "9s r fired AAPL"}},
		{"price above, already above at the start",
			"  - {name: r, kind: price_above, symbol: AAPL, level: 200}\n",
			prices("AAPL", 205, 206, 199), []string{"0s r fired AAPL"}},
		{"price above, with no hysteresis",
			"  - {name: r, kind: price_above, symbol: AAPL, level: 200, hysteresis: 0}\n",
			prices("AAPL", 201, 200, 200.01), []string{"0s r fired AAPL", "1s r re-armed AAPL", "2s r fired AAPL"}},
		{"price above, of another symbol",
			"  - {name: r, kind: price_above, symbol: MSFT, level: 200}\n",
			prices("AAPL", 190, 250), nil},
		{"price below: fires below the level, re-arms at or above level × (1 + hysteresis)",
			"  - {name: r, kind: price_below, symbol: AAPL, level: 200, hysteresis: 0.05}\n",
			prices("AAPL", 210, 205, 199, 195, 209, 210.5, 199),
			[]string{"2s r fired AAPL", "5s r re-armed AAPL", "6s r fired AAPL"}},
		{"move any way: at least percent from the price window ago",
			"  - {name: r, kind: move, symbol: AAPL, percent: 2, window: 3s, hysteresis: 0.5}\n",
			// From 3s, against 0s..: 103 vs 100 (+3%), 103 vs 101, 103 vs 102, 100 vs 103 (−2.9%), ...
			prices("AAPL", 100, 101, 102, 103, 103, 103, 100.5, 100.5, 100.5, 100.5, 97),
			// 4s: 103 vs 101 is +1.98%: still firing, not re-armed (> 1%);
			// 5s: 103 vs 102 +0.98%: re-armed; 6s: 100.5 vs 103 −2.43%:
			// fired; 9s: 100.5 vs 100.5: re-armed; 10s: 97 vs 100.5
			// −3.5%: fired.
			[]string{"3s r fired AAPL", "5s r re-armed AAPL", "6s r fired AAPL", "9s r re-armed AAPL", "10s r fired AAPL"}},
		{"move up only",
			"  - {name: r, kind: move, symbol: AAPL, percent: 2, window: 3s, direction: up}\n",
			prices("AAPL", 100, 100, 100, 97, 95, 95, 99), []string{"6s r fired AAPL"}},
		{"move down only",
			"  - {name: r, kind: move, symbol: AAPL, percent: 2, window: 3s, direction: down}\n",
			prices("AAPL", 100, 100, 100, 103, 104, 104, 99), []string{"6s r fired AAPL"}},
		{"move, not judged before a window of history",
			"  - {name: r, kind: move, symbol: AAPL, percent: 2, window: 10s}\n",
			prices("AAPL", 100, 150, 200, 250), nil},
		{"volume spike: the last window over the mean of the history windows before it",
			"  - {name: r, kind: volume_spike, symbol: AAPL, ratio: 3, window: 10s, history: 3}\n",
			// 10 a second; at 5s, before the history is whole, a burst of
			// 1000 that is not judged, and weighs in the mean until 45s; at
			// 50s a burst of 300 more: 400 in the window against a mean of
			// 100. From 60s the window no longer holds it, and the mean
			// does: 100 against 200.
			volume("AAPL", 70, func(sec int) float64 {
				v := 10 * float64(sec)
				if sec >= 5 {
					v += 1000
				}
				if sec >= 50 {
					v += 300
				}
				return v
			}),
			[]string{"50s r fired AAPL", "60s r re-armed AAPL"}},
		{"volume spike, not judged on a history without volume",
			"  - {name: r, kind: volume_spike, symbol: AAPL, ratio: 3, window: 10s, history: 1}\n",
			volume("AAPL", 25, func(sec int) float64 {
				if sec < 21 {
					return 0
				}
				return 500
			}), nil},
		{"volume spike, a history started again when the volume falls",
			"  - {name: r, kind: volume_spike, symbol: AAPL, ratio: 3, window: 10s, history: 1}\n",
			volume("AAPL", 40, func(sec int) float64 {
				switch {
				case sec < 25:
					return 10 * float64(sec)
				case sec < 36:
					// The statistics start again, then a burst that the
					// old history would have judged.
					return 5
				}
				return 1005
			}), nil},
		{"feed silent: no trade for longer than for, re-armed by the next",
			"  - {name: r, kind: feed_silent, for: 3s}\n",
			counts([2]int{}, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3),
			// Last moved at 1s: 4s is 3s (not more), 5s is 4s: fired. 7s
			// moves: re-armed; 11s is 4s after it: fired.
			[]string{"5s r fired feed", "7s r re-armed feed", "11s r fired feed"}},
		{"feed silent, paused on purpose",
			"  - {name: r, kind: feed_silent, for: 3s}\n",
			counts([2]int{2, 9}, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2),
			// Paused until 9s: quiet from 8s, the last paused snapshot.
			[]string{"12s r fired feed"}},
		{"feed silent, of a symbol",
			"  - {name: r, kind: feed_silent, for: 2s, symbol: AAPL}\n",
			[]at{{0, snap(0), nil}, {1, snap(1), nil}, {2, snap(2), nil}, {3, snap(3), nil},
				{4, snap(4, traded("AAPL", 1, 1, 1)), nil}, {5, snap(5, traded("AAPL", 1, 1, 1)), nil}, {7, snap(7, traded("AAPL", 1, 1, 1)), nil}},
			[]string{"3s r fired AAPL", "4s r re-armed AAPL", "7s r fired AAPL"}},
		{"lag above, each partition, re-armed at or below lag × (1 − hysteresis)",
			"  - {name: r, kind: lag_above, lag: 100, hysteresis: 0.1}\n",
			lags([]int64{0, 0}, []int64{150, 0}, []int64{120, 101}, []int64{95, 90}, []int64{90, 91}, []int64{200, 5}),
			[]string{"1s r fired partition 0", "2s r fired partition 1", "3s r re-armed partition 1", "4s r re-armed partition 0", "5s r fired partition 0"}},
		{"lag above, of one partition",
			"  - {name: r, kind: lag_above, lag: 100, partition: 1}\n",
			lags([]int64{500, 0}, []int64{500, 101}), []string{"1s r fired partition 1"}},
		{"lag verdict: fires at the verdict or worse, re-arms at OK",
			"  - {name: r, kind: lag_verdict}\n",
			verdicts(ok, warn, stall, warn, stall, ok, stop),
			[]string{"2s r fired partition 0", "5s r re-armed partition 0", "6s r fired partition 0"}},
		{"lag verdict WARN",
			"  - {name: r, kind: lag_verdict, verdict: WARN}\n",
			verdicts(ok, warn, stall, ok), []string{"1s r fired partition 0", "3s r re-armed partition 0"}},
		{"stage down: fires when down, re-arms when neither down nor slow",
			"  - {name: r, kind: stage_down, stage: store}\n",
			stages(up, slow, down, slow, down, up, down),
			[]string{"2s r fired store", "5s r re-armed store", "6s r fired store"}},
		{"stage down, of another stage",
			"  - {name: r, kind: stage_down, stage: kafka}\n",
			stages(up, down, up), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := run(NewEvaluator(parse(t, tt.rules)), tt.steps)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// firingAt returns the subjects of each rule firing, "rule subject".
func firingAt(e *Evaluator) []string {
	var out []string
	for _, a := range e.Firing() {
		out = append(out, a.Rule+" "+a.Subject)
	}
	return out
}

// TestAPinnedMarket runs a hand-built market of three symbols and a
// pipeline whose store goes down for a while through a set of rules, a
// snapshot every 250ms for three minutes, and checks that exactly the
// expected alerts fire and re-arm, in order, once each.
func TestAPinnedMarket(t *testing.T) {
	rules := parse(t, `
  - {name: aapl-above-200, kind: price_above, symbol: AAPL, level: 200}
  - {name: msft-below-300, kind: price_below, symbol: MSFT, level: 300, hysteresis: 0.02}
  - {name: nvda-drop, kind: move, symbol: NVDA, percent: 5, window: 30s, direction: down}
  - {name: nvda-volume, kind: volume_spike, symbol: NVDA, ratio: 4, window: 10s, history: 6}
  - {name: store-down, kind: stage_down, stage: store}
  - {name: quiet, kind: feed_silent, for: 20s}
  - {name: lag, kind: lag_above, lag: 5000}
`)
	// Prices in cents at keyframes, straight lines between them.
	type key struct{ sec, cents int }
	path := func(keys ...key) func(ms int) float64 {
		return func(ms int) float64 {
			for i := 1; i < len(keys); i++ {
				a, b := keys[i-1], keys[i]
				if ms <= b.sec*1000 {
					f := float64(ms-a.sec*1000) / float64((b.sec-a.sec)*1000)
					return float64(int(float64(a.cents)+f*float64(b.cents-a.cents))) / 100
				}
			}
			return float64(keys[len(keys)-1].cents) / 100
		}
	}
	// AAPL rises through 200 after 50s, falls back to 198 (re-armed)
	// before 97s and rises through 200 again before 153s.
	aapl := path(key{0, 19500}, key{60, 20100}, key{90, 19850}, key{110, 19700}, key{160, 20050}, key{180, 20050})
	// MSFT falls under 300 after 33.3s; back to 305 by 70s (not 306: still
	// firing), under 300 again, then past 306 after 143.3s: re-armed.
	msft := path(key{0, 31000}, key{50, 29500}, key{70, 30500}, key{90, 29800}, key{150, 30700}, key{180, 30700})
	// NVDA is flat at 100, then falls 8% from 120s to 125s and stays: 5%
	// down after 123.1s; its price 30s before falls to 96.79 (a move of
	// 4.95%, the level less the hysteresis) after 152s.
	nvda := path(key{0, 10000}, key{120, 10000}, key{125, 9200}, key{180, 9200})
	var steps []at
	produced := int64(0)
	for ms := 0; ms <= 180_000; ms += 250 {
		sec := ms / 1000
		// The feed stops from 60s to 90s: silent for more than 20s at 80s.
		if sec < 60 || sec >= 90 {
			produced += 25
		}
		// NVDA trades 10 a second, 100 a second from 130s to 135s: the 10s
		// window holds more than 4 times its mean after 133.3s, and 3.96
		// times or less after 141s, as the burst enters the mean.
		vol := float64(ms / 100)
		if ms > 130_000 {
			vol += float64(min(ms-130_000, 5000)) * 0.09
		}
		s := &state.Snapshot{Time: t0.Add(time.Duration(ms) * time.Millisecond), Started: t0, Role: "all", Produced: produced,
			Symbols: []agg.SymbolStats{
				traded("AAPL", aapl(ms), int64(ms), float64(ms)),
				traded("MSFT", msft(ms), int64(ms), float64(ms)),
				traded("NVDA", nvda(ms), int64(ms), vol),
			}}
		r := &monitor.Report{Time: s.Time, Partitions: []monitor.Partition{{ID: 0, Lag: 10}, {ID: 1, Lag: 20}}}
		// The store is down from 30s to 45s, slow until 50s.
		switch {
		case sec >= 30 && sec < 45:
			r.Stages[3] = monitor.Down
		case sec >= 45 && sec < 50:
			r.Stages[3] = monitor.Slow
		}
		steps = append(steps, at{sec: sec, s: s, r: r})
	}
	e := NewEvaluator(rules)
	got := run(e, steps)
	want := []string{
		"30s store-down fired store",
		"33s msft-below-300 fired MSFT",
		"50s store-down re-armed store", // at 50s; AAPL at 50.25s
		"50s aapl-above-200 fired AAPL",
		"80s quiet fired feed", // silent since 59.75s
		"90s quiet re-armed feed",
		"96s aapl-above-200 re-armed AAPL",
		"123s nvda-drop fired NVDA",
		"133s nvda-volume fired NVDA",
		"141s nvda-volume re-armed NVDA",
		"143s msft-below-300 re-armed MSFT",
		"152s nvda-drop re-armed NVDA",
		"153s aapl-above-200 fired AAPL",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f := firingAt(e); strings.Join(f, ",") != "aapl-above-200 AAPL" {
		t.Errorf("firing at the end: %v, want aapl-above-200 for AAPL", f)
	}
}
