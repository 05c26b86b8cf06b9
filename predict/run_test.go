package predict

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentitune/sentitune/data"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/prep"
)

// fakeScorer gives each text a fixed probability from its hash, so tests of
// files, shards and serving run without a model.
type fakeScorer struct {
	mu      sync.Mutex
	calls   int
	record  bool // keep a copy of every batch in batches
	batches [][]string
	delay   time.Duration
	fail    error
}

func fakeProb(text string) float64 {
	h := fnv.New64a()
	h.Write([]byte(text))
	return float64(h.Sum64()%1_000_003) / 1_000_003
}

func (f *fakeScorer) scoreTexts(texts []string, progress func(int)) ([]Score, TokenStats, error) {
	f.mu.Lock()
	f.calls++
	if f.record {
		f.batches = append(f.batches, append([]string(nil), texts...))
	}
	f.mu.Unlock()
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.fail != nil {
		return nil, TokenStats{}, f.fail
	}
	out := make([]Score, len(texts))
	var st TokenStats
	for i, t := range texts {
		p := fakeProb(t)
		out[i] = Score{Prob: p}
		if p >= 0.5 {
			out[i].Pred = 1
		}
		st.Tokens += int64(len(t))
	}
	st.Rows = int64(len(texts))
	if progress != nil {
		progress(len(texts))
	}
	return out, st, nil
}

func (f *fakeScorer) generateTexts(texts []string, maxNew int, progress func(int)) ([]Generation, TokenStats, error) {
	out := make([]Generation, len(texts))
	for i, t := range texts {
		switch p := fakeProb(t); {
		case p < 0.1:
			out[i] = Generation{Text: "maybe", Pred: NoAnswer}
		case p >= 0.5:
			out[i] = Generation{Text: "1", Pred: 1}
		default:
			out[i] = Generation{Text: "0", Pred: 0}
		}
	}
	if progress != nil {
		progress(len(texts))
	}
	return out, TokenStats{Rows: int64(len(texts))}, nil
}

func (f *fakeScorer) info() Info { return Info{Model: "fake"} }

func fakeLoader(f *fakeScorer) func() (batchScorer, func(), error) {
	return func() (batchScorer, func(), error) { return f, func() {}, nil }
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// amazonFile writes the first n bundled Amazon reviews as JSON Lines.
func amazonFile(t testing.TB, dir string, n int) string {
	t.Helper()
	lines := bytes.SplitAfter(data.AmazonJSONL(), []byte("\n"))
	return writeFile(t, filepath.Join(dir, "amazon.jsonl"), bytes.Join(lines[:n], nil))
}

func TestRunOutputFormatsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 100)
	for _, format := range []string{FormatCSV, FormatJSONL, FormatParquet} {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/keep-text=%v", format, keep), func(t *testing.T) {
				out := filepath.Join(dir, fmt.Sprintf("out-%v.%s", keep, format))
				st, err := run(Config{Input: in, Out: out, KeepText: keep, Window: 7}, fakeLoader(&fakeScorer{}))
				if err != nil {
					t.Fatal(err)
				}
				if st.Rows != 100 || st.TotalRows != 100 || st.LabelCol != "label" || st.TextCol != "text" {
					t.Fatalf("stats %+v", st)
				}
				cols, rows, err := ReadRows(out)
				if err != nil {
					t.Fatal(err)
				}
				want := Columns{Label: true, Prob: true, Text: keep}
				if !cols.Equal(want) {
					t.Fatalf("columns %+v, want %+v", cols, want)
				}
				texts, labels := amazonRows(t, 100)
				if len(rows) != 100 {
					t.Fatalf("%d rows", len(rows))
				}
				for i, r := range rows {
					p := fakeProb(texts[i])
					if r.ID != fmt.Sprint(i+1) || r.Label != labels[i] || r.Prob != p || r.Pred != b2i(p >= 0.5) {
						t.Fatalf("row %d: %+v, want id %d label %d prob %v", i, r, i+1, labels[i], p)
					}
					if keep && r.Text != texts[i] {
						t.Fatalf("row %d text %q, want %q", i, r.Text, texts[i])
					}
				}
				if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
					t.Fatalf("temporary files left: %v", left)
				}
			})
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// amazonRows returns the texts and labels of the first n bundled reviews.
func amazonRows(t testing.TB, n int) ([]string, []int) {
	t.Helper()
	var texts []string
	var labels []int
	for _, line := range bytes.Split(data.AmazonJSONL(), []byte("\n"))[:n] {
		var r struct {
			Text  string `json:"text"`
			Label int    `json:"label"`
		}
		if err := jsonUnmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, r.Text)
		labels = append(labels, r.Label)
	}
	return texts, labels
}

