package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Consumer is one member of the processing group. It hands each partition it
// is assigned to a handler, with the offset and metadata last committed for
// it, and commits what the handler says is durable.
type Consumer struct {
	cfg    Config
	client *kafka.Client
	log    *slog.Logger
	// OnCommitted, if set, is called after offsets were committed, from the
	// committing goroutine.
	OnCommitted func(offsets map[int]int64)
	// OnError, if set, is told of every commit or read error, and of
	// group errors when OnGroup is not set.
	OnError func(error)
	// OnGroup, if set, is told of each attempt to join the group: nil when
	// a generation started, the error when joining failed (a broker that
	// is down, say).
	OnGroup func(error)
	// OnAssigned, if set, is told of each generation this member joins,
	// with the partitions assigned to it (none when the group has more
	// members than the topic has partitions), before their handlers start.
	OnAssigned func(Generation)
	// Drain, if set, is closed when the pipeline drains: a generation that
	// assigned this member no partition then counts as finished, as a
	// generation whose handlers all returned nil does.
	Drain <-chan struct{}
}

// Generation is one generation of the group as this member sees it.
type Generation struct {
	ID       int32
	MemberID string
	// Partitions are those assigned to this member, in order.
	Partitions []int
}

// NewConsumer returns a consumer of cfg.Topic in group cfg.Group.
func NewConsumer(cfg Config, log *slog.Logger) *Consumer {
	cfg = cfg.WithDefaults()
	return &Consumer{cfg: cfg, client: newClient(cfg), log: log}
}

// Handler processes one partition for one group generation. It returns nil
// when it has finished the partition for good (drained), or ctx's error when
// the generation ended (a rebalance, or shutdown). Each runs in its own
// goroutine.
type Handler func(ctx context.Context, c *Claim) error

// Claim is one assigned partition within one generation.
type Claim struct {
	Topic     string
	Partition int
	// Start is the offset to read from: the committed offset, or the
	// partition's first offset when none was committed.
	Start int64
	// Metadata is what was committed with Start ("" when nothing was).
	Metadata string

	msgs      chan Message
	committer *committer
	client    *kafka.Client
	timeout   time.Duration
}

// Messages delivers the partition's messages from Start on, in offset order.
// It is closed when the generation ends.
func (c *Claim) Messages() <-chan Message { return c.msgs }

// Commit records that every effect of the messages before offset is durable.
// The offset and metadata are committed to the group within CommitInterval.
func (c *Claim) Commit(offset int64, metadata string) {
	c.committer.set(c.Partition, offset, metadata)
}

// Flush commits what Commit recorded now, for all partitions of the
// generation.
func (c *Claim) Flush(ctx context.Context) error { return c.committer.flush(ctx) }

// EndOffset returns the partition's end offset: the offset the next produced
// message will get.
func (c *Claim) EndOffset(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ends, err := endOffsets(ctx, c.client, c.Topic, []int{c.Partition})
	if err != nil {
		return 0, err
	}
	return ends[c.Partition], nil
}

