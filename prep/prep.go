package prep

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/internal/task"
)

// Config is one prep run; the CLI flags map onto it one to one.
type Config struct {
	Input    string // review file
	Format   string // auto (default), csv, tsv, json, jsonl, parquet, alpaca
	Encoding string // auto (default), utf-8, gbk, utf-16

	TextCol  string // "" = detect (DetectTextColumn)
	LabelCol string // "" = detect (DetectLabelColumn)
	IDCol    string // "" = detect (DetectIDColumn), else source row numbers; IDRowNumber = row numbers
	LabelMap string // "pos=1,neg=0,neutral=skip" or "stars"; wins over the built-in values
	// Labels, when set, is a K-class label set "negative=0,neutral=1,positive=2" (NAME=ANSWER in
	// class order); then LabelMap maps raw values to its names or answers. "" = binary 1/0.
	Labels string
	labels task.Labels // the parsed label set Run works with
	// Aspects, when set, is aspect sentiment "battery,screen": one record per (review, aspect),
	// with task.AspectLabels, from one column per aspect (aspects.go).
	Aspects string

	Instruction string // "" = task.DefaultInstruction(Lang)
	System      string // written as "system" in every record when set
	Lang        string // zh, en or auto (default: zh when most texts contain Han characters)

	TestRatio float64 // share of each label held out for test (CLI default 0.1; 0 writes no test.json)
	ValRatio  float64 // share of each label for val.json (0 = none)
	Seed      int64
	Dedup     bool // drop repeated texts (after cleaning) before splitting
	MaxChars  int  // truncate cleaned texts to this many characters (0 = no limit)
	OnBadRow  string

	// Model, when set, is a model folder whose tokenizer measures token
	// lengths. Tokenizer, when set, is used instead (tests, callers that
	// already hold one).
	Model     string
	Tokenizer Encoder
	MaxLen    int // finetune's --max-len: with a tokenizer, rows over it are counted (0: DefaultMaxLen)

	Out  string // output folder; written atomically
	Name string // dataset name prefix in dataset_info.json (default "sentitune")

	Progress io.Writer     // progress: a bar on a terminal, else a line every LogEvery (nil = none)
	LogEvery time.Duration // the most time between two progress lines (0: 30 s)
}

// Encoder turns text into token ids. Run calls it from several goroutines.
type Encoder interface {
	Encode(text string) ([]int, error)
}

// Bad-row policies.
const (
	OnBadRowError = "error"
	OnBadRowSkip  = "skip"
)

// Rejection reasons counted in Stats.
const (
	ReasonBadRow       = "bad_row"       // unparsable row (quoting, field count, invalid JSON); --on-bad-row
	ReasonUnknownLabel = "unknown_label" // label not understood; --on-bad-row
	ReasonMissingLabel = "missing_label" // empty or null label
	ReasonSkippedLabel = "label_skipped" // label mapped to skip
	ReasonEmptyText    = "empty_text"    // text empty after cleaning
	ReasonDuplicate    = "duplicate"     // same text as an earlier row (--dedup)
)

// Output file names.
const (
	FileTrain       = "train.json"
	FileVal         = "val.json"
	FileTest        = "test.json"
	FileDatasetInfo = "dataset_info.json"
	FileStats       = "stats.json"
)

func (c Config) withDefaults() (Config, error) {
	if c.Input == "" {
		return c, errors.New("no input file")
	}
	if c.Out == "" {
		return c, errors.New("no output folder")
	}
	if c.Format == "" {
		c.Format = FormatAuto
	}
	if err := checkFormat(c.Format); err != nil {
		return c, err
	}
	if c.Encoding == "" {
		c.Encoding = "auto"
	}
	switch c.Lang {
	case "":
		c.Lang = "auto"
	case "auto", "zh", "en":
	default:
		return c, fmt.Errorf("unknown language %q (want zh, en or auto)", c.Lang)
	}
	switch c.OnBadRow {
	case "":
		c.OnBadRow = OnBadRowError
	case OnBadRowError, OnBadRowSkip:
	default:
		return c, fmt.Errorf("unknown bad-row policy %q (want error or skip)", c.OnBadRow)
	}
	if c.TestRatio < 0 || c.TestRatio >= 1 || c.ValRatio < 0 || c.ValRatio >= 1 || c.TestRatio+c.ValRatio >= 1 ||
		math.IsNaN(c.TestRatio) || math.IsNaN(c.ValRatio) {
		return c, fmt.Errorf("test ratio %g and val ratio %g: each must be in [0, 1) and their sum below 1", c.TestRatio, c.ValRatio)
	}
	if c.MaxChars < 0 {
		return c, fmt.Errorf("max chars %d is negative", c.MaxChars)
	}
	if c.Name == "" {
		c.Name = "sentitune"
	}
	return c, nil
}

