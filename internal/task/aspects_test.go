package task

import (
	"slices"
	"strings"
	"testing"
)

func TestAspectInstructionNamesTheAspect(t *testing.T) {
	for _, lang := range []string{"en", "zh"} {
		t.Run(lang, func(t *testing.T) {
			tmpl := AspectInstruction(lang)
			if err := CheckAspectTemplate(tmpl); err != nil {
				t.Fatal(err)
			}
			got := RenderAspect(tmpl, "battery")
			if !strings.Contains(got, "battery") || strings.Contains(got, AspectPlaceholder) {
				t.Errorf("instruction %q does not name battery in place of %s", got, AspectPlaceholder)
			}
			for _, a := range AspectLabels.Answers() {
				if !strings.Contains(got, a) {
					t.Errorf("instruction %q does not list answer %s", got, a)
				}
			}
		})
	}
	if err := CheckAspectTemplate("Rate the review."); err == nil {
		t.Error("a template without {aspect} was accepted")
	}
}

func TestParseAspects(t *testing.T) {
	got, err := ParseAspects(" battery, screen ,delivery")
	if err != nil || !slices.Equal(got, []string{"battery", "screen", "delivery"}) {
		t.Fatalf("ParseAspects = %q, %v", got, err)
	}
	for _, bad := range []string{"", "battery,", "battery,Battery", "battery life", "a=b"} {
		if _, err := ParseAspects(bad); err == nil {
			t.Errorf("ParseAspects(%q) accepted", bad)
		}
	}
}

func TestParseAspectValue(t *testing.T) {
	for v, want := range map[string]int{"positive": 2, " Negative ": 0, "neutral": 1, "": NotMentioned, "none": NotMentioned, "好评": 2, "3": NotMentioned} {
		if got, err := ParseAspectValue(v); err != nil || got != want {
			t.Errorf("ParseAspectValue(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	if _, err := ParseAspectValue("great"); err == nil || !strings.Contains(err.Error(), `"great"`) {
		t.Errorf("ParseAspectValue(great): err %v, want one naming the value", err)
	}
}

func TestAspectTemplateRoundTrip(t *testing.T) {
	aspects := []string{"price", "screen"} // "price" is no word of the template, "screen" neither
	for _, tmpl := range []string{AspectInstruction("en"), AspectInstruction("zh"), "How is the {aspect}?"} {
		var recs []Record
		for _, id := range []string{"r1", "r2"} {
			for _, a := range aspects {
				recs = append(recs, Record{Instruction: RenderAspect(tmpl, a), Input: "text", Output: "1", ID: id, Aspect: a})
			}
		}
		got, gotAspects, ok, err := AspectTemplate(recs)
		if err != nil || !ok || got != tmpl || !slices.Equal(gotAspects, aspects) {
			t.Errorf("AspectTemplate = %q %q %v %v; want %q %q", got, gotAspects, ok, err, tmpl, aspects)
		}
		var m Meta
		exs := make([]Example, len(recs))
		for i, r := range recs {
			exs[i] = Example{Record: r}
		}
		if err := m.SetAspects(exs); err != nil || m.Instruction != tmpl || !slices.Equal(m.AspectInstructions(), []string{recs[0].Instruction, recs[1].Instruction}) {
			t.Errorf("SetAspects: %+v, %v", m, err)
		}
		if a, ok := AspectOf(got, aspects, recs[1].Instruction); !ok || a != "screen" {
			t.Errorf("AspectOf = %q, %v", a, ok)
		}
	}
	if _, _, ok, err := AspectTemplate([]Record{{Instruction: "x", Output: "1"}}); ok || err != nil {
		t.Errorf("plain records: ok %v, err %v", ok, err)
	}
	mixed := []Record{{Instruction: "about a", Aspect: "a"}, {Instruction: "about b", Aspect: "b"}, {Instruction: "other a", Aspect: "a"}}
	if _, _, _, err := AspectTemplate(mixed); err == nil {
		t.Error("two instructions for one aspect were accepted")
	}
	if _, _, _, err := AspectTemplate([]Record{{Instruction: "about a", Aspect: "a"}, {Instruction: "plain"}}); err == nil {
		t.Error("a record without an aspect among aspect records was accepted")
	}
}

func TestAspectColumns(t *testing.T) {
	if got := AspectProbColumns("screen"); !slices.Equal(got, []string{"prob_screen_negative", "prob_screen_neutral", "prob_screen_positive", "prob_screen_none"}) {
		t.Errorf("AspectProbColumns = %q", got)
	}
	if AspectColumn("screen") != "aspect_screen" || AspectLabelColumn("screen") != "label_screen" {
		t.Error("aspect column names changed")
	}
}
