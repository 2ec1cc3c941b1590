package agg

import (
	"strings"
	"testing"
	"time"
)

// FuzzValidateInterval checks a candle or sector window (--windows,
// --sector-window): a rejection is one line; an accepted window is a whole
// number of seconds dividing a day, which prints as a duration that parses
// back to it, and which an engine takes.
func FuzzValidateInterval(f *testing.F) {
	for _, d := range []time.Duration{0, -time.Second, 1, time.Second, 7 * time.Second, time.Minute, 24 * time.Hour, 48 * time.Hour,
		time.Second + 1, 1<<63 - 1, -1 << 63} {
		f.Add(int64(d))
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		if err := ValidateInterval(d); err != nil {
			if msg := err.Error(); strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error %q is not one line", msg)
			}
			return
		}
		if d <= 0 || d%time.Second != 0 || (24*time.Hour)%d != 0 {
			t.Fatalf("window %v accepted", d)
		}
		if again, err := time.ParseDuration(d.String()); err != nil || again != d {
			t.Fatalf("window %v prints as %q, which parses to %v, %v", d, d.String(), again, err)
		}
		if _, err := New(Config{Intervals: []time.Duration{d}, SectorInterval: d}, 0); err != nil {
			t.Fatalf("window %v accepted, but an engine refuses it: %v", d, err)
		}
	})
}
