package cassandra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/internal/storetesting"
	"github.com/tradetop/tradetop/store/storetest"
)

// The fixtures the tests of both stores share.
var (
	day0      = storetesting.Day0
	trades    = storetesting.Trades
	candle    = storetesting.Candle
	sector    = storetesting.Sector
	mustWrite = storetesting.MustWrite
)

func TestParseReplication(t *testing.T) {
	tests := []struct {
		in      string
		want    string // String() of the result
		cql     string
		wantErr string
	}{
		{in: "SimpleStrategy:1", want: "SimpleStrategy:1", cql: "{'class': 'SimpleStrategy', 'replication_factor': 1}"},
		{in: "simplestrategy:3", want: "SimpleStrategy:3"},
		{in: "NetworkTopologyStrategy:dc2=2,dc1=3", want: "NetworkTopologyStrategy:dc1=3,dc2=2",
			cql: "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}"},
		{in: "networktopologystrategy:eu-west.1=0", want: "NetworkTopologyStrategy:eu-west.1=0"},
		{in: "SimpleStrategy", wantErr: "want SimpleStrategy:<factor>"},
		{in: "SimpleStrategy:", wantErr: "want SimpleStrategy:<factor>"},
		{in: "SimpleStrategy:x", wantErr: "is not a number"},
		{in: "SimpleStrategy:0", wantErr: "between 1 and 32"},
		{in: "SimpleStrategy:33", wantErr: "between 1 and 32"},
		{in: "LocalStrategy:1", wantErr: "class must be"},
		{in: "NetworkTopologyStrategy:dc1", wantErr: "is not <dc>=<factor>"},
		{in: "NetworkTopologyStrategy:dc1=3,dc1=2", wantErr: "named twice"},
		{in: "NetworkTopologyStrategy:dc'1=3", wantErr: "letters, digits"},
		{in: "NetworkTopologyStrategy:dc1=-1", wantErr: "between 0 and 32"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseReplication(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tt.want {
				t.Errorf("String() = %q, want %q", r.String(), tt.want)
			}
			if tt.cql != "" && r.cql() != tt.cql {
				t.Errorf("cql() = %q, want %q", r.cql(), tt.cql)
			}
		})
	}
}

