package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Browser looks inside a topic the way Kafdrop does: the partitions with
// their offsets, a page of one partition's messages from any offset or
// time, newest or oldest first, and the messages that arrive next. It
// never holds more than a page in memory. It also re-drives dead letters:
// copies them from cfg.DLQTopic back to cfg.Topic.
//
// Every request is bounded by cfg.RequestTimeout (a wait for new messages
// by that wait and RequestTimeout more). Its methods may be called from any
// goroutine.
type Browser struct {
	cfg    Config
	client *kafka.Client
}

// NewBrowser returns a browser of the topics of cfg, which must name the
// brokers.
func NewBrowser(cfg Config) *Browser {
	cfg = cfg.WithDefaults()
	return &Browser{cfg: cfg, client: newClient(cfg)}
}

// Config is the browser's configuration, with defaults.
func (b *Browser) Config() Config { return b.cfg }

// Close closes the browser's connections. It is safe to call twice.
func (b *Browser) Close() { closeClient(b.client) }

// PartitionRange is one partition and the offsets it holds: Start is its
// first retained offset, End the offset the next message will get. It
// holds End - Start messages, fewer where a compacted or transactional log
// has gaps.
type PartitionRange struct {
	Partition int
	Start     int64
	End       int64
}

// Partitions returns every partition of topic, in order, with its offsets.
func (b *Browser) Partitions(ctx context.Context, topic string) ([]PartitionRange, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	parts, err := b.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	offs, err := listOffsets(ctx, b.client, topic, parts, kafka.FirstOffsetOf, kafka.LastOffsetOf)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionRange, 0, len(parts))
	for _, p := range parts {
		o := offs[p]
		out = append(out, PartitionRange{Partition: p, Start: min(o.FirstOffset, o.LastOffset), End: o.LastOffset})
	}
	return out, nil
}

// partitions returns topic's partition IDs, through the browser's client.
func (b *Browser) partitions(ctx context.Context, topic string) ([]int, error) {
	return (&Admin{cfg: b.cfg, client: b.client}).partitions(ctx, topic)
}

// partition returns the offsets of one partition of topic.
func (b *Browser) partition(ctx context.Context, topic string, partition int) (PartitionRange, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	offs, err := listOffsets(ctx, b.client, topic, []int{partition}, kafka.FirstOffsetOf, kafka.LastOffsetOf)
	if err != nil {
		return PartitionRange{}, err
	}
	o, ok := offs[partition]
	if !ok {
		return PartitionRange{}, fmt.Errorf("topic %s has no partition %d: %w", topic, partition, kafka.UnknownTopicOrPartition)
	}
	return PartitionRange{Partition: partition, Start: min(o.FirstOffset, o.LastOffset), End: o.LastOffset}, nil
}

// PageQuery asks for a page of one partition's messages.
type PageQuery struct {
	Topic     string
	Partition int
	// Offset places the page. Newest first, the page ends before it: its
	// messages have lower offsets, and -1 means the partition's end (the
	// newest messages). Oldest first, the page starts at it, and -1 means
	// the partition's first retained offset.
	Offset int64
	// N is the most messages in the page. Default 20; at most MaxPage.
	N int
	// OldestFirst pages forward in offset order. Default false: newest
	// first, backward.
	OldestFirst bool
	// Wait, oldest first, is how long to wait for a first message when
	// there is none yet at Offset: a page at the partition's end then
	// holds the messages produced meanwhile. Default 0: do not wait.
	Wait time.Duration
}

// MaxPage is the most messages a page holds.
const MaxPage = 1000

