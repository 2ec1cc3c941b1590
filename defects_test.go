package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/e2e/proc"
	"github.com/tradetop/tradetop/store/storetest"
	"github.com/tradetop/tradetop/trade"
)

// TestDataDirIsOneProcessAtATime starts a second tradetop on the data
// directory of a running one: it must refuse at once, naming the other,
// with exit code 2 and nothing written; the first run's store must then
// hold aggregates that agree with its raw trades. A kill -9 must not leave
// the directory locked.
func TestDataDirIsOneProcessAtATime(t *testing.T) {
	bin := proc.Build(t)
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--no-ui", "--data-dir", dir, "--status-interval", "500ms", "--summary", "json"}

	first := proc.Start(t, "first", bin, append(args, "--duration", "60s")...)
	if _, ok := first.WaitStatus(0, time.Minute, func(s proc.Line) bool { return s.Int("stored") > 0 }); !ok {
		t.Fatalf("first: no stored trades within a minute; stderr:\n%s", first.Tail(40))
	}
	second := proc.Start(t, "second", bin, append(args, "--duration", "5s")...)
	code, sum := second.Finish(time.Minute)
	lines := second.Lines()
	if code != exitUsage || len(lines) != 1 || second.Stdout() != "" {
		t.Fatalf("second: exit %d, %d stderr lines, stdout %q; want exit 2 and one line:\n%s", code, len(lines), second.Stdout(), strings.Join(lines, "\n"))
	}
	if want := "pid " + strconv.Itoa(first.Pid()); !strings.Contains(lines[0], "in use") || !strings.Contains(lines[0], want) {
		t.Errorf("second: %q: want it to say the directory is in use by %s", lines[0], want)
	}
	if sum.Produced != 0 {
		t.Errorf("second: summary %+v, want none", sum)
	}
	first.Signal(syscall.SIGTERM)
	firstSum := first.FinishOK(time.Minute)

	got := storetest.ReadSQLite(t, filepath.Join(dir, datadir.StoreFile))
	if got.Rows != firstSum.Produced {
		t.Errorf("the store holds %d trades, the first run produced %d: the second wrote to it", got.Rows, firstSum.Produced)
	}
	storetest.Check(t, "two processes, one data directory", got, storetest.OfStoredTrades(got, defaultRunWindows))

	killed := proc.Start(t, "killed", bin, append(args, "--duration", "60s")...)
	if _, ok := killed.WaitStatus(0, time.Minute, func(s proc.Line) bool { return s.Int("stored") > 0 }); !ok {
		t.Fatalf("killed: no stored trades within a minute; stderr:\n%s", killed.Tail(40))
	}
	killed.Kill()
	after := proc.Start(t, "after the kill", bin, append(args, "--duration", "2s")...)
	after.FinishOK(time.Minute)
}

// TestRestartWithinAMinuteKeepsItsAggregates runs the default mode twice
// on one data directory, 4 seconds apart, so that the second run's first
// trades fall into windows the first left open: every candle and sector
// window must then equal the aggregate of the raw trades stored.
func TestRestartWithinAMinuteKeepsItsAggregates(t *testing.T) {
	bin := proc.Build(t)
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--no-ui", "--data-dir", dir, "--duration", "10s", "--summary", "json"}
	restartTwice(t, bin, args)
	got := storetest.ReadSQLite(t, filepath.Join(dir, datadir.StoreFile))
	storetest.Check(t, "restart 4s after a stop (embedded)", got, storetest.OfStoredTrades(got, defaultRunWindows))
}

// TestRestartWithinAMinuteKeepsItsAggregatesRealClusters is the same on
// real Kafka and Cassandra.
func TestRestartWithinAMinuteKeepsItsAggregatesRealClusters(t *testing.T) {
	brokers, hosts := faultClusters(t)
	bin := proc.Build(t)
	name := storetest.Keyspace(t, hosts, "restart_")
	deleteFaultTopics(t, brokers, name, name+".dlq")
	cassandraFaultStore(t, hosts, name) // made here, patiently
	args := []string{"--no-ui", "--data-dir", t.TempDir(), "--duration", "10s", "--summary", "json",
		"--brokers", strings.Join(brokers, ","), "--cassandra", strings.Join(hosts, ","),
		"--keyspace", name, "--topic", name, "--group", name}
	restartTwice(t, bin, args)
	got := storetest.ReadCassandra(t, hosts, name)
	storetest.Check(t, "restart 4s after a stop (Kafka + Cassandra)", got, storetest.OfStoredTrades(got, defaultRunWindows))
}

