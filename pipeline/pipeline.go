package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/state"
	"github.com/tradetop/tradetop/trade"
)

// Pipeline runs feed → Kafka → aggregation → store, and publishes what it
// does as snapshots. Run is called once; Snapshot and Abort may be called from
// any goroutine.
type Pipeline struct {
	cfg Config

	m       counters
	lat     latencies
	errs    errorLog
	snap    atomic.Pointer[state.Snapshot]
	lag     atomic.Pointer[[]state.PartitionLag]
	lagTime atomic.Pointer[time.Time]
	parts   partStats
	commits commitLog
	pool    sync.Pool // of *batch
	drain   chan struct{}
	stored  chan struct{} // signalled after each store write
	// published is signalled after each snapshot.
	published chan struct{}
	pace      *pace
	broker    atomic.Pointer[string]
	brokers   atomic.Pointer[[]string] // the addresses Run reaches Kafka at
	gate      gate
	flight    *inFlight
	// holding says the producer waits on its bound now; shared that this
	// process's generation gave it only some of the topic's partitions,
	// of which the topic had topicParts at the start.
	holding    atomic.Bool
	shared     atomic.Bool
	topicParts atomic.Int64
	// lagBound is the group's lag as the ingest role's bound sees it.
	lagBound lagBound
	// member is this process's place in the group; group what the
	// group's coordinator last said of every member.
	member atomic.Pointer[bus.Generation]
	group  groupWatch
	tape   tape
	// alerts are the alert rules firing now, as ShowAlerts set them.
	alerts atomic.Pointer[[]state.Alert]
	// kafka and store say whether Kafka and the store are reachable.
	kafka, store *outage
	// feedWatch is used under feedMu: publish runs on the monitor
	// goroutine and once more at the end of Run.
	feedMu    sync.Mutex
	feedWatch feedWatch
	// intervals are the candle windows, shortest first.
	intervals []time.Duration

	abortMu sync.Mutex
	abort   context.CancelFunc
	aborted atomic.Bool
	// draining is set once the feed has stopped.
	draining atomic.Bool

	started time.Time
}

// New returns a pipeline for cfg, or the first problem with cfg.
func New(cfg Config) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Pipeline{cfg: cfg, drain: make(chan struct{}), stored: make(chan struct{}, 1), published: make(chan struct{}, 1)}
	p.errs.log, p.errs.now = cfg.Log, cfg.Now
	p.kafka, p.store = newOutage("kafka", &p.errs), newOutage("store", &p.errs)
	p.pool.New = func() any { return new(batch) }
	p.pace = newPace(cfg.BatchInterval, cfg.MaxBatchInterval, &p.m.produced, &p.m.consumed, p.pacedPartitions)
	p.lagBound = newLagBound()
	// One trade at the gate, the ingest queue and the producer's batch.
	p.flight = newInFlight(1 + cfg.IngestQueue + cfg.Kafka.BatchSize)
	p.parts.m = map[int]*partView{}
	p.intervals = slices.Sorted(slices.Values(cfg.Agg.Intervals))
	return p, nil
}

// Config returns the pipeline's configuration, after defaults.
func (p *Pipeline) Config() Config { return p.cfg }

// Brokers returns the Kafka addresses the run reaches: Config's, or the
// embedded broker's, which is up from when Run has started it until Run
// returns. It is nil before that. Any goroutine may call it.
func (p *Pipeline) Brokers() []string {
	if b := p.brokers.Load(); b != nil {
		return *b
	}
	return nil
}

// Abort stops the pipeline at once, without draining. Run then returns what
// it has counted so far.
func (p *Pipeline) Abort() {
	p.aborted.Store(true)
	p.abortMu.Lock()
	defer p.abortMu.Unlock()
	if p.abort != nil {
		p.abort()
	}
}

// StartError is returned by Run when the pipeline could not start (the
// broker unreachable, say): nothing ran, and its summary counts nothing.
type StartError struct{ Err error }

func (e *StartError) Error() string { return e.Err.Error() }

func (e *StartError) Unwrap() error { return e.Err }

// ErrAborted is returned by Run when Abort or the drain timeout stopped it
// before every produced trade was stored.
var ErrAborted = errors.New("stopped before the drain finished")

