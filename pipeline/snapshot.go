package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/state"
)

// Snapshot returns the latest published snapshot, or nil before the first.
func (p *Pipeline) Snapshot() *state.Snapshot { return p.snap.Load() }

// Published receives after each new snapshot (several may have been
// published by then); it is for one reader.
func (p *Pipeline) Published() <-chan struct{} { return p.published }

// partView is what one partition worker shares with the snapshot.
type partView struct {
	next    int64
	symbols []agg.SymbolStats
	sectors []agg.SectorDay
	open    int
}

// commitLog is the offsets this instance last committed, by partition.
type commitLog struct {
	mu sync.Mutex
	m  map[int]int64
}

func (c *commitLog) set(offsets map[int]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int]int64{}
	}
	for p, o := range offsets {
		c.m[p] = o
	}
}

func (c *commitLog) get(p int) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.m[p]
	return o, ok
}

type partStats struct {
	mu sync.Mutex
	m  map[int]*partView
}

func (s *partStats) set(p int, v *partView) {
	s.mu.Lock()
	s.m[p] = v
	s.mu.Unlock()
}

func (s *partStats) drop(p int) {
	s.mu.Lock()
	delete(s.m, p)
	s.mu.Unlock()
}

func (s *partStats) all() map[int]*partView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m)
}

// monitor reads the group's lag and members and publishes snapshots until
// ctx is done. A producer held by the group's lag gets its reads sooner,
// at most every lagSoonest. While nothing moves (no trade produced, read or
// stored since the last read, which found no lag), or the feed is so quiet
// that the beat stretched to LagInterval, the reads come every
// quietLagEvery instead of every LagInterval.
func (p *Pipeline) monitor(ctx context.Context, admin *bus.Admin, kcfg bus.Config) {
	// Snapshots follow the beat when the feed is quiet: between two beats
	// nothing but the clock moves.
	snapEvery := func() time.Duration { return max(p.cfg.SnapshotInterval, p.pace.current()) }
	snap := time.NewTimer(snapEvery())
	defer snap.Stop()
	tick := time.NewTicker(p.cfg.LagInterval)
	defer tick.Stop()
	soon := time.NewTimer(0)
	<-soon.C
	defer soon.Stop()
	// One slow lag read on a busy broker is not an outage; two in a row
	// are. A group that cannot be described is worth a warning when it
	// keeps failing; the lag reads say whether Kafka is down.
	lagFails, groupFails := 0, 0
	cad := readCadence{lagEvery: p.cfg.LagInterval, beat: p.cfg.BatchInterval}
	counts := func() [3]int64 { return [3]int64{p.m.produced.Load(), p.m.consumed.Load(), p.m.stored.Load()} }
	readLag := func() {
		start := time.Now()
		before := counts()
		produced := before[0]
		l, err := admin.Lag(ctx, kcfg.Group, kcfg.Topic)
		if err != nil {
			cad.lagRead(start, before, -1)
			if lagFails++; lagFails >= 2 && ctx.Err() == nil {
				p.kafka.fail("lag", fmt.Errorf("reading the group's lag: %w", err))
			}
			return
		}
		lagFails = 0
		p.kafka.ok("lag")
		now := p.cfg.Now()
		read := make([]state.PartitionLag, len(l))
		var total int64
		for i, pl := range l {
			read[i] = state.PartitionLag(pl)
			total += pl.Lag
		}
		p.lag.Store(&read)
		p.lagTime.Store(ptr(now))
		p.lagBound.set(total, produced)
		p.group.commits(l, now)
		cad.lagRead(start, before, total)
	}
	readGroup := func() {
		gen := p.member.Load()
		if !cad.groupDue(time.Now(), gen) {
			return
		}
		g, err := admin.Group(ctx, kcfg.Group, kcfg.Topic)
		if err != nil {
			cad.groupRead(time.Now(), gen, "")
			if groupFails++; groupFails == 3 && ctx.Err() == nil {
				p.errs.warn("kafka", err)
			}
			return
		}
		groupFails = 0
		cad.groupRead(time.Now(), gen, g.State)
		for _, line := range p.group.observe(g, p.cfg.Now()) {
			p.cfg.Log.Info("group", "change", line)
			p.errs.event("group", line)
		}
	}
	readLag()
	readGroup()
	p.publish()
	for {
		select {
		case <-ctx.Done():
			return
		case <-snap.C:
			snap.Reset(snapEvery())
			p.publish()
		case <-tick.C:
			if !cad.lagDue(time.Now(), counts(), p.pace.current()) {
				continue
			}
			readLag()
			readGroup()
		case <-p.lagBound.wanted:
			if wait := lagSoonest - time.Since(cad.lagAt); wait > 0 {
				soon.Reset(wait)
			} else {
				readLag()
			}
		case <-soon.C:
			readLag()
		}
	}
}