// Run joins the group and runs handle for every partition of every
// generation until all handlers of a generation return nil (drained) or ctx
// is done. On return the member has left the group.
func (c *Consumer) Run(ctx context.Context, handle Handler) error {
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     c.cfg.Group,
		Brokers:                c.cfg.Brokers,
		Topics:                 []string{c.cfg.Topic},
		GroupBalancers:         []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		HeartbeatInterval:      c.cfg.HeartbeatInterval,
		SessionTimeout:         c.cfg.SessionTimeout,
		RebalanceTimeout:       c.cfg.RebalanceTimeout,
		JoinGroupBackoff:       time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 10 * time.Second,
		StartOffset:            kafka.FirstOffset,
		Timeout:                c.cfg.RequestTimeout,
		Dialer:                 c.cfg.Dialer(),
		ErrorLogger:            kafka.LoggerFunc(func(msg string, args ...any) { c.log.Debug(fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("joining group %s: %w", c.cfg.Group, err)
	}
	defer closeClient(c.client)
	defer group.Close()
	for {
		gen, err := group.Next(ctx)
		switch {
		case ctx.Err() != nil, errors.Is(err, kafka.ErrGroupClosed):
			return nil
		case err != nil:
			err = fmt.Errorf("group %s: %w", c.cfg.Group, err)
			if c.OnGroup == nil {
				c.report(err)
			} else {
				c.OnGroup(err)
			}
			continue
		}
		if c.OnGroup != nil {
			c.OnGroup(nil)
		}
		drained, err := c.runGeneration(ctx, gen, handle)
		if err != nil {
			c.report(err)
		}
		if drained {
			return nil
		}
	}
}

func (c *Consumer) report(err error) {
	if c.OnError != nil {
		c.OnError(err)
	}
}

// runGeneration runs the handlers of one generation and reports whether they
// all finished their partitions.
func (c *Consumer) runGeneration(ctx context.Context, gen *kafka.Generation, handle Handler) (bool, error) {
	var parts []int
	for _, a := range gen.Assignments[c.cfg.Topic] {
		parts = append(parts, a.ID)
	}
	slices.Sort(parts)
	if c.OnAssigned != nil {
		c.OnAssigned(Generation{ID: gen.ID, MemberID: gen.MemberID, Partitions: slices.Clone(parts)})
	}
	if len(parts) == 0 {
		return c.idle(ctx, gen), nil
	}
	committed, err := c.fetchCommitted(ctx, parts)
	if err != nil {
		return false, err
	}
	if err := c.resolveFirst(ctx, committed); err != nil {
		return false, err
	}
	cm := &committer{
		client: c.client, group: c.cfg.Group, topic: c.cfg.Topic,
		gen: gen.ID, member: gen.MemberID, pending: map[int]kafka.OffsetCommit{}, wake: make(chan struct{}, 1),
		timeout: c.cfg.RequestTimeout, onCommitted: c.OnCommitted, onError: c.OnError,
	}
	drained := make(chan bool, 1)
	// kafka-go ends a generation as soon as any function started in it
	// returns, so one function runs all the partitions of the generation.
	gen.Start(func(gctx context.Context) {
		var wg sync.WaitGroup
		results := make(chan error, len(parts))
		// Handlers stop when the generation ends or when ctx is done.
		hctx, cancel := context.WithCancel(gctx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		loopCtx, stopLoop := context.WithCancel(gctx)
		defer stopLoop()
		go cm.loop(loopCtx, c.cfg.CommitInterval)
		for _, p := range parts {
			cl := c.claim(p, committed[p], cm)
			wg.Add(1)
			go func() {
				defer wg.Done()
				rctx, cancel := context.WithCancel(hctx)
				defer cancel()
				go c.relay(rctx, cl)
				results <- handle(rctx, cl)
			}()
		}
		wg.Wait()
		close(results)
		all := true
		for err := range results {
			if err != nil {
				all = false
			}
		}
		stopLoop()
		if err := cm.flush(gctx); err != nil && all {
			c.report(err)
		}
		drained <- all
	})
	select {
	case d := <-drained:
		return d, nil
	case <-ctx.Done():
		return false, nil
	}
}

// idle waits out a generation that assigned this member no partition: until
// the next rebalance, ctx is done or the drain starts, and reports whether
// it was the drain.
func (c *Consumer) idle(ctx context.Context, gen *kafka.Generation) bool {
	drained := make(chan bool, 1)
	gen.Start(func(gctx context.Context) {
		select {
		case <-gctx.Done():
			drained <- false
		case <-c.Drain:
			drained <- true
		}
	})
	select {
	case d := <-drained:
		return d
	case <-ctx.Done():
		return false
	}
}

// resolveFirst replaces the offset of each partition without a committed
// offset by the partition's first offset, so that every claim starts at a
// real offset.
func (c *Consumer) resolveFirst(ctx context.Context, committed map[int]kafka.OffsetFetchPartition) error {
	var none []int
	for p, o := range committed {
		if o.CommittedOffset < 0 {
			none = append(none, p)
		}
	}
	if len(none) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	offs, err := listOffsets(ctx, c.client, c.cfg.Topic, none, kafka.FirstOffsetOf)
	if err != nil {
		return err
	}
	for _, p := range none {
		o := committed[p]
		o.CommittedOffset, o.Metadata = offs[p].FirstOffset, ""
		committed[p] = o
	}
	return nil
}

func (c *Consumer) claim(p int, committed kafka.OffsetFetchPartition, cm *committer) *Claim {
	return &Claim{
		Topic: c.cfg.Topic, Partition: p, Start: committed.CommittedOffset, Metadata: committed.Metadata,
		msgs: make(chan Message, 4096), committer: cm,
		client: c.client, timeout: c.cfg.RequestTimeout,
	}
}

// relay reads the claim's partition into its channel until ctx is done.
func (c *Consumer) relay(ctx context.Context, cl *Claim) {
	defer close(cl.msgs)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:          c.cfg.Brokers,
		Topic:            cl.Topic,
		Partition:        cl.Partition,
		Dialer:           c.cfg.Dialer(),
		QueueCapacity:    4096,
		MinBytes:         1,
		MaxBytes:         c.cfg.FetchMaxBytes,
		MaxWait:          c.cfg.FetchMaxWait,
		ReadBatchTimeout: 10 * time.Second,
		ReadLagInterval:  -1,
		ReadBackoffMin:   100 * time.Millisecond,
		ReadBackoffMax:   time.Second,
		MaxAttempts:      3,
		IsolationLevel:   kafka.ReadCommitted,
		ErrorLogger:      kafka.LoggerFunc(func(msg string, args ...any) { c.log.Debug(fmt.Sprintf(msg, args...)) }),
	})
	defer r.Close()
	if err := r.SetOffset(cl.Start); err != nil {
		c.report(fmt.Errorf("partition %d: seeking to %d: %w", cl.Partition, cl.Start, err))
		return
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.report(fmt.Errorf("reading partition %d: %w", cl.Partition, err))
			}
			return
		}
		select {
		case cl.msgs <- message(&m):
		case <-ctx.Done():
			return
		}
	}
}

