package proc

import (
	"strconv"
	"strings"
	"time"
)

// Line is one line of tradetop's log as slog's text handler writes it:
// key=value pairs, values bare or quoted as Go strings, time, level and msg
// first. The status line is the one with msg=status.
type Line struct {
	Raw   string            // the line as written
	Time  time.Time         // time=
	Level string            // level=: DEBUG, INFO, WARN or ERROR
	Msg   string            // msg=
	Attrs map[string]string // every pair, time, level and msg included
}

// Int is the attribute k as an integer, 0 when it is missing or not one.
func (l Line) Int(k string) int64 {
	n, _ := strconv.ParseInt(l.Attrs[k], 10, 64)
	return n
}

// ParseLine parses one line of the log. ok is false for a line that is not
// slog's: one without a time= it can read.
func ParseLine(s string) (l Line, ok bool) {
	attrs := parseLogfmt(s)
	at, err := time.Parse(time.RFC3339Nano, attrs["time"])
	if err != nil {
		return Line{}, false
	}
	return Line{Raw: s, Time: at, Level: attrs["level"], Msg: attrs["msg"], Attrs: attrs}, true
}

// ParseLog parses each line of log, leaving out the lines that are not
// slog's.
func ParseLog(log string) []Line {
	var out []Line
	for s := range strings.Lines(log) {
		if l, ok := ParseLine(strings.TrimSuffix(s, "\n")); ok {
			out = append(out, l)
		}
	}
	return out
}

// parseLogfmt reads key=value pairs, values bare or quoted as Go strings.
func parseLogfmt(line string) map[string]string {
	out := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		k, rest, ok := strings.Cut(line, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end+1, len(rest))
			v, line = rest[:end], rest[end:]
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
		} else {
			v, line, _ = strings.Cut(rest, " ")
		}
		out[k] = v
	}
	return out
}