func TestCassandraConfigValidate(t *testing.T) {
	ok := Config{Hosts: []string{"127.0.0.1", "db:9042", "[::1]:9142"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"no hosts", func(c *Config) { c.Hosts = nil }, "no hosts"},
		{"bad port", func(c *Config) { c.Hosts = []string{"db:99999"} }, "port must be"},
		{"empty host", func(c *Config) { c.Hosts = []string{":9042"} }, "want host or host:port"},
		{"url", func(c *Config) { c.Hosts = []string{"cql://db"} }, "want host or host:port"},
		{"keyspace with a quote", func(c *Config) { c.Keyspace = `a"b` }, "keyspace"},
		{"keyspace starting with a digit", func(c *Config) { c.Keyspace = "1ks" }, "keyspace"},
		{"keyspace too long", func(c *Config) { c.Keyspace = strings.Repeat("k", 49) }, "keyspace"},
		{"password without user", func(c *Config) { c.Password = "x" }, "without a username"},
		{"bad replication", func(c *Config) { c.Replication = Replication{Class: "Nope"} }, "unknown replication class"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "must not be negative"},
		{"retry max below min", func(c *Config) { c.RetryMin, c.RetryMax = time.Second, time.Millisecond }, "below RetryMin"},
		{"negative batch", func(c *Config) { c.BatchRows = -1 }, "must be positive"},
		{"negative coalesce", func(c *Config) { c.WriteCoalesce = -2 }, "WriteCoalesce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseConsistency(t *testing.T) {
	for in, want := range map[string]gocql.Consistency{
		"local_quorum": gocql.LocalQuorum, "QUORUM": gocql.Quorum, "one": gocql.One, "EACH_QUORUM": gocql.EachQuorum,
	} {
		if got, err := ParseConsistency(in); err != nil || gocql.Consistency(got) != want {
			t.Errorf("ParseConsistency(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "any", "most", "LOCAL_SERIAL"} {
		if _, err := ParseConsistency(in); err == nil {
			t.Errorf("ParseConsistency(%q): no error", in)
		}
	}
}

func TestDayNumber(t *testing.T) {
	tests := []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(86399, 999999999), 0},
		{time.Unix(86400, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-86400, 0), -1},
		{time.Unix(-86401, 0), -2},
		{day0.Add(23 * time.Hour).In(time.FixedZone("X", 5*3600)), day0.Unix() / 86400},
	}
	for _, tt := range tests {
		if got := dayNumber(tt.t); got != tt.want {
			t.Errorf("dayNumber(%v) = %d, want %d", tt.t, got, tt.want)
		}
		if got := dayOf(tt.t); got.Unix() != tt.want*86400 || got.Location() != time.UTC {
			t.Errorf("dayOf(%v) = %v", tt.t, got)
		}
	}
}

func TestTemporary(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&gocql.RequestErrWriteTimeout{}, true},
		{fmt.Errorf("wrapped: %w", &gocql.RequestErrUnavailable{}), true},
		{&gocql.RequestErrReadTimeout{}, true},
		{gocql.ErrNoConnections, true},
		{gocql.ErrTimeoutNoResponse, true},
		{gocql.ErrConnectionClosed, true},
		{io.EOF, true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{errors.New("line 1:7 no viable alternative"), false},
		{store.ErrClosed, false},
	}
	for _, tt := range tests {
		if got := temporary(tt.err); got != tt.want {
			t.Errorf("temporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// cassandraHosts returns the hosts of the test cluster, or skips the test.
func cassandraHosts(t testing.TB) []string {
	t.Helper()
	h := e2e.Need(t, "host:port of a Cassandra to test against, e.g. from scripts/devstack up", "TRADETOP_E2E_CASSANDRA")[0]
	return strings.Split(h, ",")
}

// testKeyspace returns a fresh keyspace name, dropped when the test ends.
func testKeyspace(t testing.TB, hosts []string) string {
	t.Helper()
	return storetest.Keyspace(t, hosts, "tt_test_")
}

func openTestCassandra(t testing.TB, hosts []string, ks string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Open(ctx, Config{Hosts: hosts, Keyspace: ks, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openTestCassandraStore opens a store on a fresh keyspace.
func openTestCassandraStore(t testing.TB) store.Store {
	hosts := cassandraHosts(t)
	return openTestCassandra(t, hosts, testKeyspace(t, hosts))
}

func TestCassandraContract(t *testing.T) {
	storetesting.Suite(t, openTestCassandraStore)
}

// TestCassandraExactTime checks that the exact time of a trade survives:
// ts in milliseconds plus ns.
func TestCassandraExactTime(t *testing.T) {
	s := openTestCassandraStore(t).(*Store)
	tr := trades("IBM", "i", day0.Add(1234567891*time.Nanosecond), 1)
	mustWrite(t, s, &store.Batch{Trades: tr})
	var ts time.Time
	var ns int
	if err := s.session.Query(s.stmt(`SELECT ts, ns FROM {ks}.trades WHERE symbol = 'IBM' AND day = ?`), dayOf(day0)).Scan(&ts, &ns); err != nil {
		t.Fatal(err)
	}
	if got := ts.Add(time.Duration(ns)); !got.Equal(tr[0].Time) {
		t.Errorf("stored time %v, want %v", got, tr[0].Time)
	}
}

func TestCassandraMigrationIsIdempotentAndConcurrent(t *testing.T) {
	hosts := cassandraHosts(t)
	ks := testKeyspace(t, hosts)
	// Three processes' worth of stores open one fresh keyspace at once.
	var wg sync.WaitGroup
	stores := make([]*Store, 3)
	errs := make([]error, 3)
	for i := range stores {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			stores[i], errs[i] = Open(ctx, Config{Hosts: hosts, Keyspace: ks, Timeout: 20 * time.Second})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	versions := func() map[int]time.Time {
		iter := stores[0].session.Query(stores[0].stmt(`SELECT version, applied_at FROM {ks}.schema_migrations`)).Iter()
		out := map[int]time.Time{}
		var v int
		var at time.Time
		for iter.Scan(&v, &at) {
			out[v] = at
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := versions()
	if len(before) != cassandraSchemaVersion {
		t.Fatalf("schema_migrations = %v, want versions 1..%d once each", before, cassandraSchemaVersion)
	}
	// Opening again is a no-op: the same rows, the lock free.
	again := openTestCassandra(t, hosts, ks)
	if after := versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("reopening changed schema_migrations: %v, then %v", before, after)
	}
	var owner string
	err := again.session.Query(again.stmt(`SELECT owner FROM {ks}.schema_lock WHERE id = 1`)).Scan(&owner)
	if !errors.Is(err, gocql.ErrNotFound) {
		t.Errorf("migration lock still held by %q (err %v)", owner, err)
	}
	// A newer schema than the program's is refused.
	if err := again.session.Query(again.stmt(`INSERT INTO {ks}.schema_migrations (version) VALUES (?)`), cassandraSchemaVersion+1).Exec(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, err := Open(ctx, Config{Hosts: hosts, Keyspace: ks}); err == nil || !strings.Contains(err.Error(), "newer than this program") {
		if c != nil {
			c.Close()
		}
		t.Errorf("opening a newer schema: err = %v", err)
	}
}

func TestCassandraUnreachable(t *testing.T) {
	// A port nothing listens on: one clear error, quickly.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Open(t.Context(), Config{Hosts: []string{addr}, ConnectTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "connecting to cassandra "+addr) {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkCassandraWrite(b *testing.B) {
	hosts := cassandraHosts(b)
	ks := testKeyspace(b, hosts)
	openTestCassandra(b, hosts, ks) // creates the schema once
	for _, bc := range []struct {
		name     string
		coalesce time.Duration
		rows     int
	}{
		{"coalesce=none/rows=40", NoWriteCoalesce, 40},
		{"coalesce=none/rows=100", NoWriteCoalesce, 100},
		{"coalesce=200us/rows=100", 200 * time.Microsecond, 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(b.Context(), Config{Hosts: hosts, Keyspace: ks, WriteCoalesce: bc.coalesce, BatchRows: bc.rows})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const n = 5000
			var batch store.Batch
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				storetesting.BenchBatch(&batch, i, n)
				i++
				if err := s.Write(context.Background(), &batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "trades/s")
		})
	}
	// One trade a write: the latency of a quiet link, where coalescing
	// waits for company that does not come.
	for _, bc := range []struct {
		name     string
		coalesce time.Duration
	}{
		{"quiet/coalesce=none", NoWriteCoalesce},
		{"quiet/coalesce=200us", 200 * time.Microsecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(b.Context(), Config{Hosts: hosts, Keyspace: ks, WriteCoalesce: bc.coalesce})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var batch store.Batch
			i := 0
			for b.Loop() {
				batch.Trades = trades("QUIET", "q"+strconv.Itoa(i), day0, 1)
				i++
				if err := s.Write(context.Background(), &batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
