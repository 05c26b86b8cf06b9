package prep

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Stats is what a run did; it is written as stats.json. It holds no
// timestamps or absolute paths the caller did not give, so the same input
// and seed give the same bytes.
type Stats struct {
	Input       string `json:"input"`
	Format      string `json:"format"`
	Encoding    string `json:"encoding"`
	TextColumn  string `json:"text_column"`
	LabelColumn string `json:"label_column"`
	IDColumn    string `json:"id_column,omitempty"` // "" = ids are source row numbers
	LabelMap    string `json:"label_map,omitempty"`
	LabelSet    string `json:"label_set,omitempty"` // K-class labels NAME=ANSWER in class order; "" = binary 1/0
	Lang        string `json:"lang"`
	Instruction string `json:"instruction"`
	System      string `json:"system,omitempty"`

	Aspects []string `json:"aspects,omitempty"` // --aspects: one record per review and aspect, labels task.AspectLabels

	Seed      int64   `json:"seed"`
	TestRatio float64 `json:"test_ratio"`
	ValRatio  float64 `json:"val_ratio"`
	Dedup     bool    `json:"dedup"`
	MaxChars  int     `json:"max_chars,omitempty"`
	OnBadRow  string  `json:"on_bad_row"`
	Model     string  `json:"model,omitempty"`
	// With a tokenizer: the max length rows are counted against, and the end finetune cuts.
	MaxLen         int    `json:"max_len,omitempty"`
	TruncationSide string `json:"truncation_side,omitempty"`

	Rows       RowStats               `json:"rows"`
	Cleaned    CleanCounts            `json:"cleaned"`
	Duplicates DuplicateStats         `json:"duplicates"`
	Splits     map[string]*SplitStats `json:"splits"` // train, test, val
	Files      []string               `json:"files"`

	Out     string        `json:"-"`
	Elapsed time.Duration `json:"-"`
}

// RowStats counts rows: Read = Kept + Rejected.
type RowStats struct {
	Read     int            `json:"read"`
	Kept     int            `json:"kept"`
	Rejected int            `json:"rejected"`
	ByReason map[string]int `json:"rejected_by_reason"`
	Examples []string       `json:"rejected_examples,omitempty"` // the first few messages
}

// CleanCounts counts the rows each cleaning rule changed (a row can count
// under several rules).
type CleanCounts struct {
	InvalidUTF8  int `json:"invalid_utf8_repaired"`
	HTMLTags     int `json:"html_tags"`
	Entities     int `json:"html_entities"`
	ControlChars int `json:"control_chars"`
	Whitespace   int `json:"whitespace"`
	Normalized   int `json:"nfc"`
	Truncated    int `json:"truncated"`
	// InvalidUTF8Rows are the first maxRepairedRows rows (Record.Row) whose bytes were repaired:
	// a wrong --encoding shows here, and the rows can be checked by hand.
	InvalidUTF8Rows []int `json:"invalid_utf8_rows,omitempty"`
}

// maxRepairedRows bounds the row numbers listed in stats.json.
const maxRepairedRows = 100

