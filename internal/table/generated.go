package table

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LabelWords are the label values read as classes without a map (case-insensitive): prep's
// built-in labels, and the answers read out of generated text.
var LabelWords = map[string]int{
	"1": 1, "0": 0,
	"pos": 1, "neg": 0, "positive": 1, "negative": 0,
	"true": 1, "false": 0,
	"好评": 1, "差评": 0, "正面": 1, "负面": 0, "积极": 1, "消极": 0, "正向": 1, "负向": 0,
}

// FindLabel is the class a generated reply answers: the whole reply when it is a label word, else
// the first label word in it standing on its own (not inside a longer word or number); a reasoning
// model's <think>…</think> is skipped. ok is false when the reply holds none.
func FindLabel(reply string) (class int, ok bool) {
	if _, after, found := strings.Cut(reply, "</think>"); found {
		reply = after
	}
	s := strings.ToLower(strings.TrimSpace(reply))
	if c, ok := LabelWords[strings.Trim(s, " .!。！\"'")]; ok {
		return c, true
	}
	best, bestAt, bestLen := 0, -1, 0
	for w, c := range LabelWords {
		for from := 0; ; {
			i := strings.Index(s[from:], w)
			if i < 0 {
				break
			}
			i += from
			if standsAlone(s, i, len(w)) && (bestAt < 0 || i < bestAt || i == bestAt && len(w) > bestLen) {
				best, bestAt, bestLen = c, i, len(w)
			}
			from = i + len(w)
		}
	}
	return best, bestAt >= 0
}

// standsAlone reports whether s[i:i+n] is not part of a longer ASCII word or number ("1" in "10",
// "pos" in "possible"); Chinese label words stand alone anywhere.
func standsAlone(s string, i, n int) bool {
	before, _ := utf8.DecodeLastRuneInString(s[:i])
	after, _ := utf8.DecodeRuneInString(s[i+n:])
	word := func(r rune) bool { return r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) }
	return !word(before) && !word(after)
}

// isGenerated reports whether the columns are LLaMA-Factory's generated_predictions.jsonl
// (prompt, predict, label: the generated reply and the reference answer, both text).
func isGenerated(cols map[string]bool) bool {
	return cols["predict"] && cols["label"] && !cols["pred"] && !cols["prob"]
}

// toGenerated reads generated_predictions rows: the label is the reference answer's class, pred the
// class the reply answers, or NoAnswer when it holds no label word (an error for eval to count).
func toGenerated(path string, recs []record) ([]Prediction, error) {
	preds := make([]Prediction, 0, len(recs))
	for i, r := range recs {
		ref := scalarString(r.fields["label"])
		label, ok := FindLabel(ref)
		if !ok {
			return nil, fmt.Errorf("read %s %s: label %q is no class (want 1/0 or a label word: positive/negative, 好评/差评, ...)", path, r.loc, ref)
		}
		reply := scalarString(r.fields["predict"])
		pred, ok := FindLabel(reply)
		if !ok {
			pred = NoAnswer
		}
		id := scalarString(r.fields["id"])
		if id == "" {
			id = strconv.Itoa(i + 1)
		}
		preds = append(preds, Prediction{ID: id, Text: scalarString(r.fields["prompt"]), Label: label, Pred: pred, Prob: math.NaN(), Generated: reply})
	}
	return preds, nil
}
