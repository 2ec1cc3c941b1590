package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/trade"
)

// batch is what one partition hands to the store writer: rows to upsert, and
// the offset (with the watermark as metadata) that may be committed once they
// are durable.
type batch struct {
	claim   *bus.Claim
	trades  []trade.Trade
	origins []store.Origin // where each trade was read
	ingest  []time.Time    // Kafka timestamp (ingest time) of each trade
	closed  agg.Closed
	commit  int64 // offset to commit; -1 for none
	meta    string
	read    int64 // messages read since the last batch
	bad     int64 // of them, skipped as bad
	late    int64
	dups    int64         // of them, duplicates: not written again
	done    chan struct{} // closed when durable, for the final batch
}

func (b *batch) reset() {
	*b = batch{trades: b.trades[:0], origins: b.origins[:0], ingest: b.ingest[:0],
		closed: agg.Closed{Candles: b.closed.Candles[:0], Sectors: b.closed.Sectors[:0]}}
}

// The committed metadata carries the partition's watermark, so a consumer
// that takes the partition over resumes with the same windows closed.
// Version 2 commits at the read position: the open windows are rebuilt from
// the store. Version 1 committed where the oldest open window started: they
// were rebuilt by reading the partition from there.
const (
	metaPrefix   = "tradetop/2 wm="
	metaPrefixV1 = "tradetop/1 wm="
)

func encodeMeta(wm time.Time, ok bool) string {
	if !ok {
		return ""
	}
	return metaPrefix + strconv.FormatInt(wm.UnixNano(), 10)
}

// decodeMeta returns the watermark in committed metadata, and whether the
// open windows are to be rebuilt from the store (version 2).
func decodeMeta(s string) (wm time.Time, rebuild, ok bool) {
	rest, ok := strings.CutPrefix(s, metaPrefix)
	rebuild = ok
	if !ok {
		if rest, ok = strings.CutPrefix(s, metaPrefixV1); !ok {
			return time.Time{}, false, false
		}
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return time.Time{}, false, false
	}
	return time.Unix(0, n).UTC(), rebuild, true
}

// handler returns the function that processes one claimed partition.
func (p *Pipeline) handler(dlq *bus.DeadLetters, out chan<- *batch) bus.Handler {
	return func(ctx context.Context, cl *bus.Claim) error {
		eng, err := p.restore(ctx, cl)
		if err != nil {
			return err
		}
		w := &worker{p: p, cl: cl, eng: eng, dlq: dlq, out: out, next: cl.Start, target: -1, lastCommit: cl.Start}
		w.lastWM, _ = eng.Watermark()
		w.cur = w.newBatch()
		err = w.run(ctx)
		if err != nil {
			// The generation ended: the partition may be another
			// member's now, and its position and statistics no longer
			// this process's to show. A drained one keeps them.
			p.parts.drop(cl.Partition)
		}
		return err
	}
}

