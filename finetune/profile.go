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
	// ATen is libtorch's op count per step in this phase (the mean over the profiled steps).
	ATen *ATenPerStep `json:"aten,omitempty"`
}

// ATenPerStep is torch.ATenCounts averaged over profiled steps.
type ATenPerStep struct {
	Ops           float64 `json:"aten_ops"`
	Launches      float64 `json:"launches"`
	AutogradNodes float64 `json:"autograd_nodes"`
	HostReads     float64 `json:"host_reads"`
}

// stepProfile times the phases of each training step. Each mark waits for the
// device (CUDA work is asynchronous), so profiled steps run without CPU/GPU
// overlap: their sum is an upper bound of an unprofiled step. A nil profile
// does nothing.
type stepProfile struct {
	dev    torch.Device
	report bool // Config.Profile: summary and ops report; otherwise the profile only drives a trace
	last   time.Time
	order  []string
	cur    map[string]float64
	steps  []map[string]float64
	aten   map[string]torch.ATenCounts // per phase, summed over the counted steps
	mark0  torch.ATenCounts            // the counter at the last mark
	trace  *stepTrace
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

// newStepProfile profiles steps with report (Config.Profile) and traces a few
// steps to tracePath when it is not empty; steps is how many steps the run has.
func newStepProfile(report bool, tracePath string, steps int, dev torch.Device) *stepProfile {
	if !report && tracePath == "" {
		return nil
	}
	torch.ResetOpStats()
	p := &stepProfile{dev: dev, report: report, aten: map[string]torch.ATenCounts{}}
	if tracePath != "" {
		p.trace = newStepTrace(tracePath, steps)
	}
	return p
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
	if err := p.trace.begin(len(p.steps)); err != nil {
		return err
	}
	if len(p.steps) > 0 && p.report {
		torch.RecordOps(true)
		if err := torch.CountATen(true); err != nil {
			return err
		}
		c, err := torch.ReadATenCounts()
		if err != nil {
			return err
		}
		p.mark0 = c
	}
	p.cur, p.last = map[string]float64{}, time.Now()
	return nil
}

// ops is the op tally per profiled step, the costliest first.
// atenPerStep is phase's ATen counts per counted step (nil before a second step).
func (p *stepProfile) atenPerStep(phase string) *ATenPerStep {
	n := float64(len(p.steps) - 1)
	if n < 1 {
		return nil
	}
	c := p.aten[phase]
	return &ATenPerStep{Ops: float64(c.Ops) / n, Launches: float64(c.Launches) / n,
		AutogradNodes: float64(c.AutogradNodes) / n, HostReads: float64(c.HostReads) / n}
}

func (p *stepProfile) ops() []OpTime {
	if p == nil || !p.report || len(p.steps) < 2 {
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
	if len(p.steps) > 0 && p.report {
		c, err := torch.ReadATenCounts()
		if err != nil {
			return err
		}
		p.aten[phase] = p.aten[phase].Add(c.Sub(p.mark0))
		p.mark0 = c
	}
	return p.trace.phase(phase)
}

// end closes a step.
func (p *stepProfile) end() error {
	if p == nil || p.cur == nil {
		return nil
	}
	torch.RecordOps(false)
	if err := torch.CountATen(false); err != nil {
		return err
	}
	p.steps = append(p.steps, p.cur)
	p.cur = nil
	return p.trace.end()
}

// stop turns off what a failed step may have left recording.
func (p *stepProfile) stop() {
	if p == nil {
		return
	}
	torch.RecordOps(false)
	_ = torch.CountATen(false) // best effort on an error path
	p.trace.abort()
}

// summary is the per-phase median and mean, leaving out the first step (it
// pays for allocator warm-up and lazy initialisation) when there are others.
func (p *stepProfile) summary() []PhaseTime {
	if p == nil || !p.report || len(p.steps) == 0 {
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
		out = append(out, PhaseTime{Phase: ph, MedianMS: med, MeanMS: mean, Steps: len(steps), ATen: p.atenPerStep(ph)})
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
	fmt.Fprintf(w, "  %-16s %10s %10s %7s %9s %9s %9s %6s\n", "phase", "median ms", "mean ms", "share", "aten ops", "launches", "ag nodes", "reads")
	sum, total := 0.0, ATenPerStep{}
	for _, p := range phases {
		fmt.Fprintf(w, "  %-16s %10.2f %10.2f %6.1f%%%s\n", p.Phase, p.MedianMS, p.MeanMS, 100*p.Share, atenColumns(p.ATen))
		sum += p.MeanMS
		if p.ATen != nil {
			total.Ops, total.Launches = total.Ops+p.ATen.Ops, total.Launches+p.ATen.Launches
			total.AutogradNodes, total.HostReads = total.AutogradNodes+p.ATen.AutogradNodes, total.HostReads+p.ATen.HostReads
		}
	}
	fmt.Fprintf(w, "  %-16s %10s %10.2f %7s%s\n", "step", "", sum, "", atenColumns(&total))
	fmt.Fprintln(w, "  (aten ops: libtorch's op records per step; launches: those that run a kernel; ag nodes: autograd nodes run; reads: .item() and device→host copies)")
}

func atenColumns(a *ATenPerStep) string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf(" %9.0f %9.0f %9.0f %6.1f", a.Ops, a.Launches, a.AutogradNodes, a.HostReads)
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

// finishTrace writes a --trace the run ended before filling.
func (p *stepProfile) finishTrace() error {
	if p == nil {
		return nil
	}
	return p.trace.finish()
}
