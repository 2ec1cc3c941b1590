package bus

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
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

// holdsSecret reports whether s holds password, raw, URL-escaped or in
// base64. A password too short to be told from other text is not looked for.
func holdsSecret(s, password string) bool {
	if len(password) < 6 {
		return false
	}
	for _, form := range []string{
		password,
		url.QueryEscape(password),
		base64.StdEncoding.EncodeToString([]byte(password)),
		base64.RawStdEncoding.EncodeToString([]byte(password)),
	} {
		if strings.Contains(s, form) {
			return true
		}
	}
	return false
}

// FuzzSASLMechanism checks --kafka-sasl with a user and a password: a
// rejection is one line, an accepted mechanism is the one named, and
// neither an error nor the mechanism printed in any way shows the password
// where the same made with a stand-in password does not.
func FuzzSASLMechanism(f *testing.F) {
	for _, s := range [][3]string{
		{"none", "", ""}, {"plain", "alice", "s3cret-Pa55"}, {"SCRAM-SHA-512", "alice", "s3cret-Pa55"},
		{"scram-sha-256", "", "s3cret-Pa55"}, {"md5", "alice", "s3cret-Pa55"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, name, user, password string) {
		// The stand-in is refused by SCRAM's SASLprep exactly when the
		// password is, so that both take the same path.
		standIn := "stand-in"
		if _, err := SASLMechanism("scram-sha-256", "u", password); err != nil {
			standIn = "\a"
		}
		leaks := func(out, ref string) bool { return holdsSecret(out, password) && !holdsSecret(ref, password) }
		m, err := SASLMechanism(name, user, password)
		ref, refErr := SASLMechanism(name, user, standIn)
		if err != nil {
			checkErrorLine(t, err)
			if refErr == nil {
				t.Fatalf("%q refused with %v, but not with a stand-in password", password, err)
			}
			if leaks(err.Error(), refErr.Error()) {
				t.Fatalf("the error shows the password %q: %v", password, err)
			}
			return
		}
		want := strings.ToUpper(name)
		switch want {
		case "", "NONE":
			if m != nil {
				t.Fatalf("%q gave a mechanism %v", name, m)
			}
			return
		}
		if m == nil || m.Name() != want || ref == nil {
			t.Fatalf("%q gave the mechanism %v", name, m)
		}
		for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			if s := fmt.Sprintf(format, m); leaks(s, fmt.Sprintf(format, ref)) {
				t.Fatalf("%s of the mechanism shows the password: %s", format, s)
			}
		}
	})
}

// FuzzValidateBroker checks one --brokers address: an accepted one is a
// host of plain characters and a port in range.
func FuzzValidateBroker(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9092", "[::1]:9092", "kafka-1.example.com:65535", "localhost", ":9092", "k:0", "k:99999", "u@k:1", "k\n:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateBroker(s)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		i := strings.LastIndexByte(s, ':')
		if i < 1 {
			t.Fatalf("broker %q accepted without host:port", s)
		}
		host := strings.Trim(s[:i], "[]")
		if host == "" || strings.ContainsFunc(host, func(r rune) bool {
			return !(r == '.' || r == '-' || r == ':' || r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
		}) {
			t.Fatalf("broker %q accepted with the host %q", s, host)
		}
		if n, err := strconv.Atoi(s[i+1:]); err != nil || n < 1 || n > 65535 {
			t.Fatalf("broker %q accepted with a bad port", s)
		}
	})
}

// FuzzTopicName checks --topic: an accepted name is one Kafka takes, and a
// Config refuses a name exactly when the check does, or when its dead-letter
// topic's name would be too long.
func FuzzTopicName(f *testing.F) {
	for _, s := range []string{"trades", "trades.dlq", ".", "..", "a b", "tr\u00e4des", strings.Repeat("t", 249), strings.Repeat("t", 246)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateTopic(s)
		cfgErr := Config{Topic: s}.Validate()
		if err != nil {
			checkErrorLine(t, err)
			if s != "" && cfgErr == nil {
				t.Fatalf("topic %q: %v, yet a Config takes it", s, err)
			}
			return
		}
		if len(s) == 0 || len(s) > 249 || s == "." || s == ".." {
			t.Fatalf("topic %q accepted", s)
		}
		for _, c := range []byte(s) {
			if !(c == '.' || c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				t.Fatalf("topic %q accepted with %q in it", s, c)
			}
		}
		if (cfgErr == nil) != (len(s+".dlq") <= 249) {
			t.Fatalf("topic %q: a Config says %v", s, cfgErr)
		}
		if cfgErr != nil {
			checkErrorLine(t, cfgErr)
		}
	})
}
