package predict

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
)

// ServerConfig bounds the HTTP service. Zero values take the defaults.
type ServerConfig struct {
	MaxBatch         int           // rows per forward pass (0 = 32)
	MaxBatchTokens   int           // padded tokens per forward pass, rows × longest row (0 = 2048): a pass cannot be interrupted, so this bounds how long one runs
	MaxWait          time.Duration // how long a forward pass waits for more requests to fill it (0 = 5 ms)
	MaxBody          int64         // request body bytes (0 = 1 MiB) → 413 beyond
	MaxTexts         int           // texts per request (0 = 256) → 413 beyond
	MaxRequestTokens int           // prompt tokens of one request, after truncation to the max length (0 = 32768) → 413 beyond
	MaxQueueTokens   int           // prompt tokens waiting over all requests (0 = 262144) → 503 with Retry-After beyond
	Timeout          time.Duration // per request, queueing included (0 = 30 s) → 503 beyond
	Drain            time.Duration // hard limit of a shutdown: then requests still waiting get 503 (0 = 30 s)
	Token            string        // bearer token that /v1/predict and /metrics require ("" = none)
	ControlTokens    bool          // let chat control tokens inside texts (e.g. <|im_end|>) act; false encodes them as plain text
}

// Defaults of ServerConfig.
const (
	DefaultServeMaxBatch       = 32
	DefaultServeBatchTokens    = 2048 // tiny model, 2 cores: as many rows/s as 4096 (8192 is slower), half the wait
	DefaultServeRequestTokens  = 32768
	DefaultServeQueueTokens    = 262144
	DefaultServeMaxTexts       = 256
	DefaultServeMaxBody        = 1 << 20
	DefaultServeMaxWait        = 5 * time.Millisecond
	DefaultServeTimeout        = 30 * time.Second
	DefaultServeDrain          = 30 * time.Second
	passesPerRound             = 2  // a round is sorted by length and cut into passes: less padding, bounded wait
	maxBytesPerToken           = 16 // texts are cut to max-len × this many bytes before tokenizing: text averages 1–5 bytes a token, so only a text of longer tokens loses more than BuildPrompt would cut
	retryAfterSaturatedSeconds = "1"
)

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultServeMaxBatch
	}
	if c.MaxBatchTokens <= 0 {
		c.MaxBatchTokens = DefaultServeBatchTokens
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultServeMaxWait
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultServeMaxBody
	}
	if c.MaxTexts <= 0 {
		c.MaxTexts = DefaultServeMaxTexts
	}
	if c.MaxRequestTokens <= 0 {
		c.MaxRequestTokens = DefaultServeRequestTokens
	}
	if c.MaxQueueTokens <= 0 {
		c.MaxQueueTokens = DefaultServeQueueTokens
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultServeTimeout
	}
	if c.Drain <= 0 {
		c.Drain = DefaultServeDrain
	}
	return c
}

// PredictRequest is the body of POST /v1/predict.
type PredictRequest struct {
	Texts []string `json:"texts"`
}

// PredictResponse is its answer, one prediction per text, in order.
type PredictResponse struct {
	Predictions []Prediction `json:"predictions"`
}

// Prediction is one text's class and P(label = 1); for a K-class adapter its class name and
// each class's probability, as {"pred": "neutral", "probs": {...}} (serve_classes.go).
type Prediction struct {
	Pred int     `json:"pred"`
	Prob float64 `json:"prob"`

	Class string             `json:"-"` // K classes: the name of class Pred
	Probs map[string]float64 `json:"-"` // K classes: P(class) by name; nil for binary
}

// ServerStats counts what the server did (shown by GET /healthz).
type ServerStats struct {
	Requests  int64 `json:"requests"`
	Texts     int64 `json:"texts"`   // texts answered
	Batches   int64 `json:"batches"` // forward passes: Texts/Batches is the coalescing achieved
	Errors    int64 `json:"errors"`  // requests answered with an error status
	Truncated int64 `json:"truncated"`
	Dropped   int64 `json:"dropped"` // texts never scored because their request timed out, left or was cut by shutdown
}

