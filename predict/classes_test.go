package predict

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

// threeClassAdapter is a real adapter (random LoRA weights) recorded as trained on negative,
// neutral and positive, answered 0, 1 and 2.
func threeClassAdapter(t *testing.T) string {
	t.Helper()
	tok := sharedScorer(t).tok
	ids, err := task.Stars3.TokenIDs(tok)
	if err != nil {
		t.Fatal(err)
	}
	meta := task.Stars3.NewMeta(task.Record{Instruction: task.Stars3.Instruction("en")}, tok, ids, 128)
	return makeAdapter(t, tinyModel(t), meta)
}

// reviews3 writes the first n reviews of the shipped 3-class sample (text, label name) to a JSONL file.
func reviews3(t *testing.T, n int) (path string, texts, labels []string) {
	t.Helper()
	f, err := os.Open("../data/reviews3.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	for sc := bufio.NewScanner(f); sc.Scan() && len(lines) < n; {
		var r struct{ Text, Label string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		lines, texts, labels = append(lines, sc.Text()), append(texts, r.Text), append(labels, r.Label)
	}
	path = filepath.Join(t.TempDir(), "reviews3.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, texts, labels
}

// A 3-class adapter: predict writes the class names and prob_<name> columns, each row's
// probabilities the softmax of the three label tokens' logits over the whole vocabulary, and
// serve answers the same numbers for the same texts.
func TestPredictThreeClasses(t *testing.T) {
	ad := threeClassAdapter(t)
	input, texts, labels := reviews3(t, 24)
	out := filepath.Join(t.TempDir(), "pred.csv")
	st, err := Run(Config{Scorer: ScorerConfig{ModelDir: tinyModel(t), AdapterDir: ad, Device: "cpu", BatchSize: 5}, Input: input, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"id", "label", "pred", "prob_negative", "prob_neutral", "prob_positive"}; !slices.Equal(rows[0], want) {
		t.Fatalf("header %v, want %v", rows[0], want)
	}
	if len(rows) != len(texts)+1 || st.Rows != len(texts) || st.Model.Labels != task.Stars3.String() {
		t.Fatalf("%d rows, stats %+v", len(rows)-1, st)
	}

	sc := newTinyScorer(t, ScorerConfig{AdapterDir: ad})
	ids, err := task.Stars3.TokenIDs(sc.tok)
	if err != nil {
		t.Fatal(err)
	}
	var prompts [][]int
	for _, text := range texts {
		p, err := sc.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, p)
	}
	want := softmaxOfFullVocab(t, sc, prompts, ids)
	counted := map[string]int{}
	for r, row := range rows[1:] {
		probs, sum, best := make([]float64, 3), 0.0, 0
		for c := range probs {
			if probs[c], err = strconv.ParseFloat(row[3+c], 64); err != nil {
				t.Fatal(err)
			}
			sum += probs[c]
			if math.Abs(probs[c]-want[r][c]) > 1e-5 {
				t.Errorf("row %d: prob_%s %v, softmax of the full-vocabulary logits %v", r+1, task.Stars3[c].Name, probs[c], want[r][c])
			}
			if want[r][c] > want[r][best] {
				best = c
			}
		}
		if math.Abs(sum-1) > 1e-6 || row[1] != labels[r] || row[2] != task.Stars3[best].Name {
			t.Errorf("row %d: %v: probabilities sum to %v, label %q (want %q), pred %q (want %q)", r+1, row, sum, row[1], labels[r], row[2], task.Stars3[best].Name)
		}
		counted[row[2]]++
	}
	if !reflect.DeepEqual(st.Classes, counted) {
		t.Errorf("stats count the classes %v, the file holds %v", st.Classes, counted)
	}

	srv := newServer(sc, ServerConfig{})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	body, _ := json.Marshal(PredictRequest{Texts: texts})
	code, b := postJSON(t, ts.URL, string(body))
	if code != 200 {
		t.Fatalf("serve: status %d: %s", code, b)
	}
	var raw struct {
		Predictions []map[string]any `json:"predictions"`
	}
	if err := json.Unmarshal(b, &raw); err != nil || len(raw.Predictions) != len(texts) {
		t.Fatalf("serve: %s (%v)", b, err)
	}
	for r, p := range raw.Predictions {
		if _, binary := p["prob"]; binary || p["pred"] != rows[r+1][2] {
			t.Errorf("serve row %d: %v, want pred %q and no prob", r+1, p, rows[r+1][2])
		}
		probs, _ := p["probs"].(map[string]any)
		for c, l := range task.Stars3 {
			file, _ := strconv.ParseFloat(rows[r+1][3+c], 64)
			if got, ok := probs[l.Name].(float64); !ok || math.Abs(got-file) > 1e-6 { // batches of other shapes round f32 differently
				t.Errorf("serve row %d: probs[%s] = %v, predict wrote %v", r+1, l.Name, probs[l.Name], file)
			}
		}
	}
}

// softmaxOfFullVocab is, per prompt, the softmax over the label tokens ids of the logits the
// model gives over its whole vocabulary at the last position.
func softmaxOfFullVocab(t *testing.T, sc *Scorer, prompts [][]int, ids []int) [][]float64 {
	t.Helper()
	var out [][]float64
	for _, p := range prompts {
		v := fullVocabRow(t, sc, p)
		z, e := 0.0, make([]float64, len(ids))
		for c, id := range ids {
			e[c] = math.Exp(float64(v[id]))
			z += e[c]
		}
		for c := range e {
			e[c] /= z
		}
		out = append(out, e)
	}
	return out
}

// A threshold decides between two labels only.
func TestThresholdRefusedForClasses(t *testing.T) {
	_, err := NewScorer(ScorerConfig{ModelDir: tinyModel(t), AdapterDir: threeClassAdapter(t), Device: "cpu", Threshold: 0.7})
	if err == nil || !strings.Contains(err.Error(), "threshold (0.7) decides between two labels") {
		t.Fatalf("err = %v", err)
	}
}

// A 3-class predictions' generation mode reads the first of the three answers in a reply.
func TestParseAnswerClasses(t *testing.T) {
	for reply, want := range map[string]int{"2": 2, "The answer is 1.": 1, "none": NoAnswer} {
		if got := parseAnswer(task.Stars3, reply); got != want {
			t.Errorf("parseAnswer(%q) = %d, want %d", reply, got, want)
		}
	}
}

// fullVocabRow is the logits over the whole vocabulary after prompt, the model run on it alone.
func fullVocabRow(t *testing.T, sc *Scorer, prompt []int) []float32 {
	t.Helper()
	var row []float32
	err := sc.withModel(func(m *llm.Model) error {
		s := torch.NewScope()
		defer s.Close()
		h, err := m.HiddenAt(s, llm.Batch{IDs: [][]int{prompt}}, []int{0}, []int{len(prompt) - 1}, false)
		if err != nil {
			return err
		}
		last, err := m.Logits(s, h)
		if err != nil {
			return err
		}
		row, err = s.ToDType(last, torch.Float32).Float32s()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// A merged model folder carries the adapter's sentitune.json: a 3-class one is scored and its
// input's label names read as its classes, with no --adapter.
func TestPredictMergedThreeClasses(t *testing.T) {
	merged := filepath.Join(t.TempDir(), "merged")
	if err := os.MkdirAll(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(tinyModel(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(tinyModel(t), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(merged, e.Name()), b, 0o644)
	}
	meta, err := task.ReadMeta(threeClassAdapter(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := meta.Encode()
	os.WriteFile(filepath.Join(merged, task.MetaFile), b, 0o644)
	input, _, labels := reviews3(t, 6)
	out := filepath.Join(t.TempDir(), "pred.jsonl")
	if _, err := Run(Config{Scorer: ScorerConfig{ModelDir: merged, Device: "cpu"}, Input: input, Out: out}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	for i, l := range lines {
		var row map[string]any
		if err := json.Unmarshal([]byte(l), &row); err != nil || row["label"] != labels[i] || row["prob_neutral"] == nil {
			t.Fatalf("row %d: %s (%v), want label %q and prob_<name>", i+1, l, err, labels[i])
		}
	}
}
