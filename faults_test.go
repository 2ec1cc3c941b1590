//go:build unix

package main

// Fault tests: the promises of README's "Guarantees" under the faults they
// are made for. Each runs the real thing (the built binary, or the pipeline
// on a real or embedded broker) and compares what the store holds, read
// directly, with the reference of its input (package storetest): every
// trade once, every candle and sector window field by field. The runs
// against real Kafka and Cassandra need TRADETOP_E2E_KAFKA and
// TRADETOP_E2E_CASSANDRA (see scripts/devstack); they skip without them,
// and fail under CI=true.
//
// Each comparison logs one line of figures, quoted by docs/RELIABILITY.md:
//
//	figures: fault="…" in=<trades> stored=<distinct trades> doubled=<…> lost=<…> candles_wrong=<…> sector_wrong=<…>

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/e2e/proc"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/cassandra"
	"github.com/tradetop/tradetop/store/sqlite"
	"github.com/tradetop/tradetop/store/storetest"
	"github.com/tradetop/tradetop/trade"
)

// faultStart pins the synthetic feed's clock: with a seed and a count it
// makes the same trades, IDs and times included, on every run.
const faultStart = "2026-03-02T14:30:00Z"

// faultIntervals and faultSectorWindow are short, so that windows close
// and offsets are committed many times within a run of a few seconds.
var faultIntervals = []time.Duration{time.Second, 10 * time.Second}

const faultSectorWindow = 10 * time.Second

// faultWindows are the windows of the pinned fault runs.
var faultWindows = storetest.Windows{Intervals: faultIntervals, Sector: faultSectorWindow, SectorOf: feed.DefaultUniverse().Sector}

// TestCrashRestartEmbedded kills the default mode (embedded broker, SQLite
// in --data-dir) with SIGKILL four times at random moments of a pinned run,
// restarting it with the same arguments each time, then runs it once more
// on a source that only ends the feed, so that the last run reads what is
// in the broker's log, on disk, from the committed offsets and produces
// nothing of the input. The store must then hold exactly what reached the
// broker (crashReference), every trade once and every window exact.
func TestCrashRestartEmbedded(t *testing.T) {
	const seed, count, rate = 17, 20000, 2000 // 10s a run
	bin := proc.Build(t)
	dir := t.TempDir()
	common := append(crashCommon(), "--data-dir", dir)
	input := faultInput(t, seed, count)
	final, marker := drainOnly(t, input)
	sum := crashAndRestart(t, bin, append(crashSource(seed, count, rate), common...), append(final, common...), 4, 5*time.Second, nil)
	t.Logf("draining run summary: %+v", sum)

	got := storetest.ReadSQLite(t, filepath.Join(dir, datadir.StoreFile))
	storetest.Check(t, "kill -9 and restart (embedded)", got, storetest.Reference(crashReference(t, input, got, marker), faultWindows))
}

// TestCrashRestartRealClusters kills tradetop on real Kafka and Cassandra
// with SIGKILL three times at random moments of a pinned run, restarting it
// with the same arguments each time, then runs it once more on a source
// that only ends the feed. The group's offsets and watermarks and the topic
// outlive each crash, and every killed run produced its input from the
// start again, so most trades were read several times: the store must hold
// exactly what reached Kafka (crashReference).
func TestCrashRestartRealClusters(t *testing.T) {
	brokers, hosts := faultClusters(t)
	name := storetest.Keyspace(t, hosts, "crash_")
	cassandraFaultStore(t, hosts, name) // the keyspace, made patiently
	crashRestart(t, brokers, name, 23, "kill -9 and restart (Kafka + Cassandra)",
		[]string{"--cassandra", strings.Join(hosts, ","), "--keyspace", name},
		func() storetest.Contents { return storetest.ReadCassandra(t, hosts, name) })
}

// TestCrashRestartPostgres is TestCrashRestartRealClusters with the
// PostgreSQL store: kill -9 three times, a last run drains, and the tables,
// read directly, hold every trade once and every window exact.
func TestCrashRestartPostgres(t *testing.T) {
	brokers := strings.Split(e2e.Need(t, "a Kafka, e.g. from scripts/devstack up", "TRADETOP_E2E_KAFKA")[0], ",")
	pg := storetest.NeedPostgres(t)
	name := pg.Schema(t, "crash_")
	crashRestart(t, brokers, name, 31, "kill -9 and restart (Kafka + PostgreSQL)",
		[]string{"--postgres", pg.DSN, "--postgres-schema", name, "--postgres-password-file", pg.PasswordFile},
		func() storetest.Contents { return storetest.ReadPostgres(t, pg, name) })
}

// crashRestart kills the command on topic and group name three times,
// storing with storeArgs, then runs one that only drains, and checks what
// read says the store holds against what reached Kafka.
func crashRestart(t *testing.T, brokers []string, name string, seed int64, fault string, storeArgs []string, read func() storetest.Contents) {
	t.Helper()
	// 15s of feed a run: a restarted member waits up to the group's
	// session timeout (10s) for the killed one to leave before it reads,
	// and must read for a while before it is killed again.
	const count, rate = 30000, 2000
	bin := proc.Build(t)
	deleteFaultTopics(t, brokers, name, name+".dlq")
	common := append(append(crashCommon(), "--brokers", strings.Join(brokers, ",")), storeArgs...)
	common = append(common, "--topic", name, "--group", name, "--data-dir", t.TempDir())
	input := faultInput(t, seed, count)
	final, marker := drainOnly(t, input)
	sum := crashAndRestart(t, bin, append(crashSource(seed, count, rate), common...), append(final, common...), 3, 2500*time.Millisecond, nil)
	t.Logf("draining run summary: %+v", sum)

	got := read()
	storetest.Check(t, fault, got, storetest.Reference(crashReference(t, input, got, marker), faultWindows))
}

