package tui

import (
	"strconv"
	"strings"

	"github.com/tradetop/tradetop/trade"
)

// tapePane shows the latest trades, newest first, coloured by tick: up when
// a trade's price is above the symbol's previous trade, down when below.
type tapePane struct {
	st     *Styles
	empty  string // why the tape is empty, when not for want of trades
	w, h   int
	offset int
	rows   []tapeRow
	ticks  map[string]int8    // by trade ID, for trades on the last tape
	last   map[string]float64 // each symbol's latest price seen on a tape
}

type tapeRow struct {
	trade.Trade
	tick int8
}

// maxTapeSymbols bounds the memory of last prices on a feed of many symbols.
const maxTapeSymbols = 4096

func newTapePane(st *Styles) tapePane {
	return tapePane{st: st, ticks: map[string]int8{}, last: map[string]float64{}}
}

// SetSize gives the pane its outer size.
func (p *tapePane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.scroll(0)
}

// update takes the snapshot's tape, newest first. A trade keeps the tick it
// got when it first appeared.
func (p *tapePane) update(tape []trade.Trade) {
	if len(p.last) > maxTapeSymbols {
		clear(p.last)
	}
	ticks := make(map[string]int8, len(tape))
	for i := len(tape) - 1; i >= 0; i-- {
		t := &tape[i]
		tick, ok := p.ticks[t.ID]
		if !ok {
			if prev, seen := p.last[t.Symbol]; seen {
				switch {
				case t.Price > prev:
					tick = 1
				case t.Price < prev:
					tick = -1
				}
			}
		}
		ticks[t.ID] = tick
		p.last[t.Symbol] = t.Price
	}
	p.ticks = ticks
	p.rows = p.rows[:0]
	for _, t := range tape {
		p.rows = append(p.rows, tapeRow{Trade: t, tick: ticks[t.ID]})
	}
	p.scroll(0)
}

func (p *tapePane) scroll(d int) {
	p.offset = min(max(p.offset+d, 0), max(len(p.rows)-(p.h-3), 0))
}

// View draws the pane.
func (p *tapePane) View(focused bool) string {
	st := p.st
	cw := p.w - 4
	symW := 6
	for _, r := range p.rows {
		symW = max(symW, min(len(r.Symbol), 12))
	}
	withMS := cw >= 13+symW+10+2+9
	timeW := 9
	if withMS {
		timeW = 13
	}
	body := make([]string, 0, p.h)
	body = append(body, st.Head.Render(fit("TIME", timeW)+fit("SYMBOL", symW)+padLeft("PRICE", 10)+"  "+padLeft("SIZE", 9)))
	if len(p.rows) == 0 {
		msg := "no trades yet"
		if p.empty != "" {
			msg = p.empty
		}
		body = append(body, st.Dim.Render(msg))
	}
	for i := p.offset; i < len(p.rows) && len(body) < p.h-2; i++ {
		r := &p.rows[i]
		var b strings.Builder
		ts := r.Time.Local()
		if withMS {
			b.WriteString(st.Dim.Render(ts.Format("15:04:05.000") + " "))
		} else {
			b.WriteString(st.Dim.Render(ts.Format("15:04:05") + " "))
		}
		b.WriteString(fit(r.Symbol, symW))
		price := padLeft(fmtPrice(r.Price), 10)
		switch r.tick {
		case 1:
			b.WriteString(st.Up.Render(price + " ▲"))
		case -1:
			b.WriteString(st.Down.Render(price + " ▼"))
		default:
			b.WriteString(st.Flat.Render(price + " ·"))
		}
		b.WriteString(padLeft(fmtSize(r.Volume), 9))
		body = append(body, b.String())
	}
	info := "latest " + strconv.Itoa(len(p.rows))
	if len(p.rows) > 0 {
		info = "times " + zone(p.rows[0].Time) + " · " + info
	}
	return st.box(p.w, p.h, focused, "Tape", info, body)
}

// fmtSize prints a trade size: whole shares plainly, fractions (crypto) with
// up to four decimals.
func fmtSize(v float64) string {
	if v == float64(int64(v)) {
		return fmtInt(int64(v))
	}
	s := strconv.FormatFloat(v, 'f', 4, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
