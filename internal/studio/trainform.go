package studio

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/chattemplate"
)

// trainOption is one finetune flag the Train form offers.
type trainOption struct {
	Flag    string   `json:"flag"`
	Group   string   `json:"group"`
	Default string   `json:"default"`           // finetune.Defaults()'s, as the flag writes it
	Choices []string `json:"choices,omitempty"` // the values a select offers; free text when empty
}

// trainGroups are finetune's flags in the groups and order of LLaMA-Factory's board: the model's
// knobs, the data's, the training arguments, extra (evaluation, saving, memory), LoRA, the device.
var trainGroups = []struct {
	name  string
	flags []string
}{
	{"model", []string{"template", "quantization-bit"}},
	{"data", []string{"labels", "label-map", "max-len", "val-ratio"}},
	{"train", []string{"epochs", "max-steps", "lr", "scheduler", "warmup-ratio", "batch-size", "grad-accum", "max-grad-norm",
		"weight-decay", "seed", "dtype"}},
	{"extra", []string{"eval-every", "metric-for-best", "load-best", "early-stopping-patience", "save-every", "save-total-limit",
		"gradient-checkpointing", "static-shapes", "report-to"}},
	{"lora", []string{"lora-r", "lora-alpha", "lora-dropout", "lora-target", "use-rslora", "loraplus-lr-ratio", "modules-to-save"}},
	{"device", []string{"device", "threads", "nproc", "dist-backend", "dist-timeout"}},
}

// TrainFormOmits are the finetune flags the Train form leaves out, each with why (a test holds
// every other flag to be on the form).
var TrainFormOmits = map[string]string{
	"model": "the model picker", "data": "the dataset picker", "out": "the run name", "resume": "the resume box",
	"train": "studio trains on a prep folder", "eval": "studio trains on a prep folder", "dataset": "studio trains on a prep folder",
	"overwrite": "studio never trains over a run", "resume-from": "resume continues from the newest checkpoint",
	"config": "the YAML shown is the form", "log-every": "studio streams train_log.jsonl, not the progress lines",
	"profile": "a benchmark switch", "trace": "a benchmark switch", "full-logits": "a debug switch",
	"dry-run": "the Model page shows its memory plan", "cuda-graphs": "refused until capture is built",
}

// choices are the values of the flags that take one of a few.
func choices(flag string) []string {
	switch flag {
	case "template":
		return append([]string{""}, chattemplate.Names()...)
	case "quantization-bit":
		return []string{"0", "4", "8"}
	case "label-map":
		return []string{"", "stars3", "stars5"}
	case "scheduler":
		return []string{"cosine", "linear", "constant"}
	case "dtype":
		return []string{"auto", "bf16", "f32"}
	case "metric-for-best":
		return finetune.MetricsForBest
	case "load-best", "use-rslora", "static-shapes":
		return []string{"true", "false"}
	case "gradient-checkpointing":
		return []string{"auto", "on", "off"}
	case "report-to":
		return append([]string{""}, finetune.ReportTargets...)
	case "dist-backend":
		return []string{"auto", "gloo", "nccl"}
	}
	return nil
}

// trainOptions is the form: each flag with finetune.Defaults()'s value, so a form left alone adds
// no flags to the command.
var trainOptions = sync.OnceValue(func() []trainOption {
	defaults := flagDefaults()
	var out []trainOption
	for _, g := range trainGroups {
		for _, f := range g.flags {
			out = append(out, trainOption{Flag: f, Group: g.name, Default: defaults[f], Choices: choices(f)})
		}
	}
	return out
})

// flagDefaults writes finetune.Defaults() as flag values: its YAML keys are the flag names.
func flagDefaults() map[string]string {
	var doc map[string]any
	b, _ := yaml.Marshal(finetune.Defaults())
	yaml.Unmarshal(b, &doc)
	out := map[string]string{}
	for k, v := range doc {
		switch v := v.(type) {
		case []any: // a list flag: comma-separated
			var parts []string
			for _, p := range v {
				parts = append(parts, fmt.Sprint(p))
			}
			out[k] = strings.Join(parts, ",")
		case nil:
			out[k] = ""
		case float64:
			out[k] = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// TrainFormFlags names the finetune flags the Train form offers.
func TrainFormFlags() []string {
	var out []string
	for _, o := range trainOptions() {
		out = append(out, o.Flag)
	}
	return out
}

func (s *Server) trainForm(w http.ResponseWriter, r *http.Request) { reply(w, trainOptions()) }

// FinetuneArgs is the sentitune finetune command line of a Train form (the model, prep folder and
// run folder as given; options by flag name) and the same run as a --config YAML file.
func FinetuneArgs(model, data, out string, resume bool, options map[string]string) ([]string, string, error) {
	for flag := range options {
		if !slices.ContainsFunc(trainOptions(), func(o trainOption) bool { return o.Flag == flag }) {
			return nil, "", badRequest("unknown training option %q", flag)
		}
	}
	args := []string{"finetune", "--model", model, "--data", data, "--out", out}
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k, v string) {
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &yaml.Node{Kind: yaml.ScalarNode, Value: v})
	}
	add("model", model)
	add("data", data)
	add("out", out)
	if resume {
		args = append(args, "--resume")
		add("resume", "true")
	}
	for _, o := range trainOptions() {
		v := strings.TrimSpace(options[o.Flag])
		if v == o.Default || v == "" && !slices.Contains(o.Choices, "") { // left alone
			continue
		}
		if strings.HasPrefix(v, "-") && !isNumber(v) {
			return nil, "", badRequest("option %s: value %q", o.Flag, v)
		}
		if o.Choices != nil && !slices.Contains(o.Choices, v) {
			return nil, "", badRequest("option %s: %q is not one of %s", o.Flag, v, strings.Join(o.Choices, ", "))
		}
		if o.Default == "true" || o.Default == "false" {
			args = append(args, "--"+o.Flag+"="+v)
		} else {
			args = append(args, "--"+o.Flag, v)
		}
		add(o.Flag, v)
	}
	y, err := yaml.Marshal(doc)
	if err != nil {
		return nil, "", err
	}
	return args, string(y), nil
}

func isNumber(s string) bool {
	var f float64
	_, err := fmt.Sscan(s, &f)
	return err == nil
}

// finetuneArgs is FinetuneArgs of a Train form request, with its workspace paths.
func finetuneArgs(t trainRequest) ([]string, string, error) {
	return FinetuneArgs(modelArg(t.Model), dirData+"/"+t.Data, dirRuns+"/"+t.Name, t.Resume, t.Options)
}
