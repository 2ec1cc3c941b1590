// Package e2e is what the end-to-end tests share: the servers they need,
// named by environment variables, the rule that CI never goes green by
// skipping them, and a buffer a command or a logger may write while the
// test reads it. It imports no package of tradetop's, so that any test may
// use it; the harness that runs the command is package e2e/proc.
package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CI reports whether the tests run in CI (CI=true), where a test that
// cannot reach what it needs fails instead of skipping.
func CI() bool { return os.Getenv("CI") == "true" }

// Need returns the values of the environment variables names, in order.
// When one is unset the test is skipped, saying which and why (why says
// what they are, e.g. "a Kafka and a Cassandra, e.g. from scripts/devstack
// up"), or, under CI, fails.
func Need(t testing.TB, why string, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	var missing []string
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		Unavailable(t, strings.Join(missing, ", ")+" not set ("+why+"; see docs/devstack.md)")
	}
	return vals
}

// Unavailable skips the test because what it needs is not there, or,
// under CI, fails it.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if CI() {
		t.Fatalf("CI=true: %s", reason)
	}
	t.Skip(reason)
}

// Slow is the factor by which bounds on how long something may take are
// stretched on a slow or loaded machine: TRADETOP_TEST_SLOW, 1 when unset.
// A bad value fails the test.
func Slow(t testing.TB) float64 {
	t.Helper()
	s := os.Getenv("TRADETOP_TEST_SLOW")
	if s == "" {
		return 1
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 1 {
		t.Fatalf("TRADETOP_TEST_SLOW=%q: want a number, 1 or more", s)
	}
	return f
}

// Bound is d stretched by Slow.
func Bound(t testing.TB, d time.Duration) time.Duration {
	t.Helper()
	return time.Duration(float64(d) * Slow(t))
}
