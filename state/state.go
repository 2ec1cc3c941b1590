// Package state holds what the pipeline says about itself at a moment — a
// Snapshot, its events and latencies — apart from the pipeline that makes
// it, so that whatever judges or shows it (the monitor, the terminal UI,
// the headless status line, a remote viewer) needs neither the pipeline nor
// Kafka nor a store.
package state

import (
	"log/slog"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/trade"
)

// Snapshot is the pipeline's state at one moment. It is immutable once
// published: readers on any goroutine may keep and read it without locks.
type Snapshot struct {
	Time    time.Time
	Started time.Time
	Source  string
	Broker  string
	Store   string
	// Topic and Group are the Kafka topic read and the consumer group.
	Topic string
	Group string
	// Intervals are the candle windows, shortest first.
	Intervals []time.Duration
	// Paused says the feed is held by Pause.
	Paused bool
	// Draining says the feed has stopped, by a stop or by itself (a count
	// reached, a file read to its end), and the pipeline drains what it
	// produced.
	Draining bool
	// AllowedLateness is how far behind the newest event time a trade may
	// be and still count in its windows: Config.Agg.AllowedLateness after
	// agg's defaults. A window is stored, and the offsets before it
	// committed, once the event time passes its end by this much.
	AllowedLateness time.Duration
	// MaxInFlight is Config.MaxInFlight after defaults: the producer waits
	// while Produced − StoredTrades would pass it (role all).
	MaxInFlight int64

	// Role is which stages this process runs: "all" (feed, Kafka,
	// aggregation, store), "ingest" (feed into Kafka) or "process" (the
	// consumer group's aggregation into the store).
	Role string
	// Bound is what holds the producer back: BoundInFlight (this process's
	// trades produced and not yet stored, role all) or BoundGroupLag (the
	// group's committed lag, role ingest, which cannot see the store); ""
	// when this process does not produce. BoundLimit is its limit and
	// BoundUsed where it stood at the snapshot; Holding says the producer
	// is waiting on it now.
	Bound      string
	BoundLimit int64
	BoundUsed  int64
	Holding    bool

	// GroupState and Members are the consumer group as its coordinator
	// last described it (DescribeGroups), every member whatever process
	// it is, at GroupTime; zero before the first read.
	GroupState string
	Members    []Member
	GroupTime  time.Time
	// Rebalances counts the reads that saw partitions move between
	// members: the rebalances seen.
	Rebalances int64
	// Joined says this process is a member of the group now, as
	// MemberID in generation Generation, assigned the partitions Assigned
	// (none when the group has more members than the topic has
	// partitions: the member is idle).
	Joined     bool
	MemberID   string
	Generation int32
	Assigned   []int

	Produced int64
	Consumed int64
	// StoredTrades counts the trades read that are durable in the store: a
	// duplicate counts, as its first copy is stored.
	StoredTrades int64
	Candles      int64
	SectorRows   int64
	Late         int64
	// Duplicates are trades read again (a producer retry, a re-ingest)
	// while a trade with the same ID was in an open window: stored once
	// and left out of the windows the second time.
	Duplicates int64
	Bad        int64
	Errors     int64
	// Rebuilt counts the stored trades read back to rebuild the open
	// windows of partitions this instance was assigned.
	Rebuilt int64
	// ProduceRetries and StoreRetries count retried Kafka writes and store
	// writes; both are among Errors.
	ProduceRetries int64
	StoreRetries   int64
	// KafkaDownSince and StoreDownSince are when Kafka (its writes or lag
	// reads) and the store (its writes) started failing; zero while they
	// work.
	KafkaDownSince time.Time
	StoreDownSince time.Time

	// InRate and StoredRate are trades per second since the previous
	// snapshot.
	InRate     float64
	StoredRate float64
	// Latency is the ingest-to-stored latency over the whole run, as the
	// Summary reports it.
	Latency Latency
	// RecentLatency is the same over the trades stored in the last
	// RecentWindow, so that it recovers after a slow spell; zero when none
	// were.
	RecentLatency Latency

	// Lag is each partition's end and committed offsets. A partition's
	// offset is committed at its read position once the raw trades read
	// before it are stored, within the commit interval and a store batch:
	// TotalLag is what the group has not committed, Unread what this
	// instance has not read, and CommitTrail how far its commits trail its
	// reads, the distance a crash would read again.
	Lag         []PartitionLag
	TotalLag    int64
	CommitTrail int64
	// Positions is the next offset to read of each partition this
	// instance processes.
	Positions map[int]int64
	// Unread is how many messages of this instance's partitions are not
	// read yet.
	Unread int64
	// LagTime is when Lag was read; zero before the first read.
	LagTime time.Time

	// Symbols are the live statistics of every symbol seen, by symbol.
	Symbols []agg.SymbolStats
	// Sectors are today's volumes per sector, largest first.
	Sectors []agg.SectorDay
	// OpenWindows is the number of windows not yet closed.
	OpenWindows int
	// Events are the latest warnings, errors and recoveries, and alerts
	// that fired or re-armed (Source AlertSource), oldest first.
	Events []Event
	// Alerts are the alert rules firing now, in the order of the rules
	// file, then by subject; none without rules. They are judged from an
	// earlier snapshot, so they trail it by up to a snapshot interval.
	Alerts []Alert
	// Tape is the latest trades acknowledged by Kafka, newest first.
	Tape []trade.Trade
	// Feed is the source's own report (bad input, dropped trades,
	// connection), or nil for a source that keeps none.
	Feed *feed.Report
	// Subscribable says the source takes Subscribe and Unsubscribe.
	Subscribable bool
	// Rate is the source's pace in trades per second, 0 for unpaced, when
	// RateAdjustable says it has one that SetRate changes.
	Rate           float64
	RateAdjustable bool
}

