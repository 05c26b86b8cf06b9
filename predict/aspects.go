package predict

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// AspectConfig is one aspect-sentiment scoring run: predict --input with an adapter trained on
// prep --aspects records (its sentitune.json names the aspects).
type AspectConfig struct {
	Scorer ScorerConfig

	Input    string // reviews (csv, tsv, json, jsonl, parquet) or prep's aspect Alpaca files
	Format   string // of the input: "" or auto = by extension and content
	Encoding string
	TextCol  string // "" = detected
	IDCol    string // "" = a detected id column, else the row number

	Out      string // predictions file, csv or jsonl
	OutFmt   string // "" = by Out's extension
	KeepText bool
}

// AspectStats describes an aspect run.
type AspectStats struct {
	Out      string         `json:"out"`
	Reviews  int            `json:"reviews"`
	Aspects  []string       `json:"aspects"`
	Labelled bool           `json:"labelled"` // the input had each aspect's label
	Mentions map[string]int `json:"mentions"` // per aspect, reviews predicted to mention it
	Tokens   TokenStats     `json:"tokens"`
	ScoreSec float64        `json:"score_seconds"`
}

// WriteSummary prints a few human lines.
func (s *AspectStats) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "predict: scored %d reviews × %d aspects → %s (%d batches, %.1fs)\n", s.Reviews, len(s.Aspects), s.Out, s.Tokens.Batches, s.ScoreSec)
	for _, a := range s.Aspects {
		fmt.Fprintf(w, "predict: %-12s mentioned in %d\n", a, s.Mentions[a])
	}
}

// AdapterAspects returns the aspects an adapter folder was trained on (nil: not an aspect adapter).
func AdapterAspects(adapterDir string) ([]string, error) {
	if adapterDir == "" {
		return nil, nil
	}
	meta, err := task.ReadOptionalMeta(adapterDir)
	if err != nil || meta == nil {
		return nil, err
	}
	return meta.Aspects, nil
}

// aspectScorer is what RunAspects needs of a Scorer; tests substitute fakes.
type aspectScorer interface {
	aspectInfo() (template string, aspects []string, err error)
	scorePrompts(prompts []aspectPrompt) ([][]float64, TokenStats, error)
}

// aspectPrompt is one (review, aspect) pair to score.
type aspectPrompt struct {
	instruction string
	text        string // cleaned
}

// RunAspects scores every review once per aspect and writes id, [text], and per aspect
// [label_<a>], aspect_<a> and prob_<a>_<label> (table.WriteAspectPredictions).
func RunAspects(cfg AspectConfig) (*AspectStats, error) {
	format, err := aspectOutFormat(cfg)
	if err != nil {
		return nil, err
	}
	sc, err := NewScorer(cfg.Scorer)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	return runAspects(cfg, format, sc)
}

// RunAspectsWith is RunAspects with a loaded scorer (cfg.Scorer is not used).
func RunAspectsWith(sc *Scorer, cfg AspectConfig) (*AspectStats, error) {
	format, err := aspectOutFormat(cfg)
	if err != nil {
		return nil, err
	}
	return runAspects(cfg, format, sc)
}

func aspectOutFormat(cfg AspectConfig) (string, error) {
	if cfg.Input == "" || cfg.Out == "" {
		return "", errors.New("predict: aspects need --input FILE and --out FILE")
	}
	format := cfg.OutFmt
	if format == "" {
		f, err := FormatOf(cfg.Out)
		if err != nil {
			return "", fmt.Errorf("predict: %w", err)
		}
		format = f
	}
	if format != table.FormatCSV && format != table.FormatJSONL {
		return "", fmt.Errorf("predict: aspect predictions are written as csv or jsonl, not %s (--out %s)", format, cfg.Out)
	}
	return format, nil
}

func runAspects(cfg AspectConfig, format string, sc aspectScorer) (*AspectStats, error) {
	template, aspects, err := sc.aspectInfo()
	if err != nil {
		return nil, err
	}
	rows, labelled, err := readAspectReviews(cfg, aspects)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rows, st, err := scoreAspects(sc, template, aspects, rows)
	if err != nil {
		return nil, err
	}
	cols := table.AspectColumns{Aspects: aspects, Label: labelled, Text: cfg.KeepText, Prob: true}
	err = atomicfile.Write(cfg.Out, func(w io.Writer) error { return table.WriteAspectPredictions(w, format, cols, rows) })
	if err != nil {
		return nil, fmt.Errorf("predict: write %s: %w", cfg.Out, err)
	}
	stats := &AspectStats{Out: cfg.Out, Reviews: len(rows), Aspects: aspects, Labelled: labelled, Mentions: map[string]int{},
		Tokens: st, ScoreSec: time.Since(start).Seconds()}
	for _, r := range rows {
		for k, a := range aspects {
			if r.Pred[k] != task.NotMentioned {
				stats.Mentions[a]++
			}
		}
	}
	return stats, nil
}

