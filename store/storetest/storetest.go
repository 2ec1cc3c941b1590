// Package storetest gives tests against a real Cassandra a keyspace of
// their own.
package storetest

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// Keyspace returns a fresh keyspace name starting with prefix, dropped on
// hosts when the test ends.
func Keyspace(t testing.TB, hosts []string, prefix string) string {
	t.Helper()
	ks := prefix + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		s, err := open(hosts)
		if err != nil {
			t.Logf("dropping %s: %v", ks, err)
			return
		}
		defer s.Close()
		if err := s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec(); err != nil {
			t.Logf("dropping %s: %v", ks, err)
		}
	})
	return ks
}

// Session opens a session on hosts that reads at LOCAL_QUORUM, or fails
// the test. The caller closes it.
func Session(t testing.TB, hosts []string) *gocql.Session {
	t.Helper()
	s, err := open(hosts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func open(hosts []string) (*gocql.Session, error) {
	c := gocql.NewCluster(hosts...)
	c.Timeout = 30 * time.Second
	c.Consistency = gocql.LocalQuorum
	return c.CreateSession()
}