// Run runs the pipeline until the source is exhausted or ctx is done, then
// drains: the feed stops, every trade it produced is consumed, aggregated and
// stored, open windows are flushed and offsets committed. A drain that takes
// longer than DrainTimeout after ctx is done is abandoned. Run returns the
// summary of the run and, if it could not drain, an error.
//
// RoleIngest runs only the feed and the producer: its drain ends once Kafka
// has acknowledged every trade the feed handed over. RoleProcess runs only
// the consumer group: when ctx is done each of its partitions is read up to
// its end offset at that moment, stored with its open windows, and
// committed, and the member leaves the group, whose other members resume
// those partitions from there.
func (p *Pipeline) Run(ctx context.Context) (Summary, error) {
	cfg := p.cfg
	hard, abort := context.WithCancel(context.Background())
	defer abort()
	p.abortMu.Lock()
	p.abort = abort
	p.abortMu.Unlock()
	if p.aborted.Load() {
		abort()
	}
	p.started = cfg.Now()

	kcfg := cfg.Kafka
	var emb *bus.Embedded
	if len(kcfg.Brokers) == 0 {
		var err error
		emb, err = bus.StartEmbedded(bus.EmbeddedConfig{Dir: cfg.EmbeddedDir, Partitions: kcfg.Partitions, Topics: []string{kcfg.Topic, kcfg.DLQTopic}})
		if err != nil {
			return p.summary(), &StartError{err}
		}
		defer emb.Close()
		kcfg.Brokers = []string{emb.Addr()}
		p.broker.Store(ptr("embedded " + emb.Addr()))
	} else {
		p.broker.Store(ptr(fmt.Sprint(kcfg.Brokers)))
	}
	p.brokers.Store(&kcfg.Brokers)
	admin := bus.NewAdmin(kcfg)
	defer admin.Close()
	for _, topic := range []string{kcfg.Topic, kcfg.DLQTopic} {
		info, err := admin.EnsureTopic(hard, topic)
		if err != nil {
			return p.summary(), &StartError{err}
		}
		if topic == kcfg.Topic {
			p.topicParts.Store(int64(info.Partitions))
		}
		if info.Created {
			cfg.Log.Info("created topic", "topic", topic, "partitions", info.Partitions)
		} else if topic == kcfg.Topic && info.Partitions < kcfg.Partitions {
			cfg.Log.Warn("topic has fewer partitions than asked; using it as it is",
				"topic", topic, "partitions", info.Partitions, "asked", kcfg.Partitions)
		}
	}

	// The drain has DrainTimeout from when the feed stops: by a soft stop,
	// or by itself (a count reached, a file read to its end). A processor
	// has no feed: a soft stop starts its drain at once.
	feedCtx, stopFeed := context.WithCancel(hard)
	defer stopFeed()
	deadline := time.AfterFunc(time.Duration(math.MaxInt64), abort)
	defer deadline.Stop()
	startDrain := sync.OnceFunc(func() {
		p.draining.Store(true)
		deadline.Reset(cfg.DrainTimeout)
	})
	drainPartitions := sync.OnceFunc(func() { close(p.drain) })
	stopSoft := context.AfterFunc(ctx, func() {
		stopFeed()
		startDrain()
		if !cfg.Role.Ingests() {
			drainPartitions()
		}
	})
	defer stopSoft()

	g, gctx := errgroup.WithContext(hard)
	if cfg.Role.Ingests() {
		producer := bus.NewProducer(kcfg)
		defer producer.Close()
		in := make(chan trade.Trade, cfg.IngestQueue)
		g.Go(func() error {
			defer close(in)
			err := cfg.Source.Run(feedCtx, func(t trade.Trade) error {
				p.flight.accept(t.Time)
				if err := p.gate.wait(feedCtx); err != nil {
					return err
				}
				select {
				case in <- t:
					return nil
				case <-feedCtx.Done():
					return feedCtx.Err()
				}
			})
			if err != nil && feedCtx.Err() == nil {
				return fmt.Errorf("feed %s: %w", cfg.Source.Name(), err)
			}
			return nil
		})
		g.Go(func() error {
			err := p.produce(gctx, producer, in)
			if err == nil {
				startDrain()
				drainPartitions()
			}
			return err
		})
	}
	trim := newTrimmer(emb, kcfg.Topic)
	if cfg.Role.Processes() {
		dlq := bus.NewDeadLetters(kcfg)
		defer dlq.Close()
		consumer := p.consumer(kcfg, trim)
		batches := make(chan *batch, cfg.StoreQueue)
		g.Go(func() error {
			defer close(batches)
			defer p.member.Store(nil)
			return consumer.Run(gctx, p.handler(dlq, batches))
		})
		g.Go(func() error { return p.write(gctx, batches) })
	}

	monCtx, stopMon := context.WithCancel(hard)
	var mon sync.WaitGroup
	mon.Go(func() { p.monitor(monCtx, admin, kcfg) })
	mon.Go(func() { trim.run(monCtx) })

	err := g.Wait()
	stopMon()
	mon.Wait()
	p.publish()
	s := p.summary()
	switch {
	case hard.Err() == nil || err == nil:
		return s, err
	case cfg.Role == RoleIngest:
		return s, fmt.Errorf("%w: trades the feed handed over may not all be in Kafka (%d acknowledged)", ErrAborted, s.Produced)
	case cfg.Role == RoleProcess:
		return s, fmt.Errorf("%w: the open windows and the last offsets are not saved (%d trades stored)", ErrAborted, s.StoredTrades)
	case s.Produced > s.StoredTrades:
		return s, fmt.Errorf("%w: %d of %d produced trades not stored", ErrAborted, s.Produced-s.StoredTrades, s.Produced)
	default:
		// Stored counts trades read again after a rebalance or a
		// restart too, so it cannot say which produced trades are missing.
		return s, fmt.Errorf("%w: the open windows and the last offsets are not saved (%d trades produced, %d rows stored)", ErrAborted, s.Produced, s.StoredTrades)
	}
}