// QueueState is the work waiting for the model.
type QueueState struct {
	Requests   int     `json:"requests"`
	Texts      int     `json:"texts"`
	Tokens     int     `json:"tokens"`
	OldestWait float64 `json:"oldest_wait_s"` // seconds the oldest waiting request has waited
}

// serveScorer is what Server needs; *Scorer implements it and tests substitute fakes.
type serveScorer interface {
	// encodeServe turns one cleaned text into prompt ids within the max length;
	// truncated says that the text was cut.
	encodeServe(clean string, plainControlTokens bool) (ids []int, truncated bool, err error)
	scoreRows(rows [][]int) ([]Score, error) // one forward pass
	info() Info
}

// Server answers prediction requests. Handlers tokenize their texts and queue
// them; one batching goroutine forms rounds of rows taken round-robin across
// the waiting requests (so a small request is not stuck behind a large one),
// sorts each round by length and scores it in forward passes of at most
// MaxBatchTokens padded tokens (so a pass ends quickly and requests that
// time out or leave stop costing work between passes).
type Server struct {
	sc      serveScorer
	cfg     ServerConfig
	classes []string      // a K-class scorer's class names, in class order (nil: binary)
	aspects *serveAspects // an aspect adapter's aspects: one row per text and aspect (nil: one per text)

	mu     sync.Mutex
	queue  []*job            // requests with rows not yet taken, in arrival order
	live   map[*job]struct{} // requests not yet answered
	cursor int               // round-robin position in queue
	qRows  int
	qToks  int

	wake       chan struct{} // a request was queued
	stop       chan struct{}
	done       chan struct{}
	once       sync.Once
	down       atomic.Bool  // shutting down: /healthz and /readyz say so
	passStart  atomic.Int64 // unix ns when the running forward pass began, 0 between passes
	lastActive atomic.Int64 // unix ns when the batcher last took or finished work

	m metrics
}

type job struct {
	ctx      context.Context
	rows     [][]int
	order    []int // row indices, shortest first: the order rounds take them in
	taken    int   // rows of order handed to rounds
	left     int   // rows not yet scored
	tokens   int
	scores   []Score
	arrived  time.Time
	done     chan error // buffered: the batcher never blocks on a gone client
	finished bool
}

// pending is one row of a job in a round.
type pending struct {
	j   *job
	row int
}

var errShuttingDown = errors.New("server is shutting down")

// NewServer starts the batching goroutine of a server around sc. Close it
// (or let ListenAndServe return) to stop it.
func NewServer(sc *Scorer, cfg ServerConfig) *Server { return newServer(sc, cfg) }

func newServer(sc serveScorer, cfg ServerConfig) *Server {
	s := &Server{sc: sc, cfg: cfg.withDefaults(), live: map[*job]struct{}{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.m.init()
	s.classes = serveClasses(sc.info())
	s.aspects = serveAspectsOf(sc)
	s.lastActive.Store(time.Now().UnixNano())
	go s.batcher()
	return s
}

// Stats returns the counters so far.
func (s *Server) Stats() ServerStats {
	return ServerStats{Requests: s.m.requests.Load(), Texts: s.m.texts.Load(), Batches: s.m.batches.Load(),
		Errors: s.m.errors.Load(), Truncated: s.m.truncated.Load(), Dropped: s.m.dropped.Load()}
}

// Queue returns the work waiting now.
func (s *Server) Queue() QueueState {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := QueueState{Requests: len(s.queue), Texts: s.qRows, Tokens: s.qToks}
	if len(s.queue) > 0 {
		q.OldestWait = time.Since(s.queue[0].arrived).Seconds()
	}
	return q
}

// Close stops the batching goroutine after its current forward pass; requests
// still waiting get 503.
func (s *Server) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	s.abort()
}

// abort answers every request still waiting with errShuttingDown.
func (s *Server) abort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for j := range s.live {
		s.finishLocked(j, errShuttingDown)
		n++
	}
	return n
}

