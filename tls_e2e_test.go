package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/auth/authtest"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/store/storetest"
)

// tlsClusters returns the SSL listener of a real Kafka, the hosts of a real
// Cassandra on a port that takes TLS only, the same nodes in plaintext (to
// read what a run stored, apart from its TLS session) and the CA file that
// signs both servers' certificates, or skips the test (under CI=true, fails
// it).
func tlsClusters(t *testing.T) (brokers, hosts, plain, ca string) {
	t.Helper()
	v := e2e.Need(t, "Kafka's SSL listener, Cassandra's TLS-only and plaintext ports and their CA file",
		"TRADETOP_E2E_KAFKA_TLS", "TRADETOP_E2E_CASSANDRA_TLS", "TRADETOP_E2E_CASSANDRA", "TRADETOP_E2E_TLS_CA")
	return v[0], v[1], v[2], v[3]
}

// TestTLSCommandOnRealClusters runs the command headless with TLS to both
// Kafka and Cassandra, as a user would, on a pinned synthetic feed, then
// reads the keyspace it leaves: it must hold every trade of the input once
// and exactly the candles and sector windows those trades make.
func TestTLSCommandOnRealClusters(t *testing.T) {
	brokers, hosts, plain, ca := tlsClusters(t)
	const seed, start, n = 11, "2026-03-02T14:30:00Z", 2000
	cluster := strings.Split(plain, ",")
	name := storetest.Keyspace(t, cluster, "cli_tls_")
	var out, errOut bytes.Buffer
	code := run([]string{
		"--no-ui",
		"--kafka-tls", "--kafka-tls-ca", ca, "--brokers", brokers,
		"--cassandra-tls", "--cassandra-tls-ca", ca, "--cassandra", hosts,
		"--keyspace", name, "--topic", name, "--group", name,
		"--count", strconv.Itoa(n), "--rate", "max", "--seed", strconv.Itoa(seed), "--start", start,
		// A bound: a run that stalls stops here and fails, rather than
		// holding the test until go test's own timeout.
		"--duration", "3m",
		"--summary", "json", "--data-dir", t.TempDir(),
	}, env(nil), &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}

	// The keyspace is read on the plaintext port, apart from the
	// command's TLS session on the TLS-only one.
	got := storetest.ReadCassandra(t, cluster, name)
	storetest.Check(t, "TLS to Kafka and Cassandra", got, storetest.Reference(syntheticInput(t, seed, start, n), defaultRunWindows))

	var sum pipeline.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary %q: %v", out.String(), err)
	}
	if sum.Produced != n || sum.StoredTrades != got.Rows || sum.Errors != 0 {
		t.Errorf("summary %+v: want %d produced, the %d trade rows of the keyspace stored, no errors", sum, n, got.Rows)
	}
	if !strings.Contains(sum.Broker, brokers) || !strings.HasSuffix(sum.Store, "/"+name) {
		t.Errorf("summary names broker %q and store %q, want %s and keyspace %s", sum.Broker, sum.Store, brokers, name)
	}
}

// TestTLSCommandWrongCA checks that a CA that does not sign the server's
// certificate ends the command at once with one line that says so and names
// the flag to fix.
func TestTLSCommandWrongCA(t *testing.T) {
	brokers, hosts, plain, ca := tlsClusters(t)
	wrong, _ := authtest.New(t).WriteFiles(t, t.TempDir())
	tests := []struct {
		name string
		args []string
		flag string // the flag the line must name
	}{
		// Without --cassandra the store is SQLite. The progress log goes
		// to stderr with --no-ui: at warn, only what goes wrong does.
		{"kafka", []string{"--kafka-tls-ca", wrong, "--brokers", brokers, "--log-level", "warn"}, "--kafka-tls-ca"},
		// The store is opened first, so Cassandra fails before anything
		// is logged.
		{"cassandra", []string{"--kafka-tls-ca", ca, "--brokers", brokers, "--cassandra-tls-ca", wrong, "--cassandra", hosts}, "--cassandra-tls-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := storetest.Keyspace(t, strings.Split(plain, ","), "cli_tls_")
			args := append([]string{
				"--no-ui", "--keyspace", name, "--topic", name, "--group", name,
				"--count", "2000", "--rate", "max", "--summary", "none", "--data-dir", t.TempDir(),
			}, tt.args...)
			var out, errOut bytes.Buffer
			start := time.Now()
			code := run(args, env(nil), &out, &errOut)
			took := time.Since(start)
			t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), errOut.String())
			if code == exitOK {
				t.Fatal("the command succeeded")
			}
			lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "not trusted") || !strings.Contains(lines[0], tt.flag) {
				t.Errorf("stderr %q: want one line saying the certificate is not trusted and naming %s", errOut.String(), tt.flag)
			}
			if b := e2e.Bound(t, 30*time.Second); took > b {
				t.Errorf("took %v to fail, want under %v", took, b)
			}
		})
	}
}
