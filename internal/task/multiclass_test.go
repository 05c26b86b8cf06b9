package task

import (
	"math"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	ls, err := ParseLabels(" negative=0, neutral=1 ,positive=2")
	if err != nil {
		t.Fatal(err)
	}
	if ls.String() != "negative=0,neutral=1,positive=2" || ls.IsBinary() || !Binary.IsBinary() {
		t.Errorf("parsed %v", ls)
	}
	if c, err := ls.ParseAnswer("2"); err != nil || c != 2 {
		t.Errorf("ParseAnswer(2) = %d, %v", c, err)
	}
	for spec, want := range map[string]string{
		"negative=0":               "at least two",
		"negative=0,positive":      "NAME=ANSWER",
		"a=0,A=1":                  "repeats",
		"a=0,b=0":                  "repeats",
		"very bad=0,good=1":        "space",
		"negative=0,=1,positive=2": "NAME=ANSWER",
	} {
		if _, err := ParseLabels(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLabels(%q) = %v, want an error with %q", spec, err, want)
		}
	}
}

func TestLabelsInstruction(t *testing.T) {
	if Binary.Instruction("zh") != InstructionZH || Binary.Instruction("en") != InstructionEN {
		t.Error("the binary instruction changed")
	}
	for _, tc := range []struct {
		ls         Labels
		lang, want string
	}{
		{Stars3, "en", "What is the sentiment of the following product review? Answer 0 for negative, 1 for neutral or 2 for positive, with nothing else."},
		{Stars3, "zh", "判断下面这条商品评论的情感倾向：负面回答 0，中性回答 1，正面回答 2，只输出答案。"},
		{Stars5, "en", "Rate the following product review. Answer 1, 2, 3, 4 or 5, with nothing else."},
		{Stars5, "zh", "给下面这条商品评论打分，只输出 1、2、3、4、5 中的一个。"},
	} {
		if got := tc.ls.Instruction(tc.lang); got != tc.want {
			t.Errorf("%v %s: %q, want %q", tc.ls, tc.lang, got, tc.want)
		}
	}
}

func TestCheckSingleTokens(t *testing.T) {
	words := func(s string) ([]int, error) { return make([]int, len(strings.Fields(s))), nil }
	if err := Stars3.CheckSingleTokens(words); err != nil {
		t.Error(err)
	}
	ls := Labels{{Answer: "0", Name: "bad"}, {Answer: "so so", Name: "meh"}}
	if err := ls.CheckSingleTokens(words); err == nil || !strings.Contains(err.Error(), `label meh: answer "so so" is 2 tokens`) {
		t.Errorf("err = %v", err)
	}
}

func TestClassProbs(t *testing.T) {
	logits := []float32{5, 1, 2, 3, -100}
	p, err := ClassProbs(logits, []int{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	// exp(0), exp(1), exp(2) over their sum; the other logits play no part.
	e := []float64{1, math.E, math.E * math.E}
	sum := e[0] + e[1] + e[2]
	for c := range p {
		if math.Abs(p[c]-e[c]/sum) > 1e-12 {
			t.Errorf("class %d: %v, want %v", c, p[c], e[c]/sum)
		}
	}
	// Two classes are the binary scorer's sigmoid(l1 − l0).
	p2, _ := ClassProbs(logits, []int{1, 3})
	if want := 1 / (1 + math.Exp(-2)); math.Abs(p2[1]-want) > 1e-12 {
		t.Errorf("P(1) = %v, want sigmoid(2) = %v", p2[1], want)
	}
	if _, err := ClassProbs(logits, []int{0, 5}); err == nil || !strings.Contains(err.Error(), "label token 5 outside the 5 logits") {
		t.Errorf("err = %v", err)
	}
}

func TestProbColumns(t *testing.T) {
	if got := Binary.ProbColumns(); len(got) != 1 || got[0] != "prob" {
		t.Errorf("binary: %v", got)
	}
	if got := strings.Join(Stars3.ProbColumns(), ","); got != "prob_negative,prob_neutral,prob_positive" {
		t.Errorf("stars3: %s", got)
	}
}

func TestClassOf(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{{"2", 2}, {" 0 ", 0}, {"neutral", 1}, {"Positive", 2}} {
		if got, err := Stars3.ClassOf(c.in); err != nil || got != c.want {
			t.Errorf("ClassOf(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	if _, err := Stars3.ClassOf("mixed"); err == nil || !strings.Contains(err.Error(), `"mixed" is none of negative, neutral, positive`) {
		t.Errorf("an unknown label: %v", err)
	}
}