// lagSoonest is how soon after a lag read a producer held by the group's
// lag may have the next.
const lagSoonest = 200 * time.Millisecond

// stableGroupEvery is how often a member reads its group while the group is
// stable and its generation has not changed.
const stableGroupEvery = 5 * time.Second

// quietLagEvery is how often the lag and the group are read while nothing
// moves: under the three seconds after which the monitor calls a lag read
// late.
const quietLagEvery = 2 * time.Second

// readCadence says when the monitor's next lag and group reads are due. Its
// times are the wall clock's: the reads are requests to Kafka.
type readCadence struct {
	lagEvery time.Duration // LagInterval
	beat     time.Duration // the shortest beat, BatchInterval

	lagAt time.Time
	// moved are the pipeline's counters (produced, read, stored) at the
	// last lag read; still says it found no lag.
	moved [3]int64
	still bool

	groupAt  time.Time
	groupGen *bus.Generation
	stable   bool
}

// lagRead records a lag read that started at at with the counters at
// counts and found total lag (negative: it failed).
func (c *readCadence) lagRead(at time.Time, counts [3]int64, total int64) {
	c.lagAt, c.moved, c.still = at, counts, total == 0
}

// lagDue says whether the lag is to be read at now, with the pipeline's
// counters at counts and its beat at beat. It is every lagEvery, and every
// quietLagEvery while nothing moved since a read that found no lag, or
// while a quiet feed stretched the beat to lagEvery or longer: offsets then
// move once a beat at most.
func (c *readCadence) lagDue(now time.Time, counts [3]int64, beat time.Duration) bool {
	if now.Sub(c.lagAt)+c.lagEvery/2 >= quietLagEvery {
		return true
	}
	if beat > c.beat && beat >= c.lagEvery {
		return false
	}
	return !c.still || counts != c.moved
}

// groupDue says whether the group is to be read at now by a process whose
// generation is gen (nil: not a member). A member of a stable group learns
// of every change to it through a rebalance, which gives it a new
// generation: until then the group is read every stableGroupEvery.
func (c *readCadence) groupDue(now time.Time, gen *bus.Generation) bool {
	return !c.stable || gen == nil || gen != c.groupGen || now.Sub(c.groupAt)+c.lagEvery/2 >= stableGroupEvery
}

// groupRead records a group read at now by a process whose generation was
// gen, which found the group in state ("" when it failed).
func (c *readCadence) groupRead(now time.Time, gen *bus.Generation, state string) {
	c.groupAt, c.groupGen, c.stable = now, gen, state == "Stable"
}

// sourceName names the feed, or says there is none.
func (p *Pipeline) sourceName() string {
	if p.cfg.Source == nil {
		return "no feed (role " + p.cfg.Role.String() + ")"
	}
	return p.cfg.Source.Name()
}

