// Package pipeline runs sentitune's whole job in one call: prep → (init-model) → finetune → eval and
// report → example predictions. With no model and no input it is the built-in demo: the embedded
// Amazon sentences and a small random-weight Qwen2-architecture model.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sentitune/sentitune/data"
	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/eval/scoring"
	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/prep"
	"github.com/sentitune/sentitune/reports"
)

// Config is one run. The YAML file of `sentitune run --config` has the same shape: top-level keys,
// then one section per stage whose keys are that stage's command-line flag names.
type Config struct {
	Out            string          `yaml:"out"`              // run folder (demo default: ./sentitune-demo)
	Model          string          `yaml:"model"`            // Hugging Face model folder or ORG/NAME[@REV] in a hub cache; "" = a random-weight demo model
	DemoPreset     string          `yaml:"demo-preset"`      // init-model preset for the demo model (tiny | small)
	DemoArch       string          `yaml:"demo-arch"`        // init-model --arch for the demo model ("" = qwen2)
	DemoLogitScale float64         `yaml:"demo-logit-scale"` // init-model --logit-scale for the demo model (0: norm weights 1)
	DemoMinSteps   int             `yaml:"demo-min-steps"`   // the demo model trains at least this many steps: a small set gets more epochs (0: epochs alone)
	Input          string          `yaml:"input"`            // review file; "" = the embedded Amazon sentences
	Seed           int64           `yaml:"seed"`             // one seed for split, init, training
	Examples       List            `yaml:"examples"`         // texts to predict at the end
	Note           string          `yaml:"note"`             // shown at the top of the report
	Prep           Prep            `yaml:"prep"`             // the prep stage's options
	Finetune       finetune.Config `yaml:"finetune"`         // the finetune stage's options (finetune's flag names)
	Eval           Eval            `yaml:"eval"`             // the eval stage's options
}

// Prep holds the prep options a run exposes (prep's flag names).
type Prep struct {
	Format      string  `yaml:"format"`
	TextCol     string  `yaml:"text-col"`
	LabelCol    string  `yaml:"label-col"`
	IDCol       string  `yaml:"id-col"`
	LabelMap    string  `yaml:"label-map"`
	Labels      string  `yaml:"labels"` // K classes NAME=ANSWER,... (prep --labels); finetune reads them from the prep folder
	Instruction string  `yaml:"instruction"`
	System      string  `yaml:"system"`
	Lang        string  `yaml:"lang"`
	TestRatio   float64 `yaml:"test-ratio"`
	ValRatio    float64 `yaml:"val-ratio"`
	Dedup       bool    `yaml:"dedup"`
	MaxChars    int     `yaml:"max-chars"`
	OnBadRow    string  `yaml:"on-bad-row"`
	Aspects     string  `yaml:"aspects"` // aspect sentiment: one column per aspect (prep --aspects)
}

// Eval holds the scoring options of the eval stage.
type Eval struct {
	BatchSize int    `yaml:"batch-size"`
	Device    string `yaml:"device"`
	DType     string `yaml:"dtype"`
	Baseline  *bool  `yaml:"baseline"` // train the TF-IDF baseline beside the model (default true)
}

// List is a YAML list that also accepts one string.
type List []string

