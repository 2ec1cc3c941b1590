package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Admin creates topics and reads offsets. Its methods may be called from any
// goroutine; each is bounded by cfg.RequestTimeout.
type Admin struct {
	cfg    Config
	client *kafka.Client

	// starts caches Lag's partitions and their first offsets for
	// startsFor: they move only when partitions are added or retention
	// deletes, and each is a request of its own.
	mu     sync.Mutex
	starts map[string]topicStarts
	now    func() time.Time
}

// startsFor is how long Lag reuses the partitions and first offsets it
// read.
const startsFor = 10 * time.Second

// topicStarts are a topic's partitions and their first offsets, read at at.
type topicStarts struct {
	at      time.Time
	parts   []int
	offsets map[int]int64
}

// NewAdmin returns an admin client for cfg.Brokers.
func NewAdmin(cfg Config) *Admin {
	cfg = cfg.WithDefaults()
	return &Admin{cfg: cfg, client: newClient(cfg), now: time.Now}
}

// Close closes the admin's connections. It is safe to call twice, and a
// later request opens new connections.
func (a *Admin) Close() { closeClient(a.client) }

// TopicInfo describes a topic tradetop uses.
type TopicInfo struct {
	Name       string
	Partitions int
	// Created is true if EnsureTopic created it.
	Created bool
}

// EnsureTopic creates topic with cfg.Partitions partitions and
// cfg.ReplicationFactor replicas if it does not exist. An existing topic is
// used as it is, whatever its partition count.
func (a *Admin) EnsureTopic(ctx context.Context, topic string) (TopicInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	parts, err := a.partitions(ctx, topic)
	if err == nil {
		return TopicInfo{Name: topic, Partitions: len(parts)}, nil
	}
	if !errors.Is(err, kafka.UnknownTopicOrPartition) {
		return TopicInfo{}, err
	}
	resp, err := a.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{
			Topic:             topic,
			NumPartitions:     a.cfg.Partitions,
			ReplicationFactor: a.cfg.ReplicationFactor,
		}},
	})
	if err == nil {
		err = resp.Errors[topic]
	}
	created := err == nil
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return TopicInfo{}, fmt.Errorf("creating topic %s: %w", topic, err)
	}
	// Metadata may lag a creation by a moment: ask until it answers.
	for {
		parts, err = a.partitions(ctx, topic)
		if err == nil {
			return TopicInfo{Name: topic, Partitions: len(parts), Created: created}, nil
		}
		select {
		case <-ctx.Done():
			return TopicInfo{}, fmt.Errorf("waiting for topic %s: %w", topic, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Partitions returns the partition IDs of topic, in order.
func (a *Admin) Partitions(ctx context.Context, topic string) ([]int, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	return a.partitions(ctx, topic)
}

func (a *Admin) partitions(ctx context.Context, topic string) ([]int, error) {
	md, err := a.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		err = a.cfg.explain(ctx, err)
		return nil, fmt.Errorf("reading metadata of %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		ids := make([]int, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
		}
		slices.Sort(ids)
		if len(ids) == 0 {
			return nil, fmt.Errorf("topic %s: %w", topic, kafka.UnknownTopicOrPartition)
		}
		return ids, nil
	}
	return nil, fmt.Errorf("topic %s: %w", topic, kafka.UnknownTopicOrPartition)
}

// EndOffsets returns the end offset (the offset of the next message) of each
// partition of topic.
func (a *Admin) EndOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	parts, err := a.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	return endOffsets(ctx, a.client, topic, parts)
}

func endOffsets(ctx context.Context, client *kafka.Client, topic string, parts []int) (map[int]int64, error) {
	offs, err := listOffsets(ctx, client, topic, parts, kafka.LastOffsetOf)
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64, len(offs))
	for p, o := range offs {
		out[p] = o.LastOffset
	}
	return out, nil
}

// listOffsets returns the offsets of each partition that which asks for
// (kafka.FirstOffsetOf, kafka.LastOffsetOf, or both).
func listOffsets(ctx context.Context, client *kafka.Client, topic string, parts []int, which ...func(int) kafka.OffsetRequest) (map[int]kafka.PartitionOffsets, error) {
	req := make([]kafka.OffsetRequest, 0, len(which)*len(parts))
	for _, p := range parts {
		for _, w := range which {
			req = append(req, w(p))
		}
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics:         map[string][]kafka.OffsetRequest{topic: req},
		IsolationLevel: kafka.ReadCommitted,
	})
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	out := make(map[int]kafka.PartitionOffsets, len(parts))
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("listing offsets of %s/%d: %w", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p
	}
	return out, nil
}

