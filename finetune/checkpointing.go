package finetune

import (
	"strings"

	"github.com/sentitune/sentitune/internal/torch"
)

// gradientCheckpointingValues are --gradient-checkpointing's accepted values ("" is auto).
var gradientCheckpointingValues = []string{"", "auto", "on", "off", "true", "false"}

// gradientCheckpointing resolves --gradient-checkpointing on dev: auto turns it on for CUDA,
// where activations bound the batch, and off on the CPU, where the recomputation costs time
// that memory rarely needs.
func gradientCheckpointing(cfg Config, dev torch.Device) bool {
	switch strings.ToLower(cfg.GradientCheckpointing) {
	case "on", "true":
		return true
	case "off", "false":
		return false
	}
	return dev.CUDA
}
