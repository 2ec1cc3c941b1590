// Command tradetop is top for a market-data pipeline: it runs trades from a
// feed through Kafka, windowed aggregation and a store, and shows the
// pipeline live in the terminal, or headless with --no-ui.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/auth"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/feed/finnhub"
	"github.com/tradetop/tradetop/feed/replay"
	"github.com/tradetop/tradetop/metrics"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/cassandra"
	"github.com/tradetop/tradetop/store/sqlite"
	"github.com/tradetop/tradetop/trade"
)

func main() {
	os.Exit(run(os.Args[1:], osEnvironment(), os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitAborted  = 3
	envPrefix    = "TRADETOP_"
	defaultRate  = 1000
	usageHeading = `tradetop: top for a market-data pipeline.

Runs trades from a feed through Kafka, windowed aggregation and a store, and
shows the pipeline live. With no flags it runs everything embedded: a
synthetic feed, a Kafka-protocol broker on loopback and a SQLite store.

Every flag can also be set in the environment as TRADETOP_<NAME>, with dashes
as underscores (TRADETOP_RATE=max); a flag on the command line wins.

Usage: tradetop [flags]

Flags:
`
)

// options are the command line, after environment defaults.
type options struct {
	noUI              bool
	seed              int64
	rate              rateValue
	start             timeValue
	count             int64
	duration          time.Duration
	brokers           listValue
	topic             string
	group             string
	partitions        int
	replicationFactor int
	windows           durationsValue
	sectorWindow      time.Duration
	lateness          time.Duration
	dataDir           string
	statusInterval    time.Duration
	listen            string
	summary           string
	drainTimeout      time.Duration
	maxInFlight       int64
	logLevel          string
	cpuProfile        string
	version           bool

	source         string
	symbols        listValue
	finnhubURL     string
	finnhubKeyFile string
	stallTimeout   time.Duration
	record         string
	speed          speedValue
	shiftToNow     bool
	universe       string

	kafkaSASL         string
	kafkaUser         string
	kafkaPasswordFile string
	kafkaTLSFiles     auth.TLS

	cassandra             listValue
	keyspace              string
	replication           string
	consistency           string
	cassandraDC           string
	cassandraUser         string
	cassandraPasswordFile string
	cassandraTLSFiles     auth.TLS

	// Set by parse from the fields above and the environment.
	finnhubKey        string
	kafkaSASLMech     *bus.SASL
	kafkaTLS          *tls.Config
	cassandraPassword string
	cassandraRepl     cassandra.Replication
	cassandraCL       cassandra.Consistency
	cassandraTLS      *tls.Config
}

// maxQuoted is the most of a bad value an error line quotes.
const maxQuoted = 40

// Passwords are read from these variables, or from the --*-password-file
// flags, never from a flag value.
const (
	finnhubKeyEnv        = "FINNHUB_API_KEY"
	kafkaPasswordEnv     = envPrefix + "KAFKA_PASSWORD"
	cassandraPasswordEnv = envPrefix + "CASSANDRA_PASSWORD"
)

func flags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("tradetop", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.rate = defaultRate
	o.speed = 1
	o.windows = durationsValue{time.Second, time.Minute}
	fs.BoolVar(&o.noUI, "no-ui", false, "run headless: a status line every --status-interval, a summary at exit")
	fs.StringVar(&o.source, "source", "synthetic", "where trades come from: synthetic, finnhub (live, key in "+finnhubKeyEnv+" or --finnhub-key-file) or replay:FILE (JSON lines or CSV)")
	fs.Var(&o.symbols, "symbols", "finnhub: the symbols to subscribe to, comma separated (AAPL,MSFT,BINANCE:BTCUSDT)")
	fs.StringVar(&o.finnhubURL, "finnhub-url", "wss://ws.finnhub.io", "finnhub: the websocket URL, without the token")
	fs.StringVar(&o.finnhubKeyFile, "finnhub-key-file", "", "finnhub: a file whose first line is the API key")
	durationVar(fs, &o.stallTimeout, "stall-timeout", 30*time.Second, "finnhub: silence longer than this is a dead link, reconnected")
	fs.StringVar(&o.record, "record", "", "also write every trade the source produces to this file, one JSON line a trade")
	fs.Var(&o.speed, "speed", "replay: 1 (as recorded), 10 (ten times faster) or max")
	fs.BoolVar(&o.shiftToNow, "shift-to-now", false, "replay: move event times so the first trade happens now")
	fs.StringVar(&o.universe, "universe", "", "symbols' names, sectors and shares: a CSV (symbol,name,sector,shares[,price]) or YAML file (default: the embedded 50 symbols)")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the synthetic feed")
	fs.Var(&o.rate, "rate", "trades per second from the synthetic feed, or max")
	fs.Var(&o.start, "start", "pin the synthetic feed's clock to this RFC 3339 time (same seed, same trades); default: the wall clock")
	fs.Int64Var(&o.count, "count", 0, "stop the feed after this many trades, then drain and exit (0: no limit)")
	durationVar(fs, &o.duration, "duration", 0, "stop after this long, then drain and exit (0: run until interrupted)")
	fs.Var(&o.brokers, "brokers", "Kafka bootstrap brokers, host:port,... (default: an embedded broker on loopback)")
	fs.StringVar(&o.topic, "topic", "trades", "Kafka topic of the trades")
	fs.StringVar(&o.group, "group", "tradetop", "Kafka consumer group of the processing stage")
	fs.IntVar(&o.partitions, "partitions", 6, "partitions of the topic when tradetop creates it")
	fs.IntVar(&o.replicationFactor, "replication-factor", 1, "replication factor of the topic when tradetop creates it")
	fs.Var(&o.windows, "windows", "candle windows, comma separated: whole seconds dividing a day")
	durationVar(fs, &o.sectorWindow, "sector-window", time.Minute, "window of the per-sector volume")
	durationVar(fs, &o.lateness, "allowed-lateness", 2*time.Second, "how late a trade may arrive and still count in its windows")
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "directory of the embedded store and the log")
	durationVar(fs, &o.statusInterval, "status-interval", 5*time.Second, "how often --no-ui logs a status line")
	fs.StringVar(&o.listen, "listen", "", "serve Prometheus metrics (/metrics) and probes (/healthz, /readyz) on this address, e.g. 127.0.0.1:9464 (default: off)")
	fs.StringVar(&o.summary, "summary", "text", "summary at exit: text (a log line), json (one object on stdout) or none")
	fs.Int64Var(&o.maxInFlight, "max-in-flight", 0, "most trades produced but not yet stored; at --rate max, latency is about this over the stored rate (0: 50000, or 20000 with --cassandra)")
	durationVar(fs, &o.drainTimeout, "drain-timeout", 10*time.Second, "how long a stop may take to drain before it gives up")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of the run to this file (for go tool pprof)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")

	fs.StringVar(&o.kafkaSASL, "kafka-sasl", "none", "Kafka SASL mechanism: none, plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&o.kafkaUser, "kafka-username", "", "Kafka SASL user; the password comes from "+kafkaPasswordEnv+" or --kafka-password-file")
	fs.StringVar(&o.kafkaPasswordFile, "kafka-password-file", "", "file whose first line is the Kafka SASL password")
	tlsFlags(fs, "kafka", &o.kafkaTLSFiles)

	fs.Var(&o.cassandra, "cassandra", "Cassandra contact points, host[:port],... (default: the embedded SQLite store in --data-dir)")
	fs.StringVar(&o.keyspace, "keyspace", "tradetop", "Cassandra keyspace, created when missing")
	fs.StringVar(&o.replication, "cassandra-replication", "SimpleStrategy:1", "replication of a keyspace tradetop creates: SimpleStrategy:<factor> or NetworkTopologyStrategy:<dc>=<factor>,...")
	fs.StringVar(&o.consistency, "consistency", "LOCAL_QUORUM", "Cassandra consistency level of reads and writes")
	fs.StringVar(&o.cassandraDC, "cassandra-local-dc", "", "prefer the Cassandra nodes of this data centre")
	fs.StringVar(&o.cassandraUser, "cassandra-username", "", "Cassandra user; the password comes from "+cassandraPasswordEnv+" or --cassandra-password-file")
	fs.StringVar(&o.cassandraPasswordFile, "cassandra-password-file", "", "file whose first line is the Cassandra password")
	tlsFlags(fs, "cassandra", &o.cassandraTLSFiles)
	return fs
}

// durationVar adds a duration flag whose bad value says what is wanted.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

// tlsFlags adds the TLS flags of one system, named after it.
func tlsFlags(fs *flag.FlagSet, system string, t *auth.TLS) {
	fs.BoolVar(&t.Enable, system+"-tls", false, "connect to "+system+" with TLS (implied by the other -tls flags)")
	fs.StringVar(&t.CAFile, system+"-tls-ca", "", "PEM file of the authorities that sign "+system+"'s certificates (default: the system's)")
	fs.StringVar(&t.CertFile, system+"-tls-cert", "", "PEM client certificate for "+system)
	fs.StringVar(&t.KeyFile, system+"-tls-key", "", "PEM key of the "+system+" client certificate")
	fs.BoolVar(&t.InsecureSkipVerify, system+"-tls-insecure-skip-verify", false, "accept any "+system+" server certificate (tests only)")
}

// parse reads the environment, then args, and checks the result. Every error
// is one line that names the flag or variable. A flag on the command line
// wins over its variable, whose value is then not even read. Warnings are
// lines to print, for variables that set nothing.
func parse(args []string, env environment) (o options, fs *flag.FlagSet, warnings []string, err error) {
	fs = flags(&o)
	// Which flags the command line sets: their variables do not count.
	onCommandLine := map[string]bool{}
	probe := flags(new(options))
	if err := probe.Parse(args); err != nil {
		return o, fs, nil, err
	}
	probe.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if onCommandLine[f.Name] || envErr != nil {
			return
		}
		name := envName(f.Name)
		if v := env.get(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("invalid value %q for %s: %v", trade.Excerpt(v, maxQuoted), name, err)
			}
		}
	})
	if envErr != nil {
		return o, fs, nil, envErr
	}
	warnings = unknownVariables(env, fs)
	if err := fs.Parse(args); err != nil {
		return o, fs, warnings, err
	}
	if fs.NArg() > 0 {
		return o, fs, warnings, fmt.Errorf("unexpected argument %q", trade.Excerpt(fs.Arg(0), maxQuoted))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := o.validate(set); err != nil {
		return o, fs, warnings, err
	}
	return o, fs, warnings, o.secure(env.get)
}

