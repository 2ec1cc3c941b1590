package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/e2e/proc"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/store/cassandra"
	"github.com/tradetop/tradetop/store/storetest"
	"github.com/tradetop/tradetop/trade"
)

// The outage tests stop a server of the dev stack in the middle of a run
// and start it again, so they need a dev stack of their own: they run only
// with TRADETOP_E2E_FAULTS=1 besides TRADETOP_E2E_KAFKA and
// TRADETOP_E2E_CASSANDRA, and call scripts/devstack with the test's
// environment (DEVSTACK_DIR and the ports say which instance it breaks).
// Give that instance ports below the ephemeral range (32768 and up on
// Linux): while a server is stopped, any outgoing connection may take its
// port as a source port, and the restart then fails with "address already
// in use".
//
//	export DEVSTACK_DIR=/tmp/devstack-faults KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 \
//	  KAFKA_TLS_PORT=19094 KAFKA_SASL_PORT=19095 CASSANDRA_PORT=19042 CASSANDRA_TLS_PORT=19142 CASSANDRA_STORAGE_PORT=17000
//	scripts/devstack up
//	TRADETOP_E2E_FAULTS=1 TRADETOP_E2E_KAFKA=127.0.0.1:19092 TRADETOP_E2E_CASSANDRA=127.0.0.1:19042 \
//	  go test -race -run TestOutage -timeout 30m .

// outageFor is how long a server stays down.
const outageFor = 30 * time.Second

// outageStart pins the synthetic feed's clock.
const outageStart = "2026-03-03T14:30:00Z"

// TestOutageKafka stops the Kafka broker for 30 seconds in the middle of a
// run at 1,000 trades/s: the run recovers by itself and exits 0, the feed
// waits meanwhile (nothing produced, nothing lost), the status says Kafka is
// down and then back, and every trade is stored once, in the candles and
// sector volumes once.
func TestOutageKafka(t *testing.T) {
	r, sum, log, o := syntheticOutage(t, "kafka", 11, "outk_", "kafka down 30s")
	if sum.Produced != outageCount {
		t.Errorf("produced %d, want %d: the synthetic feed must wait, not skip", sum.Produced, outageCount)
	}
	during := statusLinesBetween(log, o.stopped.Add(time.Second), o.listening)
	if len(during) < 10 {
		t.Errorf("%d status lines while the broker was down, want one a second", len(during))
	}
	for _, s := range during {
		if s.Int("produced") != during[0].Int("produced") {
			t.Errorf("produced moved while the broker was down: %d at %s, %d at %s (the feed must wait)",
				during[0].Int("produced"), during[0].Time.Format(time.TimeOnly), s.Int("produced"), s.Time.Format(time.TimeOnly))
			break
		}
	}
	r.checkRecovery(log, o, "kafka", 1000)
	checkOutageLines(t, log, o, "kafka")
}