// TestCrashAtFullRateRealClusters kills tradetop on real Kafka and
// Cassandra at the maximum rate, three times, and measures after each kill
// how much of what the killed run had stored its successor reads again: the
// stored trades at or past the group's committed offsets (the store and
// Kafka, read directly). Offsets are committed at the read position once
// stored, so that is at most a commit interval and a batch: the test wants
// under two seconds' worth at the rate the run stored. A last run drains
// what is in Kafka; the store must then hold exactly what reached it.
func TestCrashAtFullRateRealClusters(t *testing.T) {
	brokers, hosts := faultClusters(t)
	const seed, count = 29, 400_000
	bin := proc.Build(t)
	name := storetest.Keyspace(t, hosts, "fullrate_")
	deleteFaultTopics(t, brokers, name, name+".dlq")
	common := append(crashCommon(), "--brokers", strings.Join(brokers, ","), "--cassandra", strings.Join(hosts, ","),
		"--keyspace", name, "--topic", name, "--group", name, "--data-dir", t.TempDir())
	cassandraFaultStore(t, hosts, name) // the keyspace, made patiently
	input := faultInput(t, seed, count)
	final, marker := drainOnly(t, input)
	kcfg := bus.Config{Brokers: brokers, Topic: name, Group: name}
	var worst float64
	var reread int64
	sum := crashAndRestart(t, bin, append(crashSource(seed, count, 0), common...), append(final, common...), 3, 3*time.Second, func(storing time.Duration) {
		got := storetest.ReadCassandra(t, hosts, name)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin := bus.NewAdmin(kcfg)
		defer admin.Close()
		lag, err := admin.Lag(ctx, name, name)
		if err != nil {
			t.Fatal(err)
		}
		stored := got.MaxOffsets()
		var again int64
		for _, l := range lag {
			if top, ok := stored[int32(l.Partition)]; ok && l.Committed >= 0 {
				again += max(0, top+1-l.Committed)
			} else if ok {
				again += top + 1 // nothing committed: all of it
			}
		}
		perSecond := float64(len(got.Trades)) / storing.Seconds()
		seconds := float64(again) / perSecond
		t.Logf("after the kill: %d stored trades past the committed offsets, %.2fs at the %.0f trades/s stored", again, seconds, perSecond)
		reread += again
		worst = max(worst, seconds)
	})
	t.Logf("draining run summary: %+v", sum)
	got := storetest.ReadCassandra(t, hosts, name)
	d := storetest.Compare(got, storetest.Reference(crashReference(t, input, got, marker), faultWindows))
	line := fmt.Sprintf("%s reread_after_restart=%d worst_reread_s=%.2f", d.Figures("kill -9 at full rate (Kafka + Cassandra)"), reread, worst)
	t.Log(line)
	storetest.WriteFigures(t, line)
	if !d.OK() {
		t.Errorf("the store differs from what reached Kafka: %v", d.Problems[:min(len(d.Problems), 20)])
	}
	if worst >= 2 {
		t.Errorf("a restart read %.2fs worth of trades again, want under 2s", worst)
	}
}

// crashSource are the arguments of the pinned synthetic feed; rate 0 is
// max.
func crashSource(seed, count int64, rate int) []string {
	r := "max"
	if rate > 0 {
		r = strconv.Itoa(rate)
	}
	return []string{"--seed", strconv.FormatInt(seed, 10), "--start", faultStart, "--count", strconv.FormatInt(count, 10), "--rate", r}
}

// crashCommon are the arguments of a headless fault run besides its source.
func crashCommon() []string {
	return []string{
		"--no-ui", "--windows", "1s,10s", "--sector-window", faultSectorWindow.String(),
		"--status-interval", "500ms", "--summary", "json",
	}
}

// drainOnly returns the source arguments of a run that produces one trade,
// the marker, not in input (a replay of a file holding only it), so that
// the run reads to the end of what is in Kafka, stores it and exits.
func drainOnly(t *testing.T, input []trade.Trade) (args []string, marker trade.Trade) {
	t.Helper()
	last := input[len(input)-1]
	marker = trade.Trade{ID: "drain-marker", Symbol: last.Symbol, Price: last.Price, Volume: 1, Time: last.Time.Add(time.Second)}
	path := filepath.Join(t.TempDir(), "marker.jsonl")
	line := fmt.Sprintf(`{"id":%q,"s":%q,"p":%v,"v":%v,"t":%d}`+"\n", marker.ID, marker.Symbol, marker.Price, marker.Volume, marker.Time.UnixNano())
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	// The drain starts when the feed ends, at once: it must outlast the
	// wait for a killed member's session to time out.
	return []string{"--source", "replay:" + path, "--speed", "max", "--drain-timeout", "2m"}, marker
}

