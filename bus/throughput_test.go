package bus

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/trade"
)

// BenchmarkKafkaThroughput is the ceiling of Kafka alone as tradetop uses
// it: one producer sends batches of 2000 trades of 500 symbols to a topic of
// 6 partitions while a reader per partition reads them back, no store. One
// op moves n trades. On the embedded broker, or on the brokers in
// TRADETOP_BENCH_KAFKA (comma-separated), in a topic of its own.
func BenchmarkKafkaThroughput(b *testing.B) {
	const (
		n          = 200_000
		partitions = 6
		batch      = 2000
	)
	var cfg Config
	if brokers := os.Getenv("TRADETOP_BENCH_KAFKA"); brokers != "" {
		cfg = Config{Brokers: strings.Split(brokers, ","), Partitions: partitions,
			Topic: fmt.Sprintf("bench_%d", time.Now().UnixNano())}.WithDefaults()
		admin := NewAdmin(cfg)
		defer admin.Close()
		if _, err := admin.EnsureTopic(b.Context(), cfg.Topic); err != nil {
			b.Fatal(err)
		}
	} else {
		_, cfg = embedded(b, partitions)
	}
	in := make([]trade.Trade, n)
	for i := range in {
		in[i] = trade.Trade{ID: fmt.Sprintf("b-%d", i), Symbol: fmt.Sprintf("S%03d", i%500),
			Price: 100 + float64(i%1000)/100, Volume: 1 + float64(i%300), Time: time.Date(2026, 3, 2, 14, 30, 0, i*1000, time.UTC)}
	}
	p := NewProducer(cfg)
	defer p.Close()
	c := NewConsumer(cfg, slog.New(slog.DiscardHandler))
	defer closeClient(c.client)
	c.OnError = func(err error) { b.Error(err) }
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	claims := make([]*Claim, partitions)
	for part := range partitions {
		claims[part] = c.claim(part, kafka.OffsetFetchPartition{CommittedOffset: 0}, nil)
		go c.relay(ctx, claims[part])
	}
	var start [partitions]int64
	b.ReportAllocs()
	for b.Loop() {
		sent := make(chan error, 1)
		go func() {
			for i := 0; i < n; i += batch {
				if err := p.Send(ctx, in[i:min(i+batch, n)], 0); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		// The readers read while the producer sends; each stops at the
		// end its partition has once the producer is done.
		var (
			total [partitions]int64
			end   [partitions]int64
			read  sync.WaitGroup
		)
		known := make(chan struct{}) // closed once end is set
		for part := range partitions {
			off := start[part]
			read.Go(func() {
				msgs := claims[part].msgs
				for {
					select {
					case m, ok := <-msgs:
						if !ok {
							return
						}
						off = m.Offset + 1
						total[part]++
						continue
					case <-known:
					}
					for off < end[part] {
						m, ok := <-msgs
						if !ok {
							return
						}
						off = m.Offset + 1
						total[part]++
					}
					return
				}
			})
		}
		if err := <-sent; err != nil {
			b.Fatal(err)
		}
		for part := range partitions {
			e, err := claims[part].EndOffset(ctx)
			if err != nil {
				b.Fatal(err)
			}
			end[part] = e
		}
		close(known)
		read.Wait()
		start = end
		var got int64
		for part := range partitions {
			got += total[part]
		}
		if got != n {
			b.Fatalf("read %d trades, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "trades/s")
}