// finishLocked answers j once and takes its rows out of the queue.
func (s *Server) finishLocked(j *job, err error) {
	if j.finished {
		return
	}
	j.finished = true
	delete(s.live, j)
	if err != nil {
		s.m.dropped.Add(int64(j.left))
	}
	if j.taken < len(j.order) {
		for i, q := range s.queue {
			if q == j {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				if s.cursor > i {
					s.cursor--
				}
				break
			}
		}
		for _, r := range j.order[j.taken:] {
			s.qRows--
			s.qToks -= len(j.rows[r])
		}
		j.taken = len(j.order)
	}
	j.done <- err
}

func (s *Server) batcher() {
	// All scoring runs on this one OS thread: one glibc malloc arena, which keeps libtorch's freed
	// buffers for the next batch (see torch.Load's malloc tuning).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(s.done)
	for s.waitForWork() {
		s.scoreRound(s.takeRound())
		select {
		case <-s.stop:
			return
		default:
		}
	}
}

// roundTokens and roundRows bound one round: passesPerRound full passes.
func (s *Server) roundTokens() int { return passesPerRound * s.cfg.MaxBatchTokens }
func (s *Server) roundRows() int   { return passesPerRound * s.cfg.MaxBatch }

// waitForWork blocks until there are rows to score and either a round's worth
// of them or MaxWait has passed since the oldest arrived or the last pass
// ended, whichever is later (clients answered by that pass are about to send
// again, so the next round fills); false when the server stops.
func (s *Server) waitForWork() bool {
	for {
		s.mu.Lock()
		rows, toks := s.qRows, s.qToks
		var oldest time.Time
		if len(s.queue) > 0 {
			oldest = s.queue[0].arrived
		}
		s.mu.Unlock()
		if rows == 0 {
			select {
			case <-s.wake:
				continue
			case <-s.stop:
				return false
			}
		}
		if free := time.Unix(0, s.lastActive.Load()); free.After(oldest) {
			oldest = free
		}
		wait := s.cfg.MaxWait - time.Since(oldest)
		if toks >= s.roundTokens() || rows >= s.roundRows() || wait <= 0 {
			return true
		}
		timer := time.NewTimer(wait)
		select {
		case <-s.wake:
			timer.Stop()
		case <-timer.C:
			return true
		case <-s.stop:
			timer.Stop()
			return false
		}
	}
}

// takeRound takes rows one request at a time, round-robin, until the round is full.
func (s *Server) takeRound() []pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastActive.Store(time.Now().UnixNano())
	var round []pending
	toks := 0
	for len(s.queue) > 0 && toks < s.roundTokens() && len(round) < s.roundRows() {
		if s.cursor >= len(s.queue) {
			s.cursor = 0
		}
		j := s.queue[s.cursor]
		if err := j.ctx.Err(); err != nil {
			s.finishLocked(j, err)
			continue
		}
		r := j.order[j.taken]
		j.taken++
		round = append(round, pending{j, r})
		toks += len(j.rows[r])
		s.qRows--
		s.qToks -= len(j.rows[r])
		if j.taken == len(j.order) {
			s.queue = append(s.queue[:s.cursor], s.queue[s.cursor+1:]...)
		} else {
			s.cursor++
		}
	}
	return round
}

// scoreRound sorts a round by length and scores it in token-bounded passes,
// skipping rows whose request is already answered (timed out, gone, failed).
func (s *Server) scoreRound(round []pending) {
	length := func(p pending) int { return len(p.j.rows[p.row]) }
	sort.SliceStable(round, func(a, b int) bool { return length(round[a]) < length(round[b]) })
	for len(round) > 0 {
		s.mu.Lock()
		live := round[:0]
		for _, p := range round {
			if err := p.j.ctx.Err(); err != nil {
				s.finishLocked(p.j, err)
			}
			if !p.j.finished {
				live = append(live, p)
			}
		}
		s.mu.Unlock()
		round = live
		if len(round) == 0 {
			return
		}
		n, longest := 0, 0
		for n < len(round) && n < s.cfg.MaxBatch {
			l := max(longest, length(round[n]))
			if n > 0 && l*(n+1) > s.cfg.MaxBatchTokens {
				break
			}
			longest = l
			n++
		}
		s.scorePass(round[:n], longest)
		round = round[n:]
	}
}

