package main

import "github.com/sentitune/sentitune/internal/llm"

// ModelShape is what the FLOP counts need from a model's config.
type ModelShape struct {
	Layers        int   `json:"layers"`
	Hidden        int   `json:"hidden"`
	Intermediate  int   `json:"intermediate"`
	Heads         int   `json:"heads"`
	KVHeads       int   `json:"kv_heads"`
	HeadDim       int   `json:"head_dim"`
	Vocab         int   `json:"vocab"`
	Parameters    int64 `json:"parameters"`     // all weights (embedding included once when tied)
	LinearParams  int64 `json:"linear_params"`  // N: weights of the decoder layers' linears (no embedding, no lm_head)
	LoRAParams    int64 `json:"lora_params"`    // r·(in+out) summed over the LoRA targets (all seven linears)
	LoRARank      int   `json:"lora_rank"`      // rank LoRAParams is for
	HeadParams    int64 `json:"lm_head_params"` // H·V
	AttentionWide int   `json:"attention_width"`
}

func shapeOf(c *llm.Config, rank int) ModelShape {
	H := int64(c.HiddenSize)
	q := int64(c.NumAttentionHeads * c.HeadDim)
	var lin, lora int64
	for _, mod := range c.LinearModules() { // every projection of a layer, as the engine declares them
		d := c.LinearShape(mod) // [out, in]
		lin += d[0] * d[1]
		lora += int64(rank) * (d[0] + d[1])
	}
	L := int64(c.NumHiddenLayers)
	return ModelShape{
		Layers: c.NumHiddenLayers, Hidden: c.HiddenSize, Intermediate: c.IntermediateSize,
		Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim, Vocab: c.VocabSize,
		Parameters: c.NumParameters(), LinearParams: L * lin, LoRAParams: L * lora, LoRARank: rank,
		HeadParams: H * int64(c.VocabSize), AttentionWide: int(q),
	}
}

// Model FLOPs (what the task needs, not what an implementation happens to
// compute). A multiply-add is 2 FLOPs. Attention is counted over the full
// T×T score matrix, as both implementations compute it (no causal skipping).
const trainFLOPsFormula = "per step = B·T·(4·N + 6·N_lora + 12·L·T·d) + B·A·4·H·V, where N = decoder linear weights " +
	"(no embedding/lm_head), N_lora = r·(in+out) over the LoRA targets, L layers, d = heads·head_dim, " +
	"A = answer positions per row (2), H·V = lm_head. Frozen base: forward 2·N and backward through the " +
	"activations 2·N, no weight gradients; LoRA: forward, activation and weight gradients 2·N_lora each; attention " +
	"QKᵀ and AV: forward 4·L·T·d, backward 8·L·T·d per token; lm_head forward + backward-to-hidden only at the " +
	"answer positions (full-logits runs do more work for the same model FLOPs, so their MFU is lower)"

const scoreFLOPsFormula = "per row of n real tokens = 2·N·n + 4·L·d·n² + 2·H·V (lm_head at the last position only); " +
	"padding is not counted"

// trainFLOPs is the model FLOPs of one LoRA train step on B rows of T tokens
// with the loss on `answer` positions per row.
func trainFLOPs(s ModelShape, B, T, answer int) float64 {
	perToken := 4*float64(s.LinearParams) + 6*float64(s.LoRAParams) + 12*float64(s.Layers)*float64(T)*float64(s.AttentionWide)
	return float64(B*T)*perToken + float64(B*answer)*4*float64(s.HeadParams)
}

// scoreFLOPs is the model FLOPs of scoring rows of the given real lengths.
func scoreFLOPs(s ModelShape, lengths []int) float64 {
	var f float64
	for _, n := range lengths {
		fn := float64(n)
		f += 2*float64(s.LinearParams)*fn + 4*float64(s.Layers)*float64(s.AttentionWide)*fn*fn + 2*float64(s.HeadParams)
	}
	return f
}

// mfu is achieved model FLOP/s over the measured GEMM peak.
func mfu(flops, seconds, peakGFLOPS float64) float64 {
	if seconds <= 0 || peakGFLOPS <= 0 {
		return 0
	}
	return flops / seconds / (peakGFLOPS * 1e9)
}
