package pipeline

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/store/sqlite"
)

// TestRedrivenDeadLettersAreStoredOnce dead-letters registry-framed Avro
// trades read by a processor without a schema registry, re-drives them all
// twice once a processor with the registry runs, and finds every trade
// stored once, with its candles as if it had never been dead-lettered.
func TestRedrivenDeadLettersAreStoredOnce(t *testing.T) {
	const n = 400
	trades := generated(t, synthetic(t, 13, n))
	k := embeddedGroup(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := feed.DefaultUniverse()

	// The trades are written in the registry's wire format, and read
	// with no registry to look their schema up in: every one is a dead
	// letter.
	withValues := k
	withValues.Values = schema.NewEncoder(schema.Avro, 5)
	p, err := New(Config{Source: synthetic(t, 13, n), Store: st, Sector: u.Sector, Kafka: withValues, Values: schema.NewDecoder(nil)})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(ctx)
	if err != nil {
		t.Fatalf("first run: %v (summary %+v)", err, sum)
	}
	if sum.Bad != n || sum.StoredTrades != 0 {
		t.Fatalf("first run: bad %d, stored %d; want every one of %d dead-lettered", sum.Bad, sum.StoredTrades, n)
	}

	b := bus.NewBrowser(k)
	defer b.Close()
	for i := range 2 {
		done, err := b.RedriveAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if done.Copied != n || len(done.Refused) != 0 {
			t.Fatalf("re-drive %d: %+v, want %d copied", i+1, done, n)
		}
	}

	// A processor that knows the registry reads the copies: its run is
	// stopped at once, so it reads each partition to its end and drains.
	stopped, stop := context.WithCancel(ctx)
	stop()
	p, err = New(Config{Role: RoleProcess, Store: st, Sector: u.Sector, Kafka: k, Values: schema.NewDecoder(&flakyRegistry{})})
	if err != nil {
		t.Fatal(err)
	}
	if sum, err = p.Run(stopped); err != nil {
		t.Fatalf("second run: %v (summary %+v)", err, sum)
	}
	if sum.Consumed != 2*n || sum.Bad != 0 || sum.Duplicates+sum.Late != n {
		t.Errorf("second run: consumed %d, bad %d, duplicates %d, late %d; want %d consumed, none bad, the second copies duplicate or late",
			sum.Consumed, sum.Bad, sum.Duplicates, sum.Late, 2*n)
	}
	checkRows(t, st, trades)
	counts, err := st.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Trades != n {
		t.Errorf("the store holds %d trades, want %d", counts.Trades, n)
	}
}
