package task

import (
	"fmt"
	"strings"
)

// AspectLabels is the label set of aspect sentiment: what one review says about one aspect.
// NotMentioned is its last class.
var AspectLabels = Labels{{Answer: "0", Name: "negative"}, {Answer: "1", Name: "neutral"}, {Answer: "2", Name: "positive"}, {Answer: "3", Name: "none"}}

// NotMentioned is AspectLabels' class for a review that does not mention the aspect.
const NotMentioned = 3

// AspectPlaceholder stands for the aspect's name in an aspect instruction template.
const AspectPlaceholder = "{aspect}"

// ParseAspects reads "battery,screen,delivery": aspect names, unique, usable as column suffixes.
func ParseAspects(spec string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		name := strings.TrimSpace(part)
		switch {
		case name == "":
			return nil, fmt.Errorf("aspects %q: an empty aspect name", spec)
		case strings.ContainsAny(name, " \t\"',={}"):
			return nil, fmt.Errorf("aspects %q: name %q has a space, quote, comma, '=' or brace (it names the aspect_%s column)", spec, name, name)
		case seen[strings.ToLower(name)]:
			return nil, fmt.Errorf("aspects %q: %q is given twice", spec, name)
		}
		seen[strings.ToLower(name)] = true
		out = append(out, name)
	}
	return out, nil
}

// AspectInstruction is the default instruction template of aspect sentiment in "zh" or "en"
// ({aspect} marks the aspect): the four answers of AspectLabels, "not mentioned" last.
func AspectInstruction(lang string) string {
	a := AspectLabels.Answers()
	if strings.EqualFold(lang, "zh") {
		return "判断下面这条商品评论对「{aspect}」的评价：负面回答 " + a[0] + "，中性回答 " + a[1] + "，正面回答 " + a[2] +
			"，没有提到{aspect}回答 " + a[3] + "，只输出数字。"
	}
	return "What does the following product review say about the {aspect}? Answer " + a[0] + " for negative, " + a[1] +
		" for neutral, " + a[2] + " for positive, or " + a[3] + " if it does not mention the {aspect}, with nothing else."
}

// RenderAspect is the instruction for one aspect: template with every {aspect} replaced.
func RenderAspect(template, aspect string) string {
	return strings.ReplaceAll(template, AspectPlaceholder, aspect)
}

// CheckAspectTemplate refuses an instruction template that does not name the aspect, since
// then every aspect's record would ask the same question.
func CheckAspectTemplate(template string) error {
	if !strings.Contains(template, AspectPlaceholder) {
		return fmt.Errorf("aspect instruction %q has no %s to name the aspect", template, AspectPlaceholder)
	}
	return nil
}

// aspectValues are the words an aspect column may hold, by class; "" is not mentioned.
var aspectValues = map[string]int{
	"negative": 0, "neg": 0, "-1": 0, "bad": 0, "负面": 0, "差评": 0,
	"neutral": 1, "neu": 1, "mixed": 1, "中性": 1, "中评": 1,
	"positive": 2, "pos": 2, "good": 2, "正面": 2, "好评": 2,
	"": NotMentioned, "none": NotMentioned, "not mentioned": NotMentioned, "n/a": NotMentioned, "na": NotMentioned,
	"null": NotMentioned, "未提及": NotMentioned, "无": NotMentioned,
}

// ParseAspectValue reads one aspect cell (positive, negative, neutral, or empty for not
// mentioned; an AspectLabels answer or name too) as an AspectLabels class.
func ParseAspectValue(v string) (int, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	if c, ok := aspectValues[s]; ok {
		return c, nil
	}
	for c, l := range AspectLabels {
		if s == l.Answer || s == l.Name {
			return c, nil
		}
	}
	return -1, fmt.Errorf("aspect value %q is not positive, negative, neutral or empty (not mentioned)", v)
}

// AspectOf returns the aspect a record's instruction asks about, given the template it was
// rendered from and the aspects; ok is false when it is none of them.
func AspectOf(template string, aspects []string, instruction string) (string, bool) {
	for _, a := range aspects {
		if RenderAspect(template, a) == instruction {
			return a, true
		}
	}
	return "", false
}

// AspectTemplate recovers the aspects and the instruction template of aspect records (prep
// --aspects writes each record's aspect): every aspect's instruction must be the template
// rendered for it. ok is false when no record names an aspect.
func AspectTemplate(recs []Record) (template string, aspects []string, ok bool, err error) {
	byAspect := map[string]string{}
	for i, r := range recs {
		if r.Aspect == "" {
			if len(aspects) > 0 {
				return "", nil, false, fmt.Errorf("record %d has no aspect while others have one", i+1)
			}
			continue
		}
		if len(aspects) == 0 && i > 0 {
			return "", nil, false, fmt.Errorf("record %d has aspect %q while record 1 has none", i+1, r.Aspect)
		}
		if prev, seen := byAspect[r.Aspect]; !seen {
			byAspect[r.Aspect] = r.Instruction
			aspects = append(aspects, r.Aspect)
		} else if prev != r.Instruction {
			return "", nil, false, fmt.Errorf("record %d: aspect %q has two instructions: %q and %q", i+1, r.Aspect, prev, r.Instruction)
		}
	}
	if len(aspects) == 0 {
		return "", nil, false, nil
	}
	// the defaults first: an aspect name may occur in the template's own words
	for _, t := range []string{AspectInstruction("en"), AspectInstruction("zh"), strings.ReplaceAll(byAspect[aspects[0]], aspects[0], AspectPlaceholder)} {
		if rendersAll(t, byAspect) {
			return t, aspects, true, nil
		}
	}
	return "", nil, false, fmt.Errorf("the instructions of aspects %q are not one template with the aspect's name changed", aspects)
}

// rendersAll reports whether template gives each aspect's instruction.
func rendersAll(template string, byAspect map[string]string) bool {
	for a, instruction := range byAspect {
		if RenderAspect(template, a) != instruction {
			return false
		}
	}
	return true
}

// AspectColumn names the predictions column of aspect's predicted label name.
func AspectColumn(aspect string) string { return "aspect_" + aspect }

// AspectLabelColumn names the predictions column of aspect's known label name.
func AspectLabelColumn(aspect string) string { return "label_" + aspect }

// AspectProbColumns names aspect's probability columns, prob_<aspect>_<label> in class order.
func AspectProbColumns(aspect string) []string {
	out := make([]string, len(AspectLabels))
	for i, l := range AspectLabels {
		out[i] = "prob_" + aspect + "_" + l.Name
	}
	return out
}

// SetAspects makes m an aspect contract when exs (the training examples) are aspect records:
// their aspects, and their instruction template as m's instruction. Other records leave m as it is.
func (m *Meta) SetAspects(exs []Example) error {
	recs := make([]Record, len(exs))
	for i, e := range exs {
		recs[i] = e.Record
	}
	template, aspects, ok, err := AspectTemplate(recs)
	if err != nil || !ok {
		return err
	}
	m.Instruction, m.Aspects = template, aspects
	return nil
}

// AspectInstructions is the instruction of each of m's aspects, in m.Aspects' order.
func (m *Meta) AspectInstructions() []string {
	out := make([]string, len(m.Aspects))
	for i, a := range m.Aspects {
		out[i] = RenderAspect(m.Instruction, a)
	}
	return out
}
