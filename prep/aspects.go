package prep

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/task"
)

// runAspects is Run for aspect sentiment (cfg.Aspects): each review has one column per aspect
// (positive, negative, neutral, or empty when not mentioned) and becomes one record per aspect,
// asking about that aspect, with the review's id. Reviews, not records, are split, so all of a
// review's records land in the same split.
func runAspects(cfg Config, start time.Time) (*Stats, error) {
	aspects, err := task.ParseAspects(cfg.Aspects)
	if err != nil {
		return nil, fmt.Errorf("prep: --aspects: %w", err)
	}
	if cfg.Labels != "" || cfg.LabelMap != "" || cfg.LabelCol != "" {
		return nil, errors.New("prep: --aspects reads one column per aspect with the labels positive/negative/neutral/empty; drop --labels, --label-map and --label-col")
	}
	cfg.labels = task.AspectLabels
	if cfg.Instruction != "" {
		if err := task.CheckAspectTemplate(cfg.Instruction); err != nil {
			return nil, fmt.Errorf("prep: --instruction: %w", err)
		}
	}
	if st, err := os.Stat(cfg.Out); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("prep: output %s exists and is not a folder", cfg.Out)
	}
	enc, err := modelEncoder(cfg, "--aspects")
	if err != nil {
		return nil, err
	}
	reviews, st, err := readAspectReviews(cfg, aspects)
	if err != nil {
		return nil, err
	}
	if reviews, err = keepRows(cfg, reviews, st); err != nil {
		return nil, err
	}
	if err := needAspectClasses(cfg.Input, aspects, reviews); err != nil {
		return nil, err
	}
	st.Lang = cfg.Lang
	if st.Lang == "auto" {
		texts := make([]string, 0, min(len(reviews), 2000))
		for _, r := range reviews[:min(len(reviews), 2000)] {
			texts = append(texts, r.text)
		}
		st.Lang = DetectLang(texts)
	}
	template := orDefault(cfg.Instruction, task.AspectInstruction(st.Lang))
	st.Instruction, st.Aspects = template, aspects

	splits, err := splitReviews(cfg, reviews)
	if err != nil {
		return nil, err
	}
	for name, rs := range splits {
		splits[name] = aspectRecords(rs, aspects, template)
	}
	if err := writeSplits(cfg, st, splits, task.AspectLabels, template, enc); err != nil {
		return nil, err
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// readAspectReviews reads the text, id and aspect columns of every row; a value that is no
// aspect sentiment is an error naming the row and column (or, with --on-bad-row skip, drops the row).
func readAspectReviews(cfg Config, aspects []string) ([]example, *Stats, error) {
	r, err := Open(cfg.Input, cfg.Format, ReadOptions{Encoding: cfg.Encoding})
	if err != nil {
		return nil, nil, fmt.Errorf("prep: %w", err)
	}
	defer r.Close()
	cols := r.Columns()
	textCol, ok := cfg.TextCol, true
	if textCol == "" {
		if textCol, ok = DetectTextColumn(cols); !ok {
			return nil, nil, fmt.Errorf("prep: %s: no text column found (looked for %s): columns found: %s; pass --text-col",
				cfg.Input, strings.Join(TextColumnNames[:9], "/"), listColumns(cols))
		}
	}
	ti, err := FindColumn(cols, textCol)
	if err != nil {
		return nil, nil, fmt.Errorf("prep: %s: text %w", cfg.Input, err)
	}
	ai := make([]int, len(aspects))
	for k, a := range aspects {
		if ai[k], err = FindColumn(cols, a); err != nil {
			return nil, nil, fmt.Errorf("prep: %s: --aspects %s: %w", cfg.Input, a, err)
		}
	}
	ii, err := idColumn(cols, cfg.IDCol)
	if err != nil {
		return nil, nil, fmt.Errorf("prep: %s: id %w", cfg.Input, err)
	}
	st := newStats(cfg)
	st.TextColumn = cols[ti]
	if ii >= 0 {
		st.IDColumn = cols[ii]
	}
	var out []example
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var rowErr *RowError
		if errors.As(err, &rowErr) && cfg.OnBadRow == OnBadRowSkip {
			st.Rows.Read++
			st.reject(ReasonBadRow, err.Error())
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("prep: %w", err)
		}
		st.Rows.Read++
		values, err := aspectValues(rec, aspects, ai, cols)
		if err != nil {
			msg := fmt.Sprintf("%s: %v", Where(cfg.Input, rec), err)
			if cfg.OnBadRow == OnBadRowError {
				return nil, nil, fmt.Errorf("prep: %s (or --on-bad-row skip to drop such rows)", msg)
			}
			st.reject(ReasonUnknownLabel, msg)
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
		out = append(out, example{text: text, id: rowID(rec, ii), row: rec.Row, line: rec.Line, aspects: values})
	}
	info := r.Info()
	st.Format, st.Encoding = info.Format, info.Encoding
	return out, st, nil
}

// aspectValues parses one row's aspect cells into task.AspectLabels classes.
func aspectValues(rec Record, aspects []string, idx []int, cols []string) ([]int, error) {
	values := make([]int, len(aspects))
	for k := range aspects {
		c, err := task.ParseAspectValue(rec.Get(idx[k]))
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", cols[idx[k]], err)
		}
		values[k] = c
	}
	return values, nil
}

// needAspectClasses refuses an aspect no kept review mentions: there is nothing to learn about it.
func needAspectClasses(input string, aspects []string, reviews []example) error {
	if len(reviews) == 0 {
		return fmt.Errorf("prep: %s: no usable rows", input)
	}
	for k, a := range aspects {
		mentioned := false
		for _, r := range reviews {
			mentioned = mentioned || r.aspects[k] != task.NotMentioned
		}
		if !mentioned {
			return fmt.Errorf("prep: %s: no kept review mentions aspect %q (every %s cell is empty)", input, a, a)
		}
	}
	return nil
}

// splitReviews splits reviews, stratified by how many aspects each mentions.
func splitReviews(cfg Config, reviews []example) (map[string][]example, error) {
	strata := make([]int, len(reviews))
	for i, r := range reviews {
		for _, c := range r.aspects {
			if c != task.NotMentioned {
				strata[i]++
			}
		}
	}
	assign := StratifiedSplit(strata, cfg.TestRatio, cfg.ValRatio, cfg.Seed)
	splits := map[string][]example{}
	for i, r := range reviews {
		splits[assign[i]] = append(splits[assign[i]], r)
	}
	if len(splits[SplitTrain]) == 0 || (cfg.TestRatio > 0 && len(splits[SplitTest]) == 0) || (cfg.ValRatio > 0 && len(splits[SplitVal]) == 0) {
		return nil, fmt.Errorf("prep: %s: %d kept reviews are too few for test ratio %g and val ratio %g (train %d, val %d, test %d)",
			cfg.Input, len(reviews), cfg.TestRatio, cfg.ValRatio, len(splits[SplitTrain]), len(splits[SplitVal]), len(splits[SplitTest]))
	}
	return splits, nil
}

// aspectRecords turns each review into one record per aspect, in review order then aspect order.
func aspectRecords(reviews []example, aspects []string, template string) []example {
	out := make([]example, 0, len(reviews)*len(aspects))
	for _, r := range reviews {
		for k, a := range aspects {
			out = append(out, example{text: r.text, label: r.aspects[k], id: r.id, row: r.row, line: r.line,
				instruction: task.RenderAspect(template, a), aspect: a})
		}
	}
	return out
}
