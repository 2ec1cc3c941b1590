// Package pipeline wires the stages together: a feed into Kafka, a consumer
// group that aggregates and stores, the commit protocol between them, and the
// metrics and snapshots that the UI and the headless status line read.
package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/store"
)

// Role is which stages a process runs.
type Role int

const (
	// RoleAll runs every stage: feed → Kafka → aggregation → store.
	RoleAll Role = iota
	// RoleIngest runs the feed into Kafka only.
	RoleIngest
	// RoleProcess runs the consumer group's aggregation into the store
	// only: any number of processes in one group share the partitions.
	RoleProcess
)

// Roles are the roles' names, as --role takes them.
var Roles = [...]string{"all", "ingest", "process"}

func (r Role) String() string {
	if r < 0 || int(r) >= len(Roles) {
		return "Role(" + strconv.Itoa(int(r)) + ")"
	}
	return Roles[r]
}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	for i, name := range Roles {
		if s == name {
			return Role(i), nil
		}
	}
	return 0, fmt.Errorf("role %q: want all, ingest or process", s)
}

// Ingests says the role runs the feed and the producer.
func (r Role) Ingests() bool { return r != RoleProcess }

// Processes says the role runs the consumer group, the aggregation and the
// store.
func (r Role) Processes() bool { return r != RoleIngest }

// Config configures a Pipeline. The zero value of a field means its default.
type Config struct {
	// Role is which stages run. Default RoleAll.
	Role Role
	// Source produces the trades. Required unless Role is RoleProcess.
	Source feed.Source
	// Store receives trades, candles and sector volume. Required unless
	// Role is RoleIngest. The pipeline does not close it.
	Store store.Store
	// StoreName describes the store in status lines ("sqlite /path").
	StoreName string
	// Sector maps a symbol to its sector. Default: everything is "Other".
	Sector func(symbol string) string

	// Kafka says how to reach Kafka, and its Values how the producer
	// writes trades. With no brokers the pipeline starts an embedded
	// broker on loopback.
	Kafka bus.Config
	// Values reads the trades of the topic, in every form schema knows.
	// Default: a decoder without a schema registry.
	Values *schema.Decoder
	// EmbeddedDir is where the embedded broker keeps its log and the
	// group's committed offsets, so that a restart resumes from them.
	// Default: "", in memory only (a restart starts from an empty topic).
	EmbeddedDir string
	// Agg configures the windows; its zero fields take agg's defaults.
	Agg agg.Config

	// BatchTrades is the most trades one partition puts in one store batch.
	// Default 5000.
	BatchTrades int
	// BatchInterval is the pipeline's beat: the producer sends what it has
	// just before each beat, and each partition hands what it has to the
	// store on it, full or not. Longer costs less at a quiet rate and adds
	// to every trade's latency. Default 50ms.
	BatchInterval time.Duration
	// MaxBatchInterval is the latency budget of a quiet feed: as the rate
	// falls below what fills a beat (40 trades a partition), the beat
	// doubles from BatchInterval up to at most this, so that a quiet feed still goes to
	// Kafka and the store in batches, and a trade waits longer for its
	// batch. Default (and anything shorter): BatchInterval, a fixed beat.
	MaxBatchInterval time.Duration
	// StoreQueue is how many batches may wait for the store before the
	// partitions stop reading: the bound that makes a slow store visible as
	// Kafka lag. Default 16.
	StoreQueue int
	// IngestQueue is how many trades may wait between the feed and the
	// producer. Default 20000.
	IngestQueue int
	// MaxInFlight bounds how many trades may be produced but not yet
	// stored. Past it the producer waits, so a generated feed slows to what
	// the store sustains instead of piling up lag (and latency) in Kafka.
	// It counts this process's stored trades, so it holds while this
	// process is the group's only member; MaxLag holds otherwise.
	// Default DefaultMaxInFlight, 50000.
	MaxInFlight int64
	// MaxLag bounds the group's committed lag (the topic's messages the
	// group has not stored) where this process cannot see every store
	// write: in RoleIngest, and in RoleAll while other processes share the
	// group. Past it the producer waits for the group. Default
	// DefaultMaxLag, 500000.
	MaxLag int64
	// IdleAdvance lets a partition that has been quiet for longer than the
	// allowed lateness close its windows by the wall clock. Only for feeds
	// whose event times follow the wall clock. Default false.
	IdleAdvance bool
	// DrainTimeout bounds the drain at shutdown. Default
	// DefaultDrainTimeout, 10s.
	DrainTimeout time.Duration
	// SnapshotInterval is how often a Snapshot is published. Default 250ms.
	SnapshotInterval time.Duration
	// LagInterval is how often consumer lag is read from Kafka. Default 1s.
	LagInterval time.Duration
	// Log receives the pipeline's events. Default: discarded.
	Log *slog.Logger
	// Now is the clock for latency and rates. Default time.Now.
	Now func() time.Time
}

// Defaults of Config's MaxInFlight, MaxLag, DrainTimeout and BatchInterval.
const (
	DefaultMaxInFlight   = 50000
	DefaultMaxLag        = 500000
	DefaultDrainTimeout  = 10 * time.Second
	DefaultBatchInterval = 50 * time.Millisecond
)

func (c Config) withDefaults() Config {
	if c.BatchTrades == 0 {
		c.BatchTrades = 5000
	}
	if c.Values == nil {
		c.Values = schema.NewDecoder(nil)
	}
	if c.BatchInterval == 0 {
		c.BatchInterval = DefaultBatchInterval
	}
	if c.StoreQueue == 0 {
		c.StoreQueue = 16
	}
	if c.IngestQueue == 0 {
		c.IngestQueue = 20000
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 250 * time.Millisecond
	}
	if c.LagInterval == 0 {
		c.LagInterval = time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sector != nil && c.Agg.Sector == nil {
		c.Agg.Sector = c.Sector
	}
	c.Agg = c.Agg.WithDefaults()
	c.Kafka = c.Kafka.WithDefaults()
	return c
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Role < RoleAll || c.Role > RoleProcess:
		return fmt.Errorf("pipeline: unknown %s", c.Role)
	case c.Source == nil && c.Role.Ingests():
		return errors.New("pipeline: no source")
	case c.Store == nil && c.Role.Processes():
		return errors.New("pipeline: no store")
	case c.Role != RoleAll && len(c.Kafka.Brokers) == 0:
		return fmt.Errorf("pipeline: role %s needs brokers: the embedded broker lives in one process and cannot be shared", c.Role)
	case c.BatchTrades < 1, c.StoreQueue < 1, c.IngestQueue < 1, c.MaxInFlight < 1, c.MaxLag < 1:
		return errors.New("pipeline: batch and queue sizes must be positive")
	case c.BatchInterval < 0, c.MaxBatchInterval < 0, c.DrainTimeout < 0, c.SnapshotInterval < 0, c.LagInterval < 0:
		return errors.New("pipeline: intervals must not be negative")
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	return c.Agg.Validate()
}