// envName is the variable that sets the flag name.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// otherVariables are the TRADETOP_ variables that are not flags.
var otherVariables = map[string]bool{kafkaPasswordEnv: true, cassandraPasswordEnv: true}

// unknownVariables says, one line each, which TRADETOP_ variables set
// nothing, naming the closest flag's.
func unknownVariables(env environment, fs *flag.FlagSet) []string {
	known := map[string]bool{}
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		known[envName(f.Name)] = true
		names = append(names, envName(f.Name))
	})
	var out []string
	for _, v := range env.names() {
		if !strings.HasPrefix(v, envPrefix) || known[v] || otherVariables[v] || strings.HasPrefix(v, envPrefix+"E2E_") {
			continue
		}
		line := fmt.Sprintf("warning: %s is not a tradetop setting; it is ignored", strconv.Quote(v))
		if near, d := closest(v, names); d <= 3 {
			line += fmt.Sprintf(" (did you mean %s?)", near)
		}
		out = append(out, line)
	}
	return out
}

// closest returns the name nearest to s by edit distance, and the distance.
func closest(s string, names []string) (string, int) {
	best, bestD := "", math.MaxInt
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best, bestD
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// environment is the process's environment, by name.
type environment map[string]string

// osEnvironment reads the process's environment.
func osEnvironment() environment {
	env := environment{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

func (e environment) get(name string) string { return e[name] }

// names returns the names set, sorted.
func (e environment) names() []string { return slices.Sorted(maps.Keys(e)) }

// secure reads the passwords and TLS files the flags name.
func (o *options) secure(getenv func(string) string) error {
	if o.source == "finnhub" {
		key, err := auth.Password(getenv, finnhubKeyEnv, o.finnhubKeyFile)
		if err != nil {
			return fmt.Errorf("invalid value for flag -finnhub-key-file: %v", err)
		}
		if key == "" {
			return fmt.Errorf("invalid value for flag -finnhub-key-file: --source finnhub needs an API key in %s or a key file", finnhubKeyEnv)
		}
		o.finnhubKey = key
	}
	kafkaPassword, err := auth.Password(getenv, kafkaPasswordEnv, o.kafkaPasswordFile)
	if err != nil {
		return fmt.Errorf("invalid value for flag -kafka-password-file: %v", err)
	}
	if o.kafkaSASLMech, err = bus.SASLMechanism(o.kafkaSASL, o.kafkaUser, kafkaPassword); err != nil {
		return fmt.Errorf("invalid value for flag -kafka-sasl: %v", err)
	}
	if o.kafkaTLS, err = o.kafkaTLSFiles.Config(); err != nil {
		return fmt.Errorf("invalid kafka TLS flags: %v", err)
	}
	if o.cassandraPassword, err = auth.Password(getenv, cassandraPasswordEnv, o.cassandraPasswordFile); err != nil {
		return fmt.Errorf("invalid value for flag -cassandra-password-file: %v", err)
	}
	if o.cassandraPassword != "" && o.cassandraUser == "" {
		return errors.New("invalid value for flag -cassandra-username: a Cassandra password is set but no user")
	}
	if o.cassandraTLS, err = o.cassandraTLSFiles.Config(); err != nil {
		return fmt.Errorf("invalid cassandra TLS flags: %v", err)
	}
	if (o.kafkaSASLMech != nil || o.kafkaTLS != nil) && len(o.brokers) == 0 {
		return errors.New("invalid value for flag -kafka-sasl: Kafka SASL and TLS need --brokers")
	}
	if (o.cassandraUser != "" || o.cassandraTLS != nil) && len(o.cassandra) == 0 {
		return errors.New("invalid value for flag -cassandra-username: Cassandra credentials and TLS need --cassandra")
	}
	return nil
}

// validate checks o; set names the flags given on the command line or in
// the environment.
func (o *options) validate(set map[string]bool) error {
	if err := (agg.Config{Intervals: o.windows}).Validate(); err != nil {
		return fmt.Errorf("invalid value for flag -windows: %v", err)
	}
	if err := agg.ValidateInterval(o.sectorWindow); err != nil {
		return fmt.Errorf("invalid value for flag -sector-window: %v", err)
	}
	for _, b := range o.brokers {
		if err := bus.ValidateBroker(b); err != nil {
			return fmt.Errorf("invalid value for flag -brokers: %v", err)
		}
	}
	for _, h := range o.cassandra {
		if err := cassandra.ValidateHost(h); err != nil {
			return fmt.Errorf("invalid value for flag -cassandra: %v", err)
		}
	}
	if err := bus.ValidateTopic(o.topic); err != nil {
		return fmt.Errorf("invalid value for flag -topic: %v", err)
	}
	if err := bus.ValidateTopic(o.topic + ".dlq"); err != nil {
		return fmt.Errorf("invalid value for flag -topic: its dead-letter topic: %v", err)
	}
	if strings.TrimSpace(o.group) == "" {
		return errors.New("invalid value for flag -group: must not be empty")
	}
	kind, file, _ := strings.Cut(o.source, ":")
	switch {
	case o.source == "synthetic", o.source == "finnhub":
	case kind == "replay" && file != "":
	default:
		return fmt.Errorf("invalid value for flag -source: %q: want synthetic, finnhub or replay:FILE", trade.Excerpt(o.source, maxQuoted))
	}
	// A flag of another source would be ignored without a word.
	for _, f := range []struct {
		names  []string
		source string
		ok     bool
	}{
		{[]string{"rate", "seed", "start", "count"}, "synthetic", o.source == "synthetic"},
		{[]string{"speed", "shift-to-now"}, "replay:FILE", kind == "replay"},
		{[]string{"symbols", "finnhub-url", "finnhub-key-file", "stall-timeout"}, "finnhub", o.source == "finnhub"},
	} {
		for _, name := range f.names {
			if set[name] && !f.ok {
				return fmt.Errorf("invalid value for flag -%s: it applies to --source %s, not %s", name, f.source, trade.Excerpt(o.source, maxQuoted))
			}
		}
	}
	if o.source == "finnhub" && len(o.symbols) == 0 {
		return errors.New("invalid value for flag -symbols: --source finnhub needs the symbols to subscribe to")
	}
	if o.stallTimeout <= 0 {
		return errors.New("invalid value for flag -stall-timeout: must be positive")
	}
	var err error
	if o.cassandraRepl, err = cassandra.ParseReplication(o.replication); err != nil {
		return fmt.Errorf("invalid value for flag -cassandra-replication: %v", err)
	}
	if o.cassandraCL, err = cassandra.ParseConsistency(o.consistency); err != nil {
		return fmt.Errorf("invalid value for flag -consistency: %v", err)
	}
	if err := cassandra.ValidateKeyspace(o.keyspace); err != nil {
		return fmt.Errorf("invalid value for flag -keyspace: %v", err)
	}
	checks := []struct {
		bad  bool
		flag string
		want string
	}{
		{o.count < 0, "count", "must not be negative"},
		{o.maxInFlight < 0, "max-in-flight", "must not be negative"},
		{o.duration < 0, "duration", "must not be negative"},
		{o.partitions < 1 || o.partitions > 10000, "partitions", "must be between 1 and 10000"},
		{o.replicationFactor < 1 || o.replicationFactor > 32, "replication-factor", "must be between 1 and 32"},
		{o.lateness < 0, "allowed-lateness", "must not be negative"},
		{o.statusInterval <= 0, "status-interval", "must be positive"},
		{o.drainTimeout <= 0, "drain-timeout", "must be positive"},
		{o.dataDir == "", "data-dir", "must not be empty"},
		{o.summary != "text" && o.summary != "json" && o.summary != "none", "summary", "must be text, json or none"},
		{parseLevel(o.logLevel) == nil, "log-level", "must be debug, info, warn or error"},
	}
	for _, c := range checks {
		if c.bad {
			return fmt.Errorf("invalid value for flag -%s: %s", c.flag, c.want)
		}
	}
	return nil
}

func run(args []string, env environment, stdout, stderr io.Writer) int {
	o, fs, warnings, err := parse(args, env)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "tradetop: %s\n", w)
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageHeading)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "tradetop: %v (see tradetop --help)\n", err)
		return exitUsage
	}
	if o.version {
		fmt.Fprintf(stdout, "tradetop %s\n", version())
		return exitOK
	}
	// One process at a time may use the embedded store and broker: two
	// would interleave their windows in one store.
	if len(o.brokers) == 0 || len(o.cassandra) == 0 {
		lock, err := datadir.Acquire(o.dataDir)
		if err != nil {
			if _, inUse := errors.AsType[*datadir.InUseError](err); inUse {
				fmt.Fprintf(stderr, "tradetop: %v\n", err)
			} else {
				fmt.Fprintf(stderr, "tradetop: invalid value for flag -data-dir: %v\n", err)
			}
			return exitUsage
		}
		defer lock.Release()
	}
	// The terminal UI owns the terminal, so its log goes to a file.
	logOut := stderr
	if !o.noUI {
		f, err := openLog(o.dataDir)
		if err != nil {
			fmt.Fprintf(stderr, "tradetop: invalid value for flag -data-dir: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		logOut = f
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: parseLevel(o.logLevel)}))
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "tradetop: %v\n", err)
			return exitFailure
		}
		defer stop()
	}
	var ln net.Listener
	if o.listen != "" {
		if ln, err = net.Listen("tcp", o.listen); err != nil {
			fmt.Fprintf(stderr, "tradetop: invalid value for flag -listen: %v\n", err)
			return exitUsage
		}
		defer ln.Close()
	}
	if err := execute(o, ln, log, stdout); err != nil {
		fmt.Fprintf(stderr, "tradetop: %v\n", err)
		if errors.Is(err, pipeline.ErrAborted) {
			return exitAborted
		}
		return exitFailure
	}
	return exitOK
}