// ScoreAspects scores texts once per aspect of the scorer's aspect adapter: per text, per
// aspect, the predicted class and the class probabilities (task.AspectLabels order).
func (sc *Scorer) ScoreAspects(texts []string) (aspects []string, rows []table.AspectPrediction, err error) {
	template, aspects, err := sc.aspectInfo()
	if err != nil {
		return nil, nil, err
	}
	rows = make([]table.AspectPrediction, len(texts))
	for i, t := range texts {
		rows[i] = table.AspectPrediction{ID: strconv.Itoa(i + 1), Text: t}
	}
	rows, _, err = scoreAspects(sc, template, aspects, rows)
	return aspects, rows, err
}

// scoreAspects fills each row's Pred and Probs: all (review, aspect) prompts are scored
// together, so batches mix aspects and stay full.
func scoreAspects(sc aspectScorer, template string, aspects []string, rows []table.AspectPrediction) ([]table.AspectPrediction, TokenStats, error) {
	prompts := make([]aspectPrompt, 0, len(rows)*len(aspects))
	for i := range rows {
		clean := cleanText(rows[i].Text)
		if clean == "" {
			return nil, TokenStats{}, fmt.Errorf("predict: review %s: empty text", rows[i].ID)
		}
		for _, a := range aspects {
			prompts = append(prompts, aspectPrompt{instruction: task.RenderAspect(template, a), text: clean})
		}
	}
	probs, st, err := sc.scorePrompts(prompts)
	if err != nil {
		return nil, st, err
	}
	for i := range rows {
		rows[i].Pred, rows[i].Probs = make([]int, len(aspects)), make([][]float64, len(aspects))
		for k := range aspects {
			p := probs[i*len(aspects)+k]
			rows[i].Probs[k], rows[i].Pred[k] = p, argmax(p)
		}
	}
	return rows, st, nil
}

func argmax(p []float64) int {
	best := 0
	for c := range p {
		if p[c] > p[best] {
			best = c
		}
	}
	return best
}

// aspectInfo is the adapter's aspect contract (its sentitune.json); another task's is refused.
func (sc *Scorer) aspectInfo() (string, []string, error) {
	aspects, err := AdapterAspects(sc.meta.Adapter)
	if err != nil {
		return "", nil, fmt.Errorf("predict: %w", err)
	}
	if len(aspects) == 0 {
		return "", nil, fmt.Errorf("predict: adapter %q was not trained on aspects (prep --aspects)", sc.meta.Adapter)
	}
	if sc.labels.String() != task.AspectLabels.String() {
		return "", nil, fmt.Errorf("predict: aspect adapter %s has the labels %s, want %s", sc.meta.Adapter, sc.labels, task.AspectLabels)
	}
	return sc.spec.Instruction, aspects, nil
}

// scorePrompts scores prompts of varying instructions: sorted by length, cut into batches as
// Score does, each row's K class probabilities back in input order.
func (sc *Scorer) scorePrompts(prompts []aspectPrompt) ([][]float64, TokenStats, error) {
	var st TokenStats
	ids := make([][]int, len(prompts))
	for i, p := range prompts {
		spec := sc.spec
		spec.Instruction = p.instruction
		var err error
		if ids[i], err = task.BuildPrompt(sc.tok, spec, p.text, sc.maxLen, sc.answerLen); err != nil {
			return nil, st, fmt.Errorf("predict: %w", err)
		}
	}
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(ids[order[a]]) < len(ids[order[b]]) })
	out := make([][]float64, len(prompts))
	for _, run := range batches(ids, order, sc.batchSize, sc.batchTokens) {
		batch := make([][]int, len(run))
		for k, i := range run {
			batch[k] = ids[i]
		}
		scores, bst, err := sc.ScoreIDs(batch)
		if err != nil {
			return nil, st, err
		}
		st.add(bst)
		for k, i := range run {
			out[i] = scores[k].Probs
		}
	}
	return out, st, nil
}