// UnmarshalYAML accepts a scalar or a sequence.
func (l *List) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = List{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// DemoExamples are printed with their predictions at the end of a run.
var DemoExamples = List{
	"Works great, the battery lasts all day and the sound is crisp.",
	"Broke after two days and support never answered. Waste of money.",
	"Exactly what I needed, would buy again.",
	"The case does not fit and the buttons feel cheap.",
}

// DemoNote is the report's plain statement of what the demo model is.
const DemoNote = "Demo run: the model is a small random-weight Qwen2-architecture network (sentitune init-model), " +
	"not a pretrained chat model. It learns the task from 800 sentences alone, through LoRA plus a trainable " +
	"embedding table, so a cheap TF-IDF baseline is a fair match for it. Point `sentitune run --model` at a real " +
	"chat model (Qwen2.5-7B-Instruct, Llama-3-8B-Instruct) on a GPU for the real thing."

// Defaults is a run over a real model with LLaMA-Factory's training defaults.
func Defaults() Config {
	return Config{
		Seed:     42,
		Prep:     Prep{TestRatio: 0.1, OnBadRow: "error"},
		Finetune: finetune.Defaults(),
		Eval:     Eval{BatchSize: 32, Device: "auto", DType: "auto"},
	}
}

// DemoDefaults is the built-in demo: settings that make a random-weight model learn the task honestly
// in a few minutes on two CPU cores (see the README's demo section for how they were chosen).
func DemoDefaults() Config {
	c := Defaults()
	c.Out = "sentitune-demo"
	c.DemoPreset = "tiny"
	c.DemoMinSteps = DemoMinSteps
	c.DemoLogitScale = 16 // lets the answer become likely (loss 14.2 → 0.24) and keeps 0.795 held-out (bench/results/demo-fit-2026-12-02.md)
	c.Prep.TestRatio = 0.2
	c.Examples = DemoExamples
	c.Note = DemoNote
	f := &c.Finetune
	f.ModulesToSave = finetune.List{"embed_tokens"}
	f.LR = 3e-3
	f.BatchSize = 16
	f.Epochs = 4
	f.LoRADropout = 0
	f.MaxLen = 128
	f.WarmupRatio = 0.03
	f.Device = "cpu"
	f.DType = "f32"
	f.ValRatio = 0 // all 800 sentences train; the demo selects nothing, and test.json is eval's alone
	c.Eval.Device = "cpu"
	c.Eval.DType = "f32"
	return c
}

// LoadConfig reads a run YAML file over base. Unknown keys are errors.
func LoadConfig(path string, base Config) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("read run config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&base); err != nil && !errors.Is(err, io.EOF) {
		return base, fmt.Errorf("read run config %s: %w", path, err)
	}
	return base, nil
}

// Result is what a run produced.
type Result struct {
	Out       string
	PrepDir   string
	ModelDir  string
	RunDir    string
	ReportDir string
	Metrics   *eval.Metrics
	Baseline  *eval.Metrics
	Aspects   *eval.AspectMetrics // an aspect run's metrics (instead of Metrics)
	Classes   *reports.ClassInput // a K-class run's metrics and baseline (instead of Metrics)
	Train     *finetune.Result
	TrainRows int // prep's train split
	Examples  []Example
	Stages    []Stage
	Seconds   float64
}

// Example is one printed prediction.
type Example struct {
	Text string
	Pred int
	Prob float64
}

// Stage is one timed step of the run.
type Stage struct {
	Name    string
	Seconds float64
}