func (s *Server) scorePass(pass []pending, longest int) {
	rows := make([][]int, len(pass))
	for k, p := range pass {
		rows[k] = p.j.rows[p.row]
	}
	t0 := time.Now()
	s.passStart.Store(t0.UnixNano())
	scores, err := s.sc.scoreRows(rows)
	s.passStart.Store(0)
	s.lastActive.Store(time.Now().UnixNano())
	s.m.observePass(len(rows), len(rows)*longest, time.Since(t0))
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range pass {
		j := p.j
		if j.finished {
			continue
		}
		if err != nil {
			s.finishLocked(j, err)
			continue
		}
		j.scores[p.row] = scores[k]
		if j.left--; j.left == 0 {
			s.finishLocked(j, nil)
		}
	}
}

// Handler serves POST /v1/predict, GET /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/predict", s.authorized(s.handlePredict))
	mux.HandleFunc("/metrics", s.authorized(s.handleMetrics))
	mux.HandleFunc("/healthz", s.handleHealth)
	mux.HandleFunc("/readyz", s.handleReady)
	return mux
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func (s *Server) fail(w http.ResponseWriter, code int, format string, args ...any) {
	s.m.errors.Add(1)
	s.m.countCode(code)
	writeJSON(w, code, errorBody{Error: fmt.Sprintf(format, args...)})
}

// authorized requires "Authorization: Bearer TOKEN" when the server has a token.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Token == "" {
		return h
	}
	// Comparing digests keeps the comparison constant-time in the token's length too.
	want := sha256.Sum256([]byte(s.cfg.Token))
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sentitune"`)
			s.fail(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer TOKEN)")
			return
		}
		h(w, r)
	}
}

// health is the scorer's state: "ok", "saturated" (requests wait more than
// half the timeout or the queue is half full), "stalled" (work waits and no
// forward pass has finished for a whole timeout) or "shutting down".
func (s *Server) health() (status, reason string, q QueueState) {
	q = s.Queue()
	now := time.Now()
	switch {
	case s.down.Load():
		return "shutting down", "", q
	}
	if ps := s.passStart.Load(); ps != 0 {
		if d := now.Sub(time.Unix(0, ps)); d > s.cfg.Timeout {
			return "stalled", fmt.Sprintf("a forward pass has run for %v (timeout %v)", d.Round(time.Millisecond), s.cfg.Timeout), q
		}
	} else if q.Texts > 0 {
		// Since the later of the batcher's last move and the oldest arrival: an idle batcher is not stalled.
		since := max(s.lastActive.Load(), now.Add(-time.Duration(q.OldestWait*float64(time.Second))).UnixNano())
		if d := now.Sub(time.Unix(0, since)); d > s.cfg.Timeout {
			return "stalled", fmt.Sprintf("%d texts wait and the scorer has not taken work for %v", q.Texts, d.Round(time.Millisecond)), q
		}
	}
	switch {
	case q.Tokens*2 >= s.cfg.MaxQueueTokens:
		return "saturated", fmt.Sprintf("%d tokens queued, the limit is %d", q.Tokens, s.cfg.MaxQueueTokens), q
	case q.OldestWait*2 > s.cfg.Timeout.Seconds():
		return "saturated", fmt.Sprintf("the oldest request has waited %.1f s of its %v", q.OldestWait, s.cfg.Timeout), q
	}
	return "ok", "", q
}

type healthBody struct {
	Status string      `json:"status"`
	Reason string      `json:"reason,omitempty"`
	Model  *Info       `json:"model,omitempty"` // left out when a token guards the service
	Queue  QueueState  `json:"queue"`
	Stats  ServerStats `json:"stats"`
}

// handleHealth is liveness: 503 only when the scorer is stalled or the server
// is shutting down; a saturated scorer is alive (200, status "saturated").
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.probe(w, r, func(status string) bool { return status == "ok" || status == "saturated" })
}

// handleReady is readiness for load balancers: 200 only when status is "ok".
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	s.probe(w, r, func(status string) bool { return status == "ok" })
}