// version is the module version tradetop was built as, or the commit it
// was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		return "commit " + rev[:min(12, len(rev))] + modified + " (" + info.GoVersion + ")"
	}
	return v + " (" + info.GoVersion + ")"
}

// openLog opens the log file of the terminal UI in dir, for appending.
func openLog(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, datadir.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the log: %w", err)
	}
	return f, nil
}

// execute builds the pipeline from o and runs it headless or under the
// terminal UI until it is stopped and drained.
// execute runs the pipeline o describes; with ln, it serves metrics and
// probes on it meanwhile.
func execute(o options, ln net.Listener, log *slog.Logger, stdout io.Writer) error {
	// A first SIGINT or SIGTERM drains; a second one stops at once.
	soft, stop := context.WithCancel(context.Background())
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		soft, cancel = context.WithTimeout(soft, o.duration)
		defer cancel()
	}

	st, storeName, err := openStore(soft, o, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "error", err)
		}
	}()
	universe := feed.DefaultUniverse()
	if o.universe != "" {
		if universe, err = feed.LoadUniverseFile(o.universe); err != nil {
			return err
		}
	}
	src, closeSrc, err := newSource(o, universe, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := closeSrc(); err != nil {
			log.Error("closing the recording", "error", err)
		}
	}()
	lateness := o.lateness
	if lateness == 0 {
		lateness = agg.NoLateness
	}
	p, err := pipeline.New(pipeline.Config{
		Source:    src,
		Store:     st,
		StoreName: storeName,
		Sector:    universe.Sector,
		Kafka: bus.Config{
			Brokers:           o.brokers,
			Topic:             o.topic,
			Group:             o.group,
			Partitions:        o.partitions,
			ReplicationFactor: o.replicationFactor,
			TLS:               o.kafkaTLS,
			SASL:              o.kafkaSASLMech,
		},
		Agg: agg.Config{
			Intervals:       o.windows,
			SectorInterval:  o.sectorWindow,
			AllowedLateness: lateness,
		},
		EmbeddedDir:  filepath.Join(o.dataDir, datadir.BrokerDir),
		IdleAdvance:  liveClock(o),
		DrainTimeout: o.drainTimeout,
		MaxInFlight:  maxInFlight(o),
		Log:          log,
	})
	if err != nil {
		return err
	}

	// One monitor judges the run for the status line and the metrics.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	var watch *monitor.Watcher
	if o.noUI || ln != nil {
		watch = monitor.Watch(watchCtx, p.Snapshot, 100*time.Millisecond)
	}
	if ln != nil {
		srv := &http.Server{Handler: metrics.Handler(watch, version()), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("serving metrics", "listen", ln.Addr().String(), "error", err)
			}
		}()
		defer srv.Close()
		log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for range sigs {
			if n++; n == 1 {
				log.Info("stopping: draining (a second signal stops at once)", "drain_timeout", o.drainTimeout)
				stop()
			} else {
				p.Abort()
			}
		}
	}()

	log.Info("starting", "source", src.Name(), "store", storeName, "rate", o.rate.String())
	var sum pipeline.Summary
	if o.noUI {
		sum, err = runHeadless(soft, o, p, watch, log)
	} else {
		sum, err = runUI(soft, stop, o, p, universe, log)
	}
	if _, notStarted := errors.AsType[*pipeline.StartError](err); notStarted {
		return err // a run that never started has nothing to sum up
	}
	switch o.summary {
	case "json":
		if err := json.NewEncoder(stdout).Encode(sum); err != nil {
			return fmt.Errorf("writing summary: %w", err)
		}
	case "text":
		log.Info("summary", "produced", sum.Produced, "consumed", sum.Consumed, "stored_trades", sum.StoredTrades,
			"candles", sum.Candles, "sector_rows", sum.SectorRows, "late", sum.Late, "duplicates", sum.Duplicates, "bad", sum.Bad,
			"errors", sum.Errors, "duration_s", sum.DurationS, "throughput_tps", int64(sum.ThroughputTPS),
			"p50_ms", sum.LatencyMS.P50, "p99_ms", sum.LatencyMS.P99, "max_ms", sum.LatencyMS.Max)
		if !o.noUI {
			// The log is in a file: say on the terminal, once the UI has
			// given it back, what the run did.
			fmt.Fprintf(stdout, "tradetop: produced %d, stored %d, late %d, duplicates %d, dropped by the feed %d, bad %d, errors %d; "+
				"latency p50 %.0f ms, p99 %.0f ms; in %.1fs (log: %s)\n",
				sum.Produced, sum.StoredTrades, sum.Late, sum.Duplicates, sum.FeedDropped, sum.Bad, sum.Errors,
				sum.LatencyMS.P50, sum.LatencyMS.P99, sum.DurationS, filepath.Join(o.dataDir, datadir.LogFile))
		}
	}
	return err
}

