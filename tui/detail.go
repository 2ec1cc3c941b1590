package tui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/NimbleMarkets/ntcharts/canvas/graph"
	"github.com/NimbleMarkets/ntcharts/linechart/timeserieslinechart"
	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/agg"
)

// detailPane is one symbol up close: its price over the last minutes on a
// time axis (an ntcharts time-series line chart), its stored OHLC candles of
// the chosen window drawn on an ntcharts canvas with the volume bars under
// them, and its statistics. The candles are live (the newest stored, read
// again every second) or a screen of any stored range, paged back and
// forth: an earlier run's, yesterday's.
type detailPane struct {
	st       *Styles
	w, h     int
	symbol   string
	row      symbolRow
	has      bool // the symbol is in the snapshot
	interval time.Duration
	candles  []agg.Candle
	err      error
	loading  bool
	asked    time.Time // snapshot time of the last live read asked for
	seq      int       // reads asked for; an answer to an older one is dropped
	live     bool      // the candles shown are the newest; else a stored range
	anchor   time.Time // not live: the screen shown ends before this
	note     string    // what a read found, when it found nothing new
	now      time.Time // the UI's clock at the last update

	chart   string   // the drawn price chart
	span    int      // seconds the chart covers
	candleV []string // the drawn candles, price axis and volume bars
}

// Proportions of the detail screen.
const (
	statsWidth    = 30
	candleRefresh = time.Second // how often the open detail rereads candles
)

// open shows symbol, keeping the window chosen before and the place in
// time: live, or the stored range shown.
func (p *detailPane) open(symbol string, intervals []time.Duration) {
	if p.symbol != symbol {
		p.candles, p.err, p.note = nil, nil, ""
	}
	if p.symbol == "" {
		p.live = true
	}
	p.symbol = symbol
	if p.interval == 0 || !containsDuration(intervals, p.interval) {
		p.interval = 0
		if len(intervals) > 0 {
			p.interval = intervals[0]
		}
	}
	p.asked = time.Time{}
}

// query is the read of the candles to show now: the newest when live, else
// the screen before the anchor.
func (p *detailPane) query(now time.Time) candleQuery {
	q := candleQuery{symbol: p.symbol, interval: p.interval, n: p.wantCandles(), now: now}
	if !p.live {
		q.dir, q.at = -1, p.anchor
	}
	return q
}

// page is the read of the screen before (dir -1) or after (+1) the one
// shown.
func (p *detailPane) page(dir int, now time.Time) candleQuery {
	q := candleQuery{symbol: p.symbol, interval: p.interval, n: p.wantCandles(), dir: dir, now: now}
	switch {
	case len(p.candles) == 0 && p.live:
		q.at = now
	case len(p.candles) == 0:
		q.at = p.anchor
	case dir < 0:
		q.at = p.candles[0].Start
	default:
		q.at = p.candles[len(p.candles)-1].Start.Add(p.interval)
	}
	return q
}

// take keeps the candles a read brought, if it is the latest asked for.
func (p *detailPane) take(msg candlesMsg) {
	q := msg.q
	if q.seq != p.seq {
		return
	}
	p.loading = false
	if msg.err != nil {
		p.err = msg.err
		return
	}
	p.err, p.note = nil, ""
	switch {
	case q.dir == 0:
		p.live, p.candles = true, msg.candles
	case len(msg.candles) == 0:
		// Nothing stored that far: stay on the screen shown.
		p.note = "nothing stored before " + stamp(q.at, q.now)
	default:
		p.live, p.candles = false, msg.candles
		last := msg.candles[len(msg.candles)-1]
		p.anchor = last.Start.Add(last.Interval)
	}
}

func containsDuration(ds []time.Duration, d time.Duration) bool {
	for _, v := range ds {
		if v == d {
			return true
		}
	}
	return false
}

// nextInterval cycles the candle window.
func (p *detailPane) nextInterval(intervals []time.Duration) {
	if len(intervals) == 0 {
		return
	}
	i := 0
	for j, d := range intervals {
		if d == p.interval {
			i = j + 1
		}
	}
	p.interval = intervals[i%len(intervals)]
	p.candles, p.err, p.note = nil, nil, ""
	p.asked = time.Time{}
}

// SetSize gives the pane the body's size.
func (p *detailPane) SetSize(w, h int) { p.w, p.h = w, h }

// layout splits the body: the price chart on top, candles and statistics
// under it. Heights of 0 mean the part is left out.
func (p *detailPane) layout() (chartH, lowerH, statsW int) {
	chartH = p.h
	if p.h >= 14 {
		chartH = min(max(p.h*2/5, 6), 20)
	}
	lowerH = p.h - chartH
	if p.w >= 70 {
		statsW = statsWidth
	}
	return chartH, lowerH, statsW
}

// wantCandles is how many candles fit the candle chart.
func (p *detailPane) wantCandles() int {
	_, lowerH, statsW := p.layout()
	if lowerH == 0 {
		return 0
	}
	cw := p.w - statsW - 4 - 10 // price axis
	return max(cw/2, 1)
}

