package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/tradetop/tradetop/state"
)

// keepAlive is how often a stream whose snapshots do not change (a run
// that has ended) still sends something, so that viewers can tell a quiet
// service from a lost connection.
const keepAlive = 15 * time.Second

// hub takes the service's snapshot every interval while anyone watches,
// encodes it once and hands the frame to every viewer without waiting: a
// viewer whose buffer is full has fallen behind and is dropped. With no
// viewer it does nothing at all.
type hub struct {
	svc Service
	o   Options

	mu      sync.Mutex
	viewers map[*viewer]struct{}
	running bool     // the loop runs
	last    []byte   // the latest frame, for a viewer that joins
	dropped int64    // viewers dropped since the start
	lastFor struct { // the snapshot last encoded
		snap *state.Snapshot
		at   time.Time
	}
}

// viewer is one stream's queue of frames. gone is closed when the hub
// drops it.
type viewer struct {
	ch   chan []byte
	gone chan struct{}
}

func newHub(svc Service, o Options) *hub {
	return &hub{svc: svc, o: o, viewers: map[*viewer]struct{}{}}
}

func (h *hub) stats() (int, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.viewers), h.dropped
}

// join adds a viewer, given the latest frame at once, and starts the loop
// if it was idle.
func (h *hub) join() *viewer {
	v := &viewer{ch: make(chan []byte, h.o.Buffer), gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.viewers[v] = struct{}{}
	if h.last != nil {
		v.ch <- h.last
	}
	if !h.running {
		h.running = true
		go h.loop()
	}
	return v
}

// leave removes a viewer that went away by itself.
func (h *hub) leave(v *viewer) {
	h.mu.Lock()
	delete(h.viewers, v)
	h.mu.Unlock()
}

// loop publishes until no viewer is left.
func (h *hub) loop() {
	tick := time.NewTicker(h.o.Interval)
	defer tick.Stop()
	h.publish()
	for range tick.C {
		if !h.publish() {
			return
		}
	}
}

// publish sends the service's snapshot, if it is new, to every viewer; it
// reports whether any viewer is left, and stops the loop if not.
func (h *hub) publish() bool {
	h.mu.Lock()
	if len(h.viewers) == 0 {
		h.running, h.last = false, nil
		h.lastFor.snap = nil
		h.mu.Unlock()
		return false
	}
	prev, at := h.lastFor.snap, h.lastFor.at
	h.mu.Unlock()

	snap := h.svc.Snapshot()
	var frame []byte
	switch {
	case snap != nil && snap != prev:
		frame = encodeFrame(snap)
		if frame == nil {
			h.o.Log.Error("viewers: a snapshot could not be encoded; skipped")
			return true
		}
	case time.Since(at) >= keepAlive:
		frame = []byte(": keep-alive\n\n")
	default:
		return true
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastFor.at = time.Now()
	if snap != prev {
		h.lastFor.snap, h.last = snap, frame
	}
	for v := range h.viewers {
		select {
		case v.ch <- frame:
		default:
			// Fallen behind by a whole buffer: dropped, never waited for.
			delete(h.viewers, v)
			close(v.gone)
			h.dropped++
			h.o.Log.Warn("viewer dropped: it fell behind the snapshots", "buffered", h.o.Buffer, "dropped_total", h.dropped)
		}
	}
	return true
}

// encodeFrame is the server-sent event of one snapshot, or nil when it
// cannot be encoded.
func encodeFrame(s *state.Snapshot) []byte {
	var b bytes.Buffer
	b.WriteString("event: snapshot\ndata: ")
	if err := json.NewEncoder(&b).Encode(s); err != nil {
		return nil
	}
	// Encode ended the line; a blank line ends the event.
	b.WriteByte('\n')
	return b.Bytes()
}

// stream serves the snapshots as server-sent events until the viewer goes
// away, falls behind, or a write to it takes longer than WriteTimeout.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	v := s.hub.join()
	defer s.hub.leave(v)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-v.gone:
			return
		case frame := <-v.ch:
			_ = rc.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout))
			if _, err := w.Write(frame); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
