// Package api serves a running pipeline to viewers and controllers
// elsewhere, over HTTP beside the metrics: a stream of its snapshots
// (server-sent events, JSON, four a second), the stored candles of a
// symbol, and the controls of the terminal UI (pause, resume, subscribe,
// unsubscribe, the feed's rate, drain and stop). docs/API.md describes it.
//
// Reading is open when the server is reachable only from this machine (or
// its operator says so); controls always need the control token, compared
// in constant time. A viewer that falls behind is dropped, never waited
// for: the pipeline does not slow down for anyone watching it.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/state"
	"github.com/tradetop/tradetop/trade"
)

// Version is the API's version, the path's /api/v<Version>.
const Version = 1

// Prefix starts every path of the API.
var Prefix = "/api/v" + strconv.Itoa(Version)

// Service is the pipeline the API shows and steers; *pipeline.Pipeline is
// one. Every method may be called from any goroutine.
type Service interface {
	Snapshot() *state.Snapshot
	Pause()
	Resume()
	Subscribe(symbol string) error
	Unsubscribe(symbol string) error
	SetRate(rate float64) error
	RecentCandles(ctx context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error)
	Candles(ctx context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error)
}

// Options configure the API.
type Options struct {
	// Token is the control token: a control request must carry it as
	// "Authorization: Bearer <token>". Empty: every control is refused.
	Token string
	// OpenReads lets requests without the token read snapshots and
	// candles: the server listens on loopback, or its operator said so.
	OpenReads bool
	// Stop drains the pipeline and ends the process. Default: the stop
	// control is refused.
	Stop func()
	// Interval is how often viewers get a snapshot. Default 250ms.
	Interval time.Duration
	// Buffer is how many snapshots a viewer may fall behind before it is
	// dropped. Default 8 (two seconds at the default interval).
	Buffer int
	// WriteTimeout bounds one write to a viewer. Default 10s.
	WriteTimeout time.Duration
	// Version is the program's version, said by GET /api/v1.
	Version string
	// Log gets a line for each viewer dropped. Default: discarded.
	Log *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.Buffer <= 0 {
		o.Buffer = 8
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server is the API over one service.
type Server struct {
	svc   Service
	o     Options
	token [sha256.Size]byte // of Options.Token, so comparing takes the same time whatever its length
	hub   *hub
}

// New returns the API over svc.
func New(svc Service, o Options) *Server {
	o = o.withDefaults()
	s := &Server{svc: svc, o: o, token: sha256.Sum256([]byte(o.Token))}
	s.hub = newHub(svc, o)
	return s
}

// Viewers is how many viewers are streaming snapshots now, and how many
// were dropped for falling behind since the start.
func (s *Server) Viewers() (connected int, dropped int64) { return s.hub.stats() }

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	p := Prefix
	mux.HandleFunc("GET "+p, s.read(s.info))
	mux.HandleFunc("GET "+p+"/snapshot", s.read(s.snapshot))
	mux.HandleFunc("GET "+p+"/snapshots", s.read(s.stream))
	mux.HandleFunc("GET "+p+"/candles", s.read(s.candles))
	mux.HandleFunc("POST "+p+"/pause", s.control(func(*http.Request) error { return s.feed(s.svc.Pause) }))
	mux.HandleFunc("POST "+p+"/resume", s.control(func(*http.Request) error { return s.feed(s.svc.Resume) }))
	mux.HandleFunc("POST "+p+"/subscribe", s.control(func(r *http.Request) error { return s.subscription(r, s.svc.Subscribe) }))
	mux.HandleFunc("POST "+p+"/unsubscribe", s.control(func(r *http.Request) error { return s.subscription(r, s.svc.Unsubscribe) }))
	mux.HandleFunc("POST "+p+"/rate", s.control(s.rate))
	mux.HandleFunc("POST "+p+"/stop", s.control(s.stop))
}

// access is what a request's credentials allow.
type access int

const (
	noToken    access = iota // none given
	wrongToken               // one given, not the service's
	controller               // the service's token
)

// access says what the request's Authorization header allows.
func (s *Server) access(r *http.Request) access {
	h := r.Header.Get("Authorization")
	if h == "" {
		return noToken
	}
	scheme, given, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || s.o.Token == "" {
		return wrongToken
	}
	sum := sha256.Sum256([]byte(given))
	if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
		return wrongToken
	}
	return controller
}

// read serves h to requests that may read: any when reads are open, else
// those with the token.
func (s *Server) read(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.o.OpenReads && s.access(r) != controller {
			unauthorized(w, "reading needs the control token (Authorization: Bearer <token>)")
			return
		}
		h(w, r)
	}
}

// control runs do for requests with the token; others get 401 and change
// nothing.
func (s *Server) control(do func(*http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.o.Token == "":
			unauthorized(w, "this service takes no controls: it was started without a control token")
			return
		case s.access(r) != controller:
			unauthorized(w, "controls need the control token (Authorization: Bearer <token>)")
			return
		}
		if err := do(r); err != nil {
			var he *httpError
			if errors.As(err, &he) {
				writeError(w, he.status, he.msg)
				return
			}
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}
}