// Page returns the messages of the page q asks for, in the order it asks
// for. A page beyond the partition's ends is empty; one that starts before
// the first retained offset starts there.
func (b *Browser) Page(ctx context.Context, q PageQuery) ([]Message, error) {
	if q.N <= 0 {
		q.N = 20
	}
	q.N = min(q.N, MaxPage)
	r, err := b.partition(ctx, q.Topic, q.Partition)
	if err != nil {
		return nil, err
	}
	if q.OldestFirst {
		from := q.Offset
		if from < 0 {
			from = r.Start
		}
		from = max(from, r.Start)
		if from > r.End {
			return nil, nil
		}
		if from == r.End && q.Wait <= 0 {
			return nil, nil
		}
		return b.read(ctx, q.Topic, q.Partition, from, r.End, q.N, q.Wait)
	}
	end := q.Offset
	if end < 0 || end > r.End {
		end = r.End
	}
	from := max(end-int64(q.N), r.Start)
	if from >= end {
		return nil, nil
	}
	msgs, err := b.read(ctx, q.Topic, q.Partition, from, end, q.N, 0)
	slices.Reverse(msgs)
	return msgs, err
}

// read returns up to n messages of the partition from offset from on, and
// before end unless waiting: with wait > 0 it returns what arrives within
// wait, past end too. It fetches with as many requests as the messages'
// bytes need, each bounded by the request timeout.
func (b *Browser) read(ctx context.Context, topic string, partition int, from, end int64, n int, wait time.Duration) ([]Message, error) {
	conn, err := b.dial(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out []Message
	next := from
	for len(out) < n && (wait > 0 || next < end) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if _, err := conn.Seek(next, kafka.SeekAbsolute); err != nil {
			return out, fmt.Errorf("reading %s/%d at %d: %w", topic, partition, next, err)
		}
		maxWait := b.cfg.FetchMaxWait
		if wait > 0 {
			maxWait = wait
		}
		deadline := time.Now().Add(maxWait + b.cfg.RequestTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if err := conn.SetDeadline(deadline); err != nil {
			return out, err
		}
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{
			MinBytes:       1,
			MaxBytes:       b.cfg.FetchMaxBytes,
			MaxWait:        maxWait,
			IsolationLevel: kafka.ReadCommitted,
		})
		got := 0
		for len(out) < n {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			next = m.Offset + 1
			if wait <= 0 && m.Offset >= end {
				next = end
				break
			}
			out = append(out, message(&m))
			got++
		}
		hwm := batch.HighWaterMark()
		if err := batch.Close(); err != nil && !errors.Is(err, kafka.RequestTimedOut) {
			return out, fmt.Errorf("reading %s/%d at %d: %w", topic, partition, next, b.cfg.explain(ctx, err))
		}
		switch {
		case wait > 0:
			// One wait, whatever it brought.
			return out, nil
		case got == 0 && next >= hwm:
			// Nothing more to read: the end moved back (retention) or
			// the rest is transaction markers.
			return out, nil
		case got == 0:
			// A fetch with no message below the end: offsets skipped
			// (compaction, transaction markers). Move on by one.
			next++
		}
	}
	return out, nil
}

// dial connects to the leader of the partition, through the first broker
// that answers.
func (b *Browser) dial(ctx context.Context, topic string, partition int) (*kafka.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	var errs []error
	for _, addr := range b.cfg.Brokers {
		conn, err := b.cfg.Dialer().DialLeader(ctx, "tcp", addr, topic, partition)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no brokers to read from")
	}
	return nil, fmt.Errorf("connecting to the leader of %s/%d: %w", topic, partition, b.cfg.explain(ctx, errors.Join(errs...)))
}

// OffsetAt returns the offset of the first message of the partition whose
// timestamp is at or after t, or the partition's end offset when there is
// none.
func (b *Browser) OffsetAt(ctx context.Context, topic string, partition int, t time.Time) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	offs, err := listOffsets(ctx, b.client, topic, []int{partition}, func(p int) kafka.OffsetRequest { return kafka.TimeOffsetOf(p, t) })
	if err != nil {
		return 0, err
	}
	for off := range offs[partition].Offsets {
		if off >= 0 {
			return off, nil
		}
	}
	// No message that late: kafka-go reads the broker's "none" (offset
	// -1) as a last offset.
	r, err := b.partition(ctx, topic, partition)
	if err != nil {
		return 0, err
	}
	return r.End, nil
}

