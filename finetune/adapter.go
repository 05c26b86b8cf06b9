package finetune

import (
	"fmt"
	"path/filepath"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
)

// SaveAdapter writes model's attached adapter to dir with meta as its sentitune.json, recording
// the base model (meta's name, else the model folder's absolute path) and its shape.
func SaveAdapter(model *llm.Model, dir string, meta task.Meta) error {
	if meta.BaseModel == "" {
		meta.BaseModel = model.Dir()
		if abs, err := filepath.Abs(model.Dir()); err == nil {
			meta.BaseModel = abs
		}
	}
	meta.Base = task.BaseShape(model.Config().Shape())
	b, err := meta.Encode()
	if err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	return model.SaveAdapter(dir, meta.BaseModel, map[string][]byte{task.MetaFile: b})
}

// LoadAdapter attaches dir's adapter to model after checking that its sentitune.json, if any,
// was written for model's shape, and returns that file (nil without one).
func LoadAdapter(model *llm.Model, dir string) (*task.Meta, error) {
	meta, err := task.ReadMetaFor(dir, task.BaseShape(model.Config().Shape()))
	if err != nil {
		return nil, err
	}
	if err := model.LoadAdapter(dir); err != nil {
		return nil, err
	}
	return meta, nil
}
