package studio

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm"
)

// The Model page: the workspace's model folders and the models the Hugging Face and ModelScope
// caches hold (internal/hub), each with its shape, parameter count, dtype and the memory a LoRA
// run of the Train form's options needs (finetune's --dry-run plan).

// hubCaches are the caches hub models are listed from and resolved in: the environment's, as
// for --model ORG/NAME.
var hubCaches = hub.CachesFromEnv

// modelArg is a Train form's model as finetune's --model: a workspace folder's path, or the
// hub name itself.
func modelArg(model string) string {
	if strings.Contains(model, "/") {
		return model
	}
	return dirModels + "/" + model
}

// modelDir resolves a Train form's model: a folder name under models/ (which need not exist yet:
// finetune says so), or ORG/NAME[@REV] that a hub cache holds. Any other path is refused, so a
// request names only what the page listed.
func (s *Server) modelDir(model string) (string, error) {
	if !strings.Contains(model, "/") {
		return s.folder(dirModels, model)
	}
	if _, err := hub.ParseModelID(model); err != nil {
		return "", badRequest("model: %v", err)
	}
	for _, m := range hubCaches().List() {
		if m.ID == model {
			if m.Err != "" {
				return "", badRequest("%s", m.Err)
			}
			return m.Dir, nil
		}
	}
	return "", httpError{http.StatusNotFound, errors.New("model " + model + " is not in the Hugging Face or ModelScope cache (sentitune download " + model + ")")}
}

func (s *Server) hubModels(w http.ResponseWriter, r *http.Request) { reply(w, hubCaches().List()) }

// modelDetails is modelInfo with what the page derives from config.json: the parameter count.
type modelDetails struct {
	modelInfo
	Dir        string `json:"dir"`
	Parameters int64  `json:"parameters"` // of the whole model, embeddings included
}

// modelDetail answers ?model=NAME|ORG/NAME[@REV]: the model's shape, size and dtype.
func (s *Server) modelDetail(w http.ResponseWriter, r *http.Request) {
	model := r.URL.Query().Get("model")
	dir, err := s.modelDir(model)
	if err != nil {
		fail(w, err)
		return
	}
	var d modelDetails
	if err := jsonFile(filepath.Join(dir, "config.json"), &d.modelInfo); err != nil {
		fail(w, err)
		return
	}
	d.Name, d.Dir = model, s.ws.Rel(dir)
	d.WeightBytes = weightBytes(dir)
	mc, err := llm.LoadConfig(dir)
	if err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	d.Parameters = mc.NumParameters()
	reply(w, d)
}

// weightBytes is the size of a folder's safetensors files (links followed, as in a hub cache).
func weightBytes(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && strings.HasSuffix(e.Name(), ".safetensors") {
			n += st.Size()
		}
	}
	return n
}
