package store

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
)

// cassandraTLSEnv returns the hosts of the test cluster and the CA file that
// signs their certificate, or skips the test. scripts/devstack's Cassandra
// takes TLS and plaintext on one port, so TRADETOP_E2E_CASSANDRA serves
// both these tests and the plaintext ones.
func cassandraTLSEnv(t *testing.T) (hosts []string, caFile string) {
	t.Helper()
	v := e2e.Need(t, "a Cassandra that takes TLS and the CA file that signs its certificate, e.g. from scripts/devstack up", "TRADETOP_E2E_CASSANDRA", "TRADETOP_E2E_TLS_CA")
	return strings.Split(v[0], ","), v[1]
}

// openTLS opens a store on ks over TLS, trusting the authorities in caFile
// as the command does with --cassandra-tls-ca.
func openTLS(t *testing.T, hosts []string, ks, caFile string) (*Cassandra, error) {
	t.Helper()
	tlsCfg, err := auth.TLS{CAFile: caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return OpenCassandra(ctx, CassandraConfig{Hosts: hosts, Keyspace: ks, TLS: tlsCfg, Timeout: 20 * time.Second})
}

func TestTLSCassandra(t *testing.T) {
	hosts, ca := cassandraTLSEnv(t)
	c, err := openTLS(t, hosts, testKeyspace(t, hosts), ca)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustWrite(t, c, &Batch{
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
	hosts, _ := cassandraTLSEnv(t)
	wrong, _ := authtest.New(t).WriteFiles(t, t.TempDir())
	start := time.Now()
	c, err := openTLS(t, hosts, testKeyspace(t, hosts), wrong)
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
	if took > 30*time.Second {
		t.Errorf("took %v to fail", took)
	}
}