// newSource builds the source o names, recording it with --record. The
// returned function closes the recording.
func newSource(o options, universe *feed.Universe, log *slog.Logger) (feed.Source, func() error, error) {
	var src feed.Source
	var err error
	switch kind, file, _ := strings.Cut(o.source, ":"); {
	case o.source == "finnhub":
		src, err = finnhub.New(finnhub.Config{
			URL:          o.finnhubURL,
			Key:          o.finnhubKey,
			Symbols:      o.symbols,
			StallTimeout: o.stallTimeout,
			Log:          log,
		})
	case kind == "replay":
		src, err = replay.New(replay.Config{
			Path:       file,
			Speed:      float64(o.speed),
			ShiftToNow: o.shiftToNow,
			Log:        log,
		})
	default:
		src, err = feed.NewSynthetic(feed.SyntheticConfig{
			Universe: universe,
			Seed:     o.seed,
			Rate:     float64(o.rate),
			Start:    time.Time(o.start),
			Count:    o.count,
		})
	}
	if err != nil {
		return nil, nil, err
	}
	if o.record == "" {
		return src, func() error { return nil }, nil
	}
	f, err := os.Create(o.record)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the recording: %w", err)
	}
	return replay.Record(src, f), f.Close, nil
}

// liveClock reports whether the source's event times follow the wall
// clock, so that a quiet partition may close its windows by it.
func liveClock(o options) bool {
	switch {
	case o.source == "finnhub":
		return true
	case strings.HasPrefix(o.source, "replay:"):
		return o.shiftToNow && o.speed == 1
	}
	return time.Time(o.start).IsZero()
}