// readAspectReviews reads the reviews to score: prep's aspect records (one per review and
// aspect, regrouped by id, labels from their answers) or a review file (labels from its aspect
// columns when it has them all).
func readAspectReviews(cfg AspectConfig, aspects []string) ([]table.AspectPrediction, bool, error) {
	r, err := table.Open(cfg.Input, cmp.Or(cfg.Format, table.FormatAuto), table.ReadOptions{Encoding: cfg.Encoding})
	if err != nil {
		return nil, false, fmt.Errorf("predict: %w", err)
	}
	defer r.Close()
	cols := r.Columns()
	if slices.Contains(cols, "aspect") && table.HasAlpacaColumns(cols) {
		return readAspectRecords(cfg.Input, r, aspects)
	}
	return readAspectColumns(cfg, r, aspects)
}

// readAspectRecords regroups prep --aspects records by review id, in first-seen order.
func readAspectRecords(path string, r table.Reader, aspects []string) ([]table.AspectPrediction, bool, error) {
	cols := r.Columns()
	at := func(name string) int { return slices.Index(cols, name) }
	input, output, aspect, id := at("input"), at("output"), at("aspect"), at("id")
	byID := map[string]int{}
	var rows []table.AspectPrediction
	var seen [][]bool
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("predict: %w", err)
		}
		k := slices.Index(aspects, rec.Get(aspect))
		if k < 0 {
			return nil, false, fmt.Errorf("predict: %s: aspect %q is not one of the adapter's %s", table.Where(path, rec), rec.Get(aspect), strings.Join(aspects, ","))
		}
		label, err := task.AspectLabels.ParseAnswer(rec.Get(output))
		if err != nil {
			return nil, false, fmt.Errorf("predict: %s: %w", table.Where(path, rec), err)
		}
		key := cmp.Or(rec.Get(id), strconv.Itoa(rec.Row))
		i, ok := byID[key]
		if !ok {
			i, byID[key] = len(rows), len(rows)
			rows = append(rows, table.AspectPrediction{ID: key, Text: rec.Get(input), Label: make([]int, len(aspects))})
			seen = append(seen, make([]bool, len(aspects)))
		}
		if seen[i][k] {
			return nil, false, fmt.Errorf("predict: %s: review %s has two %s records", table.Where(path, rec), key, aspects[k])
		}
		seen[i][k], rows[i].Label[k] = true, label
	}
	for i, s := range seen {
		if k := slices.Index(s, false); k >= 0 {
			return nil, false, fmt.Errorf("predict: %s: review %s has no %s record (each review needs one per aspect)", path, rows[i].ID, aspects[k])
		}
	}
	return rows, true, nil
}

// readAspectColumns reads a review file; its labels are its aspect columns when it has every one.
func readAspectColumns(cfg AspectConfig, r table.Reader, aspects []string) ([]table.AspectPrediction, bool, error) {
	cols := r.Columns()
	textCol := cfg.TextCol
	if textCol == "" {
		var ok bool
		if textCol, ok = table.DetectTextColumn(cols); !ok {
			return nil, false, fmt.Errorf("predict: %s: no text column found: columns found: %s; pass --text-col", cfg.Input, table.ListColumns(cols))
		}
	}
	ti, err := table.FindColumn(cols, textCol)
	if err != nil {
		return nil, false, fmt.Errorf("predict: %s: text %w", cfg.Input, err)
	}
	ii := -1
	if name, ok := prep.DetectIDColumn(cols); cfg.IDCol != "" || ok {
		if ii, err = table.FindColumn(cols, cmp.Or(cfg.IDCol, name)); err != nil {
			return nil, false, fmt.Errorf("predict: %s: id %w", cfg.Input, err)
		}
	}
	var ai []int
	for _, a := range aspects {
		if i, err := table.FindColumn(cols, a); err == nil {
			ai = append(ai, i)
		}
	}
	labelled := len(ai) == len(aspects)
	var rows []table.AspectPrediction
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("predict: %w", err)
		}
		row := table.AspectPrediction{ID: strconv.Itoa(rec.Row), Text: rec.Get(ti)}
		if ii >= 0 {
			row.ID = strings.TrimSpace(rec.Get(ii))
		}
		for k, i := range ai {
			if !labelled {
				break
			}
			c, err := task.ParseAspectValue(rec.Get(i))
			if err != nil {
				return nil, false, fmt.Errorf("predict: %s: column %q: %w", table.Where(cfg.Input, rec), aspects[k], err)
			}
			row.Label = append(row.Label, c)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, false, fmt.Errorf("predict: %s: no reviews", cfg.Input)
	}
	return rows, labelled, nil
}
