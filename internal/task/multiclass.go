package task

import (
	"fmt"
	"math"
	"strings"
)

// Stars5 is 1–5 star ratings as five classes, answered "1" to "5".
var Stars5 = Labels{{Answer: "1", Name: "1"}, {Answer: "2", Name: "2"}, {Answer: "3", Name: "3"}, {Answer: "4", Name: "4"}, {Answer: "5", Name: "5"}}

// Stars3 is negative (1–2 stars), neutral (3) and positive (4–5), answered "0", "1" and "2".
var Stars3 = Labels{{Answer: "0", Name: "negative"}, {Answer: "1", Name: "neutral"}, {Answer: "2", Name: "positive"}}

// ParseLabels reads a label set "negative=0,neutral=1,positive=2": each class's name and its
// answer, in class order. Names and answers must be unique, names usable as column suffixes.
func ParseLabels(spec string) (Labels, error) {
	var ls Labels
	names, answers := map[string]bool{}, map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		name, answer, ok := strings.Cut(part, "=")
		name, answer = strings.TrimSpace(name), strings.TrimSpace(answer)
		if !ok || name == "" || answer == "" {
			return nil, fmt.Errorf("labels %q: want NAME=ANSWER, got %q", spec, part)
		}
		if strings.ContainsAny(name, " \t\"',=") {
			return nil, fmt.Errorf("labels %q: name %q has a space, quote, comma or '=' (it names the prob_%s column)", spec, name, name)
		}
		if names[strings.ToLower(name)] || answers[answer] {
			return nil, fmt.Errorf("labels %q: %q repeats a name or answer", spec, part)
		}
		names[strings.ToLower(name)], answers[answer] = true, true
		ls = append(ls, Label{Answer: answer, Name: name})
	}
	if len(ls) < 2 {
		return nil, fmt.Errorf("labels %q: a classifier needs at least two labels", spec)
	}
	return ls, nil
}

// String renders the set as ParseLabels reads it.
func (ls Labels) String() string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Name + "=" + l.Answer
	}
	return strings.Join(parts, ",")
}

// IsBinary reports whether ls is sentitune's default 0/1 task.
func (ls Labels) IsBinary() bool {
	return len(ls) == 2 && ls[0] == Binary[0] && ls[1] == Binary[1]
}

// Instruction is the default instruction for ls in "zh" or "en": the binary one unchanged,
// else one that lists the K answers (numbers alone when each answer is its own name).
func (ls Labels) Instruction(lang string) string {
	if ls.IsBinary() {
		return DefaultInstruction(lang)
	}
	zh := strings.EqualFold(lang, "zh")
	plain := true
	for _, l := range ls {
		plain = plain && l.Name == l.Answer
	}
	if plain && zh {
		return "给下面这条商品评论打分，只输出 " + strings.Join(ls.Answers(), "、") + " 中的一个。"
	}
	if plain {
		return "Rate the following product review. Answer " + joinOr(ls.Answers(), "or") + ", with nothing else."
	}
	items := make([]string, len(ls))
	for i, l := range ls {
		if zh {
			items[i] = zhName(l.Name) + "回答 " + l.Answer
		} else {
			items[i] = l.Answer + " for " + l.Name
		}
	}
	if zh {
		return "判断下面这条商品评论的情感倾向：" + strings.Join(items, "，") + "，只输出答案。"
	}
	return "What is the sentiment of the following product review? Answer " + joinOr(items, "or") + ", with nothing else."
}

// zhName gives the usual English sentiment names in Chinese for the zh instruction.
func zhName(name string) string {
	if zh, ok := map[string]string{"negative": "负面", "neutral": "中性", "positive": "正面"}[strings.ToLower(name)]; ok {
		return zh
	}
	return name
}

// joinOr joins "a, b or c".
func joinOr(items []string, or string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + or + " " + items[len(items)-1]
}

// CheckSingleTokens refuses answers that encode to more than one token, since scoring reads
// one next-token logit per class; encode is the model tokenizer's plain encoder.
func (ls Labels) CheckSingleTokens(encode func(string) ([]int, error)) error {
	for _, l := range ls {
		ids, err := encode(l.Answer)
		if err != nil {
			return fmt.Errorf("label %s: encode answer %q: %w", l.Name, l.Answer, err)
		}
		if len(ids) != 1 {
			return fmt.Errorf("label %s: answer %q is %d tokens %v for this tokenizer, not one; answer with digits, e.g. '%s=%d'", l.Name, l.Answer, len(ids), ids, l.Name, ls.index(l))
		}
	}
	return nil
}

func (ls Labels) index(l Label) int {
	for i := range ls {
		if ls[i] == l {
			return i
		}
	}
	return -1
}

// ClassProbs returns each class's probability from one next-token logit row: the softmax over
// the logits of the K label tokens ids (TokenIDs), the K-class form of the binary
// sigmoid(logit1 − logit0).
func ClassProbs(logits []float32, ids []int) ([]float64, error) {
	z := make([]float64, len(ids))
	top := math.Inf(-1)
	for c, id := range ids {
		if id < 0 || id >= len(logits) {
			return nil, fmt.Errorf("class probabilities: label token %d outside the %d logits", id, len(logits))
		}
		z[c] = float64(logits[id])
		top = math.Max(top, z[c])
	}
	sum := 0.0
	for c := range z {
		z[c] = math.Exp(z[c] - top)
		sum += z[c]
	}
	for c := range z {
		z[c] /= sum
	}
	return z, nil
}

// ProbColumns names the probability columns a predictions file carries for ls: the binary
// task keeps its one "prob" (P(1)); K classes get "prob_<name>" each, in class order.
func (ls Labels) ProbColumns() []string {
	if ls.IsBinary() {
		return []string{"prob"}
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = "prob_" + l.Name
	}
	return out
}
