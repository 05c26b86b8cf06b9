package finetune

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/sentitune/sentitune/internal/torch"
)

// PhaseTime is one phase of a training step under Config.Profile.
type PhaseTime struct {
	Phase    string  `json:"phase"`
	MedianMS float64 `json:"median_ms"` // median over the profiled steps
	MeanMS   float64 `json:"mean_ms"`
	Share    float64 `json:"share"` // of the summed phase means
	Steps    int     `json:"steps"` // steps profiled
}

// stepProfile times the phases of each training step. Each mark waits for the
// device (CUDA work is asynchronous), so profiled steps run without CPU/GPU
// overlap: their sum is an upper bound of an unprofiled step. A nil profile
// does nothing.
type stepProfile struct {
	dev   torch.Device
	last  time.Time
	order []string
	cur   map[string]float64
	steps []map[string]float64
}

// OpTime is the host time of one kind of op per profiled step (torch.RecordOps).
type OpTime struct {
	Op           string  `json:"op"`
	CallsPerStep float64 `json:"calls_per_step"`
	MSPerStep    float64 `json:"ms_per_step"`
	USPerCall    float64 `json:"us_per_call"`
}

// profileTopOps is how many ops the profile lists.
const profileTopOps = 15

func newStepProfile(on bool, dev torch.Device) *stepProfile {
	if !on {
		return nil
	}
	torch.ResetOpStats()
	return &stepProfile{dev: dev}
}

// begin starts a step. Ops are tallied from the second step on, and only
// inside steps (not evaluations or checkpoints).
func (p *stepProfile) begin() error {
	if p == nil {
		return nil
	}
	if err := torch.Synchronize(p.dev); err != nil {
		return err
	}
	if len(p.steps) > 0 {
		torch.RecordOps(true)
	}
	p.cur, p.last = map[string]float64{}, time.Now()
	return nil
}

// ops is the op tally per profiled step, the costliest first.
func (p *stepProfile) ops() []OpTime {
	if p == nil || len(p.steps) < 2 {
		return nil
	}
	n := float64(len(p.steps) - 1)
	var out []OpTime
	for _, st := range torch.OpStats() {
		if len(out) == profileTopOps {
			break
		}
		out = append(out, OpTime{Op: st.Op, CallsPerStep: float64(st.Calls) / n, MSPerStep: 1000 * st.Seconds / n,
			USPerCall: 1e6 * st.Seconds / float64(st.Calls)})
	}
	return out
}

// mark charges the time since the last mark to phase.
func (p *stepProfile) mark(phase string) error {
	if p == nil || p.cur == nil {
		return nil
	}
	if err := torch.Synchronize(p.dev); err != nil {
		return err
	}
	now := time.Now()
	if !slices.Contains(p.order, phase) {
		p.order = append(p.order, phase)
	}
	p.cur[phase] += now.Sub(p.last).Seconds() * 1000
	p.last = now
	return nil
}

// end closes a step.
func (p *stepProfile) end() {
	if p == nil || p.cur == nil {
		return
	}
	torch.RecordOps(false)
	p.steps = append(p.steps, p.cur)
	p.cur = nil
}

// summary is the per-phase median and mean, leaving out the first step (it
// pays for allocator warm-up and lazy initialisation) when there are others.
func (p *stepProfile) summary() []PhaseTime {
	if p == nil || len(p.steps) == 0 {
		return nil
	}
	steps := p.steps
	if len(steps) > 1 {
		steps = steps[1:]
	}
	out := make([]PhaseTime, 0, len(p.order))
	total := 0.0
	for _, ph := range p.order {
		xs := make([]float64, len(steps))
		sum := 0.0
		for i, st := range steps {
			xs[i] = st[ph]
			sum += st[ph]
		}
		sort.Float64s(xs)
		med := xs[len(xs)/2]
		if len(xs)%2 == 0 {
			med = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
		}
		mean := sum / float64(len(xs))
		total += mean
		out = append(out, PhaseTime{Phase: ph, MedianMS: med, MeanMS: mean, Steps: len(steps)})
	}
	for i := range out {
		if total > 0 {
			out[i].Share = out[i].MeanMS / total
		}
	}
	return out
}

// WriteProfile prints Result.Profile and Result.ProfileOps as tables.
func WriteProfile(w io.Writer, phases []PhaseTime, ops []OpTime) {
	if len(phases) == 0 {
		return
	}
	defer writeOps(w, ops)
	fmt.Fprintf(w, "step profile over %d steps (the first step left out; the device waits between phases):\n", phases[0].Steps)
	fmt.Fprintf(w, "  %-16s %10s %10s %7s\n", "phase", "median ms", "mean ms", "share")
	sum := 0.0
	for _, p := range phases {
		fmt.Fprintf(w, "  %-16s %10.2f %10.2f %6.1f%%\n", p.Phase, p.MedianMS, p.MeanMS, 100*p.Share)
		sum += p.MeanMS
	}
	fmt.Fprintf(w, "  %-16s %10s %10.2f\n", "step", "", sum)
}

func writeOps(w io.Writer, ops []OpTime) {
	if len(ops) == 0 {
		return
	}
	fmt.Fprintf(w, "host time per step by op (on a GPU: dispatch and launch, not the kernels), top %d:\n", len(ops))
	fmt.Fprintf(w, "  %-22s %10s %10s %10s\n", "op", "calls", "ms", "µs/call")
	for _, o := range ops {
		fmt.Fprintf(w, "  %-22s %10.1f %10.2f %10.1f\n", o.Op, o.CallsPerStep, o.MSPerStep, o.USPerCall)
	}
}