// crashReference is what reached Kafka from pinned runs killed at random
// moments, each of which produced its input from the start: the pinned
// feed sends each symbol's trades in order, always to the same partition,
// and a partition's log keeps them in that order, so what reached Kafka is,
// per symbol, a prefix of its trades in input. The prefix ends at the last
// trade of the symbol the store holds: a trade before it that the store
// lacks is lost. extra (a marker) is appended. It returns the trades in
// input order, the order each partition read them in.
func crashReference(t *testing.T, input []trade.Trade, got storetest.Contents, extra ...trade.Trade) []trade.Trade {
	t.Helper()
	last := map[string]int{}
	for i, tr := range input {
		if _, ok := got.Trades[tr.ID]; ok {
			last[tr.Symbol] = i
		}
	}
	var want []trade.Trade
	for i, tr := range input {
		if l, ok := last[tr.Symbol]; ok && i <= l {
			want = append(want, tr)
		}
	}
	t.Logf("%d of the %d input trades reached Kafka, by the store's last trade of each symbol", len(want), len(input))
	return append(want, extra...)
}

// crashAndRestart runs the binary with args kills times, killing each run
// with SIGKILL at a random moment up to maxDelay after its first status
// line that shows stored trades, then runs it with final to the end and
// returns that run's summary. afterKill, if set, is called after each kill
// with how long the killed run had been storing.
func crashAndRestart(t *testing.T, bin string, args, final []string, kills int, maxDelay time.Duration, afterKill func(storing time.Duration)) pipeline.Summary {
	t.Helper()
	rng := faultRand(t)
	for i := 1; i <= kills; i++ {
		name := fmt.Sprintf("run %d", i)
		p := proc.Start(t, name, bin, args...)
		if _, ok := p.WaitStatus(0, time.Minute, func(s proc.Line) bool { return s.Int("stored") > 0 }); !ok {
			t.Fatalf("%s: no status line with stored trades within a minute; stderr:\n%s", name, p.Tail(40))
		}
		storing := time.Now()
		delay := time.Duration(rng.Int64N(int64(maxDelay)))
		if p.WaitExit(delay) {
			t.Fatalf("%s ended by itself before its kill %v after storing: the runs are too short; stderr:\n%s",
				name, delay.Round(time.Millisecond), p.Tail(40))
		}
		p.Kill()
		last := "(none)"
		if s, ok := p.LastStatus(); ok {
			last = s.Raw
		}
		t.Logf("%s: SIGKILL %v after its first stored trades; its last status: %s",
			name, delay.Round(time.Millisecond), last)
		if afterKill != nil {
			afterKill(time.Since(storing))
		}
	}
	return proc.Start(t, "draining run", bin, final...).FinishOK(3 * time.Minute)
}

// faultRand returns the generator of the fault moments, seeded by
// faultSeed.
func faultRand(t *testing.T) *rand.Rand {
	t.Helper()
	return rand.New(rand.NewPCG(faultSeed(t), 0))
}

// faultSeed is TRADETOP_FAULT_SEED when set, the clock otherwise; it is
// logged, so that a failing schedule can be tried again.
func faultSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TRADETOP_FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TRADETOP_FAULT_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("fault schedule seed %d (TRADETOP_FAULT_SEED=%d repeats it)", seed, seed)
	return seed
}

// TestDuplicateDelivery writes a pinned set of trades to the topic more
// than once, as producer retries and re-ingests do, and runs the pipeline
// over it: every trade must be stored once and every candle and sector sum
// must equal those of the distinct trades. Each copy past the first is
// either a duplicate (a trade already counted in a window still open) or
// late (all its windows closed), and the summary counts it as one of them.
func TestDuplicateDelivery(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		kcfg := bus.Config{Topic: "trades", Group: "tradetop", Partitions: 6}
		emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Partitions: kcfg.Partitions, Topics: []string{kcfg.Topic, kcfg.Topic + ".dlq"}})
		if err != nil {
			t.Fatal(err)
		}
		defer emb.Close()
		kcfg.Brokers = []string{emb.Addr()}
		path := filepath.Join(t.TempDir(), datadir.StoreFile)
		testDuplicateDelivery(t, kcfg, sqliteFaultStore(t, path), func() storetest.Contents { return storetest.ReadSQLite(t, path) })
	})
	t.Run("kafka+cassandra", func(t *testing.T) {
		brokers, hosts := faultClusters(t)
		name := storetest.Keyspace(t, hosts, "dup_")
		deleteFaultTopics(t, brokers, name, name+".dlq")
		kcfg := bus.Config{Brokers: brokers, Topic: name, Group: name, Partitions: 6}
		testDuplicateDelivery(t, kcfg, cassandraFaultStore(t, hosts, name), func() storetest.Contents { return storetest.ReadCassandra(t, hosts, name) })
	})
}