// TestOutageKafkaLiveFeed is TestOutageKafka with a live feed: a server
// speaking Finnhub's protocol sends a known number of trades at a steady
// rate through the outage. A live feed cannot wait, so what the pipeline
// could not take is dropped and counted: every trade sent before the outage
// is stored, the trades missing from the store are as many as feed_dropped
// says, and every candle and sector window is exactly that of the trades
// stored, in the order they were sent.
func TestOutageKafkaLiveFeed(t *testing.T) {
	brokers, hosts := outageStack(t)
	const (
		perFrame = 50
		frames   = 1200 // 60,000 trades, one frame every 50ms: 1,000 trades/s for a minute
	)
	srv := steadyFinnhub(t, perFrame, frames, 50*time.Millisecond)
	ks := outageKeyspace(t, hosts, "outl_")
	outageTopics(t, brokers, ks)
	r := startOutageRunEnv(t, map[string]string{"FINNHUB_API_KEY": testFinnhubKey},
		"--brokers", brokers, "--cassandra", hosts, "--keyspace", ks, "--topic", ks, "--group", ks,
		"--source", "finnhub", "--finnhub-url", srv.url, "--symbols", strings.Join(steadySymbols, ","),
		"--duration", "200s", "--drain-timeout", "1m")

	r.waitStatus("10,000 trades stored", func(s proc.Line) bool { return s.Int("stored") >= 10000 })
	o := r.breakFor("kafka", brokers, outageFor)
	if !srv.waitSent(3 * time.Minute) {
		t.Fatalf("the server sent %d of %d frames", srv.frames.Load(), frames)
	}
	code := r.wait(5 * time.Minute)
	sum := r.summary(code)
	log := r.Log()
	sent := srv.trades()
	got := storetest.ReadCassandra(t, strings.Split(hosts, ","), ks)
	kept, missing := sentAndStored(t, sent, got)
	// What the feed dropped is not lost: it is counted, and said. Which
	// trades it dropped only the run knows; the rest must be exact.
	storetest.Check(t, "kafka down 30s, live feed", got, storetest.Reference(kept, storetest.Windows{SectorOf: feed.DefaultUniverse().Sector}))
	t.Logf("sent=%d stored=%d missing=%d feed_dropped=%d feed_bad=%d late=%d", len(sent), len(kept), len(missing), sum.FeedDropped, sum.FeedBad, sum.Late)
	if int64(len(missing)) != sum.FeedDropped {
		t.Errorf("%d sent trades are not in the store, and the run says it dropped %d", len(missing), sum.FeedDropped)
	}
	for _, tr := range missing {
		if tr.Time.Before(o.stopping.Truncate(time.Millisecond)) {
			t.Errorf("a trade sent before Kafka was stopped is not stored: %+v", tr)
			break
		}
	}
	if sum.FeedBad != 0 {
		t.Errorf("feed_bad = %d, want 0", sum.FeedBad)
	}
	// Each partition gets its trades in event-time order, the backlog
	// included, and resumes with the watermark committed before the
	// outage: none is late. A partition that took its silence during the
	// outage, or before the first fetch of a new generation, for a quiet
	// market would close its windows by the wall clock and make the backlog
	// late, left out of its candles.
	if sum.Late != 0 {
		t.Errorf("%d trades late: the backlog of the outage is left out of the candles and sector volumes", sum.Late)
	}
	if sum.FeedDropped > 0 && !strings.Contains(r.Stderr(), "the pipeline is behind the live feed") {
		t.Errorf("%d trades dropped, and the log does not say so", sum.FeedDropped)
	}
	r.checkRecovery(log, o, "kafka", 1000)
	checkOutageLines(t, log, o, "kafka")
}

// TestOutageCassandra stops Cassandra for 30 seconds in the middle of a run
// at 1,000 trades/s: the run recovers by itself and exits 0, the outage is
// one line in the log when it starts and one when Cassandra is back, and
// every trade is stored once, in the candles and sector volumes once.
func TestOutageCassandra(t *testing.T) {
	// The producer waits once MaxInFlight, 20,000 with --cassandra, trades
	// are produced and not stored.
	storeOutage(t, "cassandra", 12, "outc_", "cassandra down 30s", 20000)
}

// TestOutagePostgres is TestOutageCassandra with the PostgreSQL store: the
// server stops with a fast shutdown, which ends the store's connections,
// for 30 seconds.
func TestOutagePostgres(t *testing.T) {
	storeOutage(t, "postgres", 13, "outp_", "postgres down 30s", pipeline.DefaultMaxInFlight)
}

