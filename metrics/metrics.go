// Package metrics serves what tradetop knows of its pipeline to Prometheus
// and to probes: /metrics in the Prometheus exposition format, /healthz
// (the process answers) and /readyz (partitions assigned, Kafka and the
// store reachable). Every value is read at the scrape from the monitor's
// latest snapshot and report, so serving costs the pipeline nothing
// between scrapes, and the verdicts are those the status line and the UI
// show.
//
// Labels are bounded: a topic's partitions (verdicts as a state set of four
// per partition), the four stages (health as a state set of six each), the
// two systems that can be down and the rules of the alerts file. Nothing is
// labelled per trade, per window or per symbol.
package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tradetop/tradetop/alert"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

// Viewers are what the process serves besides its pipeline, each nil when
// it does not serve it.
type Viewers struct {
	// API is how many viewers stream snapshots from the control API now,
	// and how many it dropped for falling behind.
	API func() (connected int, dropped int64)
	// SSH is how many ssh sessions are open now.
	SSH func() int
}

// Alerts is what the alert rules did, read at each scrape; *alert.Alerter
// is one. Its methods may be called from any goroutine.
type Alerts interface {
	Counts() []alert.RuleCount
	ActionCounts() alert.ActionCounts
}

// Handler serves /metrics, /healthz and /readyz from the watcher, on a mux
// that more routes may be added to. version is reported in
// tradetop_build_info. alerts, unless nil, adds the alert rules' series.
func Handler(w *monitor.Watcher, version string, v Viewers, alerts Alerts) *http.ServeMux {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(w, version), viewerCollector(v),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if alerts != nil {
		reg.MustRegister(alertCollector{alerts})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(rw, "ok")
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		s, _ := w.Latest()
		if err := Ready(s); err != nil {
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, "not ready:", err)
			return
		}
		fmt.Fprintln(rw, "ready")
	})
	return mux
}

// Ready says why the pipeline of snapshot s is not ready to do its work:
// no snapshot yet, Kafka or the store failing; for role all no partition
// of the topic assigned, for role process not yet a member of the group
// (a member without partitions is ready: it stands by), for role ingest
// no offsets read yet. nil when it is ready.
func Ready(s *state.Snapshot) error {
	switch {
	case s == nil:
		return errors.New("starting")
	case !s.KafkaDownSince.IsZero():
		return fmt.Errorf("kafka down since %s", s.KafkaDownSince.UTC().Format("15:04:05Z"))
	case !s.StoreDownSince.IsZero():
		return fmt.Errorf("store down since %s", s.StoreDownSince.UTC().Format("15:04:05Z"))
	case s.Role == "ingest" && s.LagTime.IsZero():
		return fmt.Errorf("no offsets of topic %q read yet", s.Topic)
	case s.Role == "process" && !s.Joined && !s.Draining:
		// An idle member (more members than partitions) is ready: it
		// stands by for a rebalance.
		return fmt.Errorf("not a member of group %q yet", s.Group)
	case s.Role != "ingest" && s.Role != "process" && len(s.Positions) == 0 && !s.Draining:
		return fmt.Errorf("no partition of topic %q assigned to this instance yet", s.Topic)
	}
	return nil
}

// viewerCollector reads the counts of viewers at each scrape.
func viewerCollector(v Viewers) prometheus.Collector {
	return viewerCounts(v)
}

type viewerCounts Viewers

var (
	apiViewers = desc("api_viewers", "Viewers streaming snapshots from the control API now.")
	apiDropped = desc("api_viewers_dropped_total", "Viewers of the control API dropped because they fell behind the snapshots.")
	sshViewers = desc("ssh_sessions", "ssh sessions showing the terminal UI now.")
)

func (v viewerCounts) Describe(ch chan<- *prometheus.Desc) {
	ch <- apiViewers
	ch <- apiDropped
	ch <- sshViewers
}