func TestRunInputFormats(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, file, content string
		cfg                 Config
		ids                 []string
		labels              []int
	}{
		{"csv with id", "a.csv", "review_id,review,stars\nr1,Great phone,5\nr2,\"Broke, twice\",1\n",
			Config{IDCol: "review_id", LabelMap: "stars"}, []string{"r1", "r2"}, []int{1, 0}},
		{"csv id column detected", "b.csv", "ID,text\n7,fine\n9,bad\n", Config{}, []string{"7", "9"}, []int{NoLabel, NoLabel}},
		{"csv review_id detected", "b2.csv", "user_id,review_id,text\nu1,R-9,fine\nu2,R-3,bad\n", Config{}, []string{"R-9", "R-3"}, []int{NoLabel, NoLabel}},
		{"alpaca with prep's ids", "e2.json", `[{"instruction": "Is it positive?", "input": "love it", "output": "1", "id": "R-17"}, {"instruction": "Is it positive?", "input": "hate it", "output": "0", "id": "R-4"}]`,
			Config{}, []string{"R-17", "R-4"}, []int{1, 0}},
		{"a row without an id", "e3.jsonl", "{\"id\": \"R-17\", \"text\": \"love it\"}\n{\"text\": \"hate it\"}\n{\"id\": \" \", \"text\": \"meh\"}\n",
			Config{}, []string{"R-17", "2", "3"}, []int{NoLabel, NoLabel, NoLabel}},
		{"tsv", "c.tsv", "text\tlabel\nok\tpos\nmeh\tneg\n", Config{}, []string{"1", "2"}, []int{1, 0}},
		{"json array", "d.json", `[{"comment": "nice", "sentiment": "positive"}, {"comment": "awful", "sentiment": "negative"}]`,
			Config{}, []string{"1", "2"}, []int{1, 0}},
		{"alpaca", "e.json", `[{"instruction": "Is it positive?", "input": "love it", "output": "1"}, {"instruction": "Is it positive?", "input": "hate it", "output": "0"}]`,
			Config{InputFormat: "alpaca"}, []string{"1", "2"}, []int{1, 0}},
		{"missing label value", "f.jsonl", "{\"text\":\"a\",\"label\":1}\n{\"text\":\"b\",\"label\":null}\n", Config{}, []string{"1", "2"}, []int{1, NoLabel}},
		{"no-label", "g.csv", "text,label\nx,whatever\ny,3\n", Config{NoLabel: true}, []string{"1", "2"}, []int{NoLabel, NoLabel}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Input = writeFile(t, filepath.Join(dir, c.file), []byte(c.content))
			cfg.Out = filepath.Join(dir, c.file+".out.jsonl")
			if _, err := run(cfg, fakeLoader(&fakeScorer{})); err != nil {
				t.Fatal(err)
			}
			_, rows, err := ReadRows(cfg.Out)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(c.ids) {
				t.Fatalf("%d rows, want %d", len(rows), len(c.ids))
			}
			for i, r := range rows {
				if r.ID != c.ids[i] || r.Label != c.labels[i] {
					t.Errorf("row %d: id %q label %d, want %q %d", i, r.ID, r.Label, c.ids[i], c.labels[i])
				}
			}
		})
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	// An unreadable input: a folder where a file should be, and (unless root,
	// who reads anything) a file without read permission.
	unreadable := filepath.Join(dir, "folder.csv")
	if err := os.Mkdir(unreadable, 0o755); err != nil {
		t.Fatal(err)
	}
	unreadableWant := "is a directory"
	if os.Geteuid() != 0 {
		unreadable = writeFile(t, filepath.Join(dir, "secret.csv"), []byte("text\nhello\n"))
		if err := os.Chmod(unreadable, 0); err != nil {
			t.Fatal(err)
		}
		unreadableWant = "permission denied"
	}
	cases := []struct {
		name, file, content string
		cfg                 Config
		want                []string
	}{
		{"missing text column", "a.csv", "title,stars\nx,5\n", Config{}, []string{"no text column", "title, stars", "--text-col"}},
		{"named text column missing", "b.csv", "text\nx\n", Config{TextCol: "body"}, []string{`no column "body"`, `"text"`}},
		{"empty text", "c.csv", "text\nfine\n   \nok\n", Config{}, []string{"c.csv:3", "empty text", `"text"`}},
		{"html-only text is empty after cleaning", "d.csv", "text\n<br/>\n", Config{}, []string{"d.csv:2", "empty text"}},
		{"unknown label", "e.csv", "text,label\nfine,maybe\n", Config{}, []string{"e.csv:2", "maybe", "--label-map", "--no-label"}},
		{"star label", "f.csv", "text,rating\nfine,4\n", Config{}, []string{"f.csv:2", "star rating"}},
		{"broken row", "g.jsonl", "{\"text\":\"a\"}\n{\"text\": oops}\n", Config{}, []string{"g.jsonl:2", "--on-bad-row skip"}},
		{"missing file", "", "", Config{Input: filepath.Join(dir, "nope.csv")}, []string{"nope.csv", "no such file"}},
		{"unreadable file", "", "", Config{Input: unreadable}, []string{filepath.Base(unreadable), unreadableWant}},
		{"corrupt parquet", "l.parquet", "PAR1 this is not parquet PAR1", Config{}, []string{"l.parquet", "parquet"}},
		{"empty file", "h.csv", "", Config{}, []string{"h.csv", "empty file"}},
		{"output over input", "i.csv", "text\nx\n", Config{Out: "SAME"}, []string{"overwrite the input"}},
		{"unknown output format", "j.csv", "text\nx\n", Config{Out: filepath.Join(dir, "out.xlsx")}, []string{"--format"}},
		{"bad shard", "k.csv", "text\nx\n", Config{Shard: Shard{Index: 3, Count: 2}}, []string{"shard 3/2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			if c.file != "" {
				cfg.Input = writeFile(t, filepath.Join(dir, c.file), []byte(c.content))
			}
			switch cfg.Out {
			case "":
				cfg.Out = filepath.Join(dir, "out.csv")
			case "SAME":
				cfg.Out = cfg.Input
			}
			f := &fakeScorer{}
			_, err := run(cfg, fakeLoader(f))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if f.calls != 0 {
				t.Errorf("scored %d times before failing", f.calls)
			}
			if _, err := os.Stat(filepath.Join(dir, "out.csv")); err == nil {
				t.Errorf("output written despite the error")
			}
		})
	}
}