// storeOutage runs syntheticOutage with the store's server stopped, and
// checks that nothing was stored while it was away, that the producer held
// at most about inFlight trades not stored, and how the run recovered.
func storeOutage(t *testing.T, server string, seed int64, prefix, fault string, inFlight int64) {
	t.Helper()
	r, sum, log, o := syntheticOutage(t, server, seed, prefix, fault)
	if sum.Produced != outageCount {
		t.Errorf("produced %d, want %d", sum.Produced, outageCount)
	}
	during := statusLinesBetween(log, o.stopped.Add(time.Second), o.listening)
	for _, s := range during {
		if s.Int("stored") != during[0].Int("stored") {
			t.Errorf("stored moved while %s was down: %d at %s, %d at %s", server,
				during[0].Int("stored"), during[0].Time.Format(time.TimeOnly), s.Int("stored"), s.Time.Format(time.TimeOnly))
			break
		}
	}
	if len(during) > 0 {
		last := during[len(during)-1]
		if p := last.Int("produced") - last.Int("stored"); p > inFlight+5000 {
			t.Errorf("%d trades produced and not stored while %s was down, want at most about %d", p, server, inFlight)
		}
	}
	r.checkRecovery(log, o, "store", 1000)
	checkOutageLines(t, log, o, "store")
}

// outageCount is how many trades a synthetic outage run sends, at 1,000/s.
const outageCount = 60000

// syntheticOutage runs outageCount pinned trades of seed at 1,000 trades/s
// against the dev stack, stops server ("kafka", "cassandra" or "postgres")
// for outageFor once 10,000 are stored, waits for the run to end, and
// compares what the store (Cassandra, or PostgreSQL when that is the server
// stopped) holds, read directly, with the reference of the input: every
// trade once, every candle and sector window exact, none late.
func syntheticOutage(t *testing.T, server string, seed int64, prefix, fault string) (*outageRun, pipeline.Summary, []proc.Line, outageTimes) {
	t.Helper()
	brokers, hosts := outageStack(t)
	var (
		storeArgs []string
		vars      map[string]string
		addr      = brokers
		read      func() storetest.Contents
	)
	switch server {
	case "postgres":
		pg, port := outagePostgres(t)
		schema := pg.Schema(t, prefix)
		storeArgs = []string{"--postgres", pg.DSN, "--postgres-schema", schema, "--topic", schema, "--group", schema}
		vars = map[string]string{"TRADETOP_POSTGRES_PASSWORD": pg.Password}
		addr = "127.0.0.1:" + port
		read = func() storetest.Contents { return storetest.ReadPostgres(t, pg, schema) }
	default:
		ks := outageKeyspace(t, hosts, prefix)
		storeArgs = []string{"--cassandra", hosts, "--keyspace", ks, "--topic", ks, "--group", ks}
		if server == "cassandra" {
			addr = hosts
		}
		read = func() storetest.Contents { return storetest.ReadCassandra(t, strings.Split(hosts, ","), ks) }
	}
	outageTopics(t, brokers, storeArgs[len(storeArgs)-1])
	trades := outageInput(t, seed, outageCount)
	r := startOutageRunEnv(t, vars, append([]string{"--brokers", brokers}, append(storeArgs,
		"--seed", strconv.FormatInt(seed, 10), "--start", outageStart, "--count", strconv.Itoa(outageCount), "--rate", "1000")...)...)

	r.waitStatus("10,000 trades stored", func(s proc.Line) bool { return s.Int("stored") >= 10000 })
	o := r.breakFor(server, addr, outageFor)
	code := r.wait(6 * time.Minute)
	sum := r.summary(code)
	log := r.Log()
	got := read()
	storetest.Check(t, fault, got, storetest.Reference(trades, storetest.Windows{SectorOf: feed.DefaultUniverse().Sector}))
	// The backlog of the outage is read in event-time order with the
	// watermark committed before it: none of it is late.
	if sum.Late != 0 {
		t.Errorf("%d trades late: the backlog of the outage is left out of the candles and sector volumes", sum.Late)
	}
	return r, sum, log, o
}