// restore returns an engine in the state its partition was committed in:
// the watermark from the commit's metadata and, for a commit at the read
// position, the open windows and the IDs counted in them, rebuilt from the
// trades the store holds that were read before the committed offset. It
// retries a failing store like a write, with a new engine each time, until
// ctx is done.
func (p *Pipeline) restore(ctx context.Context, cl *bus.Claim) (*agg.Engine, error) {
	newEngine := func() (*agg.Engine, error) { return agg.New(p.cfg.Agg, int32(cl.Partition)) }
	wm, rebuild, ok := decodeMeta(cl.Metadata)
	if !ok {
		return newEngine() // nothing committed: the partition starts afresh
	}
	if !rebuild {
		eng, err := newEngine()
		if err == nil {
			eng.AdvanceWatermark(wm)
		}
		return eng, err
	}
	start := p.cfg.Now()
	since := p.cfg.Agg.OpenSince(wm)
	var eng *agg.Engine
	var n int64
	err := p.store.retry(ctx, "reread", &p.m.storeRetries, func() error {
		var err error
		if eng, err = newEngine(); err != nil {
			return err
		}
		eng.AdvanceWatermark(wm)
		n = 0
		return p.cfg.Store.Reread(ctx, int32(cl.Partition), since, cl.Start, func(t trade.Trade) error {
			eng.Restore(&t)
			n++
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	took := p.cfg.Now().Sub(start)
	p.m.rebuilt.Add(n)
	p.cfg.Log.Info("rebuilt open windows", "partition", cl.Partition, "windows", eng.OpenWindows(), "trades", n, "since", since, "took", took)
	p.errs.event("rebuild", fmt.Sprintf("partition %d: rebuilt %d open windows from %d stored trades in %s",
		cl.Partition, eng.OpenWindows(), n, took.Round(time.Millisecond)))
	return eng, nil
}

// worker processes one partition in one generation. It owns its engine.
type worker struct {
	p          *Pipeline
	cl         *bus.Claim
	eng        *agg.Engine
	dlq        *bus.DeadLetters
	out        chan<- *batch
	cur        *batch
	next       int64 // offset of the next message
	target     int64 // drain target, -1 until draining
	lastCommit int64
	lastMsg    time.Time
	lastView   time.Time
	lastIdle   time.Time // last time idle asked Kafka for the end offset
	// hwm is the partition's end offset when the last message was fetched.
	hwm int64
	// lastWM is the watermark last committed.
	lastWM time.Time
	// lateEx and dupEx describe the first late and duplicate trade of the
	// current batch, for its warning.
	lateEx, dupEx string
}

// example describes t for a warning: its symbol, ID, event time and how far
// it is behind the newest event time of the partition.
func (w *worker) example(t *trade.Trade) string {
	ex := fmt.Sprintf("%s %s at %s", t.Symbol, t.ID, t.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
	if wm, ok := w.eng.Watermark(); ok {
		if behind := wm.Add(w.eng.AllowedLateness()).Sub(t.Time); behind > 0 {
			ex += fmt.Sprintf(", %s behind the newest trade (allowed lateness %s)", behind.Round(time.Millisecond), w.eng.AllowedLateness())
		}
	}
	return ex
}

func (w *worker) newBatch() *batch {
	b := w.p.pool.Get().(*batch)
	b.reset()
	b.claim = w.cl
	return b
}

func (w *worker) run(ctx context.Context) error {
	// Every partition cuts on the same beat (the pipeline's pace, which
	// lengthens as the feed slows), so that the store writer merges their
	// batches into one write a beat when the feed is quiet.
	// A partition that had nothing to hand over looks again on the next
	// second, not the next beat, and goes back to the beat when a message
	// arrives: a quiet partition costs a wake-up a second.
	// untilNext is how long until the next beat, of the pace's beat or of
	// atLeast when that is longer.
	untilNext := func(atLeast time.Duration) time.Duration {
		now := time.Now()
		return untilBeat(now, max(w.p.pace.every(now), atLeast))
	}
	tick := time.NewTimer(untilNext(0))
	defer tick.Stop()
	quiet := false
	drain := w.p.drain
	msgs := w.cl.Messages()
	w.lastMsg = w.p.cfg.Now()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("partition %d: reader stopped", w.cl.Partition)
			}
			if quiet {
				quiet = false
				tick.Reset(untilNext(0))
			}
			if err := w.handle(ctx, m); err != nil {
				return err
			}
			if len(w.cur.trades) >= w.p.cfg.BatchTrades {
				if err := w.cut(ctx, false); err != nil {
					return err
				}
			}
			if w.target >= 0 && w.next >= w.target {
				return w.finish(ctx)
			}
		case <-tick.C:
			quiet = w.cur.read == 0
			if quiet {
				tick.Reset(untilNext(quietBeat))
			} else {
				tick.Reset(untilNext(0))
			}
			w.idle(ctx)
			if err := w.cut(ctx, false); err != nil {
				return err
			}
		case <-drain:
			drain = nil
			end, err := w.endOffset(ctx)
			if err != nil {
				return err
			}
			w.target = end
			if w.next >= w.target {
				return w.finish(ctx)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// quietBeat is how often a partition with nothing to hand over looks
// again: for windows that close by the wall clock and the view.
const quietBeat = time.Second

// sendLead is how long before a beat the producer sends a partial batch:
// time for the trades to reach Kafka and come back to the partitions. A
// trade that misses its beat waits for the next, so a long beat, whose
// trades wait long anyway, gives them a tenth of itself, up to maxSendLead.
const (
	sendLead    = 10 * time.Millisecond
	maxSendLead = 100 * time.Millisecond
)

// untilSend is how long after now the producer sends a partial batch: at
// the lead before the next beat of every, and never more than a quarter of
// every before it.
func untilSend(now time.Time, every time.Duration) time.Duration {
	lead := min(max(sendLead, min(every/10, maxSendLead)), every/4)
	return untilBeat(now.Add(lead), every)
}

// untilBeat is how long after now the next multiple of every falls, on the
// wall clock.
func untilBeat(now time.Time, every time.Duration) time.Duration {
	return every - time.Duration(now.UnixNano()%int64(every))
}

func (w *worker) endOffset(ctx context.Context) (int64, error) {
	end, err := w.cl.EndOffset(ctx)
	for b := newBackoff(); err != nil; end, err = w.cl.EndOffset(ctx) {
		w.p.errs.note("kafka", err)
		if !b.wait(ctx) {
			return 0, ctx.Err()
		}
	}
	return end, nil
}

func (w *worker) handle(ctx context.Context, m bus.Message) error {
	w.cur.read++
	w.next = m.Offset + 1
	w.lastMsg = w.p.cfg.Now()
	w.hwm = m.HighWaterMark
	var t trade.Trade
	err := w.p.cfg.Values.Decode(m.Value, m.Header(schema.HeaderKey), &t)
	// A registry that cannot say which schema wrote the message holds
	// the partition up: the message is not at fault.
	for b := newBackoff(); errors.Is(err, schema.ErrUnavailable); err = w.p.cfg.Values.Decode(m.Value, m.Header(schema.HeaderKey), &t) {
		w.p.errs.note("schema registry", err)
		if !b.wait(ctx) {
			return ctx.Err()
		}
	}
	if err != nil {
		return w.deadLetter(ctx, m, err)
	}
	origin := store.Origin{Partition: int32(m.Partition), Offset: m.Offset}
	switch w.eng.Add(&t) {
	case agg.Late:
		if w.cur.late == 0 {
			w.lateEx = w.example(&t)
		}
		w.cur.late++
		// It may be a copy of a trade stored earlier, whose origin a
		// rebuild must see: it is stored only if it is not.
		origin.IfAbsent = true
	case agg.Duplicate:
		// Left out of the windows and not written again: the first
		// copy, read earlier, is stored with its origin.
		if w.cur.dups == 0 {
			w.dupEx = w.example(&t)
		}
		w.cur.dups++
		return nil
	}
	w.cur.trades = append(w.cur.trades, t)
	w.cur.origins = append(w.cur.origins, origin)
	w.cur.ingest = append(w.cur.ingest, m.Time)
	return nil
}

// deadLetter moves a message that cannot be processed to the dead-letter
// topic before its offset can be committed, so it is skipped, not lost.
func (w *worker) deadLetter(ctx context.Context, m bus.Message, reason error) error {
	w.cur.bad++
	w.p.errs.note("bad message", fmt.Errorf("partition %d offset %d: %w", m.Partition, m.Offset, reason))
	err := w.dlq.Send(ctx, m, reason)
	for b := newBackoff(); err != nil; err = w.dlq.Send(ctx, m, reason) {
		w.p.errs.note("kafka dead letter", err)
		if !b.wait(ctx) {
			return ctx.Err()
		}
	}
	return nil
}

// idle lets a quiet partition's windows close by the wall clock, for feeds
// whose event times follow it. A partition is quiet when nothing came for
// longer than the allowed lateness and Kafka, asked at most once a second,
// says there is nothing more to read. A partition that was held up (by the
// store, by a slow or absent broker, by a new generation that has not
// fetched yet) is not, or its backlog would arrive late. Nor may the
// watermark pass a trade the feed handed over that is not in Kafka yet (one
// held by a pause, say): it would arrive late for no fault of its own.
func (w *worker) idle(ctx context.Context) {
	if !w.p.cfg.IdleAdvance || w.next < w.hwm {
		return
	}
	now := w.p.cfg.Now()
	quiet := w.eng.AllowedLateness() + time.Second
	if now.Sub(w.lastMsg) <= quiet || now.Sub(w.lastIdle) < time.Second {
		return
	}
	w.lastIdle = now
	to := now.Add(-quiet)
	if held, ok := w.p.flight.oldest(w.p.m.produced.Load()); ok {
		to = minTime(to, held.Add(-w.eng.AllowedLateness()))
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if end, err := w.cl.EndOffset(ctx); err != nil || end > w.next {
		return
	}
	w.eng.AdvanceWatermark(to)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// cut hands the current batch to the store writer: the trades read since the
// last cut, the windows closed since, and the offset that becomes safe to
// commit once they are durable. A final cut waits until they are.
func (w *worker) cut(ctx context.Context, final bool) error {
	b := w.cur
	w.eng.TakeClosed(&b.closed)
	b.commit = -1
	// Commit at the read position: the raw trades up to it are in this
	// batch or an earlier one, and the windows they feed are rebuilt from
	// them by whoever resumes the partition. A moved watermark alone is
	// committed too, so that the windows it closed stay closed.
	wm, hasWM := w.eng.Watermark()
	if w.next > w.lastCommit || (hasWM && !wm.Equal(w.lastWM)) || final {
		b.commit, b.meta = w.next, encodeMeta(wm, hasWM)
		w.lastCommit, w.lastWM = w.next, wm
	}
	w.publishView()
	if b.read == 0 && b.closed.Len() == 0 && b.commit < 0 && !final {
		return nil
	}
	if final {
		b.done = make(chan struct{})
	}
	w.p.m.consumed.Add(b.read)
	w.p.m.bad.Add(b.bad)
	w.p.m.late.Add(b.late)
	w.p.m.dups.Add(b.dups)
	if b.late > 0 {
		w.p.errs.warn("late", fmt.Errorf("partition %d: %d trades arrived after a window of theirs had closed, left out of it; e.g. %s", w.cl.Partition, b.late, w.lateEx))
	}
	if b.dups > 0 {
		w.p.errs.warn("duplicate", fmt.Errorf("partition %d: %d trades were read again while counted in an open window, counted once; e.g. %s", w.cl.Partition, b.dups, w.dupEx))
	}
	select {
	case w.out <- b:
	default:
		// The store is behind. While the worker waits here it reads
		// nothing, so the partition is not quiet: its idle clock starts
		// again once the store takes the batch.
		select {
		case w.out <- b:
			w.lastMsg = w.p.cfg.Now()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.cur = w.newBatch()
	if !final {
		return nil
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return w.cl.Flush(ctx)
}

// finish completes the drain of this partition: every trade read is
// stored, every open window is stored as it stands, and the read position
// is committed with the watermark, so that a restart rebuilds those windows
// whole from the store and rewrites them when they close.
func (w *worker) finish(ctx context.Context) error {
	w.eng.AppendOpen(&w.cur.closed)
	if err := w.cut(ctx, true); err != nil {
		return err
	}
	// The drained partition's last statistics, every trade read among
	// them, for the snapshot taken after the drain.
	w.shareView(w.p.cfg.Now())
	return nil
}

// publishView shares the engine's live statistics with the snapshot, a few
// times a second.
func (w *worker) publishView() {
	now := w.p.cfg.Now()
	if now.Sub(w.lastView) < w.p.cfg.SnapshotInterval {
		return
	}
	w.shareView(now)
}

// shareView shares the engine's statistics as they are now.
func (w *worker) shareView(now time.Time) {
	w.lastView = now
	v := &partView{
		next:    w.next,
		symbols: w.eng.AppendStats(nil),
		sectors: w.eng.AppendSectorDays(nil),
		open:    w.eng.OpenWindows(),
	}
	w.p.parts.set(w.cl.Partition, v)
}
