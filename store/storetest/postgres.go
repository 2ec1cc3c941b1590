package storetest

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/e2e"
)

// Postgres is the PostgreSQL server the tests use: TRADETOP_E2E_POSTGRES,
// a DSN without a password, and the password in the file
// TRADETOP_E2E_POSTGRES_PASSWORD_FILE (scripts/devstack up writes both).
type Postgres struct {
	DSN          string
	Password     string
	PasswordFile string
}

// NeedPostgres returns the test server, or skips the test without one
// (fails it under CI).
func NeedPostgres(t testing.TB) Postgres {
	t.Helper()
	v := e2e.Need(t, "a PostgreSQL DSN and its password file, e.g. from scripts/devstack up",
		"TRADETOP_E2E_POSTGRES", "TRADETOP_E2E_POSTGRES_PASSWORD_FILE")
	pw, err := os.ReadFile(v[1])
	if err != nil {
		t.Fatal(err)
	}
	return Postgres{DSN: v[0], Password: strings.TrimSpace(string(pw)), PasswordFile: v[1]}
}

// Conn connects to the server with search_path set to schema, or fails
// the test. The caller closes it.
func (p Postgres) Conn(t testing.TB, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(p.DSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = p.Password
	cfg.ConnectTimeout = 10 * time.Second
	if schema != "" {
		cfg.RuntimeParams["search_path"] = schema
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Schema returns a fresh schema name starting with prefix, dropped with
// all it holds when the test ends.
func (p Postgres) Schema(t testing.TB, prefix string) string {
	t.Helper()
	name := prefix + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		c := p.Conn(t, "")
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
	})
	return name
}

// ReadPostgres reads every row of the tables in schema, in one
// repeatable-read transaction.
func ReadPostgres(t testing.TB, p Postgres, schema string) Contents {
	t.Helper()
	ctx := context.Background()
	conn := p.Conn(t, schema)
	defer conn.Close(ctx)
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	c := newContents()
	query := func(q string, dest []any, row func() error) {
		t.Helper()
		rows, err := tx.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if _, err := pgx.ForEachRow(rows, dest, row); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var (
		tr     Trade
		id, iv string
		ns     int64
		part   *int32
		off    *int64
		cd     agg.Candle
		vwap   float64
		sec    string
		sv     Sector
	)
	query("SELECT symbol, trade_id, ts_ns, price, volume, kafka_partition, kafka_offset FROM trades",
		[]any{&tr.Symbol, &id, &ns, &tr.Price, &tr.Volume, &part, &off}, func() error {
			tr.Time = time.Unix(0, ns).UTC()
			tr.Partition, tr.Offset = -1, -1
			if part != nil && off != nil {
				tr.Partition, tr.Offset = *part, *off
			}
			c.addTrade(id, tr)
			return nil
		})
	query("SELECT symbol, interval, bucket_start_ns, open, high, low, close, volume, notional, vwap, trades FROM candles",
		[]any{&cd.Symbol, &iv, &ns, &cd.Open, &cd.High, &cd.Low, &cd.Close, &cd.Volume, &cd.Notional, &vwap, &cd.Count}, func() error {
			cd.Start = time.Unix(0, ns).UTC()
			return c.addCandle(iv, cd, vwap)
		})
	query("SELECT sector, interval, bucket_start_ns, volume, notional, trades FROM sector_volume",
		[]any{&sec, &iv, &ns, &sv.Volume, &sv.Notional, &sv.Count}, func() error {
			return c.addSector(sec, iv, time.Unix(0, ns), sv)
		})
	return c
}
