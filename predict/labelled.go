package predict

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// LabelledRow is one row of a labelled review file, as eval scores it.
type LabelledRow struct {
	Row         int    // data row in the file, from 1
	ID          string // the id column's value, else the row number
	Text        string // as in the file (the scorer cleans it)
	Label       int    // 0 or 1
	Mapped      string // the file's answer when it was a label word mapped to Label ("positive"), else ""
	Instruction string // the record's own prompt in an Alpaca file, else ""
	System      string
}

// ReadLabelled reads every row of a labelled review file in any format predict reads (CSV, TSV,
// JSON, JSON Lines, Parquet, Alpaca), with cfg's InputFormat, Encoding, TextCol, IDCol, LabelCol,
// LabelMap and OnBadRow; the label column is required. It returns the rows and how many bad
// rows --on-bad-row skip left out.
func ReadLabelled(cfg Config) ([]LabelledRow, int, error) { return ReadLabelledOf(cfg, nil) }

// ReadLabelledOf is ReadLabelled for a K-class scorer's label set ls: each label (an Alpaca
// output or a label column) is one of its answers or names (task.Labels.ClassOf); nil is binary.
func ReadLabelledOf(cfg Config, ls task.Labels) ([]LabelledRow, int, error) {
	if cfg.Input == "" {
		return nil, 0, errors.New("no labelled data file")
	}
	if cfg.OnBadRow == "" {
		cfg.OnBadRow = OnBadRowError
	}
	if cfg.OnBadRow != OnBadRowError && cfg.OnBadRow != OnBadRowSkip {
		return nil, 0, fmt.Errorf("--on-bad-row %q: want error or skip", cfg.OnBadRow)
	}
	cfg.NoLabel = false
	in, rd, err := openInput(cfg, cfg.Input) // one pass: a pipe needs no copy
	if err != nil {
		return nil, 0, err
	}
	defer rd.Close()
	if in.label < 0 {
		return nil, 0, fmt.Errorf("%s: no label column found among %s: name it with --label-col", in.path, listColumns(rd.Columns()))
	}
	instr, system := optionalColumn(rd.Columns(), "instruction"), optionalColumn(rd.Columns(), "system")
	// A prep split (Alpaca: an instruction column, the label in output) holds the model's answer, parsed as finetune parses it.
	answers := instr >= 0 && in.labelName == "output" && cfg.LabelMap == ""
	text := *in
	text.label = -1 // the label is required here: read below, with eval's words
	var rows []LabelledRow
	skipped := 0
	bad := func(err error) error {
		if cfg.OnBadRow == OnBadRowSkip {
			skipped++
			return nil
		}
		return fmt.Errorf("%w (pass --on-bad-row skip to leave such rows out)", err)
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		var re *table.RowError
		if errors.As(err, &re) {
			if err := bad(err); err != nil {
				return nil, 0, err
			}
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		it, err := text.parse(rec)
		mapped := ""
		switch {
		case err != nil:
		case ls != nil:
			if it.label, err = ls.ClassOf(rec.Get(in.label)); err != nil {
				err = fmt.Errorf("%s: %w", table.Where(in.path, rec), err)
			}
		case answers:
			if it.label, mapped, err = answerClass(rec.Get(in.label)); err != nil {
				err = fmt.Errorf("%s: %w", table.Where(in.path, rec), err)
			}
		default:
			if it.label, err = prep.NormalizeLabel(rec.Get(in.label), in.labels); err != nil {
				err = fmt.Errorf("%s: label column %q: %w (want 1/0, pos/neg, …; or map it with --label-map)", table.Where(in.path, rec), in.labelName, err)
			}
		}
		if err != nil {
			if err := bad(err); err != nil {
				return nil, 0, err
			}
			continue
		}
		rows = append(rows, LabelledRow{Row: it.row, ID: cmp.Or(it.id, strconv.Itoa(it.row)), Text: it.raw, Label: it.label, Mapped: mapped,
			Instruction: rec.Get(instr), System: rec.Get(system)})
	}
	if len(rows) == 0 {
		return nil, skipped, fmt.Errorf("%s: no labelled rows (%d bad rows skipped)", in.path, skipped)
	}
	return rows, skipped, nil
}

// answerClass is the class of an Alpaca output: the model's answer (1/0), else a label word prep
// understands (positive/negative, 好评/差评, …: LLaMA-Factory datasets answer in words), returned as mapped.
func answerClass(output string) (class int, mapped string, err error) {
	class, err = task.Binary.ParseAnswer(output)
	if err == nil {
		return class, "", nil
	}
	class, perr := prep.NormalizeLabel(output, nil)
	if perr != nil {
		return 0, "", fmt.Errorf("%w, nor a label word prep maps (map the outputs with --label-map 'word=1,other=0')", err)
	}
	return class, strings.TrimSpace(output), nil
}

// AnswerMapping is the line saying which outputs of path were label words and the answer each
// was read as ("" when every output was an answer), so a word-answer file is never read silently.
func AnswerMapping(path string, rows []LabelledRow) string {
	counts := map[string]int{}
	for _, r := range rows {
		if r.Mapped != "" {
			counts[fmt.Sprintf("%q → %s", r.Mapped, task.Binary[r.Label].Answer)]++
		}
	}
	if len(counts) == 0 {
		return ""
	}
	pairs := make([]string, 0, len(counts))
	for p, n := range counts {
		pairs = append(pairs, fmt.Sprintf("%s (%d)", p, n))
	}
	slices.Sort(pairs)
	return fmt.Sprintf("%s: outputs read as answers as prep maps labels: %s", path, strings.Join(pairs, ", "))
}

// optionalColumn is the index of column name, or -1 (Record.Get then gives "").
func optionalColumn(cols []string, name string) int {
	i, err := table.FindColumn(cols, name)
	if err != nil {
		return -1
	}
	return i
}

func listColumns(cols []string) string {
	s := ""
	for i, c := range cols {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", c)
	}
	return s
}
