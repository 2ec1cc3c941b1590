package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// sqliteMigrations are the SQLite schema's versions: applying the first n
// gives version n, which the file keeps in PRAGMA user_version. Append new
// migrations; never edit one that has shipped.
//
// The tables mirror the Cassandra schema: each primary key starts with the
// Cassandra partition key and continues with its clustering columns, except
// that trades are kept in time order (version 3). Times
// are Unix nanoseconds (ts_ns, bucket_start_ns), days UTC 'YYYY-MM-DD' and
// intervals as store.IntervalName writes them. The _v views show the same
// rows with ISO 8601 UTC times, for people reading the file with the sqlite3
// shell.
var sqliteMigrations = []string{
	1: `
CREATE TABLE trades (
	symbol   TEXT    NOT NULL,
	day      TEXT    NOT NULL,
	ts_ns    INTEGER NOT NULL,
	trade_id TEXT    NOT NULL,
	price    REAL    NOT NULL,
	volume   REAL    NOT NULL,
	PRIMARY KEY (symbol, day, ts_ns, trade_id)
) WITHOUT ROWID;

CREATE TABLE candles (
	symbol          TEXT    NOT NULL,
	interval        TEXT    NOT NULL,
	day             TEXT    NOT NULL,
	bucket_start_ns INTEGER NOT NULL,
	open            REAL    NOT NULL,
	high            REAL    NOT NULL,
	low             REAL    NOT NULL,
	close           REAL    NOT NULL,
	volume          REAL    NOT NULL,
	notional        REAL    NOT NULL,
	vwap            REAL    NOT NULL,
	trades          INTEGER NOT NULL,
	PRIMARY KEY (symbol, interval, day, bucket_start_ns)
) WITHOUT ROWID;

CREATE TABLE sector_volume (
	day             TEXT    NOT NULL,
	sector          TEXT    NOT NULL,
	bucket_start_ns INTEGER NOT NULL,
	kafka_partition INTEGER NOT NULL,
	interval        TEXT    NOT NULL,
	volume          REAL    NOT NULL,
	notional        REAL    NOT NULL,
	trades          INTEGER NOT NULL,
	PRIMARY KEY (day, sector, bucket_start_ns, kafka_partition)
) WITHOUT ROWID;

CREATE VIEW trades_v AS
SELECT
	symbol,
	strftime('%Y-%m-%dT%H:%M:%S', ts_ns / 1000000000, 'unixepoch')
		|| printf('.%09dZ', ts_ns % 1000000000) AS ts,
	trade_id, price, volume
FROM trades;

CREATE VIEW candles_v AS
SELECT
	symbol, interval,
	strftime('%Y-%m-%dT%H:%M:%SZ', bucket_start_ns / 1000000000, 'unixepoch') AS bucket_start,
	open, high, low, close, volume, notional, vwap, trades
FROM candles;

CREATE VIEW sector_volume_v AS
SELECT
	day, sector, interval,
	strftime('%Y-%m-%dT%H:%M:%SZ', bucket_start_ns / 1000000000, 'unixepoch') AS bucket_start,
	kafka_partition, volume, notional, trades
FROM sector_volume;

CREATE VIEW sector_day_v AS
SELECT day, sector, SUM(volume) AS volume, SUM(notional) AS notional, SUM(trades) AS trades
FROM sector_volume
GROUP BY day, sector;
`,
	// Where each trade was read, and which symbols each Kafka partition
	// carried on each day: a partition's open windows are rebuilt from
	// its stored trades.
	2: `
ALTER TABLE trades ADD COLUMN kafka_partition INTEGER;
ALTER TABLE trades ADD COLUMN kafka_offset INTEGER;

CREATE TABLE trade_index (
	kafka_partition INTEGER NOT NULL,
	day             TEXT    NOT NULL,
	symbol          TEXT    NOT NULL,
	PRIMARY KEY (kafka_partition, day, symbol)
) WITHOUT ROWID;
`,
	// Trades in time order: a transaction's trades go to the last pages
	// of the table instead of to a page for each symbol, and the trades a
	// partition's open windows are rebuilt from are one range. The key
	// holds the same columns, so the same rows are unique; the day column
	// stays, for readers of the file. trade_index, which only led the
	// rebuild to the symbols' ranges, goes.
	3: `
DROP VIEW trades_v;

CREATE TABLE trades_by_time (
	ts_ns           INTEGER NOT NULL,
	symbol          TEXT    NOT NULL,
	trade_id        TEXT    NOT NULL,
	day             TEXT    NOT NULL,
	price           REAL    NOT NULL,
	volume          REAL    NOT NULL,
	kafka_partition INTEGER,
	kafka_offset    INTEGER,
	PRIMARY KEY (ts_ns, symbol, trade_id)
) WITHOUT ROWID;

INSERT INTO trades_by_time (ts_ns, symbol, trade_id, day, price, volume, kafka_partition, kafka_offset)
SELECT ts_ns, symbol, trade_id, day, price, volume, kafka_partition, kafka_offset FROM trades;

DROP TABLE trades;
ALTER TABLE trades_by_time RENAME TO trades;
DROP TABLE trade_index;

CREATE VIEW trades_v AS
SELECT
	symbol,
	strftime('%Y-%m-%dT%H:%M:%S', ts_ns / 1000000000, 'unixepoch')
		|| printf('.%09dZ', ts_ns % 1000000000) AS ts,
	trade_id, price, volume
FROM trades;
`,
}

// sqliteSchemaVersion is the schema version this code writes and reads.
var sqliteSchemaVersion = len(sqliteMigrations) - 1

// migrate brings the schema of the database behind db, which must hold a
// single connection, to sqliteSchemaVersion, one transaction per migration.
// Each transaction reads the version again under the write lock, so two
// processes opening the file at once apply each migration once.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		done, err := migrateOne(ctx, db)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the migration after the file's current version and
// reports whether there was none left to apply.
func migrateOne(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrating schema: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback() // nothing was written, or err says what went wrong
		}
	}()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("migrating schema: reading version: %w", err)
	}
	switch {
	case v > sqliteSchemaVersion:
		return false, fmt.Errorf("schema version %d is newer than this program's %d", v, sqliteSchemaVersion)
	case v == sqliteSchemaVersion:
		return true, nil
	}
	next := v + 1
	if _, err := tx.ExecContext(ctx, sqliteMigrations[next]); err != nil {
		return false, fmt.Errorf("migrating schema to version %d: %w", next, err)
	}
	// PRAGMA takes no parameters; next is an int.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", next)); err != nil {
		return false, fmt.Errorf("migrating schema to version %d: %w", next, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrating schema to version %d: committing: %w", next, err)
	}
	return false, nil
}
