package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/alert"
	"github.com/tradetop/tradetop/auth"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/feed/finnhub"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/store/cassandra"
	"github.com/tradetop/tradetop/store/postgres"
	"github.com/tradetop/tradetop/trade"
)

// envPrefix starts the variable of every flag; defaultRate is --rate's
// default, defaultLatencyBudget --latency-budget's, and usageHeading opens
// --help. embeddedPartitions is --partitions' default on the embedded
// broker: its one process has no group to spread partitions over, and each
// partition costs a produce request, a fetch and a wake-up a beat.
const (
	embeddedPartitions   = 2
	envPrefix            = "TRADETOP_"
	defaultRate          = 1000
	defaultLatencyBudget = time.Second
	usageHeading         = `tradetop: top for a market-data pipeline.

Runs trades from a feed through Kafka, windowed aggregation and a store, and
shows the pipeline live. With no flags it runs everything embedded: a
synthetic feed, a Kafka-protocol broker on loopback and a SQLite store.

Every flag can also be set in the environment as TRADETOP_<NAME>, with dashes
as underscores (TRADETOP_RATE=max); a flag on the command line wins.

Usage: tradetop [flags]
       tradetop attach [flags] URL   (the UI of a tradetop that runs elsewhere; attach --help)
       tradetop topic [flags]        (the topic's messages, and re-driving dead letters; topic --help)

Flags:
`
)

// options are the command line, after environment defaults.
type options struct {
	noUI              bool
	role              roleValue
	maxLag            int64
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
	beat              time.Duration
	latencyBudget     time.Duration
	listen            string
	listenInsecure    bool
	listenTLSCert     string
	listenTLSKey      string
	controlTokenFile  string
	ssh               string
	sshAuthorizedKeys string
	sshOperators      string
	summary           string
	drainTimeout      time.Duration
	maxInFlight       int64
	logLevel          string
	cpuProfile        string
	alerts            string
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

	postgres             string
	postgresSchema       string
	postgresPasswordFile string

	format         string
	schemaRegistry string

	// Set by parse from the fields above and the environment.
	finnhubKey        string
	kafkaSASLMech     *bus.SASL
	kafkaTLS          *tls.Config
	cassandraPassword string
	cassandraRepl     cassandra.Replication
	cassandraCL       cassandra.Consistency
	cassandraTLS      *tls.Config
	postgresPassword  string
	controlToken      string
	listenTLS         *tls.Config
	alertRules        []alert.Rule
}

// maxQuoted is the most of a bad value an error line quotes.
const maxQuoted = 40

// Passwords are read from these variables, or from the --*-password-file
// flags, never from a flag value.
const (
	finnhubKeyEnv        = "FINNHUB_API_KEY"
	kafkaPasswordEnv     = envPrefix + "KAFKA_PASSWORD"
	cassandraPasswordEnv = envPrefix + "CASSANDRA_PASSWORD"
	postgresPasswordEnv  = envPrefix + "POSTGRES_PASSWORD"
	controlTokenEnv      = envPrefix + "CONTROL_TOKEN"
)

