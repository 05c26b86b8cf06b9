// Package predict scores reviews with a (LoRA-tuned) chat model in one forward
// pass per batch: the logits of the "1" and "0" label tokens at the answer
// position give the class and P(label = 1), with no generation and no parsing;
// an adapter trained on K labels reads its K label tokens and their softmax.
//
// Scorer holds the model, tokenizer, prompt and label tokens; Run scores
// whole files (streaming, sharded, atomic outputs); Server answers HTTP
// requests in micro-batches; MergeShards joins shard outputs.
package predict

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
	"github.com/sentitune/sentitune/prep"
)

// Defaults of ScorerConfig.
const (
	DefaultBatchSize = 16
	DefaultMaxLen    = 512 // finetune's default; an adapter's own value wins
	DefaultThreshold = 0.5
)

// ScorerConfig says which model scores and with what prompt.
type ScorerConfig struct {
	ModelDir   string // Hugging Face model folder, or ORG/NAME[@REV] in a hub cache (hub.ResolveModel)
	AdapterDir string // LoRA adapter from finetune ("" = the bare model)
	Device     string // auto | cpu | cuda | cuda:N
	DType      string // auto | f32 | bf16 | f16

	// Prompt of a bare model. With an adapter they must be empty or equal
	// to the adapter's, since scoring must see the prompt training saw.
	Instruction string // "" = the adapter's, else task.DefaultInstruction("en")
	Template    string // chat template: "" = the adapter's, else the model's own; a built-in name or a .jinja file
	System      string // "" = the adapter's, else the chat template's default

	MaxLen    int // prompt + answer tokens; "" = the adapter's, else DefaultMaxLen
	BatchSize int // rows per forward pass, at most (0 = DefaultBatchSize)
	// BatchTokens bounds a pass's padded tokens, rows × longest row (0 = DefaultBatchTokens).
	BatchTokens int
	Threshold   float64 // pred = prob ≥ Threshold (0 = DefaultThreshold)
	Threads     int     // CPU threads for libtorch (0 = its default)
}

// Score is the result for one text.
type Score struct {
	Pred   int     // binary: 1 when Prob ≥ threshold; K classes: the most probable class
	Prob   float64 // binary: P(label = 1) = softmax over the two label logits = sigmoid(Logit1 − Logit0); K classes: P(Pred)
	Logit1 float64 // binary: next-token logit of the "1" label token
	Logit0 float64 // binary: next-token logit of the "0" label token
	// Probs (K classes only; nil for binary) is each class's probability, the softmax over
	// the K label tokens' logits (task.ClassProbs), in class order; Logits are those logits.
	Probs  []float64
	Logits []float64
}

// Generation is the result of greedy decoding for one text (--generate).
type Generation struct {
	Text   string // decoded answer, without the end-of-turn token
	Pred   int    // the class whose answer comes first in Text (task.Labels.FindAnswer), or NoAnswer
	Tokens int    // tokens generated
}

// TokenStats counts the work of forward passes.
type TokenStats struct {
	Rows    int64 `json:"rows"`
	Tokens  int64 `json:"tokens"`  // real prompt tokens
	Padding int64 `json:"padding"` // pad positions added to make batches rectangular
	Batches int64 `json:"batches"` // forward passes
}

// PaddingFraction is pad positions over all positions computed.
func (t TokenStats) PaddingFraction() float64 {
	if t.Tokens+t.Padding == 0 {
		return 0
	}
	return float64(t.Padding) / float64(t.Tokens+t.Padding)
}

func (t *TokenStats) add(o TokenStats) {
	t.Rows += o.Rows
	t.Tokens += o.Tokens
	t.Padding += o.Padding
	t.Batches += o.Batches
}

// Info describes a scorer for provenance (eval reports, /healthz).
type Info struct {
	Model       string  `json:"model"`
	Adapter     string  `json:"adapter,omitempty"`
	Device      string  `json:"device"`
	DType       string  `json:"dtype"`
	Chat        string  `json:"chat_template"`
	Instruction string  `json:"instruction"`
	System      string  `json:"system,omitempty"`
	LabelIDs    [2]int  `json:"label_token_ids"` // ids of "0" and "1" (binary)
	MaxLen      int     `json:"max_len"`
	BatchSize   int     `json:"batch_size"`
	Threshold   float64 `json:"threshold"`

	// Labels is a K-class adapter's label set NAME=ANSWER in class order ("" = binary), ClassIDs its answer token ids.
	Labels   string `json:"labels,omitempty"`
	ClassIDs []int  `json:"class_token_ids,omitempty"`
}