// example is one kept review; id names it in the input (id column or source row number),
// row and line locate it there.
type example struct {
	text      string
	label     int
	id        string
	row, line int

	instruction, system string // an Alpaca input's own (alpaca.go); "" = the run's

	aspects []int  // with --aspects: the review's class per aspect (aspects.go)
	aspect  string // with --aspects: the aspect this record asks about
}

// Run reads cfg.Input, cleans and labels every row, splits, and writes
// train/test(/val).json, dataset_info.json and stats.json into cfg.Out.
// Records keep their input order within each split (trainers shuffle).
// On any error nothing in cfg.Out is changed.
func Run(cfg Config) (*Stats, error) {
	start := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("prep: %w", err)
	}
	if cfg.Aspects != "" {
		return runAspects(cfg, start)
	}
	labels, labelMap, err := labelSet(cfg.Labels, cfg.LabelMap)
	if err != nil {
		return nil, fmt.Errorf("prep: %w", err)
	}
	cfg.labels = labels
	if st, err := os.Stat(cfg.Out); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("prep: output %s exists and is not a folder", cfg.Out)
	}
	enc, err := modelEncoder(cfg, "--labels")
	if err != nil {
		return nil, err
	}

	examples, st, err := readExamples(cfg, labelMap)
	if err != nil {
		return nil, err
	}
	if examples, err = keepRows(cfg, examples, st); err != nil {
		return nil, err
	}
	counts := make([]int, len(labels))
	for _, e := range examples {
		counts[e.label]++
	}
	switch {
	case len(examples) == 0:
		return nil, fmt.Errorf("prep: %s: no usable rows (%d read; rejected: %s)", cfg.Input, st.Rows.Read, st.reasons())
	case !labels.IsBinary():
		if err := needTwoClasses(cfg.Input, labels, counts); err != nil {
			return nil, err
		}
	case counts[0] == 0 || counts[1] == 0:
		only := 0
		if counts[1] > 0 {
			only = 1
		}
		return nil, fmt.Errorf("prep: %s: every kept row (%d) has label %d; a classifier needs both 1 and 0", cfg.Input, len(examples), only)
	}

	if cfg.Lang == "auto" {
		texts := make([]string, 0, min(len(examples), 2000))
		for _, e := range examples[:min(len(examples), 2000)] {
			texts = append(texts, e.text)
		}
		st.Lang = DetectLang(texts)
	} else {
		st.Lang = cfg.Lang
	}
	st.Instruction = cfg.Instruction
	if st.Instruction == "" {
		st.Instruction = labels.Instruction(st.Lang)
	}
	instruction := st.Instruction // for records without one of their own
	if kept, ok := keptInstruction(examples); ok {
		st.Instruction = kept
	}

	classes := make([]int, len(examples))
	for i, e := range examples {
		classes[i] = e.label
	}
	assign := StratifiedSplit(classes, cfg.TestRatio, cfg.ValRatio, cfg.Seed)
	splits := map[string][]example{}
	for i, e := range examples {
		splits[assign[i]] = append(splits[assign[i]], e)
	}
	if len(splits[SplitTrain]) == 0 || (cfg.TestRatio > 0 && len(splits[SplitTest]) == 0) || (cfg.ValRatio > 0 && len(splits[SplitVal]) == 0) {
		return nil, fmt.Errorf("prep: %s: %d kept rows are too few for test ratio %g and val ratio %g (train %d, val %d, test %d)",
			cfg.Input, len(examples), cfg.TestRatio, cfg.ValRatio, len(splits[SplitTrain]), len(splits[SplitVal]), len(splits[SplitTest]))
	}

	if err := writeSplits(cfg, st, splits, labels, instruction, enc); err != nil {
		return nil, err
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// writeSplits measures each split and writes the split files, dataset_info.json and stats.json
// into cfg.Out at once (writeAtomically).
func writeSplits(cfg Config, st *Stats, splits map[string][]example, labels task.Labels, instruction string, enc Encoder) error {
	var files []outFile
	system := cfg.System != ""
	for _, name := range []string{SplitTrain, SplitVal, SplitTest} {
		if name != SplitTrain && len(splits[name]) == 0 {
			continue
		}
		ss, err := splitStats(name, splits[name], labels, instruction, cfg.System, enc, cfg.Progress, cfg.LogEvery)
		if err != nil {
			return err
		}
		st.Splits[name] = ss
		if err := st.noteMaxLen(ss, cfg.MaxLen, enc); err != nil {
			return err
		}
		recs := splits[name]
		system = system || anySystem(recs)
		files = append(files, outFile{ss.File, func(w io.Writer) error {
			return writeAlpacaArray(w, recs, labels, instruction, cfg.System)
		}})
	}
	files = append(files,
		outFile{FileDatasetInfo, func(w io.Writer) error { return writeDatasetInfo(w, cfg.Name, st.Splits, system) }},
		outFile{FileStats, func(w io.Writer) error { return writeJSON(w, st) }},
	)
	for _, f := range files {
		st.Files = append(st.Files, f.name)
	}
	if err := writeAtomically(cfg.Out, files, []string{FileTrain, FileVal, FileTest}); err != nil {
		return fmt.Errorf("prep: write %s: %w", cfg.Out, err)
	}
	return nil
}

// readExamples streams the input, cleaning and labelling each row.
func readExamples(cfg Config, labelMap LabelMap) ([]example, *Stats, error) {
	opts := ReadOptions{Encoding: cfg.Encoding}
	if cfg.Progress != nil {
		if fi, err := os.Stat(cfg.Input); err == nil && fi.Mode().IsRegular() {
			rep := progress.New(cfg.Progress, progress.Options{Name: "prep: reading", Bytes: true, Total: fi.Size(), Interval: cfg.LogEvery})
			opts.OnBytes = func(n int) { rep.Add(int64(n)) }
			defer rep.Finish()
		}
	}
	r, err := Open(cfg.Input, cfg.Format, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("prep: %w", err)
	}
	defer r.Close()
	cols := r.Columns()
	textCol, labelCol := cfg.TextCol, cfg.LabelCol
	alpaca := hasAlpacaColumns(cols)
	if textCol == "" {
		var ok bool
		if textCol, ok = DetectTextColumn(cols); alpaca {
			textCol, ok = "input", true
		}
		if !ok {
			return nil, nil, fmt.Errorf("prep: %s: no text column found (looked for %s): columns found: %s; pass --text-col",
				cfg.Input, strings.Join(TextColumnNames[:9], "/"), listColumns(cols))
		}
	}
	if labelCol == "" {
		var ok bool
		if labelCol, ok = DetectLabelColumn(cols); alpaca {
			labelCol, ok = "output", true
		}
		if !ok {
			return nil, nil, fmt.Errorf("prep: %s: no label column found (looked for %s): columns found: %s; pass --label-col",
				cfg.Input, strings.Join(LabelColumnNames[:8], "/"), listColumns(cols))
		}
	}
	ti, err := FindColumn(cols, textCol)
	if err != nil {
		return nil, nil, fmt.Errorf("prep: %s: text %w", cfg.Input, err)
	}
	li, err := FindColumn(cols, labelCol)
	if err != nil {
		return nil, nil, fmt.Errorf("prep: %s: label %w", cfg.Input, err)
	}
	if ti == li {
		return nil, nil, fmt.Errorf("prep: %s: text and label are the same column %q", cfg.Input, cols[ti])
	}
	ii, err := idColumn(cols, cfg.IDCol)
	if err != nil {
		return nil, nil, fmt.Errorf("prep: %s: id %w", cfg.Input, err)
	}
	if ii == ti || ii == li {
		return nil, nil, fmt.Errorf("prep: %s: column %q cannot be both the id and the text or label", cfg.Input, cols[ii])
	}
	st := newStats(cfg)
	st.TextColumn, st.LabelColumn = cols[ti], cols[li]
	if ii >= 0 {
		st.IDColumn = cols[ii]
	}
	if labelMap != nil {
		st.LabelMap = labelMap.String()
	}

	own := alpacaOwnPrompt(cols, ti, cfg)
	var out []example
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var rowErr *RowError
		if errors.As(err, &rowErr) {
			st.Rows.Read++
			if cfg.OnBadRow == OnBadRowError {
				return nil, nil, fmt.Errorf("prep: %w; --on-bad-row skip drops such rows", err)
			}
			st.reject(ReasonBadRow, err.Error())
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("prep: %w", err)
		}
		st.Rows.Read++
		where := Where(cfg.Input, rec)
		label, err := cfg.normalizeLabel(rec.Get(li), labelMap)
		switch {
		case err == nil:
		case errors.Is(err, ErrMissingLabel):
			st.reject(ReasonMissingLabel, where+": "+err.Error())
			continue
		case errors.Is(err, ErrSkippedLabel):
			st.reject(ReasonSkippedLabel, "")
			continue
		case errors.Is(err, ErrStarRating):
			return nil, nil, fmt.Errorf("prep: %s: column %q: %w", where, cols[li], err)
		case cfg.OnBadRow == OnBadRowError:
			return nil, nil, fmt.Errorf("prep: %s: column %q: %w (use --label-map, or --on-bad-row skip to drop such rows)", where, cols[li], err)
		default:
			st.reject(ReasonUnknownLabel, fmt.Sprintf("%s: column %q: %v", where, cols[li], err))
			continue
		}
		text, cr := CleanText(rec.Get(ti))
		st.Cleaned.add(cr, rec.Row)
		if cfg.MaxChars > 0 {
			if t, cut := truncateChars(text, cfg.MaxChars); cut {
				text = t
				st.Cleaned.Truncated++
			}
		}
		if text == "" {
			st.reject(ReasonEmptyText, "")
			continue
		}
		instruction, system := own.of(rec)
		out = append(out, example{text: text, label: label, id: rowID(rec, ii), row: rec.Row, line: rec.Line, instruction: instruction, system: system})
	}
	info := r.Info()
	st.Format, st.Encoding = info.Format, info.Encoding
	if hasAlpacaColumns(cols) && (cfg.Format == FormatAlpaca || cols[ti] == "input") {
		st.Format = FormatAlpaca + " (" + info.Format + ")"
	}
	return out, st, nil
}

