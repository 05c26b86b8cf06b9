package studio

import (
	"bytes"
	"net/http"

	"gopkg.in/yaml.v3"

	"github.com/sentitune/sentitune/finetune"
)

// planRequest is the Model page's question: a model and the Train form's options.
type planRequest struct {
	Model   string            `json:"model"`
	Options map[string]string `json:"options"`
}

// modelPlan answers the memory plan of the form's run on its --device, and the same run with the
// base in 8-bit and in 4-bit, so the page can show what quantization saves.
func (s *Server) modelPlan(w http.ResponseWriter, r *http.Request) {
	var p planRequest
	if err := readJSON(w, r, &p); err != nil {
		fail(w, err)
		return
	}
	dir, err := s.modelDir(p.Model)
	if err != nil {
		fail(w, err)
		return
	}
	cfg, err := formConfig(p.Options)
	if err != nil {
		fail(w, err)
		return
	}
	cfg.Model = dir
	out := map[string]finetune.MemoryPlan{}
	for _, bits := range []int{0, 8, 4} {
		c := cfg
		c.QuantizationBit = bits
		plan, err := finetune.PlanMemory(c) // finetune --dry-run's plan
		if err != nil {
			fail(w, badRequest("memory plan: %v", err))
			return
		}
		plan.Model = p.Model
		out[map[int]string{0: "none", 8: "8bit", 4: "4bit"}[bits]] = plan
	}
	reply(w, map[string]any{"plans": out, "quantization_bit": cfg.QuantizationBit})
}

// formConfig is the finetune.Config of the Train form's options: their YAML (the one shown on
// the page) read over finetune's defaults, as finetune --config reads it.
func formConfig(options map[string]string) (finetune.Config, error) {
	_, y, err := FinetuneArgs("m", "d", "o", false, options)
	if err != nil {
		return finetune.Config{}, err
	}
	cfg := finetune.Defaults()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(y)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return finetune.Config{}, badRequest("options: %v", err)
	}
	return cfg, nil
}