func testDuplicateDelivery(t *testing.T, kcfg bus.Config, st store.Store, read func() storetest.Contents) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 16s of event time in batches of half a second: the last re-send of
	// the first batch comes when every window it fed has closed (the
	// watermark is then about 14s in, past its 10s windows).
	began := time.Now()
	input := faultInput(t, 29, 16000)
	batches := slices.Collect(slices.Chunk(input, 500))
	ensureFaultTopics(t, kcfg)
	pr := bus.NewProducer(kcfg)
	defer pr.Close()
	sent := 0
	send := func(b []trade.Trade) {
		t.Helper()
		if err := pr.Send(ctx, b, 0); err != nil {
			t.Fatal(err)
		}
		sent += len(b)
	}
	for i, b := range batches {
		send(b) // the write
		send(b) // a producer retry of it
		if i >= 2 && i%4 == 0 {
			send(batches[i-2]) // a re-ingest of a recent batch, its windows open
		}
	}
	send(batches[0]) // a re-ingest long after, its windows closed
	if err := pr.Close(); err != nil {
		t.Fatal(err)
	}
	extra := int64(sent - len(input))
	t.Logf("%d trades written %d times in all (%d copies too many) in %v", len(input), sent, extra, time.Since(began).Round(time.Millisecond))

	p, logs := faultPipeline(t, kcfg, st)
	sum, err := p.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v (summary %+v); log:\n%s", err, sum, logs)
	}
	t.Logf("summary: %+v", sum)
	logProblems(t, logs)
	if sum.Consumed != int64(sent) || sum.Bad != 0 {
		t.Errorf("consumed %d, bad %d; want %d consumed, none bad", sum.Consumed, sum.Bad, sent)
	}
	if sum.Duplicates+sum.Late != extra {
		t.Errorf("duplicates %d + late %d = %d; want every one of the %d extra copies counted as one of them",
			sum.Duplicates, sum.Late, sum.Duplicates+sum.Late, extra)
	}
	if want := int64(len(batches[0])); sum.Late != want {
		t.Errorf("late %d, want %d: the last copy of the first batch, whose windows had all closed", sum.Late, want)
	}
	storetest.Check(t, "duplicate delivery", read(), storetest.Reference(input, faultWindows))
}

// TestPoisonMessages writes messages that are not trades among good trades
// of a real topic and runs the pipeline over them: each poison message goes
// to the dead-letter topic with where it came from, is counted as bad in
// the summary, the status line and the snapshot, and every good trade is
// stored once.
func TestPoisonMessages(t *testing.T) {
	brokers, hosts := faultClusters(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := storetest.Keyspace(t, hosts, "poison_")
	deleteFaultTopics(t, brokers, name, name+".dlq")
	kcfg := bus.Config{Brokers: brokers, Topic: name, Group: name, Partitions: 3}
	ensureFaultTopics(t, kcfg)
	st := cassandraFaultStore(t, hosts, name)

	input := faultInput(t, 31, 3000)
	poison := poisonMessages(input)
	// Poison messages are written one at a time (BatchSize 1): the 1 MB
	// one (1,000,000 bytes) must be alone in its record batch to pass the
	// topic's max.message.bytes (1 MiB + 12 by default), and BatchBytes is
	// set above kafka-go's 1 MiB default so that its own check, which
	// counts key and headers too, never refuses it.
	var mu sync.Mutex
	var last kafka.Message
	// A transport of its own: kafka-go's shared default one may hold
	// metadata from before the topic existed.
	tr := kcfg.Transport()
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Transport:              tr,
		Topic:                  name,
		Balancer:               &kafka.Murmur2Balancer{},
		BatchSize:              1,
		BatchBytes:             2 << 20,
		BatchTimeout:           time.Millisecond,
		MaxAttempts:            5,
		RequiredAcks:           kafka.RequireAll,
		AllowAutoTopicCreation: false,
		// Completion sees the partition and offset the broker gave.
		Completion: func(msgs []kafka.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err == nil && len(msgs) == 1 {
				last = msgs[0]
			}
		},
	}
	defer w.Close()
	pr := bus.NewProducer(kcfg)
	defer pr.Close()
	good := slices.Collect(slices.Chunk(input, len(input)/len(poison)+1))
	for i := range max(len(good), len(poison)) {
		if i < len(good) {
			if err := pr.Send(ctx, good[i], 0); err != nil {
				t.Fatal(err)
			}
		}
		if i < len(poison) {
			m := &poison[i]
			if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(m.key), Value: m.value}); err != nil {
				t.Fatalf("writing poison message %q: %v", m.name, err)
			}
			mu.Lock()
			m.partition, m.offset = last.Partition, last.Offset
			mu.Unlock()
			t.Logf("poison %q (%d bytes) at partition %d offset %d", m.name, len(m.value), m.partition, m.offset)
		}
	}

	p, logs := faultPipeline(t, kcfg, st)
	var status e2e.Buffer
	statusCtx, stopStatus := context.WithCancel(ctx)
	defer stopStatus()
	go monitor.LogStatus(statusCtx, monitor.Watch(statusCtx, p.Snapshot, p.Published(), nil), slog.New(slog.NewTextHandler(&status, nil)), 100*time.Millisecond)
	sum, err := p.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v (summary %+v); log:\n%s", err, sum, logs)
	}
	t.Logf("summary: %+v", sum)
	logProblems(t, logs)
	bad := int64(len(poison))
	if sum.Bad != bad {
		t.Errorf("summary counts %d bad messages, want %d", sum.Bad, bad)
	}
	if s := p.Snapshot(); s == nil || s.Bad != bad {
		t.Errorf("snapshot %+v: want Bad %d", s, bad)
	}
	if sum.Consumed != int64(len(input))+bad || sum.Late != 0 || sum.Duplicates != 0 {
		t.Errorf("consumed %d, late %d, duplicates %d; want %d consumed (%d trades, %d bad), none late or duplicate",
			sum.Consumed, sum.Late, sum.Duplicates, int64(len(input))+bad, len(input), bad)
	}
	// The status line of the finished pipeline: Run publishes its last
	// snapshot before it returns.
	withBad := func(l proc.Line) bool { return l.Msg == "status" && l.Int("bad") == bad }
	if !waitFor(10*time.Second, func() bool { return slices.ContainsFunc(proc.ParseLog(status.String()), withBad) }) {
		t.Errorf("no status line with bad=%d; status lines:\n%s", bad, status.String())
	}
	stopStatus()

	checkDeadLetters(t, kcfg, poison)
	storetest.Check(t, "poison messages", storetest.ReadCassandra(t, hosts, name), storetest.Reference(input, faultWindows))
}