func TestRunSkipBadRows(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.jsonl"), []byte("{\"text\":\"a\"}\n{\"text\": oops}\n{\"text\":\"\"}\n{\"text\":\"d\"}\n"))
	out := filepath.Join(dir, "out.csv")
	st, err := run(Config{Input: in, Out: out, OnBadRow: OnBadRowSkip}, fakeLoader(&fakeScorer{}))
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 2 || st.Skipped != 2 || st.TotalRows != 4 {
		t.Fatalf("stats %+v", st)
	}
	_, rows, err := ReadRows(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].ID != "1" || rows[1].ID != "4" {
		t.Fatalf("rows %+v", rows)
	}
}

func TestRunScorerErrorLeavesNoOutput(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 30)
	out := filepath.Join(dir, "out.csv")
	_, err := run(Config{Input: in, Out: out, Window: 10}, fakeLoader(&fakeScorer{fail: errors.New("device lost")}))
	if err == nil || !strings.Contains(err.Error(), "device lost") || !strings.Contains(err.Error(), "rows 1–10") {
		t.Fatalf("error %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
}

func TestRunWindowsSortedPerWindow(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 25)
	f := &fakeScorer{record: true}
	if _, err := run(Config{Input: in, Out: filepath.Join(dir, "o.jsonl"), Window: 10}, fakeLoader(f)); err != nil {
		t.Fatal(err)
	}
	if len(f.batches) != 3 || len(f.batches[0]) != 10 || len(f.batches[2]) != 5 {
		t.Fatalf("windows %d", len(f.batches))
	}
}