// outageStack returns the dev stack's brokers and Cassandra hosts, or skips
// the test unless faults are allowed. It checks that scripts/devstack, with
// the test's environment, manages the servers the test uses, so that it
// never stops someone else's.
func outageStack(t *testing.T) (brokers, hosts string) {
	t.Helper()
	if os.Getenv("TRADETOP_E2E_FAULTS") != "1" {
		t.Skip("stops dev stack servers: runs with TRADETOP_E2E_FAULTS=1 (see outage_test.go)")
	}
	v := e2e.Need(t, "the dev stack whose servers the outage tests stop", "TRADETOP_E2E_KAFKA", "TRADETOP_E2E_CASSANDRA")
	brokers, hosts = v[0], v[1]
	ports := devstackState(t)
	if !strings.HasSuffix(brokers, ":"+ports["KAFKA_PORT"]) || !strings.HasSuffix(hosts, ":"+ports["CASSANDRA_PORT"]) {
		t.Fatalf("the dev stack listens on Kafka %s and Cassandra %s, not %s and %s: the test would break the wrong servers",
			ports["KAFKA_PORT"], ports["CASSANDRA_PORT"], brokers, hosts)
	}
	if r, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo, hi int
		fmt.Sscan(string(r), &lo, &hi)
		for _, p := range []string{ports["KAFKA_PORT"], ports["CASSANDRA_PORT"]} {
			if n, _ := strconv.Atoi(p); n >= lo && n <= hi {
				t.Logf("warning: port %d is in the ephemeral range %d-%d: a client may take it while the server is down, and its restart fail", n, lo, hi)
			}
		}
	}
	return brokers, hosts
}

// outagePostgres returns the dev stack's PostgreSQL and its port, failing
// the test unless the stack outageStack checked runs it.
func outagePostgres(t *testing.T) (storetest.Postgres, string) {
	t.Helper()
	pg := storetest.NeedPostgres(t)
	cfg, err := pgconn.ParseConfig(pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(int(cfg.Port))
	if want := devstackState(t)["POSTGRES_PORT"]; port != want {
		t.Fatalf("the dev stack's PostgreSQL listens on %s, not %s: the test would break the wrong server", want, port)
	}
	return pg, port
}

// devstackState reads what scripts/devstack up started, from the instance
// DEVSTACK_DIR names (.devstack by default).
func devstackState(t *testing.T) map[string]string {
	t.Helper()
	dir := os.Getenv("DEVSTACK_DIR")
	if dir == "" {
		dir = ".devstack"
	}
	state, err := os.ReadFile(filepath.Join(dir, "state.env"))
	if err != nil {
		t.Fatalf("no dev stack started in %s (set DEVSTACK_DIR to the instance to break): %v", dir, err)
	}
	vals := map[string]string{}
	for _, l := range strings.Split(string(state), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vals[k] = v
		}
	}
	return vals
}

// outageKeyspace returns a fresh keyspace, dropped at the end of the test, with
// tradetop's schema in it: created here with patient timeouts, so that a
// loaded dev stack slows the test down rather than failing the run before
// its fault.
func outageKeyspace(t *testing.T, hosts, prefix string) string {
	t.Helper()
	ks := storetest.Keyspace(t, strings.Split(hosts, ","), prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := cassandra.Open(ctx, cassandra.Config{Hosts: strings.Split(hosts, ","), Keyspace: ks,
		Timeout: 30 * time.Second, ConnectTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return ks
}

// outageTopics creates the topic and its dead-letter topic as the command
// would, six partitions each, with patient timeouts for a loaded broker,
// and deletes them at the end of the test.
func outageTopics(t *testing.T, brokers, topic string) {
	t.Helper()
	cfg := bus.Config{Brokers: []string{brokers}, Topic: topic, RequestTimeout: time.Minute}
	admin := bus.NewAdmin(cfg)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, name := range []string{topic, topic + ".dlq"} {
		if _, err := admin.EnsureTopic(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := &kafka.Client{Addr: kafka.TCP(brokers), Timeout: time.Minute}
		if _, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic, topic + ".dlq"}}); err != nil {
			t.Logf("deleting topic %s: %v", topic, err)
		}
	})
}

// outageInput returns the n trades the command generates with --seed seed,
// --start outageStart and --count n, at any rate.
func outageInput(t *testing.T, seed, n int64) []trade.Trade {
	t.Helper()
	return syntheticInput(t, seed, outageStart, n)
}

