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
		c := gocql.NewCluster(hosts...)
		c.Timeout = 30 * time.Second
		s, err := c.CreateSession()
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