// consumer returns the group member of the processing stage, reporting
// what it meets into the pipeline's events and outages.
func (p *Pipeline) consumer(kcfg bus.Config, trim *trimmer) *bus.Consumer {
	consumer := bus.NewConsumer(kcfg, p.cfg.Log)
	consumer.OnError = func(err error) {
		if bus.Temporary(err) {
			p.errs.warn("kafka", err)
			return
		}
		p.errs.note("kafka", err)
	}
	// Failing to join the group is Kafka being away, unless Kafka itself
	// answered with a retriable error (a rebalance in progress, say).
	consumer.OnGroup = func(err error) {
		switch {
		case err == nil:
			p.kafka.ok("group")
		case bus.Temporary(err):
			p.errs.warn("kafka", err)
		default:
			p.errs.total.Add(1)
			p.kafka.fail("group", err)
		}
	}
	consumer.OnAssigned = p.assigned
	consumer.Drain = p.drain
	consumer.OnCommitted = func(offsets map[int]int64) {
		p.commits.set(offsets)
		trim.committed(offsets)
	}
	return consumer
}

// produce sends what the feed emits to Kafka in batches, retrying until
// every trade is acknowledged or ctx is done.
func (p *Pipeline) produce(ctx context.Context, pr *bus.Producer, in <-chan trade.Trade) error {
	buf := make([]trade.Trade, 0, p.cfg.Kafka.BatchSize)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	for {
		select {
		case t, ok := <-in:
			if !ok {
				return nil
			}
			buf = append(buf[:0], t)
		case <-ctx.Done():
			return ctx.Err()
		}
		// A full batch goes at once. A partial one waits for more until a
		// moment before the partitions' next beat, so that a quiet feed
		// sends one request a beat, not one a trade, and its trades reach
		// the partitions just before they cut.
		first := time.Now()
		linger.Reset(untilSend(first, p.pace.every(first)))
	fill:
		for len(buf) < cap(buf) {
			select {
			case t, ok := <-in:
				if !ok {
					break fill
				}
				buf = append(buf, t)
			case <-linger.C:
				break fill
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		linger.Stop() // since Go 1.23 a stopped timer's channel holds nothing stale
		waited := time.Since(first)
		if err := p.waitBound(ctx, int64(len(buf))); err != nil {
			return err
		}
		// The trades' ingest time counts the wait for the batch, not the
		// wait on the bound, as before there was one.
		if err := p.send(ctx, pr, buf, waited); err != nil {
			return err
		}
		p.m.produced.Add(int64(len(buf)))
		p.tape.add(buf)
	}
}

// waitBound waits until n more trades fit under the producer's bound: the
// trades this process produced and has not stored under MaxInFlight, or,
// when the process cannot see every store write of the group, the group's
// committed lag under MaxLag (see lagBounded).
func (p *Pipeline) waitBound(ctx context.Context, n int64) error {
	for {
		if p.lagBounded() {
			return p.waitLag(ctx, n)
		}
		if used := p.m.produced.Load() - p.m.stored.Load(); used <= 0 || used+n <= p.cfg.MaxInFlight {
			p.holding.Store(false)
			return nil
		}
		p.holding.Store(true)
		select {
		case <-p.stored:
		case <-p.lagBound.read: // the group may have changed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lagBounded says the producer is bounded by the group's lag rather than
// by what this process stores: always for RoleIngest, which stores
// nothing, and for RoleAll while its generation gave it only some of the
// partitions, as the trades of the others are stored by other processes.
// Until it joins, RoleAll holds the in-flight bound even when the group
// lists other members: one may be this process's own former self, killed
// and not yet timed out, and a restart that took the lag bound then would
// run ahead of its store by the whole lag limit.
func (p *Pipeline) lagBounded() bool {
	return p.cfg.Role == RoleIngest || p.shared.Load()
}

// send writes buf to Kafka, retrying with backoff until every trade is
// acknowledged or ctx is done. Every failed write is an error and a produce
// retry; a run of them is one Kafka outage. A write that failed part-way is
// retried for the trades that were not acknowledged.
func (p *Pipeline) send(ctx context.Context, pr *bus.Producer, buf []trade.Trade, waited time.Duration) error {
	var err error
	return p.kafka.retry(ctx, "produce", &p.m.produceRetries, func() error {
		if pe, ok := errors.AsType[*bus.PartialWriteError](err); ok {
			err = pr.Retry(ctx, pe)
		} else {
			err = pr.Send(ctx, buf, waited)
		}
		return err
	})
}

// counters are the pipeline's running totals.
type counters struct {
	produced       atomic.Int64
	produceRetries atomic.Int64
	consumed       atomic.Int64
	bad            atomic.Int64
	late           atomic.Int64
	dups           atomic.Int64
	stored         atomic.Int64
	candles        atomic.Int64
	sectors        atomic.Int64
	storeRetries   atomic.Int64
	// rebuilt counts the stored trades read back to rebuild open windows.
	rebuilt atomic.Int64
}

// errorLog counts errors and logs them, at most one line per source and
// level every few seconds, saying how many it held back. Any goroutine may
// call it.
type errorLog struct {
	log *slog.Logger
	// now is the pipeline's clock, so that events and snapshots share it.
	// Default time.Now.
	now    func() time.Time
	total  atomic.Int64
	mu     sync.Mutex
	last   map[eventKey]time.Time
	held   map[eventKey]int
	recent []state.Event
}

// eventKey is what the rate limit counts by: a warning does not hold back
// an error from the same source.
type eventKey struct {
	source string
	level  slog.Level
}

const errorLogEvery = 5 * time.Second
const maxEvents = 50

// note records, logs and counts an error.
func (e *errorLog) note(source string, err error) {
	e.total.Add(1)
	e.record(slog.LevelError, source, err)
}

// warn records and logs a condition that is being retried and goes away by
// itself, without counting it as an error.
func (e *errorLog) warn(source string, err error) {
	e.record(slog.LevelWarn, source, err)
}

func (e *errorLog) record(level slog.Level, source string, err error) {
	now := e.clock()
	k := eventKey{source, level}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last == nil {
		e.last, e.held = map[eventKey]time.Time{}, map[eventKey]int{}
	}
	if last, ok := e.last[k]; ok && now.Sub(last) < errorLogEvery {
		e.held[k]++
		return
	}
	ev := state.Event{Time: now, Level: level, Source: source, Message: err.Error(), Repeats: e.held[k]}
	e.last[k], e.held[k] = now, 0
	e.push(ev)
	if e.log != nil {
		e.log.Log(context.Background(), level, source, "error", err, "held_back", ev.Repeats)
	}
}

// event records a recovery for the Events pane, at level info, without
// logging or counting it, past the rate limit. The caller logs it with its
// own attributes.
func (e *errorLog) event(source, msg string) {
	now := e.clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.push(state.Event{Time: now, Level: slog.LevelInfo, Source: source, Message: msg})
}

func (e *errorLog) clock() time.Time {
	if e.now == nil {
		return time.Now()
	}
	return e.now()
}

// push appends ev to the recent events, dropping the oldest past maxEvents.
func (e *errorLog) push(ev state.Event) {
	if len(e.recent) == maxEvents {
		copy(e.recent, e.recent[1:])
		e.recent = e.recent[:maxEvents-1]
	}
	e.recent = append(e.recent, ev)
}

func (e *errorLog) events() []state.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]state.Event(nil), e.recent...)
}

func ptr[T any](v T) *T { return &v }
