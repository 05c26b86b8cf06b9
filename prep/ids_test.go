package prep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

// TestRunIDs: every record carries the id of its source row (a detected or named id column,
// else the source row number, counting rejected rows), so a row found in a report can be
// traced back to the input.
func TestRunIDs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withID := write("with_id.csv", "Review_ID,sku,text,label\nR-17,a1,good,1\nR-03,a2,bad,0\nR-99,a3,fine,1\nR-42,a4,awful,0\n")
	noID := write("no_id.jsonl", `{"text":"good","label":1}`+"\n"+`{"text":"","label":1}`+"\n"+`{"text":"bad","label":0}`+"\n"+`{"text":"fine","label":1}`+"\n"+`{"text":"awful","label":0}`+"\n")
	ids := func(t *testing.T, cfg Config) (map[string]string, *Stats) {
		t.Helper()
		cfg.Out = filepath.Join(t.TempDir(), "out")
		cfg.TestRatio = 0.5
		cfg.OnBadRow = OnBadRowSkip
		st, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, f := range []string{FileTrain, FileTest} {
			recs, err := task.ReadRecords(filepath.Join(cfg.Out, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				got[r.Input] = r.ID
			}
		}
		return got, st
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		want   map[string]string
		column string
	}{
		{"detected review_id", Config{Input: withID}, map[string]string{"good": "R-17", "bad": "R-03", "fine": "R-99", "awful": "R-42"}, "Review_ID"},
		{"named --id-col", Config{Input: withID, IDCol: "sku"}, map[string]string{"good": "a1", "bad": "a2", "fine": "a3", "awful": "a4"}, "sku"},
		{"row numbers by choice", Config{Input: withID, IDCol: IDRowNumber}, map[string]string{"good": "1", "bad": "2", "fine": "3", "awful": "4"}, ""},
		{"source row numbers", Config{Input: noID}, map[string]string{"good": "1", "bad": "3", "fine": "4", "awful": "5"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, st := ids(t, tc.cfg)
			if len(got) != len(tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
			for text, id := range tc.want {
				if got[text] != id {
					t.Errorf("%q has id %q, want %q", text, got[text], id)
				}
			}
			if st.IDColumn != tc.column {
				t.Errorf("stats id column %q, want %q", st.IDColumn, tc.column)
			}
		})
	}

	for _, tc := range []struct {
		name, body, idCol, want string
	}{
		{"repeated id", "id,text,label\n7,good,1\n8,bad,0\n7,fine,1\n9,awful,0\n", "", `id column "id" repeats "7" at ` + "%s:2 and %s:4"},
		{"empty id", "id,text,label\n7,good,1\n,bad,0\n8,fine,1\n9,awful,0\n", "", `id column "id" is empty at %s:3`},
		{"unknown --id-col", "id,text,label\n7,good,1\n8,bad,0\n", "uid", `no column "uid"`},
		{"id is the text", "id,text,label\n7,good,1\n8,bad,0\n", "text", `column "text" cannot be both the id and the text or label`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := write(strings.ReplaceAll(tc.name, " ", "_")+".csv", tc.body)
			out := filepath.Join(t.TempDir(), "out")
			_, err := Run(Config{Input: in, IDCol: tc.idCol, TestRatio: 0.5, Out: out})
			want := strings.ReplaceAll(tc.want, "%s", in)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Error("a failed prep wrote its output folder")
			}
		})
	}
}

func TestDetectIDColumn(t *testing.T) {
	for _, tc := range []struct {
		cols []string
		want string
	}{
		{[]string{"text", "ID", "label"}, "ID"},
		{[]string{"review_id", "user_id", "text"}, "review_id"},
		{[]string{"user_id", "product_id", "text"}, ""},
		{[]string{"编号", "评论"}, "编号"},
	} {
		got, ok := DetectIDColumn(tc.cols)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("DetectIDColumn(%v) = %q, %v; want %q", tc.cols, got, ok, tc.want)
		}
	}
}