// batchScorer is what Run and Server need; *Scorer implements it and tests
// substitute fakes. Texts are already cleaned (cleanText) and non-empty.
type batchScorer interface {
	scoreTexts(texts []string, progress func(rows int)) ([]Score, TokenStats, error)
	generateTexts(texts []string, maxNew int, progress func(rows int)) ([]Generation, TokenStats, error)
	info() Info
}

// Scorer scores texts with one model. It is safe for concurrent use: model
// access is serialised, tokenization is not.
type Scorer struct {
	mu          sync.Mutex // one forward at a time: bounds memory, keeps batches whole
	model       *llm.Model
	tok         *tokenizer.Tokenizer
	spec        task.PromptSpec
	labels      task.Labels   // the classes (task.Binary unless the adapter was trained on others)
	ids         []int         // the label token ids, in class order
	head        *torch.Tensor // [H, K]: the lm_head rows of the label tokens (labelHead)
	stop        []int         // ids that end a generated answer
	answerLen   int           // tokens training reserved for the answer
	maxLen      int
	batchSize   int
	batchTokens int
	threshold   float64
	meta        Info
}

// NewScorer loads the model (and adapter) and prepares the prompt.
func NewScorer(cfg ScorerConfig) (*Scorer, error) {
	if cfg.ModelDir == "" {
		return nil, errors.New("predict: no model folder (--model DIR)")
	}
	if cfg.BatchSize < 0 || cfg.BatchTokens < 0 || cfg.MaxLen < 0 {
		return nil, fmt.Errorf("predict: batch size %d, batch tokens %d and max length %d must not be negative", cfg.BatchSize, cfg.BatchTokens, cfg.MaxLen)
	}
	if !(cfg.Threshold >= 0 && cfg.Threshold <= 1) { // NaN too: it would make every prediction 0
		return nil, fmt.Errorf("predict: threshold %v is outside [0, 1]", cfg.Threshold)
	}
	dir, err := hub.ResolveModel(cfg.ModelDir) // ORG/NAME: its folder in a hub cache
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	cfg.ModelDir = dir
	ad, err := readAdapter(cfg)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(cfg.ModelDir)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if tok, err = tok.WithTemplate(templateOf(cfg, ad)); err != nil {
		return nil, fmt.Errorf("predict: --template: %w", err)
	}
	if tok, err = withTrainingDate(tok, ad); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if tok.Chat() == nil {
		return nil, fmt.Errorf("predict: model %s has no chat template (give --template: a name, raw for a base model, or a .jinja file)", cfg.ModelDir)
	}
	sc := &Scorer{
		tok:         tok,
		batchSize:   cmpOr(cfg.BatchSize, DefaultBatchSize),
		batchTokens: cmpOr(cfg.BatchTokens, DefaultBatchTokens),
		threshold:   cfg.Threshold,
	}
	if sc.threshold == 0 {
		sc.threshold = DefaultThreshold
	}
	if sc.spec, sc.maxLen, err = promptOf(cfg, ad); err != nil {
		return nil, err
	}
	if sc.labels, sc.ids, err = labelsOf(tok, ad); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if !sc.labels.IsBinary() && cfg.Threshold != 0 && cfg.Threshold != DefaultThreshold {
		return nil, fmt.Errorf("predict: a threshold (%v) decides between two labels; adapter %s has %d (%s), predicted by the largest probability", cfg.Threshold, cfg.AdapterDir, len(sc.labels), sc.labels)
	}
	answer, err := tok.Chat().EncodeAnswer(sc.labels[len(sc.labels)-1].Answer) // binary: "1"; K-class answers are one token each
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	sc.answerLen = len(answer)
	sc.stop = []int{tok.Chat().EndOfTurnID()}
	if eos := tok.EOSID(); eos >= 0 {
		sc.stop = append(sc.stop, eos)
	}

	if err := torch.Load(); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if cfg.Threads > 0 {
		if err := torch.SetNumThreads(cfg.Threads); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
	}
	dev, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	dtype, explicit, err := llm.ParseComputeDType(cfg.DType)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if err := ad.checkBase(cfg.ModelDir); err != nil {
		return nil, err
	}
	m, err := llm.LoadModel(cfg.ModelDir, llm.LoadOptions{Device: dev, DType: dtype, ExplicitDType: explicit})
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if err := ad.attach(m); err != nil {
		m.Close()
		return nil, err
	}
	if v := m.Config().VocabSize; slices.Max(sc.ids) >= v {
		m.Close()
		return nil, fmt.Errorf("predict: label token ids %v are outside the model's vocabulary of %d", sc.ids, v)
	}
	if sc.head, err = labelHead(m, sc.ids); err != nil {
		m.Close()
		return nil, fmt.Errorf("predict: %w", err)
	}
	sc.model = m
	sc.meta = Info{
		Model: cfg.ModelDir, Adapter: cfg.AdapterDir,
		Device: dev.String(), DType: m.DType().String(), Chat: tok.Chat().Name(),
		Instruction: sc.spec.Instruction, System: sc.spec.System,
		MaxLen: sc.maxLen, BatchSize: sc.batchSize, Threshold: sc.threshold,
	}
	if sc.labels.IsBinary() {
		sc.meta.LabelIDs = [2]int{sc.ids[0], sc.ids[1]}
	} else {
		sc.meta.Labels, sc.meta.ClassIDs = sc.labels.String(), sc.ids
	}
	return sc, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Close frees the model.
func (sc *Scorer) Close() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.model != nil {
		sc.head.Free()
		sc.model.Close()
		sc.model, sc.head = nil, nil
	}
}

