// Package bus holds everything that touches Kafka: the producer, the group
// consumer with its commit protocol, topic admin, the lag reader, and the
// embedded broker of the default mode. All pipeline traffic goes through
// github.com/segmentio/kafka-go.
package bus

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Embedded is an in-process broker that speaks the real Kafka protocol on a
// free loopback port, so the default mode takes the same code path as a real
// cluster. Its log and its groups' committed offsets live in a directory, so
// that a restart resumes where the last run stopped (or in memory, for
// tests); Trim deletes what the consumer group has committed, so a long run
// keeps memory and disk flat.
//
// Its methods may be called from any goroutine.
type Embedded struct {
	cluster *kfake.Cluster
	admin   *kgo.Client
	once    sync.Once
}

// segmentBytes is the embedded broker's log segment size.
const segmentBytes = 2 << 20

// EmbeddedConfig configures an embedded broker.
type EmbeddedConfig struct {
	// Dir keeps the log, the topics and the groups' committed offsets, and
	// is read back at the next start. Writes are not synced to disk one by
	// one (as Kafka's own default): a crash of the process loses nothing,
	// a crash of the machine may lose the last seconds. Default: "", in
	// memory only, gone with the process.
	Dir string
	// Partitions is the partition count of the topics it creates. Default 6.
	Partitions int
	// Topics are created at start if they do not exist.
	Topics []string
}

// StartEmbedded starts a single-node broker on 127.0.0.1 with the topics
// created.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Partitions == 0 {
		cfg.Partitions = 6
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(0),
		kfake.SeedTopics(int32(cfg.Partitions), cfg.Topics...),
		kfake.ClusterID("tradetop-embedded"),
		// Trim frees whole segments only: small segments keep what is
		// held after a trim small (the broker's default is 100 MiB per
		// partition).
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(segmentBytes)}),
	}
	if cfg.Dir != "" {
		opts = append(opts, kfake.DataDir(cfg.Dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded broker: %w", err)
	}
	// The admin client only deletes consumed records (DeleteRecords, which
	// kafka-go does not offer); it carries no pipeline traffic.
	admin, err := kgo.NewClient(
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.RequestTimeoutOverhead(5*time.Second),
		kgo.RetryTimeout(5*time.Second),
	)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("starting embedded broker admin client: %w", err)
	}
	return &Embedded{cluster: c, admin: admin}, nil
}

// Addr is the broker's host:port.
func (e *Embedded) Addr() string { return e.cluster.ListenAddrs()[0] }

// Trim deletes the records of topic before the given offset of each
// partition. The pipeline calls it with offsets its group has committed, so
// nothing unconsumed is ever deleted.
func (e *Embedded) Trim(ctx context.Context, topic string, before map[int]int64) error {
	if len(before) == 0 {
		return nil
	}
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 5000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for p, off := range before {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition = int32(p)
		rp.Offset = off
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, e.admin)
	if err != nil {
		return fmt.Errorf("trimming %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("trimming %s/%d: %w", topic, p.Partition, err)
			}
		}
	}
	return nil
}

// Close stops the broker. It is safe to call twice.
func (e *Embedded) Close() {
	e.once.Do(func() {
		e.admin.Close()
		e.cluster.Close()
	})
}