// update redraws the charts from the history and the candles held; now
// is the UI's clock.
func (p *detailPane) update(rows []symbolRow, h *history, now time.Time) {
	p.now = now
	p.has = false
	for _, r := range rows {
		if r.Symbol == p.symbol {
			p.row, p.has = r, true
			break
		}
	}
	p.drawChart(h)
	p.drawCandles()
}

// drawChart draws the price line of the last histLen seconds.
func (p *detailPane) drawChart(h *history) {
	chartH, _, _ := p.layout()
	cw, ch := p.w-4, chartH-2
	p.chart = ""
	pts := h.points(p.symbol, histLen)
	if cw < 10 || ch < 3 || len(pts) < 2 {
		return
	}
	lo, hi := pts[0].price, pts[0].price
	for _, s := range pts {
		lo, hi = min(lo, s.price), max(hi, s.price)
	}
	pad := (hi - lo) * 0.05
	if pad == 0 {
		pad = math.Max(hi*0.0005, 0.01)
	}
	t0, t1 := pts[0].t.Truncate(time.Second), pts[len(pts)-1].t.Truncate(time.Second)
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	p.span = int(t1.Sub(t0) / time.Second)
	st := p.st
	tc := timeserieslinechart.New(cw, ch,
		timeserieslinechart.WithXLabelFormatter(func(_ int, v float64) string {
			return time.Unix(int64(v), 0).Local().Format("15:04:05")
		}),
		timeserieslinechart.WithYLabelFormatter(func(_ int, v float64) string { return fmtPrice(v) }),
		timeserieslinechart.WithXYSteps(12, 2),
		timeserieslinechart.WithYRange(lo-pad, hi+pad),
		timeserieslinechart.WithTimeRange(t0, t1),
		timeserieslinechart.WithAxesStyles(st.Axis, st.Axis),
		timeserieslinechart.WithStyle(st.Graph),
	)
	for _, s := range pts {
		tc.Push(timeserieslinechart.TimePoint{Time: s.t, Value: s.price})
	}
	tc.DrawBraille()
	p.chart = tc.View()
}

// drawCandles draws the candles, one column each with a gap between, the
// newest on the right, with a price axis on the left and the volume bars
// under them.
func (p *detailPane) drawCandles() {
	p.candleV = p.candleV[:0]
	_, lowerH, statsW := p.layout()
	cw, ch := p.w-statsW-4, lowerH-2
	if lowerH == 0 || cw < 14 || ch < 4 {
		return
	}
	st := p.st
	if len(p.candles) == 0 {
		msg := "no stored " + fmtInterval(p.interval) + " candles yet"
		switch {
		case p.err != nil:
			msg = "reading candles: " + oneLine(p.err.Error())
		case p.loading:
			msg = "reading candles…"
		}
		p.candleV = append(p.candleV, st.Dim.Render(msg))
		return
	}
	volH := min(max(ch/4, 1), 5)
	priceH := ch - volH - 1
	if priceH < 2 {
		volH, priceH = 0, ch-1
	}
	axisW := 10
	gw := cw - axisW
	n := min(len(p.candles), max(gw/2, 1))
	cs := p.candles[len(p.candles)-n:]
	lo, hi := cs[0].Low, cs[0].High
	var top float64
	for _, c := range cs {
		lo, hi, top = min(lo, c.Low), max(hi, c.High), max(top, c.Volume)
	}
	scale := 0.0
	if hi > lo {
		scale = (float64(priceH) - 0.5) / (hi - lo)
	}
	y := func(v float64) float64 {
		if scale == 0 {
			return float64(priceH) / 2
		}
		return (v - lo) * scale
	}
	price := canvas.New(gw, priceH)
	vol := canvas.New(gw, max(volH, 1))
	x0 := gw - 2*n + 1 // newest candle in the last column but one
	for i, c := range cs {
		style := st.Up
		bl, bh := c.Open, c.Close
		if c.Close < c.Open {
			style, bl, bh = st.Down, c.Close, c.Open
		}
		x := x0 + 2*i
		graph.DrawCandlestickBottomToTop(&price, canvas.Point{X: x, Y: priceH - 1}, y(c.Low), y(bl), y(bh), y(c.High), style)
		if c.Close < c.Open {
			fillBody(&price, x)
		}
		if volH > 0 && top > 0 {
			graph.DrawColumnBottomToTop(&vol, canvas.Point{X: x, Y: volH - 1}, c.Volume/top*float64(volH), style)
		}
	}
	mid := (lo + hi) / 2
	for i, line := range strings.Split(price.View(), "\n") {
		label := ""
		switch i {
		case 0:
			label = fmtPrice(hi)
		case priceH - 1:
			label = fmtPrice(lo)
		case (priceH - 1) / 2:
			if priceH >= 5 {
				label = fmtPrice(mid)
			}
		}
		tick := "│"
		if label != "" {
			tick = "┤"
		}
		p.candleV = append(p.candleV, st.Axis.Render(padLeft(label, axisW-1)+tick)+line)
	}
	// The time axis: the first and the last candle's start.
	first, last := stamp(cs[0].Start, p.now), stamp(cs[len(cs)-1].Start, p.now)+" "+zone(cs[len(cs)-1].Start)
	axis := spaces(axisW + max(x0, 0))
	if gw-max(x0, 0) >= len(first)+len(last)+2 {
		axis += first + spaces(gw-max(x0, 0)-len(first)-len(last)) + last
	} else {
		axis += spaces(max(gw-max(x0, 0)-len(last), 0)) + last
	}
	p.candleV = append(p.candleV, st.Axis.Render(fit(axis, cw)))
	if volH > 0 {
		for i, line := range strings.Split(vol.View(), "\n") {
			label := ""
			if i == 0 {
				label = "vol " + fmtCompact(top)
			}
			p.candleV = append(p.candleV, st.Axis.Render(padLeft(label, axisW-1)+" ")+line)
		}
	}
}

