package tokenizer

import (
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

func TestSplitBehaviors(t *testing.T) {
	tests := []struct {
		behavior string
		want     []string
	}{
		{"Isolated", []string{"a", "-", "-", "b", "-", "c", "-"}},
		{"Removed", []string{"a", "b", "c"}},
		{"MergedWithPrevious", []string{"a-", "-", "b-", "c-"}},
		{"MergedWithNext", []string{"a", "-", "-b", "-c", "-"}},
		{"Contiguous", []string{"a", "--", "b", "-", "c", "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.behavior, func(t *testing.T) {
			for _, pattern := range []string{`{"String":"-"}`, `{"Regex":"-"}`} {
				tok, err := New([]byte(`{"pre_tokenizer":{"type":"Split","pattern":`+pattern+`,"behavior":"`+tt.behavior+
					`"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`), nil)
				if err != nil {
					t.Fatal(err)
				}
				if got := tok.pre.split("a--b-c-", nil); !slices.Equal(got, tt.want) {
					t.Errorf("%s: split = %q, want %q", pattern, got, tt.want)
				}
			}
		})
	}
}

func TestMetaspace(t *testing.T) {
	tests := []struct {
		scheme      string
		first       bool
		in, want    string
		splitPieces []string
	}{
		{"always", false, "Hey friend!", "▁Hey▁friend!", []string{"▁Hey", "▁friend!"}},
		{"first", true, "Hey  friend", "▁Hey▁▁friend", []string{"▁Hey", "▁", "▁friend"}},
		{"first", false, "Hey friend", "Hey▁friend", []string{"Hey", "▁friend"}},
		{"always", true, " lead", "▁lead", []string{"▁lead"}}, // no second "▁" before a space
		{"never", true, "a b", "a▁b", []string{"a", "▁b"}},
	}
	for _, tt := range tests {
		m := &metaspace{replacement: "▁", scheme: tt.scheme}
		got := m.rewrite(tt.in, tt.first)
		if got != tt.want {
			t.Errorf("%s first=%v: rewrite(%q) = %q, want %q", tt.scheme, tt.first, tt.in, got, tt.want)
		}
		sp := delimiterSplitter{find: literalFinder("▁"), behavior: "MergedWithNext"}
		if pieces := sp.split(got, nil); !slices.Equal(pieces, tt.splitPieces) {
			t.Errorf("split(%q) = %q, want %q", got, pieces, tt.splitPieces)
		}
	}
	for _, tt := range []struct{ json, scheme string }{
		{`{"type":"Metaspace","replacement":"▁","add_prefix_space":false}`, "never"},
		{`{"type":"Metaspace","replacement":"▁","add_prefix_space":true}`, "always"},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}`, "first"},
	} {
		tok, err := New([]byte(`{"pre_tokenizer":`+tt.json+`,"model":{"type":"BPE","vocab":{"▁":0,"a":1},"merges":[]}}`), nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.json, err)
		}
		if tok.meta.scheme != tt.scheme {
			t.Errorf("%s: scheme %q, want %q", tt.json, tok.meta.scheme, tt.scheme)
		}
	}
}

// tinySPM is a SentencePiece-style tokenizer.json with byte fallback for
// bytes 0xC3 and 0xA9 only ("é"), an unk token, and merges for "▁ab".
func tinySPM(t *testing.T, fuseUnk bool) *Tokenizer {
	t.Helper()
	fuse := "false"
	if fuseUnk {
		fuse = "true"
	}
	tok, err := New([]byte(`{
		"added_tokens":[{"id":0,"content":"<unk>","special":true},{"id":9,"content":"<s>","special":true}],
		"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
		"pre_tokenizer":null,
		"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
		"model":{"type":"BPE","unk_token":"<unk>","byte_fallback":true,"fuse_unk":`+fuse+`,
			"vocab":{"<unk>":0,"<0xC3>":1,"<0xA9>":2,"▁":3,"a":4,"b":5,"▁a":6,"▁ab":7,"ab":8},
			"merges":["▁ a","▁a b","a b"]}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSentencePieceBPE(t *testing.T) {
	tests := []struct {
		in      string
		fuse    bool
		want    []int
		decoded string
	}{
		{"ab", false, []int{7}, "ab"},
		{"ab ab", false, []int{7, 7}, "ab ab"},
		{"é", false, []int{3, 1, 2}, "é"},                  // byte fallback
		{"axyb", false, []int{6, 0, 0, 5}, "a<unk><unk>b"}, // x, y: no byte tokens
		{"axyb", true, []int{6, 0, 5}, "a<unk>b"},          // fuse_unk
		{"ab<s>ab", false, []int{7, 9, 7}, "ab<s> ab"},     // Prepend runs per segment
		{" a", false, []int{3, 6}, " a"},
	}
	for _, tt := range tests {
		tok := tinySPM(t, tt.fuse)
		got, err := tok.Encode(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q, fuse_unk=%v) = %v, want %v", tt.in, tt.fuse, got, tt.want)
		}
		if dec, _ := tok.Decode(got); dec != tt.decoded {
			t.Errorf("Decode(%v) = %q, want %q", got, dec, tt.decoded)
		}
	}
	// A cut character decodes to one U+FFFD per byte token, as Hugging Face's ByteFallback.
	if dec, _ := tinySPM(t, false).Decode([]int{4, 1, 4}); dec != "a\uFFFDa" {
		t.Errorf("Decode(a <0xC3> a) = %q", dec)
	}
	if _, err := tinySPM(t, false).Decode([]int{10}); err == nil {
		t.Error("Decode of an id past the vocab should fail")
	}
}

func TestUnknownDecoderNamed(t *testing.T) {
	_, err := New([]byte(`{"decoder":{"type":"CTC"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`), nil)
	if err == nil || !strings.Contains(err.Error(), `tokenizer.json: decoder "CTC" is not supported`) {
		t.Errorf("error = %v", err)
	}
}

// TestCutBeforeMetaSpace: appendWords cuts before "▁" only where no token
// joins the preceding character to it, so the ids equal BPE on the whole piece.
func TestCutBeforeMetaSpace(t *testing.T) {
	tok, err := New([]byte(`{"normalizer":{"type":"Replace","pattern":{"String":" "},"content":"▁"},
		"model":{"type":"BPE","vocab":{"▁":0,"a":1,"b":2,"a▁":3,"▁b":4},"merges":["a ▁","▁ b"]}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.model.glued['a'] || tok.model.glued['b'] {
		t.Fatalf("glued = %v, want only 'a'", tok.model.glued)
	}
	for _, tt := range []struct {
		in   string
		want []int
	}{
		{"a b", []int{3, 2}}, // "a▁" merges first (rank 0): no cut between a and ▁
		{"b b", []int{2, 4}}, // cut before ▁: "b", "▁b"
		{"b  b", []int{2, 0, 4}},
	} {
		got, err := tok.Encode(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		whole := tok.model.encodeWord(strings.ReplaceAll(tt.in, " ", "▁"))
		if !slices.Equal(got, tt.want) || len(whole) != len(got) {
			t.Errorf("Encode(%q) = %v, want %v (whole-piece BPE %v)", tt.in, got, tt.want, whole)
		}
	}
}

// TestRunSplitterMatchesRegex: the hand-written DeepSeek-V3 splitters cut
// exactly where the regex engine does.
func TestRunSplitterMatchesRegex(t *testing.T) {
	var texts []string
	for _, c := range readModelGolden(t, "deepseek_v3") {
		texts = append(texts, c.Text)
	}
	texts = append(texts, "1234567", "１２３４ ½¾ 一二三", "ひらがなカタカナ漢字123abc", "a1b22c333d4444")
	for _, pattern := range []string{deepseekDigitsPattern, deepseekCJKPattern} {
		hand, err := newPreTokenizer(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := hand.(runSplitter); !ok {
			t.Fatalf("%q: got %T, want the hand-written runSplitter", pattern, hand)
		}
		re := regexp2Splitter{re: regexp2.MustCompile(pattern, regexp2.None)}
		for _, s := range texts {
			if got, want := hand.split(s, nil), re.split(s, nil); !slices.Equal(got, want) {
				t.Errorf("%q on %q: hand %q, regexp2 %q", pattern, s, got, want)
			}
		}
	}
}