func flags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("tradetop", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// Where a package has a default, the flag's is that one.
	aggDefaults, busDefaults, cassDefaults, pgDefaults := agg.Defaults(), bus.Defaults(), cassandra.Defaults(), postgres.Defaults()
	o.rate = defaultRate
	o.speed = 1
	o.windows = aggDefaults.Intervals
	fs.BoolVar(&o.noUI, "no-ui", false, "run headless: a status line every --status-interval, a summary at exit")
	fs.Var(&o.role, "role", "which stages this process runs: all (feed, Kafka, aggregation, store), ingest (feed into Kafka) or process (the consumer group's aggregation into Cassandra; any number share the partitions); ingest and process need --brokers")
	fs.StringVar(&o.source, "source", "synthetic", "where trades come from: synthetic, finnhub (live, key in "+finnhubKeyEnv+" or --finnhub-key-file) or replay:FILE (JSON lines or CSV)")
	fs.Var(&o.symbols, "symbols", "finnhub: the symbols to subscribe to, comma separated (AAPL,MSFT,BINANCE:BTCUSDT)")
	fs.StringVar(&o.finnhubURL, "finnhub-url", finnhub.DefaultURL, "finnhub: the websocket URL, without the token")
	fs.StringVar(&o.finnhubKeyFile, "finnhub-key-file", "", "finnhub: a file whose first line is the API key")
	durationVar(fs, &o.stallTimeout, "stall-timeout", finnhub.DefaultStallTimeout, "finnhub: silence longer than this is a dead link, reconnected")
	fs.StringVar(&o.record, "record", "", "also write every trade the source produces to this file, one JSON line a trade")
	fs.Var(&o.speed, "speed", "replay: 1 (as recorded), 10 (ten times faster) or max")
	fs.BoolVar(&o.shiftToNow, "shift-to-now", false, "replay: move event times so the first trade happens now")
	fs.StringVar(&o.universe, "universe", "", "symbols' names, sectors and shares: a CSV (symbol,name,sector,shares[,price]) or YAML file (default: the embedded 50 symbols)")
	fs.Int64Var(&o.seed, "seed", feed.DefaultSeed, "seed of the synthetic feed")
	fs.Var(&o.rate, "rate", "trades per second from the synthetic feed, or max")
	fs.Var(&o.start, "start", "pin the synthetic feed's clock to this RFC 3339 time (same seed, same trades); default: the wall clock")
	fs.Int64Var(&o.count, "count", 0, "stop the feed after this many trades, then drain and exit (0: no limit)")
	durationVar(fs, &o.duration, "duration", 0, "stop after this long, then drain and exit (0: run until interrupted)")
	fs.StringVar(&o.group, "group", busDefaults.Group, "Kafka consumer group of the processing stage")
	fs.IntVar(&o.partitions, "partitions", busDefaults.Partitions, "partitions of the topic when tradetop creates it (on the embedded broker the default is 2)")
	fs.IntVar(&o.replicationFactor, "replication-factor", busDefaults.ReplicationFactor, "replication factor of the topic when tradetop creates it")
	fs.Var(&o.windows, "windows", "candle windows, comma separated: whole seconds dividing a day")
	durationVar(fs, &o.sectorWindow, "sector-window", aggDefaults.SectorInterval, "window of the per-sector volume")
	durationVar(fs, &o.lateness, "allowed-lateness", agg.DefaultAllowedLateness, "how late a trade may arrive and still count in its windows")
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "directory of the embedded store and the log")
	durationVar(fs, &o.statusInterval, "status-interval", 5*time.Second, "how often --no-ui logs a status line")
	durationVar(fs, &o.beat, "beat", pipeline.DefaultBatchInterval, "the pipeline's shortest beat: what was fed is sent to Kafka just before each beat and stored on it (a busy feed in full batches at once); longer costs less CPU and adds up to a beat to each trade's latency")
	durationVar(fs, &o.latencyBudget, "latency-budget", defaultLatencyBudget, "the longest beat of a quiet feed: as the rate falls, the beat doubles from --beat while the longer beat carries at most 40 trades a partition, up to this, so a quiet market costs almost nothing and its trades wait up to this long (--latency-budget equal to --beat keeps the beat fixed)")
	fs.StringVar(&o.listen, "listen", "", "serve Prometheus metrics (/metrics), probes (/healthz, /readyz) and the control API (/api/v1, for tradetop attach) on this address, e.g. 127.0.0.1:9464 (default: off)")
	fs.StringVar(&o.controlTokenFile, "control-token-file", "", "file whose first line is the token the control API's controls need (or "+controlTokenEnv+"); without one, viewers are read-only")
	fs.BoolVar(&o.listenInsecure, "listen-insecure", false, "allow --listen on an address other machines reach without a control token: they may read, never steer")
	fs.StringVar(&o.listenTLSCert, "listen-tls-cert", "", "serve --listen over TLS with this PEM certificate (and --listen-tls-key)")
	fs.StringVar(&o.listenTLSKey, "listen-tls-key", "", "PEM key of --listen-tls-cert")
	fs.StringVar(&o.ssh, "ssh", "", "serve the terminal UI to ssh clients on this address, e.g. :2222 (keys in --ssh-authorized-keys)")
	fs.StringVar(&o.sshAuthorizedKeys, "ssh-authorized-keys", "", "authorized_keys file of the public keys that may connect to --ssh")
	fs.StringVar(&o.sshOperators, "ssh-operators", "", "authorized_keys file of the --ssh keys that may also steer (pause, rate, subscriptions, stop); the others are read-only")
	fs.StringVar(&o.summary, "summary", "text", "summary at exit: text (a log line), json (one object on stdout) or none")
	fs.Int64Var(&o.maxInFlight, "max-in-flight", 0, fmt.Sprintf("most trades produced but not yet stored; at --rate max, latency is about this over the stored rate (0: %d, or %d with --cassandra)", pipeline.DefaultMaxInFlight, cassandraMaxInFlight))
	fs.Int64Var(&o.maxLag, "max-lag", 0, fmt.Sprintf("most messages the group may have left to store (its committed lag) before the feed waits: the bound of --role ingest, and of --role all while other processes share its group (0: %d)", pipeline.DefaultMaxLag))
	durationVar(fs, &o.drainTimeout, "drain-timeout", pipeline.DefaultDrainTimeout, "how long a stop may take to drain before it gives up")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.alerts, "alerts", "", "alert rules: a YAML file of price, move, volume, silence, lag and stage rules, each firing once per crossing into the events, the log and the metrics, and running its actions (see README's Alerts)")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of the run to this file (for go tool pprof)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")

	kafkaFlags(fs, o)

	fs.StringVar(&o.format, "format", string(schema.JSON), "how trades are written to Kafka: json, or avro (schema/trade.avsc; in the registry's wire format with --schema-registry, else with the schema in an avro.schema header); every form is read whatever this says")
	fs.Var(&o.cassandra, "cassandra", "Cassandra contact points, host[:port],... (default: the embedded SQLite store in --data-dir)")
	fs.StringVar(&o.postgres, "postgres", "", "PostgreSQL to store in instead: a postgres:// URL or key=value DSN without a password, which comes from "+
		postgresPasswordEnv+", --postgres-password-file or PGPASSWORD (default: the embedded SQLite store in --data-dir)")
	fs.StringVar(&o.postgresSchema, "postgres-schema", pgDefaults.Schema, "PostgreSQL schema of tradetop's tables and views, created when missing")
	fs.StringVar(&o.postgresPasswordFile, "postgres-password-file", "", "file whose first line is the PostgreSQL password")
	fs.StringVar(&o.keyspace, "keyspace", cassDefaults.Keyspace, "Cassandra keyspace, created when missing")
	fs.StringVar(&o.replication, "cassandra-replication", cassDefaults.Replication.String(), "replication of a keyspace tradetop creates: SimpleStrategy:<factor> or NetworkTopologyStrategy:<dc>=<factor>,...")
	fs.StringVar(&o.consistency, "consistency", cassDefaults.Consistency.String(), "Cassandra consistency level of reads and writes")
	fs.StringVar(&o.cassandraDC, "cassandra-local-dc", "", "prefer the Cassandra nodes of this data centre")
	fs.StringVar(&o.cassandraUser, "cassandra-username", "", "Cassandra user; the password comes from "+cassandraPasswordEnv+" or --cassandra-password-file")
	fs.StringVar(&o.cassandraPasswordFile, "cassandra-password-file", "", "file whose first line is the Cassandra password")
	tlsFlags(fs, "cassandra", &o.cassandraTLSFiles)
	return fs
}

