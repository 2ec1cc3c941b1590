package alert

import (
	"math"
	"strconv"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

// Alert is a rule changing state for one subject at one snapshot: it
// fired, or it re-armed.
type Alert struct {
	// Time is the time of the snapshot it was judged on.
	Time time.Time
	Rule string
	Kind Kind
	// Subject is what it is about: the symbol, "partition 3", the stage,
	// or "feed".
	Subject string
	// Symbol is the symbol, "" for a rule about none; Partition the
	// partition, -1 for a rule about none.
	Symbol    string
	Partition int
	// Firing says the rule fired; false, that it re-armed.
	Firing bool
	// Value is what was measured and Threshold what it was measured against,
	// in the kind's unit (see README's "Alerts"): a price, a move in
	// percent, a volume ratio, seconds without a trade, messages of lag,
	// a verdict's rank (0 OK, 1 WARN, 2 STALL, 3 STOP), 1 for a stage down.
	Value     float64
	Threshold float64
	// Message says on one line what crossed what.
	Message string
}

// Evaluator judges rules on a pipeline's snapshots and the monitor's
// reports of them, in order, and says which rules fired or re-armed. A rule
// fires once per crossing: having fired for a subject, it fires again for
// it only once it has re-armed, which for a rule with a level needs the
// value back past the level by the rule's hysteresis. A rule starts armed,
// so a condition that holds at the first snapshot fires.
//
// It reads time only from the snapshots, keeps what history its rules need
// and no more, and is not safe for concurrent use.
type Evaluator struct {
	rules []*ruleState
}

// ruleState is one rule's history and, per subject, whether it fires.
type ruleState struct {
	Rule
	subjects map[string]*subject
	order    []string // subjects, in the order first seen
	// history of a move (last prices) or volume_spike (cumulative
	// volumes) rule.
	series series
	// A feed_silent rule's count of trades and when it last moved.
	count    int64
	moved    time.Time
	seenOnce bool
}

// subject is one subject of a rule.
type subject struct {
	firing  bool
	since   time.Time
	message string
	symbol  string
}

// reading is a rule's measure of one subject at a snapshot.
type reading struct {
	subject   string
	symbol    string
	partition int
	value     float64
	level     float64
	fire      bool // the condition to fire holds
	rearm     bool // the condition to re-arm holds
	fired     string
	rearmed   string
}

// NewEvaluator returns an evaluator of rules, as Load or Parse returned
// them, that has seen nothing yet.
func NewEvaluator(rules []Rule) *Evaluator {
	e := &Evaluator{}
	for _, r := range rules {
		rs := &ruleState{Rule: r, subjects: map[string]*subject{}}
		switch r.Kind {
		case Move:
			rs.series = newSeries(r.Window)
		case VolumeSpike:
			rs.series = newSeries(r.Window * time.Duration(r.History+1))
		}
		e.rules = append(e.rules, rs)
	}
	return e
}

// Observe judges the next snapshot, with the monitor's report of it, and
// returns the alerts that fired or re-armed at it, by rule in the order of
// the rules, then by subject.
func (e *Evaluator) Observe(s *state.Snapshot, r *monitor.Report) []Alert {
	var out []Alert
	for _, rs := range e.rules {
		for _, rd := range rs.read(s, r) {
			sub := rs.subjects[rd.subject]
			if sub == nil {
				sub = &subject{symbol: rd.symbol}
				rs.subjects[rd.subject] = sub
				rs.order = append(rs.order, rd.subject)
			}
			a := Alert{Time: s.Time, Rule: rs.Name, Kind: rs.Kind, Subject: rd.subject, Symbol: rd.symbol,
				Partition: rd.partition, Value: rd.value, Threshold: rd.level}
			switch {
			case !sub.firing && rd.fire:
				sub.firing, sub.since, sub.message = true, s.Time, rd.fired
				a.Firing, a.Message = true, rd.fired
			case sub.firing && rd.rearm:
				sub.firing = false
				a.Message = rd.rearmed
			default:
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

// Firing returns the alerts firing now, by rule in the order of the rules,
// then by subject in the order first seen.
func (e *Evaluator) Firing() []state.Alert {
	var out []state.Alert
	for _, rs := range e.rules {
		for _, name := range rs.order {
			if sub := rs.subjects[name]; sub.firing {
				out = append(out, state.Alert{Rule: rs.Name, Subject: name, Symbol: sub.symbol, Since: sub.since, Message: sub.message})
			}
		}
	}
	return out
}

// read measures the rule's subjects at snapshot s, judged r.
func (rs *ruleState) read(s *state.Snapshot, r *monitor.Report) []reading {
	switch rs.Kind {
	case PriceAbove, PriceBelow:
		return rs.readPrice(s)
	case Move:
		return rs.readMove(s)
	case VolumeSpike:
		return rs.readVolume(s)
	case FeedSilent:
		return rs.readSilence(s)
	case LagAbove:
		return rs.readLag(r)
	case LagVerdict:
		return rs.readVerdict(r)
	case StageDown:
		return rs.readStage(r)
	}
	return nil
}

// stats returns the statistics of the rule's symbol in s.
func (rs *ruleState) stats(s *state.Snapshot) (agg.SymbolStats, bool) {
	for _, st := range s.Symbols {
		if st.Symbol == rs.Symbol {
			return st, true
		}
	}
	return agg.SymbolStats{}, false
}

// readPrice: the last price against the level; re-armed at or past the
// level moved back by the hysteresis.
func (rs *ruleState) readPrice(s *state.Snapshot) []reading {
	st, ok := rs.stats(s)
	if !ok || st.Count == 0 {
		return nil
	}
	rd := reading{subject: rs.Symbol, symbol: rs.Symbol, partition: -1, value: st.Last, level: rs.Level}
	last, lvl := price(st.Last), price(rs.Level)
	if rs.Kind == PriceAbove {
		back := rs.Level * (1 - rs.Hysteresis)
		rd.fire, rd.rearm = st.Last > rs.Level, st.Last <= back
		rd.fired = rs.Symbol + " " + last + " above " + lvl
		rd.rearmed = rs.Symbol + " " + last + " back at or below " + price(back)
	} else {
		back := rs.Level * (1 + rs.Hysteresis)
		rd.fire, rd.rearm = st.Last < rs.Level, st.Last >= back
		rd.fired = rs.Symbol + " " + last + " below " + lvl
		rd.rearmed = rs.Symbol + " " + last + " back at or above " + price(back)
	}
	return []reading{rd}
}

// readMove: the change in percent from the last price Window ago, in the
// rule's direction, against Percent; re-armed at or under Percent less
// the hysteresis.
func (rs *ruleState) readMove(s *state.Snapshot) []reading {
	st, ok := rs.stats(s)
	if !ok || st.Count == 0 {
		return nil
	}
	rs.series.add(s.Time, st.Last)
	ref, ok := rs.series.at(s.Time.Add(-rs.Window))
	if !ok || ref <= 0 {
		return nil
	}
	chg := (st.Last - ref) / ref * 100
	v := chg
	switch rs.Direction {
	case "down":
		v = -chg
	case "any":
		v = math.Abs(chg)
	}
	back := rs.Percent * (1 - rs.Hysteresis)
	moved := rs.Symbol + " " + signed(chg) + "% in " + rs.Window.String() + " (" + price(ref) + " to " + price(st.Last) + ")"
	return []reading{{
		subject: rs.Symbol, symbol: rs.Symbol, partition: -1, value: chg, level: rs.Percent,
		fire: v >= rs.Percent, rearm: v <= back,
		fired:   moved + ", at least " + num(rs.Percent) + "%",
		rearmed: moved + ", back within " + num(back) + "%",
	}}
}

// readVolume: the volume of the last Window over the mean of the History
// windows before it, against Ratio; re-armed at or under Ratio less the
// hysteresis. Not judged until the history spans them all, nor while it
// holds no volume.
func (rs *ruleState) readVolume(s *state.Snapshot) []reading {
	st, ok := rs.stats(s)
	if !ok {
		return nil
	}
	if n := len(rs.series.s); n > 0 && st.Volume < rs.series.s[n-1].v {
		// The statistics started again (a partition rebuilt elsewhere):
		// so does the history.
		rs.series.reset()
	}
	rs.series.add(s.Time, st.Volume)
	w := rs.Window
	then, ok1 := rs.series.at(s.Time.Add(-w))
	first, ok2 := rs.series.at(s.Time.Add(-w * time.Duration(rs.History+1)))
	if !ok1 || !ok2 {
		return nil
	}
	mean := (then - first) / float64(rs.History)
	if mean <= 0 {
		return nil
	}
	ratio := (st.Volume - then) / mean
	back := rs.Ratio * (1 - rs.Hysteresis)
	vol := rs.Symbol + " volume " + num(st.Volume-then) + " in " + w.String() + ", " + num(ratio) + "× its mean of " + num(mean)
	return []reading{{
		subject: rs.Symbol, symbol: rs.Symbol, partition: -1, value: ratio, level: rs.Ratio,
		fire: ratio > rs.Ratio, rearm: ratio <= back,
		fired:   vol + ", above " + num(rs.Ratio) + "×",
		rearmed: vol + ", back at or below " + num(back) + "×",
	}}
}

// readSilence: how long no trade arrived, against For; re-armed by the
// next trade. A paused or draining feed is quiet on purpose: that counts
// as a trade. The feed's trades are those it produced, or for a process
// that runs no feed those it read; a symbol's, those aggregated, which an
// ingest does not do.
func (rs *ruleState) readSilence(s *state.Snapshot) []reading {
	subj, n := "feed", s.Produced
	switch {
	case rs.Symbol != "" && s.Role == "ingest":
		return nil
	case rs.Symbol != "":
		subj = rs.Symbol
		st, _ := rs.stats(s)
		n = st.Count
	case s.Role == "process":
		n = s.Consumed
	}
	if !rs.seenOnce || n != rs.count || s.Paused || s.Draining {
		rs.seenOnce, rs.count, rs.moved = true, n, s.Time
	}
	quiet := s.Time.Sub(rs.moved)
	what := "no trade"
	if rs.Symbol != "" {
		what = "no trade of " + rs.Symbol
	}
	return []reading{{
		subject: subj, symbol: rs.Symbol, partition: -1, value: quiet.Seconds(), level: rs.For.Seconds(),
		fire: quiet > rs.For, rearm: quiet == 0,
		fired:   what + " for " + quiet.Round(time.Second).String() + ", more than " + rs.For.String(),
		rearmed: "trades again",
	}}
}

// readLag: each partition's committed lag against Lag; re-armed at or
// under Lag less the hysteresis.
func (rs *ruleState) readLag(r *monitor.Report) []reading {
	var out []reading
	back := float64(rs.Lag) * (1 - rs.Hysteresis)
	for _, p := range r.Partitions {
		if rs.hasPartition && p.ID != rs.Partition {
			continue
		}
		name := "partition " + strconv.Itoa(p.ID)
		lag := strconv.FormatInt(p.Lag, 10)
		out = append(out, reading{
			subject: name, partition: p.ID, value: float64(p.Lag), level: float64(rs.Lag),
			fire: p.Lag > rs.Lag, rearm: float64(p.Lag) <= back,
			fired:   name + " lag " + lag + " above " + strconv.FormatInt(rs.Lag, 10),
			rearmed: name + " lag " + lag + " back at or below " + num(math.Floor(back)),
		})
	}
	return out
}

// readVerdict: each partition's verdict against Verdict; re-armed at OK.
func (rs *ruleState) readVerdict(r *monitor.Report) []reading {
	var out []reading
	for _, p := range r.Partitions {
		if rs.hasPartition && p.ID != rs.Partition {
			continue
		}
		name := "partition " + strconv.Itoa(p.ID)
		fired := name + " " + p.Verdict.String()
		if p.Reason != "" {
			fired += ": " + p.Reason
		}
		out = append(out, reading{
			subject: name, partition: p.ID, value: float64(p.Verdict), level: float64(rs.verdict),
			fire: p.Verdict >= rs.verdict, rearm: p.Verdict == monitor.OK,
			fired: fired, rearmed: name + " OK again",
		})
	}
	return out
}

// readStage: the stage's health; fires when down, re-armed when neither
// down nor slow.
func (rs *ruleState) readStage(r *monitor.Report) []reading {
	h := r.Stages[rs.stage]
	fired := rs.Stage + " down"
	if why := r.Reasons[rs.stage]; why != "" {
		fired += ": " + why
	}
	down := 0.0
	if h == monitor.Down {
		down = 1
	}
	return []reading{{
		subject: rs.Stage, partition: -1, value: down, level: 1,
		fire: h == monitor.Down, rearm: h != monitor.Down && h != monitor.Slow,
		fired: fired, rearmed: rs.Stage + " " + h.String() + " again",
	}}
}

// price writes a price as the UI does: two decimals, more below 1.
func price(v float64) string {
	if math.Abs(v) < 1 {
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// num writes a number with at most two decimals.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// signed writes a change in percent with its sign.
func signed(v float64) string {
	if v >= 0 {
		return "+" + strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
