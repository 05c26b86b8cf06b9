package finetune

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/internal/tensorboard"
	"github.com/sentitune/sentitune/internal/torch"
)

// DirTensorBoard holds the TensorBoard event files of a run (--report-to tensorboard).
const DirTensorBoard = "runs"

// ReportTargets are the values --report-to accepts.
var ReportTargets = []string{"none", "tensorboard"}

// lossSmoothing is the weight of the past in the shown training loss: one step's loss on a
// small batch jumps too much to read a trend from.
const lossSmoothing = 0.9

// monitor shows a run while it trains: a bar on a terminal, a plain line every
// Config.LogEvery and at each evaluation in a log, and TensorBoard scalars when asked.
type monitor struct {
	rep    *progress.Reporter
	tb     *tensorboard.Writer
	dev    torch.Device
	total  int
	ema    float64 // bias-corrected moving average of the training loss
	emaW   float64 // 1 - lossSmoothing^n: the correction
	tokens int
	begin  time.Time
}

// newMonitor starts the display of steps start..total on w (nil: none) and, on the rank that
// writes (lead), the TensorBoard file.
func newMonitor(cfg Config, w io.Writer, dev torch.Device, start, total int, lead bool) (*monitor, error) {
	m := &monitor{dev: dev, total: total, begin: time.Now()}
	m.rep = progress.New(w, progress.Options{Name: "finetune", Item: "step", Total: int64(total), Start: int64(start),
		Interval: cfg.LogEvery, KeepBar: true})
	if lead && reportsTo(cfg, "tensorboard") {
		tb, err := tensorboard.Create(filepath.Join(cfg.Out, DirTensorBoard))
		if err != nil {
			return nil, err
		}
		m.tb = tb
		if start > 0 { // steps logged past the checkpoint by the interrupted run are superseded
			if err := tb.SessionStart(int64(start+1), time.Now()); err != nil {
				tb.Close()
				return nil, err
			}
		}
	}
	return m, nil
}

func reportsTo(cfg Config, target string) bool {
	for _, t := range cfg.ReportTo {
		if strings.EqualFold(t, target) {
			return true
		}
	}
	return false
}

// train shows one optimizer step's log line.
func (m *monitor) train(l LogLine) error {
	m.emaW = lossSmoothing*m.emaW + (1 - lossSmoothing)
	m.ema = lossSmoothing*m.ema + (1-lossSmoothing)*l.Loss
	m.tokens += l.Tokens
	tokS := float64(m.tokens) / max(time.Since(m.begin).Seconds(), 1e-9)
	loss := fmt.Sprintf("loss %.4f", m.ema/m.emaW)
	if l.LabelLoss != nil {
		loss += fmt.Sprintf(" (label %.4f)", *l.LabelLoss)
	}
	if m.rep.Mode() == progress.Bar { // the bar shows counts and times itself, on one terminal line
		m.rep.Set(int64(l.Step), fmt.Sprintf("%s, lr %.2e, %.0f tok/s", loss, l.LR, tokS))
	} else {
		detail := fmt.Sprintf("epoch %.2f, %s, lr %.2e", l.Epoch, loss, l.LR)
		if l.GradNorm != nil {
			detail += fmt.Sprintf(", grad norm %.3f", *l.GradNorm)
		}
		m.rep.Set(int64(l.Step), detail+fmt.Sprintf(", %.0f tok/s, %s", tokS, m.memory()))
	}
	if m.tb == nil {
		return nil
	}
	vals := []tensorboard.Scalar{{Tag: "train/loss", Value: l.Loss}, {Tag: "train/learning_rate", Value: l.LR},
		{Tag: "train/epoch", Value: l.Epoch}, {Tag: "train/tokens_per_second", Value: l.TokensPerS}}
	if l.GradNorm != nil {
		vals = append(vals, tensorboard.Scalar{Tag: "train/grad_norm", Value: *l.GradNorm})
	}
	if l.LabelLoss != nil {
		vals = append(vals, tensorboard.Scalar{Tag: "train/label_loss", Value: *l.LabelLoss})
	}
	return m.tb.Scalars(int64(l.Step), time.Now(), vals)
}

// eval shows an evaluation's result on a line of its own.
func (m *monitor) eval(l LogLine) error {
	msg := fmt.Sprintf("eval at step %d/%d: loss %.4f", l.Step, m.total, l.Loss)
	if l.LabelLoss != nil {
		msg += fmt.Sprintf(", label loss %.4f", *l.LabelLoss)
	}
	if l.Accuracy != nil {
		msg += fmt.Sprintf(", accuracy %.4f", *l.Accuracy)
	}
	m.rep.Event("%s on %d examples", msg, l.Examples)
	if m.tb == nil {
		return nil
	}
	vals := []tensorboard.Scalar{{Tag: "eval/loss", Value: l.Loss}}
	if l.LabelLoss != nil {
		vals = append(vals, tensorboard.Scalar{Tag: "eval/label_loss", Value: *l.LabelLoss})
	}
	if l.Accuracy != nil {
		vals = append(vals, tensorboard.Scalar{Tag: "eval/accuracy", Value: *l.Accuracy})
	}
	return m.tb.Scalars(int64(l.Step), time.Now(), vals)
}

// finishSteps ends the bar (or writes the last step's line) before the closing evaluation.
func (m *monitor) finishSteps() { m.rep.Finish() }

// close flushes the TensorBoard file.
func (m *monitor) close() error {
	m.rep.Finish()
	return m.tb.Close()
}

// stamp adds what a reader of train_log.jsonl alone needs for a live view: the last step and
// the memory held now.
func (m *monitor) stamp(l *LogLine) {
	l.MaxSteps = m.total
	l.RSSBytes = progress.HostRSS()
	if m.dev.CUDA {
		if st, err := torch.CUDAMemory(m.dev.Index); err == nil {
			l.CUDABytes = st.Allocated
		}
	}
}

// memory is what the device holds now: CUDA allocated on a GPU, the resident set on the CPU.
func (m *monitor) memory() string {
	if m.dev.CUDA {
		if st, err := torch.CUDAMemory(m.dev.Index); err == nil {
			return "cuda mem " + progress.FormatBytes(st.Allocated)
		}
	}
	return "mem " + progress.FormatBytes(progress.HostRSS()) + " RSS"
}
