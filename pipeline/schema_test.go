package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/schema"
)

// flakyRegistry fails its first fails lookups as a registry that cannot be
// reached does, then knows trade.avsc as id 5.
type flakyRegistry struct {
	fails int64
	calls atomic.Int64
}

func (r *flakyRegistry) Schema(id uint32) (string, error) {
	if r.calls.Add(1) <= r.fails {
		return "", fmt.Errorf("%w: connection refused", schema.ErrUnavailable)
	}
	if id != 5 {
		return "", fmt.Errorf("no schema %d", id)
	}
	return schema.Text, nil
}

// TestRegistryOutageHoldsThePartition writes registry-framed Avro and reads
// it while the registry fails its first lookups: the partitions wait and
// retry, and every trade is stored once, none dead-lettered.
func TestRegistryOutageHoldsThePartition(t *testing.T) {
	const n = 3000
	trades := generated(t, synthetic(t, 11, n))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := tempSQLite(t)
	reg := &flakyRegistry{fails: 3}
	cfg := Config{Source: synthetic(t, 11, n), Store: st, Sector: feed.DefaultUniverse().Sector, Values: schema.NewDecoder(reg)}
	cfg.Kafka.Values = schema.NewEncoder(schema.Avro, 5)
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v (summary %+v)", err, sum)
	}
	if sum.StoredTrades != n || sum.Bad != 0 || sum.Late != 0 {
		t.Errorf("stored %d, bad %d, late %d; want %d stored, none dead-lettered or late", sum.StoredTrades, sum.Bad, sum.Late, n)
	}
	if sum.Errors != reg.fails {
		t.Errorf("%d errors, want the registry's %d failures", sum.Errors, reg.fails)
	}
	checkRows(t, st, trades)
}
