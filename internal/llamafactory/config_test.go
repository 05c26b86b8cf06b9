package llamafactory

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/chattemplate"
	"github.com/sentitune/sentitune/internal/task"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// lfExample is shaped like LLaMA-Factory's examples/train_lora/*_lora_sft.yaml, with more keys set.
const lfExample = `### model
model_name_or_path: Qwen/Qwen2.5-7B-Instruct
trust_remote_code: true
### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 16
lora_target: q_proj,v_proj
additional_target: embed_tokens
### dataset
dataset: reviews
dataset_dir: DIR
template: qwen
cutoff_len: 256
max_samples: 1000
### output
output_dir: saves/qwen-lora
logging_steps: 10
save_steps: 500
save_total_limit: 3
### train
per_device_train_batch_size: 4
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
num_train_epochs: 2.0
lr_scheduler_type: constant_with_warmup
warmup_ratio: 0.1
bf16: true
val_size: 0.1
eval_steps: 50
seed: 7
use_rslora: true
loraplus_lr_ratio: 16
quantization_bit: 4
`

func TestReadMapsEveryKey(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "reviews.json", `[{"instruction": "i", "input": "x", "output": "positive"}]`)
	write(t, dir, InfoFile, `{"reviews": {"file_name": "reviews.json", "formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output"}}}`)
	path := write(t, dir, "lf.yaml", strings.Replace(lfExample, "DIR", dir, 1))
	if !IsConfig(path) {
		t.Fatal("IsConfig: an LLaMA-Factory file not recognised")
	}
	c, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	f := c.Finetune
	if f.Model != "Qwen/Qwen2.5-7B-Instruct" || f.Template != "qwen" || f.Out != "saves/qwen-lora" {
		t.Errorf("model/template/out = %q %q %q", f.Model, f.Template, f.Out)
	}
	if f.LoRAR != 16 || f.LoRAAlpha != 32 || f.LoRADropout != 0 { // lora_alpha defaults to 2 × rank, dropout to 0
		t.Errorf("lora r/alpha/dropout = %d %g %g", f.LoRAR, f.LoRAAlpha, f.LoRADropout)
	}
	if f.LoRATarget.String() != "q_proj,v_proj" || f.ModulesToSave.String() != "embed_tokens" {
		t.Errorf("targets = %s, modules to save = %s", f.LoRATarget, f.ModulesToSave)
	}
	if f.MaxLen != 256 || f.BatchSize != 4 || f.GradAccum != 8 || f.LR != 1e-4 || f.Epochs != 2 || f.Scheduler != "constant" || f.WarmupRatio != 0.1 {
		t.Errorf("training = %+v", f)
	}
	if f.DType != "bf16" || f.ValRatio != 0.1 || f.EvalEvery != 50 || f.SaveEvery != 500 || f.SaveTotalLimit != 3 || f.Seed != 7 || !f.UseRSLoRA || f.LoRAPlusLRRatio != 16 {
		t.Errorf("options = %+v", f)
	}
	if c.MaxSamples != 1000 {
		t.Errorf("max_samples: 1000 gave %d", c.MaxSamples)
	}
	train, eval, fileNotes, err := c.Files()
	if err != nil || train != filepath.Join(dir, "reviews.json") || eval != "" || len(fileNotes) != 0 {
		t.Errorf("Files = %q %q %q %v", train, eval, fileNotes, err)
	}
	notes := strings.Join(c.Notes, "\n")
	for _, k := range []string{"trust_remote_code", "logging_steps", "template: qwen: "} {
		if !strings.Contains(notes, k) {
			t.Errorf("notes lack %q:\n%s", k, notes)
		}
	}
	if len(c.Notes) != 3 {
		t.Errorf("%d notes, want one per ignored key (3):\n%s", len(c.Notes), notes)
	}
	if f.QuantizationBit != 4 {
		t.Errorf("quantization_bit: 4 gave --quantization-bit %d", f.QuantizationBit)
	}
}

