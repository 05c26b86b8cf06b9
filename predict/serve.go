package predict

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ServerConfig bounds the HTTP service.
type ServerConfig struct {
	MaxBatch int           // texts per micro-batch (0 = 32); one request may exceed it
	MaxWait  time.Duration // how long a batch waits for more requests (0 = 5 ms)
	MaxBody  int64         // request body bytes (0 = 1 MiB) → 413 beyond
	MaxTexts int           // texts per request (0 = 256) → 413 beyond
	Timeout  time.Duration // per request, queueing included (0 = 30 s) → 503 beyond
	Drain    time.Duration // how long shutdown waits for in-flight requests (0 = 30 s)
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 32
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 5 * time.Millisecond
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	if c.MaxTexts <= 0 {
		c.MaxTexts = 256
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 30 * time.Second
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

// Prediction is one text's class and P(label = 1).
type Prediction struct {
	Pred int     `json:"pred"`
	Prob float64 `json:"prob"`
}

// ServerStats counts what the server did (shown by GET /healthz).
type ServerStats struct {
	Requests int64 `json:"requests"`
	Texts    int64 `json:"texts"`
	Batches  int64 `json:"batches"` // micro-batches: Texts/Batches is the coalescing achieved
	Errors   int64 `json:"errors"`
}

// Server answers prediction requests. Concurrent requests are queued to one
// batching goroutine, which gathers them into micro-batches of up to
// MaxBatch texts (waiting at most MaxWait after the first) and scores each
// micro-batch in one call, so many small requests share forward passes.
type Server struct {
	sc    batchScorer
	cfg   ServerConfig
	jobs  chan *job
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	stats struct{ requests, texts, batches, errors atomic.Int64 }
	down  atomic.Bool // shutting down: /healthz says so
}

type job struct {
	ctx   context.Context
	texts []string
	out   chan jobResult // buffered: the batcher never blocks on a gone client
}

type jobResult struct {
	scores []Score
	err    error
}

// NewServer starts the batching goroutine of a server around sc. Close it
// (or let ListenAndServe return) to stop it.
func NewServer(sc *Scorer, cfg ServerConfig) *Server { return newServer(sc, cfg) }

func newServer(sc batchScorer, cfg ServerConfig) *Server {
	s := &Server{sc: sc, cfg: cfg.withDefaults(), jobs: make(chan *job), stop: make(chan struct{}), done: make(chan struct{})}
	go s.batcher()
	return s
}

// Stats returns the counters so far.
func (s *Server) Stats() ServerStats {
	return ServerStats{Requests: s.stats.requests.Load(), Texts: s.stats.texts.Load(),
		Batches: s.stats.batches.Load(), Errors: s.stats.errors.Load()}
}

// Close stops the batching goroutine; requests still waiting get 503.
func (s *Server) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

func (s *Server) batcher() {
	// All scoring runs on this one OS thread: one glibc malloc arena, which keeps libtorch's freed
	// buffers for the next batch (see torch.Load's malloc tuning).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(s.done)
	for {
		var first *job
		select {
		case first = <-s.jobs:
		case <-s.stop:
			return
		}
		batch := []*job{first}
		n := len(first.texts)
		if n < s.cfg.MaxBatch {
			timer := time.NewTimer(s.cfg.MaxWait)
		gather:
			for n < s.cfg.MaxBatch {
				select {
				case j := <-s.jobs:
					batch = append(batch, j)
					n += len(j.texts)
				case <-timer.C:
					break gather
				case <-s.stop:
					break gather
				}
			}
			timer.Stop()
		}
		s.score(batch)
	}
}

// score runs one micro-batch and hands each job its rows.
func (s *Server) score(batch []*job) {
	live := batch[:0]
	var texts []string
	for _, j := range batch {
		if j.ctx.Err() != nil { // client gone or timed out while queued
			j.out <- jobResult{err: j.ctx.Err()}
			continue
		}
		live = append(live, j)
		texts = append(texts, j.texts...)
	}
	if len(live) == 0 {
		return
	}
	s.stats.batches.Add(1)
	scores, _, err := s.sc.scoreTexts(texts, nil)
	for _, j := range live {
		if err != nil {
			j.out <- jobResult{err: err}
			continue
		}
		j.out <- jobResult{scores: scores[:len(j.texts):len(j.texts)]}
		scores = scores[len(j.texts):]
	}
}

// Handler serves POST /v1/predict and GET /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/predict", s.handlePredict)
	mux.HandleFunc("/healthz", s.handleHealth)
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
	s.stats.errors.Add(1)
	writeJSON(w, code, errorBody{Error: fmt.Sprintf(format, args...)})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.fail(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	body := struct {
		Status string      `json:"status"`
		Model  Info        `json:"model"`
		Stats  ServerStats `json:"stats"`
	}{"ok", s.sc.info(), s.Stats()}
	code := http.StatusOK
	if s.down.Load() {
		body.Status, code = "shutting down", http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.fail(w, http.StatusMethodNotAllowed, "use POST with a JSON body {\"texts\": [...]}")
		return
	}
	s.stats.requests.Add(1)
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
	clean := make([]string, len(req.Texts))
	for i, t := range req.Texts {
		if clean[i] = cleanText(t); clean[i] == "" {
			s.fail(w, http.StatusBadRequest, "texts[%d] is empty", i)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	j := &job{ctx: ctx, texts: clean, out: make(chan jobResult, 1)}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		s.fail(w, http.StatusServiceUnavailable, "timed out after %v waiting for the model", s.cfg.Timeout)
		return
	case <-s.stop:
		s.fail(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	var res jobResult
	select {
	case res = <-j.out:
	case <-ctx.Done():
		s.fail(w, http.StatusServiceUnavailable, "timed out after %v waiting for the model", s.cfg.Timeout)
		return
	}
	if res.err != nil {
		if errors.Is(res.err, context.DeadlineExceeded) || errors.Is(res.err, context.Canceled) {
			s.fail(w, http.StatusServiceUnavailable, "timed out after %v waiting for the model", s.cfg.Timeout)
			return
		}
		s.fail(w, http.StatusInternalServerError, "scoring failed: %v", res.err)
		return
	}
	s.stats.texts.Add(int64(len(clean)))
	resp := PredictResponse{Predictions: make([]Prediction, len(res.scores))}
	for i, sc := range res.scores {
		resp.Predictions[i] = Prediction{Pred: sc.Pred, Prob: sc.Prob}
	}
	writeJSON(w, http.StatusOK, resp)
}

// ListenAndServe serves on addr until ctx is cancelled (e.g. on SIGTERM),
// then stops accepting connections, lets in-flight requests finish (up to
// Drain), stops the batcher and returns. ready, if set, is called with the
// bound address once the listener is open (addr may use port 0).
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
	err = hs.Shutdown(dctx) // waits for in-flight handlers; the batcher keeps serving them
	s.Close()
	if err != nil {
		return fmt.Errorf("serve: shutdown: %w (in-flight requests did not finish within %v)", err, s.cfg.Drain)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// URL is the base URL of a bound address: 127.0.0.1:8080 → http://127.0.0.1:8080.
func URL(a net.Addr) string { return "http://" + a.String() }
