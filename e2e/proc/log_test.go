package proc

import (
	"bytes"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		ok    bool
		level string
		msg   string
		attrs map[string]string // besides time, level and msg
	}{
		{
			name:  "status",
			line:  `time=2026-03-02T14:30:01.250Z level=INFO msg=status kafka=ok store=down produced=1200 stored=800`,
			ok:    true,
			level: "INFO",
			msg:   "status",
			attrs: map[string]string{"kafka": "ok", "store": "down", "produced": "1200", "stored": "800"},
		},
		{
			name:  "quoted message and value",
			line:  `time=2026-03-02T14:30:01.25+01:00 level=WARN msg="kafka down" err="dial tcp: \"refused\" = no"`,
			ok:    true,
			level: "WARN",
			msg:   "kafka down",
			attrs: map[string]string{"err": `dial tcp: "refused" = no`},
		},
		{
			name:  "empty value",
			line:  `time=2026-03-02T14:30:01Z level=INFO msg=x empty= after=1`,
			ok:    true,
			level: "INFO",
			msg:   "x",
			attrs: map[string]string{"empty": "", "after": "1"},
		},
		{name: "not slog's", line: "tradetop: stopped before the drain finished: 3 of 9 produced trades not stored"},
		{name: "no time", line: "level=INFO msg=status"},
		{name: "empty", line: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, ok := ParseLine(tt.line)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if l.Raw != tt.line || l.Level != tt.level || l.Msg != tt.msg || l.Time.IsZero() {
				t.Errorf("got %+v", l)
			}
			attrs := maps.Clone(l.Attrs)
			for _, k := range []string{"time", "level", "msg"} {
				delete(attrs, k)
			}
			if !maps.Equal(attrs, tt.attrs) {
				t.Errorf("attrs %q, want %q", attrs, tt.attrs)
			}
		})
	}
}

// TestParseLogReadsSlog parses what slog's text handler writes, the
// format the parser is for, values that need quoting included.
func TestParseLogReadsSlog(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(slog.NewTextHandler(&b, nil))
	log.Info("status", "produced", 12, "kafka", "ok")
	b.WriteString("a line that is not slog's\n")
	log.Warn("store down", "err", `write "trades": timeout`, "since", 3*time.Second)
	lines := ParseLog(b.String())
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), b.String())
	}
	if s := lines[0]; s.Msg != "status" || s.Level != "INFO" || s.Int("produced") != 12 || s.Attrs["kafka"] != "ok" || s.Int("missing") != 0 {
		t.Errorf("status line %+v", s)
	}
	if w := lines[1]; w.Msg != "store down" || w.Level != "WARN" || w.Attrs["err"] != `write "trades": timeout` || w.Attrs["since"] != "3s" {
		t.Errorf("warning %+v", w)
	}
	if since := time.Since(lines[0].Time); since < 0 || since > time.Minute {
		t.Errorf("time %v, want now", lines[0].Time)
	}
}

// TestParseLogTakesLongLines parses a line longer than a bufio.Scanner
// takes by default, and the lines after it.
func TestParseLogTakesLongLines(t *testing.T) {
	long := strings.Repeat("x", 2<<20)
	log := "time=2026-03-02T14:30:01Z level=ERROR msg=big v=" + long + "\n" +
		"time=2026-03-02T14:30:02Z level=INFO msg=status stored=3" // no newline at the end
	lines := ParseLog(log)
	if len(lines) != 2 || lines[0].Attrs["v"] != long || lines[1].Int("stored") != 3 {
		t.Fatalf("%d lines, want the long one and the status line after it", len(lines))
	}
}