// truncateChars cuts s to at most n characters, trimming a trailing space.
func truncateChars(s string, n int) (string, bool) {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s, false
	}
	i, k := 0, 0
	for i = range s {
		if k == n {
			break
		}
		k++
	}
	return strings.TrimRight(s[:i], " "), true
}

// modelEncoder loads --model's tokenizer (or takes cfg.Tokenizer) and checks that each answer of a
// non-binary label set is one of its tokens, naming flag in the error; nil without a model.
func modelEncoder(cfg Config, flag string) (Encoder, error) {
	enc := cfg.Tokenizer
	if enc == nil && cfg.Model != "" {
		var err error
		if enc, err = loadTokenizer(cfg.Model); err != nil {
			return nil, fmt.Errorf("prep: --model %s: %w", cfg.Model, err)
		}
	}
	if enc != nil && !cfg.labels.IsBinary() {
		if err := cfg.labels.CheckSingleTokens(enc.Encode); err != nil {
			return nil, fmt.Errorf("prep: %s: %w", flag, err)
		}
	}
	return enc, nil
}

// keepRows checks the rows' ids, removes (--dedup) or counts repeated texts and records how many rows are kept.
func keepRows(cfg Config, examples []example, st *Stats) ([]example, error) {
	if err := checkIDs(cfg.Input, examples, st.IDColumn); err != nil {
		return nil, fmt.Errorf("prep: %s: %w", cfg.Input, err)
	}
	if cfg.Dedup {
		examples = dedup(examples, st)
	} else {
		countDuplicates(examples, st)
	}
	st.Rows.Kept = len(examples)
	return examples, nil
}

