package finetune

import (
	"path/filepath"
	"runtime"
	"time"

	"github.com/sentitune/sentitune/internal/filehash"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

// dataHashes maps each data file to its SHA-256.
func dataHashes(paths ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range paths {
		if p == "" {
			continue
		}
		h, err := filehash.SHA256(p)
		if err != nil {
			return nil, err
		}
		out[filepath.Base(p)] = h
	}
	return out, nil
}

// runRecord is run.json: everything needed to tell what a run did and to repeat it.
type runRecord struct {
	Options  Config      `json:"options"`
	Model    modelRecord `json:"model"`
	Data     dataRecord  `json:"data"`
	Engine   engine      `json:"engine"`
	Timings  timings     `json:"timings"`
	Results  results     `json:"results"`
	Finished time.Time   `json:"finished"`
}

type modelRecord struct {
	Dir               string `json:"dir"`
	Architecture      string `json:"architecture"`
	ModelType         string `json:"model_type"`
	HiddenSize        int    `json:"hidden_size"`
	Layers            int    `json:"num_hidden_layers"`
	Heads             int    `json:"num_attention_heads"`
	KVHeads           int    `json:"num_key_value_heads"`
	VocabSize         int    `json:"vocab_size"`
	Parameters        int64  `json:"parameters"`
	TrainableTensors  int    `json:"trainable_tensors"`
	TrainableElements int64  `json:"trainable_parameters"`
}

type dataRecord struct {
	Train         string            `json:"train"`
	Eval          string            `json:"eval,omitempty"`
	SHA256        map[string]string `json:"sha256"`
	TrainExamples int               `json:"train_examples"`
	EvalExamples  int               `json:"eval_examples"`
	Validation    string            `json:"validation"`       // what evaluation ran on: val.json, a slice carved from train, or none
	Labels        string            `json:"labels,omitempty"` // the classes NAME=ANSWER in class order; "" = binary 1/0

	// Examples whose review the max length cut, and which end it cut (task.TruncationRight).
	TrainTruncated int    `json:"train_truncated"`
	EvalTruncated  int    `json:"eval_truncated"`
	TruncationSide string `json:"truncation_side"`
}

type engine struct {
	Libtorch string `json:"libtorch"`
	Device   string `json:"device"`
	DType    string `json:"dtype"`
	Threads  int    `json:"threads"`
	GoOS     string `json:"goos"`
	GoArch   string `json:"goarch"`
	World    int    `json:"world_size"`             // data-parallel ranks
	Backend  string `json:"dist_backend,omitempty"` // gloo | nccl with several ranks
	// GradientCheckpointing: decoder layers were recomputed in backward.
	GradientCheckpointing bool `json:"gradient_checkpointing"`
	QuantizationBit       int  `json:"quantization_bit,omitempty"` // the frozen base's projections: 4 (NF4) or 8
}

type timings struct {
	TotalS          float64 `json:"total_s"`
	TrainS          float64 `json:"train_s"`
	StepsPerSecond  float64 `json:"steps_per_s"`
	TokensPerSecond float64 `json:"tokens_per_s"`
	// Profile is the per-phase step time with --profile (synchronized phases).
	Profile    []PhaseTime `json:"profile,omitempty"`
	ProfileOps []OpTime    `json:"profile_ops,omitempty"`
}

type results struct {
	Steps       int         `json:"steps"`
	ResumedFrom int         `json:"resumed_from,omitempty"`
	FinalLoss   float64     `json:"final_loss"`
	Eval        *EvalResult `json:"eval,omitempty"`
	// Best is the evaluated step whose weights the adapter holds (load-best).
	Best       *task.BestCheckpoint `json:"best,omitempty"`
	PeakMemory int64                `json:"peak_memory_bytes"`
	PeakKind   string               `json:"peak_memory_kind"`
	Adapter    string               `json:"adapter"`
}

func writeRunJSON(cfg Config, res *Result, model *llm.Model, trainPath, evalPath string, hashes map[string]string,
	totalS float64, nTrain, nEval int) error {
	mc := model.Config()
	arch := ""
	if len(mc.Architectures) > 0 {
		arch = mc.Architectures[0]
	}
	var elems int64
	params := model.TrainableParams()
	for _, p := range params {
		elems += p.T.Numel()
	}
	version, _ := torch.Version()
	peakKind := "host peak resident set (VmHWM)"
	if model.Device().CUDA {
		peakKind = "CUDA peak allocated"
	}
	rec := runRecord{
		Options: cfg,
		Model: modelRecord{Dir: cfg.Model, Architecture: arch, ModelType: mc.ModelType, HiddenSize: mc.HiddenSize,
			Layers: mc.NumHiddenLayers, Heads: mc.NumAttentionHeads, KVHeads: mc.NumKeyValueHeads, VocabSize: mc.VocabSize,
			Parameters: mc.NumParameters(), TrainableTensors: len(params), TrainableElements: elems},
		Data: dataRecord{Train: trainPath, Eval: evalPath, SHA256: hashes, TrainExamples: nTrain, EvalExamples: nEval,
			Validation: res.Validation},
		Engine: engine{Libtorch: version, Device: model.Device().String(), DType: model.DType().String(),
			Threads: torch.NumThreads(), GoOS: runtime.GOOS, GoArch: runtime.GOARCH, World: max(res.World, 1), Backend: res.Backend,
			GradientCheckpointing: res.GradientCheckpointing, QuantizationBit: model.Quantization()},
		Timings: timings{TotalS: totalS, TrainS: res.TrainSeconds, StepsPerSecond: res.StepsPerSecond, TokensPerSecond: res.TokensPerSecond,
			Profile: res.Profile, ProfileOps: res.ProfileOps},
		Results: results{Steps: res.Steps, ResumedFrom: res.ResumedFrom, FinalLoss: res.FinalLoss, Eval: res.Eval, Best: res.Best,
			PeakMemory: res.PeakMemory, PeakKind: peakKind, Adapter: res.Adapter},
		Finished: time.Now().UTC(),
	}
	rec.Data.TrainTruncated, rec.Data.EvalTruncated, rec.Data.TruncationSide = res.TrainTruncated, res.EvalTruncated, task.TruncationRight
	if res.Labels != nil && !res.Labels.IsBinary() {
		rec.Data.Labels = res.Labels.String()
	}
	return writeJSONAtomic(filepath.Join(cfg.Out, FileRun), rec)
}
