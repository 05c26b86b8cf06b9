package predict

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports rows done: a bar (rows/s, ETA) on a terminal, or a plain
// line every interval for logs (Kubernetes, Slurm), or nothing.
type progress struct {
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	log      io.Writer
	every    time.Duration
	total    int
	done     int
	start    time.Time
	lastLine time.Time
}

func newProgress(cfg Config, total int) *progress {
	p := &progress{total: total, start: time.Now(), lastLine: time.Now()}
	desc := "predict"
	if cfg.Generate > 0 {
		desc = "predict --generate"
	}
	switch {
	case cfg.Progress != nil:
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(cfg.Progress),
			progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	case cfg.Log != nil:
		p.log, p.every = cfg.Log, cfg.LogInterval
	}
	return p
}

// add counts n more rows done; safe to pass as a callback.
func (p *progress) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.bar != nil {
		p.bar.Add(n)
		return
	}
	if p.log != nil && time.Since(p.lastLine) >= p.every {
		p.lastLine = time.Now()
		p.line()
	}
}

func (p *progress) line() {
	el := time.Since(p.start).Seconds()
	rate := float64(p.done) / max(el, 1e-9)
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(p.log, "predict: %d/%d rows (%.1f%%), %.1f rows/s, ETA %s\n",
		p.done, p.total, 100*float64(p.done)/float64(max(p.total, 1)), rate, eta)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
	}
}