// faultPoison is a message that is not a valid trade, and where it landed.
type faultPoison struct {
	name      string
	key       string
	value     []byte
	partition int
	offset    int64
}

// poisonMessages returns one message of every kind of bad input, keyed by
// symbols of the input so that they land among good trades.
func poisonMessages(input []trade.Trade) []faultPoison {
	ts := input[0].Time.UnixNano()
	valid := func(id, price, volume, t string) []byte {
		return fmt.Appendf(nil, `{"id":%q,"s":"AAPL","p":%s,"v":%s,"t":%s}`, id, price, volume, t)
	}
	now := strconv.FormatInt(ts, 10)
	big := bytes.Repeat([]byte("x"), 1_000_000)
	prefix := fmt.Appendf(nil, `{"id":"poison-big","s":"AAPL","p":189.5,"v":100,"t":%d,"pad":"`, ts)
	copy(big, prefix)
	copy(big[len(big)-2:], `"}`)
	ps := []faultPoison{
		{name: "not JSON", value: []byte("this is not JSON")},
		{name: "truncated JSON", value: []byte(`{"id":"poison-cut","s":"AAPL","p":189.5,`)},
		{name: "price as a string", value: valid("poison-type", `"189.5"`, "100", now)},
		{name: "id as a number", value: []byte(fmt.Sprintf(`{"id":42,"s":"AAPL","p":189.5,"v":100,"t":%d}`, ts))},
		{name: "NaN as a string", value: valid("poison-nan", `"NaN"`, "100", now)},
		{name: "negative price", value: valid("poison-neg", "-189.5", "100", now)},
		{name: "huge price", value: valid("poison-huge", "1e300", "100", now)},
		{name: "zero volume", value: valid("poison-vol", "189.5", "0", now)},
		{name: "empty symbol", value: []byte(fmt.Sprintf(`{"id":"poison-sym","s":"","p":189.5,"v":100,"t":%d}`, ts))},
		{name: "time far in the future", value: valid("poison-future", "189.5", "100",
			strconv.FormatInt(time.Date(2250, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), 10))},
		// Year 1 in Unix nanoseconds does not fit an int64.
		{name: "time in year 1", value: valid("poison-year1", "189.5", "100", "-62135596800000000000")},
		{name: "empty value", value: nil},
		{name: "1 MB payload", value: big},
	}
	for i := range ps {
		ps[i].key = input[(i*37)%len(input)].Symbol
	}
	return ps
}

// checkDeadLetters reads the whole dead-letter topic and checks that it
// holds each poison message once, with its error and origin in headers, a
// large one cut to bus.MaxDeadLetterBytes with its full size in a header.
func checkDeadLetters(t *testing.T, kcfg bus.Config, poison []faultPoison) {
	t.Helper()
	dlq := kcfg.Topic + ".dlq"
	letters := readFaultTopic(t, kcfg, dlq)
	if len(letters) != len(poison) {
		t.Errorf("%s holds %d messages, want %d", dlq, len(letters), len(poison))
	}
	type origin struct {
		partition int
		offset    int64
	}
	byOrigin := map[origin]*faultPoison{}
	for i := range poison {
		byOrigin[origin{poison[i].partition, poison[i].offset}] = &poison[i]
	}
	found := map[string]int{}
	for _, m := range letters {
		h := map[string]string{}
		for _, kv := range m.Headers {
			h[kv.Key] = string(kv.Value)
		}
		part, err1 := strconv.Atoi(h["source-partition"])
		off, err2 := strconv.ParseInt(h["source-offset"], 10, 64)
		src := byOrigin[origin{part, off}]
		switch {
		case err1 != nil || err2 != nil || h["source-topic"] != kcfg.Topic:
			t.Errorf("dead letter %s/%d@%d: headers %q do not name a source in %s", dlq, m.Partition, m.Offset, h, kcfg.Topic)
			continue
		case src == nil:
			t.Errorf("dead letter from %s/%d@%d, where no poison message was written (headers %q, value %.80q)",
				kcfg.Topic, part, off, h, m.Value)
			continue
		}
		found[src.name]++
		if h["error"] == "" {
			t.Errorf("dead letter of %q: no error header (headers %q)", src.name, h)
		}
		want, cut := src.value, ""
		if len(src.value) > bus.MaxDeadLetterBytes {
			want, cut = src.value[:bus.MaxDeadLetterBytes], strconv.Itoa(len(src.value))
		}
		if !bytes.Equal(m.Value, want) {
			t.Errorf("dead letter of %q: value of %d bytes %.80q, want %d bytes %.80q", src.name, len(m.Value), m.Value, len(want), want)
		}
		if got, ok := h["truncated-from"]; got != cut || ok != (cut != "") {
			t.Errorf("dead letter of %q: truncated-from %q (present %v), want %q", src.name, got, ok, cut)
		}
		if string(m.Key) != src.key {
			t.Errorf("dead letter of %q: key %q, want %q", src.name, m.Key, src.key)
		}
		t.Logf("dead letter of %q: error %q", src.name, h["error"])
	}
	for _, p := range poison {
		if found[p.name] != 1 {
			t.Errorf("poison %q is in %s %d times, want once", p.name, dlq, found[p.name])
		}
	}
}