// publish builds and publishes a snapshot.
func (p *Pipeline) publish() {
	now := p.cfg.Now()
	run, recent := p.lat.summaries(now)
	s := &state.Snapshot{
		Time:            now,
		Started:         p.started,
		Source:          p.sourceName(),
		Store:           p.cfg.StoreName,
		Produced:        p.m.produced.Load(),
		Consumed:        p.m.consumed.Load(),
		StoredTrades:    p.m.stored.Load(),
		Candles:         p.m.candles.Load(),
		SectorRows:      p.m.sectors.Load(),
		Late:            p.m.late.Load(),
		Duplicates:      p.m.dups.Load(),
		Bad:             p.m.bad.Load(),
		Errors:          p.errs.total.Load(),
		ProduceRetries:  p.m.produceRetries.Load(),
		StoreRetries:    p.m.storeRetries.Load(),
		Rebuilt:         p.m.rebuilt.Load(),
		KafkaDownSince:  p.kafka.downSince(),
		StoreDownSince:  p.store.downSince(),
		Latency:         run,
		RecentLatency:   recent,
		Events:          p.errs.events(),
		Alerts:          p.firing(),
		Topic:           p.cfg.Kafka.Topic,
		Group:           p.cfg.Kafka.Group,
		Intervals:       p.intervals,
		Paused:          p.gate.closed(),
		Draining:        p.draining.Load(),
		AllowedLateness: *p.cfg.Agg.AllowedLateness,
		MaxInFlight:     p.cfg.MaxInFlight,
		Tape:            p.tape.latest(),
		Subscribable:    p.CanSubscribe(),
		Role:            p.cfg.Role.String(),
		Holding:         p.holding.Load(),
	}
	switch {
	case !p.cfg.Role.Ingests():
	case p.lagBounded():
		s.Bound, s.BoundLimit = state.BoundGroupLag, p.cfg.MaxLag
		s.BoundUsed, _ = p.lagBound.estimate(s.Produced)
	default:
		s.Bound, s.BoundLimit = state.BoundInFlight, p.cfg.MaxInFlight
		s.BoundUsed = max(s.Produced-s.StoredTrades, 0)
	}
	if gen := p.member.Load(); gen != nil {
		s.Joined, s.MemberID, s.Generation, s.Assigned = true, gen.MemberID, gen.ID, gen.Partitions
	}
	g, at, moves := p.group.snapshot()
	s.GroupState, s.Members, s.GroupTime, s.Rebalances = g.State, stateMembers(g.Members), at, moves
	s.Rate, s.RateAdjustable = p.rate()
	p.feedMu.Lock()
	s.Feed = p.feedWatch.check(p.cfg.Source, &p.errs)
	p.feedMu.Unlock()
	if b := p.broker.Load(); b != nil {
		s.Broker = *b
	}
	if prev := p.snap.Load(); prev != nil {
		if dt := now.Sub(prev.Time).Seconds(); dt > 0 {
			s.InRate = float64(s.Produced-prev.Produced) / dt
			s.StoredRate = float64(s.StoredTrades-prev.StoredTrades) / dt
		}
	}
	views := p.parts.all()
	s.Positions = make(map[int]int64, len(views))
	for part, v := range views {
		s.Positions[part] = v.next
		// This instance's own last commit, not the lag read's, which may
		// be a second older.
		if c, ok := p.commits.get(part); ok {
			s.CommitTrail += max(v.next-c, 0)
		}
	}
	if l := p.lag.Load(); l != nil {
		s.Lag = *l
		for _, pl := range s.Lag {
			s.TotalLag += pl.Lag
			if next, ok := s.Positions[pl.Partition]; ok {
				s.Unread += max(pl.End-next, 0)
			}
		}
	}
	if t := p.lagTime.Load(); t != nil {
		s.LagTime = *t
	}
	sectors := map[string]agg.SectorDay{}
	for _, v := range views {
		s.Symbols = append(s.Symbols, v.symbols...)
		s.OpenWindows += v.open
		for _, d := range v.sectors {
			acc, ok := sectors[d.Sector]
			switch {
			case !ok || d.Day.After(acc.Day):
				acc = d
			case d.Day.Equal(acc.Day):
				acc.Volume += d.Volume
				acc.Notional += d.Notional
				acc.Count += d.Count
			}
			sectors[d.Sector] = acc
		}
	}
	slices.SortFunc(s.Symbols, func(a, b agg.SymbolStats) int { return cmp.Compare(a.Symbol, b.Symbol) })
	for _, d := range sectors {
		s.Sectors = append(s.Sectors, d)
	}
	slices.SortFunc(s.Sectors, func(a, b agg.SectorDay) int {
		return cmp.Or(cmp.Compare(b.Volume, a.Volume), cmp.Compare(a.Sector, b.Sector))
	})
	p.snap.Store(s)
	select {
	case p.published <- struct{}{}:
	default: // one is pending already
	}
}

