package predict

import (
	"errors"
	"fmt"
	"github.com/sentitune/sentitune/internal/torch"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// DefaultWindow is how many input rows are read, sorted by length and scored
// together: memory stays constant however long the file, and padding small.
const DefaultWindow = 4096

// Bad-row policies (as in prep's --on-bad-row).
const (
	OnBadRowError = "error"
	OnBadRowSkip  = "skip"
)

// Config is one batch-scoring run (sentitune predict --input).
type Config struct {
	Scorer ScorerConfig

	Input       string // review file: csv, tsv, json, jsonl, parquet, or prep's Alpaca files
	InputFormat string // "" or auto = by extension and content (table.Open)
	Encoding    string // text encoding of the input (table.ReadOptions)
	TextCol     string // "" = detected (table.DetectTextColumn; Alpaca: input)
	IDCol       string // "" = a column named id, else the row number
	LabelCol    string // "" = detected (table.DetectLabelColumn; Alpaca: output)
	NoLabel     bool   // do not look for a label column
	LabelMap    string // as prep's --label-map, for the label column

	Out      string // output file; with a Shard, ShardPath(Out, Shard) is written
	Format   string // csv | jsonl | parquet ("" = by Out's extension)
	KeepText bool   // also write the review text

	Shard    Shard  // the slice of the input to score (zero: all)
	Window   int    // rows sorted together (0 = DefaultWindow)
	Generate int    // > 0: greedy decoding of up to Generate tokens instead of scoring
	OnBadRow string // error (default) | skip: unparsable rows, empty texts, unknown labels

	// ShardBlock is the partition's unit in rows (0 = DefaultWindow): shards are cut on
	// multiples of it, whatever the Window, and every shard of a set must use the same.
	ShardBlock int

	Progress    io.Writer     // progress bar (rows/s, ETA), e.g. a terminal; nil = none
	Log         io.Writer     // plain progress lines every LogInterval when there is no bar
	LogInterval time.Duration // 0 = 30 s
}

// Stats describes a run.
type Stats struct {
	Input     string     `json:"input"`
	Out       string     `json:"out"`
	Format    string     `json:"format"`
	Shard     string     `json:"shard"`
	TotalRows int        `json:"total_rows"` // data rows in the input (bad rows included)
	FirstRow  int        `json:"first_row"`  // this shard's slice, 1-based, inclusive
	LastRow   int        `json:"last_row"`
	Rows      int        `json:"rows"`    // rows written
	Skipped   int        `json:"skipped"` // bad rows skipped (--on-bad-row skip)
	Positive  int        `json:"positive"`
	NoAnswer  int        `json:"no_answer,omitempty"` // --generate rows with no 0/1
	Generate  int        `json:"generate,omitempty"`
	TextCol   string     `json:"text_col"`
	IDCol     string     `json:"id_col,omitempty"`
	LabelCol  string     `json:"label_col,omitempty"`
	Tokens    TokenStats `json:"tokens"`
	CountSec  float64    `json:"count_seconds"`
	LoadSec   float64    `json:"load_seconds"`
	ScoreSec  float64    `json:"score_seconds"`
	Model     Info       `json:"model"`

	ShardRows int `json:"shard_block_rows,omitempty"` // the partition's unit (Config.ShardBlock)

	// Classes counts the rows predicted as each class of a K-class adapter (nil for binary).
	Classes    map[string]int `json:"classes,omitempty"`
	classNames []string       // their order
}

// RowsPerSecond is the scoring rate (model load and row counting excluded).
func (s *Stats) RowsPerSecond() float64 {
	if s.ScoreSec <= 0 {
		return 0
	}
	return float64(s.Rows) / s.ScoreSec
}

// WriteSummary prints a few human lines.
func (s *Stats) WriteSummary(w io.Writer) {
	what := "scored"
	if s.Generate > 0 {
		what = fmt.Sprintf("generated (≤ %d tokens) for", s.Generate)
	}
	fmt.Fprintf(w, "predict: %s %d rows → %s", what, s.Rows, s.Out)
	if s.Shard != (Shard{}).String() {
		fmt.Fprintf(w, " (shard %s: rows %d–%d of %d)", s.Shard, s.FirstRow, s.LastRow, s.TotalRows)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "predict: %.1f rows/s, %.0f tokens/s, padding %.1f%%, %d batches; load %.1fs, count %.1fs, score %.1fs\n",
		s.RowsPerSecond(), float64(s.Tokens.Tokens)/max(s.ScoreSec, 1e-9), 100*s.Tokens.PaddingFraction(), s.Tokens.Batches,
		s.LoadSec, s.CountSec, s.ScoreSec)
	if s.Rows > 0 && s.Classes != nil {
		fmt.Fprintf(w, "predict: %s\n", s.classCounts())
	} else if s.Rows > 0 {
		fmt.Fprintf(w, "predict: %d positive (%.1f%%)", s.Positive, 100*float64(s.Positive)/float64(s.Rows))
		if s.Skipped > 0 {
			fmt.Fprintf(w, ", %d bad rows skipped", s.Skipped)
		}
		if s.Generate > 0 {
			fmt.Fprintf(w, ", %d rows with no 0/1 in the answer", s.NoAnswer)
		}
		fmt.Fprintln(w)
	}
}

func (c Config) withDefaults() (Config, error) {
	if c.Input == "" {
		return c, errors.New("predict: no input file (--input FILE)")
	}
	if c.Out == "" {
		return c, errors.New("predict: no output file (--out FILE)")
	}
	if c.Format == "" {
		f, err := FormatOf(c.Out)
		if err != nil {
			return c, fmt.Errorf("predict: %w", err)
		}
		c.Format = f
	}
	if err := table.CheckFormat(c.Format); err != nil {
		return c, fmt.Errorf("predict: %w", err)
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Window < 1 {
		return c, fmt.Errorf("predict: window %d must be positive", c.Window)
	}
	if c.ShardBlock == 0 {
		c.ShardBlock = DefaultWindow
	}
	if c.ShardBlock < 1 {
		return c, fmt.Errorf("predict: --shard-block %d must be positive", c.ShardBlock)
	}
	switch c.OnBadRow {
	case "":
		c.OnBadRow = OnBadRowError
	case OnBadRowError, OnBadRowSkip:
	default:
		return c, fmt.Errorf("predict: --on-bad-row %q: want error or skip", c.OnBadRow)
	}
	if c.Generate < 0 {
		return c, fmt.Errorf("predict: --generate %d must not be negative", c.Generate)
	}
	if c.Shard.Count < 0 || (c.Shard.Count > 0 && (c.Shard.Index < 0 || c.Shard.Index >= c.Shard.Count)) {
		return c, fmt.Errorf("predict: shard %d/%d: want 0 ≤ I < N", c.Shard.Index, c.Shard.Count)
	}
	if c.Shard.Count > 0 {
		c.Out = ShardPath(c.Out, c.Shard)
	}
	if abs(c.Out) == abs(c.Input) || sameFile(c.Out, c.Input) {
		return c, fmt.Errorf("predict: --out %s would overwrite the input", c.Out)
	}
	if c.LogInterval <= 0 {
		c.LogInterval = 30 * time.Second
	}
	return c, nil
}

// sameFile reports whether two existing paths are one file (a symbolic or hard link to the input).
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	return a
}

// Run scores a file (a pipe is first copied to a temporary file). It reads the input twice: a first pass counts rows (for
// shards and the ETA) and checks every row, so bad input fails before the
// model loads; the second pass scores the shard's rows window by window —
// each window sorted by token length, batched, scored, and written back in
// input order — so memory stays constant on files of any length. The output
// is written to a temporary file and renamed into place at the end.
func Run(cfg Config) (*Stats, error) {
	return run(cfg, func() (batchScorer, func(), error) {
		sc, err := NewScorer(cfg.Scorer)
		if err != nil {
			return nil, nil, err
		}
		return sc, sc.Close, nil
	})
}

// input is the resolved column layout of an input file.
type input struct {
	path             string
	file             string // what is opened: path, or the spooled copy of a pipe (table.Spool)
	format           string
	opts             table.ReadOptions
	text, id, label  int // column indexes, -1 = none
	textName, idName string
	labelName        string
	labels           prep.LabelMap
	classes          task.Labels // a K-class adapter's: label values are its answers or names (nil: binary)
	onBadRow         string
}

// item is one row to score.
type item struct {
	row   int
	id    string
	label int
	raw   string // as in the file (KeepText)
	clean string // what the model sees
}

func openInput(cfg Config, file string) (*input, table.Reader, error) {
	in := &input{path: cfg.Input, file: file, format: cfg.InputFormat, opts: table.ReadOptions{Encoding: cfg.Encoding, Name: cfg.Input}, text: -1, id: -1, label: -1, onBadRow: cfg.OnBadRow}
	if in.format == "" {
		in.format = table.FormatAuto
	}
	rd, err := table.Open(in.file, in.format, in.opts)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*input, table.Reader, error) {
		rd.Close()
		return nil, nil, fmt.Errorf("%s: %w", in.path, err)
	}
	cols := rd.Columns()
	find := func(name string) (int, error) { return table.FindColumn(cols, name) }
	switch {
	case cfg.TextCol != "":
		if in.text, err = find(cfg.TextCol); err != nil {
			return fail(fmt.Errorf("text column: %w", err))
		}
	default:
		name, ok := table.DetectTextColumn(cols)
		if !ok {
			return fail(fmt.Errorf("no text column found among %s: name it with --text-col", strings.Join(cols, ", ")))
		}
		in.text, _ = find(name)
	}
	in.textName = cols[in.text]
	if cfg.IDCol != "" {
		if in.id, err = find(cfg.IDCol); err != nil {
			return fail(fmt.Errorf("id column: %w", err))
		}
	} else if name, ok := prep.DetectIDColumn(cols); ok {
		in.id, _ = find(name)
	}
	if in.id >= 0 {
		in.idName = cols[in.id]
	}
	if !cfg.NoLabel {
		if cfg.LabelCol != "" {
			if in.label, err = find(cfg.LabelCol); err != nil {
				return fail(fmt.Errorf("label column: %w", err))
			}
		} else if name, ok := table.DetectLabelColumn(cols); ok {
			in.label, _ = find(name)
		}
		if in.label == in.text || (in.label >= 0 && in.label == in.id) {
			in.label = -1
		}
		if in.label >= 0 {
			in.labelName = cols[in.label]
		}
		if in.labels, err = prep.ParseLabelMap(cfg.LabelMap); err != nil {
			return fail(err)
		}
	}
	return in, rd, nil
}

