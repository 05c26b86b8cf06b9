package predict

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// metrics are the server's counters and histograms, written by /metrics in
// the Prometheus text exposition format (version 0.0.4).
type metrics struct {
	requests, texts, batches, errors atomic.Int64
	truncated, dropped, aborted      atomic.Int64

	mu    sync.Mutex
	codes map[int]int64 // answered requests by status

	latency     histogram // seconds from request to answer (200s)
	batchRows   histogram // rows per forward pass
	batchTokens histogram // padded tokens per forward pass
	batchTime   histogram // seconds per forward pass
}

func (m *metrics) init() {
	m.codes = map[int]int64{}
	m.latency = newHistogram(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
	m.batchRows = newHistogram(1, 2, 4, 8, 16, 32, 64, 128)
	m.batchTokens = newHistogram(128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
	m.batchTime = newHistogram(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
}

func (m *metrics) countCode(code int) {
	m.mu.Lock()
	m.codes[code]++
	m.mu.Unlock()
}

func (m *metrics) observePass(rows, paddedTokens int, d time.Duration) {
	m.batches.Add(1)
	m.batchRows.observe(float64(rows))
	m.batchTokens.observe(float64(paddedTokens))
	m.batchTime.observe(d.Seconds())
}

func (m *metrics) write(w io.Writer, q QueueState) {
	const p = "sentitune_serve_"
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s%s %s\n# TYPE %s%s counter\n%s%s %d\n", p, name, help, p, name, p, name, v)
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s%s %s\n# TYPE %s%s gauge\n%s%s %s\n", p, name, help, p, name, p, name, formatFloat(v))
	}
	m.mu.Lock()
	codes := make([]int, 0, len(m.codes))
	for c := range m.codes {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	fmt.Fprintf(w, "# HELP %srequests_total Prediction requests answered, by HTTP status.\n# TYPE %srequests_total counter\n", p, p)
	for _, c := range codes {
		fmt.Fprintf(w, "%srequests_total{code=\"%d\"} %d\n", p, c, m.codes[c])
	}
	m.mu.Unlock()
	counter("errors_total", "Requests answered with an error status.", m.errors.Load())
	counter("texts_total", "Texts scored and answered.", m.texts.Load())
	counter("truncated_texts_total", "Texts cut to the model's max length.", m.truncated.Load())
	counter("dropped_texts_total", "Texts never scored because their request timed out, left or was cut by shutdown.", m.dropped.Load())
	counter("batches_total", "Forward passes.", m.batches.Load())
	gauge("queue_requests", "Requests waiting for the model.", float64(q.Requests))
	gauge("queue_texts", "Texts waiting for the model.", float64(q.Texts))
	gauge("queue_tokens", "Prompt tokens waiting for the model.", float64(q.Tokens))
	gauge("queue_oldest_wait_seconds", "How long the oldest waiting request has waited.", q.OldestWait)
	m.latency.write(w, p+"request_duration_seconds", "Time from request to answer of successful predictions.")
	m.batchRows.write(w, p+"batch_rows", "Rows per forward pass.")
	m.batchTokens.write(w, p+"batch_tokens", "Padded tokens (rows x longest row) per forward pass.")
	m.batchTime.write(w, p+"batch_duration_seconds", "Time per forward pass.")
}

// histogram is a Prometheus histogram with fixed upper bounds.
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []int64 // per bucket, not cumulative; the last is +Inf
	sum    float64
}

func newHistogram(bounds ...float64) histogram {
	return histogram{bounds: bounds, counts: make([]int64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound ≥ v: buckets are "le"
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.mu.Unlock()
}

func (h *histogram) write(w io.Writer, name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum int64
	for i, b := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", name, formatFloat(b), cum)
	}
	cum += h.counts[len(h.bounds)]
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", name, cum, name, formatFloat(h.sum), name, cum)
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
