// Package llamafactory reads LLaMA-Factory's own files as they are: its training YAML
// (llamafactory-cli train), its dataset registry (dataset_info.json) and its template names,
// and says what each means in sentitune.
package llamafactory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/task"
)

// Config is what an LLaMA-Factory training YAML asks for, in sentitune's terms.
type Config struct {
	Finetune   finetune.Config // Model, Template, Out and the training options; TrainFile/EvalFile from the datasets
	Datasets   []string        // dataset: names in DatasetDir's dataset_info.json
	Eval       []string        // eval_dataset: names
	DatasetDir string          // dataset_dir (LLaMA-Factory's default: data)
	EvalBatch  int             // per_device_eval_batch_size (0: not given)
	MaxSamples int             // max_samples: the first N records of each dataset (0: all)
	PerDevice  int             // per_device_train_batch_size: Finetune.BatchSize on one process (Processes scales it)
	Notes      []string        // one line per key that was ignored or is unsupported, with the reason
	// keys that finish combines once every key is read
	alphaSet     bool
	revision     string
	valRows      int
	warmupSteps  int
	templateName string
}

// markers are keys only an LLaMA-Factory file has; one of them at the top level makes a file one.
var markers = []string{"model_name_or_path", "finetuning_type", "stage", "dataset_dir", "per_device_train_batch_size", "cutoff_len", "lora_rank"}

// IsConfig reports whether the YAML file at path is an LLaMA-Factory training file (it has one of
// LLaMA-Factory's own top-level keys) rather than one of sentitune's.
func IsConfig(path string) bool {
	m, err := readMapping(path)
	if err != nil || m == nil {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if slices.Contains(markers, m.Content[i].Value) {
			return true
		}
	}
	return false
}

// Read maps the LLaMA-Factory YAML file at path over finetune.Defaults(). A key with no
// sentitune meaning is a note; a value sentitune cannot honour, or a key LLaMA-Factory does
// not have, is an error naming the file, line and key.
func Read(path string) (*Config, error) {
	m, err := readMapping(path)
	if err != nil {
		return nil, err
	}
	cfg := &Config{Finetune: finetune.Defaults(), DatasetDir: "data"}
	// LLaMA-Factory's defaults where they differ from sentitune's.
	cfg.Finetune.LoRADropout = 0
	cfg.Finetune.MaxLen = 2048
	cfg.Finetune.Epochs = 3
	cfg.Finetune.LR = 5e-5
	cfg.Finetune.Scheduler = "linear"
	cfg.Finetune.WarmupRatio = 0
	cfg.Finetune.ValRatio = 0
	cfg.Finetune.WeightDecay = 0
	cfg.Finetune.LoadBest = false
	cfg.Finetune.DType = "f32" // Hugging Face trains in fp32 unless bf16: true
	cfg.PerDevice = 8          // Hugging Face's per_device_train_batch_size
	if m == nil {
		return cfg, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i], m.Content[i+1]
		k, ok := keys[key.Value]
		if !ok {
			return nil, fmt.Errorf("%s line %d: unknown LLaMA-Factory key %q (did you mean %q?)", path, key.Line, key.Value, nearest(key.Value))
		}
		if err := k.apply(cfg, val); err != nil {
			return nil, fmt.Errorf("%s line %d: %s: %w", path, val.Line, key.Value, err)
		}
	}
	if err := cfg.finish(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// finish applies the rules that combine keys (LLaMA-Factory's lora_alpha defaults to twice the rank).
func (c *Config) finish() error {
	f := &c.Finetune
	if !c.alphaSet {
		f.LoRAAlpha = float64(2 * f.LoRAR)
	}
	f.BatchSize = c.PerDevice
	if _, err := os.Stat(f.Model); c.revision != "" && err != nil && !strings.Contains(f.Model, "@") {
		f.Model += "@" + c.revision // a hub name (not a folder) at that revision
	}
	if c.warmupSteps > 0 {
		if f.MaxSteps <= 0 {
			return fmt.Errorf("warmup_steps %d: sentitune warms up over a share of the steps; give warmup_ratio, or max_steps so the share is known", c.warmupSteps)
		}
		f.WarmupRatio = float64(c.warmupSteps) / float64(f.MaxSteps)
	}
	if c.templateName != "" {
		name, note, err := Template(c.templateName)
		if err != nil {
			return err
		}
		f.Template = name
		if note != "" {
			c.Notes = append(c.Notes, "template: "+c.templateName+": "+note)
		}
	}
	return nil
}

// Processes makes the batch LLaMA-Factory's on n data-parallel processes: its
// per_device_train_batch_size is each process's, sentitune's --batch-size the global one split
// across them, so the global batch is per_device × n (× gradient_accumulation_steps per step).
func (c *Config) Processes(n int) {
	if n <= 1 {
		return
	}
	f := &c.Finetune
	f.BatchSize = c.PerDevice * n
	c.Notes = append(c.Notes, fmt.Sprintf("per_device_train_batch_size: %d on %d processes: --batch-size %d (sentitune's is the global batch, split across the processes); "+
		"%d rows per optimizer step with gradient_accumulation_steps %d, as LLaMA-Factory's", c.PerDevice, n, f.BatchSize, f.BatchSize*max(f.GradAccum, 1), max(f.GradAccum, 1)))
}

// Files resolves the YAML's dataset and eval_dataset to the files sentitune trains and evaluates
// on: a dataset's own file, or several (or a renamed columns mapping, or max_samples) joined into one
// file; notes say where.
func (c *Config) Files() (train, eval string, notes []string, err error) {
	pick := func(key string, names []string) (string, error) {
		if len(names) == 0 {
			return "", nil
		}
		path, note, err := TrainingFile(c.DatasetDir, names, c.MaxSamples)
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		if note != "" {
			notes = append(notes, key+": "+note)
		}
		return path, nil
	}
	if train, err = pick("dataset", c.Datasets); err != nil {
		return "", "", nil, err
	}
	if c.valRows > 0 && train != "" {
		note, err := c.valShare(train)
		if err != nil {
			return "", "", nil, err
		}
		notes = append(notes, note)
	}
	eval, err = pick("eval_dataset", c.Eval)
	return train, eval, notes, err
}

// valShare turns val_size N (rows) into sentitune's --val-ratio of train's records.
func (c *Config) valShare(train string) (string, error) {
	recs, err := task.ReadRecords(train)
	if err != nil {
		return "", err
	}
	share := float64(c.valRows) / float64(len(recs))
	if share > 0.5 || c.valRows > 1000 {
		return "", fmt.Errorf("val_size: %d of %d rows: sentitune holds out at most half of them and at most 1000", c.valRows, len(recs))
	}
	c.Finetune.ValRatio = share
	return fmt.Sprintf("val_size: %d rows: --val-ratio %.4g of the %d training records (stratified, so within a row of %d)", c.valRows, share, len(recs), c.valRows), nil
}

// readMapping is the top-level mapping of a YAML file (nil for an empty file).
func readMapping(path string) (*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	if m := doc.Content[0]; m.Kind == yaml.MappingNode {
		return m, nil
	}
	return nil, errors.New("read config " + path + ": want a mapping of keys to values")
}

// nearest is the known key closest to k in edit distance.
func nearest(k string) string {
	best, bestD := "", 1<<30
	for name := range keys {
		if d := editDistance(k, name); d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev = cur
	}
	return prev[len(b)]
}