// restartTwice runs args to its end, waits 4 seconds and runs it again.
func restartTwice(t *testing.T, bin string, args []string) {
	t.Helper()
	first := proc.Start(t, "first", bin, args...).FinishOK(2 * time.Minute)
	time.Sleep(4 * time.Second) // the gap between the runs is the scenario
	second := proc.Start(t, "second", bin, args...).FinishOK(2 * time.Minute)
	t.Logf("first run: %+v", first)
	t.Logf("second run: %+v", second)
}

// TestShiftedReplayTwiceStoresEachTradeOnce replays the sample recording
// twice with --shift-to-now: each replay's trades are new trades at new
// times, so the store must hold twice the sample, each ID once, at the
// recording's time moved by its replay's shift.
func TestShiftedReplayTwiceStoresEachTradeOnce(t *testing.T) {
	bin := proc.Build(t)
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--no-ui", "--data-dir", dir, "--source", "replay:testdata/sample-trades.jsonl", "--speed", "max", "--shift-to-now", "--summary", "json"}
	replayShiftedTwice(t, bin, args, func() storetest.Contents {
		return storetest.ReadSQLite(t, filepath.Join(dir, datadir.StoreFile))
	})
}

// TestShiftedReplayTwiceStoresEachTradeOnceRealClusters is the same on real
// Kafka and Cassandra.
func TestShiftedReplayTwiceStoresEachTradeOnceRealClusters(t *testing.T) {
	brokers, hosts := faultClusters(t)
	bin := proc.Build(t)
	name := storetest.Keyspace(t, hosts, "shift_")
	deleteFaultTopics(t, brokers, name, name+".dlq")
	cassandraFaultStore(t, hosts, name)
	args := []string{"--no-ui", "--data-dir", t.TempDir(), "--source", "replay:testdata/sample-trades.jsonl", "--speed", "max", "--shift-to-now", "--summary", "json",
		"--brokers", strings.Join(brokers, ","), "--cassandra", strings.Join(hosts, ","),
		"--keyspace", name, "--topic", name, "--group", name}
	replayShiftedTwice(t, bin, args, func() storetest.Contents { return storetest.ReadCassandra(t, hosts, name) })
}

func replayShiftedTwice(t *testing.T, bin string, args []string, read func() storetest.Contents) {
	t.Helper()
	trades := recordedTrades(t, "testdata/sample-trades.jsonl")
	sample := map[string]trade.Trade{}
	for _, tr := range trades {
		sample[tr.ID] = tr
	}
	for i := range 2 {
		proc.Start(t, "replay "+strconv.Itoa(i+1), bin, args...).FinishOK(2 * time.Minute)
	}
	got := read()
	if want := int64(2 * len(sample)); got.Rows != want || int64(len(got.Trades)) != want {
		t.Errorf("%d trade rows with %d IDs after two shifted replays of %d trades, want %d and %d", got.Rows, len(got.Trades), len(sample), want, want)
	}
	// Each stored trade is a trade of the sample, moved by its replay's
	// whole-millisecond shift, which its ID names.
	bad := 0
	for id, tr := range got.Trades {
		anchor, orig, ok := strings.Cut(strings.TrimPrefix(id, "@"), ":")
		ms, err := strconv.ParseInt(anchor, 10, 64)
		want, inSample := sample[orig]
		if !ok || err != nil || !inSample {
			t.Errorf("stored trade %q is not a shifted trade of the sample", id)
			bad++
			continue
		}
		shift := time.UnixMilli(ms).Sub(trades[0].Time)
		if tr.Symbol != want.Symbol || tr.Price != want.Price || tr.Volume != want.Volume || !tr.Time.Equal(want.Time.Add(shift)) {
			t.Errorf("trade %s stored as %+v, want %+v moved by %v", id, tr, want, shift)
			bad++
		}
		if bad > 10 {
			t.Fatal("… and more")
		}
	}
}
