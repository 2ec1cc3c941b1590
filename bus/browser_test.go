package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// offsets returns the offsets of msgs, in order.
func offsets(msgs []Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

// span returns the offsets from a to b, counting up or down.
func span(a, b int64) []int64 {
	var out []int64
	for o := a; ; {
		out = append(out, o)
		if o == b {
			return out
		}
		if a < b {
			o++
		} else {
			o--
		}
	}
}

// writeAt writes n messages to topic's partition 0, keyed k<i> with value
// v<i>, the i-th timestamped at + i seconds.
func writeAt(t *testing.T, cfg Config, topic string, n int, at time.Time) {
	t.Helper()
	w := newWriter(cfg, topic, n, time.Millisecond)
	defer closeWriter(w)
	w.Balancer = kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 })
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i), Time: at.Add(time.Duration(i) * time.Second)}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserPagesAcrossBoundaries(t *testing.T) {
	_, cfg := embedded(t, 1)
	writeAt(t, cfg, cfg.Topic, 25, time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC))
	b := NewBrowser(cfg)
	defer b.Close()
	ctx := context.Background()

	parts, err := b.Partitions(ctx, cfg.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if want := []PartitionRange{{Partition: 0, Start: 0, End: 25}}; !slices.Equal(parts, want) {
		t.Fatalf("partitions %+v, want %+v", parts, want)
	}

	tests := []struct {
		name string
		q    PageQuery
		want []int64
	}{
		{"newest", PageQuery{Offset: -1, N: 10}, span(24, 15)},
		{"newest, the page before", PageQuery{Offset: 15, N: 10}, span(14, 5)},
		{"newest, a short last page", PageQuery{Offset: 5, N: 10}, span(4, 0)},
		{"newest, before the first", PageQuery{Offset: 0, N: 10}, nil},
		{"newest, past the end", PageQuery{Offset: 99, N: 3}, span(24, 22)},
		{"oldest", PageQuery{Offset: -1, N: 10, OldestFirst: true}, span(0, 9)},
		{"oldest, the page after", PageQuery{Offset: 10, N: 10, OldestFirst: true}, span(10, 19)},
		{"oldest, a short last page", PageQuery{Offset: 20, N: 10, OldestFirst: true}, span(20, 24)},
		{"oldest, at the end", PageQuery{Offset: 25, N: 10, OldestFirst: true}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.Topic = cfg.Topic
			msgs, err := b.Page(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := offsets(msgs); !slices.Equal(got, tc.want) {
				t.Errorf("offsets %v, want %v", got, tc.want)
			}
			for _, m := range msgs {
				if want := "v" + strconv.FormatInt(m.Offset, 10); string(m.Value) != want {
					t.Errorf("offset %d holds %q, want %q", m.Offset, m.Value, want)
				}
			}
		})
	}
}

func TestBrowserOffsetAtTime(t *testing.T) {
	_, cfg := embedded(t, 1)
	at := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	writeAt(t, cfg, cfg.Topic, 10, at)
	b := NewBrowser(cfg)
	defer b.Close()
	tests := []struct {
		name string
		t    time.Time
		want int64
	}{
		{"before the first", at.Add(-time.Hour), 0},
		{"exactly the fourth", at.Add(3 * time.Second), 3},
		{"between the sixth and seventh", at.Add(5500 * time.Millisecond), 6},
		{"after the last: the end", at.Add(time.Hour), 10},
	}
	for _, tc := range tests {
		got, err := b.OffsetAt(context.Background(), cfg.Topic, 0, tc.t)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: offset %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestBrowserFollowsNewMessages(t *testing.T) {
	_, cfg := embedded(t, 1)
	writeAt(t, cfg, cfg.Topic, 3, time.Now())
	b := NewBrowser(cfg)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parts, err := b.Partitions(ctx, cfg.Topic)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan Message, 10)
	done := make(chan error, 1)
	go func() {
		done <- b.Follow(ctx, cfg.Topic, 0, parts[0].End, func(m Message) error {
			got <- m
			return nil
		})
	}()
	// The follow starts at the end taken before this write: whenever it
	// asks, the message is after where it reads from.
	p := NewProducer(cfg)
	defer p.Close()
	if err := p.Send(ctx, trades(1), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Offset != 3 || string(m.Key) != "S0" {
			t.Errorf("followed offset %d key %q, want the new message at 3 keyed S0", m.Offset, m.Key)
		}
	case err := <-done:
		t.Fatalf("follow ended before the message: %v", err)
	case <-ctx.Done():
		t.Fatal("the message produced was not followed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("follow: %v, want nil once its context is done", err)
	}
}

// headers returns hs as key=value strings, in order.
func headers(hs []kafka.Header) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Key + "=" + string(h.Value)
	}
	return out
}