func (c *Consumer) fetchCommitted(ctx context.Context, parts []int) (map[int]kafka.OffsetFetchPartition, error) {
	out := map[int]kafka.OffsetFetchPartition{}
	if len(parts) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: c.cfg.Group,
		Topics:  map[string][]int{c.cfg.Topic: parts},
	})
	if err == nil {
		err = resp.Error
	}
	for _, p := range parts {
		out[p] = kafka.OffsetFetchPartition{Partition: p, CommittedOffset: -1}
	}
	if errors.Is(err, kafka.GroupIdNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetching committed offsets of group %s: %w", c.cfg.Group, err)
	}
	for _, p := range resp.Topics[c.cfg.Topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("fetching committed offset of partition %d: %w", p.Partition, p.Error)
		}
		if _, ok := out[p.Partition]; ok {
			out[p.Partition] = p
		}
	}
	return out, nil
}

// committer coalesces the offsets the handlers of one generation report and
// commits them, with their metadata, at most once per interval.
type committer struct {
	client      *kafka.Client
	group       string
	topic       string
	gen         int32
	member      string
	timeout     time.Duration
	onCommitted func(map[int]int64)
	onError     func(error)

	mu      sync.Mutex
	pending map[int]kafka.OffsetCommit
	flushMu sync.Mutex // one commit request at a time, in order
	// wake is signalled (buffered, one pending stands for any number)
	// when an offset is set, so a group with nothing to commit costs no
	// wake-ups.
	wake chan struct{}
}

func (c *committer) set(p int, off int64, meta string) {
	c.mu.Lock()
	c.pending[p] = kafka.OffsetCommit{Partition: p, Offset: off, Metadata: meta}
	c.mu.Unlock()
	c.kick()
}

// kick tells loop there is something to commit.
func (c *committer) kick() {
	select {
	case c.wake <- struct{}{}:
	default: // one is pending already
	}
}

// loop commits what was set, at most once every interval: it waits for an
// offset, then for the rest of the interval, so that the offsets set
// meanwhile go in the same request.
func (c *committer) loop(ctx context.Context, every time.Duration) {
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.flush(ctx); err != nil && ctx.Err() == nil {
			if c.onError != nil {
				c.onError(err)
			}
			// What failed was put back: try again after the interval.
			c.kick()
		}
		t.Reset(every)
	}
}

func (c *committer) flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return nil
	}
	batch := make([]kafka.OffsetCommit, 0, len(c.pending))
	for _, oc := range c.pending {
		batch = append(batch, oc)
	}
	clear(c.pending)
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID:      c.group,
		GenerationID: int(c.gen),
		MemberID:     c.member,
		Topics:       map[string][]kafka.OffsetCommit{c.topic: batch},
	})
	if err == nil {
		for _, p := range resp.Topics[c.topic] {
			if p.Error != nil {
				err = fmt.Errorf("partition %d: %w", p.Partition, p.Error)
				break
			}
		}
	}
	if err != nil {
		// Put back what was not committed, unless newer offsets arrived.
		c.mu.Lock()
		for _, oc := range batch {
			if _, ok := c.pending[oc.Partition]; !ok {
				c.pending[oc.Partition] = oc
			}
		}
		c.mu.Unlock()
		return fmt.Errorf("committing offsets of group %s: %w", c.group, err)
	}
	if c.onCommitted != nil {
		done := make(map[int]int64, len(batch))
		for _, oc := range batch {
			done[oc.Partition] = oc.Offset
		}
		c.onCommitted(done)
	}
	return nil
}

// newClient returns a client for cfg.Brokers with its own cfg.Transport,
// which closeClient closes.
func newClient(cfg Config) *kafka.Client {
	return &kafka.Client{
		Addr:      kafka.TCP(cfg.Brokers...),
		Timeout:   cfg.RequestTimeout,
		Transport: cfg.Transport(),
	}
}

// closeClient closes the connections of c's transport. A later request
// opens new ones.
func closeClient(c *kafka.Client) {
	if t, ok := c.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}
