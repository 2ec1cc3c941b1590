package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/trade"
)

// batch is what one partition hands to the store writer: rows to upsert, and
// the offset (with the watermark as metadata) that may be committed once they
// are durable.
type batch struct {
	claim  *bus.Claim
	trades []trade.Trade
	ingest []time.Time // Kafka timestamp (ingest time) of each trade
	closed agg.Closed
	commit int64 // offset to commit; -1 for none
	meta   string
	bad    int64 // messages skipped as bad since the last batch
	late   int64
	dups   int64
	done   chan struct{} // closed when durable, for the final batch
}

func (b *batch) reset() {
	*b = batch{trades: b.trades[:0], ingest: b.ingest[:0], closed: agg.Closed{Candles: b.closed.Candles[:0], Sectors: b.closed.Sectors[:0]}}
}

func (b *batch) rows() store.Batch {
	return store.Batch{Trades: b.trades, Candles: b.closed.Candles, Sectors: b.closed.Sectors}
}

// The committed metadata carries the partition's watermark, so a consumer
// that takes the partition over resumes with the same windows closed.
const metaPrefix = "tradetop/1 wm="

func encodeMeta(e *agg.Engine) string {
	wm, ok := e.Watermark()
	if !ok {
		return ""
	}
	return metaPrefix + strconv.FormatInt(wm.UnixNano(), 10)
}

func decodeMeta(s string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(s, metaPrefix)
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n).UTC(), true
}

// handler returns the function that processes one claimed partition.
func (p *Pipeline) handler(dlq *bus.DeadLetters, out chan<- *batch) bus.Handler {
	return func(ctx context.Context, cl *bus.Claim) error {
		eng, err := agg.New(p.cfg.Agg, int32(cl.Partition))
		if err != nil {
			return err
		}
		if wm, ok := decodeMeta(cl.Metadata); ok {
			eng.AdvanceWatermark(wm)
		}
		w := &worker{p: p, cl: cl, eng: eng, dlq: dlq, out: out, next: cl.Start, target: -1, lastCommit: cl.Start}
		w.cur = w.newBatch()
		return w.run(ctx)
	}
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
	tick := time.NewTicker(w.p.cfg.BatchInterval)
	defer tick.Stop()
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

func (w *worker) handle(ctx context.Context, m kafka.Message) error {
	w.next = m.Offset + 1
	w.lastMsg = w.p.cfg.Now()
	w.hwm = m.HighWaterMark
	var t trade.Trade
	if err := trade.UnmarshalJSON(m.Value, &t); err != nil {
		return w.deadLetter(ctx, m, err)
	}
	switch w.eng.Add(&t, m.Offset) {
	case agg.Late:
		if w.cur.late == 0 {
			w.lateEx = w.example(&t)
		}
		w.cur.late++
	case agg.Duplicate:
		// Left out of the windows; its row is written again, which
		// changes nothing, so that it is accounted for like any other.
		if w.cur.dups == 0 {
			w.dupEx = w.example(&t)
		}
		w.cur.dups++
	}
	w.cur.trades = append(w.cur.trades, t)
	w.cur.ingest = append(w.cur.ingest, m.Time)
	return nil
}

// deadLetter moves a message that cannot be processed to the dead-letter
// topic before its offset can be committed, so it is skipped, not lost.
func (w *worker) deadLetter(ctx context.Context, m kafka.Message, reason error) error {
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
	if c := w.eng.CommitOffset(w.next); c > w.lastCommit || final {
		b.commit, b.meta = c, encodeMeta(w.eng)
		w.lastCommit = c
	}
	w.publishView()
	if len(b.trades) == 0 && b.closed.Len() == 0 && b.commit < 0 && b.bad == 0 && !final {
		return nil
	}
	if final {
		b.done = make(chan struct{})
	}
	w.p.m.consumed.Add(int64(len(b.trades)) + b.bad)
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
// stored, every open window is stored as it stands, and the offset its
// oldest open window starts at is committed with the watermark, so that a
// restart rebuilds those windows whole and rewrites them when they close.
func (w *worker) finish(ctx context.Context) error {
	w.eng.AppendOpen(&w.cur.closed)
	return w.cut(ctx, true)
}

// publishView shares the engine's live statistics with the snapshot, a few
// times a second.
func (w *worker) publishView() {
	now := w.p.cfg.Now()
	if now.Sub(w.lastView) < w.p.cfg.SnapshotInterval {
		return
	}
	w.lastView = now
	v := &partView{
		next:    w.next,
		symbols: w.eng.AppendStats(nil),
		sectors: w.eng.AppendSectorDays(nil),
		open:    w.eng.OpenWindows(),
	}
	w.p.parts.set(w.cl.Partition, v)
}