func TestRedriveStripsDeadLetterHeaders(t *testing.T) {
	_, cfg := embedded(t, 1)
	ctx := context.Background()
	d := NewDeadLetters(cfg)
	defer d.Close()
	own := []kafka.Header{{Key: "avro.schema", Value: []byte(`"x"`)}, {Key: "trace", Value: []byte("abc")}}
	for i, v := range [][]byte{[]byte("first"), make([]byte, MaxDeadLetterBytes+1), []byte("third")} {
		src := Message{Topic: cfg.Topic, Partition: 0, Offset: int64(40 + i), Key: []byte("AAPL"), Value: v, Headers: own}
		if err := d.Send(ctx, src, errors.New("bad trade")); err != nil {
			t.Fatal(err)
		}
	}
	b := NewBrowser(cfg)
	defer b.Close()
	if n, err := b.Pending(ctx); err != nil || n != 3 {
		t.Fatalf("pending %d, %v; want 3", n, err)
	}

	dl, err := b.Redrive(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := DeadLetterOf(&dl); !ok || d.Reason != "bad trade" || d.SourceOffset != 42 || d.SourceTopic != cfg.Topic {
		t.Errorf("re-drove %+v (%v), want the dead letter of %s/0@42 with its reason", d, ok, cfg.Topic)
	}
	if _, err := b.Redrive(ctx, 0, 1); !errors.Is(err, ErrTruncated) {
		t.Errorf("re-driving a truncated dead letter: %v, want ErrTruncated", err)
	}
	if _, err := b.Redrive(ctx, 0, 9); err == nil {
		t.Error("re-driving an offset past the end: no error")
	}
	main := func() []Message {
		t.Helper()
		msgs, err := b.Page(ctx, PageQuery{Topic: cfg.Topic, Offset: -1, N: 10, OldestFirst: true})
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	got := main()
	if len(got) != 1 || string(got[0].Value) != "third" || string(got[0].Key) != "AAPL" {
		t.Fatalf("the topic holds %d messages (%v), want the third dead letter's copy", len(got), got)
	}
	if h, want := headers(got[0].Headers), headers(own); !slices.Equal(h, want) {
		t.Errorf("copy's headers %v, want the message's own %v", h, want)
	}

	all, err := b.RedriveAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if all.Copied != 2 || len(all.Refused) != 1 || all.Refused[0].Offset != 1 || !errors.Is(all.Refused[0].Err, ErrTruncated) {
		t.Errorf("re-drove all: %+v, want 2 copied and offset 1 refused as truncated", all)
	}
	got = main()
	var values []string
	for _, m := range got {
		values = append(values, string(m.Value))
		if h, want := headers(m.Headers), headers(own); !slices.Equal(h, want) {
			t.Errorf("copy at %d has headers %v, want %v", m.Offset, h, want)
		}
	}
	if want := []string{"third", "first", "third"}; !slices.Equal(values, want) {
		t.Errorf("the topic holds %q, want %q", values, want)
	}
}