// ErrNoFeed answers a pause or resume of a process that runs no feed.
var ErrNoFeed = errors.New("this process runs the process role: it has no feed to pause or resume (steer the ingest process)")

// feed runs do, a control of the feed, unless the service has none.
func (s *Server) feed(do func()) error {
	if snap := s.svc.Snapshot(); snap != nil && snap.Role == "process" {
		return ErrNoFeed
	}
	do()
	return nil
}

// httpError is an error with the status it answers.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="tradetop"`)
	writeError(w, http.StatusUnauthorized, msg)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Info is what GET /api/v1 says of the service and of the caller.
type Info struct {
	API     int    `json:"api"`
	Version string `json:"version"`
	// Started is when the run being served started: a new value means a
	// new run (the service restarted).
	Started time.Time `json:"started"`
	Source  string    `json:"source"`
	// Controls says whether the caller's requests may steer: "allowed",
	// "no token given", "wrong token", or "off" when the service has no
	// control token.
	Controls string `json:"controls"`
	// Interval is how often the stream sends a snapshot, in seconds.
	Interval float64 `json:"interval_s"`
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	in := Info{API: Version, Version: s.o.Version, Interval: s.o.Interval.Seconds()}
	if snap := s.svc.Snapshot(); snap != nil {
		in.Started, in.Source = snap.Started, snap.Source
	}
	switch a := s.access(r); {
	case s.o.Token == "":
		in.Controls = "off"
	case a == controller:
		in.Controls = "allowed"
	case a == wrongToken:
		in.Controls = "wrong token"
	default:
		in.Controls = "no token given"
	}
	writeJSON(w, http.StatusOK, in)
}

func (s *Server) snapshot(w http.ResponseWriter, _ *http.Request) {
	snap := s.svc.Snapshot()
	if snap == nil {
		writeError(w, http.StatusServiceUnavailable, "the pipeline is starting: no snapshot yet")
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

// maxCandles bounds one answer of /candles.
const maxCandles = 10000

// candles answers ?symbol=S&interval=D and either &n=N (the newest N) or
// &from=T&to=T (RFC 3339, a start in [from, to)).
func (s *Server) candles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	symbol := q.Get("symbol")
	if symbol == "" {
		writeError(w, http.StatusBadRequest, "symbol is missing: ?symbol=AAPL&interval=1m&n=60")
		return
	}
	interval, err := time.ParseDuration(q.Get("interval"))
	if err != nil || interval <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("interval %q is not a duration such as 1s or 1m", trade.Excerpt(q.Get("interval"), 40)))
		return
	}
	var out []agg.Candle
	if q.Has("from") || q.Has("to") {
		from, err1 := time.Parse(time.RFC3339Nano, q.Get("from"))
		to, err2 := time.Parse(time.RFC3339Nano, q.Get("to"))
		if err1 != nil || err2 != nil || !from.Before(to) {
			writeError(w, http.StatusBadRequest, "from and to must be RFC 3339 times, from before to")
			return
		}
		out, err = s.svc.Candles(r.Context(), symbol, interval, from, to)
		if len(out) > maxCandles {
			out = out[len(out)-maxCandles:]
		}
	} else {
		n := 60
		if v := q.Get("n"); v != "" {
			if n, err = strconv.Atoi(v); err != nil || n <= 0 || n > maxCandles {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("n %q is not a count from 1 to %d", trade.Excerpt(v, 40), maxCandles))
				return
			}
		}
		out, err = s.svc.RecentCandles(r.Context(), symbol, interval, n)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "reading the store: "+err.Error())
		return
	}
	if out == nil {
		out = []agg.Candle{}
	}
	writeJSON(w, http.StatusOK, out)
}

// subscription changes a subscription to the request's ?symbol=.
func (s *Server) subscription(r *http.Request, change func(string) error) error {
	symbol := r.URL.Query().Get("symbol")
	if symbol == "" {
		return badRequest("symbol is missing: ?symbol=AAPL")
	}
	return change(symbol)
}

// rate sets the feed's pace from ?rate=N (trades per second) or max.
func (s *Server) rate(r *http.Request) error {
	v := r.URL.Query().Get("rate")
	if v == "max" {
		return s.svc.SetRate(0)
	}
	rate, err := strconv.ParseFloat(v, 64)
	if err != nil || !(rate > 0) || rate > 1e9 {
		return badRequest("rate %q is not a number of trades per second (up to 1e9) or max", trade.Excerpt(v, 40))
	}
	return s.svc.SetRate(rate)
}

func (s *Server) stop(*http.Request) error {
	if s.o.Stop == nil {
		return errors.New("this service cannot be stopped from here")
	}
	s.o.Stop()
	return nil
}
