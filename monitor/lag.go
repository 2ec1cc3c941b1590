package monitor

import (
	"slices"
	"strconv"
	"time"

	"github.com/tradetop/tradetop/state"
)

// Verdict is a partition's health in the spirit of Burrow, judged from the
// group's committed offsets (OffsetFetch) against the end offsets
// (ListOffsets), as any Kafka tool watching the group would see them.
type Verdict int

const (
	OK Verdict = iota
	Warn
	Stall
	Stop
)

func (v Verdict) String() string {
	return [...]string{"OK", "WARN", "STALL", "STOP"}[v]
}

// lagWindow is the window verdicts are judged over: twice the longest
// candle window plus the allowed lateness plus commitSlack, and at least 30
// seconds.
//
// tradetop commits an offset only once every window holding the messages
// before it is closed and stored, and a window closes once the event time
// passes its end by the allowed lateness. So in a healthy pipeline the
// committed offset stands still for at most the longest window plus the
// allowed lateness, then jumps, and the committed lag is a sawtooth whose
// peaks are a window's worth of messages. The snapshot says the lateness
// exactly; each half of the window is the longest candle window, the
// lateness and commitSlack, so it always holds one of those jumps; then:
//
//   - STOP: no commit for longer than the window while lag > 0, and this
//     instance is not reading the partition either (or does not own it).
//   - STALL: no commit for longer than the window while lag > 0, although
//     this instance keeps reading it: the commits are stuck, not the reads.
//   - WARN: the lag grows over the window: its lowest point in the newer
//     half, right after a commit, is more than 10% (and 10 messages) above
//     its lowest point in the older half. Comparing the low points keeps
//     the sawtooth itself from counting as growth. A partition this
//     instance has read to the end is not behind: its lag is the windows
//     still open.
//   - OK otherwise, and also when lag > 0 only because the last windows wait
//     for later trades to close them: everything is read and nothing new has
//     arrived for half the window.
//
// Until the committed offset has moved and a whole window has passed since,
// WARN is not judged; STALL and STOP need a window of watching too.
func lagWindow(intervals []time.Duration, lateness time.Duration) time.Duration {
	var longest time.Duration
	for _, d := range intervals {
		longest = max(longest, d)
	}
	return max(2*(longest+max(lateness, 0)+commitSlack), 30*time.Second)
}

// commitSlack is how much later than its window's close an offset may be
// seen committed: the batch cut, the store write, the commit itself and the
// next lag read, each a second or less when healthy.
const commitSlack = 8 * time.Second

// lagSamples is how many spaced samples a partition keeps: enough to span
// the window.
const lagSamples = 64

// lagBuckets is how many slices of the window keep the lowest lag read in
// them, for WARN: fine enough that each half is measured to within 1/64 of
// the window, and a few more as the window slides.
const lagBuckets = 72

// minBucket is the lowest lag read in one slice of time.
type minBucket struct {
	idx int64 // the slice: time / slice length; 0 for none
	min int64
}

// maxPartitions bounds how many partitions are tracked, so memory stays
// bounded on a topic with thousands; the rest are summed but not judged.
const maxPartitions = 1024

// lagSample is one partition at one lag read. pos is the next offset this
// instance reads, or -1 if it does not read the partition.
type lagSample struct {
	t                        time.Time
	end, committed, lag, pos int64
}

// partLag is the history of one partition.
type partLag struct {
	id     int
	ring   [lagSamples]lagSample // spaced samples, oldest overwritten
	n      int
	head   int       // next write
	latest lagSample // the newest read
	seen   time.Time // first read

	commitMoved, posMoved, endMoved time.Time
	committing                      time.Time // when the committed offset first moved

	lows  [lagBuckets]minBucket
	slice time.Duration // the length of a bucket's slice
}

// noteLow keeps lag as the lowest of its slice of time.
func (p *partLag) noteLow(t time.Time, lag int64, window time.Duration) {
	slice := max(window/64, time.Second)
	if slice != p.slice {
		p.slice, p.lows = slice, [lagBuckets]minBucket{}
	}
	idx := t.UnixNano() / int64(slice)
	b := &p.lows[idx%lagBuckets]
	if b.idx != idx {
		*b = minBucket{idx: idx, min: lag}
		return
	}
	b.min = min(b.min, lag)
}

