package pipeline

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/storetest"
)

// realCluster returns the Kafka brokers and Cassandra hosts of the test
// clusters, or skips the test.
func realCluster(t *testing.T) (brokers, cassandra []string) {
	t.Helper()
	k, c := os.Getenv("TRADETOP_E2E_KAFKA"), os.Getenv("TRADETOP_E2E_CASSANDRA")
	if k == "" || c == "" {
		t.Skip("TRADETOP_E2E_KAFKA and TRADETOP_E2E_CASSANDRA are not both set (see scripts/devstack)")
	}
	return strings.Split(k, ","), strings.Split(c, ",")
}

// TestRealKafkaAndCassandra runs the whole pipeline against real servers:
// every trade stored once, every candle and sector sum right, the group's
// lag at zero, and a second identical run changing nothing.
func TestRealKafkaAndCassandra(t *testing.T) {
	brokers, hosts := realCluster(t)
	const n = 20000
	name := storetest.Keyspace(t, hosts, "e2e_")
	kcfg := bus.Config{Brokers: brokers, Topic: name, Group: name, Partitions: 6}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	open := func() *store.Cassandra {
		st, err := store.OpenCassandra(ctx, store.CassandraConfig{Hosts: hosts, Keyspace: name})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	run := func(st store.Store) Summary {
		u := feed.DefaultUniverse()
		p, err := New(Config{Source: synthetic(t, 3, n), Store: st, Sector: u.Sector, Kafka: kcfg})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := p.Run(ctx)
		if err != nil {
			t.Fatalf("run: %v (summary %+v)", err, sum)
		}
		return sum
	}

	st := open()
	defer st.Close()
	trades := generated(t, synthetic(t, 3, n))
	checkStored(t, run(st), st, trades)

	lag, err := bus.NewAdmin(kcfg).Lag(ctx, name, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(lag) != 6 {
		t.Errorf("lag of %d partitions, want 6", len(lag))
	}
	for _, l := range lag {
		if l.Lag != 0 || l.Committed != l.End {
			t.Errorf("partition %d: committed %d, end %d, lag %d; want lag 0", l.Partition, l.Committed, l.End, l.Lag)
		}
	}

	// The same trades again, through a second store opened on the
	// migrated keyspace: still exactly n trade rows. The group resumes at
	// its committed offsets, so the rerun's trades are the new ones.
	again := open()
	defer again.Close()
	sum := run(again)
	if sum.StoredTrades != n {
		t.Errorf("rerun stored %d trades, want %d", sum.StoredTrades, n)
	}
	var total int64
	perSymbol := map[string]bool{}
	for _, tr := range trades {
		perSymbol[tr.Symbol] = true
	}
	for sym := range perSymbol {
		c, err := again.TradeCount(ctx, sym, trades[0].Time)
		if err != nil {
			t.Fatal(err)
		}
		total += c
	}
	if total != n {
		t.Errorf("after two identical runs the keyspace holds %d trades, want %d", total, n)
	}
}