// maxInFlight is --max-in-flight, or its default for the store: a remote
// store takes longer per write, so fewer trades in flight keep latency at
// the maximum rate under a second.
func maxInFlight(o options) int64 {
	switch {
	case o.maxInFlight > 0:
		return o.maxInFlight
	case len(o.cassandra) > 0:
		return 20000
	}
	return 0 // the pipeline's default
}

// openStore opens the store o names: Cassandra with --cassandra, else
// SQLite in the data directory. It returns the store and its description.
func openStore(ctx context.Context, o options, log *slog.Logger) (store.Store, string, error) {
	if len(o.cassandra) > 0 {
		c, err := cassandra.Open(ctx, cassandra.Config{
			Hosts:       o.cassandra,
			Keyspace:    o.keyspace,
			Replication: o.cassandraRepl,
			Consistency: o.cassandraCL,
			LocalDC:     o.cassandraDC,
			Username:    o.cassandraUser,
			Password:    o.cassandraPassword,
			TLS:         o.cassandraTLS,
			Log:         log,
		})
		if err != nil {
			return nil, "", err
		}
		return c, c.Name(), nil
	}
	// Committed offsets outlive the process (the embedded broker keeps
	// them in the data directory, a real cluster on its own), so a write
	// they are committed past must outlive a power loss too.
	st, err := sqlite.OpenWith(ctx, filepath.Join(o.dataDir, datadir.StoreFile), sqlite.Options{Synchronous: sqlite.SynchronousFull})
	if err != nil {
		return nil, "", err
	}
	return st, "sqlite " + st.Path(), nil
}