func (in *input) reopen() (table.Reader, error) {
	rd, err := table.Open(in.file, in.format, in.opts)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	return rd, nil
}

// parse turns a record into an item; the error names the row.
func (in *input) parse(rec table.Record) (item, error) {
	it := item{row: rec.Row, label: NoLabel, raw: rec.Get(in.text)}
	where := table.Where(in.path, rec)
	it.clean = cleanText(it.raw)
	if it.clean == "" {
		return it, fmt.Errorf("%s: %w in column %q", where, ErrEmptyText, in.textName)
	}
	if in.id >= 0 {
		it.id = strings.TrimSpace(rec.Get(in.id))
	}
	if it.id == "" { // no id column, or a row without an id: its row number
		it.id = strconv.Itoa(rec.Row)
	}
	if in.label >= 0 {
		raw := rec.Get(in.label)
		if strings.TrimSpace(raw) != "" && in.classes != nil {
			v, err := in.classes.ClassOf(raw)
			if err != nil {
				return it, fmt.Errorf("%s: label column %q: %w (or pass --no-label)", where, in.labelName, err)
			}
			it.label = v
		} else if strings.TrimSpace(raw) != "" {
			v, err := prep.NormalizeLabel(raw, in.labels)
			if err != nil {
				return it, fmt.Errorf("%s: label column %q: %w (map it with --label-map, or pass --no-label)", where, in.labelName, err)
			}
			it.label = v
		}
	}
	return it, nil
}