// Summary is what a run did, as printed by --summary json.
type Summary struct {
	Produced     int64 `json:"produced"`
	Consumed     int64 `json:"consumed"`
	StoredTrades int64 `json:"stored_trades"`
	Candles      int64 `json:"candles"`
	SectorRows   int64 `json:"sector_rows"`
	Late         int64 `json:"late"`
	Duplicates   int64 `json:"duplicates"`
	// Rebuilt counts the stored trades read back to rebuild open windows.
	Rebuilt int64 `json:"rebuilt"`
	Bad     int64 `json:"bad"`
	Errors  int64 `json:"errors"`
	// FeedBad and FeedDropped are the source's bad input and the trades a
	// live source dropped because the pipeline was behind.
	FeedBad     int64 `json:"feed_bad"`
	FeedDropped int64 `json:"feed_dropped"`
	// Pauses is how often the feed was paused, PausedS how long in all.
	Pauses        int64   `json:"pauses"`
	PausedS       float64 `json:"paused_s"`
	DurationS     float64 `json:"duration_s"`
	ThroughputTPS float64 `json:"throughput_tps"`
	LatencyMS     struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_ms"`
	Role   string `json:"role"`
	Source string `json:"source"`
	Broker string `json:"broker"`
	Store  string `json:"store"`
}

func (p *Pipeline) summary() Summary {
	s := p.snap.Load()
	if s == nil {
		p.publish()
		s = p.snap.Load()
	}
	out := Summary{
		Produced: s.Produced, Consumed: s.Consumed, StoredTrades: s.StoredTrades,
		Candles: s.Candles, SectorRows: s.SectorRows, Late: s.Late, Duplicates: s.Duplicates, Rebuilt: s.Rebuilt, Bad: s.Bad, Errors: s.Errors,
		Role: s.Role, Source: s.Source, Broker: s.Broker, Store: s.Store,
	}
	if s.Feed != nil {
		out.FeedBad, out.FeedDropped = s.Feed.Bad, s.Feed.Dropped
	}
	var held time.Duration
	out.Pauses, held = p.gate.pauses()
	out.PausedS = held.Seconds()
	if !p.started.IsZero() {
		out.DurationS = s.Time.Sub(p.started).Seconds()
	}
	if out.DurationS > 0 {
		out.ThroughputTPS = float64(out.StoredTrades) / out.DurationS
	}
	out.LatencyMS.P50, out.LatencyMS.P99, out.LatencyMS.Max = ms(s.Latency.P50), ms(s.Latency.P99), ms(s.Latency.Max)
	return out
}

// trimmer deletes from the embedded broker what the group has committed, so
// the broker's memory stays flat on a long run. It does nothing for a real
// cluster, whose retention is its operators' business.
type trimmer struct {
	emb   *bus.Embedded
	topic string
	mu    sync.Mutex
	upTo  map[int]int64
}

func newTrimmer(emb *bus.Embedded, topic string) *trimmer {
	return &trimmer{emb: emb, topic: topic, upTo: map[int]int64{}}
}

func (t *trimmer) committed(offsets map[int]int64) {
	if t.emb == nil {
		return
	}
	t.mu.Lock()
	for p, o := range offsets {
		t.upTo[p] = max(t.upTo[p], o)
	}
	t.mu.Unlock()
}

const trimEvery = 5 * time.Second

func (t *trimmer) run(ctx context.Context) {
	if t.emb == nil {
		return
	}
	tick := time.NewTicker(trimEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.mu.Lock()
			upTo := make(map[int]int64, len(t.upTo))
			for p, o := range t.upTo {
				upTo[p] = o
			}
			t.mu.Unlock()
			// A failed trim is retried on the next tick; it costs memory only.
			_ = t.emb.Trim(ctx, t.topic, upTo)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
