package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
)

// mergeQuantization resolves merge's --quantization-bit (-1: as the adapter's sentitune.json
// records its training) and warns when the merged weights are not the original base + LoRA, or
// when they are but the adapter was trained against a quantized base.
func mergeQuantization(cfg mergeConfig, warn io.Writer) (int, error) {
	if cfg.QuantizationBit >= 0 {
		if err := llm.ParseQuantizationBit(cfg.QuantizationBit); err != nil {
			return 0, usageError("merge: --quantization-bit: %v", err)
		}
	}
	trained := 0 // a PEFT adapter from elsewhere has no sentitune.json: not known to be quantized
	if _, err := os.Stat(filepath.Join(cfg.Adapter, task.MetaFile)); err == nil {
		meta, err := task.ReadMeta(cfg.Adapter)
		if err != nil {
			return 0, fmt.Errorf("merge: %w", err)
		}
		trained = meta.QuantizationBit
	}
	bits := cfg.QuantizationBit
	if bits < 0 {
		bits = trained
	}
	switch {
	case bits != 0 && bits == trained:
		fmt.Fprintf(warn, "merge: warning: adapter %s was trained against the base quantized to %s: the merged weights are that base "+
			"dequantized plus the LoRA update, not the original weights of %s (--quantization-bit 0 merges onto the original weights)\n",
			cfg.Adapter, quantName(bits), cfg.Model)
	case bits != 0:
		fmt.Fprintf(warn, "merge: warning: the merged weights are the base quantized to %s and dequantized plus the LoRA update, "+
			"not the original weights of %s\n", quantName(bits), cfg.Model)
	case trained != 0:
		fmt.Fprintf(warn, "merge: warning: adapter %s was trained against the base quantized to %s, but is merged onto the original "+
			"weights of %s: the merged model is not exactly the one trained (leave --quantization-bit out to merge onto that dequantized base)\n",
			cfg.Adapter, quantName(trained), cfg.Model)
	}
	return bits, nil
}

func quantName(bits int) string {
	if bits == 4 {
		return "4-bit NF4"
	}
	return fmt.Sprintf("%d-bit", bits)
}
