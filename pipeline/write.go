package pipeline

import (
	"context"
	"time"

	"github.com/tradetop/tradetop/store"
)

// maxWriteTrades bounds how many trades the writer merges into one store
// transaction.
const maxWriteTrades = 20000

// writeLinger is how long the writer waits for more batches of the same
// beat before it writes what it has.
const writeLinger = 3 * time.Millisecond

// write is the store stage: it merges the batches that are waiting into one
// store write, retries it until it is durable, and only then lets their
// offsets be committed. It returns when in is closed and empty.
func (p *Pipeline) write(ctx context.Context, in <-chan *batch) error {
	var (
		group  []*batch
		merged store.Batch
		lat    []time.Duration
	)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	for {
		var b *batch
		select {
		case got, ok := <-in:
			if !ok {
				return nil
			}
			b = got
		case <-ctx.Done():
			return ctx.Err()
		}
		group = append(group[:0], b)
		merged = store.Batch{Trades: merged.Trades[:0], Origins: merged.Origins[:0], Candles: merged.Candles[:0], Sectors: merged.Sectors[:0]}
		merge(&merged, b)
		// The partitions cut on one beat: the others' batches of this
		// beat follow within moments, and go in the same write.
		linger.Reset(writeLinger)
	more:
		for len(merged.Trades) < maxWriteTrades {
			select {
			case got, ok := <-in:
				if !ok {
					break more
				}
				group = append(group, got)
				merge(&merged, got)
			case <-linger.C:
				break more
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		linger.Stop() // since Go 1.23 a stopped timer's channel holds nothing stale
		if merged.Len() > 0 {
			if err := p.writeDurable(ctx, &merged); err != nil {
				return err
			}
		}
		now := p.cfg.Now()
		lat = lat[:0]
		for _, b := range group {
			for _, t := range b.ingest {
				lat = append(lat, now.Sub(t))
			}
			// A duplicate is accounted for: its first copy is stored.
			p.m.stored.Add(int64(len(b.trades)) + b.dups)
			p.m.candles.Add(int64(len(b.closed.Candles)))
			p.m.sectors.Add(int64(len(b.closed.Sectors)))
			if b.commit >= 0 {
				b.claim.Commit(b.commit, b.meta)
			}
			if b.done != nil {
				close(b.done)
			} else {
				p.pool.Put(b)
			}
		}
		p.lat.record(now, lat)
		select {
		case p.stored <- struct{}{}:
		default:
		}
	}
}

func merge(dst *store.Batch, b *batch) {
	dst.Trades = append(dst.Trades, b.trades...)
	dst.Origins = append(dst.Origins, b.origins...)
	dst.Candles = append(dst.Candles, b.closed.Candles...)
	dst.Sectors = append(dst.Sectors, b.closed.Sectors...)
}

// writeDurable writes b, retrying until the store takes it or ctx is done.
// Every failed write is an error and a store retry; a run of them is one
// store outage.
func (p *Pipeline) writeDurable(ctx context.Context, b *store.Batch) error {
	return p.store.retry(ctx, "write", &p.m.storeRetries, func() error { return p.cfg.Store.Write(ctx, b) })
}
