package tui

import (
	"log/slog"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// Styles is the UI's one theme: every colour and text style the panes use.
// It is made from a lipgloss renderer, so the colour profile follows the
// terminal: true colour, 256 or 16 colours, or none at all with NO_COLOR.
// Colours adapt to a light or dark background. Nothing in the UI depends on
// colour alone: selection, focus, ticks and health also show as glyphs and
// words. A Styles is built once and read-only afterwards.
type Styles struct {
	r *lipgloss.Renderer

	App      lipgloss.Style // the program's name in the header
	Title    lipgloss.Style // a pane's title
	Dim      lipgloss.Style // secondary text: units, labels, hints
	Bold     lipgloss.Style
	Head     lipgloss.Style // table column headings
	Up       lipgloss.Style // a rising price, a buy-side tick
	Down     lipgloss.Style // a falling price
	Flat     lipgloss.Style // an unchanged price
	OK       lipgloss.Style // healthy
	Warn     lipgloss.Style // degraded: slow, WARN
	Bad      lipgloss.Style // failing: down, STALL, STOP
	Idle     lipgloss.Style // deliberately inactive: paused, stopped
	Selected lipgloss.Style // the selected symbol in a focused table
	Alert    lipgloss.Style // an alert that fired: its event, its symbol's mark
	Key      lipgloss.Style // a key in the help
	Desc     lipgloss.Style // a key's description in the help
	Axis     lipgloss.Style // chart axes and labels
	Graph    lipgloss.Style // neutral chart lines and bars

	border, focusBorder lipgloss.Style
	sectors             []lipgloss.Style

	// Glyphs rendered once, as they appear on every line of a pane.
	vbar      [2]string // the side border, unfocused and focused
	selMarker string
}

// Palette entries, ANSI 256 colours, which lipgloss degrades to 16 colours
// on terminals that have no more.
var (
	cBorder      = lipgloss.AdaptiveColor{Light: "250", Dark: "239"}
	cFocusBorder = lipgloss.AdaptiveColor{Light: "31", Dark: "39"}
	cTitle       = lipgloss.AdaptiveColor{Light: "24", Dark: "117"}
	cDim         = lipgloss.AdaptiveColor{Light: "244", Dark: "245"}
	cHead        = lipgloss.AdaptiveColor{Light: "240", Dark: "250"}
	cUp          = lipgloss.AdaptiveColor{Light: "28", Dark: "78"}
	cDown        = lipgloss.AdaptiveColor{Light: "160", Dark: "203"}
	cWarn        = lipgloss.AdaptiveColor{Light: "130", Dark: "214"}
	cAxis        = lipgloss.AdaptiveColor{Light: "246", Dark: "242"}
	cGraph       = lipgloss.AdaptiveColor{Light: "31", Dark: "74"}
	cSectors     = []lipgloss.AdaptiveColor{
		{Light: "31", Dark: "74"}, {Light: "28", Dark: "78"}, {Light: "130", Dark: "214"},
		{Light: "127", Dark: "176"}, {Light: "24", Dark: "111"}, {Light: "160", Dark: "210"},
		{Light: "64", Dark: "149"}, {Light: "30", Dark: "80"}, {Light: "91", Dark: "141"},
		{Light: "166", Dark: "216"}, {Light: "60", Dark: "146"}, {Light: "94", Dark: "180"},
	}
)

// NewStyles returns the theme for renderer r; nil means lipgloss's default
// renderer, which writes to standard output and honours NO_COLOR.
func NewStyles(r *lipgloss.Renderer) *Styles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	fg := func(c lipgloss.TerminalColor) lipgloss.Style { return r.NewStyle().Foreground(c) }
	s := &Styles{
		r:           r,
		App:         fg(cTitle).Bold(true),
		Title:       fg(cTitle).Bold(true),
		Dim:         fg(cDim),
		Bold:        r.NewStyle().Bold(true),
		Head:        fg(cHead).Bold(true),
		Up:          fg(cUp),
		Down:        fg(cDown),
		Flat:        fg(cDim),
		OK:          fg(cUp),
		Warn:        fg(cWarn).Bold(true),
		Bad:         fg(cDown).Bold(true),
		Idle:        fg(cDim),
		Selected:    r.NewStyle().Reverse(true).Bold(true),
		Alert:       fg(cWarn).Reverse(true).Bold(true),
		Key:         fg(cTitle),
		Desc:        fg(cDim),
		Axis:        fg(cAxis),
		Graph:       fg(cGraph),
		border:      fg(cBorder),
		focusBorder: fg(cFocusBorder),
	}
	for _, c := range cSectors {
		s.sectors = append(s.sectors, fg(c))
	}
	s.vbar[0] = s.border.Render(roundBox.v)
	s.vbar[1] = s.focusBorder.Render(thickBox.v)
	s.selMarker = s.Title.Render("▸")
	return s
}

