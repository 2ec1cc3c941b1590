package main

import (
	"flag"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/feed"
)

// checkErrorLine fails unless err is one non-empty line: every bad value
// on the command line or in the environment is answered so.
func checkErrorLine(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("error %q is not one line", msg)
	}
}

// setValue sets a V to s, as the flag package does for --flag=s, starting
// from init. A rejection must be one line. What is accepted must read
// back: the value printed sets a fresh V to an equal value. It returns the
// value set and whether s was accepted.
func setValue[V any, P interface {
	*V
	flag.Value
}](t *testing.T, s string, init V, equal func(a, b V) bool) (V, bool) {
	t.Helper()
	v := init
	if err := P(&v).Set(s); err != nil {
		checkErrorLine(t, err)
		return v, false
	}
	printed := P(&v).String()
	var again V
	if err := P(&again).Set(printed); err != nil || !equal(again, v) {
		t.Fatalf("Set(%q) prints as %q, which sets %q (error %v)", s, printed, P(&again).String(), err)
	}
	return v, true
}

func same[V comparable](a, b V) bool { return a == b }

func FuzzRateValue(f *testing.F) {
	for _, s := range []string{"max", "MaX", "1000", "0.5", "1e-300", "0x1p4", "1_000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := setValue(t, s, rateValue(defaultRate), same[rateValue])
		if ok && (math.IsNaN(float64(r)) || r < 0 || r > feed.MaxRate) {
			t.Fatalf("rate %q accepted as %v, want max or (0, %g]", s, r, feed.MaxRate)
		}
	})
}

func FuzzSpeedValue(f *testing.F) {
	for _, s := range []string{"max", "1", "10", "0.001", "1e6", "1e6.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := setValue(t, s, speedValue(1), same[speedValue])
		if ok && (math.IsNaN(float64(v)) || v < 0 || v > 1e6) {
			t.Fatalf("speed %q accepted as %v, want max or (0, 1e6]", s, v)
		}
	})
}

func FuzzTimeValue(f *testing.F) {
	for _, s := range []string{"2026-01-02T15:00:00Z", "2026-01-02T15:00:00.123456789+05:30", "yesterday", "1971-01-01T00:00:00Z"} {
		f.Add(s)
	}
	equal := func(a, b timeValue) bool { return time.Time(a).Equal(time.Time(b)) }
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := setValue(t, s, timeValue{}, equal)
		if !ok {
			return
		}
		// The synthetic feed's trades take this clock: their times must be
		// valid trade times, which trade.Validate judges in UTC.
		tm := time.Time(v)
		if tm.Location() != time.UTC || tm.Year() < 1971 || tm.Year() > 2200 {
			t.Fatalf("start %q accepted as %v, want a UTC time from 1971 to 2200", s, tm)
		}
	})
}

func FuzzListValue(f *testing.F) {
	for _, s := range []string{"AAPL,MSFT", " a , ,b ", ",", "", "k1:9092"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := setValue(t, s, listValue{"x"}, slices.Equal[listValue])
		if !ok {
			return
		}
		if len(l) == 0 {
			t.Fatalf("%q accepted as an empty list", s)
		}
		for _, e := range l {
			if e == "" || e != strings.TrimSpace(e) || strings.Contains(e, ",") {
				t.Fatalf("%q accepted with the element %q", s, e)
			}
		}
	})
}

func FuzzDurationsValue(f *testing.F) {
	for _, s := range []string{"1s,1m", "1s, 1m ,1h", "0s", "-1s", "1.5s", "1s,,1m", "9223372036854775807ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := setValue(t, s, durationsValue{time.Second}, slices.Equal[durationsValue])
		if ok && len(d) == 0 {
			t.Fatalf("%q accepted as no durations", s)
		}
	})
}

// fileFlags are the flags whose value parse reads as a file.
var fileFlags = map[string]bool{
	"finnhub-key-file": true, "kafka-password-file": true, "cassandra-password-file": true,
	"kafka-tls-ca": true, "kafka-tls-cert": true, "kafka-tls-key": true,
	"cassandra-tls-ca": true, "cassandra-tls-cert": true, "cassandra-tls-key": true,
}

// readable reports whether path is safe for the fuzzer to have parse read:
// not a device, pipe or socket, nor a kernel file that may block.
func readable(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		return true // the read fails at once too
	}
	if !st.Mode().IsRegular() && !st.IsDir() {
		return false
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	for _, dir := range []string{"/proc", "/sys", "/dev"} {
		if abs == dir || strings.HasPrefix(abs, dir+"/") {
			return false
		}
	}
	return true
}

// FuzzParseFlag gives parse one flag's value, on the command line and in
// its TRADETOP_ variable. Both ways must agree; a rejection is one line,
// and an accepted value reads back: what the flag prints parses again to
// the same.
func FuzzParseFlag(f *testing.F) {
	var o options
	var names []string
	flags(&o).VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	for _, s := range [][2]string{
		{"rate", "max"}, {"windows", "1s,7s"}, {"brokers", "k1:9092, k2:9093"}, {"cassandra", "db:0"},
		{"start", "2026-01-02T15:00:00Z"}, {"no-ui", "maybe"}, {"count", "0x10"}, {"source", "replay:"},
		{"kafka-password-file", "/nonexistent/pw"}, {"cassandra-replication", "NetworkTopologyStrategy:dc1=3,dc2=0"},
		{"summary", "json"}, {"partitions", "99999999999999999999"},
		{"kafka-tls-ca", "/nonexistent/a\nb.pem"}, {"cassandra-password-file", "/nonexistent/pw\r\nfile"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		if !slices.Contains(names, name) {
			h := fnv.New32a()
			h.Write([]byte(name))
			name = names[h.Sum32()%uint32(len(names))]
		}
		if fileFlags[name] && !readable(value) {
			t.Skip("not a file to read")
		}
		_, fs, _, err := parse([]string{"--" + name + "=" + value}, env(nil))
		var printed string
		if err != nil {
			checkErrorLine(t, err)
		} else {
			printed = fs.Lookup(name).Value.String()
			_, fs2, _, err := parse([]string{"--" + name + "=" + printed}, env(nil))
			if err != nil || fs2.Lookup(name).Value.String() != printed {
				t.Fatalf("--%s=%q prints as %q, which does not parse to the same: %v", name, value, printed, err)
			}
		}
		if value == "" {
			return // an empty variable is an unset one
		}
		variable := envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		_, fs, _, envErr := parse(nil, env(map[string]string{variable: value}))
		switch {
		case (envErr == nil) != (err == nil):
			t.Fatalf("--%s=%q: %v, but %s: %v", name, value, err, variable, envErr)
		case envErr != nil:
			checkErrorLine(t, envErr)
		case fs.Lookup(name).Value.String() != printed:
			t.Fatalf("--%s=%q sets %q, %s sets %q", name, value, printed, variable, fs.Lookup(name).Value.String())
		}
	})
}
