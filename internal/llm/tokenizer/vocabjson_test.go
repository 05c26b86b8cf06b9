package tokenizer

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// The fast readers must agree with encoding/json on the real file and on escapes.
func TestVocabJSONMatchesEncodingJSON(t *testing.T) {
	files, err := BundledFiles()
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Model struct {
			Vocab  json.RawMessage `json:"vocab"`
			Merges json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(files["tokenizer.json"], &f); err != nil {
		t.Fatal(err)
	}
	var wantVocab map[string]int
	var wantMerges [][2]string
	json.Unmarshal(f.Model.Vocab, &wantVocab)
	json.Unmarshal(f.Model.Merges, &wantMerges)
	vocab, err := parseVocab(f.Model.Vocab)
	if err != nil || !maps.Equal(vocab, wantVocab) {
		t.Errorf("parseVocab differs from encoding/json (err %v, %d vs %d entries)", err, len(vocab), len(wantVocab))
	}
	merges, err := parseMerges(f.Model.Merges)
	if err != nil || !slices.Equal(merges, wantMerges) {
		t.Errorf("parseMerges differs from encoding/json (err %v, %d vs %d)", err, len(merges), len(wantMerges))
	}
}

func TestVocabJSONCases(t *testing.T) {
	tests := []struct {
		name, vocab, merges string
		wantVocab           map[string]int
		wantMerges          [][2]string
		wantErr             string
	}{
		{"escapes", `{"a\"b": 1, "\u0120x": 2, "tab\t": 3, "é": 4}`, `["\u0120 x", "a\"b tab\t"]`,
			map[string]int{`a"b`: 1, "Ġx": 2, "tab\t": 3, "é": 4}, [][2]string{{"Ġ", "x"}, {`a"b`, "tab\t"}}, ""},
		{"pairs", `{}`, ` [ ["a","b"] , ["Ġ", "Ġ"] ] `, map[string]int{}, [][2]string{{"a", "b"}, {"Ġ", "Ġ"}}, ""},
		{"null merges", `{"a":0}`, `null`, map[string]int{"a": 0}, nil, ""},
		{"truncated vocab", `{"a": 1, "b`, `[]`, nil, nil, "unexpected end"},
		{"bad id", `{"a": "x"}`, `[]`, nil, nil, "expected an integer id"},
		{"trailing data", `{"a": 1} x`, `[]`, nil, nil, "unexpected data"},
		{"three-part merge", `{}`, `["a b c"]`, nil, nil, "not two tokens"},
		{"one-token pair", `{}`, `[["a"]]`, nil, nil, "has 1 tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseVocab([]byte(tt.vocab))
			var m [][2]string
			if err == nil {
				m, err = parseMerges([]byte(tt.merges))
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(v, tt.wantVocab) || !slices.Equal(m, tt.wantMerges) {
				t.Errorf("got %v %q, want %v %q", v, m, tt.wantVocab, tt.wantMerges)
			}
		})
	}
}