// readFaultTopic returns every message of topic, partition by partition.
func readFaultTopic(t *testing.T, kcfg bus.Config, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := bus.NewAdmin(kcfg)
	defer admin.Close()
	ends, err := admin.EndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for part, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: kcfg.Brokers, Topic: topic, Partition: part,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond,
		})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("reading %s/%d: %v", topic, part, err)
			}
			out = append(out, m)
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return out
}

// TestShutdownDrainsOnSIGTERM stops a headless run with SIGTERM: it drains
// and exits 0, having stored every trade it produced and flushed every open
// window. The pinned feed's trades are known: the store must hold a prefix
// of them, each once, with every window exactly that prefix's.
func TestShutdownDrainsOnSIGTERM(t *testing.T) {
	bin := proc.Build(t)
	dir := t.TempDir()
	p := proc.Start(t, "run", bin, shutdownArgs(dir, "30s")...)
	// Two seconds of feed: windows have closed and offsets been committed.
	if _, ok := p.WaitStatus(0, time.Minute, func(s proc.Line) bool { return s.Int("stored") >= 6000 }); !ok {
		t.Fatalf("not 6000 stored trades within a minute; stderr:\n%s", p.Tail(40))
	}
	p.Signal(syscall.SIGTERM)
	code, sum := p.Finish(2 * time.Minute)
	t.Logf("exit code %d; summary: %+v", code, sum)
	if code != exitOK {
		t.Fatalf("exit code %d after SIGTERM, want %d (a drain within --drain-timeout); stderr:\n%s", code, exitOK, p.Tail(40))
	}
	if sum.Produced == 0 || sum.StoredTrades != sum.Produced || sum.Consumed != sum.Produced {
		t.Errorf("summary %+v: want produced = consumed = stored > 0", sum)
	}
	if p.Count("stopping: draining") != 1 || p.Count("not stored") != 0 {
		t.Errorf("stderr does not say it drained, or says trades were not stored:\n%s", p.Tail(40))
	}
	// The feed hands every trade it makes to the producer, which sends
	// all of them before the drain: the store holds the input's first
	// trades, as many as the run produced, and every window of them,
	// flushed at the drain.
	n := embeddedTopicEnd(t, dir, "trades")
	t.Logf("the embedded broker's log holds %d trades", n)
	got := storetest.ReadSQLite(t, filepath.Join(dir, datadir.StoreFile))
	storetest.Check(t, "SIGTERM", got, storetest.Reference(faultInput(t, shutdownSeed, max(n, 1)), defaultRunWindows))
}

// embeddedTopicEnd opens the embedded broker's log that a run left in the
// data directory dir and returns how many messages topic ever held: the
// sum of its partitions' end offsets, which trimming does not move.
func embeddedTopicEnd(t *testing.T, dir, topic string) int64 {
	t.Helper()
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Dir: filepath.Join(dir, datadir.BrokerDir)})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	admin := bus.NewAdmin(bus.Config{Brokers: []string{emb.Addr()}, Topic: topic})
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := admin.EndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, end := range ends {
		n += end
	}
	return n
}

// TestShutdownSecondSignalStopsAtOnce stops a run whose drain cannot end,
// because the store is locked by another process, with SIGTERM and then
// SIGINT: the second signal stops it at once, with exit code 3 and one line
// saying how many trades were not stored. The drain timeout is long enough
// that only the second signal can have stopped it.
func TestShutdownSecondSignalStopsAtOnce(t *testing.T) {
	bin := proc.Build(t)
	dir := t.TempDir()
	p := proc.Start(t, "run", bin, shutdownArgs(dir, "10m")...)
	unlock := stallStore(t, p, filepath.Join(dir, datadir.StoreFile))
	defer unlock()
	from := p.Mark()
	p.Signal(syscall.SIGTERM)
	if _, ok := p.WaitLine(from, time.Minute, func(l proc.Line) bool { return strings.Contains(l.Msg, "stopping: draining") }); !ok {
		t.Fatalf("no drain after SIGTERM; stderr:\n%s", p.Tail(40))
	}
	p.Signal(syscall.SIGINT)
	code, sum := p.Finish(time.Minute)
	unlock()
	checkAborted(t, p, code, sum, filepath.Join(dir, datadir.StoreFile))
}

