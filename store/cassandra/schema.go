package cassandra

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

// cassandraMigrations are the Cassandra schema's versions: applying the
// first n gives version n, recorded as rows of schema_migrations. Append new
// migrations; never edit one that has shipped. Every statement is idempotent
// (IF NOT EXISTS), so a migration cut short is simply run again. {ks} stands
// for the keyspace.
//
// Partitions are bounded by day. Times are CQL timestamps (milliseconds);
// a trade's sub-millisecond nanoseconds are kept in ns, so ts + ns is its
// exact time. candle_days lists the days that hold candles of a symbol and
// interval, newest first, so reads find partitions without guessing days.
var cassandraMigrations = [][]string{
	1: {
		`CREATE TABLE IF NOT EXISTS {ks}.trades (
			symbol   text,
			day      date,
			ts       timestamp,
			trade_id text,
			ns       int,
			price    double,
			volume   double,
			PRIMARY KEY ((symbol, day), ts, trade_id)
		)`,
		`CREATE TABLE IF NOT EXISTS {ks}.candles (
			symbol       text,
			interval     text,
			day          date,
			bucket_start timestamp,
			open         double,
			high         double,
			low          double,
			close        double,
			volume       double,
			notional     double,
			vwap         double,
			trades       bigint,
			PRIMARY KEY ((symbol, interval, day), bucket_start)
		)`,
		`CREATE TABLE IF NOT EXISTS {ks}.candle_days (
			symbol   text,
			interval text,
			day      date,
			PRIMARY KEY ((symbol, interval), day)
		) WITH CLUSTERING ORDER BY (day DESC)`,
		`CREATE TABLE IF NOT EXISTS {ks}.sector_volume (
			day             date,
			sector          text,
			bucket_start    timestamp,
			kafka_partition int,
			interval        text,
			volume          double,
			notional        double,
			trades          bigint,
			PRIMARY KEY ((day), sector, bucket_start, kafka_partition)
		)`,
	},
	// 2 keeps where each trade was read, and which symbols each Kafka
	// partition carried on each day: a partition's open windows are
	// rebuilt from its stored trades.
	2: {
		`ALTER TABLE {ks}.trades ADD IF NOT EXISTS (kafka_partition int, kafka_offset bigint)`,
		`CREATE TABLE IF NOT EXISTS {ks}.trade_index (
			kafka_partition int,
			day             date,
			symbol          text,
			PRIMARY KEY ((kafka_partition), day, symbol)
		)`,
	},
}

// cassandraSchemaVersion is the schema version this code writes and reads.
var cassandraSchemaVersion = len(cassandraMigrations) - 1

// lockTTL is how long a migration lock outlives a process that died
// holding it.
const lockTTL = 2 * time.Minute