// outageRun is one headless run of the command, in process, with a server
// broken in the middle.
type outageRun struct {
	*proc.Proc
	t *testing.T
}

func startOutageRun(t *testing.T, args ...string) *outageRun {
	return startOutageRunEnv(t, nil, args...)
}

// startOutageRunEnv starts the command headless, in this process, with
// args and the environment vars, a status line a second and a JSON
// summary.
func startOutageRunEnv(t *testing.T, vars map[string]string, args ...string) *outageRun {
	t.Helper()
	args = append([]string{"--no-ui", "--status-interval", "1s", "--summary", "json", "--data-dir", t.TempDir()}, args...)
	return &outageRun{Proc: proc.StartFunc(t, "run", inProcess(vars), args...), t: t}
}

// inProcess is the command's run, for the harness to run in this process,
// with the environment vars.
func inProcess(vars map[string]string) proc.Func {
	return func(args []string, stdout, stderr io.Writer) int { return run(args, env(vars), stdout, stderr) }
}

// waitStatus waits for a status line meeting cond, for two minutes at most.
func (r *outageRun) waitStatus(what string, cond func(proc.Line) bool) {
	r.t.Helper()
	if _, ok := r.WaitStatus(0, 2*time.Minute, cond); ok {
		return
	}
	if r.Exited() {
		r.t.Fatalf("the run ended (exit %d) before %s:\n%s", r.ExitCode(), what, r.Tail(40))
	}
	r.t.Fatalf("no status line with %s in two minutes:\n%s", what, r.Tail(40))
}

// outageTimes are when a server was stopped and came back.
type outageTimes struct {
	stopping  time.Time // scripts/devstack stop was called
	stopped   time.Time // it returned: the server's process has exited
	listening time.Time // the server's port accepted a connection again
	ready     time.Time // scripts/devstack up returned: it answers requests
}

// breakFor stops server, listening on addr, with scripts/devstack, waits d
// and starts it again.
func (r *outageRun) breakFor(server, addr string, d time.Duration) outageTimes {
	t := r.t
	t.Helper()
	stopped := true
	t.Cleanup(func() {
		if stopped {
			runDevstack(t, "up")
		}
	})
	var o outageTimes
	o.stopping = time.Now()
	runDevstack(t, "stop", server)
	o.stopped = time.Now()
	t.Logf("%s stopped at +%s (the stop took %s)", server, sinceRun(r, o.stopped), o.stopped.Sub(o.stopping).Round(time.Millisecond))
	if r.WaitExit(d) {
		t.Fatalf("the run ended (exit %d) while %s was down:\n%s", r.ExitCode(), server, r.Tail(40))
	}
	// The server listens a while before scripts/devstack has probed it.
	listening := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				listening <- time.Now()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		listening <- time.Time{}
	}()
	up := time.Now()
	runDevstack(t, "up")
	stopped = false
	o.ready = time.Now()
	cancel()
	if o.listening = <-listening; o.listening.IsZero() {
		o.listening = o.ready
	}
	t.Logf("%s listening again at +%s, down %s; ready at +%s (scripts/devstack up took %s)", server,
		sinceRun(r, o.listening), o.listening.Sub(o.stopping).Round(time.Millisecond),
		sinceRun(r, o.ready), o.ready.Sub(up).Round(time.Millisecond))
	return o
}