func TestReadDefaults(t *testing.T) {
	c, err := Read(write(t, t.TempDir(), "lf.yaml", "model_name_or_path: m\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Finetune
	// LLaMA-Factory's (Hugging Face's) defaults, where sentitune's own differ.
	if f.LR != 5e-5 || f.Scheduler != "linear" || f.WarmupRatio != 0 || f.MaxLen != 2048 || f.DType != "f32" || f.LoRAAlpha != 16 || f.ValRatio != 0 {
		t.Errorf("defaults = %+v", f)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"model_name_or_path: m\nlora_rnak: 8\n", `line 2: unknown LLaMA-Factory key "lora_rnak" (did you mean "lora_rank"?)`},
		{"model_name_or_path: m\nfinetuning_type: full\n", `finetuning_type: "full": sentitune does lora only`},
		{"stage: dpo\n", `stage: "dpo"`},
		{"model_name_or_path: m\nlr_scheduler_type: polynomial\n", `lr_scheduler_type: "polynomial"`},
		{"model_name_or_path: m\nwarmup_steps: 10\n", "give warmup_ratio, or max_steps"},
		{"model_name_or_path: m\nval_size: 2.5\n", "want a share below 1 or a whole number of rows"},
		{"model_name_or_path: m\ntemplate: vicuna\n", `template "vicuna": no sentitune equivalent`},
		{"model_name_or_path: m\nlora_rank: eight\n", "lora_rank"},
	} {
		_, err := Read(write(t, t.TempDir(), "lf.yaml", tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestWarmupSteps(t *testing.T) {
	c, err := Read(write(t, t.TempDir(), "lf.yaml", "model_name_or_path: m\nmax_steps: 200\nwarmup_steps: 20\n"))
	if err != nil || c.Finetune.WarmupRatio != 0.1 {
		t.Fatalf("warmup ratio = %v, %v; want 0.1", c.Finetune.WarmupRatio, err)
	}
}

func TestIsConfigSentituneFile(t *testing.T) {
	if IsConfig(write(t, t.TempDir(), "ft.yaml", "model: m\nlora-r: 8\ndata: d\ndataset: reviews\n")) {
		t.Error("a sentitune flag-name file taken for LLaMA-Factory's")
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.jsonl", `{"instruction": "i", "input": "x", "output": "1"}`)
	write(t, dir, InfoFile, `{
  "a": {"file_name": "a.jsonl"},
  "hub": {"hf_hub_url": "org/set"},
  "chat": {"file_name": "a.jsonl", "formatting": "sharegpt"},
  "pairs": {"file_name": "a.jsonl", "ranking": true},
  "renamed": {"file_name": "a.jsonl", "columns": {"query": "review"}},
  "images": {"file_name": "a.jsonl", "columns": {"response": "output", "images": "pics"}},
  "sampled": {"file_name": "a.jsonl", "num_samples": 10},
  "gone": {"file_name": "missing.json"}
}`)
	for _, online := range []string{"ONLINE", "REMOTE:org/data"} {
		if _, err := Resolve(online, []string{"a"}); err == nil || !strings.Contains(err.Error(), "dataset_dir "+online+": datasets on a hub are not downloaded") {
			t.Errorf("Resolve(%s): %v", online, err)
		}
	}
	ds, err := Resolve(dir, []string{"a"})
	if err != nil || len(ds) != 1 || ds[0].File != filepath.Join(dir, "a.jsonl") {
		t.Fatalf("Resolve(a) = %v, %v", ds, err)
	}
	for name, want := range map[string]string{
		"hub": "a hub dataset", "chat": `formatting "sharegpt"`, "pairs": "ranking: true",
		"renamed": "columns names no response", "images": `columns: images is "pics": sentitune trains on review text, not images`,
		"sampled": "num_samples 10: LLaMA-Factory draws them at random", "gone": "missing.json",
		"nope": `no dataset "nope" (it has: a, chat, gone, hub, images, pairs, renamed, sampled)`,
	} {
		if _, err := Resolve(dir, []string{name}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(%s): err = %v, want %q", name, err, want)
		}
	}
}

func TestTemplate(t *testing.T) {
	for lf, want := range map[string]string{"qwen": "qwen", "qwen3": "qwen3", "llama3": "llama3", "gemma3": "gemma", "glm4": "glm4", "deepseek3": "deepseek3", "empty": "raw",
		"default": "lf-default", "mistral": "mistral", "gemma": "gemma", "chatml": "chatml", "deepseekr1": "deepseek-r1", "qwen3_nothink": "qwen3"} {
		if got, _, err := Template(lf); err != nil || got != want {
			t.Errorf("Template(%s) = %q, %v; want %q", lf, got, err, want)
		}
	}
	if _, note, _ := Template("qwen"); !strings.Contains(note, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.") {
		t.Errorf("qwen's note does not name LLaMA-Factory's system prompt: %s", note)
	}
	// Every name maps to a template sentitune has.
	for _, lf := range TemplateNames() {
		name, _, err := Template(lf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chattemplate.Named(name, "<s>", "</s>"); err != nil {
			t.Errorf("LLaMA-Factory %s → %s: %v", lf, name, err)
		}
	}
}

// LLaMA-Factory's per_device_train_batch_size is each process's; sentitune's --batch-size is the
// global batch split across them, so N processes take per_device × N.
func TestProcessesScalesBatch(t *testing.T) {
	c, err := Read(write(t, t.TempDir(), "lf.yaml", "model_name_or_path: m\nper_device_train_batch_size: 4\ngradient_accumulation_steps: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.Processes(1)
	if c.Finetune.BatchSize != 4 || len(c.Notes) != 0 {
		t.Errorf("one process: batch %d, notes %q; want 4, none", c.Finetune.BatchSize, c.Notes)
	}
	c.Processes(4)
	if c.Finetune.BatchSize != 16 || c.Finetune.GradAccum != 2 {
		t.Errorf("4 processes: batch %d, grad accum %d; want 16, 2", c.Finetune.BatchSize, c.Finetune.GradAccum)
	}
	if want := "per_device_train_batch_size: 4 on 4 processes: --batch-size 16"; len(c.Notes) != 1 || !strings.Contains(c.Notes[0], want) ||
		!strings.Contains(c.Notes[0], "32 rows per optimizer step") {
		t.Errorf("notes %q, want one saying %q and 32 rows per step", c.Notes, want)
	}
	d, err := Read(write(t, t.TempDir(), "lf.yaml", "model_name_or_path: m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Processes(2); d.Finetune.BatchSize != 16 { // Hugging Face's default: 8 per device
		t.Errorf("default per-device batch on 2 processes: %d, want 16", d.Finetune.BatchSize)
	}
}

// dataset: a,b joins the datasets in order, each through its own columns mapping (csv too), the
// first max_samples of each; a single plain Alpaca file is trained on as it is.
func TestTrainingFileJoinsDatasets(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.json", `[{"instruction": "Rate it.", "input": "good", "output": "positive", "system": "unmapped"},
{"instruction": "Rate it.", "input": "bad", "output": "negative"},
{"instruction": "Rate it.", "input": "fine", "output": "positive"}]`)
	write(t, dir, "b.csv", "review,sentiment,sys,id\nGreat phone,1,Be brief.,r7\nBroke,0,Be brief.,r8\n")
	write(t, dir, "c.jsonl", `{"instruction": "i", "input": "x", "output": "1"}`+"\n")
	write(t, dir, InfoFile, `{
  "a": {"file_name": "a.json"},
  "b": {"file_name": "b.csv", "columns": {"query": "review", "response": "sentiment", "system": "sys"}},
  "c": {"file_name": "c.jsonl", "formatting": "alpaca"}
}`)
	path, note, err := TrainingFile(dir, []string{"c"}, 0)
	if err != nil || path != filepath.Join(dir, "c.jsonl") || note != "" {
		t.Errorf("one plain dataset: %q %q %v; want its own file, no note", path, note, err)
	}
	path, note, err = TrainingFile(dir, []string{"b", "a"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != filepath.Join(dir, ".sentitune") || !strings.HasPrefix(filepath.Base(path), "b+a-") {
		t.Errorf("joined file at %s", path)
	}
	if want := "b,a: 4 records (b 2 + a 2), each read through its own columns, concatenated in order into " + path; note != want {
		t.Errorf("note %q\nwant %q", note, want)
	}
	recs, err := task.ReadRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []task.Record{
		{Input: "Great phone", Output: "1", System: "Be brief.", ID: "r7"},
		{Input: "Broke", Output: "0", System: "Be brief.", ID: "r8"},
		{Instruction: "Rate it.", Input: "good", Output: "positive", ID: "a:1"}, // system only from a mapped column
		{Instruction: "Rate it.", Input: "bad", Output: "negative", ID: "a:2"},
	}
	if !slices.Equal(recs, want) {
		t.Errorf("joined records\n%+v\nwant\n%+v", recs, want)
	}
	again, _, err := TrainingFile(dir, []string{"b", "a"}, 2)
	if err != nil || again != path {
		t.Errorf("the same datasets again: %q, %v; want %q", again, err, path)
	}
	write(t, dir, "d.json", `[{"instruction": "i", "input": "x", "output": "1", "history": [["hi", "hello"]]}]`)
	write(t, dir, InfoFile, `{"d": {"file_name": "d.json", "columns": {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}},
"e": {"file_name": "b.csv", "columns": {"query": "text", "response": "sentiment"}}}`)
	for name, want := range map[string]string{"d": "d.json record 1: a history", "e": `b.csv record 1: no "text" field (columns maps query to it)`} {
		if _, _, err := TrainingFile(dir, []string{name}, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
	}
}

// Training arguments of Hugging Face's that LLaMA-Factory files carry: mapped where sentitune has
// the option, said where it does not, refused where the run would differ.
func TestTrainingArgumentKeys(t *testing.T) {
	c, err := Read(write(t, t.TempDir(), "lf.yaml", `model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct
model_revision: v1.0
early_stopping_steps: 3
ddp_backend: gloo
use_cpu: true
gradient_checkpointing: true
optim: paged_adamw_8bit
adam_beta1: 0.9
adam_beta2: 0.95
label_smoothing_factor: 0
neftune_noise_alpha: 5
mix_strategy: concat
tf32: true
`))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Finetune
	if f.Model != "Qwen/Qwen2.5-0.5B-Instruct@v1.0" || f.EarlyStoppingPatience != 3 || f.DistBackend != "gloo" || f.Device != "cpu" || f.GradientCheckpointing != "on" {
		t.Errorf("mapped: model %q, patience %d, backend %q, device %q, checkpointing %q", f.Model, f.EarlyStoppingPatience, f.DistBackend, f.Device, f.GradientCheckpointing)
	}
	notes := strings.Join(c.Notes, "\n")
	for _, want := range []string{"optim: paged_adamw_8bit: unsupported: trains with AdamW", "adam_beta2: 0.95: unsupported: sentitune's AdamW uses 0.999",
		"neftune_noise_alpha: 5: unsupported", "tf32: true: ignored"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if len(c.Notes) != 4 {
		t.Errorf("%d notes, want 4 (adam_beta1 0.9 and label_smoothing_factor 0 are sentitune's own):\n%s", len(c.Notes), notes)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"mix_strategy: interleave_under\n", `mix_strategy: "interleave_under": sentitune does concat only`},
		{"quantization_type: fp4\n", `quantization_type: "fp4": sentitune does nf4 only`},
		{"ddp_backend: mpi\n", `ddp_backend: "mpi": sentitune has nccl and gloo`},
	} {
		if _, err := Read(write(t, t.TempDir(), "lf.yaml", "model_name_or_path: m\n"+tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// val_size N (a row count) is a share of the training records once they are known.
func TestValSizeRows(t *testing.T) {
	dir := t.TempDir()
	var recs []string
	for i := range 8 {
		recs = append(recs, fmt.Sprintf(`{"instruction": "i", "input": "r%d", "output": "%d"}`, i, i%2))
	}
	write(t, dir, "a.jsonl", strings.Join(recs, "\n"))
	write(t, dir, InfoFile, `{"a": {"file_name": "a.jsonl"}}`)
	c, err := Read(write(t, dir, "lf.yaml", "model_name_or_path: m\ndataset: a\ndataset_dir: "+dir+"\nval_size: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, notes, err := c.Files()
	if err != nil || c.Finetune.ValRatio != 0.25 || len(notes) != 1 || !strings.Contains(notes[0], "val_size: 2 rows: --val-ratio 0.25 of the 8 training records") {
		t.Errorf("val_size 2 of 8: ratio %g, notes %q, %v", c.Finetune.ValRatio, notes, err)
	}
	c, err = Read(write(t, dir, "lf.yaml", "model_name_or_path: m\ndataset: a\ndataset_dir: "+dir+"\nval_size: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.Files(); err == nil || !strings.Contains(err.Error(), "val_size: 5 of 8 rows: sentitune holds out at most half") {
		t.Errorf("val_size 5 of 8: %v", err)
	}
}
