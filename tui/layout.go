package tui

import "strings"

// rect is a pane's place on the screen; a zero height means it is folded
// away.
type rect struct{ x, y, w, h int }

func (r rect) shown() bool { return r.w > 0 && r.h > 0 }

func (r rect) contains(x, y int) bool {
	return r.shown() && x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h
}

// layout is where the dashboard's panes go.
type layout struct {
	body                                rect
	symbols, sectors, lag, tape, events rect
}

// needs are the heights that show a pane's content whole.
type needs struct{ symbols, sectors, lag int }

// Layout thresholds.
const (
	footerHeight = 1
	// wideWidth is where the lag and sector panes move beside the symbols.
	wideWidth = 120
	// minSymbols is the least height of the symbols pane: a few rows.
	minSymbols = 7
	// minBottom is the least height of the tape and events row.
	minBottom = 8
)

// computeLayout places the panes in a w×h screen. The header and the footer
// always show; then the symbols, the topic lag and the sector volume, and
// with room to spare the tape and the events. When space runs short the
// events and the tape fold first, then the sector volume, then the topic
// lag; the symbols go last. The focused pane f always shows: if it has
// folded, it borrows a place (see borrow).
func computeLayout(w, h int, n needs, f focus) layout {
	l := placePanes(w, h, n)
	l.borrow(f)
	return l
}

// borrow gives the focused pane f, if it has folded, the place of the
// sector volume and the topic lag, or when those have folded too, the
// symbols' place; the panes there fold while it is focused.
func (l *layout) borrow(f focus) {
	r := l.pane(f)
	if r == nil || r.shown() || !l.symbols.shown() {
		return
	}
	area := union(l.sectors, l.lag)
	if !area.shown() {
		area = l.symbols
	}
	for _, o := range []*rect{&l.symbols, &l.sectors, &l.lag, &l.tape, &l.events} {
		if o.shown() && area.contains(o.x, o.y) {
			*o = rect{}
		}
	}
	*r = area
}

// pane is where the pane f goes.
func (l *layout) pane(f focus) *rect {
	switch f {
	case focusSymbols:
		return &l.symbols
	case focusSectors:
		return &l.sectors
	case focusLag:
		return &l.lag
	case focusTape:
		return &l.tape
	case focusEvents:
		return &l.events
	}
	return nil
}

// union is the smallest rect holding the shown ones of a and b.
func union(a, b rect) rect {
	switch {
	case !a.shown():
		return b
	case !b.shown():
		return a
	}
	x, y := min(a.x, b.x), min(a.y, b.y)
	return rect{x, y, max(a.x+a.w, b.x+b.w) - x, max(a.y+a.h, b.y+b.h) - y}
}

// placePanes is the layout with nothing focused.
func placePanes(w, h int, n needs) layout {
	var l layout
	l.body = rect{0, headerHeight, w, h - headerHeight - footerHeight}
	bh, y := l.body.h, l.body.y
	if bh < 3 || w < 20 {
		l.body.h = max(bh, 0)
		return l
	}
	if w >= wideWidth {
		bottom := 0
		if bh >= 2*minBottom+16 {
			bottom = min(max(bh/4, minBottom), 16)
		}
		top := bh - bottom
		rw := min(max(w*2/5, 56), 84)
		lw := w - rw
		l.symbols = rect{0, y, lw, top}
		lagH := top
		if sh := min(n.sectors, top-n.lag, top/2); sh >= 4 {
			l.sectors = rect{lw, y, rw, sh}
			lagH = top - sh
		}
		l.lag = rect{lw, y + top - lagH, rw, lagH}
		if bottom > 0 {
			tw := min(max(w/3, 44), 64)
			l.tape = rect{0, y + top, tw, bottom}
			l.events = rect{tw, y + top, w - tw, bottom}
		}
		return l
	}

	// Narrow: the symbols across the top, the sector volume and the topic
	// lag side by side under them, the tape and the events at the bottom.
	mid := n.lag
	if spare := bh - n.symbols - mid; spare > 0 {
		mid += min(spare, max(n.sectors-mid, 0))
	}
	if bh-mid < minSymbols {
		mid = bh - minSymbols
	}
	if mid < 6 {
		mid = 0
	}
	bottom := 0
	if rest := bh - mid - n.symbols; mid > 0 && rest >= minBottom {
		bottom = min(rest, 16)
	}
	sym := bh - mid - bottom
	l.symbols = rect{0, y, w, sym}
	if mid > 0 {
		my := y + sym
		if w >= 72 {
			sw := min(max(w*3/8, 30), 44)
			l.sectors = rect{0, my, sw, mid}
			l.lag = rect{sw, my, w - sw, mid}
		} else {
			l.lag = rect{0, my, w, mid}
		}
	}
	if bottom > 0 {
		by := y + sym + mid
		if w >= 72 {
			tw := w * 2 / 5
			l.tape = rect{0, by, tw, bottom}
			l.events = rect{tw, by, w - tw, bottom}
		} else {
			l.tape = rect{0, by, w, bottom}
		}
	}
	return l
}

// block is a drawn pane and where it goes.
type block struct {
	at    rect
	lines []string
}

// compose lays drawn panes into area: each screen line is the panes that
// cross it, left to right, with spaces where none does.
func compose(area rect, blocks []block) string {
	var b strings.Builder
	b.Grow(area.w * area.h * 2)
	for y := area.y; y < area.y+area.h; y++ {
		if y > area.y {
			b.WriteByte('\n')
		}
		x := area.x
		for _, bl := range blocks {
			if y < bl.at.y || y >= bl.at.y+bl.at.h || bl.at.x < x {
				continue
			}
			b.WriteString(spaces(bl.at.x - x))
			if i := y - bl.at.y; i < len(bl.lines) {
				b.WriteString(bl.lines[i])
			} else {
				b.WriteString(spaces(bl.at.w))
			}
			x = bl.at.x + bl.at.w
		}
		b.WriteString(spaces(area.x + area.w - x))
	}
	return b.String()
}

func splitLines(s string) []string { return strings.Split(s, "\n") }