// runHeadless runs p until ctx is done or its source ends, logging a status
// line every --status-interval.
func runHeadless(ctx context.Context, o options, p *pipeline.Pipeline, watch *monitor.Watcher, log *slog.Logger) (pipeline.Summary, error) {
	statusCtx, stopStatus := context.WithCancel(context.Background())
	defer stopStatus()
	go monitor.LogStatus(statusCtx, watch, log, o.statusInterval)
	return p.Run(ctx)
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func parseLevel(s string) *slog.LevelVar {
	var l slog.LevelVar
	switch strings.ToLower(s) {
	case "debug":
		l.Set(slog.LevelDebug)
	case "info":
		l.Set(slog.LevelInfo)
	case "warn":
		l.Set(slog.LevelWarn)
	case "error":
		l.Set(slog.LevelError)
	default:
		return nil
	}
	return &l
}

// defaultDataDir is $XDG_DATA_HOME/tradetop, or the platform's equivalent.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tradetop")
	}
	if runtime.GOOS == "windows" {
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "tradetop")
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "tradetop")
	}
	if runtime.GOOS == "darwin" {
		return filepath.Join(home, "Library", "Application Support", "tradetop")
	}
	return filepath.Join(home, ".local", "share", "tradetop")
}

// rateValue is trades per second; 0 means as fast as the pipeline takes them.
type rateValue float64

