package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/store/storetest"
)

// TestCommandOnRealClusters runs the command as a user would, headless
// against real Kafka and Cassandra, and checks its summary against the rows
// Cassandra holds.
func TestCommandOnRealClusters(t *testing.T) {
	v := e2e.Need(t, "a Kafka and a Cassandra, e.g. from scripts/devstack up", "TRADETOP_E2E_KAFKA", "TRADETOP_E2E_CASSANDRA")
	brokers, hosts := v[0], v[1]
	const n = 20000
	name := storetest.Keyspace(t, strings.Split(hosts, ","), "cli_")
	var out, errOut bytes.Buffer
	code := run([]string{
		"--no-ui", "--brokers", brokers, "--cassandra", hosts, "--keyspace", name,
		"--topic", name, "--group", name, "--count", "20000", "--rate", "max", "--seed", "9",
		"--start", "2026-03-02T14:30:00Z", "--summary", "json", "--data-dir", t.TempDir(),
	}, env(nil), &out, &errOut)

	s := storetest.Session(t, strings.Split(hosts, ","))
	defer s.Close()
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var sum pipeline.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary %q: %v", out.String(), err)
	}
	if sum.StoredTrades != n || sum.Produced != n || sum.Errors != 0 {
		t.Errorf("summary %+v: want %d produced and stored, no errors", sum, n)
	}
	if !strings.HasPrefix(sum.Store, "cassandra ") || !strings.HasSuffix(sum.Store, "/"+name) {
		t.Errorf("summary names the store %q", sum.Store)
	}

	// count(*) per symbol and day, as an operator would check it.
	ctx := context.Background()
	iter := s.Query("SELECT DISTINCT symbol, day FROM " + name + ".trades").WithContext(ctx).Iter()
	var total int64
	var symbol string
	var day time.Time
	for iter.Scan(&symbol, &day) {
		var k int64
		if err := s.Query("SELECT count(*) FROM "+name+".trades WHERE symbol = ? AND day = ?", symbol, day).WithContext(ctx).Scan(&k); err != nil {
			t.Fatal(err)
		}
		total += k
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if total != n {
		t.Errorf("count(*) over every symbol and day = %d, want %d", total, n)
	}
}