// PartitionLag is one partition of the topic at a lag read.
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

// Bounds a producer may be held by; see Snapshot.Bound.
const (
	BoundInFlight = "in-flight"
	BoundGroupLag = "group lag"
)

// Member is one member of the consumer group.
type Member struct {
	// ID is the member ID the group's coordinator gave it.
	ID string
	// ClientID names the process: "tradetop-<role>-<host>-<pid>" for
	// tradetop.
	ClientID string
	// Host is the address it connects from, as the coordinator sees it.
	Host string
	// Partitions are the partitions of the topic assigned to it.
	Partitions []int
}

// Owner returns the member the group assigned partition p to, and false
// when none is.
func (s *Snapshot) Owner(p int) (Member, bool) {
	for _, m := range s.Members {
		for _, q := range m.Partitions {
			if q == p {
				return m, true
			}
		}
	}
	return Member{}, false
}

// Event is something the pipeline reported for the Events pane.
type Event struct {
	Time time.Time
	// Level is how serious it is, and the level of its line in the log:
	// slog.LevelError for an error, counted in Snapshot.Errors;
	// slog.LevelWarn for a transient condition that is being retried and
	// goes away by itself; slog.LevelInfo for a recovery, such as the store
	// being back.
	Level   slog.Level
	Source  string
	Message string
	// Repeats is how many more like it (same source and level) were held
	// back before it.
	Repeats int
}

// AlertSource is the Source of the events of alert rules: one when a rule
// fires (slog.LevelWarn) and one when it re-arms (slog.LevelInfo).
const AlertSource = "alert"

// Alert is one alert rule firing for one subject.
type Alert struct {
	// Rule is the rule's name in the rules file.
	Rule string
	// Subject is what it fires for: a symbol, "partition 3", a stage
	// ("store") or "feed".
	Subject string
	// Symbol is the symbol it fires for, "" for a rule about none.
	Symbol string
	// Since is when it fired: the time of the snapshot it was judged on.
	Since time.Time
	// Message says on one line what crossed which level.
	Message string
}

// Latency summarizes the ingest-to-stored latencies of a set of trades:
// from the Kafka timestamp of each to the end of the store write that made
// it durable. The zero value means no trades.
type Latency struct {
	P50 time.Duration
	P99 time.Duration
	Max time.Duration
	// N is how many trades the figures are over.
	N uint64
	// Sum is the sum of the latencies, in seconds.
	Sum float64
	// Buckets, when set, are how many of the N are at most each of
	// LatencyBounds, for a histogram.
	Buckets []uint64
}

// LatencyBounds are the upper bounds of the latency histogram's buckets.
var LatencyBounds = []time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second, time.Minute,
}
