package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/trade"
)

// recordFlushEvery is the longest a recorded trade waits in the buffer
// before it is written out.
const recordFlushEvery = time.Second

// recordBuffer is the size of a recording's write buffer.
const recordBuffer = 64 << 10

// Record returns a source that runs src and writes every trade src hands on
// to w as one line of the trade wire form (trade.AppendJSON), the form a
// replay reads back. A trade is written once emit has taken it, so the
// recording holds exactly the trades the pipeline received.
//
// Writes are buffered and flushed at least every second and when Run
// returns. A failed write stops Run, which returns an error saying so; w is
// not closed. The returned source unwraps to src (feed.Wrapper), so feed.As
// finds src's report, runtime subscriptions and pace through it. Its Run may
// be called as often as src's may, writing each run's trades to the same w;
// runs must not overlap.
func Record(src feed.Source, w io.Writer) feed.Source {
	return &recorder{src: src, w: w}
}

// recorder is the feed.Source that Record returns.
type recorder struct {
	src feed.Source
	w   io.Writer
}

// Unwrap returns the recorded source.
func (r *recorder) Unwrap() feed.Source { return r.src }

// Name describes the source ("synthetic seed=7, recording").
func (r *recorder) Name() string { return r.src.Name() + ", recording" }

// Run runs the wrapped source, writing each trade emit takes. It returns
// what the wrapped source's Run returns, unless the recording failed: then
// the write error, joined to the source's own error if the source stopped
// for a reason of its own.
func (r *recorder) Run(ctx context.Context, emit func(trade.Trade) error) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &lineWriter{bw: bufio.NewWriterSize(r.w, recordBuffer)}

	// The flusher writes out what is buffered every second, so a recording
	// stays current while a live source is quiet; when a write fails it
	// stops the wrapped source.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(recordFlushEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if out.flush() != nil {
					cancel()
					return
				}
			}
		}
	})

	err := r.src.Run(runCtx, func(t trade.Trade) error {
		if err := emit(t); err != nil {
			return err
		}
		return out.write(&t)
	})
	close(stop)
	wg.Wait()

	werr := out.flush()
	switch {
	case werr == nil:
		return err
	case err == nil || errors.Is(err, werr) || (errors.Is(err, context.Canceled) && ctx.Err() == nil):
		// The source stopped because the recording failed.
		return werr
	default:
		return errors.Join(err, werr)
	}
}

// lineWriter is a buffered writer of wire-form lines shared by Run's
// goroutine, which writes, and the flusher. Its first error sticks.
type lineWriter struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	err error
}

// write appends t and a newline to the buffer.
func (lw *lineWriter) write(t *trade.Trade) error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil {
		return lw.err
	}
	line := trade.AppendJSON(lw.bw.AvailableBuffer(), t)
	line = append(line, '\n')
	if _, err := lw.bw.Write(line); err != nil {
		lw.err = fmt.Errorf("recording trades: %w", err)
	}
	return lw.err
}

// flush writes out the buffer.
func (lw *lineWriter) flush() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil {
		return lw.err
	}
	if err := lw.bw.Flush(); err != nil {
		lw.err = fmt.Errorf("recording trades: %w", err)
	}
	return lw.err
}
