package finetune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

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
	MaxSteps   int      `json:"max_steps,omitempty"`  // the run's last step, so a reader of the log alone can show an ETA
	RSSBytes   int64    `json:"rss_bytes,omitempty"`  // the process's resident set after the step
	CUDABytes  int64    `json:"cuda_bytes,omitempty"` // CUDA memory allocated on the run's device after the step
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

// writeLossPlot draws loss.png and loss.svg from the log: the training loss per
// step over the answer tokens (full vocabulary) and over the two label tokens,
// the evaluation's same two losses, and below them the evaluation accuracy, so
// a falling loss can be told from a model that classifies better.
func writeLossPlot(dir string, lines []LogLine) error {
	ser := lossSeriesOf(lines)
	if len(ser.train) == 0 {
		return nil
	}
	loss, err := lossPanel(ser)
	if err != nil {
		return err
	}
	panels := []*plot.Plot{loss}
	height := 4 * vg.Inch
	if len(ser.evalAcc) > 0 {
		acc, err := accuracyPanel(ser.evalAcc, loss)
		if err != nil {
			return err
		}
		panels = append(panels, acc)
		height = 6 * vg.Inch
	} else {
		loss.X.Label.Text = "step"
	}
	for _, name := range []string{FilePlotPNG, FilePlotSVG} {
		if err := writePanels(filepath.Join(dir, name), panels, height); err != nil {
			return err
		}
	}
	return nil
}

// lossSeries are the curves of a run's log lines.
type lossSeries struct{ train, trainLabel, eval, evalLabel, evalAcc plotter.XYs }

func lossSeriesOf(lines []LogLine) lossSeries {
	var ser lossSeries
	pos := func(v float64) float64 { return math.Max(v, 1e-6) } // the log axis has no 0
	for _, l := range lines {
		x := float64(l.Step)
		switch l.Split {
		case "train":
			ser.train = append(ser.train, plotter.XY{X: x, Y: pos(l.Loss)})
			if l.LabelLoss != nil {
				ser.trainLabel = append(ser.trainLabel, plotter.XY{X: x, Y: pos(*l.LabelLoss)})
			}
		case "eval":
			ser.eval = append(ser.eval, plotter.XY{X: x, Y: pos(l.Loss)})
			if l.LabelLoss != nil {
				ser.evalLabel = append(ser.evalLabel, plotter.XY{X: x, Y: pos(*l.LabelLoss)})
			}
			if l.Accuracy != nil {
				ser.evalAcc = append(ser.evalAcc, plotter.XY{X: x, Y: *l.Accuracy})
			}
		}
	}
	return ser
}

// lossPanel plots the train and eval losses on a log axis.
func lossPanel(ser lossSeries) (*plot.Plot, error) {
	loss := plot.New()
	loss.Title.Text = "sentitune finetune"
	loss.Y.Label.Text = "loss (log scale)"
	loss.Y.Scale, loss.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1} // the label loss (< ln 2 once learning) sits far below the full one
	loss.Add(plotter.NewGrid())
	for _, c := range []struct {
		name   string
		pts    plotter.XYs
		color  int
		dashed bool
		points bool
	}{
		{"train (answer tokens, full vocabulary)", ser.train, 0, false, false},
		{"train (label tokens 0/1)", ser.trainLabel, 0, true, false},
		{"eval (answer tokens)", ser.eval, 1, false, true},
		{"eval (label tokens 0/1)", ser.evalLabel, 1, true, true},
	} {
		if len(c.pts) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(c.pts)
		if err != nil {
			return nil, fmt.Errorf("loss plot: %w", err)
		}
		l.Color, pts.Color = plotutil.Color(c.color), plotutil.Color(c.color)
		if c.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		if c.points {
			pts.Shape = draw.CircleGlyph{}
			loss.Add(l, pts)
			loss.Legend.Add(c.name, l, pts)
		} else {
			loss.Add(l)
			loss.Legend.Add(c.name, l)
		}
	}
	loss.Legend.Top, loss.Legend.YOffs = true, -vg.Points(24) // below the curves' start, which sits at the top
	return loss, nil
}

// accuracyPanel plots eval accuracy on loss's step axis.
func accuracyPanel(evalAcc plotter.XYs, loss *plot.Plot) (*plot.Plot, error) {
	acc := plot.New()
	acc.X.Label.Text, acc.Y.Label.Text = "step", "eval accuracy"
	acc.Y.Min, acc.Y.Max = 0, 1
	acc.X.Min, acc.X.Max = loss.X.Min, loss.X.Max
	acc.Add(plotter.NewGrid())
	l, pts, err := plotter.NewLinePoints(evalAcc)
	if err != nil {
		return nil, fmt.Errorf("loss plot: %w", err)
	}
	l.Color, pts.Color, pts.Shape = plotutil.Color(2), plotutil.Color(2), draw.CircleGlyph{}
	acc.Add(l, pts)
	return acc, nil
}

// writePanels draws panels one above the other into path (PNG, or SVG by its extension).
func writePanels(path string, panels []*plot.Plot, height vg.Length) error {
	var c vg.CanvasWriterTo
	if strings.HasSuffix(path, ".svg") {
		c = vgsvg.New(7*vg.Inch, height)
	} else {
		c = vgimg.PngCanvas{Canvas: vgimg.New(7*vg.Inch, height)}
	}
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6), PadY: vg.Points(10)}
	canvases := plot.Align(grid, tiles, draw.New(c))
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return fmt.Errorf("loss plot %s: %w", filepath.Base(path), err)
	}
	return atomicfile.WriteFile(path, buf.Bytes())
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
