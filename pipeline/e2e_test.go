package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/cassandra"
	"github.com/tradetop/tradetop/store/storetest"
)

// realCluster returns the Kafka brokers and Cassandra hosts of the test
// clusters, or skips the test.
func realCluster(t *testing.T) (brokers, hosts []string) {
	t.Helper()
	v := e2e.Need(t, "a Kafka and a Cassandra, e.g. from scripts/devstack up", "TRADETOP_E2E_KAFKA", "TRADETOP_E2E_CASSANDRA")
	return strings.Split(v[0], ","), strings.Split(v[1], ",")
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

	open := func() *cassandra.Store {
		st, err := cassandra.Open(ctx, cassandra.Config{Hosts: hosts, Keyspace: name})
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

	// A drained run commits each partition where its oldest open window
	// starts, so that a restart rebuilds the windows it stored as they
	// stood: never past the end, and not before the first trade.
	lag, err := bus.NewAdmin(kcfg).Lag(ctx, name, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(lag) != 6 {
		t.Errorf("lag of %d partitions, want 6", len(lag))
	}
	for _, l := range lag {
		if l.Committed < 0 || l.Committed > l.End {
			t.Errorf("partition %d: committed %d, end %d", l.Partition, l.Committed, l.End)
		}
	}

	// The same trades again, through a second store opened on the
	// migrated keyspace. The group resumes at its committed offsets: it
	// reads the open windows' trades again and then the rerun's copies of
	// every trade, which are late or duplicates. The keyspace still holds
	// each trade once and the same candles and sector sums.
	again := open()
	defer again.Close()
	sum := run(again)
	if sum.Produced != n || sum.StoredTrades < n || sum.Errors != 0 || sum.Bad != 0 {
		t.Errorf("rerun %+v: want %d produced, at least as many stored, no errors", sum, n)
	}
	if sum.Duplicates == 0 || sum.Late+sum.Duplicates < n {
		t.Errorf("rerun: late %d + duplicates %d; want each of the %d copies to be one or the other", sum.Late, sum.Duplicates, n)
	}
	checkRows(t, again, trades)
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