// lowest returns the lowest lag read in the slices [from, to], and whether
// any was.
func (p *partLag) lowest(from, to int64) (int64, bool) {
	low, ok := int64(0), false
	for _, b := range p.lows {
		if b.idx >= from && b.idx <= to && (!ok || b.min < low) {
			low, ok = b.min, true
		}
	}
	return low, ok
}

func (p *partLag) push(s lagSample) {
	p.ring[p.head] = s
	p.head = (p.head + 1) % lagSamples
	p.n = min(p.n+1, lagSamples)
}

// sample returns the i-th spaced sample, oldest first.
func (p *partLag) sample(i int) lagSample {
	return p.ring[(p.head-p.n+i+lagSamples)%lagSamples]
}

// lagTracker follows the committed and end offsets of every partition across
// lag reads, and the topic's total lag for the sparkline. It is owned by the
// model's goroutine.
type lagTracker struct {
	window time.Duration
	read   time.Time // LagTime of the newest read
	parts  map[int]*partLag
	ids    []int // tracked partitions, in order
	total  ring  // total committed lag at each read
	reads  int   // lag reads recorded
}

func newLagTracker() *lagTracker {
	return &lagTracker{window: lagWindow(nil, 0), parts: map[int]*partLag{}, total: newRing(512)}
}

// record takes the snapshot's lag read, if it is a new one.
func (l *lagTracker) record(s *state.Snapshot) {
	l.window = lagWindow(s.Intervals, s.AllowedLateness)
	if s.LagTime.IsZero() || !s.LagTime.After(l.read) {
		return
	}
	l.read = s.LagTime
	t := s.LagTime
	spacing := l.window / (lagSamples - 8)
	for _, pl := range s.Lag {
		p := l.parts[pl.Partition]
		if p == nil {
			if len(l.parts) >= maxPartitions {
				continue
			}
			p = &partLag{id: pl.Partition, seen: t, commitMoved: t, posMoved: t, endMoved: t}
			l.parts[pl.Partition] = p
			l.ids = append(l.ids, pl.Partition)
			slices.Sort(l.ids)
		}
		pos := int64(-1)
		if v, ok := s.Positions[pl.Partition]; ok {
			pos = v
		}
		cur := lagSample{t: t, end: pl.End, committed: pl.Committed, lag: pl.Lag, pos: pos}
		if p.n > 0 || !p.latest.t.IsZero() {
			if cur.committed != p.latest.committed {
				p.commitMoved = t
				if p.committing.IsZero() {
					p.committing = t
				}
			}
			if cur.pos != p.latest.pos {
				p.posMoved = t
			}
			if cur.end != p.latest.end {
				p.endMoved = t
			}
		}
		p.latest = cur
		if !p.committing.IsZero() {
			p.noteLow(t, cur.lag, l.window)
		}
		if p.n == 0 || t.Sub(p.sample(p.n-1).t) >= spacing {
			p.push(cur)
		}
	}
	l.total.push(float64(s.TotalLag))
	l.reads++
}

// verdict judges partition p at the newest read, and says why when it is
// not OK; see lagWindow.
func (l *lagTracker) verdict(p *partLag) (Verdict, string) {
	now, cur, w := p.latest.t, p.latest, l.window
	if cur.lag <= 0 {
		return OK, ""
	}
	waiting := cur.pos >= 0 && cur.pos >= cur.end && now.Sub(p.endMoved) >= w/2
	if since := now.Sub(p.commitMoved); since > w {
		idle := "no commit for " + since.Round(time.Second).String() + " with lag " + strconv.FormatInt(cur.lag, 10)
		switch {
		case waiting:
			return OK, ""
		case cur.pos >= 0 && now.Sub(p.posMoved) <= w:
			return Stall, idle + ", though it is read"
		default:
			return Stop, idle + ", and it is not read"
		}
	}
	if p.committing.IsZero() || now.Sub(p.committing) < w || (cur.pos >= 0 && cur.pos >= cur.end) {
		return OK, ""
	}
	cur2 := now.UnixNano() / int64(p.slice)
	half := int64(w/2) / int64(p.slice)
	older, ok1 := p.lowest(cur2-2*half, cur2-half-1)
	newer, ok2 := p.lowest(cur2-half, cur2)
	if ok1 && ok2 && newer > older+max(10, older/10) {
		return Warn, "lag grew from " + strconv.FormatInt(older, 10) + " to " + strconv.FormatInt(newer, 10) + " over " + w.String()
	}
	return OK, ""
}

