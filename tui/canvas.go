package tui

import (
	"strings"
	"unicode/utf8"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/charmbracelet/x/ansi"
)

// plainView returns what is drawn on c as lines of runes, without styles.
// The UI colours a one-colour chart (a sparkline, a bar) as a whole, which
// spares the canvas's own View a style render per cell: most of the cost of
// a frame.
func plainView(c *canvas.Model) string {
	w, h := c.Width(), c.Height()
	var b strings.Builder
	b.Grow((w*3 + 1) * h)
	for y := range h {
		if y > 0 {
			b.WriteByte('\n')
		}
		for x := range w {
			r := c.Cell(canvas.Point{X: x, Y: y}).Rune
			if r == 0 {
				r = ' '
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// width is the cells s takes on a terminal. It reads plain text, escape
// sequences and the narrow symbols the UI draws with on its own, and asks
// ansi.StringWidth only about anything else.
func width(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b:
			// A CSI sequence, ESC [ parameters final, as styles write.
			if i+1 >= len(s) || s[i+1] != '[' {
				return ansi.StringWidth(s)
			}
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j + 1
		case c < 0x20 || c == 0x7f:
			return ansi.StringWidth(s)
		case c < utf8.RuneSelf:
			n++
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if !narrow(r) {
				return ansi.StringWidth(s)
			}
			n++
			i += size
		}
	}
	return n
}

// narrow reports whether r is one of the one-cell symbols of the UI's
// blocks: Latin text, punctuation, arrows, box drawing, block elements,
// geometric shapes and braille.
func narrow(r rune) bool {
	switch {
	case r >= 0xa0 && r <= 0x2ff, // Latin-1 and Latin Extended
		r >= 0x2010 && r <= 0x205e, // general punctuation
		r >= 0x2190 && r <= 0x21ff, // arrows
		r >= 0x2500 && r <= 0x25fc, // box drawing, blocks, shapes
		r >= 0x2800 && r <= 0x28ff: // braille
		return true
	}
	return false
}
