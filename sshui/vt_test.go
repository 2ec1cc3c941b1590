package sshui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// screen is as much of a terminal as the UI's output needs to be read as a
// person would see it: text placed at the cursor, the cursor moves, erases
// and the alternate screen that Bubble Tea's renderer uses. Colours and
// modes are ignored.
type screen struct {
	w, h       int
	cells      [][]string // h rows of w cells; "" behind a wide character
	main       [][]string // the main screen while the alternate one shows
	x, y       int
	savedX     int
	savedY     int
	altShowing bool
}

func newScreen(w, h int) *screen {
	s := &screen{w: w, h: h}
	s.cells = s.blank()
	return s
}

func (s *screen) blank() [][]string {
	rows := make([][]string, s.h)
	for i := range rows {
		rows[i] = blankRow(s.w)
	}
	return rows
}

func blankRow(w int) []string {
	r := make([]string, w)
	for i := range r {
		r[i] = " "
	}
	return r
}

// resize changes the size, keeping what fits.
func (s *screen) resize(w, h int) {
	fit := func(old [][]string) [][]string {
		if old == nil {
			return nil
		}
		rows := make([][]string, h)
		for y := range rows {
			rows[y] = blankRow(w)
			if y < len(old) {
				copy(rows[y], old[y])
			}
		}
		return rows
	}
	s.w, s.h = w, h
	s.cells, s.main = fit(s.cells), fit(s.main)
	s.x, s.y = min(s.x, w-1), min(s.y, h-1)
}

// write interprets b.
func (s *screen) write(b string) {
	p := ansi.NewParser()
	var state byte
	for len(b) > 0 {
		seq, width, n, next := ansi.DecodeSequence(b, state, p)
		state, b = next, b[n:]
		switch {
		case width > 0:
			s.put(seq, width)
		case seq == "\r":
			s.x = 0
		case seq == "\n":
			s.lineFeed()
		case seq == "\b":
			s.x = max(s.x-1, 0)
		case ansi.HasCsiPrefix(seq):
			s.csi(ansi.Cmd(p.Command()), p)
		}
	}
}

func (s *screen) put(g string, width int) {
	if s.x+width > s.w {
		s.x = 0
		s.lineFeed()
	}
	s.cells[s.y][s.x] = g
	for i := 1; i < width; i++ {
		s.cells[s.y][s.x+i] = ""
	}
	s.x += width
}

func (s *screen) lineFeed() {
	if s.y < s.h-1 {
		s.y++
		return
	}
	s.cells = append(s.cells[1:], blankRow(s.w))
}

func (s *screen) csi(cmd ansi.Cmd, p *ansi.Parser) {
	n := func(i, def int) int {
		v, _ := p.Param(i, def)
		return max(v, def)
	}
	clamp := func() { s.x, s.y = max(0, min(s.x, s.w-1)), max(0, min(s.y, s.h-1)) }
	switch {
	case cmd.Prefix() == '?' && (cmd.Final() == 'h' || cmd.Final() == 'l'):
		if v, _ := p.Param(0, 0); v == 1049 {
			s.altScreen(cmd.Final() == 'h')
		}
	case cmd.Prefix() != 0:
	case cmd.Final() == 'A':
		s.y -= n(0, 1)
	case cmd.Final() == 'B':
		s.y += n(0, 1)
	case cmd.Final() == 'C':
		s.x += n(0, 1)
	case cmd.Final() == 'D':
		s.x -= n(0, 1)
	case cmd.Final() == 'G':
		s.x = n(0, 1) - 1
	case cmd.Final() == 'd':
		s.y = n(0, 1) - 1
	case cmd.Final() == 'H', cmd.Final() == 'f':
		s.y, s.x = n(0, 1)-1, n(1, 1)-1
	case cmd.Final() == 'J':
		s.erase(0, 0, s.h-1, s.w-1, func(y, x int) bool {
			switch v, _ := p.Param(0, 0); v {
			case 0:
				return y > s.y || (y == s.y && x >= s.x)
			case 1:
				return y < s.y || (y == s.y && x <= s.x)
			}
			return true
		})
	case cmd.Final() == 'K':
		s.erase(s.y, 0, s.y, s.w-1, func(_, x int) bool {
			switch v, _ := p.Param(0, 0); v {
			case 0:
				return x >= s.x
			case 1:
				return x <= s.x
			}
			return true
		})
	}
	clamp()
}

func (s *screen) erase(y0, x0, y1, x1 int, in func(y, x int) bool) {
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			if in(y, x) {
				s.cells[y][x] = " "
			}
		}
	}
}

func (s *screen) altScreen(on bool) {
	if on == s.altShowing {
		return
	}
	s.altShowing = on
	if on {
		s.main, s.savedX, s.savedY = s.cells, s.x, s.y
		s.cells = s.blank()
		return
	}
	s.cells, s.x, s.y = s.main, s.savedX, s.savedY
	s.main = nil
}

// String is the screen's text, a line a row, without trailing blanks.
func (s *screen) String() string {
	lines := make([]string, s.h)
	for y, row := range s.cells {
		lines[y] = strings.TrimRight(strings.Join(row, ""), " ")
	}
	return strings.Join(lines, "\n")
}
