package finetune

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sentitune/sentitune/internal/torch"
)

// TraceSteps is how many steps --trace records.
const TraceSteps = 5

// stepTrace writes a Chrome trace of TraceSteps steps (Config.Trace). It skips
// the first step (allocator warm-up, lazy initialisation) when the run has more
// steps than TraceSteps. A nil trace does nothing.
type stepTrace struct {
	path     string
	first    int // index of the first traced step among this run's steps
	left     int // steps still to trace
	on, done bool
}

func newStepTrace(path string, steps int) *stepTrace {
	first := 0
	if steps > TraceSteps {
		first = 1
	}
	return &stepTrace{path: path, first: first, left: TraceSteps}
}

// begin starts tracing at step index i when it is the first traced one.
func (t *stepTrace) begin(i int) error {
	if t == nil || t.on || t.done || i < t.first {
		return nil
	}
	t.on = true
	return torch.StartTrace()
}

// phase closes a span of the trace's phases track.
func (t *stepTrace) phase(name string) error {
	if t == nil || !t.on {
		return nil
	}
	return torch.TracePhase(name)
}

// end closes a step and writes the trace after the last traced one.
func (t *stepTrace) end() error {
	if t == nil || !t.on {
		return nil
	}
	if t.left--; t.left > 0 {
		return nil
	}
	return t.write()
}

// finish writes a trace the run ended before filling (fewer steps than TraceSteps).
func (t *stepTrace) finish() error {
	if t == nil || !t.on {
		return nil
	}
	return t.write()
}

// write stops tracing and puts the file in place whole (temp file + rename).
func (t *stepTrace) write() error {
	t.on, t.done = false, true
	tmp := filepath.Join(filepath.Dir(t.path), fmt.Sprintf(".%s.tmp-%d", filepath.Base(t.path), os.Getpid()))
	if err := torch.StopTrace(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--trace: %w", err)
	}
	if err := os.Rename(tmp, t.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--trace %s: %w", t.path, err)
	}
	return nil
}

// abort stops tracing without writing (a failed run leaves no trace file).
func (t *stepTrace) abort() {
	if t == nil || !t.on {
		return
	}
	t.on = false
	tmp := t.path + ".aborted"
	_ = torch.StopTrace(tmp) // stopping is what matters here; the events are dropped
	os.Remove(tmp)
}
