package finetune

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// MemoryPlan is the memory a training run needs on its device, by part, in bytes: arithmetic from
// the model's config.json and the run's options (finetune --dry-run; studio's model page). Each
// part follows what the engine keeps: the frozen base as loaded (quantized or not), the LoRA
// parameters with their gradients and AdamW's two moments (f32), what autograd saves for backward
// in one micro-batch, the largest transient buffers of one op, and the runtime.
type MemoryPlan struct {
	Model           string `json:"model"`
	Device          string `json:"device"` // cpu | cuda
	DType           string `json:"dtype"`  // compute dtype
	Batch           int    `json:"batch"`  // rows of one micro-batch (per rank)
	SeqLen          int    `json:"seq_len"`
	QuantizationBit int    `json:"quantization_bit,omitempty"`
	Checkpointing   bool   `json:"gradient_checkpointing"`
	Attention       string `json:"attention"` // how attention keeps its scores on this device

	WeightsProjections int64 `json:"weights_projections"` // the decoder's linear layers, quantized or not
	WeightsOther       int64 `json:"weights_other"`       // embeddings, lm_head, norms, biases
	Trainable          int64 `json:"trainable"`           // LoRA A/B and modules_to_save copies, f32
	Grads              int64 `json:"grads"`
	Optimizer          int64 `json:"optimizer"` // AdamW exp_avg and exp_avg_sq, f32
	// Activations are what autograd holds at the step's peak: ActivationsCheckpointed or
	// ActivationsPlain, whichever the run uses.
	Activations             int64 `json:"activations"`
	ActivationsPlain        int64 `json:"activations_plain"`
	ActivationsCheckpointed int64 `json:"activations_checkpointed"`
	Workspace               int64 `json:"workspace"` // transient buffers of the costliest op (attention backward, the loss)
	Overhead                int64 `json:"overhead"`  // runtime: libtorch, BLAS, Go and the tokenizer; the CUDA context
	Total                   int64 `json:"total"`

	Notes []string `json:"notes,omitempty"`
}

// Runtime overheads: not derivable from a config, so measured once and named here.
const (
	// cpuRuntimeBytes is a training process's resident set besides weights, trainable state and
	// activations: libtorch's and OpenBLAS's code and buffers, the Go runtime, the tokenizer. Measured
	// by bench -memplan: its 1 × 64-token runs peak 248 MiB (tiny) and 258 MiB (small) above that state.
	cpuRuntimeBytes = 256 << 20
	// cudaRuntimeBytes is the CUDA context, cuBLAS workspace and caching-allocator slack, a typical
	// figure for CUDA 12 to be confirmed by scripts/gpu-check.sh (issue 14).
	cudaRuntimeBytes = 1 << 30
)

// PlanMemory plans cfg's run without loading the model: cfg.Model's config.json (a folder, or a hub
// name in a local cache), cfg.Device (auto: CUDA when libtorch sees one; "cuda" need not be present),
// cfg.DType, the micro-batch of cfg.BatchSize rows of cfg.MaxLen tokens (the longest batch a run can
// meet), LoRA targets, rank, modules_to_save, --gradient-checkpointing and --quantization-bit.
func PlanMemory(cfg Config) (MemoryPlan, error) {
	dir, err := hub.ResolveModel(cfg.Model)
	if err != nil {
		return MemoryPlan{}, err
	}
	mc, err := llm.LoadConfig(dir)
	if err != nil {
		return MemoryPlan{}, err
	}
	cuda, err := planDevice(cfg.Device)
	if err != nil {
		return MemoryPlan{}, err
	}
	return PlanMemoryFor(mc, cfg, cuda)
}

// planDevice reads --device for planning: cuda[:N] plans for a GPU whether or not one is here.
func planDevice(device string) (cuda bool, err error) {
	switch d := strings.ToLower(strings.TrimSpace(device)); {
	case d == "cpu":
		return false, nil
	case d == "cuda" || d == "gpu" || strings.HasPrefix(d, "cuda:"):
		return true, nil
	case d == "" || d == "auto":
		return torch.Load() == nil && torch.CUDAAvailable(), nil
	}
	return false, fmt.Errorf("bad device %q (want auto, cpu, cuda or cuda:N)", device)
}

