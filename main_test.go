package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/store/storetest"
	"github.com/tradetop/tradetop/trade"
)

func env(vars map[string]string) environment { return environment(vars) }

func TestBadInputIsOneLineAndExitTwo(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // the flag or variable the line must name
	}{
		{"negative rate", []string{"--rate", "-5"}, nil, "-rate"},
		{"rate not a number", []string{"--rate", "fast"}, nil, "-rate"},
		{"zero window", []string{"--windows", "0s"}, nil, "-windows"},
		{"window not dividing a day", []string{"--windows", "1s,7s"}, nil, "-windows"},
		{"garbage brokers", []string{"--brokers", "!!garbage!!"}, nil, "-brokers"},
		{"broker without port", []string{"--brokers", "localhost"}, nil, "-brokers"},
		{"bad start", []string{"--start", "yesterday"}, nil, "-start"},
		{"negative count", []string{"--count", "-1"}, nil, "-count"},
		{"zero partitions", []string{"--partitions", "0"}, nil, "-partitions"},
		{"beat too short", []string{"--beat", "100us"}, nil, "-beat"},
		{"beat too long", []string{"--beat", "1m"}, nil, "-beat"},
		{"latency budget too long", []string{"--latency-budget", "1m"}, nil, "-latency-budget"},
		{"unknown summary", []string{"--summary", "xml"}, nil, "-summary"},
		{"unknown flag", []string{"--frobnicate"}, nil, "frobnicate"},
		{"stray argument", []string{"extra"}, nil, "extra"},
		{"bad environment", nil, map[string]string{"TRADETOP_RATE": "-1"}, "TRADETOP_RATE"},
		{"cassandra url", []string{"--cassandra", "cql://db"}, nil, "-cassandra"},
		{"cassandra bad port", []string{"--cassandra", "db:0"}, nil, "-cassandra"},
		{"bad replication", []string{"--cassandra-replication", "SimpleStrategy:x"}, nil, "-cassandra-replication"},
		{"unknown consistency", []string{"--consistency", "most"}, nil, "-consistency"},
		{"keyspace with a dash", []string{"--keyspace", "my-ks"}, nil, "-keyspace"},
		{"unknown sasl", []string{"--brokers", "k:9092", "--kafka-sasl", "md5"}, nil, "-kafka-sasl"},
		{"sasl without user", []string{"--brokers", "k:9092", "--kafka-sasl", "plain"}, nil, "-kafka-sasl"},
		{"sasl without brokers", []string{"--kafka-sasl", "plain", "--kafka-username", "u"}, nil, "-kafka-sasl"},
		{"missing password file", []string{"--cassandra", "db", "--cassandra-username", "u", "--cassandra-password-file", "/nonexistent/pw"}, nil, "-cassandra-password-file"},
		{"password in both places", []string{"--brokers", "k:9092", "--kafka-sasl", "plain", "--kafka-username", "u", "--kafka-password-file", "main.go"},
			map[string]string{"TRADETOP_KAFKA_PASSWORD": "x"}, "-kafka-password-file"},
		{"cassandra password without user", []string{"--cassandra", "db"}, map[string]string{"TRADETOP_CASSANDRA_PASSWORD": "x"}, "-cassandra-username"},
		{"cassandra credentials without cassandra", []string{"--cassandra-username", "u"}, nil, "-cassandra-username"},
		{"missing CA file", []string{"--cassandra", "db", "--cassandra-tls-ca", "/nonexistent/ca.pem"}, nil, "cassandra TLS"},
		{"client cert without key", []string{"--brokers", "k:9092", "--kafka-tls-cert", "main.go"}, nil, "kafka TLS"},
		{"unknown source", []string{"--source", "bloomberg"}, nil, "-source"},
		{"replay without a file", []string{"--source", "replay:"}, nil, "-source"},
		{"finnhub without symbols", []string{"--source", "finnhub"}, map[string]string{"FINNHUB_API_KEY": "k"}, "-symbols"},
		{"finnhub without a key", []string{"--source", "finnhub", "--symbols", "AAPL"}, nil, "-finnhub-key-file"},
		{"count with a replay", []string{"--source", "replay:x.jsonl", "--count", "5"}, nil, "-count"},
		{"bad speed", []string{"--speed", "-2"}, nil, "-speed"},
		{"zero stall timeout", []string{"--source", "finnhub", "--symbols", "AAPL", "--stall-timeout", "0s"}, map[string]string{"FINNHUB_API_KEY": "k"}, "-stall-timeout"},
		{"a window twice", []string{"--windows", "1s,1s"}, nil, "-windows"},
		{"a topic with a space", []string{"--topic", "my trades"}, nil, "-topic"},
		{"a topic too long for its dead letters", []string{"--topic", strings.Repeat("t", 247)}, nil, "-topic"},
		{"an empty group", []string{"--group", " "}, nil, "-group"},
		{"speed of a synthetic feed", []string{"--speed", "10"}, nil, "-speed"},
		{"shift of a synthetic feed", []string{"--shift-to-now"}, nil, "-shift-to-now"},
		{"rate of a replay", []string{"--source", "replay:x.jsonl", "--rate", "10"}, nil, "-rate"},
		{"symbols of a replay", []string{"--source", "replay:x.jsonl", "--symbols", "AAPL"}, nil, "-symbols"},
		{"seed of finnhub, from the environment", []string{"--source", "finnhub", "--symbols", "AAPL"}, map[string]string{"FINNHUB_API_KEY": "k", "TRADETOP_SEED": "4"}, "-seed"},
		{"unknown role", []string{"--role", "leader"}, nil, "-role"},
		{"ingest on the embedded broker", []string{"--role", "ingest"}, nil, "-role"},
		{"processor on the embedded broker", []string{"--role", "process", "--cassandra", "db"}, nil, "-role"},
		{"processor on the embedded store", []string{"--role", "process", "--brokers", "k:9092"}, nil, "-role"},
		{"rate of a processor", []string{"--role", "process", "--brokers", "k:9092", "--cassandra", "db", "--rate", "10"}, nil, "-rate"},
		{"cassandra of an ingest", []string{"--role", "ingest", "--brokers", "k:9092", "--cassandra", "db"}, nil, "-cassandra"},
		{"max-in-flight of an ingest", []string{"--role", "ingest", "--brokers", "k:9092", "--max-in-flight", "5"}, nil, "-max-in-flight"},
		{"negative max-lag", []string{"--role", "ingest", "--brokers", "k:9092", "--max-lag", "-5"}, nil, "-max-lag"},
		{"postgres password in the DSN", []string{"--postgres", "postgres://u:secret@db/tradetop"}, nil, "-postgres"},
		{"postgres DSN not a DSN", []string{"--postgres", "db:5432"}, nil, "-postgres"},
		{"postgres and cassandra", []string{"--postgres", "host=db", "--cassandra", "db"}, nil, "-postgres"},
		{"postgres schema with a dash", []string{"--postgres", "host=db", "--postgres-schema", "my-schema"}, nil, "-postgres-schema"},
		{"postgres password without postgres", nil, map[string]string{"TRADETOP_POSTGRES_PASSWORD": "x"}, "-postgres-password-file"},
		{"postgres password in both places", []string{"--postgres", "host=db", "--postgres-password-file", "main.go"},
			map[string]string{"TRADETOP_POSTGRES_PASSWORD": "x"}, "-postgres-password-file"},
		{"unknown format", []string{"--format", "protobuf"}, nil, "-format"},
		{"registry not http", []string{"--schema-registry", "registry:8081"}, nil, "-schema-registry"},
		{"registry with credentials", []string{"--schema-registry", "http://u:p@registry:8081"}, nil, "-schema-registry"},
		{"format of a processor", []string{"--role", "process", "--brokers", "k:9092", "--cassandra", "db", "--format", "avro"}, nil, "-format"},
		{"postgres of an ingest", []string{"--role", "ingest", "--brokers", "k:9092", "--postgres", "host=db"}, nil, "-postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, env(tt.env), &out, &errOut)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			lines := strings.Split(strings.TrimRight(errOut.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr %q: want one line naming %s", errOut.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

// TestRoleIgnoresSharedSettings: a deployment shares its environment
// between roles, so a setting the role does not use is a warning there,
// where on the command line it is an error.
func TestRoleIgnoresSharedSettings(t *testing.T) {
	_, _, warnings, err := parse([]string{"--role", "ingest"}, env(map[string]string{
		"TRADETOP_BROKERS": "k:9092", "TRADETOP_CASSANDRA": "db", "TRADETOP_KEYSPACE": "ks",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "TRADETOP_CASSANDRA is ignored") || !strings.Contains(warnings[1], "TRADETOP_KEYSPACE is ignored") {
		t.Errorf("warnings %q: want one for each store setting an ingest ignores", warnings)
	}
	_, _, warnings, err = parse([]string{"--role", "process", "--universe", "feed/universe.csv"}, env(map[string]string{
		"TRADETOP_BROKERS": "k:9092", "TRADETOP_CASSANDRA": "db", "TRADETOP_RATE": "500",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "TRADETOP_RATE is ignored: it applies to the feed") {
		t.Errorf("warnings %q: want one for the rate a processor ignores, none for its universe", warnings)
	}
}

// TestOnlyTheFeedsProcessClosesWindowsByTheClock: a processor cannot know
// whether the feed elsewhere follows the wall clock, or holds trades back.
func TestOnlyTheFeedsProcessClosesWindowsByTheClock(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"--start", "2026-01-02T15:00:00Z"}, false},
		{[]string{"--role", "ingest", "--brokers", "k:9092"}, false},
		{[]string{"--role", "process", "--brokers", "k:9092", "--cassandra", "db"}, false},
	} {
		o, _, _, err := parse(c.args, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := idleAdvance(o); got != c.want {
			t.Errorf("%q: windows closed by the clock %v, want %v", c.args, got, c.want)
		}
	}
}

func TestDurationErrorsSayTheForm(t *testing.T) {
	for _, name := range []string{"duration", "allowed-lateness", "sector-window", "status-interval", "drain-timeout", "stall-timeout", "beat", "latency-budget"} {
		var out, errOut bytes.Buffer
		if code := run([]string{"--" + name, "soon"}, env(nil), &out, &errOut); code != exitUsage {
			t.Errorf("--%s soon: exit %d, want 2", name, code)
		}
		if msg := errOut.String(); !strings.Contains(msg, "-"+name) || !strings.Contains(msg, "such as 500ms, 30s, 5m or 1h30m") || strings.Contains(msg, "parse error") {
			t.Errorf("--%s soon: %q: want the flag and the form a duration takes", name, msg)
		}
	}
}

func TestFlagOverridesABadVariable(t *testing.T) {
	o, _, _, err := parse([]string{"--rate", "50"}, env(map[string]string{"TRADETOP_RATE": "-1"}))
	if err != nil || o.rate != 50 {
		t.Errorf("parse with a bad TRADETOP_RATE under --rate 50 = rate %v, %v; want 50 and no error", o.rate, err)
	}
}

func TestUnknownVariableIsWarnedWithTheClosest(t *testing.T) {
	_, _, warnings, err := parse(nil, env(map[string]string{"TRADETOP_RAET": "5", "TRADETOP_KAFKA_PASSWORD": "x", "TRADETOP_NOTHING_LIKE_IT_AT_ALL": "1", "HOME": "/root"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 {
		t.Fatalf("warnings %q: want two, for the two unknown TRADETOP_ variables", warnings)
	}
	if w := warnings[1]; !strings.Contains(w, `"TRADETOP_RAET"`) || !strings.Contains(w, "did you mean TRADETOP_RATE?") {
		t.Errorf("warning %q: want it to name TRADETOP_RATE", w)
	}
	if w := warnings[0]; !strings.Contains(w, "TRADETOP_NOTHING_LIKE_IT_AT_ALL") || strings.Contains(w, "did you mean") {
		t.Errorf("warning %q: want no guess for a name like no flag's", w)
	}
}

func TestUnreadableDataDirNamesTheFlag(t *testing.T) {
	// Under a file, as root writes to read-only directories.
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"--no-ui", "--data-dir", filepath.Join(file, "data")}, env(nil), &out, &errOut)
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], "-data-dir") || !strings.Contains(lines[0], "not a directory") {
		t.Errorf("exit %d, stderr %q: want exit 2 and one line naming --data-dir and why", code, errOut.String())
	}
}

func TestUnreachableBrokerPrintsNoSummary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	var out, errOut bytes.Buffer
	code := run([]string{"--no-ui", "--brokers", addr, "--summary", "json", "--data-dir", t.TempDir(), "--duration", "30s"}, env(nil), &out, &errOut)
	if code != exitFailure || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q: want exit 1 and no summary of a run that never started", code, out.String())
	}
	if !strings.Contains(errOut.String(), addr) && !strings.Contains(errOut.String(), "connect") {
		t.Errorf("stderr %q: want the reason", errOut.String())
	}
}

func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--version"}, env(nil), &out, &errOut); code != exitOK || !strings.HasPrefix(out.String(), "tradetop ") || errOut.Len() != 0 {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	o, _, _, err := parse([]string{"--rate", "50"}, env(map[string]string{"TRADETOP_RATE": "max", "TRADETOP_SEED": "9", "TRADETOP_NO_UI": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.rate != 50 || o.seed != 9 || !o.noUI {
		t.Errorf("rate %v seed %d no-ui %v; want 50 from the flag, 9 and true from the environment", o.rate, o.seed, o.noUI)
	}
}