// Follow calls fn with every message of the partition from offset from on
// (-1: from its end), in order, as they arrive, until ctx is done or fn
// returns an error. It returns nil when ctx is done.
func (b *Browser) Follow(ctx context.Context, topic string, partition int, from int64, fn func(Message) error) error {
	if from < 0 {
		r, err := b.partition(ctx, topic, partition)
		if err != nil {
			return err
		}
		from = r.End
	}
	for ctx.Err() == nil {
		msgs, err := b.Page(ctx, PageQuery{Topic: topic, Partition: partition, Offset: from, N: 500, OldestFirst: true, Wait: followWait})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := fn(m); err != nil {
				return err
			}
			from = m.Offset + 1
		}
	}
	return nil
}

// followWait is how long one request of Follow waits for new messages.
const followWait = time.Second

// Dead-letter headers, as DeadLetters.Send writes them.
const (
	HeaderError           = "error"
	HeaderSourceTopic     = "source-topic"
	HeaderSourcePartition = "source-partition"
	HeaderSourceOffset    = "source-offset"
	HeaderTruncatedFrom   = "truncated-from"
)

// deadLetterHeaders are the headers DeadLetters.Send adds, which a re-drive
// strips.
var deadLetterHeaders = []string{HeaderError, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset, HeaderTruncatedFrom}

// DeadLetter is what a dead letter's headers say of it.
type DeadLetter struct {
	// Reason is why it could not be processed.
	Reason string
	// Source is where it was read: topic, partition and offset.
	SourceTopic     string
	SourcePartition int
	SourceOffset    int64
	// TruncatedFrom is the size of its value before it was cut to
	// MaxDeadLetterBytes; 0 when it is whole.
	TruncatedFrom int64
}

// DeadLetterOf reads the dead-letter headers of m, and reports whether it
// has them.
func DeadLetterOf(m *Message) (DeadLetter, bool) {
	src := m.Header(HeaderSourceTopic)
	if src == nil {
		return DeadLetter{}, false
	}
	d := DeadLetter{Reason: string(m.Header(HeaderError)), SourceTopic: string(src), SourcePartition: -1, SourceOffset: -1}
	if p, err := strconv.Atoi(string(m.Header(HeaderSourcePartition))); err == nil {
		d.SourcePartition = p
	}
	if o, err := strconv.ParseInt(string(m.Header(HeaderSourceOffset)), 10, 64); err == nil {
		d.SourceOffset = o
	}
	if t := m.Header(HeaderTruncatedFrom); t != nil {
		d.TruncatedFrom, _ = strconv.ParseInt(string(t), 10, 64)
		d.TruncatedFrom = max(d.TruncatedFrom, 1)
	}
	return d, true
}

// ErrTruncated is the error of re-driving a dead letter whose value was
// cut when it was dead-lettered: the copy would be incomplete.
var ErrTruncated = errors.New("its value was truncated when it was dead-lettered, so it cannot be re-driven")

// ErrNotDeadLetter is the error of re-driving a message without the
// dead-letter headers.
var ErrNotDeadLetter = errors.New("not a dead letter: it has no source-topic header")