func TestRunGenerateOutput(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 50)
	for _, format := range []string{FormatCSV, FormatJSONL, FormatParquet} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, "gen."+format)
			st, err := run(Config{Input: in, Out: out, Generate: 4}, fakeLoader(&fakeScorer{}))
			if err != nil {
				t.Fatal(err)
			}
			cols, rows, err := ReadRows(out)
			if err != nil {
				t.Fatal(err)
			}
			if !cols.Equal(Columns{Label: true, Generated: true}) {
				t.Fatalf("columns %+v", cols)
			}
			texts, _ := amazonRows(t, 50)
			none := 0
			for i, r := range rows {
				p := fakeProb(texts[i])
				if p < 0.1 {
					none++
					if r.Pred != NoAnswer || r.Generated != "maybe" {
						t.Fatalf("row %d: %+v", i, r)
					}
				} else if r.Pred != b2i(p >= 0.5) {
					t.Fatalf("row %d: %+v", i, r)
				}
			}
			if none == 0 || st.NoAnswer != none {
				t.Fatalf("no-answer rows: stats %d, file %d", st.NoAnswer, none)
			}
		})
	}
}

func TestShardRows(t *testing.T) {
	cases := []struct {
		total, window int
		shard         Shard
		first, last   int
	}{
		{100, 10, Shard{}, 1, 100},
		{100, 10, Shard{0, 1}, 1, 100},
		{100, 10, Shard{0, 3}, 1, 30},
		{100, 10, Shard{1, 3}, 31, 60},
		{100, 10, Shard{2, 3}, 61, 100},
		{95, 10, Shard{2, 3}, 61, 95},
		{5, 10, Shard{0, 2}, 1, 0}, // one window, two shards: the first is empty
		{5, 10, Shard{1, 2}, 1, 5},
		{0, 10, Shard{0, 2}, 1, 0},
	}
	for _, c := range cases {
		first, last := c.shard.rows(c.total, c.window)
		if first != c.first || last != c.last {
			t.Errorf("%d rows, window %d, shard %s: rows %d–%d, want %d–%d", c.total, c.window, c.shard, first, last, c.first, c.last)
		}
	}
	// Shards tile the file.
	for n := 1; n <= 7; n++ {
		next := 1
		for i := range n {
			first, last := Shard{i, n}.rows(1234, 50)
			if first <= last {
				if first != next {
					t.Fatalf("n=%d shard %d starts at %d, want %d", n, i, first, next)
				}
				next = last + 1
			}
		}
		if next != 1235 {
			t.Fatalf("n=%d: shards end at %d", n, next-1)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, s := range []string{"0/1", "3/8", " 7 / 8 "} {
		if _, err := ParseShard(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "3", "8/8", "-1/4", "1/0", "a/b"} {
		if _, err := ParseShard(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func TestMergeShardsFake(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 103)
	for _, format := range []string{FormatCSV, FormatJSONL, FormatParquet} {
		t.Run(format, func(t *testing.T) {
			whole := filepath.Join(dir, "whole."+format)
			if _, err := run(Config{Input: in, Out: whole, Window: 8, KeepText: true}, fakeLoader(&fakeScorer{})); err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 5, 20} { // 13 blocks: with 20 shards, 7 are empty
				out := filepath.Join(dir, fmt.Sprintf("sharded%d.%s", n, format))
				for i := n - 1; i >= 0; i-- {
					if _, err := run(Config{Input: in, Out: out, Window: 8, ShardBlock: 8, KeepText: true, Shard: Shard{i, n}}, fakeLoader(&fakeScorer{})); err != nil {
						t.Fatal(err)
					}
				}
				st, err := MergeShards(out, "")
				if err != nil {
					t.Fatal(err)
				}
				if st.Shards != n || st.Rows != 103 {
					t.Fatalf("merge stats %+v", st)
				}
				assertSameFile(t, whole, out)
			}
		})
	}
	t.Run("missing shard", func(t *testing.T) {
		out := filepath.Join(dir, "sharded5.csv")
		os.Remove(ShardPath(out, Shard{2, 5}))
		_, err := MergeShards(out, "")
		if err == nil || !strings.Contains(err.Error(), "sharded5-00002-of-00005.csv") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("mixed counts", func(t *testing.T) {
		out := filepath.Join(dir, "sharded5.jsonl")
		writeFile(t, ShardPath(out, Shard{0, 3}), nil)
		_, err := MergeShards(out, "")
		if err == nil || !strings.Contains(err.Error(), "stale") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("no shards", func(t *testing.T) {
		_, err := MergeShards(filepath.Join(dir, "none.csv"), "")
		if err == nil || !strings.Contains(err.Error(), "none-NNNNN-of-NNNNN.csv") {
			t.Fatalf("error %v", err)
		}
	})
}

func assertSameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s (%d bytes) and %s (%d bytes) differ", a, len(x), b, len(y))
	}
}

// peakHeap runs f while sampling the Go heap, and returns the largest heap seen.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load()
}

// Memory stays flat with the length of the input: 20,000 rows of ~1 KB
// (40 windows of 512) peak like 2,000 (4 windows): rows stream window by
// window and the whole file is never held. (The bench measures the process
// RSS of the real command on 5,000 and 50,000 rows.)
func TestRunConstantMemory(t *testing.T) {
	dir := t.TempDir()
	inputs := map[int]string{}
	for _, n := range []int{2000, 20000} {
		path := filepath.Join(dir, fmt.Sprintf("reviews-%d.csv", n))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := prep.GenerateSyntheticReviews(f, n, 1); err != nil {
			t.Fatal(err)
		}
		f.Close()
		inputs[n] = path
	}
	old := debug.SetGCPercent(20) // a heap close to what is live
	defer debug.SetGCPercent(old)
	for _, format := range []string{FormatCSV, FormatParquet} {
		t.Run(format, func(t *testing.T) {
			// Parquet holds a row group in memory: with a 1 MB cap both inputs exceed it.
			defer func(v int) { table.ParquetGroupBytes = v }(table.ParquetGroupBytes)
			table.ParquetGroupBytes = 1 << 20
			peaks := map[int]uint64{}
			for _, n := range []int{2000, 20000} {
				out := filepath.Join(dir, fmt.Sprintf("out-%d.%s", n, format))
				var st *Stats
				var err error
				peaks[n] = peakHeap(func() {
					st, err = run(Config{Input: inputs[n], Out: out, KeepText: true, Window: 512}, fakeLoader(&fakeScorer{}))
				})
				if err != nil {
					t.Fatal(err)
				}
				if st.Rows != n {
					t.Fatalf("%d rows written, want %d", st.Rows, n)
				}
				os.Remove(out)
			}
			t.Logf("peak Go heap: %.1f MiB for 2,000 rows, %.1f MiB for 20,000", float64(peaks[2000])/(1<<20), float64(peaks[20000])/(1<<20))
			if peaks[20000] > peaks[2000]*3/2+(8<<20) {
				t.Fatalf("peak heap grows with the input: %d bytes for 2,000 rows, %d for 20,000", peaks[2000], peaks[20000])
			}
		})
	}
}