// firstOffsets returns topic's partitions and the first retained offset of
// each, read again when the cache is older than startsFor.
func (a *Admin) firstOffsets(ctx context.Context, topic string) ([]int, map[int]int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if c, ok := a.starts[topic]; ok && now.Sub(c.at) < startsFor {
		return c.parts, maps.Clone(c.offsets), nil
	}
	parts, err := a.partitions(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	offs, err := listOffsets(ctx, a.client, topic, parts, kafka.FirstOffsetOf)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[int]int64, len(parts))
	for _, p := range parts {
		out[p] = offs[p].FirstOffset
	}
	if a.starts == nil {
		a.starts = map[string]topicStarts{}
	}
	a.starts[topic] = topicStarts{at: now, parts: parts, offsets: out}
	return parts, maps.Clone(out), nil
}

// PartitionLag is one partition's position for a consumer group.
type PartitionLag struct {
	Partition int
	// Start is the partition's first retained offset.
	Start int64
	// End is the partition's end offset.
	End int64
	// Committed is the group's committed offset, -1 when it has none.
	Committed int64
	// Lag is End - Committed, or End - Start when nothing was committed.
	Lag int64
}

// Lag returns, per partition of topic, how far group's committed offset is
// behind the end. It is computed from OffsetFetch and ListOffsets, so any
// Kafka tool watching the group sees the same numbers.
func (a *Admin) Lag(ctx context.Context, group, topic string) ([]PartitionLag, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	parts, starts, err := a.firstOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := listOffsets(ctx, a.client, topic, parts, kafka.LastOffsetOf)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  map[string][]int{topic: parts},
	})
	if err == nil {
		err = resp.Error
	}
	committed := map[int]int64{}
	switch {
	case errors.Is(err, kafka.GroupIdNotFound):
		// A group that never committed: every partition is unconsumed.
	case err != nil:
		return nil, fmt.Errorf("fetching offsets of group %s: %w", group, err)
	default:
		for _, p := range resp.Topics[topic] {
			if p.Error == nil {
				committed[p.Partition] = p.CommittedOffset
			}
		}
	}
	out := make([]PartitionLag, 0, len(parts))
	for _, p := range parts {
		c, ok := committed[p]
		if !ok {
			c = -1
		}
		l := PartitionLag{Partition: p, Start: min(starts[p], ends[p].LastOffset), End: ends[p].LastOffset, Committed: c}
		if c < 0 {
			l.Lag = l.End - l.Start
		} else {
			l.Lag = max(l.End-max(c, l.Start), 0)
		}
		out = append(out, l)
	}
	return out, nil
}

// Member is one member of a consumer group, as the group's coordinator
// describes it.
type Member struct {
	// ID is the member ID the coordinator gave it: its client ID and a
	// suffix.
	ID string
	// ClientID is the client ID it joined with: for tradetop,
	// "tradetop-<role>-<host>-<pid>".
	ClientID string
	// Host is the address it connects from, as the coordinator sees it.
	Host string
	// Partitions are the partitions of the topic assigned to it, in order.
	Partitions []int
}

// Group is a consumer group at one DescribeGroups read.
type Group struct {
	// State is the coordinator's word for the group: Stable,
	// PreparingRebalance, CompletingRebalance, Empty or Dead.
	State string
	// Members are sorted by client ID, then member ID.
	Members []Member
}

// Group describes group's members and which partitions of topic each is
// assigned, from the group's coordinator. A group that does not exist is
// Dead with no members.
func (a *Admin) Group(ctx context.Context, group, topic string) (Group, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	resp, err := a.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return Group{}, fmt.Errorf("describing group %s: %w", group, a.cfg.explain(ctx, err))
	}
	for _, g := range resp.Groups {
		if g.GroupID != group {
			continue
		}
		if g.Error != nil {
			if errors.Is(g.Error, kafka.GroupIdNotFound) {
				return Group{State: "Dead"}, nil
			}
			return Group{}, fmt.Errorf("describing group %s: %w", group, g.Error)
		}
		out := Group{State: g.GroupState, Members: make([]Member, 0, len(g.Members))}
		for _, m := range g.Members {
			mem := Member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == topic {
					mem.Partitions = append(mem.Partitions, t.Partitions...)
				}
			}
			slices.Sort(mem.Partitions)
			out.Members = append(out.Members, mem)
		}
		slices.SortFunc(out.Members, func(a, b Member) int {
			if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		return out, nil
	}
	return Group{State: "Dead"}, nil
}