// Run executes the pipeline. Progress and the summary go to w (stderr-like); nil silences them.
func Run(cfg Config, w io.Writer) (*Result, error) {
	if w == nil {
		w = io.Discard
	}
	if cfg.Out == "" {
		return nil, errors.New("run: no output folder")
	}
	model, err := hub.ResolveModel(cfg.Model) // ORG/NAME: its folder in a hub cache, before any stage runs
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	cfg.Model = model
	start := time.Now()
	res := &Result{
		Out:       cfg.Out,
		PrepDir:   filepath.Join(cfg.Out, "prep"),
		ModelDir:  cfg.Model,
		RunDir:    filepath.Join(cfg.Out, "run"),
		ReportDir: filepath.Join(cfg.Out, "report"),
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	stage := func(i int, name string, f func() error) error {
		fmt.Fprintf(w, "\n== [%d/5] %s\n", i, name)
		t0 := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("run: %s: %w", name, err)
		}
		d := time.Since(t0).Seconds()
		res.Stages = append(res.Stages, Stage{name, d})
		fmt.Fprintf(w, "   %s done in %.1f s\n", name, d)
		return nil
	}

	if err := stage(1, "prep", func() error { return runPrep(cfg, res, w) }); err != nil {
		return nil, err
	}
	if err := stage(2, "model", func() error { return runModel(cfg, res, w) }); err != nil {
		return nil, err
	}
	if err := stage(3, "finetune", func() error {
		fc := cfg.Finetune
		fc.Model, fc.Data, fc.Out = res.ModelDir, res.PrepDir, res.RunDir
		fc.TrainFile, fc.EvalFile = "", ""
		fc.Overwrite = !fc.Resume
		fc.MaxSteps = demoMaxSteps(cfg, fc, res.TrainRows)
		if fc.MaxSteps != cfg.Finetune.MaxSteps {
			fmt.Fprintf(w, "   demo: %d training rows × %g epochs are fewer than %d steps; training %d steps (demo-min-steps)\n", res.TrainRows, fc.Epochs, cfg.DemoMinSteps, fc.MaxSteps)
		}
		if fc.Seed == 0 {
			fc.Seed = uint64(cfg.Seed)
		}
		r, err := finetune.Train(fc, w)
		if err != nil {
			return err
		}
		res.Train = r
		fmt.Fprintf(w, "   %d steps, final loss %.4f, %.0f tokens/s\n", r.Steps, r.FinalLoss, r.TokensPerSecond)
		return nil
	}); err != nil {
		return nil, err
	}

	var sc *predict.Scorer
	defer func() {
		if sc != nil {
			sc.Close()
		}
	}()
	if err := stage(4, "eval", func() error {
		var err error
		sc, err = predict.NewScorer(predict.ScorerConfig{
			ModelDir:   res.ModelDir,
			AdapterDir: res.Train.Adapter,
			Device:     cfg.Eval.Device,
			DType:      cfg.Eval.DType,
			BatchSize:  cfg.Eval.BatchSize,
			Threads:    cfg.Finetune.Threads,
		})
		if err != nil {
			return err
		}
		if cfg.Prep.Aspects != "" {
			return runAspectEval(cfg, res, sc, w)
		}
		return runEval(cfg, res, sc, w)
	}); err != nil {
		return nil, err
	}
	if err := stage(5, "examples", func() error {
		if cfg.Prep.Aspects != "" {
			return runAspectExamples(cfg, sc, w)
		}
		return runExamples(cfg, res, sc, w)
	}); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(w, "\nTotal wall time %.1f s. Report: %s\n", res.Seconds, filepath.Join(res.ReportDir, "report.html"))
	return res, nil
}

