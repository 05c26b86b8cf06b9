package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

func TestSplitKnownCases(t *testing.T) {
	qwen, llama := regexSplitter{maxDigits: 1}, regexSplitter{maxDigits: 3}
	tests := []struct {
		name string
		sp   regexSplitter
		in   string
		want []string
	}{
		{"words", qwen, "Hello, world!", []string{"Hello", ",", " world", "!"}},
		{"qwen digits", qwen, "12345 x", []string{"1", "2", "3", "4", "5", " x"}},
		{"llama digits", llama, "12345 x", []string{"123", "45", " x"}},
		{"contractions", qwen, "I'M we'll it'S", []string{"I", "'M", " we", "'ll", " it", "'S"}},
		{"long s folds to s", qwen, "it'ſ", []string{"it", "'ſ"}}, // Oniguruma's (?i) uses Unicode case folding
		{"apostrophe word", qwen, "'hello", []string{"'hello"}},
		{"space runs", qwen, "a   b", []string{"a", "  ", " b"}},
		{"trailing spaces", qwen, "a   ", []string{"a", "   "}},
		{"newlines", qwen, "a \n\n b\r\n", []string{"a", " \n\n", " b", "\r\n"}},
		{"tab before word", qwen, "\thello", []string{"\thello"}},
		{"newline before word", qwen, "\nhello", []string{"\n", "hello"}},
		{"punctuation", qwen, "wow!!!\n\nok ...", []string{"wow", "!!!\n\n", "ok", " ..."}},
		{"space before punctuation", qwen, "a  !", []string{"a", " ", " !"}},
		{"tab before punctuation", qwen, "a\t!", []string{"a", "\t", "!"}},
		{"punctuation glued to word", qwen, ",hello", []string{",hello"}},
		{"combining mark is not a letter", qwen, "cafe\u0301s", []string{"cafe", "\u0301s"}},
		{"cjk", qwen, "很好用，电池", []string{"很好用", "，电池"}},
		{"nbsp", qwen, "a\u00a0b", []string{"a", "\u00a0b"}},
		{"NEL is white space (Oniguruma)", qwen, "a\u0085\u0085b", []string{"a", "\u0085", "\u0085b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.sp.split(tt.in, nil)
			if !slices.Equal(got, tt.want) {
				t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// The hand-written splitter must agree with a backtracking regex engine running
// the very patterns from tokenizer.json, on strings built to hit every branch.
func TestSplitterMatchesRegexp2(t *testing.T) {
	alphabet := []string{
		"a", "Z", "s", "S", "t", "l", "L", "r", "e", "E", "v", "m", "d", " ", " ", " ", "\t", "\n", "\r", "\v", "\f",
		"'", "'", "1", "2", "0", "!", ".", "-", "é", "e\u0301", "中", "😀", "\u00a0", "\u3000", "\u2028", "\u0085",
		"<", "|", ">", "_", "\u0661", "\u00bd", "\u0928", "\u093f", "\u200b", "Å",
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for _, tc := range []struct {
		name    string
		pattern string
		sp      regexSplitter
	}{
		{"qwen2", qwen2Pattern, regexSplitter{maxDigits: 1}},
		{"llama3", llama3Pattern, regexSplitter{maxDigits: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := regexp2Splitter{re: regexp2.MustCompile(tc.pattern, regexp2.None)}
			bad := 0
			for k := 0; k < 4000; k++ {
				var b strings.Builder
				for n := 1 + rng.IntN(30); n > 0; n-- {
					b.WriteString(alphabet[rng.IntN(len(alphabet))])
				}
				s := b.String()
				got, want := tc.sp.split(s, nil), ref.split(s, nil)
				if !slices.Equal(got, want) {
					if bad++; bad <= 5 {
						t.Errorf("split(%q)\n hand   %q\n regexp %q", s, got, want)
					}
				}
			}
		})
	}
}
