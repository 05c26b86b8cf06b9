package hub

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CheckFolder refuses model folders sentitune cannot load, before anything reads them: Baichuan
// models, and weights that come only as PyTorch pickles (never unpickled: loading one runs
// whatever code it holds). Folders without config.json (a tokenizer alone) pass.
func CheckFolder(dir string) error {
	if isBaichuan(dir) {
		return baichuanError(dir)
	}
	if pickles := pickleOnlyWeights(dir); len(pickles) > 0 {
		return fmt.Errorf("model folder %s holds its weights only as PyTorch pickles (%s), which sentitune never loads: "+
			"unpickling runs any code the file holds. Convert them to safetensors once, with Python:\n"+
			"  python3 -c 'import sys, transformers as t; m = t.AutoModelForCausalLM.from_pretrained(sys.argv[1], torch_dtype=\"auto\"); "+
			"m.save_pretrained(sys.argv[2], safe_serialization=True); t.AutoTokenizer.from_pretrained(sys.argv[1]).save_pretrained(sys.argv[2])' %s OUT\n"+
			"then use --model OUT", dir, strings.Join(pickles, ", "), dir)
	}
	return nil
}

// pickleOnlyWeights lists a folder's pickle weight files when it has no safetensors weights.
func pickleOnlyWeights(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var pickles []string
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".safetensors"), strings.HasSuffix(name, ".safetensors.index.json"):
			return nil
		case isPickleWeights(name):
			pickles = append(pickles, name)
		}
	}
	return pickles
}

// isPickleWeights tells a pickled checkpoint (pytorch_model-00001-of-00002.bin, consolidated.00.pth)
// from other .bin files a model folder may hold (training_args.bin).
func isPickleWeights(name string) bool {
	return (strings.HasPrefix(name, "pytorch_model") || strings.HasPrefix(name, "model")) && strings.HasSuffix(name, ".bin") ||
		strings.HasSuffix(name, ".pth") || strings.HasSuffix(name, ".pt") || strings.HasSuffix(name, ".ckpt")
}

// isBaichuan reads config.json's model_type and architectures; a folder without one is not Baichuan.
func isBaichuan(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return false
	}
	var c struct {
		ModelType     string   `json:"model_type"`
		Architectures []string `json:"architectures"`
	}
	if json.Unmarshal(data, &c) != nil {
		return false
	}
	if strings.HasPrefix(strings.ToLower(c.ModelType), "baichuan") {
		return true
	}
	for _, a := range c.Architectures {
		if strings.HasPrefix(strings.ToLower(a), "baichuan") {
			return true
		}
	}
	return false
}

// baichuanError says what a Baichuan folder lacks for sentitune, by name, and how a Baichuan2-7B
// becomes a Llama folder (its layers are Llama's apart from the fused projection and the head).
func baichuanError(dir string) error {
	var missing []string
	missing = append(missing,
		"W_pack (q, k and v fused in one projection; sentitune's decoder has q_proj, k_proj, v_proj)",
		"NormHead (lm_head rows normalised to unit length at run time)",
		"ALiBi attention biases (Baichuan2-13B has no rotary positions)")
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		missing = append(missing, "tokenizer.json (the folder has the SentencePiece tokenizer.model, which sentitune does not read)")
	}
	if len(pickleOnlyWeights(dir)) > 0 {
		missing = append(missing, "safetensors weights (the folder has pickle .bin files, which sentitune never unpickles)")
	}
	return fmt.Errorf("model folder %s is Baichuan (model_type baichuan), which sentitune does not run; it lacks:\n  - %s\n"+
		"Baichuan2-7B (rotary positions) can be converted to a Llama folder with Python: split W_pack's weight into "+
		"q_proj, k_proj, v_proj (its rows, in that order), divide each lm_head row by its L2 norm, set model_type llama "+
		"and architectures [LlamaForCausalLM] in config.json, save the weights as safetensors, and write tokenizer.json "+
		"from tokenizer.model (transformers' LlamaTokenizerFast.from_pretrained(DIR, from_slow=True).save_pretrained(OUT); "+
		"check it encodes like Baichuan's own tokenizer). Baichuan2-13B's ALiBi has no conversion",
		dir, strings.Join(missing, "\n  - "))
}
