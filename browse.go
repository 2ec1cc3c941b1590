package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/trade"
	"github.com/tradetop/tradetop/tui"
)

// topicBrowser is the terminal UI's tui.Browser: the pipeline's topic and
// its dead-letter topic through a bus.Browser, each message decoded as
// tradetop topic prints it. The bus.Browser is made at the first call
// that finds the pipeline's brokers known: the embedded broker's address
// is only once the run has started it. Any goroutine may call its methods.
type topicBrowser struct {
	cfg     bus.Config
	brokers func() []string
	dec     *schema.Decoder

	mu sync.Mutex
	b  *bus.Browser
}

// newTopicBrowser returns the browser of the topics of cfg, at the
// addresses brokers returns, decoding with dec.
func newTopicBrowser(cfg bus.Config, brokers func() []string, dec *schema.Decoder) *topicBrowser {
	cfg.Values = nil // it writes no trades
	return &topicBrowser{cfg: cfg.WithDefaults(), brokers: brokers, dec: dec}
}

// browser returns the bus.Browser, made once the brokers are known.
func (t *topicBrowser) browser() (*bus.Browser, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.b != nil {
		return t.b, nil
	}
	brokers := t.brokers()
	if len(brokers) == 0 {
		return nil, errors.New("kafka is not reached yet")
	}
	cfg := t.cfg
	cfg.Brokers = brokers
	t.b = bus.NewBrowser(cfg)
	return t.b, nil
}

// Close closes the browser's connections.
func (t *topicBrowser) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.b != nil {
		t.b.Close()
	}
}

func (t *topicBrowser) topic(dlq bool) string {
	if dlq {
		return t.cfg.DLQTopic
	}
	return t.cfg.Topic
}

func (t *topicBrowser) Partitions(ctx context.Context, dlq bool) ([]tui.PartitionRange, error) {
	b, err := t.browser()
	if err != nil {
		return nil, err
	}
	parts, err := b.Partitions(ctx, t.topic(dlq))
	out := make([]tui.PartitionRange, 0, len(parts))
	for _, p := range parts {
		out = append(out, tui.PartitionRange{Partition: p.Partition, Start: p.Start, End: p.End})
	}
	return out, err
}

func (t *topicBrowser) Page(ctx context.Context, dlq bool, partition int, before int64, n int) ([]tui.TopicMessage, error) {
	return t.page(ctx, bus.PageQuery{Topic: t.topic(dlq), Partition: partition, Offset: before, N: n})
}

func (t *topicBrowser) Next(ctx context.Context, dlq bool, partition int, from int64, n int, wait time.Duration) ([]tui.TopicMessage, error) {
	return t.page(ctx, bus.PageQuery{Topic: t.topic(dlq), Partition: partition, Offset: from, N: n, OldestFirst: true, Wait: wait})
}

func (t *topicBrowser) page(ctx context.Context, q bus.PageQuery) ([]tui.TopicMessage, error) {
	b, err := t.browser()
	if err != nil {
		return nil, err
	}
	msgs, err := b.Page(ctx, q)
	out := make([]tui.TopicMessage, 0, len(msgs))
	for i := range msgs {
		out = append(out, t.message(&msgs[i]))
	}
	return out, err
}

// message is m as the UI shows it.
func (t *topicBrowser) message(m *bus.Message) tui.TopicMessage {
	i := inspect(m, t.dec)
	out := tui.TopicMessage{Partition: i.Partition, Offset: i.Offset, Time: i.Time, Key: i.Key, Form: i.Form, Err: i.DecodeError}
	for _, h := range i.Headers {
		out.Headers = append(out.Headers, tui.Header{Key: h.Key, Value: h.Value})
	}
	if f := i.Trade; f != nil {
		out.Trade = &trade.Trade{ID: f.ID, Symbol: f.Symbol, Price: f.Price, Volume: f.Volume, Time: f.Time}
	}
	if d := i.DeadLetter; d != nil {
		out.DeadLetter = &tui.DeadLetter{Reason: d.Reason, Source: d.Source(), Truncated: d.TruncatedFrom > 0}
	}
	return out
}

func (t *topicBrowser) OffsetAt(ctx context.Context, dlq bool, partition int, at time.Time) (int64, error) {
	b, err := t.browser()
	if err != nil {
		return 0, err
	}
	return b.OffsetAt(ctx, t.topic(dlq), partition, at)
}

func (t *topicBrowser) Redrive(ctx context.Context, partition int, offset int64) error {
	b, err := t.browser()
	if err != nil {
		return err
	}
	_, err = b.Redrive(ctx, partition, offset)
	return err
}

func (t *topicBrowser) RedriveAll(ctx context.Context) (copied, refused int, err error) {
	b, err := t.browser()
	if err != nil {
		return 0, 0, err
	}
	done, err := b.RedriveAll(ctx)
	return done.Copied, len(done.Refused), err
}
