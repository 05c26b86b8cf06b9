package llm

// Qwen3 dense and Mistral run on the Qwen2/Llama decoder with two switches of Config, parsed in
// ParseConfig from transformers' Qwen3Config and MistralConfig:
//
//	qwen3:   QKNorm — q_norm/k_norm (RMSNorm over head_dim, per head) before RoPE; head_dim is its
//	         own setting (default 128); attention_bias puts a bias on q, k, v and o alike.
//	mistral: the Llama layout with no biases; SlidingWindow — each query sees its last
//	         sliding_window keys (4096 when absent, none when null), on every layer.

// applyDensePreset turns a Qwen2 preset config into the same-sized qwen3 or mistral model (the Qwen
// vocabulary and tokenizer stay); false for another arch.
func applyDensePreset(c *Config, arch string) bool {
	switch arch {
	case "qwen3":
		c.ModelType, c.Architectures = "qwen3", []string{"Qwen3ForCausalLM"}
		c.AttentionBias, c.OProjBias, c.MLPBias = false, false, false
		c.QKNorm = true
		c.HeadDim *= 2 // an explicit head_dim ≠ hidden/heads, as in Qwen3-0.6B (1024 hidden, 16 heads of 128)
	case "mistral":
		c.ModelType, c.Architectures = "mistral", []string{"MistralForCausalLM"}
		c.AttentionBias, c.OProjBias, c.MLPBias = false, false, false
		c.RopeTheta = 1e6
		c.SlidingWindow = 128 // below the demo's longer prompts, so the window really cuts
	default:
		return false
	}
	return true
}

// denseJSON adds the config.json keys of qwen3 and mistral to HFJSON's map.
func (c *Config) denseJSON(m map[string]any) {
	switch c.ModelType {
	case "qwen3":
		m["head_dim"] = c.HeadDim // Qwen3Config's default is 128, not hidden/heads
		m["attention_bias"] = c.AttentionBias
		m["max_window_layers"] = c.NumHiddenLayers
		m["sliding_window"] = nil
		m["use_sliding_window"] = false
	case "mistral":
		m["sliding_window"] = nil // null: no window (absent would mean MistralConfig's 4096)
		if c.SlidingWindow > 0 {
			m["sliding_window"] = c.SlidingWindow
		}
	}
}