// solidBody turns the heavy line glyphs of a candle's body into blocks of
// the same extent: a falling candle is solid and a rising one hollow, so
// they differ without colour.
var solidBody = map[rune]rune{
	'┃': '█',           // the whole cell
	'╹': '▀', '╿': '▀', // the upper half
	'╻': '▄', '╽': '▄', // the lower half
}

// fillBody makes the body of the candle drawn in column x solid.
func fillBody(c *canvas.Model, x int) {
	for y := range c.Height() {
		p := canvas.Point{X: x, Y: y}
		cell := c.Cell(p)
		if r, ok := solidBody[cell.Rune]; ok {
			cell.Rune = r
			c.SetCell(p, cell)
		}
	}
}

// View draws the detail screen.
func (p *detailPane) View() string {
	st := p.st
	chartH, lowerH, statsW := p.layout()
	r := p.row
	title := p.symbol
	info := "not trading yet"
	if p.has {
		info = r.Sector + " · " + fmtPrice(r.Last) + " " + fmtPct(r.change)
	}
	chartBody := []string{st.Dim.Render("collecting prices…")}
	if p.chart != "" {
		chartBody = strings.Split(p.chart, "\n")
	}
	chartInfo := info
	if p.span > 0 {
		chartInfo += " · last " + fmtSpan(time.Duration(p.span)*time.Second) + " · times " + zone(p.now)
	}
	top := st.box(p.w, chartH, false, title, chartInfo, chartBody)
	if lowerH == 0 {
		return top
	}
	// Say which range shows, live or stored, before the hints.
	candleInfo := fmtInterval(p.interval) + " candles · stored"
	if p.live {
		candleInfo = fmtInterval(p.interval) + " candles · live"
	}
	switch {
	case p.err != nil:
		candleInfo += " · read failed"
	case p.note != "":
		candleInfo += " · " + p.note
	}
	if n := len(p.candles); n > 0 {
		last := p.candles[n-1]
		candleInfo += " · " + timeRange(p.candles[0].Start, last.Start.Add(last.Interval), p.now)
	}
	candleInfo += " · [ ]: page · w: window"
	candles := st.box(p.w-statsW, lowerH, true, "Candles", candleInfo, p.candleV)
	if statsW == 0 {
		return top + "\n" + candles
	}
	stats := st.box(statsW, lowerH, false, "Stats", "", p.statsLines(statsW-4))
	return top + "\n" + joinColumns(candles, stats)
}

// statsLines lists the symbol's statistics, label left and value right.
func (p *detailPane) statsLines(w int) []string {
	st, r := p.st, p.row
	if !p.has {
		return []string{st.Dim.Render("no trades seen")}
	}
	vwap := 0.0
	if r.Volume > 0 {
		vwap = r.Notional / r.Volume
	}
	kv := func(k, v string) string {
		return st.Dim.Render(k) + padLeft(v, max(w-ansi.StringWidth(k), 0))
	}
	lines := []string{
		kv("last", fmtPrice(r.Last)),
		kv("change", fmtPct(r.change)),
		kv("open", fmtPrice(r.First)),
		kv("high", fmtPrice(r.High)),
		kv("low", fmtPrice(r.Low)),
		kv("VWAP", fmtPrice(vwap)),
		kv("volume", fmtInt(int64(math.Round(r.Volume)))),
		kv("volume 1m", fmtCompact(r.vol1m)),
		kv("trades", fmtInt(r.Count)),
		kv("trades/s", fmtRate(r.rate)),
		kv("last trade", clock(r.LastTime)+" "+zone(r.LastTime)),
	}
	if n := len(p.candles); n > 0 {
		c := p.candles[n-1]
		lines = append(lines, "",
			st.Head.Render("last "+fmtInterval(c.Interval)+" candle shown"),
			kv("start", stamp(c.Start, p.now)+" "+zone(c.Start)),
			kv("O/C", fmtPrice(c.Open)+" "+fmtPrice(c.Close)),
			kv("H/L", fmtPrice(c.High)+" "+fmtPrice(c.Low)),
			kv("VWAP", fmtPrice(c.VWAP())),
			kv("vol/trades", fmtCompact(c.Volume)+"/"+strconv.FormatInt(c.Count, 10)),
		)
	}
	return lines
}