// Level returns the style of an event of level l: Bad for errors, Warn for
// warnings, OK for the rest, such as a recovery.
func (s *Styles) Level(l slog.Level) lipgloss.Style {
	switch {
	case l >= slog.LevelError:
		return s.Bad
	case l >= slog.LevelWarn:
		return s.Warn
	}
	return s.OK
}

// Sector returns the style of the i-th sector by volume rank.
func (s *Styles) Sector(i int) lipgloss.Style { return s.sectors[i%len(s.sectors)] }

// boxChars are the glyphs of a pane's border.
type boxChars struct{ tl, tr, bl, br, h, v string }

// A focused pane has a heavy border, so focus shows without colour.
var (
	roundBox = boxChars{"╭", "╮", "╰", "╯", "─", "│"}
	thickBox = boxChars{"┏", "┓", "┗", "┛", "━", "┃"}
)

// box draws a pane of exactly w×h cells: a border with title and info in its
// top edge, and body lines cut or padded to the inner width w-4 (a space of
// padding each side). Missing lines are blank and extra lines are dropped.
func (s *Styles) box(w, h int, focused bool, title, info string, body []string) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	if w < 4 || h < 2 {
		return blankBlock(w, h)
	}
	c, bs, bar := roundBox, s.border, s.vbar[0]
	if focused {
		c, bs, bar = thickBox, s.focusBorder, s.vbar[1]
	}
	var b strings.Builder
	b.Grow((w + 16) * h)

	// Top edge: ╭─ Title · info ───╮
	room := w - 5 // "╭─ " + title + " " + at least "╮"
	head := s.Title.Render(title)
	hw := ansi.StringWidth(title)
	// The info shows whole: its trailing parts go first when it is long.
	for info != "" && hw+3+ansi.StringWidth(info) > room {
		i := strings.LastIndex(info, " · ")
		if i < 0 {
			info = ""
			break
		}
		info = info[:i]
	}
	if info != "" {
		head += s.Dim.Render(" · " + info)
		hw += 3 + ansi.StringWidth(info)
	}
	if hw > room {
		head = s.Title.Render(ansi.Truncate(title, max(room, 0), "…"))
		hw = min(hw, max(room, 0))
	}
	if hw > 0 {
		b.WriteString(bs.Render(c.tl + c.h))
		b.WriteByte(' ')
		b.WriteString(head)
		b.WriteByte(' ')
		b.WriteString(bs.Render(strings.Repeat(c.h, max(w-hw-5, 0)) + c.tr))
	} else {
		b.WriteString(bs.Render(c.tl + strings.Repeat(c.h, w-2) + c.tr))
	}
	iw := w - 4
	for i := 0; i < h-2; i++ {
		b.WriteByte('\n')
		b.WriteString(bar)
		b.WriteByte(' ')
		if i < len(body) {
			b.WriteString(fit(body[i], iw))
		} else {
			b.WriteString(spaces(iw))
		}
		b.WriteByte(' ')
		b.WriteString(bar)
	}
	b.WriteByte('\n')
	b.WriteString(bs.Render(c.bl + strings.Repeat(c.h, w-2) + c.br))
	return b.String()
}

// fit cuts or pads the one-line string s to exactly n cells.
func fit(s string, n int) string {
	if n <= 0 {
		return ""
	}
	w := width(s)
	if w > n {
		s = ansi.Truncate(s, n, "…")
		w = width(s)
	}
	if w < n {
		return s + spaces(n-w)
	}
	return s
}

// padLeft right-aligns s in n cells, cutting it if it is wider.
func padLeft(s string, n int) string {
	w := width(s)
	if w >= n {
		return fit(s, n)
	}
	return spaces(n-w) + s
}

const blanks = "                                                                                                                                "

// spaces returns n spaces.
func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	if n <= len(blanks) {
		return blanks[:n]
	}
	return strings.Repeat(" ", n)
}

// blankBlock is w×h cells of spaces.
func blankBlock(w, h int) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	line := spaces(w)
	var b strings.Builder
	b.Grow((w + 1) * h)
	for i := range h {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	return b.String()
}

// joinColumns puts blocks of lines side by side. Each block must be exactly
// as tall as the others and its lines exactly as wide as each other.
func joinColumns(blocks ...string) string {
	if len(blocks) == 1 {
		return blocks[0]
	}
	split := make([][]string, len(blocks))
	h := 0
	for i, b := range blocks {
		split[i] = strings.Split(b, "\n")
		h = max(h, len(split[i]))
	}
	var out strings.Builder
	for y := range h {
		if y > 0 {
			out.WriteByte('\n')
		}
		for _, lines := range split {
			if y < len(lines) {
				out.WriteString(lines[y])
			}
		}
	}
	return out.String()
}