func TestDefaults(t *testing.T) {
	o, _, _, err := parse(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if o.rate != defaultRate || o.partitions != embeddedPartitions || o.topic != "trades" || len(o.windows) != 2 ||
		o.windows[0] != time.Second || o.windows[1] != time.Minute || o.lateness != 2*time.Second {
		t.Errorf("unexpected defaults %+v", o)
	}
}

// TestPartitionsDefault: the embedded broker's topic has 2 partitions and a
// real cluster's 6, unless --partitions (or its variable) says.
func TestPartitionsDefault(t *testing.T) {
	for _, tt := range []struct {
		args []string
		vars map[string]string
		want int
	}{
		{nil, nil, 2},
		{[]string{"--partitions", "6"}, nil, 6},
		{nil, map[string]string{"TRADETOP_PARTITIONS": "4"}, 4},
		{[]string{"--brokers", "127.0.0.1:9092"}, nil, 6},
		{[]string{"--brokers", "127.0.0.1:9092", "--partitions", "12"}, nil, 12},
	} {
		o, _, _, err := parse(tt.args, env(tt.vars))
		if err != nil {
			t.Fatalf("%q %v: %v", tt.args, tt.vars, err)
		}
		if o.partitions != tt.want {
			t.Errorf("%q %v: %d partitions, want %d", tt.args, tt.vars, o.partitions, tt.want)
		}
	}
}

// TestFlagLatenessReachesTheEngines wires the command as execute does: an
// --allowed-lateness of 0 must mean none, not agg's default.
func TestFlagLatenessReachesTheEngines(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want time.Duration
	}{
		{"default", nil, 2 * time.Second},
		{"none", []string{"--allowed-lateness", "0"}, 0},
		{"set", []string{"--allowed-lateness", "90s"}, 90 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := wired(t, append(tt.args, "--no-ui"), nil)
			eng, err := agg.New(w.config.Agg, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := eng.AllowedLateness(); got != tt.want {
				t.Errorf("the engines' allowed lateness is %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFlagBeatReachesThePipeline: --beat is the pipeline's batch interval
// and --latency-budget its longest, with their defaults.
func TestFlagBeatReachesThePipeline(t *testing.T) {
	for _, tt := range []struct {
		args          []string
		beat, maxBeat time.Duration
	}{
		{nil, pipeline.DefaultBatchInterval, time.Second},
		{[]string{"--beat", "250ms"}, 250 * time.Millisecond, time.Second},
		{[]string{"--latency-budget", "3s"}, pipeline.DefaultBatchInterval, 3 * time.Second},
		{[]string{"--latency-budget", "0"}, pipeline.DefaultBatchInterval, 0},
	} {
		w := wired(t, append(tt.args, "--no-ui"), nil)
		if w.config.BatchInterval != tt.beat || w.config.MaxBatchInterval != tt.maxBeat {
			t.Errorf("%q: the pipeline's beat is %v to %v, want %v to %v", tt.args,
				w.config.BatchInterval, w.config.MaxBatchInterval, tt.beat, tt.maxBeat)
		}
	}
}

// wired wires the command from args and vars as execute does, its data
// directory a temporary one, closed when the test ends.
func wired(t *testing.T, args []string, vars map[string]string) *wiring {
	t.Helper()
	o, _, _, err := parse(append(slices.Clone(args), "--data-dir", t.TempDir()), env(vars))
	if err != nil {
		t.Fatal(err)
	}
	w, err := wire(t.Context(), o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, env(nil), &out, &errOut); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	var o options
	fs := flags(&o)
	for _, name := range []string{"no-ui", "seed", "rate", "start", "count", "duration", "brokers", "windows", "allowed-lateness", "data-dir", "status-interval", "summary"} {
		if fs.Lookup(name) == nil {
			t.Errorf("no flag --%s", name)
		}
		if !strings.Contains(out.String(), "-"+name) {
			t.Errorf("--help does not mention --%s", name)
		}
	}
}

// TestHeadlessCountRun runs a pinned synthetic feed to its count,
// headless, and reads the store it leaves: it must hold every trade of the
// input once and exactly the candles and sector windows those trades make.
// The JSON summary must name every figure and agree with the store.
func TestHeadlessCountRun(t *testing.T) {
	const seed, start, n = 3, "2026-01-02T15:00:00Z", 3000
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"--no-ui", "--count", strconv.Itoa(n), "--rate", "max", "--seed", strconv.Itoa(seed),
		"--start", start, "--summary", "json", "--data-dir", dir}
	if code := run(args, env(nil), &out, &errOut); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, errOut.String())
	}

	got := storetest.ReadSQLite(t, filepath.Join(dir, datadir.StoreFile))
	storetest.Check(t, "headless count run", got, storetest.Reference(syntheticInput(t, seed, start, n), defaultRunWindows))

	var raw map[string]any
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatalf("summary %q: %v", out.String(), err)
	}
	for _, k := range []string{"produced", "consumed", "stored_trades", "candles", "sector_rows", "late", "errors", "duration_s", "throughput_tps", "latency_ms"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	var sum pipeline.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary %q: %v", out.String(), err)
	}
	if sum.Produced != n || sum.StoredTrades != got.Rows || sum.Errors != 0 {
		t.Errorf("summary %s: want %d produced, the %d trade rows of the store stored, no errors", out.String(), n, got.Rows)
	}
}

// defaultRunWindows are the windows of a run that names none (the flags'
// defaults: --windows 1s,1m, --sector-window 1m), over the sectors of the
// embedded universe.
var defaultRunWindows = storetest.Windows{
	Intervals: []time.Duration{time.Second, time.Minute},
	Sector:    time.Minute,
	SectorOf:  feed.DefaultUniverse().Sector,
}

// syntheticInput returns the trades the synthetic feed makes with --seed,
// --start (RFC 3339) and --count, in the order it makes them: the input of
// a pinned run, made again.
func syntheticInput(t *testing.T, seed int64, start string, count int64) []trade.Trade {
	t.Helper()
	at, err := time.Parse(time.RFC3339, start)
	if err != nil {
		t.Fatal(err)
	}
	src, err := feed.NewSynthetic(feed.SyntheticConfig{Universe: feed.DefaultUniverse(), Seed: seed, Start: at, Count: count})
	if err != nil {
		t.Fatal(err)
	}
	var out []trade.Trade
	if err := src.Run(context.Background(), func(tr trade.Trade) error { out = append(out, tr); return nil }); err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) != count {
		t.Fatalf("the synthetic feed made %d trades, want %d", len(out), count)
	}
	return out
}
