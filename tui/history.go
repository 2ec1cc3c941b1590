package tui

import (
	"time"

	"github.com/tradetop/tradetop/state"
)

// histLen is how many seconds of per-symbol history the UI keeps: the span
// of the detail chart and the longest sparkline.
const histLen = 600

// maxTracked bounds how many symbols get a history, so memory stays bounded
// with a live feed of thousands (about 14 KB a symbol). Symbols past it are
// listed without a sparkline.
const maxTracked = 512

// history keeps one sample a second per symbol — the last price and the
// running volume and trade count as of the newest snapshot in that second —
// for the last histLen seconds. The sparklines, the detail chart and the
// one-minute figures are read from it. Seconds without a snapshot carry the
// previous sample forward. It is owned by the model's goroutine.
type history struct {
	sec   int64              // unix second of the newest slot
	n     int                // valid slots, up to histLen
	times [histLen]time.Time // snapshot time of each slot's sample
	syms  map[string]*series // by symbol
}

// series is one symbol's samples; a price of 0 means no trade yet.
type series struct {
	price [histLen]float64
	vol   [histLen]float64
	count [histLen]int64
}

func newHistory() *history { return &history{syms: map[string]*series{}} }

func slot(sec int64) int { return int(((sec % histLen) + histLen) % histLen) }

// record adds the snapshot's prices, volumes and counts.
func (h *history) record(s *state.Snapshot) {
	sec := s.Time.Unix()
	switch {
	case h.n == 0:
		h.sec, h.n = sec, 1
	case sec > h.sec:
		gap := sec - h.sec
		if gap >= histLen {
			h.reset(sec)
			break
		}
		prev := slot(h.sec)
		for k := int64(1); k <= gap; k++ {
			i := slot(h.sec + k)
			h.times[i] = h.times[prev]
			for _, ser := range h.syms {
				ser.price[i], ser.vol[i], ser.count[i] = ser.price[prev], ser.vol[prev], ser.count[prev]
			}
		}
		h.sec = sec
		h.n = min(h.n+int(gap), histLen)
	}
	// A snapshot from an earlier second than the newest (a clock step back)
	// overwrites the newest slot.
	i := slot(h.sec)
	h.times[i] = s.Time
	for k := range s.Symbols {
		st := &s.Symbols[k]
		ser := h.syms[st.Symbol]
		if ser == nil {
			if len(h.syms) >= maxTracked {
				continue
			}
			ser = new(series)
			h.syms[st.Symbol] = ser
		}
		ser.price[i], ser.vol[i], ser.count[i] = st.Last, st.Volume, st.Count
	}
}

// reset forgets everything but the symbols, after a gap longer than the
// history.
func (h *history) reset(sec int64) {
	for _, ser := range h.syms {
		*ser = series{}
	}
	h.times = [histLen]time.Time{}
	h.sec, h.n = sec, 1
}

// span is how long the history covers, in seconds.
func (h *history) span() int { return h.n }

// sample is a symbol's state as of one second.
type sample struct {
	t     time.Time
	price float64
	vol   float64
	count int64
}

// at returns the series' sample ago seconds before the newest, clamped to
// the oldest kept.
func (h *history) at(ser *series, ago int) sample {
	ago = min(max(ago, 0), h.n-1)
	i := slot(h.sec - int64(ago))
	return sample{t: h.times[i], price: ser.price[i], vol: ser.vol[i], count: ser.count[i]}
}

// volumeOver returns the symbol's volume over the last d seconds (or since it
// was first seen, if later), and its trades per second over the same span.
func (h *history) volumeOver(symbol string, d int) (vol, rate float64) {
	ser := h.syms[symbol]
	if ser == nil || h.n == 0 {
		return 0, 0
	}
	now := h.at(ser, 0)
	old := h.at(ser, d)
	dv, dc := now.vol-old.vol, float64(now.count-old.count)
	if old.price == 0 {
		// Not seen yet that long ago: everything it did is in the span.
		dv, dc = now.vol, float64(now.count)
	}
	if dv < 0 || dc < 0 {
		// Its statistics restarted (a partition moved); count from zero.
		dv, dc = now.vol, float64(now.count)
	}
	if dt := now.t.Sub(old.t).Seconds(); dt > 0 && old.price != 0 {
		rate = dc / dt
	} else if dt := float64(min(d, h.n)); dt > 0 {
		rate = dc / dt
	}
	return dv, rate
}

// sparkSteps are the seconds one sparkline column may stand for.
var sparkSteps = []int{1, 2, 3, 5, 10, 15, 30}

// sparkStep returns the seconds per column that fits the history into width
// columns, so a sparkline starts at one column a second and zooms out as the
// session grows.
func (h *history) sparkStep(width int) int {
	if width <= 0 {
		return 1
	}
	for _, s := range sparkSteps {
		if s*width >= h.n {
			return s
		}
	}
	return sparkSteps[len(sparkSteps)-1]
}

// columns appends to dst the symbol's price at the end of each of the last
// width periods of step seconds, oldest first, skipping periods before it
// was first seen. The last period is the current, partial one.
func (h *history) columns(dst []float64, symbol string, width, step int) []float64 {
	ser := h.syms[symbol]
	if ser == nil || h.n == 0 {
		return dst
	}
	cur := h.sec / int64(step)
	for k := width - 1; k >= 0; k-- {
		sec := (cur-int64(k))*int64(step) + int64(step) - 1
		if k == 0 {
			sec = h.sec
		}
		if h.sec-sec >= int64(h.n) || sec > h.sec {
			continue
		}
		if p := ser.price[slot(sec)]; p > 0 {
			dst = append(dst, p)
		}
	}
	return dst
}

// points returns the symbol's samples of the last d seconds, oldest first.
func (h *history) points(symbol string, d int) []sample {
	ser := h.syms[symbol]
	if ser == nil || h.n == 0 {
		return nil
	}
	d = min(d, h.n)
	out := make([]sample, 0, d)
	for ago := d - 1; ago >= 0; ago-- {
		if s := h.at(ser, ago); s.price > 0 {
			out = append(out, s)
		}
	}
	return out
}
