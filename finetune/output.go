package finetune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/sentitune/sentitune/internal/atomicfile"
)

// Files and folders of a run folder.
const (
	FileLog       = "train_log.jsonl"
	FileRun       = "run.json"
	FilePlotPNG   = "loss.png"
	FilePlotSVG   = "loss.svg"
	DirAdapter    = "adapter"
	DirCheckpoint = "checkpoints"
)

// LogLine is one line of train_log.jsonl: an optimizer step (split "train") or
// an evaluation (split "eval", with accuracy).
type LogLine struct {
	Step       int      `json:"step"`
	Epoch      float64  `json:"epoch"`
	Split      string   `json:"split"`
	Loss       float64  `json:"loss"`
	LabelLoss  *float64 `json:"label_loss,omitempty"` // two-way cross-entropy over the label logits (see EvalResult)
	LR         float64  `json:"lr"`
	GradNorm   *float64 `json:"grad_norm,omitempty"`
	Accuracy   *float64 `json:"accuracy,omitempty"`
	Examples   int      `json:"examples,omitempty"`
	Tokens     int      `json:"tokens,omitempty"`
	TokensPerS float64  `json:"tokens_per_s,omitempty"`
	ElapsedS   float64  `json:"elapsed_s"`
}

// trainLog appends lines to train_log.jsonl, one write per line so that a
// killed run leaves whole lines behind.
type trainLog struct {
	f     *os.File
	lines []LogLine
}

// openLog opens RUNDIR/train_log.jsonl. Resuming from step keeps the lines up
// to that step (a killed run may have logged steps past its last checkpoint)
// and rewrites the file atomically; a fresh run starts an empty log.
func openLog(dir string, resumeStep int) (*trainLog, error) {
	path := filepath.Join(dir, FileLog)
	var kept []LogLine
	if resumeStep > 0 {
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			var l LogLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				break // a line cut by a kill: everything after it is past the checkpoint anyway
			}
			if l.Step <= resumeStep {
				kept = append(kept, l)
			}
		}
	}
	var buf bytes.Buffer
	for _, l := range kept {
		b, _ := json.Marshal(l)
		buf.Write(append(b, '\n'))
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &trainLog{f: f, lines: kept}, nil
}

func (l *trainLog) add(line LogLine) error {
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", l.f.Name(), err)
	}
	l.lines = append(l.lines, line)
	return nil
}

func (l *trainLog) Close() error { return l.f.Close() }

// writeLossPlot draws the training loss per step and the evaluation loss into
// loss.png and loss.svg.
func writeLossPlot(dir string, lines []LogLine) error {
	var train, eval plotter.XYs
	for _, l := range lines {
		switch l.Split {
		case "train":
			train = append(train, plotter.XY{X: float64(l.Step), Y: l.Loss})
		case "eval":
			eval = append(eval, plotter.XY{X: float64(l.Step), Y: l.Loss})
		}
	}
	if len(train) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "sentitune finetune"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss (answer tokens)"
	p.Add(plotter.NewGrid())
	tl, err := plotter.NewLine(train)
	if err != nil {
		return fmt.Errorf("loss plot: %w", err)
	}
	tl.Color = plotutil.Color(0)
	p.Add(tl)
	p.Legend.Add("train", tl)
	if len(eval) > 0 {
		el, pts, err := plotter.NewLinePoints(eval)
		if err != nil {
			return fmt.Errorf("loss plot: %w", err)
		}
		el.Color, pts.Color, pts.Shape = plotutil.Color(1), plotutil.Color(1), draw.CircleGlyph{}
		p.Add(el, pts)
		p.Legend.Add("eval", el, pts)
	}
	p.Legend.Top = true
	for _, name := range []string{FilePlotPNG, FilePlotSVG} {
		w, err := p.WriterTo(7*vg.Inch, 4*vg.Inch, strings.TrimPrefix(filepath.Ext(name), "."))
		if err != nil {
			return fmt.Errorf("loss plot: %w", err)
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			return fmt.Errorf("loss plot %s: %w", name, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, name), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// writeJSONAtomic writes v, indented, to path through a temporary file.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// peakHostMemory is the process's peak resident set (VmHWM) in bytes, 0 if unknown.
func peakHostMemory() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