func (s *Server) probe(w http.ResponseWriter, r *http.Request, good func(string) bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.fail(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	status, reason, q := s.health()
	body := healthBody{Status: status, Reason: reason, Queue: q, Stats: s.Stats()}
	if s.cfg.Token == "" {
		info := s.sc.info()
		body.Model = &info
	}
	code := http.StatusOK
	if !good(status) {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.fail(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.m.write(w, s.Queue())
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.fail(w, http.StatusMethodNotAllowed, "use POST with a JSON body {\"texts\": [...]}")
		return
	}
	t0 := time.Now()
	s.m.requests.Add(1)
	if r.ContentLength > s.cfg.MaxBody {
		s.fail(w, http.StatusRequestEntityTooLarge, "request body of %d bytes is over the limit of %d bytes", r.ContentLength, s.cfg.MaxBody)
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	dec.DisallowUnknownFields()
	var req PredictRequest
	err := dec.Decode(&req)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.fail(w, http.StatusRequestEntityTooLarge, "request body is over the limit of %d bytes", s.cfg.MaxBody)
		return
	case err == io.EOF:
		s.fail(w, http.StatusBadRequest, "empty body: want {\"texts\": [\"a review\", ...]}")
		return
	case err != nil:
		s.fail(w, http.StatusBadRequest, "malformed JSON: %v; want {\"texts\": [\"a review\", ...]}", err)
		return
	case req.Texts == nil:
		s.fail(w, http.StatusBadRequest, "missing \"texts\": want {\"texts\": [\"a review\", ...]}")
		return
	case len(req.Texts) == 0:
		s.fail(w, http.StatusBadRequest, "\"texts\" is empty")
		return
	case len(req.Texts) > s.cfg.MaxTexts:
		s.fail(w, http.StatusRequestEntityTooLarge, "%d texts in one request; the limit is %d", len(req.Texts), s.cfg.MaxTexts)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	j := &job{ctx: ctx, rows: make([][]int, 0, len(req.Texts)), done: make(chan error, 1)}
	truncated := 0
	for i, t := range req.Texts {
		clean := cleanText(t)
		if clean == "" {
			s.fail(w, http.StatusBadRequest, "texts[%d] is empty", i)
			return
		}
		rows, cut, err := s.encodeText(clean)
		if err != nil {
			s.fail(w, http.StatusBadRequest, "texts[%d]: %v", i, err)
			return
		}
		if cut {
			truncated++
		}
		for _, ids := range rows {
			j.rows = append(j.rows, ids)
			j.tokens += len(ids)
		}
		if j.tokens > s.cfg.MaxRequestTokens {
			s.fail(w, http.StatusRequestEntityTooLarge, "the texts up to texts[%d] come to %d prompt tokens; the limit per request is %d (split the request)",
				i, j.tokens, s.cfg.MaxRequestTokens)
			return
		}
		if ctx.Err() != nil { // the client left while we tokenized
			s.fail(w, http.StatusServiceUnavailable, "request cancelled while tokenizing")
			return
		}
	}
	s.m.truncated.Add(int64(truncated))
	if code, err := s.enqueue(j); err != nil {
		if code == http.StatusServiceUnavailable && !errors.Is(err, errShuttingDown) {
			w.Header().Set("Retry-After", retryAfterSaturatedSeconds)
		}
		s.fail(w, code, "%v", err)
		return
	}
	select {
	case err = <-j.done:
	case <-ctx.Done():
		s.mu.Lock()
		s.finishLocked(j, ctx.Err()) // its rows are not scored any more
		s.mu.Unlock()
		err = <-j.done
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		s.fail(w, http.StatusServiceUnavailable, "timed out after %v waiting for the model", s.cfg.Timeout)
		return
	case errors.Is(err, context.Canceled):
		s.fail(w, http.StatusServiceUnavailable, "request cancelled")
		return
	case errors.Is(err, errShuttingDown):
		s.fail(w, http.StatusServiceUnavailable, "%v", err)
		return
	case err != nil:
		s.fail(w, http.StatusInternalServerError, "scoring failed: %v", err)
		return
	}
	s.m.texts.Add(int64(len(req.Texts)))
	if s.aspects != nil {
		s.m.countCode(http.StatusOK)
		s.m.latency.observe(time.Since(t0).Seconds())
		writeJSON(w, http.StatusOK, s.aspectResponse(j.scores))
		return
	}
	resp := PredictResponse{Predictions: make([]Prediction, len(j.scores))}
	for i, sc := range j.scores {
		resp.Predictions[i] = s.prediction(sc)
	}
	s.m.countCode(http.StatusOK)
	s.m.latency.observe(time.Since(t0).Seconds())
	writeJSON(w, http.StatusOK, resp)
}

// enqueue queues j for the batcher, or says why not (status code and error).
func (s *Server) enqueue(j *job) (int, error) {
	j.order = make([]int, len(j.rows))
	for i := range j.order {
		j.order[i] = i
	}
	sort.SliceStable(j.order, func(a, b int) bool { return len(j.rows[j.order[a]]) < len(j.rows[j.order[b]]) })
	j.left = len(j.rows)
	j.scores = make([]Score, len(j.rows))
	j.arrived = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stop:
		return http.StatusServiceUnavailable, errShuttingDown
	default:
	}
	if s.qToks > 0 && s.qToks+j.tokens > s.cfg.MaxQueueTokens {
		return http.StatusServiceUnavailable, fmt.Errorf("server saturated: %d prompt tokens queued, the limit is %d; retry later", s.qToks, s.cfg.MaxQueueTokens)
	}
	s.queue = append(s.queue, j)
	s.live[j] = struct{}{}
	s.qRows += len(j.rows)
	s.qToks += j.tokens
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return 0, nil
}

// ListenAndServe serves on addr until ctx is cancelled (e.g. on SIGTERM),
// then stops accepting connections and lets requests in flight finish for at
// most Drain: at that limit the requests still waiting get 503, the forward
// pass under way ends (bounded by MaxBatchTokens) and it returns nil (Aborted
// counts the requests cut). ready, if set, is called with the bound address
// once the listener is open (addr may use port 0).
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return fmt.Errorf("serve: %w", err)
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      s.cfg.Timeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.down.Store(true)
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.Drain)
	defer cancel()
	if err := hs.Shutdown(dctx); err != nil { // the drain limit: cut what still waits
		s.m.aborted.Add(int64(s.abort()))
		// Handlers answer their 503 at once; give them a moment before closing connections.
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		if hs.Shutdown(cctx) != nil {
			hs.Close()
		}
		ccancel()
	}
	s.Close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Aborted is how many requests the drain limit answered with 503.
func (s *Server) Aborted() int64 { return s.m.aborted.Load() }

// URL is the base URL of a bound address: 127.0.0.1:8080 → http://127.0.0.1:8080.
func URL(a net.Addr) string { return "http://" + a.String() }

// encodeServe cuts the text to a byte bound no prompt of maxLen tokens can
// reach (so a 1 MB text is not tokenized whole), then builds the prompt as
// training did, truncating to the max length.
func (sc *Scorer) encodeServe(clean string, plain bool) ([]int, bool, error) {
	spec := sc.spec
	spec.PlainText = plain
	return encodeBounded(sc.tok, spec, clean, sc.maxLen, sc.answerLen)
}

func (sc *Scorer) scoreRows(rows [][]int) ([]Score, error) {
	scores, _, err := sc.ScoreIDs(rows)
	return scores, err
}

// encodeBounded is BuildPrompt on the text cut to maxLen × maxBytesPerToken
// bytes (at a character boundary). truncated reports that the prompt reached
// the max length or the text was cut.
func encodeBounded(tok *tokenizer.Tokenizer, spec task.PromptSpec, clean string, maxLen, answerLen int) ([]int, bool, error) {
	text, cut := cutBytes(clean, maxLen*maxBytesPerToken)
	ids, err := task.BuildPrompt(tok, spec, text, maxLen, answerLen)
	if err != nil {
		return nil, false, err
	}
	return ids, cut || (maxLen > 0 && len(ids)+answerLen >= maxLen), nil
}

// cutBytes returns s cut to at most n bytes at a character boundary (n ≤ 0: no cut).
func cutBytes(s string, n int) (string, bool) {
	if n <= 0 || len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}
