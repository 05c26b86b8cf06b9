package prep

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/text/encoding/simplifiedchinese"
	xunicode "golang.org/x/text/encoding/unicode"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// dumpRecords reads everything from r into a golden-friendly text: the
// source, the columns, then one JSON line per record or row error.
func dumpRecords(t *testing.T, r Reader) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var rowErr *RowError
		if errors.As(err, &rowErr) {
			enc.Encode(map[string]any{"row": rowErr.Row, "line": rowErr.Line, "error": rowErr.Error()})
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		enc.Encode(map[string]any{"row": rec.Row, "line": rec.Line, "values": rec.Values})
	}
	var head bytes.Buffer
	json.NewEncoder(&head).Encode(map[string]any{"source": r.Info(), "columns": r.Columns()})
	return head.String() + b.String()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./prep -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// writeParquet writes a small Parquet file with string, int, bool and
// optional columns, and a repeated column that the reader leaves out.
func writeParquet(t *testing.T, path string) {
	t.Helper()
	type row struct {
		ReviewText string   `parquet:"review_text"`
		Label      int32    `parquet:"label"`
		Verified   bool     `parquet:"verified"`
		Score      *float64 `parquet:"score,optional"`
		Tags       []string `parquet:"tags,list"`
	}
	s := 4.5
	rows := []row{
		{"Crisp sound, great bass", 1, true, &s, []string{"audio"}},
		{"Left earbud died", 0, false, nil, nil},
		{"Comfortable fit", 1, true, nil, []string{"fit", "comfort"}},
		{"Static noise on calls", 0, true, &s, nil},
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReaders(t *testing.T) {
	tmp := t.TempDir()
	writeParquet(t, filepath.Join(tmp, "reviews.parquet"))
	// GBK after a long ASCII prefix: detection happens at the first non-ASCII byte
	var late bytes.Buffer
	late.WriteString("text,label\n")
	for i := 0; i < 3000; i++ {
		late.WriteString("plain ascii review number filler text,1\n")
	}
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String("质量很好，物流也快,好评\n")
	late.WriteString(gbk)
	os.WriteFile(filepath.Join(tmp, "late_gbk.csv"), late.Bytes(), 0o644)
	// UTF-16LE with BOM, as Excel's "Unicode text" export
	u16, _ := xunicode.UTF16(xunicode.LittleEndian, xunicode.UseBOM).NewEncoder().String("review\tlabel\r\n很好用\t1\r\nBad\t0\r\n")
	os.WriteFile(filepath.Join(tmp, "excel.txt"), []byte(u16), 0o644)
	// JSON Lines stored as .json, with an invalid line in the middle
	os.WriteFile(filepath.Join(tmp, "lines.json"), []byte("{\"text\":\"a\",\"label\":1}\nnot json\n[1,2]\n{\"text\":\"b\",\"label\":0}\n"), 0o644)
	// JSON array whose second element is not an object
	os.WriteFile(filepath.Join(tmp, "array_bad.json"), []byte(`[{"text":"a","label":1}, 42, {"text":"b","label":0}]`), 0o644)

	os.WriteFile(filepath.Join(tmp, "pipe.txt"), []byte("text|label\nA, B|1\n\"x|y\"|0\nA | B|1\n"), 0o644)
	tests := []struct {
		name, path, format string
		opts               ReadOptions
	}{
		{"csv_pipe_delimiter", filepath.Join(tmp, "pipe.txt"), "csv", ReadOptions{Delimiter: '|'}},
		{"csv", "testdata/in/reviews.csv", "auto", ReadOptions{}},
		{"csv_semicolon", "testdata/in/semicolon.csv", "csv", ReadOptions{}},
		{"tsv", "testdata/in/reviews.tsv", "auto", ReadOptions{}},
		{"csv_gbk", "testdata/in/reviews_gbk.csv", "auto", ReadOptions{}},
		{"csv_gbk_selected", "testdata/in/reviews_gbk.csv", "csv", ReadOptions{Encoding: "gbk"}},
		{"csv_broken", "testdata/in/broken.csv", "auto", ReadOptions{}},
		{"json", "testdata/in/reviews.json", "auto", ReadOptions{}},
		{"jsonl", "testdata/in/reviews.jsonl", "auto", ReadOptions{}},
		{"alpaca", "testdata/in/alpaca.json", "alpaca", ReadOptions{}},
		{"parquet", filepath.Join(tmp, "reviews.parquet"), "auto", ReadOptions{}},
		{"utf16", filepath.Join(tmp, "excel.txt"), "auto", ReadOptions{}},
		{"jsonl_in_json", filepath.Join(tmp, "lines.json"), "auto", ReadOptions{}},
		{"json_bad_element", filepath.Join(tmp, "array_bad.json"), "json", ReadOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.path, tt.format, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := strings.ReplaceAll(dumpRecords(t, r), tmp, "TMP")
			golden(t, filepath.Join("testdata", "read", tt.name+".golden"), []byte(got))
		})
	}

	t.Run("utf8_with_a_stray_byte_stays_utf8", func(t *testing.T) {
		body := "text,label\n质量也快\x80,1\n质量态度,0\n" // as GBK this decodes cleanly to mostly Han mojibake
		r, err := NewReader(strings.NewReader(body), "x.csv", "auto", ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := r.Next()
		if err != nil || rec.Values[0] != "质量也快\x80" || r.Info().Encoding != "utf-8" {
			t.Errorf("got %q %v, encoding %s", rec.Values, err, r.Info().Encoding)
		}
	})

	t.Run("gbk_after_ascii_prefix", func(t *testing.T) {
		r, err := Open(filepath.Join(tmp, "late_gbk.csv"), "auto", ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var last Record
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			last = rec
		}
		if last.Row != 3001 || last.Values[0] != "质量很好，物流也快" || r.Info().Encoding != "gbk" {
			t.Errorf("last row %d %q, encoding %s; want row 3001 in GBK", last.Row, last.Values, r.Info().Encoding)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	tmp := t.TempDir()
	os.WriteFile(filepath.Join(tmp, "blank.jsonl"), []byte("\n  \n"), 0o644)
	os.WriteFile(filepath.Join(tmp, "not_alpaca.json"), []byte(`[{"text":"a","label":1}]`), 0o644)
	os.WriteFile(filepath.Join(tmp, "broken_array.json"), []byte(`[{"text":"a","label":1}, {"text": oops}]`), 0o644)
	tests := []struct {
		name, path, format, want string
	}{
		{"empty csv", "testdata/in/empty.csv", "auto", "empty file"},
		{"blank jsonl", filepath.Join(tmp, "blank.jsonl"), "auto", "empty file"},
		{"missing file", filepath.Join(tmp, "nope.csv"), "auto", "no such file"},
		{"unknown format", "testdata/in/reviews.csv", "xlsx", `unknown format "xlsx"`},
		{"not alpaca", filepath.Join(tmp, "not_alpaca.json"), "alpaca", `not an Alpaca file: want columns instruction, input, output; found "text", "label"`},
		{"broken json array", filepath.Join(tmp, "broken_array.json"), "auto", "element 2"},
		{"bad parquet", "testdata/in/reviews.csv", "parquet", "reviews.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.path, tt.format, ReadOptions{})
			if err == nil {
				_, err = dumpUntilError(r)
				r.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// dumpUntilError reads to the end and returns the first final error.
func dumpUntilError(r Reader) (int, error) {
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n, nil
		}
		var rowErr *RowError
		if err != nil && !errors.As(err, &rowErr) {
			return n, err
		}
		n++
	}
}

func TestNewReaderStdin(t *testing.T) {
	r, err := NewReader(strings.NewReader("{\"text\":\"x\",\"label\":1}\n"), "-", "auto", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil || rec.Values[0] != "x" || r.Info().Format != FormatJSONL {
		t.Errorf("got %v %v %v", rec, err, r.Info())
	}
}

func TestMaxRecordBytes(t *testing.T) {
	// a quote never closed in a long file costs one line, in bounded memory
	var b strings.Builder
	b.WriteString("text,label\n\"open quote,1\n")
	for i := 0; i < 200; i++ {
		b.WriteString("row,0\n")
	}
	r, err := NewReader(strings.NewReader(b.String()), "big.csv", "csv", ReadOptions{MaxRecordBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	good, bad := 0, 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		var rowErr *RowError
		switch {
		case errors.As(err, &rowErr):
			bad++
			if rowErr.Line != 2 || !strings.Contains(rowErr.Error(), "big.csv:2: field 1: quoted field never closed") {
				t.Errorf("row error %v", rowErr)
			}
		case err != nil:
			t.Fatal(err)
		default:
			good++
		}
	}
	if good != 200 || bad != 1 {
		t.Errorf("good %d bad %d, want 200 and 1", good, bad)
	}
}

func TestDetectColumns(t *testing.T) {
	tests := []struct {
		cols        []string
		text, label string
	}{
		{[]string{"id", "review_id", "Review", "Sentiment"}, "Review", "Sentiment"},
		{[]string{"content", "rating"}, "content", "rating"},
		{[]string{"评论", "标签"}, "评论", "标签"},
		{[]string{"内容", "情感"}, "内容", "情感"},
		{[]string{"comment_text", "label_id", "class"}, "comment_text", "class"},
		{[]string{"sentence", "polarity"}, "sentence", "polarity"},
		{[]string{"instruction", "input", "output"}, "input", "output"},
		{[]string{"id", "date"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.cols, ","), func(t *testing.T) {
			text, _ := DetectTextColumn(tt.cols)
			label, _ := DetectLabelColumn(tt.cols)
			if text != tt.text || label != tt.label {
				t.Errorf("got %q/%q, want %q/%q", text, label, tt.text, tt.label)
			}
		})
	}
}

func TestFindColumn(t *testing.T) {
	cols := []string{"Text", "label", "LABEL "}
	if i, err := FindColumn(cols, "text"); i != 0 || err != nil {
		t.Errorf("text: %d %v", i, err)
	}
	if i, err := FindColumn(cols, "label"); i != 1 || err != nil {
		t.Errorf("label: %d %v", i, err)
	}
	if _, err := FindColumn(cols, "Label"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("Label: %v", err)
	}
	if _, err := FindColumn(cols, "body"); err == nil || err.Error() != `no column "body": columns found: "Text", "label", "LABEL "` {
		t.Errorf("body: %v", err)
	}
}
