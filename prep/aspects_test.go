package prep

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

// TestAspectsRecordsPerReviewAndSplitByReview preps the bundled aspect sample: one record per
// (review, aspect), each asking about its aspect, and a review's records all in one split.
func TestAspectsRecordsPerReviewAndSplitByReview(t *testing.T) {
	out := filepath.Join(t.TempDir(), "prep")
	aspects := []string{"battery", "screen", "delivery", "price"}
	st, err := Run(Config{Input: "../data/aspects.jsonl", Aspects: strings.Join(aspects, ","), TestRatio: 0.2, ValRatio: 0.1, Seed: 42, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows.Kept != 124 || !slices.Equal(st.Aspects, aspects) || st.LabelSet != task.AspectLabels.String() {
		t.Fatalf("stats: kept %d, aspects %q, label set %q", st.Rows.Kept, st.Aspects, st.LabelSet)
	}
	var summary strings.Builder
	st.WriteSummary(&summary)
	if s := summary.String(); !strings.Contains(s, `text "text", id "id", aspects battery,screen,delivery,price`) || strings.Contains(s, "label \"\"") {
		t.Errorf("summary:\n%s", s)
	}
	splitOf := map[string]string{}
	total := 0
	for _, split := range []string{SplitTrain, SplitVal, SplitTest} {
		recs, err := task.ReadRecords(filepath.Join(out, split+".json"))
		if err != nil {
			t.Fatal(err)
		}
		total += len(recs)
		if st.Splits[split].Rows != len(recs) {
			t.Errorf("%s: stats say %d rows, file has %d", split, st.Splits[split].Rows, len(recs))
		}
		perReview := map[string][]string{}
		for _, r := range recs {
			if prev, ok := splitOf[r.ID]; ok && prev != split {
				t.Errorf("review %s is in %s and %s", r.ID, prev, split)
			}
			splitOf[r.ID] = split
			perReview[r.ID] = append(perReview[r.ID], r.Aspect)
			if r.Instruction != task.RenderAspect(task.AspectInstruction("en"), r.Aspect) || !strings.Contains(r.Instruction, r.Aspect) {
				t.Errorf("review %s aspect %q: instruction %q", r.ID, r.Aspect, r.Instruction)
			}
			if _, err := task.AspectLabels.ParseAnswer(r.Output); err != nil {
				t.Errorf("review %s: %v", r.ID, err)
			}
		}
		for id, got := range perReview {
			if !slices.Equal(got, aspects) {
				t.Errorf("%s: review %s has records for %q, want one per aspect in order", split, id, got)
			}
		}
	}
	if total != 124*len(aspects) || len(splitOf) != 124 {
		t.Errorf("%d records of %d reviews, want %d of 124", total, len(splitOf), 124*len(aspects))
	}
	if n := len(splitOf) - st.Splits[SplitTrain].Rows/len(aspects) - st.Splits[SplitVal].Rows/len(aspects); n != 25 {
		t.Errorf("%d test reviews, want 25 (20%% of 124)", n)
	}
}

func TestAspectsLabelsFromCells(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("review_id,text,battery,price\nr1,Battery great,positive,\nr2,Too dear,,negative\nr3,Fine,neutral,neutral\n"), 0o644)
	out := filepath.Join(dir, "out")
	if _, err := Run(Config{Input: in, Aspects: "battery,price", Seed: 1, Out: out}); err != nil {
		t.Fatal(err)
	}
	recs, err := task.ReadRecords(filepath.Join(out, FileTrain))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.ID+"/"+r.Aspect+"="+r.Output)
	}
	want := []string{"r1/battery=2", "r1/price=3", "r2/battery=3", "r2/price=0", "r3/battery=1", "r3/price=1"}
	if !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
}

func TestAspectsRefusals(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("text,battery\nGood,positive\nMeh,great\n"), 0o644)
	none := filepath.Join(dir, "none.csv")
	os.WriteFile(none, []byte("text,battery,screen\nGood,positive,\nBad,negative,\n"), 0o644)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad cell", Config{Input: in, Aspects: "battery"}, `in.csv:3: column "battery": aspect value "great"`},
		{"missing column", Config{Input: in, Aspects: "battery,screen"}, "screen"},
		{"with labels", Config{Input: in, Aspects: "battery", Labels: "a=0,b=1"}, "drop --labels"},
		{"template without aspect", Config{Input: in, Aspects: "battery", Instruction: "Rate it."}, "{aspect}"},
		{"aspect never mentioned", Config{Input: none, Aspects: "battery,screen"}, `no kept review mentions aspect "screen"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Out = filepath.Join(dir, "out")
			_, err := Run(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if _, err := os.Stat(tc.cfg.Out); !os.IsNotExist(err) {
				t.Errorf("%s was written", tc.cfg.Out)
			}
		})
	}
}