// TestShutdownDrainTimeout stops a run whose drain cannot end, because the
// store is locked by another process, with one SIGTERM and a short
// --drain-timeout: it gives up with exit code 3 and one line saying how many
// trades were not stored.
func TestShutdownDrainTimeout(t *testing.T) {
	bin := proc.Build(t)
	dir := t.TempDir()
	p := proc.Start(t, "run", bin, shutdownArgs(dir, "1s")...)
	unlock := stallStore(t, p, filepath.Join(dir, datadir.StoreFile))
	defer unlock()
	p.Signal(syscall.SIGTERM)
	code, sum := p.Finish(time.Minute)
	unlock()
	checkAborted(t, p, code, sum, filepath.Join(dir, datadir.StoreFile))
}

// shutdownSeed is the seed of the shutdown runs' pinned feed.
const shutdownSeed = 5

// shutdownArgs are the arguments of an open-ended headless run.
func shutdownArgs(dir, drainTimeout string) []string {
	return []string{
		"--no-ui", "--seed", strconv.Itoa(shutdownSeed), "--start", faultStart, "--rate", "3000",
		"--status-interval", "200ms", "--summary", "json",
		"--drain-timeout", drainTimeout, "--data-dir", dir,
	}
}

// stallStore waits until p has stored trades, then takes the write lock of
// its SQLite store from this process, and waits until p has produced at
// least 2000 trades it cannot store. The returned function releases the
// lock; it may be called twice.
func stallStore(t *testing.T, p *proc.Proc, path string) (unlock func()) {
	t.Helper()
	if _, ok := p.WaitStatus(0, time.Minute, func(s proc.Line) bool { return s.Int("stored") > 0 }); !ok {
		t.Fatalf("no stored trades within a minute; stderr:\n%s", p.Tail(40))
	}
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("locking the store: %v", err)
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Errorf("unlocking the store: %v", err)
			}
			conn.Close()
			db.Close()
		})
	}
	s, ok := p.WaitStatus(p.Mark(), time.Minute, func(s proc.Line) bool { return s.Int("produced")-s.Int("stored") >= 2000 })
	if !ok {
		unlock()
		t.Fatalf("no backlog with the store locked; stderr:\n%s", p.Tail(40))
	}
	t.Logf("store locked: %s", s.Raw)
	return unlock
}

var notStored = regexp.MustCompile(`^tradetop: stopped before the drain finished: (\d+) of (\d+) produced trades not stored$`)

// checkAborted checks a run stopped before its drain finished: exit code 3,
// one line on stderr saying how many trades were not stored, which the
// summary and the store bear out.
func checkAborted(t *testing.T, p *proc.Proc, code int, sum pipeline.Summary, path string) {
	t.Helper()
	if code != exitAborted {
		t.Errorf("exit code %d, want %d", code, exitAborted)
	}
	if n := p.Count("not stored"); n != 1 {
		t.Fatalf("%d lines on stderr say what was not stored, want 1:\n%s", n, p.Tail(40))
	}
	var line string
	for _, l := range p.Lines() {
		if strings.Contains(l, "not stored") {
			line = l
		}
	}
	m := notStored.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("stderr line %q does not match %s", line, notStored)
	}
	t.Logf("stderr: %s; summary: %+v", line, sum)
	lost, _ := strconv.ParseInt(m[1], 10, 64)
	produced, _ := strconv.ParseInt(m[2], 10, 64)
	if lost <= 0 || produced != sum.Produced || lost != sum.Produced-sum.StoredTrades {
		t.Errorf("%q, summary %+v: want the line to say produced − stored > 0 of produced", line, sum)
	}
	if got := storetest.ReadSQLite(t, path); got.Rows != sum.StoredTrades {
		t.Errorf("the store holds %d trades, the summary says %d were stored", got.Rows, sum.StoredTrades)
	}
}

// --- the clusters ---

// faultClusters returns the real Kafka brokers and Cassandra hosts, or
// skips the test.
func faultClusters(t *testing.T) (brokers, hosts []string) {
	t.Helper()
	v := e2e.Need(t, "a Kafka and a Cassandra, e.g. from scripts/devstack up", "TRADETOP_E2E_KAFKA", "TRADETOP_E2E_CASSANDRA")
	return strings.Split(v[0], ","), strings.Split(v[1], ",")
}

// ensureFaultTopics creates the topic and its dead-letter topic, as the
// pipeline would, so that trades can be written before it runs.
func ensureFaultTopics(t *testing.T, kcfg bus.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := bus.NewAdmin(kcfg)
	defer admin.Close()
	for _, topic := range []string{kcfg.Topic, kcfg.Topic + ".dlq"} {
		if _, err := admin.EnsureTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
}

// deleteFaultTopics deletes the topics when the test ends.
func deleteFaultTopics(t *testing.T, brokers []string, topics ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tr := &kafka.Transport{}
		defer tr.CloseIdleConnections()
		c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second, Transport: tr}
		resp, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
		if err != nil {
			t.Logf("deleting topics %v: %v", topics, err)
			return
		}
		for topic, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
				t.Logf("deleting topic %s: %v", topic, err)
			}
		}
	})
}

// faultNoTrades is a source that emits nothing: the pipeline then only
// processes what is in the topic, and drains.
type faultNoTrades struct{}

func (faultNoTrades) Name() string { return "nothing" }

func (faultNoTrades) Run(context.Context, func(trade.Trade) error) error { return nil }