// PlanMemoryFor is PlanMemory for a parsed config on a CPU (cuda false) or CUDA device.
func PlanMemoryFor(mc *llm.Config, cfg Config, cuda bool) (MemoryPlan, error) {
	if err := cfg.ValidatePlanOptions(); err != nil {
		return MemoryPlan{}, err
	}
	dtype, err := planDType(cfg.DType, cuda)
	if err != nil {
		return MemoryPlan{}, err
	}
	targets, err := planTargets(mc, cfg.LoRATarget)
	if err != nil {
		return MemoryPlan{}, err
	}
	dev := torch.CPU
	if cuda {
		dev = torch.CUDA(0)
	}
	sh := planShape{mc: mc, e: int64(dtype.Size()), B: int64(cfg.BatchSize), T: int64(cfg.MaxLen), r: int64(cfg.LoRAR),
		dropout: cfg.LoRADropout > 0, quantBits: cfg.QuantizationBit, targets: targets, fused: cuda && fusedAttention(mc)}
	p := MemoryPlan{Device: map[bool]string{false: "cpu", true: "cuda"}[cuda], DType: dtype.String(), Batch: cfg.BatchSize,
		SeqLen: cfg.MaxLen, QuantizationBit: cfg.QuantizationBit, Model: cfg.Model, Checkpointing: gradientCheckpointing(cfg, dev)}
	p.Attention = "math: softmax scores [B, heads, T, T] in f32 kept for backward"
	if sh.fused {
		p.Attention = "fused SDPA (flash / memory-efficient): no T×T scores kept"
	}
	p.WeightsProjections, p.WeightsOther = sh.weights(cuda, fileDTypeSize(mc))
	p.Trainable = sh.trainable(cfg.ModulesToSave)
	p.Grads = p.Trainable
	p.Optimizer = 2 * p.Trainable
	p.ActivationsPlain, p.ActivationsCheckpointed = sh.activations()
	p.Activations = p.ActivationsPlain
	if p.Checkpointing {
		p.Activations = p.ActivationsCheckpointed
	}
	p.Workspace = sh.workspace(cuda)
	p.Overhead = cpuRuntimeBytes
	if cuda {
		p.Overhead = cudaRuntimeBytes
	}
	p.Total = p.WeightsProjections + p.WeightsOther + p.Trainable + p.Grads + p.Optimizer + p.Activations + p.Workspace + p.Overhead
	p.Notes = sh.notes(cuda, cfg)
	return p, nil
}

// ValidatePlanOptions checks the options a memory plan rests on (a plan needs no data or run folder).
func (c Config) ValidatePlanOptions() error {
	switch {
	case c.BatchSize <= 0:
		return fmt.Errorf("batch-size must be at least 1, got %d", c.BatchSize)
	case c.MaxLen <= 0:
		return fmt.Errorf("max-len must be positive, got %d", c.MaxLen)
	case c.LoRAR <= 0:
		return fmt.Errorf("lora-r must be at least 1, got %d", c.LoRAR)
	case c.QuantizationBit != 0 && c.QuantizationBit != 4 && c.QuantizationBit != 8:
		return fmt.Errorf("quantization-bit must be 4 or 8 (or 0 for none), got %d", c.QuantizationBit)
	case !slices.Contains(gradientCheckpointingValues, strings.ToLower(c.GradientCheckpointing)):
		return fmt.Errorf("gradient-checkpointing must be auto, on or off, got %q", c.GradientCheckpointing)
	}
	return nil
}

// planDType resolves --dtype as LoadModel does: auto is bf16 on CUDA, f32 on the CPU.
func planDType(s string, cuda bool) (torch.DType, error) {
	d, explicit, err := llm.ParseComputeDType(s)
	if err != nil {
		return 0, err
	}
	if !explicit && cuda {
		return torch.BFloat16, nil
	}
	return d, nil
}

// planTargets resolves --lora-target against the architecture's projections (module paths).
func planTargets(mc *llm.Config, targets List) ([]string, error) {
	short, err := llm.LoRAConfig{Targets: targets}.TargetModules()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range mc.LinearModules() {
		name := m[strings.LastIndex(m, ".")+1:]
		if slices.Contains(short, "all") || slices.Contains(short, name) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lora-target %s names none of this model's projections (%s)", targets, strings.Join(mc.LoRATargets(), ", "))
	}
	return out, nil
}

// fusedAttention reports whether CUDA SDPA can take its flash / memory-efficient kernels for the
// model's full layers: not with a sliding-window mask or soft-capped scores, which go the math way.
func fusedAttention(mc *llm.Config) bool {
	return mc.AttnLogitSoftcap == 0 && mc.SlidingWindow <= 0
}