func (v viewerCounts) Collect(ch chan<- prometheus.Metric) {
	if v.API != nil {
		n, dropped := v.API()
		ch <- prometheus.MustNewConstMetric(apiViewers, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(apiDropped, prometheus.CounterValue, float64(dropped))
	}
	if v.SSH != nil {
		ch <- prometheus.MustNewConstMetric(sshViewers, prometheus.GaugeValue, float64(v.SSH()))
	}
}

// alertCollector reads what the alert rules did at each scrape.
type alertCollector struct{ a Alerts }

var (
	alertsFired   = desc("alerts_fired_total", "Times the alert rule fired, for any of its subjects (symbols, partitions, stages).", "rule")
	alertsFiring  = desc("alerts_firing", "Subjects the alert rule fires for now: fired and not yet re-armed.", "rule")
	alertsActions = desc("alert_actions_total", "Actions of fired alerts: done, failed after their retries, or dropped because the queue was full.", "result")
)

func (c alertCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- alertsFired
	ch <- alertsFiring
	ch <- alertsActions
}

func (c alertCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.a.Counts() {
		ch <- prometheus.MustNewConstMetric(alertsFired, prometheus.CounterValue, float64(r.Fired), r.Rule)
		ch <- prometheus.MustNewConstMetric(alertsFiring, prometheus.GaugeValue, float64(r.Firing), r.Rule)
	}
	n := c.a.ActionCounts()
	for _, r := range []struct {
		result string
		n      int64
	}{{"done", n.Done}, {"failed", n.Failed}, {"dropped", n.Dropped}} {
		ch <- prometheus.MustNewConstMetric(alertsActions, prometheus.CounterValue, float64(r.n), r.result)
	}
}

// collector reads the watcher at each scrape.
type collector struct {
	w       *monitor.Watcher
	version string
}

func newCollector(w *monitor.Watcher, version string) *collector {
	return &collector{w: w, version: version}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("tradetop_"+name, help, labels, nil)
}

var (
	buildInfo = desc("build_info", "Always 1: the version, role, source, store, topic and group of this process.",
		"version", "role", "source", "store", "topic", "group")
	produced   = desc("trades_produced_total", "Trades the feed produced into Kafka, acknowledged.")
	consumed   = desc("trades_consumed_total", "Messages read from the topic, bad ones included.")
	stored     = desc("trades_stored_total", "Trades read that are durable in the store (a duplicate counts: its first copy is stored).")
	late       = desc("trades_late_total", "Trades read after a window of theirs had closed, left out of it.")
	duplicate  = desc("trades_duplicate_total", "Trades read again while counted in an open window, counted once.")
	bad        = desc("messages_bad_total", "Messages that are not trades, each written to the dead-letter topic once.")
	rebuilt    = desc("trades_rebuilt_total", "Stored trades read back to rebuild the open windows of assigned partitions.")
	candles    = desc("candles_written_total", "Closed candles written to the store.")
	sectorRows = desc("sector_rows_written_total", "Sector volume rows written to the store.")
	errorsDesc = desc("errors_total", "Errors: failed calls to Kafka or the store, each retried, and others.")
	retries    = desc("retries_total", "Writes retried, by the stage that retried them.", "stage")
	inFlight   = desc("trades_in_flight", "Trades produced and not yet stored.")
	latency    = desc("ingest_to_stored_latency_seconds", "From a trade's Kafka timestamp to the end of the store write that made it durable, over the run.")
	feedBad    = desc("feed_bad_total", "Input the source rejected: malformed frames or lines, invalid trades.")
	feedDrop   = desc("feed_dropped_total", "Trades a live source dropped because the pipeline could not take them.")
	feedRecon  = desc("feed_reconnects_total", "Connections of a live source re-established after a loss.")
	feedConn   = desc("feed_connected", "1 while the source is connected (always 1 for sources without a connection).")
	outage     = desc("outage", "1 while the system is failing (every call retried), 0 otherwise.", "system")
	paused     = desc("feed_paused", "1 while the feed is paused.")
	draining   = desc("draining", "1 once the feed has stopped and the pipeline drains.")
	unread     = desc("unread_messages", "Messages of this instance's partitions not read yet.")
	commitLag  = desc("commit_lag_messages", "Messages of the topic the group has not committed.")
	trail      = desc("commit_trail_messages", "Messages this instance has read and not yet committed: what a crash would read again.")
	oldest     = desc("oldest_unread_age_seconds", "Age of the oldest message this instance has not read (0 when it has read everything); absent when it reads no partition.")
	drain      = desc("drain_estimate_seconds", "Estimated time to read what is unread at the current rates; absent when not draining.")
	endOff     = desc("partition_end_offset", "The partition's end offset (next offset written).", "topic", "partition")
	commitOff  = desc("partition_committed_offset", "The group's committed offset of the partition; absent when none.", "topic", "partition")
	partLag    = desc("partition_lag_messages", "End offset minus the group's committed offset.", "topic", "partition")
	partUnread = desc("partition_unread_messages", "Messages of the partition this instance has not read; absent when it does not read it.", "topic", "partition")
	verdict    = desc("partition_verdict", "1 for the monitor's verdict of the partition (OK, WARN, STALL, STOP), 0 for the others.", "topic", "partition", "verdict")
	health     = desc("stage_health", "1 for the monitor's health of the stage (ok, slow, down, paused, stopped, elsewhere), 0 for the others.", "stage", "health")
	members    = desc("group_members", "Members of the consumer group at the last read of it, whatever process each is.")
	rebalances = desc("group_rebalances_total", "Reads of the group that saw partitions move between members: the rebalances seen.")
	assigned   = desc("assigned_partitions", "Partitions of the topic assigned to this process (0: an idle member); absent when it is not a member.")
	partMine   = desc("partition_assigned", "1 when the partition is assigned to this process, 0 when to another member or none.", "topic", "partition")
	boundLimit = desc("producer_bound_limit", "The limit that holds the producer back: trades in flight (role all) or the group's lag (role ingest).", "bound")
	boundUsed  = desc("producer_bound_used", "Where the producer's bound stands.", "bound")
	held       = desc("producer_held", "1 while the producer waits on its bound.")
)

var allDescs = []*prometheus.Desc{buildInfo, produced, consumed, stored, late, duplicate, bad, rebuilt, candles, sectorRows,
	errorsDesc, retries, inFlight, latency, feedBad, feedDrop, feedRecon, feedConn, outage, paused, draining, unread,
	commitLag, trail, oldest, drain, endOff, commitOff, partLag, partUnread, verdict, health,
	members, rebalances, assigned, partMine, boundLimit, boundUsed, held}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s, r := c.w.Latest()
	if s == nil {
		return
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	gauge(buildInfo, 1, c.version, s.Role, s.Source, s.Store, s.Topic, s.Group)
	counter(produced, s.Produced)
	counter(consumed, s.Consumed)
	counter(stored, s.StoredTrades)
	counter(late, s.Late)
	counter(duplicate, s.Duplicates)
	counter(bad, s.Bad)
	counter(rebuilt, s.Rebuilt)
	counter(candles, s.Candles)
	counter(sectorRows, s.SectorRows)
	counter(errorsDesc, s.Errors)
	counter(retries, s.ProduceRetries, "kafka")
	counter(retries, s.StoreRetries, "store")
	gauge(inFlight, float64(max(s.Produced-s.StoredTrades, 0)))
	if l := s.Latency; len(l.Buckets) == len(state.LatencyBounds) {
		buckets := make(map[float64]uint64, len(l.Buckets))
		for i, b := range state.LatencyBounds {
			buckets[b.Seconds()] = l.Buckets[i]
		}
		ch <- prometheus.MustNewConstHistogram(latency, l.N, l.Sum, buckets)
	}
	// A source that keeps no report rejects, drops and loses nothing.
	f := s.Feed
	if f == nil {
		f = &feed.Report{Connected: true}
	}
	counter(feedBad, f.Bad)
	counter(feedDrop, f.Dropped)
	counter(feedRecon, f.Reconnects)
	gauge(feedConn, flag(f.Connected))
	gauge(outage, flag(!s.KafkaDownSince.IsZero()), "kafka")
	gauge(outage, flag(!s.StoreDownSince.IsZero()), "store")
	gauge(paused, flag(s.Paused))
	gauge(draining, flag(s.Draining))
	gauge(unread, float64(s.Unread))
	gauge(commitLag, float64(s.TotalLag))
	gauge(trail, float64(s.CommitTrail))
	if !s.GroupTime.IsZero() {
		gauge(members, float64(len(s.Members)))
	}
	counter(rebalances, s.Rebalances)
	if s.Joined {
		gauge(assigned, float64(len(s.Assigned)))
	}
	if s.Bound != "" {
		gauge(boundLimit, float64(s.BoundLimit), s.Bound)
		gauge(boundUsed, float64(s.BoundUsed), s.Bound)
		gauge(held, flag(s.Holding))
	}
	if r == nil {
		return
	}
	if r.Reading || len(s.Positions) > 0 {
		gauge(oldest, r.Oldest.Seconds())
	}
	if r.Drain >= 0 {
		gauge(drain, r.Drain.Seconds())
	}
	for _, p := range r.Partitions {
		id := strconv.Itoa(p.ID)
		gauge(endOff, float64(p.End), s.Topic, id)
		if p.Committed >= 0 {
			gauge(commitOff, float64(p.Committed), s.Topic, id)
		}
		gauge(partLag, float64(p.Lag), s.Topic, id)
		if p.Unread >= 0 {
			gauge(partUnread, float64(p.Unread), s.Topic, id)
		}
		for _, v := range []monitor.Verdict{monitor.OK, monitor.Warn, monitor.Stall, monitor.Stop} {
			gauge(verdict, flag(p.Verdict == v), s.Topic, id, v.String())
		}
		if s.Joined {
			gauge(partMine, flag(p.Mine), s.Topic, id)
		}
	}
	for i, name := range monitor.StageNames {
		for _, h := range monitor.Healths {
			gauge(health, flag(r.Stages[i] == h), name, h.String())
		}
	}
}
