package cassandra

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// checkErrorLine fails unless err is one non-empty line: how every bad
// config value is answered.
func checkErrorLine(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("error %q is not one line", msg)
	}
}

// FuzzParseReplication checks --cassandra-replication: an accepted value is
// valid, prints as a value that parses to the same, and makes a CQL map
// whose only quotes are its own.
func FuzzParseReplication(f *testing.F) {
	for _, s := range []string{"SimpleStrategy:3", "simplestrategy:+1", "NetworkTopologyStrategy:dc1=3,dc2=2", "NetworkTopologyStrategy:dc1=0", "NetworkTopologyStrategy:dc'1=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReplication(s)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("%q parsed to the invalid %+v: %v", s, r, err)
		}
		again, err := ParseReplication(r.String())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("%q parsed to %+v, which prints as %q, which parses to %+v, %v", s, r, r.String(), again, err)
		}
		cql := r.cql()
		want := 6 // 'class': 'SimpleStrategy', 'replication_factor'
		if r.Class == NetworkTopologyStrategy {
			want = 4 + 2*len(r.DataCenters)
		}
		if got := strings.Count(cql, "'"); got != want || strings.ContainsAny(cql, "\\;\n") {
			t.Fatalf("%q makes the CQL map %s", s, cql)
		}
	})
}

// FuzzParseConsistency checks --consistency: an accepted level is one a
// Config takes, and its name parses back to it.
func FuzzParseConsistency(f *testing.F) {
	for _, s := range []string{"LOCAL_QUORUM", "one", "ANY", "serial", "Local_One", "ıone"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConsistency(s)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		if again, err := ParseConsistency(c.String()); err != nil || again != c {
			t.Fatalf("%q parsed to %v, whose name parses to %v, %v", s, c, again, err)
		}
		if err := (Config{Hosts: []string{"db"}, Consistency: c}).Validate(); err != nil {
			t.Fatalf("%q parsed to %v, which a Config refuses: %v", s, c, err)
		}
	})
}

// FuzzValidateKeyspace checks --keyspace: it is written into CQL unquoted,
// so an accepted name is a plain identifier.
func FuzzValidateKeyspace(f *testing.F) {
	for _, s := range []string{"tradetop", "my-ks", "a;DROP KEYSPACE x", "_x", strings.Repeat("k", 49), "ks\u0130"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateKeyspace(s)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		if len(s) == 0 || len(s) > 48 || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
			t.Fatalf("keyspace %q accepted", s)
		}
		for _, c := range []byte(s) {
			if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z') {
				t.Fatalf("keyspace %q accepted with %q in it", s, c)
			}
		}
	})
}

// FuzzValidateCassandraHost checks one --cassandra contact point: an
// accepted one is a printable host without spaces, with a port in range
// when it names one.
func FuzzValidateCassandraHost(f *testing.F) {
	for _, s := range []string{"db", "db:9042", "[::1]:9042", "::1", "cql://db", "db:0", "db:", "user@db", "d\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateHost(s)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		if s == "" || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			t.Fatalf("host %q accepted", s)
		}
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			if n, err := strconv.Atoi(s[i+1:]); err != nil || n < 1 || n > 65535 {
				t.Fatalf("host %q accepted with a bad port", s)
			}
		}
	})
}