// rates returns a partition's messages per second arriving (end offset) and
// read by this instance (-1 when it does not read it), over the last few
// seconds.
func (l *lagTracker) rates(p *partLag) (in, read float64) {
	cur := p.latest
	ref := cur
	for i := p.n - 1; i >= 0; i-- {
		s := p.sample(i)
		if cur.t.Sub(s.t) >= 3*time.Second {
			ref = s
			break
		}
		ref = s
	}
	dt := cur.t.Sub(ref.t).Seconds()
	if dt <= 0 {
		return 0, -1
	}
	in = float64(cur.end-ref.end) / dt
	read = -1
	if cur.pos >= 0 && ref.pos >= 0 {
		read = float64(cur.pos-ref.pos) / dt
	}
	return max(in, 0), read
}

// offsetAge estimates how long ago the message at offset arrived, by when
// the end offset passed it, taking arrivals between two reads as evenly
// spread. ok is false if that was before the oldest sample kept.
func (p *partLag) offsetAge(offset int64) (time.Duration, bool) {
	cur := p.latest
	if offset >= cur.end {
		return 0, true
	}
	newer := cur
	for i := p.n - 1; i >= 0; i-- {
		s := p.sample(i)
		if !s.t.Before(newer.t) {
			continue
		}
		if s.end <= offset {
			// It arrived after s and by newer, whose end is past it.
			frac := float64(offset-s.end+1) / float64(newer.end-s.end)
			at := s.t.Add(time.Duration(frac * float64(newer.t.Sub(s.t))))
			return cur.t.Sub(at), true
		}
		newer = s
	}
	return cur.t.Sub(newer.t), false
}

// Summary is the topic as a whole at the newest lag read.
type Summary struct {
	In, Read     float64       // messages per second, all tracked partitions
	Reading      bool          // this instance reads some partition
	Oldest       time.Duration // age of the oldest unread message
	OldestKnown  bool          // false: older than the history
	CommitBehind time.Duration // age of the oldest uncommitted message
	CommitKnown  bool          // false: older than the history
	Committed    bool          // some partition has a committed offset
	Drain        time.Duration // estimated time to read what is unread; -1: not draining
	Verdicts     [4]int        // partitions per verdict
}

func (l *lagTracker) summary(unread int64) Summary {
	sum := Summary{OldestKnown: true, CommitKnown: true, Drain: -1}
	for _, id := range l.ids {
		p := l.parts[id]
		in, read := l.rates(p)
		sum.In += in
		if read >= 0 {
			sum.Read += read
			sum.Reading = true
			age, ok := p.offsetAge(p.latest.pos)
			sum.Oldest = max(sum.Oldest, age)
			sum.OldestKnown = sum.OldestKnown && ok
		}
		if p.latest.committed >= 0 {
			sum.Committed = true
			age, ok := p.offsetAge(p.latest.committed)
			sum.CommitBehind = max(sum.CommitBehind, age)
			sum.CommitKnown = sum.CommitKnown && ok
		}
		v, _ := l.verdict(p)
		sum.Verdicts[v]++
	}
	switch {
	case unread <= 0:
		sum.Drain = 0
	case sum.Read > sum.In:
		sum.Drain = time.Duration(float64(unread) / (sum.Read - sum.In) * float64(time.Second))
	}
	return sum
}

// ring is a fixed-size ring of float64 values, oldest overwritten.
type ring struct {
	buf  []float64
	head int
	n    int
}

func newRing(n int) ring { return ring{buf: make([]float64, n)} }

func (r *ring) push(v float64) {
	r.buf[r.head] = v
	r.head = (r.head + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

// last appends the newest k values to dst, oldest first.
func (r *ring) last(dst []float64, k int) []float64 {
	k = min(k, r.n)
	for i := r.n - k; i < r.n; i++ {
		dst = append(dst, r.buf[(r.head-r.n+i+len(r.buf))%len(r.buf)])
	}
	return dst
}
