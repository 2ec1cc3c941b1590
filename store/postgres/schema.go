package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's versions: applying the first n gives version
// n, which the schema_version table keeps. Append new migrations; never
// edit one that has shipped.
//
// The tables are those of the other stores, with the same keys: times are
// Unix nanoseconds (ts_ns, bucket_start_ns), days UTC dates and intervals
// as store.IntervalName writes them ("1s", "1m"). The views are what
// dashboards read: times as timestamptz, candles with names, and the
// sectors' volume of the current UTC day.
var migrations = []string{
	1: `
CREATE TABLE trades (
	symbol          text             NOT NULL,
	day             date             NOT NULL,
	ts_ns           bigint           NOT NULL,
	trade_id        text             NOT NULL,
	price           double precision NOT NULL,
	volume          double precision NOT NULL,
	kafka_partition integer,
	kafka_offset    bigint,
	PRIMARY KEY (symbol, day, ts_ns, trade_id)
);

CREATE TABLE trade_index (
	kafka_partition integer NOT NULL,
	day             date    NOT NULL,
	symbol          text    NOT NULL,
	PRIMARY KEY (kafka_partition, day, symbol)
);

CREATE TABLE candles (
	symbol          text             NOT NULL,
	interval        text             NOT NULL,
	day             date             NOT NULL,
	bucket_start_ns bigint           NOT NULL,
	open            double precision NOT NULL,
	high            double precision NOT NULL,
	low             double precision NOT NULL,
	close           double precision NOT NULL,
	volume          double precision NOT NULL,
	notional        double precision NOT NULL,
	vwap            double precision NOT NULL,
	trades          bigint           NOT NULL,
	PRIMARY KEY (symbol, interval, day, bucket_start_ns)
);

CREATE TABLE sector_volume (
	day             date             NOT NULL,
	sector          text             NOT NULL,
	bucket_start_ns bigint           NOT NULL,
	kafka_partition integer          NOT NULL,
	interval        text             NOT NULL,
	volume          double precision NOT NULL,
	notional        double precision NOT NULL,
	trades          bigint           NOT NULL,
	PRIMARY KEY (day, sector, bucket_start_ns, kafka_partition)
);

CREATE VIEW trades_v AS
SELECT symbol, timestamptz 'epoch' + ts_ns / 1000 * interval '1 microsecond' AS ts,
	trade_id, price, volume, kafka_partition, kafka_offset
FROM trades;

CREATE VIEW candles_v AS
SELECT symbol, interval,
	timestamptz 'epoch' + bucket_start_ns / 1000 * interval '1 microsecond' AS bucket_start,
	open, high, low, close, volume, notional, vwap, trades
FROM candles;

CREATE VIEW sector_volume_v AS
SELECT day, sector, interval,
	timestamptz 'epoch' + bucket_start_ns / 1000 * interval '1 microsecond' AS bucket_start,
	kafka_partition, volume, notional, trades
FROM sector_volume;

CREATE VIEW sector_day_v AS
SELECT day, sector, SUM(volume) AS volume, SUM(notional) AS notional, SUM(trades) AS trades
FROM sector_volume
GROUP BY day, sector;

CREATE VIEW volume_today AS
SELECT sector, SUM(volume) AS volume, SUM(notional) AS notional, SUM(trades) AS trades
FROM sector_volume
WHERE day = (now() AT TIME ZONE 'UTC')::date
GROUP BY sector
ORDER BY volume DESC, sector;
`,
}

// schemaVersion is the schema version this code writes and reads.
var schemaVersion = len(migrations) - 1

// lockKey is the advisory lock that serialises the migrations of one
// schema across processes.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tradetop migrations " + schema))
	return int64(h.Sum64())
}

// migrate creates schema when missing and brings it to schemaVersion, one
// transaction per migration. Each transaction takes an advisory lock and
// reads the version again under it, so processes opening one database at
// once apply each migration once; DDL is transactional in PostgreSQL, so a
// migration that fails leaves nothing behind.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	for {
		done, err := migrateOne(ctx, pool, schema)
		if err != nil || done {
			return err
		}
	}
}

func migrateOne(ctx context.Context, pool *pgxpool.Pool, schema string) (done bool, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migrating schema: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback(ctx) // nothing was written, or err says what went wrong
		}
	}()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(schema)); err != nil {
		return false, fmt.Errorf("migrating schema: locking: %w", err)
	}
	// schema is a plain identifier (Config.Validate).
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return false, fmt.Errorf("migrating schema: creating schema %s: %w", schema, err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"); err != nil {
		return false, fmt.Errorf("migrating schema: %w", err)
	}
	var v int
	err = tx.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		v = 0
		if _, err := tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES (0)"); err != nil {
			return false, fmt.Errorf("migrating schema: %w", err)
		}
	case err != nil:
		return false, fmt.Errorf("migrating schema: reading version: %w", err)
	}
	switch {
	case v > schemaVersion:
		return false, fmt.Errorf("schema version %d is newer than this program's %d", v, schemaVersion)
	case v == schemaVersion:
		return true, nil
	}
	next := v + 1
	if _, err := tx.Exec(ctx, migrations[next]); err != nil {
		return false, fmt.Errorf("migrating schema to version %d: %w", next, err)
	}
	if _, err := tx.Exec(ctx, "UPDATE schema_version SET version = $1", next); err != nil {
		return false, fmt.Errorf("migrating schema to version %d: %w", next, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("migrating schema to version %d: committing: %w", next, err)
	}
	return false, nil
}
