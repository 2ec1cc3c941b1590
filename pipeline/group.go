package pipeline

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/state"
)

// lagBound is the group's committed lag at the last lag read, and how many
// trades this process had produced just before that read began: the lag
// now is at most that lag plus what was produced since, whatever the
// processors did meanwhile. The monitor goroutine sets it; the producer
// reads it and asks for an early read when it waits on it.
type lagBound struct {
	mu       sync.Mutex
	known    bool
	lag      int64
	produced int64
	// read is signalled after each lag read; wanted by a producer that
	// waits for one.
	read, wanted chan struct{}
}

func newLagBound() lagBound {
	return lagBound{read: make(chan struct{}, 1), wanted: make(chan struct{}, 1)}
}

// set records a lag read that began when produced trades were produced.
func (b *lagBound) set(lag, produced int64) {
	b.mu.Lock()
	b.known, b.lag, b.produced = true, lag, produced
	b.mu.Unlock()
	select {
	case b.read <- struct{}{}:
	default:
	}
}

// estimate returns the most the group's lag can be now, when produced
// trades have been produced, and false before the first read.
func (b *lagBound) estimate(produced int64) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lag + max(produced-b.produced, 0), b.known
}

// waitLag waits until n more trades fit under MaxLag of group lag. Once the
// feed has stopped it does not wait: the few trades left in the queue go
// out, and the processors read them when they can.
func (p *Pipeline) waitLag(ctx context.Context, n int64) error {
	for !p.draining.Load() {
		used, ok := p.lagBound.estimate(p.m.produced.Load())
		if ok && (used <= 0 || used+n <= p.cfg.MaxLag) {
			break
		}
		p.holding.Store(true)
		select {
		case p.lagBound.wanted <- struct{}{}:
		default:
		}
		select {
		case <-p.lagBound.read:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.holding.Store(false)
	return nil
}

// assigned records the generation this process joined and says so in the
// events and the log.
func (p *Pipeline) assigned(gen bus.Generation) {
	p.member.Store(&gen)
	p.shared.Store(p.cfg.Role == RoleAll && int64(len(gen.Partitions)) < p.topicParts.Load())
	select { // the producer may wait on the bound this changes
	case p.lagBound.read <- struct{}{}:
	default:
	}
	var msg string
	if len(gen.Partitions) == 0 {
		msg = fmt.Sprintf("joined the group in generation %d with no partition: the group has more members than the topic has partitions, so this one is idle until a rebalance gives it one", gen.ID)
	} else {
		msg = fmt.Sprintf("joined the group in generation %d: partitions %s", gen.ID, partList(gen.Partitions))
	}
	p.cfg.Log.Info("group generation", "generation", gen.ID, "member", gen.MemberID, "partitions", gen.Partitions)
	p.errs.event("group", msg)
}

// groupWatch follows the group across DescribeGroups reads and tells of
// members that come and go and partitions that move between them. It is
// used by the monitor goroutine, except latest, which publish reads under
// mu.
type groupWatch struct {
	mu     sync.Mutex
	latest bus.Group
	at     time.Time
	moves  int64

	seen    bool
	members map[string]bus.Member // by member ID, at the last read
	owner   map[int]string        // partition → member ID; absent: none
	last    map[int]bus.Member    // the partition's last owner
	// unowned is since when a partition that had an owner has none.
	unowned map[int]time.Time
	// committed and still are each partition's committed offset at the
	// last lag read, and since when it has stood still with lag.
	committed map[int]int64
	still     map[int]time.Time
}

// commits takes a lag read, so that a moved partition can say how long its
// commits had stood still.
func (w *groupWatch) commits(lag []bus.PartitionLag, t time.Time) {
	if w.committed == nil {
		w.committed, w.still = map[int]int64{}, map[int]time.Time{}
	}
	for _, pl := range lag {
		c, ok := w.committed[pl.Partition]
		if !ok || c != pl.Committed || pl.Lag <= 0 {
			w.still[pl.Partition] = t
		}
		w.committed[pl.Partition] = pl.Committed
	}
}

// observe takes a read of the group at t and returns what changed since
// the previous read, one line each: members that joined or left, and
// partitions that moved, with how long they had no owner and how long their
// commits had stood still. The first read only sets the scene.
func (w *groupWatch) observe(g bus.Group, t time.Time) []string {
	w.mu.Lock()
	w.latest, w.at = g, t
	w.mu.Unlock()

	members := make(map[string]bus.Member, len(g.Members))
	owner := map[int]string{}
	for _, m := range g.Members {
		members[m.ID] = m
		for _, p := range m.Partitions {
			owner[p] = m.ID
		}
	}
	if !w.seen {
		w.seen = true
		w.members, w.owner, w.last, w.unowned = members, owner, map[int]bus.Member{}, map[int]time.Time{}
		for p, id := range owner {
			w.last[p] = members[id]
		}
		return nil
	}
	var out []string
	for _, id := range slices.Sorted(maps.Keys(members)) {
		if _, ok := w.members[id]; !ok {
			out = append(out, fmt.Sprintf("member %s joined", describe(members[id])))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(w.members)) {
		if _, ok := members[id]; ok {
			continue
		}
		m := w.members[id]
		line := fmt.Sprintf("member %s left", describe(m))
		if len(m.Partitions) > 0 {
			line += "; partitions " + partList(m.Partitions) + " wait for a new owner"
		}
		out = append(out, line)
	}
	// Partitions that lost their owner, and those that found one: grouped
	// by where they came from and went.
	type move struct{ from, to string }
	moved := map[move][]int{}
	for p, id := range w.owner {
		if _, ok := owner[p]; !ok {
			w.unowned[p] = t
		} else if owner[p] != id {
			moved[move{w.last[p].ID, owner[p]}] = append(moved[move{w.last[p].ID, owner[p]}], p)
		}
	}
	for p, id := range owner {
		// Back with the member that had it before the rebalance: not a move.
		if _, had := w.owner[p]; !had && w.last[p].ID != id {
			moved[move{w.last[p].ID, id}] = append(moved[move{w.last[p].ID, id}], p)
		}
	}
	keys := slices.SortedFunc(maps.Keys(moved), func(a, b move) int {
		return strings.Compare(a.from+"\x00"+a.to, b.from+"\x00"+b.to)
	})
	for _, k := range keys {
		parts := moved[k]
		slices.Sort(parts)
		line := fmt.Sprintf("partitions %s assigned to %s", partList(parts), describe(members[k.to]))
		if prev, ok := w.last[parts[0]]; ok {
			line = fmt.Sprintf("partitions %s moved from %s to %s", partList(parts), describe(prev), describe(members[k.to]))
		}
		var unowned, still time.Duration
		for _, p := range parts {
			if since, ok := w.unowned[p]; ok {
				unowned = max(unowned, t.Sub(since))
			}
			if since, ok := w.still[p]; ok {
				still = max(still, t.Sub(since))
			}
		}
		if unowned > 0 {
			line += " after " + unowned.Round(100*time.Millisecond).String() + " without an owner"
		}
		if still >= time.Second {
			line += "; their commits had stood still for " + still.Round(100*time.Millisecond).String()
		}
		out = append(out, line)
	}
	if len(keys) > 0 {
		w.mu.Lock()
		w.moves++
		w.mu.Unlock()
	}
	for p, id := range owner {
		delete(w.unowned, p)
		w.last[p] = members[id]
	}
	w.members, w.owner = members, owner
	return out
}

// snapshot returns the group at the last read, when it was read, and how
// many reads saw partitions move: the rebalances seen.
func (w *groupWatch) snapshot() (bus.Group, time.Time, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest, w.at, w.moves
}

// describe names a member by its client ID and host.
func describe(m bus.Member) string {
	if m.Host == "" {
		return m.ClientID
	}
	return m.ClientID + " (" + strings.TrimPrefix(m.Host, "/") + ")"
}

// partList writes partitions as "0, 1, 2".
func partList(parts []int) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

// stateMembers converts the group's members for a snapshot.
func stateMembers(ms []bus.Member) []state.Member {
	if len(ms) == 0 {
		return nil
	}
	out := make([]state.Member, len(ms))
	for i, m := range ms {
		out[i] = state.Member(m)
	}
	return out
}