func (c *CleanCounts) add(r CleanResult, row int) {
	if r.InvalidUTF8 && len(c.InvalidUTF8Rows) < maxRepairedRows {
		c.InvalidUTF8Rows = append(c.InvalidUTF8Rows, row)
	}
	c.InvalidUTF8 += b2i(r.InvalidUTF8)
	c.HTMLTags += b2i(r.HTMLTags)
	c.Entities += b2i(r.Entities)
	c.ControlChars += b2i(r.ControlChars)
	c.Whitespace += b2i(r.Whitespace)
	c.Normalized += b2i(r.Normalized)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// DuplicateStats counts rows whose cleaned text repeats an earlier row's.
type DuplicateStats struct {
	Found             int `json:"found"`
	Removed           int `json:"removed"`            // with --dedup (the first row is kept)
	ConflictingLabels int `json:"conflicting_labels"` // repeats whose label differs from the first
}

// SplitStats describes one output split.
type SplitStats struct {
	File   string         `json:"file"`
	Rows   int            `json:"rows"`
	Labels map[string]int `json:"labels"` // "0" and "1"
	Chars  Lengths        `json:"chars"`  // input text length in characters
	// Token lengths with --model: the input text alone, and the whole prompt
	// the model sees: the chat template (system turn, user turn
	// instruction + "\n" + input as LLaMA-Factory joins Alpaca fields,
	// assistant generation prompt), or just that user text without a template.
	Tokens       *Lengths `json:"tokens,omitempty"`
	PromptTokens *Lengths `json:"prompt_tokens,omitempty"`
	// OverMaxLen counts the rows whose prompt and answer exceed Stats.MaxLen: finetune cuts them.
	OverMaxLen *int `json:"over_max_len,omitempty"`

	promptLens []int // per row, for OverMaxLen
}

// Lengths are nearest-rank percentiles.
type Lengths struct {
	Min  int     `json:"min"`
	Mean float64 `json:"mean"`
	P50  int     `json:"p50"`
	P90  int     `json:"p90"`
	P95  int     `json:"p95"`
	P99  int     `json:"p99"`
	Max  int     `json:"max"`
}

const maxRejectExamples = 10

func newStats(cfg Config) *Stats {
	return &Stats{
		Input: cfg.Input, System: cfg.System, Seed: cfg.Seed, TestRatio: cfg.TestRatio, ValRatio: cfg.ValRatio,
		Dedup: cfg.Dedup, MaxChars: cfg.MaxChars, OnBadRow: cfg.OnBadRow, Model: cfg.Model, Out: cfg.Out,
		Rows:     RowStats{ByReason: map[string]int{}},
		Splits:   map[string]*SplitStats{},
		LabelSet: labelSetText(cfg.labels),
	}
}

func (s *Stats) reject(reason, msg string) {
	s.Rows.Rejected++
	s.Rows.ByReason[reason]++
	if msg != "" && len(s.Rows.Examples) < maxRejectExamples {
		s.Rows.Examples = append(s.Rows.Examples, msg)
	}
}

// reasons renders rejection counts, largest first ("duplicate 10, empty_text 2").
func (s *Stats) reasons() string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range s.Rows.ByReason {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || (all[i].v == all[j].v && all[i].k < all[j].k) })
	parts := make([]string, len(all))
	for i, e := range all {
		parts[i] = fmt.Sprintf("%s %d", e.k, e.v)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// WriteSummary prints the one-screen summary of a run.
func (s *Stats) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "prep: %s → %s\n", s.Input, s.Out)
	fmt.Fprintf(w, "  input     %s, %s; text %q", s.Format, s.Encoding, s.TextColumn)
	if len(s.Aspects) == 0 { // aspect runs have a column per aspect instead
		fmt.Fprintf(w, ", label %q", s.LabelColumn)
	}
	if s.IDColumn != "" {
		fmt.Fprintf(w, ", id %q", s.IDColumn)
	} else {
		fmt.Fprint(w, ", id = row number")
	}
	if s.LabelMap != "" {
		fmt.Fprintf(w, ", map %s", s.LabelMap)
	}
	if len(s.Aspects) > 0 {
		fmt.Fprintf(w, ", aspects %s (one record per review and aspect)", strings.Join(s.Aspects, ","))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  rows      %d read, %d kept, %d rejected (%s)\n", s.Rows.Read, s.Rows.Kept, s.Rows.Rejected, s.reasons())
	c := s.Cleaned
	var cleaned []string
	for _, r := range []struct {
		name string
		n    int
	}{{"html tags", c.HTMLTags}, {"entities", c.Entities}, {"whitespace", c.Whitespace}, {"control chars", c.ControlChars},
		{"utf-8 repaired", c.InvalidUTF8}, {"nfc", c.Normalized}, {"truncated", c.Truncated}} {
		if r.n > 0 {
			cleaned = append(cleaned, fmt.Sprintf("%s %d", r.name, r.n))
		}
	}
	if len(cleaned) > 0 {
		fmt.Fprintf(w, "  cleaned   %s (rows)\n", strings.Join(cleaned, ", "))
	}
	if rows := c.InvalidUTF8Rows; len(rows) > 0 {
		const shown = 20
		list := make([]string, min(len(rows), shown))
		for i := range list {
			list[i] = strconv.Itoa(rows[i])
		}
		more := ""
		if c.InvalidUTF8 > len(list) {
			more = fmt.Sprintf(", … (%d in all; the first %d in stats.json)", c.InvalidUTF8, len(rows))
		}
		fmt.Fprintf(w, "  repaired  invalid UTF-8 (is --encoding right?) in rows %s%s\n", strings.Join(list, ", "), more)
	}
	switch d := s.Duplicates; {
	case s.Dedup:
		fmt.Fprintf(w, "  dedup     %d repeated texts removed (%d with a conflicting label)\n", d.Removed, d.ConflictingLabels)
	case d.Found > 0:
		fmt.Fprintf(w, "  note      %d rows repeat an earlier text (%d with a conflicting label); --dedup keeps repeats out of test\n", d.Found, d.ConflictingLabels)
	}
	for _, name := range []string{SplitTrain, SplitVal, SplitTest} {
		sp := s.Splits[name]
		if sp == nil {
			continue
		}
		fmt.Fprintf(w, "  %-9s %6d rows  %s   chars p50 %d p95 %d max %d", name, sp.Rows, countsText(sp.Labels),
			sp.Chars.P50, sp.Chars.P95, sp.Chars.Max)
		if sp.PromptTokens != nil {
			fmt.Fprintf(w, "   prompt tokens p50 %d p95 %d max %d", sp.PromptTokens.P50, sp.PromptTokens.P95, sp.PromptTokens.Max)
		}
		if sp.OverMaxLen != nil {
			fmt.Fprintf(w, "   %d over --max-len %d (%.1f%%)", *sp.OverMaxLen, s.MaxLen, 100*float64(*sp.OverMaxLen)/float64(max(1, sp.Rows)))
		}
		fmt.Fprintln(w)
	}
	if s.MaxLen > 0 {
		fmt.Fprintf(w, "  max-len   rows over %d tokens (prompt + answer) lose the end of their review in finetune (truncation side %s)\n", s.MaxLen, s.TruncationSide)
	}
	fmt.Fprintf(w, "  prompt    [%s] %s\n", s.Lang, s.Instruction)
	if len(s.Rows.Examples) > 0 {
		fmt.Fprintf(w, "  first rejected: %s\n", s.Rows.Examples[0])
	}
	paths := make([]string, len(s.Files))
	for i, f := range s.Files {
		paths[i] = filepath.Join(s.Out, f)
	}
	fmt.Fprintf(w, "  wrote     %s (%.1fs)\n", strings.Join(paths, ", "), s.Elapsed.Seconds())
}
