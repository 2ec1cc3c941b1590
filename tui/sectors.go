package tui

import (
	"strconv"
	"strings"

	"github.com/NimbleMarkets/ntcharts/barchart"

	"github.com/tradetop/tradetop/agg"
)

// sectorsPane shows today's volume per sector as horizontal bars, largest
// first, with the values. The bars are an ntcharts bar chart, drawn on each
// snapshot. When not every sector fits it says which show, and scrolls
// when focused.
type sectorsPane struct {
	st     *Styles
	empty  string // why no sector is shown, when not for want of trades
	w, h   int
	offset int // first sector on screen
	rows   []agg.SectorDay
	total  float64
	lines  []string // the drawn body
}

// shortSectors are shorter names of the GICS sectors, for narrow panes.
var shortSectors = map[string]string{
	"Communication Services": "Comm Svcs",
	"Consumer Discretionary": "Cons Disc",
	"Consumer Staples":       "Staples",
	"Information Technology": "Info Tech",
	"Health Care":            "Health",
	"Real Estate":            "Real Est",
	"Industrials":            "Industrial",
}

// SetSize gives the pane its outer size.
func (p *sectorsPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.scroll(0)
}

// page is how many sectors show: all that fit, less a line saying which
// show when not all do.
func (p *sectorsPane) page() int {
	ch := p.h - 2
	if len(p.rows) > ch {
		return max(ch-1, 0)
	}
	return max(ch, 0)
}

// scroll moves the sectors shown by d, and redraws.
func (p *sectorsPane) scroll(d int) {
	p.offset = min(max(p.offset+d, 0), max(len(p.rows)-p.page(), 0))
	p.draw()
}

// need is the height that shows every sector.
func (p *sectorsPane) need() int { return max(len(p.rows), 1) + 2 }

// update takes the snapshot's sector volumes and redraws the bars.
func (p *sectorsPane) update(rows []agg.SectorDay) {
	p.rows = rows
	p.total = 0
	for _, r := range rows {
		p.total += r.Volume
	}
	p.scroll(0)
}

// draw lays out label, bar and value on each line.
func (p *sectorsPane) draw() {
	st := p.st
	p.lines = p.lines[:0]
	cw, ch := p.w-4, p.h-2
	if cw <= 0 || ch <= 0 {
		return
	}
	if len(p.rows) == 0 {
		msg := "no trades today yet"
		if p.empty != "" {
			msg = p.empty
		}
		p.lines = append(p.lines, st.Dim.Render(msg))
		return
	}
	n, off := p.page(), p.offset
	shown := p.rows[off:min(off+n, len(p.rows))]
	n = len(shown)
	// Labels take what is left after the value and a bar of at least a
	// quarter of the width; short names stand in when the full ones do not
	// fit.
	valueW, withShare := 7, cw >= 44
	if withShare {
		valueW = 13
	}
	room := max(cw-valueW-2-max(cw/4, 6), 6)
	full, short := 0, 0
	for _, r := range shown {
		full = max(full, len(r.Sector))
		short = max(short, len(sectorLabel(r.Sector, true)))
	}
	labelW, abbreviate := full, false
	if full > room {
		labelW, abbreviate = min(short, room), true
	}
	barW := cw - labelW - valueW - 2
	var bars []string
	if barW >= 1 && n > 0 {
		data := make([]barchart.BarData, n)
		for i, r := range shown {
			data[i] = barchart.BarData{Label: r.Sector, Values: []barchart.BarValue{{Name: r.Sector, Value: r.Volume}}}
		}
		top := max(p.rows[0].Volume, 1)
		bc := barchart.New(barW, n,
			barchart.WithHorizontalBars(), barchart.WithNoAxis(),
			barchart.WithNoAutoBarWidth(), barchart.WithBarWidth(1), barchart.WithBarGap(0),
			barchart.WithMaxValue(top), barchart.WithDataSet(data))
		bc.Draw()
		bars = strings.Split(plainView(&bc.Canvas), "\n")
	}
	for i, r := range shown {
		var b strings.Builder
		b.WriteString(fit(sectorLabel(r.Sector, abbreviate), labelW))
		b.WriteByte(' ')
		if i < len(bars) {
			b.WriteString(st.Sector(off + i).Render(bars[i]))
		}
		b.WriteByte(' ')
		v := fmtCompact(r.Volume)
		if withShare && p.total > 0 {
			v += " " + padLeft(strconv.FormatFloat(r.Volume/p.total*100, 'f', 1, 64)+"%", 5)
		}
		b.WriteString(padLeft(v, valueW))
		p.lines = append(p.lines, b.String())
	}
	if n < len(p.rows) {
		// Which show, and the volume of those below.
		note := strconv.Itoa(off+1) + "–" + strconv.Itoa(off+n) + " of " + strconv.Itoa(len(p.rows))
		if below := p.rows[off+n:]; len(below) > 0 {
			var rest float64
			for _, r := range below {
				rest += r.Volume
			}
			note += " · +" + strconv.Itoa(len(below)) + " below " + fmtCompact(rest)
		}
		p.lines = append(p.lines, st.Dim.Render(note))
	}
}

func sectorLabel(s string, short bool) string {
	if short {
		if a, ok := shortSectors[s]; ok {
			return a
		}
	}
	return s
}

// View draws the pane.
func (p *sectorsPane) View(focused bool) string {
	st := p.st
	info := "today"
	if p.total > 0 {
		info = "today · " + fmtCompact(p.total)
	}
	return st.box(p.w, p.h, focused, "Sector volume", info, p.lines)
}