func (r *rateValue) String() string {
	if *r == 0 {
		return "max"
	}
	return strconv.FormatFloat(float64(*r), 'f', -1, 64)
}

func (r *rateValue) Set(s string) error {
	if strings.EqualFold(s, "max") {
		*r = 0
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || f > feed.MaxRate {
		return fmt.Errorf("want a number of trades per second above 0 and at most %g, or max", feed.MaxRate)
	}
	*r = rateValue(f)
	return nil
}

// speedValue is a replay speed: a positive factor, or 0 for max.
type speedValue float64

func (v *speedValue) String() string {
	if *v == 0 {
		return "max"
	}
	return strconv.FormatFloat(float64(*v), 'f', -1, 64)
}

func (v *speedValue) Set(s string) error {
	if strings.EqualFold(s, "max") {
		*v = 0
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || f > 1e6 {
		return errors.New("want a factor above 0 (1 is as recorded), or max")
	}
	*v = speedValue(f)
	return nil
}

// timeValue is an RFC 3339 time; zero means unset.
type timeValue time.Time

func (t *timeValue) String() string {
	if time.Time(*t).IsZero() {
		return ""
	}
	return time.Time(*t).Format(time.RFC3339Nano)
}

func (t *timeValue) Set(s string) error {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errors.New("want an RFC 3339 time such as 2026-01-02T15:00:00Z")
	}
	// Trades are valid from 1971 to 2200 in UTC, whatever the offset.
	v = v.UTC()
	if v.Year() < 1971 || v.Year() > 2200 {
		return errors.New("want a year from 1971 to 2200 (in UTC)")
	}
	*t = timeValue(v)
	return nil
}

// durationValue is a duration such as 30s or 1h30m.
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a duration such as 500ms, 30s, 5m or 1h30m")
	}
	*d = durationValue(v)
	return nil
}

// listValue is a comma-separated list.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(s string) error {
	*l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	if len(*l) == 0 {
		// --symbols is a list too, so not "host:port".
		return errors.New("want a comma-separated list of at least one item")
	}
	return nil
}

// durationsValue is a comma-separated list of durations.
type durationsValue []time.Duration

func (d *durationsValue) String() string {
	parts := make([]string, len(*d))
	for i, v := range *d {
		parts[i] = v.String()
	}
	return strings.Join(parts, ",")
}

func (d *durationsValue) Set(s string) error {
	var out durationsValue
	for _, part := range strings.Split(s, ",") {
		v, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("want durations such as 1s,1m: %q is not one", part)
		}
		out = append(out, v)
	}
	*d = out
	return nil
}
