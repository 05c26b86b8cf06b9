package predict

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

// fakeAspectServe encodes a prompt as the bytes of "instruction|text" and answers "positive"
// when the instruction's aspect occurs in the text, else "none".
type fakeAspectServe struct {
	adapter string
}

func (f *fakeAspectServe) encodeServe(clean string, plain bool) ([]int, bool, error) {
	return nil, false, nil // never called for an aspect adapter
}

func (f *fakeAspectServe) encodeServeAspect(instruction, clean string, plain bool) ([]int, bool, error) {
	s := instruction + "|" + clean
	ids := make([]int, len(s))
	for i := range s {
		ids[i] = int(s[i])
	}
	return ids, false, nil
}

func (f *fakeAspectServe) scoreRows(rows [][]int) ([]Score, error) {
	out := make([]Score, len(rows))
	for i, r := range rows {
		b := make([]byte, len(r))
		for k, id := range r {
			b[k] = byte(id)
		}
		instruction, text, _ := strings.Cut(string(b), "|")
		out[i] = Score{Pred: task.NotMentioned, Probs: []float64{0.1, 0.1, 0.1, 0.7}}
		for _, a := range []string{"battery", "screen"} {
			if instruction == task.RenderAspect(task.AspectInstruction("en"), a) && strings.Contains(text, a) {
				out[i] = Score{Pred: 2, Probs: []float64{0.1, 0.1, 0.7, 0.1}}
			}
		}
	}
	return out, nil
}

func (f *fakeAspectServe) info() Info {
	return Info{Model: "fake", Adapter: f.adapter, Instruction: task.AspectInstruction("en"), Labels: task.AspectLabels.String()}
}

func TestServeAspects(t *testing.T) {
	dir := t.TempDir()
	meta := task.Meta{Instruction: task.AspectInstruction("en"), Labels: task.AspectLabels.String(), Aspects: []string{"battery", "screen"}}
	b, err := meta.Encode()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, task.MetaFile), b, 0o644)
	srv := newServer(&fakeAspectServe{adapter: dir}, ServerConfig{})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	code, body := postJSON(t, ts.URL, `{"texts": ["the battery is great", "a bright screen", "nothing to say"]}`)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var resp AspectPredictResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"positive", "none"}, {"none", "positive"}, {"none", "none"}}
	if len(resp.Predictions) != len(want) {
		t.Fatalf("%d predictions for 3 texts: %s", len(resp.Predictions), body)
	}
	for i, w := range want {
		for k, a := range []string{"battery", "screen"} {
			p := resp.Predictions[i].Aspects[a]
			if p.Pred != w[k] || p.Probs[w[k]] != 0.7 || len(p.Probs) != 4 {
				t.Errorf("text %d %s: %+v, want %s", i, a, p, w[k])
			}
		}
	}
	if !strings.HasPrefix(string(body), `{"predictions":[{"aspects":{"battery":{"pred":"positive","probs":{`) {
		t.Errorf("body %s", body)
	}
	if st := srv.Stats(); st.Texts != 3 {
		t.Errorf("texts counted %d, want 3", st.Texts)
	}
}
