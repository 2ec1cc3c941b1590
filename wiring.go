package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/feed/finnhub"
	"github.com/tradetop/tradetop/feed/replay"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/cassandra"
	"github.com/tradetop/tradetop/store/postgres"
	"github.com/tradetop/tradetop/store/sqlite"
)

// wiring is a run the options describe, before it starts: the store and
// the source they name, opened, and the pipeline's configuration over them.
type wiring struct {
	// config configures the pipeline; its Store and Source are open.
	config pipeline.Config
	// universe names the symbols and their sectors and shares.
	universe *feed.Universe
	// closeSource closes the recording of --record.
	closeSource func() error
	log         *slog.Logger
}

// wire opens the store and the source o names and configures the pipeline
// over them. It is how execute builds a run, and how a test builds one as
// execute would. Close releases what it opened.
func wire(ctx context.Context, o options, log *slog.Logger) (*wiring, error) {
	role := pipeline.Role(o.role)
	var st store.Store
	storeName := "none (role ingest)"
	closeStore := func() {}
	if role.Processes() {
		var err error
		if st, storeName, err = openStore(ctx, o, log); err != nil {
			return nil, err
		}
		closeStore = func() {
			if err := st.Close(); err != nil {
				log.Error("closing the store", "error", err)
			}
		}
	}
	universe := feed.DefaultUniverse()
	if o.universe != "" {
		var err error
		if universe, err = feed.LoadUniverseFile(o.universe); err != nil {
			closeStore()
			return nil, err
		}
	}
	encoder, decoder, err := values(ctx, o, role, log)
	if err != nil {
		closeStore()
		return nil, err
	}
	var src feed.Source
	closeSource := func() error { return nil }
	if role.Ingests() {
		var err error
		if src, closeSource, err = newSource(o, universe, log); err != nil {
			closeStore()
			return nil, err
		}
	}
	cfg := pipeline.Config{
		Role:      role,
		Source:    src,
		Store:     st,
		StoreName: storeName,
		Sector:    universe.Sector,
		Kafka:     o.kafkaConfig(role.String(), encoder),
		Values:    decoder,
		Agg: agg.Config{
			Intervals:       o.windows,
			SectorInterval:  o.sectorWindow,
			AllowedLateness: new(o.lateness),
		},
		EmbeddedDir:      filepath.Join(o.dataDir, datadir.BrokerDir),
		IdleAdvance:      idleAdvance(o),
		DrainTimeout:     o.drainTimeout,
		BatchInterval:    o.beat,
		MaxBatchInterval: o.latencyBudget,
		MaxInFlight:      maxInFlight(o),
		MaxLag:           o.maxLag,
		Log:              log,
	}
	return &wiring{config: cfg, universe: universe, closeSource: closeSource, log: log}, nil
}

// Close closes the recording, then the store, logging what fails.
func (w *wiring) Close() {
	if err := w.closeSource(); err != nil {
		w.log.Error("closing the recording", "error", err)
	}
	if w.config.Store == nil {
		return
	}
	if err := w.config.Store.Close(); err != nil {
		w.log.Error("closing the store", "error", err)
	}
}

// registryTimeout bounds one request to the schema registry.
const registryTimeout = 10 * time.Second

// values builds how trades are written to the topic and read from it: the
// encoder of --format, which with --schema-registry registers trade.avsc
// there first, for a role that ingests; a decoder of every form, which
// looks schemas up in that registry, for a role that processes.
func values(ctx context.Context, o options, role pipeline.Role, log *slog.Logger) (*schema.Encoder, *schema.Decoder, error) {
	format, err := schema.ParseFormat(o.format)
	if err != nil {
		return nil, nil, err
	}
	var reg *schema.RegistryClient
	if o.schemaRegistry != "" {
		if reg, err = schema.NewRegistry(o.schemaRegistry, registryTimeout); err != nil {
			return nil, nil, err
		}
	}
	var enc *schema.Encoder
	if role.Ingests() {
		var id uint32
		if format == schema.Avro && reg != nil {
			subject := schema.Subject(o.topic)
			if id, err = reg.Register(ctx, subject); err != nil {
				return nil, nil, err
			}
			log.Info("schema registered", "registry", o.schemaRegistry, "subject", subject, "id", id)
		}
		enc = schema.NewEncoder(format, id)
	}
	var dec *schema.Decoder
	if role.Processes() {
		var lookup schema.Registry // nil unless there is a registry
		if reg != nil {
			lookup = reg
		}
		dec = schema.NewDecoder(lookup)
	}
	return enc, dec, nil
}

// kafkaConfig is how the options reach Kafka, for a process named after
// its role (or command), writing trades with encoder (nil when it writes
// none).
func (o options) kafkaConfig(role string, encoder *schema.Encoder) bus.Config {
	return bus.Config{
		Brokers:           o.brokers,
		Topic:             o.topic,
		Group:             o.group,
		ClientID:          clientID(role),
		Partitions:        o.partitions,
		ReplicationFactor: o.replicationFactor,
		TLS:               o.kafkaTLS,
		SASL:              o.kafkaSASLMech,
		Values:            encoder,
	}
}

// newDecoder returns a decoder of message values of every form, which
// looks the schemas of registry-framed Avro up in --schema-registry.
func newDecoder(o options) (*schema.Decoder, error) {
	if o.schemaRegistry == "" {
		return schema.NewDecoder(nil), nil
	}
	reg, err := schema.NewRegistry(o.schemaRegistry, registryTimeout)
	if err != nil {
		return nil, err
	}
	return schema.NewDecoder(reg), nil
}

// clientID names this process to Kafka, so that every member of the group
// sees which process each member is: tradetop-<role>-<host>-<pid>.
func clientID(role string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	host = strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, host)
	return fmt.Sprintf("tradetop-%s-%s-%d", role, host, os.Getpid())
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

// idleAdvance reports whether a quiet partition may close its windows by
// the wall clock: when the source's event times follow it. Only a process
// that runs the feed (role all) knows they do, and which of its trades are
// held back: a processor closes a window when a later trade of its
// partition arrives, never by the wall clock, as a replayed or paused feed
// elsewhere would turn its trades late.
func idleAdvance(o options) bool {
	return pipeline.Role(o.role) == pipeline.RoleAll && liveClock(o)
}

// liveClock reports whether the source's event times follow the wall
// clock.
func liveClock(o options) bool {
	switch {
	case o.source == "finnhub":
		return true
	case strings.HasPrefix(o.source, "replay:"):
		return o.shiftToNow && o.speed == 1
	}
	return time.Time(o.start).IsZero()
}

// cassandraMaxInFlight is --max-in-flight's default with --cassandra: a
// remote store takes longer per write, so fewer trades in flight keep
// latency at the maximum rate under a second.
const cassandraMaxInFlight = 20000

// maxInFlight is --max-in-flight, or its default for the store.
func maxInFlight(o options) int64 {
	switch {
	case o.maxInFlight > 0:
		return o.maxInFlight
	case len(o.cassandra) > 0:
		return cassandraMaxInFlight
	}
	return 0 // the pipeline's default
}

// openStore opens the store o names: PostgreSQL with --postgres, Cassandra
// with --cassandra, else SQLite in the data directory. It returns the store and its description.
func openStore(ctx context.Context, o options, log *slog.Logger) (store.Store, string, error) {
	if o.postgres != "" {
		p, err := postgres.Open(ctx, postgres.Config{DSN: o.postgres, Password: o.postgresPassword, Schema: o.postgresSchema})
		if err != nil {
			return nil, "", err
		}
		return p, p.Name(), nil
	}
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