// runDevstack runs scripts/devstack with args and the test's environment.
func runDevstack(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "scripts/devstack", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/devstack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// wait waits up to limit for the run to end and returns its exit code.
func (r *outageRun) wait(limit time.Duration) int {
	r.t.Helper()
	if !r.WaitExit(limit) {
		r.t.Fatalf("the run did not end within %s of its outage:\n%s", limit, r.Tail(40))
	}
	return r.ExitCode()
}

// summary checks the exit code and returns the run's summary.
func (r *outageRun) summary(code int) pipeline.Summary {
	r.t.Helper()
	r.t.Logf("the run took %s", time.Since(r.Started()).Round(time.Millisecond))
	if code != exitOK {
		r.t.Fatalf("exit %d, want 0: the run must recover by itself:\n%s", code, r.Tail(60))
	}
	sum, err := r.Summary()
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("summary: produced=%d consumed=%d stored_trades=%d candles=%d late=%d errors=%d p99_ms=%.0f max_ms=%.0f",
		sum.Produced, sum.Consumed, sum.StoredTrades, sum.Candles, sum.Late, sum.Errors, sum.LatencyMS.P99, sum.LatencyMS.Max)
	return sum
}

// Recovery bounds, from the server listening again, on an unloaded
// machine; TRADETOP_TEST_SLOW stretches them.
const (
	recoverStoring  = 30 * time.Second // producing and storing again
	recoverCaughtUp = 90 * time.Second // the backlog read and stored
)

// checkRecovery logs how long the outage of system ("kafka", "store")
// lasted and how long the run took to recover, as its log tells it, and
// the peak unread and commit lag, and fails the test unless the run
// produced and stored again, and caught up, within the recovery bounds.
// rate is the feed's trades per second.
func (r *outageRun) checkRecovery(log []proc.Line, o outageTimes, system string, rate int64) {
	t := r.t
	t.Helper()
	var peakUnread, peakLag int64
	for _, s := range linesWith(log, "INFO", "status") {
		peakUnread = max(peakUnread, s.Int("unread"))
		peakLag = max(peakLag, s.Int("commit_lag"))
	}
	t.Logf("peak unread=%d peak commit_lag=%d", peakUnread, peakLag)
	var first, last time.Time
	for _, l := range log {
		if l.Msg == system+" down" && first.IsZero() {
			first = l.Time
		}
		if l.Msg == system+" is back" && !first.IsZero() && last.IsZero() {
			last = l.Time
		}
	}
	if !first.IsZero() && !last.IsZero() {
		t.Logf("the log says: %q at +%s, %q at +%s: an outage of %s as the run saw it (the server was away %s)",
			system+" down", sinceRun(r, first), system+" is back", sinceRun(r, last), last.Sub(first).Round(time.Millisecond),
			o.listening.Sub(o.stopping).Round(time.Millisecond))
	}
	// Recovery, from the server listening again: producing and storing
	// again, then caught up: the backlog burst over (the feed's pace again)
	// and under a second of trades unread.
	var producing, storing, caughtUp time.Time
	var prev proc.Line
	for i, s := range statusLinesBetween(log, o.listening, time.Now()) {
		if i > 0 && s.Int("produced") > prev.Int("produced") && producing.IsZero() {
			producing = s.Time
		}
		if i > 0 && s.Int("stored") > prev.Int("stored") && storing.IsZero() {
			storing = s.Time
		}
		if !producing.IsZero() && !storing.IsZero() && caughtUp.IsZero() &&
			s.Int("in_per_s") <= rate*3/2 && s.Int("unread") < rate && s.Attrs[system] == "ok" {
			caughtUp = s.Time
		}
		prev = s
	}
	line := fmt.Sprintf("recovery: server=%s away_s=%.1f producing_s=%s storing_s=%s caught_up_s=%s",
		system, o.listening.Sub(o.stopping).Seconds(), secondsOr(producing, o.listening),
		secondsOr(storing, o.listening), secondsOr(caughtUp, o.listening))
	t.Logf("recovery after %s listened again: %q after %s, producing after %s, storing after %s, caught up after %s",
		system, system+" is back", durationOr(last, o.listening), durationOr(producing, o.listening),
		durationOr(storing, o.listening), durationOr(caughtUp, o.listening))
	t.Log(line)
	storetest.WriteFigures(t, line)
	for what, at := range map[string]time.Time{"producing": producing, "storing": storing} {
		if b := e2e.Bound(t, recoverStoring); at.IsZero() || at.Sub(o.listening) > b {
			t.Errorf("not %s again within %s of %s listening again (%s)", what, b, system, durationOr(at, o.listening))
		}
	}
	if b := e2e.Bound(t, recoverCaughtUp); caughtUp.IsZero() || caughtUp.Sub(o.listening) > b {
		t.Errorf("not caught up within %s of %s listening again (%s)", b, system, durationOr(caughtUp, o.listening))
	}
}

// secondsOr is at - from in seconds, or "never".
func secondsOr(at, from time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return strconv.FormatFloat(at.Sub(from).Seconds(), 'f', 1, 64)
}

func durationOr(at, from time.Time) string {
	switch {
	case at.IsZero():
		return "never"
	case at.Before(from):
		return "-" + from.Sub(at).Round(time.Millisecond).String()
	}
	return at.Sub(from).Round(time.Millisecond).String()
}

// checkOutageLines checks what the log says of an outage of system
// ("kafka", "store"): the status line says <system>=down while the server
// is away and ok at the end, and the outage is one warning "<system> down"
// when it starts and one line "<system> is back" once the server is back.
// Short outages after that (a request timing out on a loaded machine) are
// logged, not failed.
func checkOutageLines(t *testing.T, log []proc.Line, o outageTimes, system string) {
	t.Helper()
	sawDown := false
	for _, s := range statusLinesBetween(log, o.stopped.Add(10*time.Second), o.listening) {
		sawDown = sawDown || s.Attrs[system] == "down"
	}
	if !sawDown {
		t.Errorf("no status line says %s=down while the server was away", system)
	}
	if st := linesWith(log, "INFO", "status"); len(st) > 0 && st[len(st)-1].Attrs[system] != "ok" {
		t.Errorf("the last status line does not say %s=ok:\n%s", system, st[len(st)-1].Raw)
	}
	var downs, backs, later []proc.Line
	for _, l := range log {
		switch {
		case l.Msg == system+" down" && l.Time.Before(o.listening):
			downs = append(downs, l)
		case l.Msg == system+" is back" && len(backs) == 0:
			backs = append(backs, l)
		case l.Msg == system+" down" || l.Msg == system+" is back":
			later = append(later, l)
		}
	}
	switch {
	case len(downs) != 1:
		t.Errorf("%d lines %q while the server was away, want one:\n%s", len(downs), system+" down", joinLines(downs))
	case downs[0].Level != "WARN":
		t.Errorf("the outage starts with a %s line, want WARN (a condition retried until it goes away):\n%s", downs[0].Level, downs[0].Raw)
	case downs[0].Time.Before(o.stopping):
		t.Errorf("%q before the server was stopped:\n%s", system+" down", downs[0].Raw)
	}
	switch {
	case len(backs) != 1:
		t.Errorf("no line %q", system+" is back")
	case backs[0].Level != "INFO":
		t.Errorf("the outage ends with a %s line, want INFO:\n%s", backs[0].Level, backs[0].Raw)
	case backs[0].Time.Before(o.listening):
		t.Errorf("%q before the server listened again:\n%s", system+" is back", backs[0].Raw)
	}
	if len(later) > 0 {
		t.Logf("short outages after the server was back:\n%s", joinLines(later))
	}
	// Anything else the run said while the server was away.
	others := map[string]int{}
	for _, l := range log {
		if (l.Level == "WARN" || l.Level == "ERROR") && l.Msg != system+" down" && !l.Time.Before(o.stopping) && !l.Time.After(o.listening) {
			others[l.Level+" "+l.Msg]++
		}
	}
	t.Logf("other warnings and errors while %s was away: %v", system, others)
}

// sentAndStored matches the trades a live feed sent with those got holds,
// by volume (each sent trade has its own) and field by field: it returns
// the sent trades that are stored, in the order sent and with their stored
// IDs, and those that are not.
func sentAndStored(t *testing.T, sent []trade.Trade, got storetest.Contents) (kept, missing []trade.Trade) {
	t.Helper()
	byVolume := map[float64]string{}
	for id, tr := range got.Trades {
		if other, dup := byVolume[tr.Volume]; dup {
			t.Errorf("trades %s and %s are stored with the same volume %v: one trade under two IDs", other, id, tr.Volume)
		}
		byVolume[tr.Volume] = id
	}
	for _, tr := range sent {
		id, ok := byVolume[tr.Volume]
		if !ok {
			missing = append(missing, tr)
			continue
		}
		tr.ID = id
		kept = append(kept, tr)
	}
	return kept, missing
}

// linesWith returns the lines with msg at level ("" for any).
func linesWith(log []proc.Line, level, msg string) []proc.Line {
	var out []proc.Line
	for _, l := range log {
		if l.Msg == msg && (level == "" || l.Level == level) {
			out = append(out, l)
		}
	}
	return out
}

// statusLinesBetween returns the status lines logged in [from, to].
func statusLinesBetween(log []proc.Line, from, to time.Time) []proc.Line {
	var out []proc.Line
	for _, l := range linesWith(log, "INFO", "status") {
		if !l.Time.Before(from) && !l.Time.After(to) {
			out = append(out, l)
		}
	}
	return out
}

func joinLines(ls []proc.Line) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// steadySymbols are the symbols the steady Finnhub server trades.
var steadySymbols = []string{"AAPL", "MSFT", "NVDA", "AMZN", "BINANCE:BTCUSDT"}

// steadyServer speaks Finnhub's protocol: once the client has subscribed,
// it sends frames of trades at a steady pace, every trade distinct, and
// keeps the count across reconnections; then it pings until the client
// leaves.
type steadyServer struct {
	url      string
	perFrame int
	total    int
	frames   atomic.Int64
	sentAll  chan struct{}
	// sent holds every trade sent, written by the one connection sending.
	sent []trade.Trade
}

func steadyFinnhub(t *testing.T, perFrame, frames int, every time.Duration) *steadyServer {
	t.Helper()
	s := &steadyServer{perFrame: perFrame, total: frames, sentAll: make(chan struct{})}
	var sending atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws := acceptFinnhub(w, r, len(steadySymbols))
		if ws == nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		go keepReading(ctx, ws)
		if sending.CompareAndSwap(false, true) {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for int(s.frames.Load()) < s.total {
				select {
				case <-ctx.Done():
					sending.Store(false)
					return
				case <-tick.C:
				}
				b, trades := s.frame()
				if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
					sending.Store(false)
					return
				}
				s.sent = append(s.sent, trades...)
				if int(s.frames.Add(1)) == s.total {
					close(s.sentAll)
				}
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				if ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)) != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return s
}

