package predict

import (
	report "github.com/sentitune/sentitune/internal/progress"
)

// progress reports rows done through the shared reporter: a bar (rows/s, ETA) on
// Config.Progress, or a plain line every Config.LogInterval on Config.Log for logs
// (Kubernetes, Slurm), or nothing.
type progress struct{ r *report.Reporter }

func newProgress(cfg Config, total int) *progress {
	o := report.Options{Name: "predict", Unit: "rows", Total: int64(total), Interval: cfg.LogInterval}
	if cfg.Generate > 0 {
		o.Name = "predict --generate"
	}
	switch {
	case cfg.Progress != nil:
		o.Mode = report.Bar
		return &progress{report.New(cfg.Progress, o)}
	case cfg.Log != nil:
		o.Mode = report.Lines
		return &progress{report.New(cfg.Log, o)}
	}
	return &progress{}
}

// add counts n more rows done; safe to pass as a callback.
func (p *progress) add(n int) { p.r.Add(int64(n)) }

func (p *progress) finish() { p.r.Finish() }