// Redrive copies the dead letter at offset of partition of cfg.DLQTopic to
// cfg.Topic, and returns the dead letter. The copy has the dead letter's
// key and value, and its headers but those DeadLetters.Send added; it is
// partitioned by key, as the producer does, and timestamped now. The
// trade it holds keeps its ID, so a trade re-driven twice is stored once.
// A truncated dead letter is refused with ErrTruncated. The write is
// acknowledged by every in-sync replica (acks=all).
func (b *Browser) Redrive(ctx context.Context, partition int, offset int64) (Message, error) {
	msgs, err := b.Page(ctx, PageQuery{Topic: b.cfg.DLQTopic, Partition: partition, Offset: offset, N: 1, OldestFirst: true})
	if err != nil {
		return Message{}, err
	}
	if len(msgs) == 0 || msgs[0].Offset != offset {
		return Message{}, fmt.Errorf("no dead letter at %s/%d@%d", b.cfg.DLQTopic, partition, offset)
	}
	m := msgs[0]
	if err := redrivable(&m); err != nil {
		return m, fmt.Errorf("dead letter %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
	}
	w := newWriter(b.cfg, b.cfg.Topic, 1, time.Millisecond)
	defer closeWriter(w)
	if err := w.WriteMessages(ctx, redriven(&m)); err != nil {
		return m, fmt.Errorf("re-driving %s/%d@%d to %s: %w", m.Topic, m.Partition, m.Offset, b.cfg.Topic, b.cfg.explain(ctx, err))
	}
	return m, nil
}

// redrivable says why m cannot be re-driven, or nil.
func redrivable(m *Message) error {
	d, ok := DeadLetterOf(m)
	switch {
	case !ok:
		return ErrNotDeadLetter
	case d.TruncatedFrom > 0:
		return fmt.Errorf("%w (%d of %d bytes kept)", ErrTruncated, len(m.Value), d.TruncatedFrom)
	}
	return nil
}

// redriven is the copy of dead letter m that goes back to the topic.
func redriven(m *Message) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers))
	for _, h := range m.Headers {
		if !slices.Contains(deadLetterHeaders, h.Key) {
			headers = append(headers, h)
		}
	}
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}
}

// Pending returns how many dead letters cfg.DLQTopic holds: what RedriveAll
// would copy if nothing arrives meanwhile.
func (b *Browser) Pending(ctx context.Context) (int64, error) {
	parts, err := b.Partitions(ctx, b.cfg.DLQTopic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range parts {
		n += p.End - p.Start
	}
	return n, nil
}

// Redriven says what RedriveAll did.
type Redriven struct {
	// Copied is how many dead letters went back to the topic.
	Copied int
	// Refused are the dead letters left where they are: truncated ones,
	// and messages without the dead-letter headers.
	Refused []Refusal
}

// Refusal is a dead letter RedriveAll left alone, and why.
type Refusal struct {
	Partition int
	Offset    int64
	Err       error
}

// RedriveAll copies, as Redrive does, every dead letter of cfg.DLQTopic up
// to its end offsets when it is called; what arrives meanwhile stays. It
// reads and writes a page at a time. Dead letters it cannot re-drive are
// left and listed. On an error, the dead letters counted as copied were
// written; the rest were not, or may have been (a write that failed may
// have been stored, which the trade ID makes harmless).
func (b *Browser) RedriveAll(ctx context.Context) (Redriven, error) {
	var done Redriven
	parts, err := b.Partitions(ctx, b.cfg.DLQTopic)
	if err != nil {
		return done, err
	}
	w := newWriter(b.cfg, b.cfg.Topic, redrivePage, b.cfg.BatchTimeout)
	defer closeWriter(w)
	for _, p := range parts {
		for next := p.Start; next < p.End; {
			msgs, err := b.read(ctx, b.cfg.DLQTopic, p.Partition, next, p.End, redrivePage, 0)
			if err != nil {
				return done, err
			}
			if len(msgs) == 0 {
				break
			}
			copies := make([]kafka.Message, 0, len(msgs))
			for i := range msgs {
				m := &msgs[i]
				if err := redrivable(m); err != nil {
					done.Refused = append(done.Refused, Refusal{Partition: m.Partition, Offset: m.Offset, Err: err})
					continue
				}
				copies = append(copies, redriven(m))
			}
			if len(copies) > 0 {
				if err := w.WriteMessages(ctx, copies...); err != nil {
					return done, fmt.Errorf("re-driving %s/%d from %d to %s: %w", b.cfg.DLQTopic, p.Partition, next, b.cfg.Topic, b.cfg.explain(ctx, err))
				}
			}
			done.Copied += len(copies)
			next = msgs[len(msgs)-1].Offset + 1
		}
	}
	return done, nil
}

// redrivePage is how many dead letters RedriveAll reads and writes at a
// time.
const redrivePage = 200