// scan is the first pass: it counts the rows and checks each one.
func (in *input) scan(rd table.Reader) (total, bad int, err error) {
	defer rd.Close()
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return total, bad, nil
		}
		var re *table.RowError
		if errors.As(err, &re) {
			total = max(total, re.Row)
			if in.onBadRow == OnBadRowSkip {
				bad++
				continue
			}
			return 0, 0, fmt.Errorf("predict: %w (pass --on-bad-row skip to leave such rows out)", err)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("predict: %w", err)
		}
		total = max(total, rec.Row)
		if _, err := in.parse(rec); err != nil {
			if in.onBadRow == OnBadRowSkip {
				bad++
				continue
			}
			return 0, 0, fmt.Errorf("predict: %w (pass --on-bad-row skip to leave such rows out)", err)
		}
	}
}

func run(cfg Config, load func() (batchScorer, func(), error)) (*Stats, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	st := &Stats{Input: cfg.Input, Out: cfg.Out, Format: cfg.Format, Shard: cfg.Shard.String(), Generate: cfg.Generate}
	t0 := time.Now()
	file, removeSpool, err := table.Spool(cfg.Input) // a pipe is read twice (check and count, then score): copy it once
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	defer removeSpool()
	in, rd, err := openInput(cfg, file)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if in.classes, err = adapterClasses(cfg.Scorer); err != nil {
		rd.Close()
		return nil, err
	}
	st.TextCol, st.IDCol, st.LabelCol = in.textName, in.idName, in.labelName
	total, _, err := in.scan(rd)
	if err != nil {
		return nil, err
	}
	st.TotalRows = total
	st.FirstRow, st.LastRow = cfg.Shard.rows(total, cfg.ShardBlock)
	var manifest *shardManifest
	if cfg.Shard.Count > 0 {
		st.ShardRows = cfg.ShardBlock
		if manifest, err = newShardManifest(cfg, in.file, st); err != nil {
			return nil, err
		}
	}
	st.CountSec = time.Since(t0).Seconds()

	t1 := time.Now()
	sc, closeScorer, err := load()
	if err != nil {
		return nil, err
	}
	defer closeScorer()
	st.Model = sc.info()
	st.LoadSec = time.Since(t1).Seconds()

	cols := Columns{Label: in.label >= 0, Prob: cfg.Generate == 0, Text: cfg.KeepText, Generated: cfg.Generate > 0}
	if cols.Classes, err = classNames(st.Model, in.classes); err != nil {
		return nil, err
	}
	if cols.Classes != nil {
		st.Classes, st.classNames = map[string]int{}, cols.Classes
	}
	af, err := atomicfile.Create(cfg.Out)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	defer af.Abort()
	w, err := table.NewPredictionWriter(af, cfg.Format, cols)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	prog := newProgress(cfg, max(st.LastRow-st.FirstRow+1, 0))
	defer prog.finish()

	t2 := time.Now()
	if st.FirstRow <= st.LastRow {
		if err := scorePass(cfg, in, sc, w, st, prog); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("predict: write %s: %w", cfg.Out, err)
	}
	if manifest != nil {
		if err := manifest.dropStale(cfg.Out); err != nil {
			return nil, err
		}
	}
	if err := af.Commit(); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if manifest != nil {
		if err := manifest.write(cfg, cfg.Out, st); err != nil {
			return nil, err
		}
	}
	st.ScoreSec = time.Since(t2).Seconds()
	return st, nil
}

