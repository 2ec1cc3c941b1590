package cassandra

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/auth"
	"github.com/tradetop/tradetop/auth/authtest"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/store"
)

// cassandraTLSEnv returns the hosts of the test cluster on a port that takes
// TLS only (TRADETOP_E2E_CASSANDRA_TLS), the same nodes in plaintext
// (TRADETOP_E2E_CASSANDRA, for making and dropping keyspaces) and the CA
// file that signs their certificate, or skips the test (under CI=true,
// fails it).
func cassandraTLSEnv(t *testing.T) (tlsHosts, plainHosts []string, caFile string) {
	t.Helper()
	v := e2e.Need(t, "a Cassandra with a port that takes TLS only, its plaintext port and the CA file that signs its certificate",
		"TRADETOP_E2E_CASSANDRA_TLS", "TRADETOP_E2E_CASSANDRA", "TRADETOP_E2E_TLS_CA")
	return strings.Split(v[0], ","), strings.Split(v[1], ","), v[2]
}

// openTLS opens a store on ks over TLS, trusting the authorities in caFile
// as the command does with --cassandra-tls-ca.
func openTLS(t *testing.T, hosts []string, ks, caFile string) (*Store, error) {
	t.Helper()
	tlsCfg, err := auth.TLS{CAFile: caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return Open(ctx, Config{Hosts: hosts, Keyspace: ks, TLS: tlsCfg, Timeout: 20 * time.Second})
}

func TestTLSCassandra(t *testing.T) {
	hosts, plain, ca := cassandraTLSEnv(t)
	c, err := openTLS(t, hosts, testKeyspace(t, plain), ca)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustWrite(t, c, &store.Batch{
		Trades:  trades("AAPL", "a", day0.Add(time.Hour), 150),
		Candles: []agg.Candle{candle("AAPL", time.Minute, day0.Add(time.Hour), 187.5)},
	})
	n, err := c.TradeCount(t.Context(), "AAPL", day0)
	if err != nil || n != 150 {
		t.Errorf("TradeCount = %d, %v; want 150", n, err)
	}
	cs, err := c.RecentCandles(t.Context(), "AAPL", time.Minute, 5)
	if err != nil || len(cs) != 1 || cs[0].Open != 187.5 {
		t.Errorf("RecentCandles = %+v, %v; want the one candle written", cs, err)
	}
}

func TestTLSCassandraWrongCA(t *testing.T) {
	hosts, plain, _ := cassandraTLSEnv(t)
	wrong, _ := authtest.New(t).WriteFiles(t, t.TempDir())
	start := time.Now()
	c, err := openTLS(t, hosts, testKeyspace(t, plain), wrong)
	took := time.Since(start)
	t.Logf("failed after %v: %v", took.Round(time.Millisecond), err)
	if err == nil {
		c.Close()
		t.Fatal("opened a store over TLS whose certificate no trusted authority signed")
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "not trusted") {
		t.Errorf("error %q does not say that the certificate is not trusted", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q is more than one line", err)
	}
	// One connect timeout per host and protocol version gocql tries, not
	// the two minutes of the context.
	if b := e2e.Bound(t, 30*time.Second); took > b {
		t.Errorf("took %v to fail, want under %v", took, b)
	}
}

// TestTLSPortRefusesPlaintext checks the premise of the TLS tests: the port
// they use takes TLS only, so a test that passes there used TLS.
func TestTLSPortRefusesPlaintext(t *testing.T) {
	hosts, plain, _ := cassandraTLSEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Open(ctx, Config{Hosts: hosts, Keyspace: testKeyspace(t, plain), Timeout: 10 * time.Second})
	if err == nil {
		c.Close()
		t.Fatalf("a plaintext client opened a store on %v, the TLS port", hosts)
	}
	t.Logf("refused as it should be: %v", err)
}