// frame returns the next frame and its trades, each distinct by its
// volume.
func (s *steadyServer) frame() ([]byte, []trade.Trade) {
	n := len(s.sent)
	trades := make([]trade.Trade, 0, s.perFrame)
	now := time.Now().UnixMilli()
	var b strings.Builder
	b.WriteString(`{"type":"trade","data":[`)
	for i := range s.perFrame {
		k := n + i
		sym := steadySymbols[k%len(steadySymbols)]
		price := 100 + float64(k%1000)/100
		vol := float64(k + 1)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"s":%q,"p":%g,"t":%d,"v":%g,"c":["1"]}`, sym, price, now, vol)
		trades = append(trades, trade.Trade{Symbol: sym, Price: price, Volume: vol, Time: time.UnixMilli(now).UTC()})
	}
	b.WriteString(`]}`)
	return []byte(b.String()), trades
}

func (s *steadyServer) waitSent(limit time.Duration) bool {
	select {
	case <-s.sentAll:
		return true
	case <-time.After(limit):
		return false
	}
}

// trades returns every trade sent, once all were.
func (s *steadyServer) trades() []trade.Trade {
	<-s.sentAll
	return s.sent
}

// sinceRun is how long after the run started at is.
func sinceRun(r *outageRun, at time.Time) time.Duration {
	return at.Sub(r.Started()).Round(time.Millisecond)
}
