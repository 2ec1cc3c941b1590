package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/trade"
)

// Producer writes trades to the topic, keyed by symbol, one trade per
// message, in the form cfg.Values writes (JSON by default). Keys are partitioned with murmur2, as the Java client does, so
// other producers of the same topic agree on where a symbol lives.
//
// One goroutine at a time may call Send.
type Producer struct {
	cfg  Config
	w    *kafka.Writer
	buf  []byte // keys and values of the messages in flight
	ends []int  // where each message ends in buf
	msgs []kafka.Message
	now  func() time.Time
	// values writes message values; headers go with every message.
	values  *schema.Encoder
	headers []kafka.Header
}

// NewProducer returns a producer for cfg.Topic.
func NewProducer(cfg Config) *Producer {
	cfg = cfg.WithDefaults()
	p := &Producer{cfg: cfg, w: newWriter(cfg, cfg.Topic, 256, cfg.BatchTimeout), now: time.Now, values: cfg.Values}
	if p.values == nil {
		p.values = schema.NewEncoder(schema.JSON, 0)
	}
	if k, v := p.values.Header(); k != "" {
		p.headers = []kafka.Header{{Key: k, Value: v}}
	}
	return p
}

// newWriter returns a synchronous kafka-go writer with every knob set: its
// zero values would mean batches of 100 that wait up to a second. It
// connects through its own cfg.Transport, which closeWriter closes.
func newWriter(cfg Config, topic string, batchSize int, batchTimeout time.Duration) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Transport:              cfg.Transport(),
		Topic:                  topic,
		Balancer:               &kafka.Murmur2Balancer{},
		MaxAttempts:            cfg.WriteAttempts,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		BatchSize:              batchSize,
		BatchBytes:             cfg.BatchBytes,
		BatchTimeout:           batchTimeout,
		ReadTimeout:            10 * time.Second,
		WriteTimeout:           10 * time.Second,
		RequiredAcks:           kafka.RequireAll,
		Async:                  false,
		AllowAutoTopicCreation: false,
	}
}

// Send writes the trades and returns when the broker has acknowledged every
// one of them (acks=all), or with an error after cfg.WriteAttempts tries. On
// error some trades may have been written: a retried Send can duplicate
// them, which the trade ID makes harmless downstream. The message timestamp is
// the ingest time, from which the pipeline measures ingest→stored latency:
// now, less waited, how long the first of the trades waited for the others.
func (p *Producer) Send(ctx context.Context, trades []trade.Trade, waited time.Duration) error {
	p.buf, p.ends, p.msgs = p.buf[:0], p.ends[:0], p.msgs[:0]
	for i := range trades {
		p.buf = append(p.buf, trades[i].Symbol...)
		p.buf = p.values.AppendValue(p.buf, &trades[i])
		p.ends = append(p.ends, len(p.buf))
	}
	now := p.now().Add(-waited)
	off := 0
	for i, end := range p.ends {
		k := off + len(trades[i].Symbol)
		p.msgs = append(p.msgs, kafka.Message{Key: p.buf[off:k:k], Value: p.buf[k:end:end], Headers: p.headers, Time: now})
		off = end
	}
	return p.write(ctx, p.msgs)
}

// write writes msgs, retrying only the messages that failed.
func (p *Producer) write(ctx context.Context, msgs []kafka.Message) error {
	err := p.w.WriteMessages(ctx, msgs...)
	var werrs kafka.WriteErrors
	if err == nil || !errors.As(err, &werrs) {
		if err != nil {
			return fmt.Errorf("producing %d trades: %w", len(msgs), p.cfg.explain(ctx, err))
		}
		return nil
	}
	failed := msgs[:0:0]
	var first error
	for i, e := range werrs {
		if e != nil {
			failed = append(failed, msgs[i])
			if first == nil {
				first = e
			}
		}
	}
	return &PartialWriteError{failed: failed, Err: first}
}

// Retry writes again the messages of a partial write.
func (p *Producer) Retry(ctx context.Context, e *PartialWriteError) error {
	return p.write(ctx, e.failed)
}

// PartialWriteError says that some messages of a Send were not acknowledged.
// Producer.Retry writes them again.
type PartialWriteError struct {
	failed []kafka.Message
	// Err is the error of the first message not acknowledged.
	Err error
}

func (e *PartialWriteError) Error() string {
	return fmt.Sprintf("producing: %d trades not acknowledged: %v", len(e.failed), e.Err)
}

func (e *PartialWriteError) Unwrap() error { return e.Err }

// Close flushes and closes the producer. It is safe to call twice.
func (p *Producer) Close() error {
	if err := closeWriter(p.w); err != nil {
		return fmt.Errorf("closing producer: %w", err)
	}
	return nil
}

// closeWriter flushes and closes w, then the connections of its transport.
func closeWriter(w *kafka.Writer) error {
	err := w.Close()
	if t, ok := w.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
	return err
}

// DeadLetters writes messages that cannot be processed to the dead-letter
// topic, with why and where they came from in headers, so the pipeline can
// skip them without losing them. One goroutine at a time may call Send.
type DeadLetters struct {
	cfg Config
	w   *kafka.Writer
}

// MaxDeadLetterBytes is the most of a poison message's value kept in the
// dead-letter topic; the rest is cut and the cut is said in a header.
const MaxDeadLetterBytes = 256 << 10

// NewDeadLetters returns a writer for cfg.DLQTopic.
func NewDeadLetters(cfg Config) *DeadLetters {
	cfg = cfg.WithDefaults()
	return &DeadLetters{cfg: cfg, w: newWriter(cfg, cfg.DLQTopic, 1, time.Millisecond)}
}

// Send writes m to the dead-letter topic with reason and its source topic,
// partition and offset in headers, followed by m's own headers (an Avro
// message's schema among them), and returns when it is acknowledged.
func (d *DeadLetters) Send(ctx context.Context, m Message, reason error) error {
	value := m.Value
	headers := []kafka.Header{
		{Key: "error", Value: []byte(reason.Error())},
		{Key: "source-topic", Value: []byte(m.Topic)},
		{Key: "source-partition", Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
		{Key: "source-offset", Value: strconv.AppendInt(nil, m.Offset, 10)},
	}
	if len(value) > MaxDeadLetterBytes {
		headers = append(headers, kafka.Header{Key: "truncated-from", Value: strconv.AppendInt(nil, int64(len(value)), 10)})
		value = value[:MaxDeadLetterBytes]
	}
	for _, h := range m.Headers {
		if !slices.ContainsFunc(headers, func(o kafka.Header) bool { return o.Key == h.Key }) {
			headers = append(headers, h)
		}
	}
	err := d.w.WriteMessages(ctx, kafka.Message{Key: m.Key, Value: value, Headers: headers, Time: m.Time})
	if err != nil {
		return fmt.Errorf("writing dead letter for %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, d.cfg.explain(ctx, err))
	}
	return nil
}

// Close flushes and closes the writer. It is safe to call twice.
func (d *DeadLetters) Close() error {
	if err := closeWriter(d.w); err != nil {
		return fmt.Errorf("closing dead-letter writer: %w", err)
	}
	return nil
}
