package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/alert"
	"github.com/tradetop/tradetop/auth"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/store/cassandra"
	"github.com/tradetop/tradetop/store/postgres"
	"github.com/tradetop/tradetop/trade"
)

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
	if err := o.secureKafka(getenv); err != nil {
		return err
	}
	var err error
	if o.cassandraPassword, err = auth.Password(getenv, cassandraPasswordEnv, o.cassandraPasswordFile); err != nil {
		return fmt.Errorf("invalid value for flag -cassandra-password-file: %v", err)
	}
	if o.cassandraPassword != "" && o.cassandraUser == "" {
		return errors.New("invalid value for flag -cassandra-username: a Cassandra password is set but no user")
	}
	if o.cassandraTLS, err = o.cassandraTLSFiles.Config(); err != nil {
		return fmt.Errorf("invalid cassandra TLS flags: %v", err)
	}
	if o.postgresPassword, err = auth.Password(getenv, postgresPasswordEnv, o.postgresPasswordFile); err != nil {
		return fmt.Errorf("invalid value for flag -postgres-password-file: %v", err)
	}
	if o.postgresPassword != "" && o.postgres == "" {
		return errors.New("invalid value for flag -postgres-password-file: a PostgreSQL password is set but no --postgres")
	}
	if (o.kafkaSASLMech != nil || o.kafkaTLS != nil) && len(o.brokers) == 0 {
		return errors.New("invalid value for flag -kafka-sasl: Kafka SASL and TLS need --brokers")
	}
	if (o.cassandraUser != "" || o.cassandraTLS != nil) && len(o.cassandra) == 0 {
		return errors.New("invalid value for flag -cassandra-username: Cassandra credentials and TLS need --cassandra")
	}
	return o.secureServing(getenv)
}

// secureKafka reads the Kafka password and TLS files the flags name.
func (o *options) secureKafka(getenv func(string) string) error {
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
	if _, err := schema.ParseFormat(o.format); err != nil {
		return fmt.Errorf("invalid value for flag -format: %v", err)
	}
	if o.schemaRegistry != "" {
		if err := schema.ValidateRegistryURL(o.schemaRegistry); err != nil {
			return fmt.Errorf("invalid value for flag -schema-registry: %v", err)
		}
	}
	if o.postgres != "" {
		if len(o.cassandra) > 0 {
			return errors.New("invalid value for flag -postgres: --postgres and --cassandra each name the store; give one")
		}
		if err := postgres.ValidateDSN(o.postgres); err != nil {
			return fmt.Errorf("invalid value for flag -postgres: %v", err)
		}
	}
	if err := (postgres.Config{DSN: "host=any", Schema: o.postgresSchema}).Validate(); err != nil {
		return fmt.Errorf("invalid value for flag -postgres-schema: %v", err)
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
		{o.maxLag < 0, "max-lag", "must not be negative"},
		{o.duration < 0, "duration", "must not be negative"},
		{o.partitions < 1 || o.partitions > 10000, "partitions", "must be between 1 and 10000"},
		{o.replicationFactor < 1 || o.replicationFactor > 32, "replication-factor", "must be between 1 and 32"},
		{o.lateness < 0, "allowed-lateness", "must not be negative"},
		{o.statusInterval <= 0, "status-interval", "must be positive"},
		{o.beat < time.Millisecond || o.beat > 10*time.Second, "beat", "must be between 1ms and 10s"},
		{o.latencyBudget < 0 || o.latencyBudget > 10*time.Second, "latency-budget", "must be between 0 and 10s"},
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
	if o.alerts != "" {
		if o.alertRules, err = alert.Load(o.alerts); err != nil {
			return fmt.Errorf("invalid value for flag -alerts: %v", err)
		}
	}
	return nil
}

// Flags that only some roles use.
var (
	feedFlags = []string{"source", "symbols", "finnhub-url", "finnhub-key-file", "stall-timeout", "record",
		"speed", "shift-to-now", "universe", "seed", "rate", "start", "count", "max-in-flight", "max-lag", "format"}
	processFlags = []string{"windows", "sector-window", "allowed-lateness", "max-in-flight",
		"cassandra", "keyspace", "cassandra-replication", "consistency", "cassandra-local-dc",
		"cassandra-username", "cassandra-password-file", "cassandra-tls", "cassandra-tls-ca",
		"cassandra-tls-cert", "cassandra-tls-key", "cassandra-tls-insecure-skip-verify",
		"postgres", "postgres-schema", "postgres-password-file"}
)

// validateRole checks that the role can run where o points it, and that no
// flag is set that the role does not use. Such a flag on the command line
// is an error; in the environment, which is often shared by every role of
// a deployment, it is a warning line.
func (o *options) validateRole(onCommandLine, set map[string]bool) (warnings []string, err error) {
	role := pipeline.Role(o.role)
	switch {
	case role != pipeline.RoleAll && len(o.brokers) == 0:
		return nil, fmt.Errorf("invalid value for flag -role: --role %s needs --brokers: the embedded broker lives in one process and cannot be shared", role)
	case role == pipeline.RoleProcess && len(o.cassandra) == 0 && o.postgres == "":
		return nil, errors.New("invalid value for flag -role: --role process needs --cassandra or --postgres: processors share one store, and the embedded SQLite store belongs to one process")
	}
	unused := map[string]string{}
	switch role {
	case pipeline.RoleIngest:
		for _, f := range processFlags {
			unused[f] = "it applies to aggregation and the store, which --role ingest does not run"
		}
		unused["max-in-flight"] = "it bounds --role all; --role ingest is bounded by --max-lag"
	case pipeline.RoleProcess:
		for _, f := range feedFlags {
			unused[f] = "it applies to the feed, which --role process does not run"
		}
		unused["universe"] = "" // the processors' sectors come from it
		unused["max-in-flight"] = "it bounds --role all; --role process produces nothing"
	}
	for _, name := range slices.Sorted(maps.Keys(unused)) {
		why := unused[name]
		switch {
		case why == "" || !set[name]:
		case onCommandLine[name]:
			return warnings, fmt.Errorf("invalid value for flag -%s: %s", name, why)
		default:
			warnings = append(warnings, fmt.Sprintf("warning: %s is ignored: %s", envName(name), why))
		}
	}
	return warnings, nil
}