// faultPipeline returns a pipeline with the test windows that processes the
// topic of kcfg into st, and the buffer its log goes to.
func faultPipeline(t *testing.T, kcfg bus.Config, st store.Store) (*pipeline.Pipeline, *e2e.Buffer) {
	t.Helper()
	logs := &e2e.Buffer{}
	p, err := pipeline.New(pipeline.Config{
		Source:    faultNoTrades{},
		Store:     st,
		StoreName: "test",
		Sector:    feed.DefaultUniverse().Sector,
		Kafka:     kcfg,
		Agg:       agg.Config{Intervals: faultIntervals, SectorInterval: faultSectorWindow},
		Log:       slog.New(slog.NewTextHandler(logs, nil)),
		// The whole topic is read in the drain, which starts at once:
		// give a loaded machine time for it.
		DrainTimeout: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, logs
}

// logProblems logs the warnings and errors of a pipeline's log, other
// than bad messages.
func logProblems(t *testing.T, logs *e2e.Buffer) {
	t.Helper()
	for _, l := range proc.ParseLog(logs.String()) {
		if (l.Level == "WARN" || l.Level == "ERROR") && l.Msg != "bad message" {
			t.Logf("pipeline log: %s", l.Raw)
		}
	}
}

// waitFor polls ok every 50ms for at most limit.
func waitFor(limit time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(limit); ; time.Sleep(50 * time.Millisecond) {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// --- what a store holds, and what it should ---

// faultInput returns the trades of the pinned synthetic feed.
func faultInput(t *testing.T, seed, count int64) []trade.Trade {
	t.Helper()
	return syntheticInput(t, seed, faultStart, count)
}

// sqliteFaultStore opens the SQLite store at path, creating it, for a
// pipeline run in the test.
func sqliteFaultStore(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// cassandraFaultStore opens the store on Cassandra, making its keyspace with
// patient timeouts, for a pipeline run in the test or so that runs of the
// command only find it.
func cassandraFaultStore(t *testing.T, hosts []string, keyspace string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A loaded dev stack can take longer than the default 5s over a
	// schema change.
	st, err := cassandra.Open(ctx, cassandra.Config{Hosts: hosts, Keyspace: keyspace, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestCommitNeverPassesTheStore runs the pipeline on an embedded broker and
// a store that, after a few writes, never finishes another: a crash in the
// middle of a write, held open. While it hangs, every offset the group
// commits must be one whose trades, and all before it, are in the store,
// read directly: a commit that ran ahead of its write would lose those
// trades to a crash.
func TestCommitNeverPassesTheStore(t *testing.T) {
	kcfg := bus.Config{Topic: "trades", Group: "tradetop", Partitions: 6, CommitInterval: 50 * time.Millisecond}
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Partitions: kcfg.Partitions, Topics: []string{kcfg.Topic, kcfg.Topic + ".dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	kcfg.Brokers = []string{emb.Addr()}
	path := filepath.Join(t.TempDir(), datadir.StoreFile)
	st := &hangingStore{Store: sqliteFaultStore(t, path), hung: make(chan struct{})}
	st.writes.Store(20)
	src, err := feed.NewSynthetic(feed.SyntheticConfig{Seed: 43, Rate: 5000})
	if err != nil {
		t.Fatal(err)
	}
	logs := &e2e.Buffer{}
	p, err := pipeline.New(pipeline.Config{
		Source: src, Store: st, StoreName: "test", Sector: feed.DefaultUniverse().Sector, Kafka: kcfg,
		Agg: agg.Config{Intervals: faultIntervals, SectorInterval: faultSectorWindow},
		Log: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.Run(t.Context())
	}()
	defer func() { p.Abort(); <-done }()
	select {
	case <-st.hung:
	case <-time.After(time.Minute):
		t.Fatalf("the store never hung: %d writes left; log:\n%s", st.writes.Load(), logs)
	}
	admin := bus.NewAdmin(kcfg)
	defer admin.Close()
	// Forty commit intervals with the write hanging: any commit past the
	// store is sent by then.
	var committed int64
	for range 40 {
		time.Sleep(50 * time.Millisecond)
		lag, err := admin.Lag(t.Context(), kcfg.Group, kcfg.Topic)
		if err != nil {
			t.Fatal(err)
		}
		stored := map[int32]map[int64]bool{}
		for _, tr := range storetest.ReadSQLite(t, path).Trades {
			if stored[tr.Partition] == nil {
				stored[tr.Partition] = map[int64]bool{}
			}
			stored[tr.Partition][tr.Offset] = true
		}
		committed = 0
		for _, l := range lag {
			for off := int64(0); off < l.Committed; off++ {
				if !stored[int32(l.Partition)][off] {
					t.Fatalf("partition %d is committed at %d, but its offset %d is not in the store", l.Partition, l.Committed, off)
				}
			}
			committed += max(l.Committed, 0)
		}
	}
	if committed == 0 {
		t.Errorf("nothing was committed before the store hung: the test proves nothing")
	}
	t.Logf("%d offsets committed, each stored", committed)
}

// hangingStore writes its first writes through, then hangs every write
// until its context ends, with nothing written.
type hangingStore struct {
	store.Store
	writes atomic.Int64 // writes left before the hang
	hung   chan struct{}
	once   sync.Once
}

func (s *hangingStore) Write(ctx context.Context, b *store.Batch) error {
	if s.writes.Add(-1) >= 0 {
		return s.Store.Write(ctx, b)
	}
	s.once.Do(func() { close(s.hung) })
	<-ctx.Done()
	return ctx.Err()
}