// kafkaFlags adds the flags that say how to reach Kafka and read its
// messages: the brokers, the topic, SASL and TLS, the schema registry.
// tradetop topic takes them too.
func kafkaFlags(fs *flag.FlagSet, o *options) {
	fs.Var(&o.brokers, "brokers", "Kafka bootstrap brokers, host:port,... (default: an embedded broker on loopback)")
	fs.StringVar(&o.topic, "topic", bus.Defaults().Topic, "Kafka topic of the trades")
	fs.StringVar(&o.kafkaSASL, "kafka-sasl", "none", "Kafka SASL mechanism: none, plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&o.kafkaUser, "kafka-username", "", "Kafka SASL user; the password comes from "+kafkaPasswordEnv+" or --kafka-password-file")
	fs.StringVar(&o.kafkaPasswordFile, "kafka-password-file", "", "file whose first line is the Kafka SASL password")
	tlsFlags(fs, "kafka", &o.kafkaTLSFiles)
	fs.StringVar(&o.schemaRegistry, "schema-registry", "", "URL of a schema registry with the Confluent API: --format avro registers trade.avsc under <topic>-value there, and the consumer looks up the schemas of registry-framed messages")
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
	if len(o.brokers) == 0 && !set["partitions"] {
		o.partitions = embeddedPartitions
	}
	ignored, err := o.validateRole(onCommandLine, set)
	warnings = append(warnings, ignored...)
	if err != nil {
		return o, fs, warnings, err
	}
	return o, fs, warnings, o.secure(env.get)
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