// Info describes the scorer (model, adapter, prompt, label ids, options).
func (sc *Scorer) Info() Info { return sc.meta }

func (sc *Scorer) info() Info { return sc.meta }

// Tokenizer is the model's tokenizer.
func (sc *Scorer) Tokenizer() *tokenizer.Tokenizer { return sc.tok }

// Encode returns the prompt ids of one review exactly as training built them
// (cleaned as prep cleans, then task.BuildPrompt with the adapter's prompt and
// the answer's length reserved).
func (sc *Scorer) Encode(text string) ([]int, error) {
	return sc.encode(cleanText(text))
}

func (sc *Scorer) encode(clean string) ([]int, error) {
	return task.BuildPrompt(sc.tok, sc.spec, clean, sc.maxLen, sc.answerLen)
}

// cleanText applies prep's cleaning, so raw reviews reach the model as the
// training data did (prep cleaned it before finetune saw it).
func cleanText(s string) string {
	c, _ := prep.CleanText(s)
	return c
}

// Score scores texts: rows are sorted by token length and cut into batches
// of at most BatchSize rows and BatchTokens padded tokens to minimise padding;
// results come back in input order.
func (sc *Scorer) Score(texts []string) ([]Score, error) {
	clean, err := cleanAll(texts)
	if err != nil {
		return nil, err
	}
	scores, _, err := sc.scoreTexts(clean, nil)
	return scores, err
}

// ScoreStats is Score, also returning token and padding counts; progress (if not nil) hears the
// rows done after each batch.
func (sc *Scorer) ScoreStats(texts []string, progress func(rows int)) ([]Score, TokenStats, error) {
	clean, err := cleanAll(texts)
	if err != nil {
		return nil, TokenStats{}, err
	}
	return sc.scoreTexts(clean, progress)
}

// Generate decodes up to maxNew tokens greedily for each text and parses the
// first 0 or 1 of the answer: the generation approach, for comparison.
func (sc *Scorer) Generate(texts []string, maxNew int) ([]Generation, error) {
	clean, err := cleanAll(texts)
	if err != nil {
		return nil, err
	}
	gens, _, err := sc.generateTexts(clean, maxNew, nil)
	return gens, err
}

// ErrEmptyText is returned for a text that is empty after cleaning.
var ErrEmptyText = errors.New("empty text")

// TextError is a problem with one text of a Score or Generate call.
type TextError struct {
	Index int // 0-based
	Err   error
}

func (e *TextError) Error() string { return fmt.Sprintf("text %d: %v", e.Index+1, e.Err) }
func (e *TextError) Unwrap() error { return e.Err }

func cleanAll(texts []string) ([]string, error) {
	out := make([]string, len(texts))
	for i, t := range texts {
		out[i] = cleanText(t)
		if out[i] == "" {
			return nil, &TextError{i, ErrEmptyText}
		}
	}
	return out, nil
}

// lengthOrder encodes the texts and returns their ids and an order sorted by
// length (ties in input order), so that consecutive rows batch with little padding.
func (sc *Scorer) lengthOrder(texts []string) ([][]int, []int, error) {
	ids := make([][]int, len(texts))
	for i, t := range texts {
		var err error
		if ids[i], err = sc.encode(t); err != nil {
			return nil, nil, &TextError{i, err}
		}
	}
	order := make([]int, len(texts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(ids[order[a]]) < len(ids[order[b]]) })
	return ids, order, nil
}