// dedup keeps the first row of each distinct text.
func dedup(examples []example, st *Stats) []example {
	first := make(map[string]int, len(examples))
	out := examples[:0]
	for _, e := range examples {
		if l, seen := first[e.text]; seen {
			st.Duplicates.Found++
			st.Duplicates.Removed++
			if l != e.label {
				st.Duplicates.ConflictingLabels++
			}
			st.reject(ReasonDuplicate, "")
			continue
		}
		first[e.text] = e.label
		out = append(out, e)
	}
	return out
}

// countDuplicates reports repeats that --dedup would remove.
func countDuplicates(examples []example, st *Stats) {
	first := make(map[string]int, len(examples))
	for _, e := range examples {
		if l, seen := first[e.text]; seen {
			st.Duplicates.Found++
			if l != e.label {
				st.Duplicates.ConflictingLabels++
			}
			continue
		}
		first[e.text] = e.label
	}
}

// splitStats measures one split.
func splitStats(name string, recs []example, labels task.Labels, instruction, system string, enc Encoder, out io.Writer, logEvery time.Duration) (*SplitStats, error) {
	ss := &SplitStats{File: name + ".json", Rows: len(recs), Labels: map[string]int{}}
	for _, a := range labels.Answers() {
		ss.Labels[a] = 0
	}
	chars := make([]int, len(recs))
	for i, e := range recs {
		ss.Labels[labels[e.label].Answer]++
		chars[i] = utf8.RuneCountInString(e.text)
	}
	ss.Chars = lengths(chars)
	if enc == nil {
		return ss, nil
	}
	rep := progress.New(out, progress.Options{Name: "prep: tokenizing " + name, Unit: "rows", Total: int64(len(recs)), Interval: logEvery})
	defer rep.Finish()
	tokens := make([]int, len(recs))
	prompt := make([]int, len(recs))
	errs := make([]error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range errs { // the tokenizer is safe for concurrent use
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(recs); i += len(errs) {
				ids, err := enc.Encode(recs[i].text)
				if err != nil {
					errs[w] = fmt.Errorf("prep: tokenize %s row %d: %w", name, i+1, err)
					return
				}
				tokens[i] = len(ids)
				// LLaMA-Factory's user turn for an Alpaca record is instruction + "\n" + input
				user := orDefault(recs[i].instruction, instruction) + "\n" + recs[i].text
				if pe, ok := enc.(PromptEncoder); ok {
					ids, err = pe.EncodePrompt(orDefault(recs[i].system, system), user)
				} else {
					ids, err = enc.Encode(user)
				}
				if err != nil {
					errs[w] = fmt.Errorf("prep: tokenize %s row %d: %w", name, i+1, err)
					return
				}
				prompt[i] = len(ids)
				rep.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t, p := lengths(tokens), lengths(prompt)
	ss.Tokens, ss.PromptTokens = &t, &p
	ss.promptLens = prompt
	return ss, nil
}

// lengths summarises sizes with nearest-rank percentiles.
func lengths(v []int) Lengths {
	if len(v) == 0 {
		return Lengths{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	pct := func(p float64) int { return s[max(0, int(math.Ceil(p/100*float64(len(s))))-1)] }
	sum := 0
	for _, x := range s {
		sum += x
	}
	return Lengths{
		Min: s[0], Mean: math.Round(float64(sum)/float64(len(s))*10) / 10,
		P50: pct(50), P90: pct(90), P95: pct(95), P99: pct(99), Max: s[len(s)-1],
	}
}
