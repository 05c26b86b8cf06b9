package finetune

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sentitune/sentitune/internal/tensorboard/tbtest"
)

// TestLogLinesAndTensorBoard trains with stderr as a plain buffer (as under nohup or Slurm):
// every step's line (a tiny interval) and every evaluation's line must show, and the
// TensorBoard file must hold the same numbers as train_log.jsonl.
func TestLogLinesAndTensorBoard(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.MaxSteps, cfg.EvalEvery, cfg.LogEvery, cfg.ReportTo = 6, 2, time.Nanosecond, List{"tensorboard"}
	var stderr bytes.Buffer
	if _, err := Train(cfg, &stderr); err != nil {
		t.Fatal(err)
	}
	stepLine := regexp.MustCompile(`^finetune: step (\d)/6 \(\d+\.\d%\), epoch \d\.\d\d, loss \d+\.\d{4} \(label \d+\.\d{4}\), lr \d\.\d\de[-+]\d\d, ` +
		`grad norm \d+\.\d{3}, \d+ tok/s, mem \d+(\.\d)? [KMG]iB RSS, elapsed [0-9.hms]+, ETA [0-9.hms?]+$`)
	evalLine := regexp.MustCompile(`^finetune: eval at step (\d)/6: loss \d+\.\d{4}, label loss \d+\.\d{4}, accuracy [01]\.\d{4} on 32 examples$`)
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if m := stepLine.FindStringSubmatch(l); m != nil {
			got = append(got, "step "+m[1])
		} else if m := evalLine.FindStringSubmatch(l); m != nil {
			got = append(got, "eval "+m[1])
		} else if strings.HasPrefix(l, "finetune: step") || strings.HasPrefix(l, "finetune: eval") {
			t.Errorf("malformed progress line %q", l)
		}
	}
	want := "eval 0,step 1,step 2,eval 2,step 3,step 4,eval 4,step 5,step 6,eval 6"
	if strings.Join(got, ",") != want {
		t.Errorf("progress lines in order: %s\nwant %s\nstderr:\n%s", strings.Join(got, ","), want, stderr.String())
	}

	files, _ := filepath.Glob(filepath.Join(out, DirTensorBoard, "events.out.tfevents.*"))
	if len(files) != 1 {
		t.Fatalf("want one event file in RUNDIR/%s, got %v", DirTensorBoard, files)
	}
	events, err := tbtest.ReadEventFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 || events[0].FileVersion != "brain.Event:2" {
		t.Fatalf("event file does not start with the file version: %+v", events)
	}
	tb := map[string]float32{}
	for _, e := range events[1:] {
		for _, v := range e.Values {
			tb[fmt.Sprintf("%s@%d", v.Tag, e.Step)] = v.Value
		}
	}
	var wantTB []string
	for _, l := range readLog(t, out) {
		vals := map[string]float64{"eval/loss": l.Loss, "eval/label_loss": deref(l.LabelLoss), "eval/accuracy": deref(l.Accuracy)}
		if l.Split == "train" && (l.MaxSteps != 6 || l.RSSBytes <= 0 || l.CUDABytes != 0) {
			t.Errorf("step %d: max_steps %d, rss_bytes %d, cuda_bytes %d: want 6, the process's RSS, none on the CPU",
				l.Step, l.MaxSteps, l.RSSBytes, l.CUDABytes)
		}
		if l.Split == "train" {
			vals = map[string]float64{"train/loss": l.Loss, "train/label_loss": deref(l.LabelLoss), "train/learning_rate": l.LR,
				"train/grad_norm": deref(l.GradNorm), "train/tokens_per_second": l.TokensPerS, "train/epoch": l.Epoch}
		}
		for tag, v := range vals {
			key := fmt.Sprintf("%s@%d", tag, l.Step)
			wantTB = append(wantTB, key)
			if g, ok := tb[key]; !ok || g != float32(v) {
				t.Errorf("TensorBoard %s = %v (present %v), train_log.jsonl has %v", key, g, ok, v)
			}
		}
	}
	if len(tb) != len(wantTB) || len(wantTB) != 6*6+4*3 {
		t.Errorf("TensorBoard holds %d scalars, train_log.jsonl %d; want 6 steps × 6 + 4 evals × 3", len(tb), len(wantTB))
	}
}

// TestTensorBoardAfterResume: a run interrupted after its step-4 checkpoint, having logged
// steps 5–8, resumes; TensorBoard reading RUN/runs sees each step once, with the values of
// train_log.jsonl (the resumed run's for steps 5–8).
func TestTensorBoardAfterResume(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.MaxSteps, cfg.SaveEvery, cfg.ReportTo, cfg.LoRADropout = 8, 4, List{"tensorboard"}, 0.1
	if _, err := Train(cfg, nil); err != nil {
		t.Fatal(err)
	}
	first := map[int]float64{}
	for _, l := range readLog(t, out) {
		if l.Split == "train" {
			first[l.Step] = l.Loss
		}
	}
	if err := os.Remove(filepath.Join(out, FileRun)); err != nil { // as if killed before the end
		t.Fatal(err)
	}
	cfg.Resume = true
	if _, err := Train(cfg, nil); err != nil {
		t.Fatal(err)
	}
	got, err := tbtest.ReadDir(filepath.Join(out, DirTensorBoard))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, v := range got["train/loss"] {
		steps = append(steps, fmt.Sprint(v.Step))
	}
	if strings.Join(steps, ",") != "1,2,3,4,5,6,7,8" {
		t.Fatalf("train/loss steps as TensorBoard reads RUN/runs: %v, want 1..8 once each", steps)
	}
	for i, l := range trainLines(t, out) {
		if v := got["train/loss"][i]; v.Value != float32(l.Loss) {
			t.Errorf("step %d: TensorBoard %v, train_log.jsonl %v (first run's %v)", l.Step, v.Value, l.Loss, first[l.Step])
		}
	}
}

func trainLines(t *testing.T, out string) []LogLine {
	var lines []LogLine
	for _, l := range readLog(t, out) {
		if l.Split == "train" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestNoTensorBoardUnlessAsked: the default run writes no event files.
func TestNoTensorBoardUnlessAsked(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.MaxSteps = 1
	if _, err := Train(cfg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, DirTensorBoard)); !os.IsNotExist(err) {
		t.Errorf("RUNDIR/%s exists without --report-to tensorboard (%v)", DirTensorBoard, err)
	}
}

func TestReportingOptions(t *testing.T) {
	for _, c := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.LogEvery = 0 }, "log-every must be positive"},
		{func(c *Config) { c.ReportTo = List{"wandb"} }, `report-to must be one of none, tensorboard, got "wandb"`},
		{func(c *Config) { c.ReportTo = List{"TensorBoard"} }, ""},
	} {
		cfg := testConfig(t, "out")
		c.change(&cfg)
		err := cfg.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Validate() = %v, want %q", err, c.want)
		}
	}
}

// TestReportingOptionsFromYAML: the keys are the flag names, and log-every reads like the flag.
func TestReportingOptionsFromYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(path, []byte("log-every: 2m30s\nreport-to: tensorboard\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogEvery != 150*time.Second || len(cfg.ReportTo) != 1 || cfg.ReportTo[0] != "tensorboard" {
		t.Errorf("log-every %v, report-to %v", cfg.LogEvery, cfg.ReportTo)
	}
	if d := Defaults(); d.LogEvery != 30*time.Second || len(d.ReportTo) != 0 {
		t.Errorf("defaults: log-every %v, report-to %v; want 30s and none", d.LogEvery, d.ReportTo)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