func (sc *Scorer) scoreTexts(texts []string, progress func(int)) ([]Score, TokenStats, error) {
	var st TokenStats
	ids, order, err := sc.lengthOrder(texts)
	if err != nil {
		return nil, st, err
	}
	out := make([]Score, len(texts))
	batch := make([][]int, 0, sc.batchSize)
	for _, run := range batches(ids, order, sc.batchSize, sc.batchTokens) {
		batch = batch[:0]
		for _, i := range run {
			batch = append(batch, ids[i])
		}
		scores, bst, err := sc.ScoreIDs(batch)
		if err != nil {
			return nil, st, err
		}
		st.add(bst)
		for k, i := range run {
			out[i] = scores[k]
		}
		if progress != nil {
			progress(len(run))
		}
	}
	return out, st, nil
}

// ScoreIDs runs one forward pass over prompt rows (as from Encode) and reads
// the K label logits at each row's last position: the final hidden state
// there times the lm_head's K label rows, never the whole vocabulary.
func (sc *Scorer) ScoreIDs(rows [][]int) ([]Score, TokenStats, error) {
	st := batchStats(rows)
	var logits []float32
	err := sc.withModel(func(m *llm.Model) error {
		s := torch.NewScope()
		defer s.Close()
		b := llm.Batch{IDs: rows}
		lr, lp := b.LastPositions()
		last, err := m.HiddenAt(s, b, lr, lp, false) // the last layer runs at the last tokens only
		if err != nil {
			return err
		}
		classes := s.To(s.Matmul(s.ToDType(last, torch.Float32), sc.head), torch.Float32, torch.CPU)
		if err := s.Err(); err != nil {
			return err
		}
		logits, err = classes.Float32s()
		return err
	})
	if err != nil {
		return nil, st, fmt.Errorf("score batch of %d rows (%d tokens): %w", len(rows), st.Tokens, err)
	}
	out := make([]Score, len(rows))
	K := len(sc.ids)
	for r := range rows {
		row := logits[K*r : K*r+K]
		for _, l := range row {
			if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
				return nil, st, fmt.Errorf("score: the model gave label logits %v (not finite)", row)
			}
		}
		if sc.labels.IsBinary() {
			out[r] = sc.scoreOf(float64(row[1]), float64(row[0]))
			continue
		}
		var err error
		if out[r], err = classScore(row); err != nil {
			return nil, st, err
		}
	}
	return out, st, nil
}

// labelHead returns the output projection restricted to the K label
// tokens, [H, K] in f32 on the model's device: column c is token ids[c]'s row
// of the lm_head. It reads them through Logits on
// the identity (e_k·Wᵀ is row k of Wᵀ, exactly), a block of rows at a time,
// so an adapter's lm_head (modules_to_save) is honoured and the model's
// internals stay in llm.
func labelHead(m *llm.Model, ids []int) (*torch.Tensor, error) {
	H := m.Config().HiddenSize
	const block = 64
	var head *torch.Tensor
	err := torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		idx := make([]int64, len(ids))
		for c, id := range ids {
			idx[c] = int64(id)
		}
		labels := s.ToDevice(s.FromInt64(idx, int64(len(idx))), m.Device())
		var parts []*torch.Tensor
		for k0 := 0; k0 < H; k0 += block {
			n := min(block, H-k0)
			basis := make([]float32, n*H)
			for j := range n {
				basis[j*H+k0+j] = 1
			}
			e := s.To(s.FromFloat32(basis, int64(n), int64(H)), m.DType(), m.Device())
			if err := s.Err(); err != nil {
				return err
			}
			logits, err := m.Logits(s, e) // [n, V]
			if err != nil {
				return err
			}
			parts = append(parts, s.ToDType(s.IndexSelect(logits, 1, labels), torch.Float32))
		}
		head = s.Keep(s.Contiguous(s.Cat(parts, 0)))
		return s.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("label head: %w", err)
	}
	return head, nil
}

// scoreOf turns the two label logits into a Score. sigmoid(l1 − l0) is the
// softmax over the two label tokens, written so that neither exp overflows.
func (sc *Scorer) scoreOf(l1, l0 float64) Score {
	p := sigmoid(l1 - l0)
	pred := 0
	if p >= sc.threshold {
		pred = 1
	}
	return Score{Pred: pred, Prob: p, Logit1: l1, Logit0: l0}
}