// scorePass is the second pass: it reads rows FirstRow..LastRow in windows
// aligned to multiples of cfg.Window from the start of the file (a shard's
// first window may be cut short by its first row).
func scorePass(cfg Config, in *input, sc batchScorer, w table.PredictionWriter, st *Stats, prog *progress) error {
	rd, err := in.reopen()
	if err != nil {
		return err
	}
	defer rd.Close()
	window := make([]item, 0, min(cfg.Window, st.LastRow-st.FirstRow+1))
	windowEnd := ((st.FirstRow-1)/cfg.Window + 1) * cfg.Window
	flush := func() error {
		if len(window) == 0 {
			return nil
		}
		err := scoreWindow(cfg, sc, window, w, st, prog)
		window = window[:0]
		torch.ReleaseHostMemory() // keep RSS flat on long files (libtorch's freed buffers stay in malloc's arenas)
		return err
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		row := rec.Row
		var re *table.RowError
		if errors.As(err, &re) {
			row = re.Row
		} else if err != nil {
			return fmt.Errorf("predict: %w", err)
		}
		if row < st.FirstRow {
			continue
		}
		if row > st.LastRow {
			break
		}
		for row > windowEnd {
			if err := flush(); err != nil {
				return err
			}
			windowEnd += cfg.Window
		}
		if re != nil {
			if cfg.OnBadRow != OnBadRowSkip {
				return fmt.Errorf("predict: %w", err)
			}
			st.Skipped++
			prog.add(1)
			continue
		}
		it, err := in.parse(rec)
		if err != nil {
			if cfg.OnBadRow != OnBadRowSkip {
				return fmt.Errorf("predict: %w", err)
			}
			st.Skipped++
			prog.add(1)
			continue
		}
		if !cfg.KeepText {
			it.raw = ""
		}
		window = append(window, it)
	}
	return flush()
}

func scoreWindow(cfg Config, sc batchScorer, items []item, w table.PredictionWriter, st *Stats, prog *progress) error {
	texts := make([]string, len(items))
	for i, it := range items {
		texts[i] = it.clean
	}
	first, last := items[0].row, items[len(items)-1].row
	wrap := func(err error) error {
		return fmt.Errorf("predict: %s rows %d–%d: %w", cfg.Input, first, last, err)
	}
	if cfg.Generate > 0 {
		gens, ts, err := sc.generateTexts(texts, cfg.Generate, prog.add)
		if err != nil {
			return wrap(err)
		}
		st.Tokens.add(ts)
		for i, it := range items {
			g := gens[i]
			st.count(g.Pred)
			if err := w.Write(Row{ID: it.id, Label: it.label, Pred: g.Pred, Text: it.raw, Generated: g.Text}); err != nil {
				return fmt.Errorf("predict: write %s: %w", cfg.Out, err)
			}
			st.Rows++
		}
		return nil
	}
	scores, ts, err := sc.scoreTexts(texts, prog.add)
	if err != nil {
		return wrap(err)
	}
	st.Tokens.add(ts)
	for i, it := range items {
		s := scores[i]
		st.count(s.Pred)
		if err := w.Write(Row{ID: it.id, Label: it.label, Pred: s.Pred, Prob: s.Prob, Probs: s.Probs, Text: it.raw}); err != nil {
			return fmt.Errorf("predict: write %s: %w", cfg.Out, err)
		}
		st.Rows++
	}
	return nil
}
