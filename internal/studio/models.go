package studio

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// modelInfo is what the Model page shows of a model folder: its config.json's shape and the
// bytes of its weight files.
type modelInfo struct {
	Name         string   `json:"name"`
	Architecture []string `json:"architectures"`
	ModelType    string   `json:"model_type"`
	Layers       int      `json:"num_hidden_layers"`
	Hidden       int      `json:"hidden_size"`
	Heads        int      `json:"num_attention_heads"`
	KVHeads      int      `json:"num_key_value_heads"`
	Vocab        int      `json:"vocab_size"`
	DType        string   `json:"torch_dtype"`
	WeightBytes  int64    `json:"weight_bytes"` // *.safetensors on disk
}

func (s *Server) modelInfo(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirModels, name)
	if err != nil {
		fail(w, err)
		return
	}
	info := modelInfo{Name: name}
	if err := jsonFile(filepath.Join(dir, "config.json"), &info); err != nil {
		fail(w, err)
		return
	}
	info.Name = name
	entries, err := os.ReadDir(dir)
	if err != nil {
		fail(w, err)
		return
	}
	for _, e := range entries {
		if st, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".safetensors") {
			info.WeightBytes += st.Size()
		}
	}
	reply(w, info)
}
