package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/agg"
)

// TestCandlesUpAndDownDifferWithoutColour draws a rising and a falling
// candle of the same range with colours off: their bodies are drawn with
// different glyphs, hollow lines rising and solid blocks falling.
func TestCandlesUpAndDownDifferWithoutColour(t *testing.T) {
	p := &detailPane{st: asciiStyles(), interval: time.Minute, now: t0}
	p.SetSize(80, 30)
	p.candles = []agg.Candle{
		{Start: t0, Interval: time.Minute, Open: 10, Close: 14, High: 15, Low: 9, Volume: 100},
		{Start: t0.Add(time.Minute), Interval: time.Minute, Open: 14, Close: 10, High: 15, Low: 9, Volume: 100},
	}
	p.drawCandles()
	// The price chart's lines have the price axis at their tenth cell.
	var lines [][]rune
	for _, l := range p.candleV {
		if r := []rune(ansi.Strip(l)); len(r) > 9 && strings.ContainsRune("┤│", r[9]) {
			lines = append(lines, r)
		}
	}
	// column returns the glyphs drawn in column x of the price chart.
	column := func(x int) string {
		var b strings.Builder
		for _, l := range lines {
			if x < len(l) && l[x] != ' ' {
				b.WriteRune(l[x])
			}
		}
		return b.String()
	}
	// The two candles are the last columns but one and three of the chart.
	var up, down string
	for x := len(lines[0]) - 1; x > 9 && (up == "" || down == ""); x-- {
		if c := column(x); strings.ContainsAny(c, "┃╹╻╿╽█▀▄") {
			if down == "" {
				down = c
			} else {
				up = c
			}
		}
	}
	const solid, hollow = "█▀▄", "┃╹╻╿╽"
	if !strings.ContainsAny(up, hollow) || strings.ContainsAny(up, solid) {
		t.Errorf("the rising candle is drawn %q, want hollow lines", up)
	}
	if !strings.ContainsAny(down, solid) || strings.ContainsAny(down, hollow) {
		t.Errorf("the falling candle is drawn %q, want solid blocks", down)
	}
}
