package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/trade"
)

func embedded(t testing.TB, partitions int) (*Embedded, Config) {
	t.Helper()
	e, err := StartEmbedded(EmbeddedConfig{Partitions: partitions, Topics: []string{"trades", "trades.dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, Config{Brokers: []string{e.Addr()}, Partitions: partitions}.WithDefaults()
}

func trades(n int) []trade.Trade {
	out := make([]trade.Trade, n)
	for i := range out {
		out[i] = trade.Trade{
			ID:     "t-" + strconv.Itoa(i),
			Symbol: fmt.Sprintf("S%d", i%7),
			Price:  100 + float64(i),
			Volume: 1,
			Time:   time.Date(2026, 1, 2, 15, 0, 0, i, time.UTC),
		}
	}
	return out
}

// consume runs one member of the group until it has seen want messages in
// total, committing each partition's end with metadata, and returns what each
// claim started from.
func consume(t *testing.T, cfg Config, want int) (got map[string]trade.Trade, starts map[int]*Claim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, starts = map[string]trade.Trade{}, map[int]*Claim{}
	seen := make(chan trade.Trade)
	c := NewConsumer(cfg, slog.New(slog.DiscardHandler))
	// An error ends the run at once: a healthy run reports none.
	c.OnError = func(err error) {
		t.Errorf("consumer: %v", err)
		cancel()
	}
	done := make(chan error, 1)
	claims := make(chan *Claim, 100)
	go func() {
		done <- c.Run(ctx, func(ctx context.Context, cl *Claim) error {
			claims <- cl
			end, err := cl.EndOffset(ctx)
			if err != nil {
				return err
			}
			next := cl.Start
			for next < end {
				select {
				case m, ok := <-cl.Messages():
					if !ok {
						return ctx.Err()
					}
					var tr trade.Trade
					if err := trade.UnmarshalJSON(m.Value, &tr); err != nil {
						return err
					}
					seen <- tr
					next = m.Offset + 1
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			cl.Commit(next, "wm="+strconv.FormatInt(next, 10))
			return cl.Flush(ctx)
		})
	}()
	for {
		select {
		case tr := <-seen:
			got[tr.ID] = tr
		case err := <-done:
			close(claims)
			for cl := range claims {
				starts[cl.Partition] = cl
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != want {
				t.Fatalf("consumed %d distinct trades, want %d", len(got), want)
			}
			return got, starts
		case <-ctx.Done():
			t.Fatalf("stopped with %d of %d trades: %v", len(got), want, ctx.Err())
		}
	}
}

func TestProduceConsumeCommitResume(t *testing.T) {
	_, cfg := embedded(t, 4)
	ctx := context.Background()
	p := NewProducer(cfg)
	defer p.Close()
	in := trades(500)
	if err := p.Send(ctx, in, 0); err != nil {
		t.Fatal(err)
	}
	got, starts := consume(t, cfg, len(in))
	for _, tr := range in {
		if got[tr.ID] != tr {
			t.Errorf("trade %s: got %+v, want %+v", tr.ID, got[tr.ID], tr)
		}
	}
	if len(starts) != 4 {
		t.Fatalf("claimed %d partitions, want 4", len(starts))
	}
	for p, cl := range starts {
		if cl.Start != 0 || cl.Metadata != "" {
			t.Errorf("first run: partition %d starts at %d with %q, want 0 and no metadata", p, cl.Start, cl.Metadata)
		}
	}

	// A second member resumes where the first committed, with its metadata.
	firstEnds, err := NewAdmin(cfg).EndOffsets(ctx, cfg.Topic)
	if err != nil {
		t.Fatal(err)
	}
	more := trades(600)[500:]
	if err := p.Send(ctx, more, 0); err != nil {
		t.Fatal(err)
	}
	_, starts = consume(t, cfg, len(more))
	lag, err := NewAdmin(cfg).Lag(ctx, cfg.Group, cfg.Topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, l := range lag {
		cl := starts[l.Partition]
		if cl.Start != firstEnds[l.Partition] || cl.Metadata != "wm="+strconv.FormatInt(cl.Start, 10) {
			t.Errorf("partition %d resumed at %d with %q", l.Partition, cl.Start, cl.Metadata)
		}
		if l.Lag != 0 || l.Committed != l.End {
			t.Errorf("partition %d: lag %+v, want committed at the end", l.Partition, l)
		}
		total += l.End
	}
	if total != 600 {
		t.Errorf("end offsets add up to %d, want 600", total)
	}
}

func TestSameSymbolSamePartition(t *testing.T) {
	_, cfg := embedded(t, 6)
	ctx := context.Background()
	p := NewProducer(cfg)
	defer p.Close()
	if err := p.Send(ctx, trades(700), 0); err != nil {
		t.Fatal(err)
	}
	where := map[string]int{}
	for part := range 6 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: cfg.Topic, Partition: part, Dialer: cfg.Dialer(), MaxWait: 100 * time.Millisecond})
		end, err := NewAdmin(cfg).EndOffsets(ctx, cfg.Topic)
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(0); i < end[part]; i++ {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sym := string(m.Key)
			if prev, ok := where[sym]; ok && prev != part {
				t.Errorf("symbol %s in partitions %d and %d", sym, prev, part)
			}
			where[sym] = part
		}
		r.Close()
	}
	if len(where) != 7 {
		t.Errorf("found %d symbols, want 7", len(where))
	}
}

func TestTrimDeletesOnlyBeforeOffset(t *testing.T) {
	e, cfg := embedded(t, 1)
	ctx := context.Background()
	p := NewProducer(cfg)
	defer p.Close()
	if err := p.Send(ctx, trades(100), 0); err != nil {
		t.Fatal(err)
	}
	if err := e.Trim(ctx, cfg.Topic, map[int]int64{0: 60}); err != nil {
		t.Fatal(err)
	}
	lag, err := NewAdmin(cfg).Lag(ctx, "nobody", cfg.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if lag[0].Start != 60 || lag[0].End != 100 || lag[0].Lag != 40 || lag[0].Committed != -1 {
		t.Errorf("after trimming to 60: %+v, want start 60, end 100, lag 40, nothing committed", lag[0])
	}
}

func TestDeadLetterKeepsSourceAndReason(t *testing.T) {
	_, cfg := embedded(t, 1)
	ctx := context.Background()
	d := NewDeadLetters(cfg)
	defer d.Close()
	big := make([]byte, MaxDeadLetterBytes+10)
	src := Message{Topic: "trades", Partition: 3, Offset: 41, Key: []byte("K"), Value: big,
		Headers: []kafka.Header{{Key: "avro.schema", Value: []byte(`"string"`)}, {Key: "error", Value: []byte("an older reason")}}}
	if err := d.Send(ctx, src, errors.New("not json")); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: cfg.DLQTopic, Partition: 0, Dialer: cfg.Dialer(), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	want := map[string]string{
		"error": "not json", "source-topic": "trades", "source-partition": "3",
		"source-offset": "41", "truncated-from": strconv.Itoa(len(big)),
		"avro.schema": `"string"`, // the message's own headers follow, but for those it sets
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("header %s = %q, want %q", k, h[k], v)
		}
	}
	if len(m.Headers) != len(want) {
		t.Errorf("headers %v, want one of each of %v", m.Headers, want)
	}
	if len(m.Value) != MaxDeadLetterBytes || string(m.Key) != "K" {
		t.Errorf("dead letter has key %q and %d value bytes", m.Key, len(m.Value))
	}
}

// TestMessageSharesBytes checks that handing a fetched message on copies
// none of its bytes and allocates nothing: relay does it for every message.
func TestMessageSharesBytes(t *testing.T) {
	km := kafka.Message{Topic: "trades", Partition: 2, Offset: 7, HighWaterMark: 9,
		Key: []byte("AAPL"), Value: []byte(`{"s":"AAPL"}`), Time: time.Unix(1, 0)}
	ch := make(chan Message, 1)
	if n := testing.AllocsPerRun(100, func() { ch <- message(&km); <-ch }); n != 0 {
		t.Errorf("message allocates %v times per message, want 0", n)
	}
	m := message(&km)
	if &m.Value[0] != &km.Value[0] || &m.Key[0] != &km.Key[0] {
		t.Error("message copied the key or value")
	}
	want := Message{Topic: "trades", Partition: 2, Offset: 7, HighWaterMark: 9, Key: km.Key, Value: km.Value, Time: km.Time}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("message(%+v) = %+v", km, m)
	}
}

func TestEnsureTopic(t *testing.T) {
	_, cfg := embedded(t, 2)
	a := NewAdmin(cfg)
	ctx := context.Background()
	info, err := a.EnsureTopic(ctx, "trades")
	if err != nil || info.Created || info.Partitions != 2 {
		t.Errorf("existing topic: %+v, %v; want 2 partitions, not created", info, err)
	}
	info, err = a.EnsureTopic(ctx, "fresh")
	if err != nil || !info.Created || info.Partitions != cfg.Partitions {
		t.Errorf("new topic: %+v, %v; want %d partitions, created", info, err, cfg.Partitions)
	}
}

func TestValidateBroker(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:9092", true},
		{"kafka-1.internal:19092", true},
		{"[::1]:9092", true},
		{"localhost", false},
		{"localhost:", false},
		{":9092", false},
		{"host:0", false},
		{"host:99999", false},
		{"host:abc", false},
		{"ho st:9092", false},
		{"!!garbage!!", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if err := ValidateBroker(tt.addr); (err == nil) != tt.ok {
				t.Errorf("ValidateBroker(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
			}
		})
	}
}

func TestTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"coordinator not available, wrapped", fmt.Errorf("group g: %w", kafka.GroupCoordinatorNotAvailable), true},
		{"rebalance in progress", kafka.RebalanceInProgress, true},
		{"authorization failed", kafka.TopicAuthorizationFailed, false},
		{"not a kafka error", errors.New("disk full"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Temporary(tt.err); got != tt.want {
				t.Errorf("Temporary(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// BenchmarkRelay measures the consumer's hot path: a partition reader
// fetching from the embedded broker and handing each message to its claim.
// One op reads n messages; the allocations include the in-process broker's.
func BenchmarkRelay(b *testing.B) {
	const n = 20000
	_, cfg := embedded(b, 1)
	ctx := context.Background()
	p := NewProducer(cfg)
	defer p.Close()
	in := trades(n)
	if err := p.Send(ctx, in, 0); err != nil {
		b.Fatal(err)
	}
	var size int64
	for i := range in {
		size += int64(len(in[i].Symbol) + len(trade.AppendJSON(nil, &in[i])))
	}
	c := NewConsumer(cfg, slog.New(slog.DiscardHandler))
	defer closeClient(c.client)
	c.OnError = func(err error) { b.Error(err) }
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithCancel(ctx)
		cl := c.claim(0, kafka.OffsetFetchPartition{CommittedOffset: 0}, nil)
		go c.relay(ctx, cl)
		for want := int64(0); want < n; want++ {
			m, ok := <-cl.msgs
			if !ok || m.Offset != want {
				b.Fatalf("got offset %d (open %v), want %d", m.Offset, ok, want)
			}
		}
		cancel()
		for range cl.msgs {
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestLagReadsFirstOffsetsEveryWhile: the first offsets move only when
// retention deletes, so Lag reads them once per startsFor and the end
// offsets every time.
func TestLagReadsFirstOffsetsEveryWhile(t *testing.T) {
	_, cfg := embedded(t, 3)
	ctx := context.Background()
	p := NewProducer(cfg)
	defer p.Close()
	if err := p.Send(ctx, trades(90), 0); err != nil {
		t.Fatal(err)
	}
	a := NewAdmin(cfg)
	defer a.Close()
	now := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	read := func(wantEnds int64) {
		t.Helper()
		lag, err := a.Lag(ctx, "nobody", cfg.Topic)
		if err != nil {
			t.Fatal(err)
		}
		var ends int64
		for _, l := range lag {
			if l.Start != 0 || l.Lag != l.End {
				t.Errorf("partition %d: %+v, want start 0 and the whole partition unread", l.Partition, l)
			}
			ends += l.End
		}
		if ends != wantEnds {
			t.Errorf("end offsets add up to %d, want %d", ends, wantEnds)
		}
	}
	read(90)
	first := a.starts[cfg.Topic].at
	if err := p.Send(ctx, trades(120)[90:], 0); err != nil {
		t.Fatal(err)
	}
	now = now.Add(startsFor / 2)
	read(120) // the ends are read again
	if at := a.starts[cfg.Topic].at; !at.Equal(first) {
		t.Errorf("first offsets read again after %v, want them reused for %v", at.Sub(first), startsFor)
	}
	now = now.Add(startsFor)
	read(120)
	if at := a.starts[cfg.Topic].at; !at.Equal(now) {
		t.Errorf("first offsets last read at %v, want again at %v", at, now)
	}
}
