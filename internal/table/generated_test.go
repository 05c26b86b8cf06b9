package table

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindLabel(t *testing.T) {
	for reply, want := range map[string]int{
		"1": 1, " 0\n": 0, "Positive.": 1, "negative": 0, "好评": 1, "这条评论是差评。": 0,
		"The review is negative.": 0, "Answer: 1": 1, "<think>1? no</think>\n\n0": 0,
		"positive, not negative": 1, "It is possible this is 0": 0, // "pos" inside "possible" is no answer
	} {
		if got, ok := FindLabel(reply); !ok || got != want {
			t.Errorf("FindLabel(%q) = %d, %v; want %d", reply, got, ok, want)
		}
	}
	for _, reply := range []string{"", "I cannot tell", "10 stars", "possibly"} {
		if got, ok := FindLabel(reply); ok {
			t.Errorf("FindLabel(%q) = %d; want no answer", reply, got)
		}
	}
}

// LLaMA-Factory's do_predict writes generated_predictions.jsonl: prompt, predict (the reply), label (the reference).
func TestReadGeneratedPredictions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "generated_predictions.jsonl")
	body := `{"prompt": "<|im_start|>user\nGreat<|im_end|>\n", "predict": "1", "label": "1"}
{"prompt": "p", "predict": "negative", "label": "positive"}
{"prompt": "p", "predict": "no idea", "label": "0"}
`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	preds, err := ReadPredictions(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ label, pred int }{{1, 1}, {1, 0}, {0, NoAnswer}}
	for i, p := range preds {
		if p.Label != want[i].label || p.Pred != want[i].pred || p.HasProb() || p.ID == "" {
			t.Errorf("row %d: %+v, want label %d pred %d, no prob, an id", i+1, p, want[i].label, want[i].pred)
		}
	}
	if preds[2].Generated != "no idea" {
		t.Errorf("the reply is not kept: %q", preds[2].Generated)
	}

	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte(`{"prompt": "p", "predict": "1", "label": "maybe"}`+"\n"), 0o644)
	if _, err := ReadPredictions(bad); err == nil || !strings.Contains(err.Error(), `line 1: label "maybe" is no class`) {
		t.Errorf("unlabelled reference: err = %v", err)
	}
}