// fileDTypeSize is the byte size of the checkpoint's dtype (config's torch_dtype; bf16 when unsaid).
func fileDTypeSize(mc *llm.Config) int64 {
	switch strings.ToLower(mc.TorchDType) {
	case "float32", "f32":
		return 4
	}
	return 2
}

// planShape is one micro-batch's shape on one model: what the byte counts below are made of.
type planShape struct {
	mc        *llm.Config
	e         int64 // compute dtype bytes
	B, T, r   int64
	dropout   bool
	quantBits int
	targets   []string // LoRA'd module paths
	fused     bool     // CUDA flash / memory-efficient attention
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// quantizedBytes is a projection's resident size at bits (quant.NF4.Bytes, quant.Int8Rows.Bytes): NF4
// two codes a byte and a byte-coded absmax per block of 64 (a f32 per 256 of those, and an offset);
// int8 one byte a value and a f32 scale a row.
func quantizedBytes(out, in int64, bits int) int64 {
	n := out * in
	if bits == 8 {
		return n + 4*out
	}
	blocks := (n + 63) / 64
	return (n+1)/2 + blocks + 4*((blocks+255)/256) + 4
}

// weights are the frozen base's resident bytes. On the CPU the safetensors file stays mapped and
// its pages count as they are read, so a quantized projection costs its file bytes and its codes.
func (p planShape) weights(cuda bool, fileBytes int64) (projections, other int64) {
	mc := p.mc
	for _, name := range mc.WeightNames() {
		shape := mc.ExpectedShape(name)
		n := numel(shape)
		module, isWeight := strings.CutSuffix(name, ".weight")
		_, rest, inLayer := strings.Cut(module, "layers.")
		if i := strings.IndexByte(rest, '.'); inLayer && i >= 0 {
			rest = rest[i+1:]
		}
		if isWeight && inLayer && mc.LinearShape(rest) != nil {
			if p.quantBits == 0 {
				projections += n * p.e
				continue
			}
			projections += quantizedBytes(shape[0], shape[1], p.quantBits)
			if !cuda && fileBytes == p.e {
				projections += n * fileBytes // the mapped pages read to quantize
			}
			continue
		}
		other += n * p.e
	}
	return projections, other
}

// trainable is the f32 bytes of the LoRA matrices and modules_to_save copies.
func (p planShape) trainable(modulesToSave List) int64 {
	var n int64
	for _, m := range p.targets {
		s := p.mc.LinearShape(m)
		n += p.r * (s[0] + s[1])
	}
	n *= int64(p.mc.NumHiddenLayers)
	for _, m := range modulesToSave {
		if m == "embed_tokens" || m == "lm_head" {
			n += int64(p.mc.VocabSize) * int64(p.mc.HiddenSize)
		}
	}
	return 4 * n
}

// answerQueries is the last layer's query positions a row: the answer tokens (label and end of turn).
const answerQueries = 2

// activations are the bytes autograd holds at the peak of a plain step (every layer's saved tensors)
// and of a checkpointed one (each layer's input, plus one layer recomputed with grad).
func (p planShape) activations() (plain, checkpointed int64) {
	L := int64(p.mc.NumHiddenLayers)
	full := p.layer(p.T)
	last := p.layer(answerQueries)
	input := p.B * p.T * int64(p.mc.HiddenSize) * p.e
	plain = (L-1)*full + last
	checkpointed = L*input + max(full, last)
	return plain, checkpointed
}

// layer is what autograd saves in one decoder layer whose queries are n positions a row (T for
// every layer but the last, which runs its queries at the answer positions alone), by op as the
// engine computes them: RMSNorm keeps its f32 input and the normalized value; a linear keeps its
// input (and, quantized, its dequantized weight); LoRA keeps the dropout mask and output and x·Aᵀ;
// RoPE its input and rotate_half; GQA the repeated keys and values; attention its softmax (math) or
// output and log-sum-exp (fused); the gated MLP gate, up, act(gate) and their product.
func (p planShape) layer(n int64) int64 {
	mc := p.mc
	B, T, e := p.B, p.T, p.e
	n = min(n, T)
	Nk, Nq := B*T, B*n // positions with keys/values, with queries
	H, I := int64(mc.HiddenSize), int64(mc.IntermediateSize)
	heads, hd := int64(mc.NumAttentionHeads), int64(mc.HeadDim)
	qW, kvW := heads*hd, int64(mc.NumKeyValueHeads)*hd
	norm := func(N int64) int64 { return N * H * (4 + e) }
	b := norm(Nk) + Nk*H*e // input norm; its output, the q/k/v input
	b += 2*Nk*kvW*e + 3*Nq*qW*e + 2*Nk*qW*e
	if p.fused {
		b += Nq*qW*e + B*heads*n*4 // SDPA output and log-sum-exp
	} else {
		b += B * heads * n * T * 4 // softmax, f32
		if e != 4 {
			b += B * heads * n * T * e // its cast back for the value matmul
		}
	}
	b += Nq*qW*e + norm(Nq) + Nq*H*e // o_proj input; post-attention norm; MLP input
	b += 4 * Nq * I * e              // gate, up, act(gate), product
	for _, m := range p.targets {
		s := mc.LinearShape(m)
		N := Nq
		if strings.HasSuffix(m, "k_proj") || strings.HasSuffix(m, "v_proj") {
			N = Nk
		}
		b += N * p.r * e // x·Aᵀ
		if p.dropout {
			b += N * s[1] * (1 + e) // mask and dropped input
		}
	}
	if p.quantBits != 0 { // each projection's dequantized weight, kept by its matmul for backward
		for _, m := range mc.LinearModules() {
			b += numel(mc.LinearShape(m)) * e
		}
	}
	return b
}

// workspace is the costliest op's transient buffers: on the math path the attention backward's
// gradient of the scores and of the softmax input ([B, heads, T, T] f32 each); on CUDA the loss's
// f32 logits, log-softmax and gradient over the vocabulary at the answer positions.
func (p planShape) workspace(cuda bool) int64 {
	mc := p.mc
	heads := int64(mc.NumAttentionHeads)
	attn := 2 * p.B * heads * p.T * p.T * 4
	if p.fused {
		attn = 4 * p.B * p.T * int64(mc.HiddenSize) * p.e
	}
	loss := int64(0)
	if cuda {
		loss = 3 * p.B * answerQueries * int64(mc.VocabSize) * 4
	}
	return max(attn, loss)
}

func (p planShape) notes(cuda bool, cfg Config) []string {
	var out []string
	if !cuda {
		out = append(out, "CPU: the peak resident set; weights read from a mapped file count once touched")
	} else {
		out = append(out, "CUDA: the caching allocator's peak plus the runtime; runtime and fused-attention figures await the GPU check")
	}
	if cfg.GradAccum > 1 {
		out = append(out, fmt.Sprintf("grad-accum %d: one micro-batch's activations at a time", cfg.GradAccum))
	}
	if cfg.NProc > 1 {
		out = append(out, fmt.Sprintf("nproc %d: each rank holds all of this for its share of the batch", cfg.NProc))
	}
	return out
}

// WriteMemoryPlan prints the plan as a table in GiB/MiB, the total last.
func WriteMemoryPlan(w io.Writer, p MemoryPlan) {
	ckpt := "off"
	if p.Checkpointing {
		ckpt = "on"
	}
	q := "none"
	if p.QuantizationBit != 0 {
		q = fmt.Sprintf("%d-bit", p.QuantizationBit)
	}
	fmt.Fprintf(w, "memory plan: %s on %s, %s, micro-batch %d × %d tokens, quantization %s, gradient checkpointing %s\n",
		p.Model, p.Device, p.DType, p.Batch, p.SeqLen, q, ckpt)
	fmt.Fprintf(w, "  attention: %s\n", p.Attention)
	row := func(name string, b int64) { fmt.Fprintf(w, "  %-44s %10s\n", name, FormatBytes(b)) }
	row("weights: projections", p.WeightsProjections)
	row("weights: embeddings, lm_head, norms, biases", p.WeightsOther)
	row("LoRA (+ modules_to_save) parameters, f32", p.Trainable)
	row("their gradients", p.Grads)
	row("AdamW state (2 × f32)", p.Optimizer)
	row("activations ("+map[bool]string{false: "no checkpointing", true: "checkpointed"}[p.Checkpointing]+")", p.Activations)
	other := p.ActivationsCheckpointed
	otherName := "  (with gradient checkpointing on"
	if p.Checkpointing {
		other, otherName = p.ActivationsPlain, "  (with gradient checkpointing off"
	}
	row(otherName+")", other)
	row("workspace (largest op's transients)", p.Workspace)
	row("runtime", p.Overhead)
	row("total (peak)", p.Total)
	for _, n := range p.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// FormatBytes writes b in GiB at or above 1 GiB, else MiB.
func FormatBytes(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
