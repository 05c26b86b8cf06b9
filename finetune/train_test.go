package finetune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentitune/sentitune/internal/filehash"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

// TestTrain runs a short training and checks every output of the run folder.
func TestTrain(t *testing.T) {
	weightsBefore, err := filehash.SHA256(filepath.Join(fix.model, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.EvalEvery, cfg.SaveEvery = 8, 6 // checkpoints at 6, 12, 18; the limit keeps 12 and 18
	cfg.LoadBest = false                // no checkpoints at the best evaluations (TestLoadBest covers those)
	res, err := Train(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("loss falls", func(t *testing.T) {
		losses := trainLosses(t, out)
		if len(losses) != cfg.MaxSteps || res.Steps != cfg.MaxSteps {
			t.Fatalf("%d logged steps, result says %d, want %d", len(losses), res.Steps, cfg.MaxSteps)
		}
		// Random tied embeddings start near ln V ≈ 11.9; the frozen final norm bounds the
		// logits, so a random model's loss floor is ≈ 10.8 (see ENGINE.md).
		last := mean(losses[len(losses)-4:])
		if losses[0] < 11.5 || last > losses[0]-0.7 {
			t.Fatalf("loss %.3f → %.3f (mean of last 4), want a fall of at least 0.7: %v", losses[0], last, losses)
		}
		if res.FinalLoss != losses[len(losses)-1] {
			t.Fatalf("result's final loss %v, log's %v", res.FinalLoss, losses[len(losses)-1])
		}
	})
	t.Run("log lines", func(t *testing.T) {
		var evalSteps []int
		for i, l := range readLog(t, out) {
			switch l.Split {
			case "eval":
				evalSteps = append(evalSteps, l.Step)
				if l.Accuracy == nil || *l.Accuracy < 0 || *l.Accuracy > 1 || l.Examples != 32 || !(l.Loss > 0) {
					t.Errorf("line %d: bad eval line %+v", i+1, l)
				}
			case "train":
				if l.GradNorm == nil || !(l.TokensPerS > 0) || l.Tokens == 0 || l.Examples != 8 || !(l.LR > 0) {
					t.Errorf("line %d: bad train line %+v", i+1, l)
				}
			default:
				t.Errorf("line %d: split %q", i+1, l.Split)
			}
		}
		if !reflect.DeepEqual(evalSteps, []int{0, 8, 16, 24}) {
			t.Errorf("evaluations at steps %v, want 0 8 16 24", evalSteps)
		}
		if res.Eval == nil || res.Eval.Step != 24 || res.Eval.Examples != 32 {
			t.Errorf("final eval %+v", res.Eval)
		}
	})
	t.Run("base weights untouched", func(t *testing.T) {
		after, err := filehash.SHA256(filepath.Join(fix.model, "model.safetensors"))
		if err != nil || after != weightsBefore {
			t.Fatalf("model.safetensors changed during training (%v)", err)
		}
	})
	t.Run("adapter", func(t *testing.T) {
		meta, err := task.ReadMeta(filepath.Join(out, DirAdapter))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"0": 15, "1": 16}
		if meta.Instruction != task.DefaultInstruction("en") || !reflect.DeepEqual(meta.LabelTokenIDs, want) ||
			meta.ChatTemplate != "model" || meta.TemplateSHA256 == "" || !strings.HasPrefix(meta.System, "You are Qwen") {
			t.Fatalf("adapter metadata %+v", meta)
		}
		// The adapter loads onto the base model and gives the run's evaluation loss.
		m, err := llm.LoadModel(fix.model, llm.LoadOptions{Device: torch.CPU})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.LoadAdapter(filepath.Join(out, DirAdapter)); err != nil {
			t.Fatal(err)
		}
		tok := mustTokenizer(t)
		evalSet, _, err := readExamples(tok, fix.val, cfg.MaxLen)
		if err != nil {
			t.Fatal(err)
		}
		r, err := evaluator{model: m, set: evalSet, batch: 8, ids: []int{15, 16}}.run()
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Loss-res.Eval.Loss) > 1e-5 || r.Accuracy != res.Eval.Accuracy {
			t.Fatalf("reloaded adapter: eval %+v, the run's %+v", r, res.Eval)
		}
	})
	t.Run("run.json", func(t *testing.T) {
		var rec struct {
			Options Config `json:"options"`
			Model   struct {
				TrainableParameters int64 `json:"trainable_parameters"`
			} `json:"model"`
			Data struct {
				SHA256 map[string]string `json:"sha256"`
			} `json:"data"`
			Engine struct {
				Libtorch, Device, DType string
			} `json:"engine"`
			Results struct {
				FinalLoss  float64 `json:"final_loss"`
				PeakMemory int64   `json:"peak_memory_bytes"`
			} `json:"results"`
		}
		readJSON(t, filepath.Join(out, FileRun), &rec)
		if rec.Options.LoRAR != 8 || rec.Options.MaxSteps != 24 || len(rec.Data.SHA256) != 2 || rec.Engine.Libtorch == "" ||
			rec.Engine.Device != "cpu" || rec.Results.FinalLoss != res.FinalLoss || rec.Results.PeakMemory <= 0 ||
			rec.Model.TrainableParameters != 22528 { // 2 layers × r 8 × Σ(in+out) of q,k,v,o,gate,up,down = 2 × 8 × 1408
			t.Fatalf("run.json %+v", rec)
		}
	})
	t.Run("plots", func(t *testing.T) {
		png, err := os.ReadFile(filepath.Join(out, FilePlotPNG))
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("loss.png: %v", err)
		}
		svg, err := os.ReadFile(filepath.Join(out, FilePlotSVG))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Fatalf("loss.svg: %v", err)
		}
	})
	t.Run("checkpoints", func(t *testing.T) {
		_, steps, err := checkpoints(out)
		if err != nil || !reflect.DeepEqual(steps, []int{12, 18}) {
			t.Fatalf("checkpoints %v (%v), want 12 and 18", steps, err)
		}
		ck := filepath.Join(out, DirCheckpoint, "step-18")
		for _, f := range []string{fileTrainerState, fileOptimizer, filepath.Join(ckptAdapterDir, llm.AdapterWeightsFile)} {
			if _, err := os.Stat(filepath.Join(ck, f)); err != nil {
				t.Error(err)
			}
		}
		st, err := readTrainerState(ck)
		if err != nil || st.Step != 18 || st.TotalSteps != 24 || st.StepsPerEpoch != 8 || st.Epoch != 2 || st.Batch != 2 {
			t.Fatalf("trainer state %+v (%v)", st, err)
		}
		ents, _ := os.ReadDir(filepath.Join(out, DirCheckpoint))
		if len(ents) != 2 {
			t.Fatalf("checkpoints folder holds %d entries, want 2 (no temporary folders left)", len(ents))
		}
	})
	t.Run("refuses to overwrite", func(t *testing.T) {
		if _, err := Train(cfg, nil); err == nil || !strings.Contains(err.Error(), "already holds a run") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("resume with other settings", func(t *testing.T) {
		c := cfg
		c.Resume, c.LR = true, 0.5
		if _, err := Train(c, nil); err == nil || !strings.Contains(err.Error(), "lr=0.5") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestGradientsAndFrozenBase checks that gradients reach every LoRA and
// modules_to_save tensor and that training leaves the base model's tensors
// as they were: with every lora_B zeroed and the embedding copy reset, the
// trained model's logits equal a fresh model's bit for bit.
func TestGradientsAndFrozenBase(t *testing.T) {
	model, batch, params, opt := benchSetup(t, 8, []string{"embed_tokens"})
	defer model.Close()
	defer opt.Close()
	named := model.TrainableParams()
	answers := 0
	for _, e := range batch {
		answers += e.answerLen()
	}
	gradSum := func(p *torch.Tensor) float64 {
		s := torch.NewScope()
		defer s.Close()
		g := s.Grad(p)
		if g == nil {
			return 0
		}
		v, err := s.Sum(s.Abs(g)).Item()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for step := 0; step < 3; step++ {
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		if _, err := trainMicroBatch(model, batch, answers, false, nil, nil); err != nil {
			t.Fatal(err)
		}
		for _, p := range named {
			g := gradSum(p.T)
			// At step 0 every B is zero, so A gets no gradient yet (PEFT's init); B does.
			wantGrad := step > 0 || p.IsLoRAB || !strings.Contains(p.Name, "lora_A")
			if wantGrad && !(g > 0) {
				t.Errorf("step %d: %s has no gradient", step, p.Name)
			}
		}
		if _, err := torch.ClipGradNorm(params, 1); err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
	}

	// Undo the adapter: zero every lora_B, restore the embedding copy from the file.
	w, err := llm.OpenWeights(fix.model)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := torch.NewScope()
	defer s.Close()
	for _, p := range named {
		switch {
		case p.IsLoRAB:
			err = p.T.CopyFrom(s.Zeros(p.T.Shape(), torch.Float32, torch.CPU))
		case strings.Contains(p.Name, "embed_tokens"):
			ti, _ := w.Get(llm.EmbedTokensWeight)
			err = p.T.CopyFrom(s.FromBytes(ti.Data, torch.Float32, ti.Shape, torch.CPU))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fresh, err := llm.LoadModel(fix.model, llm.LoadOptions{Device: torch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	b := llm.Batch{IDs: [][]int{batch[0].ids, batch[1].ids}}
	var got, want []float32
	err = torch.NoGrad(func() error {
		lastLogits := func(m *llm.Model) (*torch.Tensor, error) {
			rows, pos := b.LastPositions()
			h, err := m.HiddenAt(s, b, rows, pos, false)
			if err != nil {
				return nil, err
			}
			return m.Logits(s, h)
		}
		lt, err := lastLogits(model)
		if err != nil {
			return err
		}
		lf, err := lastLogits(fresh)
		if err != nil {
			return err
		}
		if got, err = lt.Float32s(); err != nil {
			return err
		}
		want, err = lf.Float32s()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: trained model without its adapter %v, fresh base model %v: base weights changed", i, got[i], want[i])
		}
	}
}

// TestResumeAfterKill kills a training process with SIGKILL after its second
// checkpoint, resumes it, and compares every step's loss with an uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sentitune binary")
	}
	bin := filepath.Join(t.TempDir(), "sentitune")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sentitune")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	ref, killed := filepath.Join(dir, "ref"), filepath.Join(dir, "killed")
	cfg := testConfig(t, ref)
	cfg.MaxSteps, cfg.SaveEvery, cfg.GradAccum, cfg.LoRADropout, cfg.WarmupRatio = 16, 4, 2, 0.1, 0.1
	res, err := Train(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"finetune", "--model", fix.model, "--data", fix.prep, "--out", killed, "--lr", "0.01",
		"--warmup-ratio", "0.1", "--batch-size", "8", "--grad-accum", "2", "--lora-dropout", "0.1",
		"--max-steps", "16", "--save-every", "4"}
	if err := torch.Load(); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), torch.LibEnv+"="+torch.LibPath())

	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ckpt := filepath.Join(killed, DirCheckpoint, "step-8")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("training ended before its step-8 checkpoint: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no step-8 checkpoint after 3 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	if _, err := os.Stat(filepath.Join(killed, FileRun)); err == nil {
		t.Fatal("the run finished before it was killed; the test proves nothing")
	}
	if n := len(trainLosses(t, killed)); n >= 16 {
		t.Fatalf("killed run logged %d steps", n)
	}

	resume := exec.Command(bin, append(args, "--resume")...)
	resume.Env = env
	if out, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	want, got := trainLosses(t, ref), trainLosses(t, killed)
	if len(got) != len(want) {
		t.Fatalf("resumed run logged %d steps, the uninterrupted one %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-5 {
			t.Fatalf("step %d: loss %.7f after kill and resume, %.7f uninterrupted", i+1, got[i], want[i])
		}
	}
	var rec struct {
		Results struct {
			FinalLoss   float64 `json:"final_loss"`
			ResumedFrom int     `json:"resumed_from"`
		} `json:"results"`
	}
	readJSON(t, filepath.Join(killed, FileRun), &rec)
	if math.Abs(rec.Results.FinalLoss-res.FinalLoss) > 1e-5 || rec.Results.ResumedFrom != 8 {
		t.Fatalf("resumed run: final loss %v from step %d, uninterrupted %v", rec.Results.FinalLoss, rec.Results.ResumedFrom, res.FinalLoss)
	}
}

func TestTrainErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rec := func(input, output string) string {
		b, _ := json.Marshal([]task.Record{{Instruction: "Answer 1 or 0.", Input: "fine", Output: "1"}, {Instruction: "Answer 1 or 0.", Input: input, Output: output}})
		return string(b)
	}
	emptyPrep := filepath.Join(dir, "emptyprep")
	os.Mkdir(emptyPrep, 0o755)
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"empty training set", func(c *Config) { c.Data, c.TrainFile = "", write("empty.json", "[]") }, "empty training set"},
		{"prep folder without train.json", func(c *Config) { c.Data = emptyPrep }, "has no train.json"},
		{"missing prep folder", func(c *Config) { c.Data = filepath.Join(dir, "nope") }, "prep folder"},
		{"rank 0", func(c *Config) { c.LoRAR = 0 }, "lora-r must be at least 1"},
		{"not a label", func(c *Config) { c.Data, c.TrainFile = "", write("bad.json", rec("great", "maybe")) }, `"maybe"`},
		{"empty review", func(c *Config) { c.Data, c.TrainFile = "", write("blank.json", rec(" ", "0")) }, "record 2: build prompt: empty review"},
		{"missing model", func(c *Config) { c.Model = filepath.Join(dir, "nomodel") }, "nomodel"},
		{"unknown LoRA target", func(c *Config) { c.LoRATarget = List{"qkv"} }, `unknown LoRA target "qkv"`},
		{"max-len too small", func(c *Config) { c.MaxLen = 16 }, "max length 16 is too small"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-")))
			c.edit(&cfg)
			_, err := Train(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
			if _, err := os.Stat(filepath.Join(cfg.Out, DirAdapter)); err == nil {
				t.Fatal("a failed run left an adapter behind")
			}
		})
	}
}

func trainLosses(t *testing.T, out string) []float64 {
	t.Helper()
	var l []float64
	for _, line := range readLog(t, out) {
		if line.Split == "train" {
			if line.Step != len(l)+1 {
				t.Fatalf("%s: train line for step %d after %d steps", out, line.Step, len(l))
			}
			l = append(l, line.Loss)
		}
	}
	return l
}

func readLog(t *testing.T, out string) []LogLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, FileLog))
	if err != nil {
		t.Fatal(err)
	}
	var lines []LogLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s line %d: %v", FileLog, len(lines)+1, err)
		}
		lines = append(lines, l)
	}
	return lines
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func mustTokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load(fix.model)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestProfile: --profile reports every phase of the step, in step order, with
// times that add up, and records them in run.json; without it nothing is timed.
func TestProfile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.MaxSteps, cfg.Profile = 5, true
	res, err := Train(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"zero grad, lr", "forward, loss", "backward", "clip grad norm", "optimizer step", "log, progress"}
	var got []string
	share, sum := 0.0, 0.0
	for _, p := range res.Profile {
		got = append(got, p.Phase)
		share += p.Share
		sum += p.MeanMS
		if p.Steps != 4 || p.MedianMS < 0 || p.MeanMS < 0 {
			t.Errorf("phase %+v: want 4 profiled steps (the first left out) and times ≥ 0", p)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("phases %q, want %q", got, want)
	}
	if math.Abs(share-1) > 1e-9 {
		t.Errorf("shares add up to %v", share)
	}
	// The phases cover the step: their sum is the step time, which the log measures on its own.
	var logged []float64
	for _, l := range readLog(t, out) {
		if l.Split == "train" {
			logged = append(logged, 1000*float64(l.Tokens)/l.TokensPerS)
		}
	}
	stepMS := mean(logged[1:])
	if sum < 0.8*stepMS || sum > 1.2*stepMS+1 {
		t.Errorf("phases add up to %.2f ms, the log's mean step is %.2f ms", sum, stepMS)
	}
	for _, name := range []string{"forward, loss", "backward"} {
		if p := res.Profile[slices.Index(want, name)]; !(p.MedianMS > 0) {
			t.Errorf("%s took %v ms", name, p.MedianMS)
		}
	}
	var rec struct {
		Timings struct {
			Profile    []PhaseTime `json:"profile"`
			ProfileOps []OpTime    `json:"profile_ops"`
		} `json:"timings"`
	}
	readJSON(t, filepath.Join(out, FileRun), &rec)
	if !reflect.DeepEqual(rec.Timings.Profile, res.Profile) {
		t.Errorf("run.json profile %+v, result %+v", rec.Timings.Profile, res.Profile)
	}
	var buf bytes.Buffer
	WriteProfile(&buf, res.Profile, res.ProfileOps)
	// Ops: 3 steps tallied (the first left out); every step runs the same layers.
	ops := map[string]OpTime{}
	for _, o := range res.ProfileOps {
		ops[o.Op] = o
	}
	if len(res.ProfileOps) == 0 || len(res.ProfileOps) > 15 {
		t.Fatalf("%d ops listed", len(res.ProfileOps))
	}
	if o := ops["backward"]; o.CallsPerStep != 1 || !(o.MSPerStep > 0) {
		t.Errorf("backward: %+v, want one call per step", o)
	}
	if o := ops["lora_linear"]; o.CallsPerStep != 2*7 { // tiny: 2 layers × 7 LoRA linears
		t.Errorf("lora_linear: %+v, want 14 calls per step", o)
	}
	if !reflect.DeepEqual(rec.Timings.ProfileOps, res.ProfileOps) {
		t.Errorf("run.json ops %+v, result %+v", rec.Timings.ProfileOps, res.ProfileOps)
	}
	for _, name := range append(want, "lora_linear", "µs/call") {
		if !strings.Contains(buf.String(), name) {
			t.Errorf("profile table lacks %q:\n%s", name, buf.String())
		}
	}

	cfg.Out, cfg.Profile = filepath.Join(t.TempDir(), "run"), false
	if res, err = Train(cfg, nil); err != nil {
		t.Fatal(err)
	}
	if res.Profile != nil || res.ProfileOps != nil {
		t.Errorf("profile without --profile: %+v %+v", res.Profile, res.ProfileOps)
	}
}
