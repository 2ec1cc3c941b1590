package store

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/store/internal/rowkey"
)

func TestIntervalName(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"one second", time.Second, "1s"},
		{"five seconds", 5 * time.Second, "5s"},
		{"61 seconds", 61 * time.Second, "61s"},
		{"one minute", time.Minute, "1m"},
		{"90 minutes", 90 * time.Minute, "90m"},
		{"one hour", time.Hour, "1h"},
		{"36 hours", 36 * time.Hour, "36h"},
		{"one day", 24 * time.Hour, "1d"},
		{"a week", 7 * 24 * time.Hour, "7d"},
		{"largest whole seconds", math.MaxInt64 / time.Second * time.Second, "9223372036s"},
		// No storage encoding: IntervalName falls back to String.
		{"zero", 0, "0s"},
		{"negative", -time.Minute, "-1m0s"},
		{"fractional", 1500 * time.Millisecond, "1.5s"},
		{"sub-second", time.Millisecond, "1ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IntervalName(tt.d); got != tt.want {
				t.Errorf("IntervalName(%v) = %q, want %q", tt.d, got, tt.want)
			}
			d, err := ParseInterval(tt.want)
			_, encodable := rowkey.Interval(tt.d)
			switch {
			case encodable == nil && (err != nil || d != tt.d):
				t.Errorf("ParseInterval(%q) = %v, %v; want %v", tt.want, d, err, tt.d)
			case encodable != nil && err == nil:
				t.Errorf("ParseInterval(%q) = %v, want an error", tt.want, d)
			}
		})
	}
}

func TestParseInterval(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "1s", want: time.Second},
		{in: "60s", want: time.Minute},
		{in: "15m", want: 15 * time.Minute},
		{in: "24h", want: 24 * time.Hour},
		{in: "2d", want: 48 * time.Hour},
		{in: "106751d", want: 106751 * 24 * time.Hour},
		{in: "", wantErr: true},
		{in: "s", wantErr: true},
		{in: "1", wantErr: true},
		{in: "0s", wantErr: true},
		{in: "00s", wantErr: true},
		{in: "01m", wantErr: true},
		{in: "-1s", wantErr: true},
		{in: "+1s", wantErr: true},
		{in: "1.5s", wantErr: true},
		{in: " 1s", wantErr: true},
		{in: "1ms", wantErr: true},
		{in: "1w", wantErr: true},
		{in: "1S", wantErr: true},
		{in: "106752d", wantErr: true},
		{in: "99999999999999999999s", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseInterval(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseInterval(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseInterval(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// checkErrorLine fails unless err is one non-empty line: how every bad
// value is answered.
func checkErrorLine(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("error %q is not one line", msg)
	}
}

// FuzzParseInterval checks the stored name of a candle window: what parses
// is positive and prints (IntervalName) as a name that parses to the same.
func FuzzParseInterval(f *testing.F) {
	for _, s := range []string{"1s", "60s", "1d", "0s", "01m", "9223372036s", "s", "1x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseInterval(s)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		if d <= 0 {
			t.Fatalf("%q parsed to %v", s, d)
		}
		if again, err := ParseInterval(IntervalName(d)); err != nil || again != d {
			t.Fatalf("%q parsed to %v, named %q, which parses to %v, %v", s, d, IntervalName(d), again, err)
		}
	})
}
