package task

import (
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm/tokenizer"
)

func bundledTok(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.LoadBundled()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestBuildPrompt(t *testing.T) {
	tok := bundledTok(t)
	chat := tok.Chat()
	spec := PromptSpec{Instruction: "Is this review positive? Answer 1 or 0."}
	long := strings.Repeat("The battery died after two days and support never answered. ", 40)
	zh := strings.Repeat("这个耳机音质很好，但是电池续航太短了，非常失望。", 30)
	// The template ids around the review, for checking that truncation keeps them.
	head, err := chat.EncodePrompt("", spec.Instruction+"\n")
	if err != nil {
		t.Fatal(err)
	}
	head = head[:len(head)-len(mustEncode(t, tok, "<|im_end|>\n<|im_start|>assistant\n"))]
	tail := mustEncode(t, tok, "<|im_end|>\n<|im_start|>assistant\n")

	cases := []struct {
		name      string
		spec      PromptSpec
		input     string
		maxLen    int
		answerLen int
		wantFull  bool // no truncation expected
	}{
		{"short fits", spec, "Great for the jawbone.", 512, 2, true},
		{"no limit", spec, long, 0, 2, true},
		{"custom system", PromptSpec{Instruction: "Classify.", System: "You are a sentiment classifier."}, "Good case.", 128, 2, true},
		{"no instruction", PromptSpec{}, "Good case.", 128, 2, true},
		{"long cut", spec, long, 128, 2, false},
		{"long cut no answer", spec, long, 100, 0, false},
		{"chinese cut", spec, zh, 90, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids, err := BuildPrompt(tok, c.spec, c.input, c.maxLen, c.answerLen)
			if err != nil {
				t.Fatal(err)
			}
			if cutIDs, cut, err := BuildPromptCut(tok, c.spec, c.input, c.maxLen, c.answerLen); err != nil || cut == c.wantFull || !slices.Equal(cutIDs, ids) {
				t.Fatalf("BuildPromptCut: cut %v (%v), want %v and BuildPrompt's ids", cut, err, !c.wantFull)
			}
			full, err := chat.EncodePrompt(c.spec.System, c.spec.UserTurn(c.input))
			if err != nil {
				t.Fatal(err)
			}
			if c.wantFull {
				if !slices.Equal(ids, full) {
					t.Fatalf("got %v, want the untruncated prompt %v", ids, full)
				}
				return
			}
			if n := len(ids) + c.answerLen; n > c.maxLen || n < c.maxLen-2 {
				t.Fatalf("prompt %d + answer %d tokens, want <= %d and close to it", len(ids), c.answerLen, c.maxLen)
			}
			if !slices.Equal(ids[:len(head)], head) || !slices.Equal(ids[len(ids)-len(tail):], tail) {
				t.Fatalf("template not kept: %v", ids)
			}
			text, err := tok.Decode(ids[len(head) : len(ids)-len(tail)])
			if err != nil {
				t.Fatal(err)
			}
			if text == "" || !strings.HasPrefix(c.input, text) {
				t.Fatalf("kept review %q is not a prefix of the input", text)
			}
			// Exact: the kept text re-encodes to the same ids.
			again, err := chat.EncodePrompt(c.spec.System, c.spec.UserTurn(text))
			if err != nil || !slices.Equal(again, ids) {
				t.Fatalf("re-encoding the kept review gives %v (%v), want %v", again, err, ids)
			}
		})
	}
}

// TestBuildPromptCutBoundary: a prompt that exactly fills maxLen is not cut; one token less is.
func TestBuildPromptCutBoundary(t *testing.T) {
	tok := bundledTok(t)
	spec := PromptSpec{Instruction: "Is this review positive? Answer 1 or 0."}
	input := "The battery died after two days and support never answered."
	full, err := tok.Chat().EncodePrompt("", spec.UserTurn(input))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		maxLen int
		cut    bool
	}{{len(full) + 2, false}, {len(full) + 1, true}} {
		if _, cut, err := BuildPromptCut(tok, spec, input, c.maxLen, 2); err != nil || cut != c.cut {
			t.Errorf("max length %d (prompt %d + answer 2): cut %v (%v), want %v", c.maxLen, len(full), cut, err, c.cut)
		}
	}
}

func TestBuildPromptErrors(t *testing.T) {
	tok := bundledTok(t)
	spec := PromptSpec{Instruction: "Is this review positive? Answer 1 or 0."}
	cases := []struct {
		name   string
		input  string
		maxLen int
		want   string
	}{
		{"empty", "", 512, "empty review"},
		{"blank", "  \n ", 512, "empty review"},
		{"max too small", "A perfectly fine review of a phone case.", 20, "too small"},
		{"invalid utf8", "bad \xff byte", 512, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := BuildPrompt(tok, spec, c.input, c.maxLen, 2)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	if _, err := BuildPrompt(nil, spec, "x", 10, 2); err == nil {
		t.Fatal("nil tokenizer: want an error")
	}
}

func mustEncode(t *testing.T, tok *tokenizer.Tokenizer, s string) []int {
	t.Helper()
	ids, err := tok.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
