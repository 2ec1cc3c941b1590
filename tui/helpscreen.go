package tui

import (
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
)

// helpView is the full help: every key, then what the health words and the
// lag verdicts mean. It fills a w×h body.
func helpView(st *Styles, hm help.Model, km help.KeyMap, w, h int, window time.Duration) string {
	cw := w - 4
	hm.Width = cw
	body := strings.Split(hm.FullHelpView(km.FullHelp()), "\n")
	win := fmtSpan(window)
	legend := []struct{ head, text string }{
		{"Stage health", "ok · slow: retries, Kafka warnings or seconds of unread backlog in the last seconds · " +
			"down: work waiting and no progress for " + fmtSpan(stallAfter) + " · paused, stopped: on purpose."},
		{"Partition verdicts", "judged from the group's committed offsets over " + win + " (twice the longest window plus lateness): " +
			"OK · WARN: the lag's low points rise · STALL: reads go on but no commit · STOP: no commit and no reads."},
		{"Two kinds of lag", "an offset is committed only once every window it feeds is stored, so LAG (what any Kafka tool " +
			"sees, and what a restart replays) trails the reads by up to a window; UNREAD is what really waits, " +
			"and oldest is the age of the oldest unread trade."},
		{"Charts", "the trend sparklines zoom out from a second a column as the session grows; " +
			"enter shows a symbol's price, its stored candles (w changes the window) and its statistics."},
	}
	body = append(body, "")
	wrap := st.r.NewStyle().Width(max(cw, 10))
	for _, l := range legend {
		text := st.Head.Render(l.head) + "  " + l.text
		body = append(body, strings.Split(wrap.Render(text), "\n")...)
		body = append(body, "")
	}
	body = append(body, st.Dim.Render("? or esc closes this help"))
	return st.box(w, h, true, "Help", "", body)
}
