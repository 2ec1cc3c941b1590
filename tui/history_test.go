package tui

import (
	"slices"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/state"
)

func TestHistory(t *testing.T) {
	h := newHistory()
	// Two snapshots a second for 100 seconds, with a 5-second gap at 50.
	for ms := 0; ms <= 100_000; ms += 500 {
		if ms > 50_000 && ms < 55_000 {
			continue
		}
		sec := float64(ms) / 1000
		h.record(&state.Snapshot{Time: t0.Add(time.Duration(ms) * time.Millisecond), Symbols: []agg.SymbolStats{
			{Symbol: "A", Last: 100 + sec, Volume: 10 * sec, Count: int64(2 * sec)},
		}})
	}
	if h.span() != 101 {
		t.Errorf("span %d, want 101 seconds", h.span())
	}
	vol, rate := h.volumeOver("A", 60)
	// From the sample of second 40 (taken at 40.5s) to now.
	if vol != 595 || rate < 1.99 || rate > 2.01 {
		t.Errorf("last minute: volume %.1f rate %.2f, want 595 and 2/s", vol, rate)
	}
	if v, r := h.volumeOver("B", 60); v != 0 || r != 0 {
		t.Errorf("an unknown symbol has volume %v", v)
	}
	// 20 columns of the 101 seconds: 10 seconds a column (5 is too few).
	step := h.sparkStep(20)
	if step != 10 {
		t.Fatalf("step %d, want 10", step)
	}
	cols := h.columns(nil, "A", 20, step)
	if len(cols) != 11 || cols[len(cols)-1] != 200 || !slices.IsSorted(cols) {
		t.Errorf("columns %v", cols)
	}
	// Gap seconds carry the price before them.
	pts := h.points("A", 60)
	for _, p := range pts {
		if s := p.t.Sub(t0).Seconds(); s > 50 && s < 55 && p.price != 150.5 {
			t.Errorf("in the gap at %.1fs the price is %v, want 150.5 carried", s, p.price)
		}
	}
	// A jump past the whole history starts it again.
	h.record(&state.Snapshot{Time: t0.Add(time.Hour), Symbols: []agg.SymbolStats{{Symbol: "A", Last: 1}}})
	if h.span() != 1 || len(h.points("A", histLen)) != 1 {
		t.Errorf("after an hour's gap: span %d", h.span())
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{fmtInt(0), "0"}, {fmtInt(999), "999"}, {fmtInt(1000), "1,000"}, {fmtInt(-1234567), "-1,234,567"},
		{fmtCompact(950), "950"}, {fmtCompact(12345), "12.3k"}, {fmtCompact(4_560_000), "4.56M"},
		{fmtPct(1.234), "+1.23%"}, {fmtPct(-0.5), "-0.50%"},
		{fmtUptime(3723 * time.Second), "1:02:03"}, {fmtAge(1500 * time.Millisecond), "1.5s"}, {fmtAge(185 * time.Second), "3m05s"},
		{fmtSpan(40 * time.Second), "40s"}, {fmtSpan(2 * time.Minute), "2m"},
		{fmtPrice(0.12345), "0.1235"}, {fmtPrice(189.2), "189.20"},
		{fmtSize(100), "100"}, {fmtSize(0.125), "0.125"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestWidthAgreesWithAnsi(t *testing.T) {
	st := NewStyles(nil)
	for _, s := range []string{"", "abc", "▁▂█ ┃ ⣿ ● ▸ … · —", st.Up.Render("+1.2%") + " x", "日本", "e\u0301", "\x1b]8;;http://x\x07link\x1b]8;;\x07"} {
		if got, want := width(s), widthAnsi(s); got != want {
			t.Errorf("width(%q) = %d, want %d", s, got, want)
		}
	}
}
