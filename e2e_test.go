package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
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

// TestCommandOnPostgres runs the command headless against real Kafka and
// PostgreSQL, reads the tables back with psql, as an operator would, and
// compares every row with what the pinned input says. volume_today is
// checked against the sectors' totals of the input's day, which is today.
func TestCommandOnPostgres(t *testing.T) {
	brokers := e2e.Need(t, "a Kafka, e.g. from scripts/devstack up", "TRADETOP_E2E_KAFKA")[0]
	pg := storetest.NeedPostgres(t)
	if _, err := exec.LookPath("psql"); err != nil {
		e2e.Unavailable(t, "psql, PostgreSQL's client, is not installed")
	}
	const n, seed = 20000, 5
	// Today, so that the view of the current UTC day holds the run; an
	// hour back, so that every window has closed.
	start := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	if start.Day() != time.Now().UTC().Day() {
		start = time.Now().UTC().Truncate(24 * time.Hour) // the first hour of a day
	}
	schema := pg.Schema(t, "cli_")
	var out, errOut bytes.Buffer
	code := run([]string{
		"--no-ui", "--brokers", brokers, "--postgres", pg.DSN, "--postgres-schema", schema,
		"--topic", schema, "--group", schema, "--count", strconv.Itoa(n), "--rate", "max", "--seed", strconv.Itoa(seed),
		"--start", start.Format(time.RFC3339), "--summary", "json", "--data-dir", t.TempDir(),
	}, env(map[string]string{"TRADETOP_POSTGRES_PASSWORD": pg.Password}), &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var sum pipeline.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary %q: %v", out.String(), err)
	}
	if !strings.HasPrefix(sum.Store, "postgres ") || !strings.HasSuffix(sum.Store, " schema "+schema) {
		t.Errorf("summary names the store %q", sum.Store)
	}

	input := syntheticInput(t, seed, start.Format(time.RFC3339), n)
	storetest.Check(t, "postgres command run", storetest.ReadPostgres(t, pg, schema), storetest.Reference(input, defaultRunWindows))

	psql := func(query string) string {
		t.Helper()
		cmd := exec.Command("psql", "-X", "-v", "ON_ERROR_STOP=1", "-tA", "-F", " ", "-d", pg.DSN, "-c", "SET search_path = "+schema, "-c", query)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("psql %q: %v: %s", query, err, b)
		}
		return strings.TrimSpace(strings.TrimPrefix(string(b), "SET"))
	}
	if got := psql("SELECT count(DISTINCT trade_id) || ' ' || count(*) FROM trades"); got != fmt.Sprintf("%d %d", n, n) {
		t.Errorf("psql: distinct trade IDs and rows = %s, want %d of %d", got, n, n)
	}
	want := map[string]float64{}
	for _, tr := range input {
		want[defaultRunWindows.SectorOf(tr.Symbol)] += tr.Volume
	}
	var lines []string
	for _, sec := range slices.Sorted(maps.Keys(want)) {
		lines = append(lines, fmt.Sprintf("%s %s", sec, strconv.FormatFloat(want[sec], 'f', -1, 64)))
	}
	if got := psql("SELECT sector, volume FROM volume_today ORDER BY sector"); got != strings.Join(lines, "\n") {
		t.Errorf("psql: volume_today =\n%s\nwant the input's volume per sector:\n%s", got, strings.Join(lines, "\n"))
	}
}

// TestSectorPaneMatchesVolumeToday runs the pipeline as the command wires
// it with --postgres, and compares the sector pane's figures, from the
// last snapshot, with what psql reads from volume_today.
func TestSectorPaneMatchesVolumeToday(t *testing.T) {
	brokers := e2e.Need(t, "a Kafka, e.g. from scripts/devstack up", "TRADETOP_E2E_KAFKA")[0]
	pg := storetest.NeedPostgres(t)
	if _, err := exec.LookPath("psql"); err != nil {
		e2e.Unavailable(t, "psql, PostgreSQL's client, is not installed")
	}
	schema := pg.Schema(t, "pane_")
	// The feed on the wall clock, so that its trades fall on the day
	// volume_today shows.
	w := wired(t, []string{"--no-ui", "--brokers", brokers, "--postgres", pg.DSN, "--postgres-schema", schema,
		"--topic", schema, "--group", schema, "--count", "5000", "--rate", "max", "--sector-window", "1s"},
		map[string]string{"TRADETOP_POSTGRES_PASSWORD": pg.Password})
	p, err := pipeline.New(w.config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var pane []string
	for _, s := range p.Snapshot().Sectors {
		pane = append(pane, fmt.Sprintf("%s %s %d", s.Sector, strconv.FormatFloat(s.Volume, 'f', -1, 64), s.Count))
	}
	slices.Sort(pane)
	if len(pane) == 0 {
		t.Fatal("the sector pane is empty")
	}
	cmd := exec.Command("psql", "-X", "-v", "ON_ERROR_STOP=1", "-tA", "-F", " ", "-d", pg.DSN,
		"-c", "SELECT sector, volume, trades FROM "+schema+".volume_today ORDER BY sector")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v: %s", err, b)
	}
	if got := strings.TrimSpace(string(b)); got != strings.Join(pane, "\n") {
		t.Errorf("volume_today =\n%s\nthe sector pane shows:\n%s", got, strings.Join(pane, "\n"))
	}
}