func runPrep(cfg Config, res *Result, w io.Writer) error {
	input := cfg.Input
	if input == "" {
		input = filepath.Join(cfg.Out, "data", "amazon.jsonl")
		if err := os.MkdirAll(filepath.Dir(input), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(input, data.AmazonJSONL(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "   input: the embedded Amazon review sentences (UCI, CC BY 4.0) → %s\n", input)
	}
	p := cfg.Prep
	st, err := prep.Run(prep.Config{
		Input: input, Format: p.Format, TextCol: p.TextCol, LabelCol: p.LabelCol, IDCol: p.IDCol, LabelMap: p.LabelMap, Labels: p.Labels,
		Instruction: p.Instruction, System: p.System, Lang: p.Lang,
		TestRatio: p.TestRatio, ValRatio: p.ValRatio, Seed: cfg.Seed, Dedup: p.Dedup, MaxChars: p.MaxChars,
		OnBadRow: p.OnBadRow, Aspects: p.Aspects, Out: res.PrepDir, Progress: w, LogEvery: cfg.Finetune.LogEvery,
	})
	if err != nil {
		return err
	}
	if tr := st.Splits["train"]; tr != nil {
		res.TrainRows = tr.Rows
	}
	st.WriteSummary(indent{w})
	return nil
}

func runModel(cfg Config, res *Result, w io.Writer) error {
	if cfg.Model != "" {
		c, err := llm.LoadConfig(cfg.Model)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   model: %s (%s, %d layers, hidden %d)\n", cfg.Model, c.ModelType, c.NumHiddenLayers, c.HiddenSize)
		return nil
	}
	res.ModelDir = filepath.Join(cfg.Out, "model")
	if err := os.RemoveAll(res.ModelDir); err != nil {
		return err
	}
	preset := cfg.DemoPreset
	if preset == "" {
		preset = "tiny"
	}
	mc, err := llm.ArchPresetConfig(preset, cfg.DemoArch)
	if err != nil {
		return err
	}
	opt := llm.InitOptions{Preset: preset, Arch: cfg.DemoArch, Seed: uint64(cfg.Seed), DType: "f32", LogitScale: cfg.DemoLogitScale}
	if err := llm.InitRandomModelWith(res.ModelDir, opt); err != nil {
		return err
	}
	v, err := torch.Version()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   model: random-weight %s (%s preset, seed %d, logit scale %g) with the real Qwen tokenizer → %s; libtorch %s\n",
		strings.TrimSuffix(mc.Architectures[0], "ForCausalLM"), preset, cfg.Seed, cfg.DemoLogitScale, res.ModelDir, v)
	return nil
}

func runEval(cfg Config, res *Result, sc *predict.Scorer, w io.Writer) error {
	testPath := filepath.Join(res.PrepDir, prep.FileTest)
	scored, err := scoring.Split(scoring.Config{Data: predict.Config{Input: testPath}, Loaded: sc, Log: w, LogEvery: cfg.Finetune.LogEvery})
	if err != nil {
		return err
	}
	baseline := res.PrepDir
	if cfg.Eval.Baseline != nil && !*cfg.Eval.Baseline {
		baseline = ""
	}
	model := res.ModelDir
	if cfg.Model == "" {
		model += " (random-weight demo model)"
	}
	prov := scored.Provenance
	prov["model"], prov["adapter"], prov["seed"], prov["command"] = model, res.Train.Adapter, strconv.FormatInt(cfg.Seed, 10), "sentitune run"
	if scored.Classes != nil {
		return runClassEval(cfg, res, scored, baseline, w)
	}
	in, err := reports.RunEval(scored.Predictions, reports.EvalConfig{
		Out:         res.ReportDir,
		Title:       "sentitune run — " + filepath.Base(filepath.Clean(cfg.Out)),
		Name:        "LoRA-tuned model",
		BaselineDir: baseline,
		RunDir:      res.RunDir,
		Note:        cfg.Note,
		Progress:    w,
		Provenance:  prov,
	})
	if err != nil {
		return err
	}
	res.Metrics = in.Model.Metrics
	if in.Baseline != nil {
		res.Baseline = in.Baseline.Metrics
	}
	fmt.Fprint(indent{w}, reports.Summary(in))
	return nil
}

func runExamples(cfg Config, res *Result, sc *predict.Scorer, w io.Writer) error {
	if len(cfg.Examples) == 0 {
		return nil
	}
	scores, err := sc.Score(cfg.Examples)
	if err != nil {
		return err
	}
	ls := sc.Labels()
	for i, t := range cfg.Examples {
		res.Examples = append(res.Examples, Example{t, scores[i].Pred, scores[i].Prob})
		if ls.IsBinary() {
			fmt.Fprintf(w, "   %d  %.3f  %s\n", scores[i].Pred, scores[i].Prob, t)
		} else { // the class's name and its probability
			fmt.Fprintf(w, "   %s  %.3f  %s\n", ls[scores[i].Pred].Name, scores[i].Prob, t)
		}
	}
	return nil
}

// indent prefixes every line with three spaces so stage output nests under its header.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	s := strings.TrimRight(string(p), "\n")
	if s == "" {
		return len(p), nil
	}
	_, err := io.WriteString(i.w, "   "+strings.ReplaceAll(s, "\n", "\n   ")+"\n")
	return len(p), err
}