// migrateCassandra brings the keyspace to cassandraSchemaVersion. Processes
// that start together take turns through a lightweight-transaction lock;
// the others wait for it and then find nothing to do. Every schema change
// is followed by waiting for schema agreement, so the next statement, on
// any coordinator, sees it.
func (c *Store) migrate(ctx context.Context) error {
	ks := c.cfg.Keyspace
	if err := c.ddl(ctx, fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s", ks, c.cfg.Replication.cql())); err != nil {
		return fmt.Errorf("creating keyspace %s: %w", ks, err)
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (version int PRIMARY KEY, applied_at timestamp, applied_by text)`,
		`CREATE TABLE IF NOT EXISTS {ks}.schema_lock (id int PRIMARY KEY, owner text)`,
	} {
		if err := c.ddl(ctx, c.stmt(stmt)); err != nil {
			return fmt.Errorf("creating the migration tables: %w", err)
		}
	}

	deadline := time.Now().Add(c.cfg.SchemaWait)
	owner := fmt.Sprintf("%s/%d/%x", hostname(), os.Getpid(), rand.Uint64())
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		v, err := c.schemaVersion(ctx)
		if err != nil {
			return err
		}
		switch {
		case v > cassandraSchemaVersion:
			return fmt.Errorf("keyspace %s has schema version %d, newer than this program's %d", ks, v, cassandraSchemaVersion)
		case v == cassandraSchemaVersion:
			return nil
		}
		applied, err := c.session.Query(c.stmt(`INSERT INTO {ks}.schema_lock (id, owner) VALUES (1, ?) IF NOT EXISTS USING TTL ?`),
			owner, int(lockTTL.Seconds())).WithContext(ctx).MapScanCAS(map[string]any{})
		if err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if applied {
			err := c.applyFrom(ctx, v, owner)
			// Release the lock even when ctx is done; the TTL covers a failed release.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
			if rerr := c.session.Query(c.stmt(`DELETE FROM {ks}.schema_lock WHERE id = 1 IF owner = ?`), owner).
				WithContext(rctx).Exec(); rerr != nil && err == nil {
				c.cfg.Log.Warn("releasing the schema migration lock", "error", rerr)
			}
			cancel()
			if err != nil {
				return err
			}
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("another process holds the schema migration lock of keyspace %s (it expires %s after it was taken)", ks, lockTTL)
		}
		c.cfg.Log.Info("waiting for another process's schema migration", "keyspace", ks)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// applyFrom applies the migrations after version v, holding the lock.
func (c *Store) applyFrom(ctx context.Context, v int, owner string) error {
	// Read again: the previous holder may have finished just before.
	v, err := c.schemaVersion(ctx)
	if err != nil {
		return err
	}
	for next := v + 1; next <= cassandraSchemaVersion; next++ {
		for _, s := range cassandraMigrations[next] {
			if err := c.ddl(ctx, c.stmt(s)); err != nil {
				return fmt.Errorf("migrating schema to version %d: %w", next, err)
			}
		}
		if err := c.session.Query(c.stmt(`INSERT INTO {ks}.schema_migrations (version, applied_at, applied_by) VALUES (?, ?, ?)`),
			next, time.Now(), owner).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("recording schema version %d: %w", next, err)
		}
		c.cfg.Log.Info("migrated cassandra schema", "keyspace", c.cfg.Keyspace, "version", next)
	}
	return nil
}

// schemaVersion is the highest migration recorded, 0 for none.
func (c *Store) schemaVersion(ctx context.Context) (int, error) {
	iter := c.session.Query(c.stmt(`SELECT version FROM {ks}.schema_migrations`)).WithContext(ctx).Iter()
	top, v := 0, 0
	for iter.Scan(&v) {
		top = max(top, v)
	}
	if err := iter.Close(); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	return top, nil
}

// ddl runs one schema statement and waits until every node agrees on the
// schema.
func (c *Store) ddl(ctx context.Context, stmt string) error {
	if err := c.session.Query(stmt).WithContext(ctx).Exec(); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.SchemaWait)
	defer cancel()
	if err := c.session.AwaitSchemaAgreement(actx); err != nil {
		return fmt.Errorf("awaiting schema agreement: %w", err)
	}
	return nil
}

// stmt returns s with {ks} replaced by the keyspace.
func (c *Store) stmt(s string) string { return strings.ReplaceAll(s, "{ks}", c.cfg.Keyspace) }

// checkReplication warns when an existing keyspace replicates differently
// from what was asked: tradetop never alters a keyspace it did not create.
func (c *Store) checkReplication(ctx context.Context) {
	var got map[string]string
	err := c.session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`,
		strings.ToLower(c.cfg.Keyspace)).WithContext(ctx).Scan(&got)
	if err != nil {
		return // nothing to compare with; creating the keyspace said what went wrong
	}
	want := c.cfg.Replication
	same := false
	switch {
	case strings.HasSuffix(got["class"], SimpleStrategy):
		same = want.Class == SimpleStrategy && got["replication_factor"] == fmt.Sprint(want.Factor)
	case strings.HasSuffix(got["class"], NetworkTopologyStrategy):
		same = want.Class == NetworkTopologyStrategy && len(got)-1 == len(want.DataCenters)
		for dc, n := range want.DataCenters {
			same = same && got[dc] == fmt.Sprint(n)
		}
	}
	if !same {
		c.cfg.Log.Warn("keyspace exists with another replication; using it as it is",
			"keyspace", c.cfg.Keyspace, "replication", fmt.Sprint(got), "asked", want.String())
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