// classScore is a K-class Score from the K label logits: their softmax, and the most probable
// class (the first on a tie).
func classScore(logits []float32) (Score, error) {
	cols := make([]int, len(logits))
	for c := range cols {
		cols[c] = c
	}
	probs, err := task.ClassProbs(logits, cols)
	if err != nil {
		return Score{}, err
	}
	sc := Score{Probs: probs, Logits: make([]float64, len(logits))}
	for c, l := range logits {
		sc.Logits[c] = float64(l)
		if probs[c] > probs[sc.Pred] {
			sc.Pred = c
		}
	}
	sc.Prob = probs[sc.Pred]
	return sc, nil
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func batchStats(rows [][]int) TokenStats {
	st := TokenStats{Rows: int64(len(rows)), Batches: 1}
	T := 0
	for _, r := range rows {
		st.Tokens += int64(len(r))
		T = max(T, len(r))
	}
	st.Padding = int64(T*len(rows)) - st.Tokens
	return st
}

// withModel runs f with the model under the lock, with autograd off.
func (sc *Scorer) withModel(f func(m *llm.Model) error) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.model == nil {
		return errors.New("scorer is closed")
	}
	return torch.NoGrad(func() error { return f(sc.model) })
}

func (sc *Scorer) generateTexts(texts []string, maxNew int, progress func(int)) ([]Generation, TokenStats, error) {
	var st TokenStats
	if maxNew < 1 {
		return nil, st, fmt.Errorf("generate: want at least 1 new token, got %d", maxNew)
	}
	ids, order, err := sc.lengthOrder(texts)
	if err != nil {
		return nil, st, err
	}
	out := make([]Generation, len(texts))
	for _, run := range batches(ids, order, sc.batchSize, sc.batchTokens) {
		batch := make([][]int, 0, len(run))
		for _, i := range run {
			batch = append(batch, ids[i])
		}
		gens, bst, err := sc.GenerateIDs(batch, maxNew)
		if err != nil {
			return nil, st, err
		}
		st.add(bst)
		for k, i := range run {
			out[i] = gens[k]
		}
		if progress != nil {
			progress(len(run))
		}
	}
	return out, st, nil
}

// GenerateIDs decodes greedily from prompt rows: each step re-runs the whole
// sequence (no KV cache — this mode exists for comparison) and appends the
// argmax over the full vocabulary, until an end-of-turn token or maxNew tokens.
func (sc *Scorer) GenerateIDs(rows [][]int, maxNew int) ([]Generation, TokenStats, error) {
	var st TokenStats
	seqs := make([][]int, len(rows))
	for i, r := range rows {
		seqs[i] = append(make([]int, 0, len(r)+maxNew), r...)
	}
	gen := make([][]int, len(rows))
	active := make([]int, len(rows))
	for i := range active {
		active[i] = i
	}
	for step := 0; step < maxNew && len(active) > 0; step++ {
		batch := make([][]int, len(active))
		for k, i := range active {
			batch[k] = seqs[i]
		}
		st.add(batchStats(batch))
		var next []int64
		err := sc.withModel(func(m *llm.Model) error {
			s := torch.NewScope()
			defer s.Close()
			b := llm.Batch{IDs: batch}
			lr, lp := b.LastPositions()
			h, err := m.HiddenAt(s, b, lr, lp, false)
			if err != nil {
				return err
			}
			last, err := m.Logits(s, h)
			if err != nil {
				return err
			}
			am := s.ToDevice(s.Argmax(last, 1, false), torch.CPU)
			if err := s.Err(); err != nil {
				return err
			}
			next, err = am.Int64s()
			return err
		})
		if err != nil {
			return nil, st, fmt.Errorf("generate step %d over %d rows: %w", step+1, len(batch), err)
		}
		still := active[:0]
		for k, i := range active {
			t := int(next[k])
			if sc.isStop(t) {
				continue
			}
			gen[i] = append(gen[i], t)
			seqs[i] = append(seqs[i], t)
			still = append(still, i)
		}
		active = still
	}
	st.Rows, st.Batches = int64(len(rows)), 1
	out := make([]Generation, len(rows))
	for i, g := range gen {
		text, err := sc.tok.Decode(g)
		if err != nil {
			return nil, st, fmt.Errorf("generate: decode row %d: %w", i+1, err)
		}
		out[i] = Generation{Text: text, Pred: parseAnswer(sc.labels, text), Tokens: len(g)}
	}
	return out, st, nil
}

func (sc *Scorer) isStop(t int) bool {
	for _, s := range sc.stop {
		if t == s {
			return true
		}
	}
	return false
}

// parseAnswer returns the class of the first answer of ls in a generated reply (task.FindAnswer), or NoAnswer.
func parseAnswer(ls task.Labels, text string) int {
	if class, ok := ls.FindAnswer(text); ok {
		return class
	}
	return NoAnswer
}
