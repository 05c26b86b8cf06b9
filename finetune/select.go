package finetune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

// Metrics --metric-for-best can choose from, as Hugging Face's Trainer names them.
const (
	MetricEvalLoss      = "eval_loss"       // mean answer-token cross-entropy (lower is better)
	MetricEvalAccuracy  = "eval_accuracy"   // share of rows whose larger label logit is the label
	MetricEvalLabelLoss = "eval_label_loss" // K-way cross-entropy over the label logits (lower is better)
)

// MetricsForBest lists the valid --metric-for-best values.
var MetricsForBest = []string{MetricEvalLoss, MetricEvalAccuracy, MetricEvalLabelLoss}

func validMetricForBest(m string) bool {
	for _, v := range MetricsForBest {
		if m == v {
			return true
		}
	}
	return false
}

// valCarveCap bounds a validation slice carved from train: enough rows to rank
// checkpoints (±1.6 points of accuracy at 1000), few enough to evaluate often.
const valCarveCap = 1000

// carveValidation holds out a seeded, stratified share of the training
// examples for evaluation when the data has no validation split, so that
// model selection never looks at the test set. Each label gives its own share
// (at least one row when it has two or more); the rest keep their order.
// It returns exs unchanged and no validation rows when too few rows are left.
func carveValidation(exs []example, ratio float64, seed uint64) (train, val []example) {
	labels := make([]int, len(exs))
	for i, e := range exs {
		labels[i] = e.label
	}
	held := heldOutRows(labels, ratio, seed)
	if held == nil {
		return exs, nil
	}
	for i, e := range exs {
		if held[i] {
			val = append(val, e)
		} else {
			train = append(train, e)
		}
	}
	return train, val
}

// heldOutRows chooses carveValidation's rows from the rows' labels (nil: none held out).
func heldOutRows(rowLabels []int, ratio float64, seed uint64) map[int]bool {
	n := min(int(math.Round(ratio*float64(len(rowLabels)))), valCarveCap)
	if ratio <= 0 || n < 2 || len(rowLabels)-n < 2 {
		return nil
	}
	byLabel := map[int][]int{}
	for i, l := range rowLabels {
		byLabel[l] = append(byLabel[l], i)
	}
	labels := make([]int, 0, len(byLabel))
	for l := range byLabel {
		labels = append(labels, l)
	}
	sort.Ints(labels)
	// Largest remainders: each label's share of n, summing to n exactly.
	share := make([]int, len(labels))
	frac := make([]float64, len(labels))
	left := n
	for j, l := range labels {
		q := float64(n) * float64(len(byLabel[l])) / float64(len(rowLabels))
		share[j], frac[j] = int(q), q-math.Floor(q)
		left -= share[j]
	}
	order := make([]int, len(labels))
	for j := range order {
		order[j] = j
	}
	sort.SliceStable(order, func(a, b int) bool { return frac[order[a]] > frac[order[b]] })
	for _, j := range order[:left] {
		share[j]++
	}
	rng := rand.New(rand.NewPCG(seed, 0x5e1ec7)) // its own stream: the batches' draws stay as they were
	held := map[int]bool{}
	for j, l := range labels {
		idx := byLabel[l]
		k := share[j]
		if k == 0 && len(idx) >= 2 {
			k = 1
		}
		k = min(k, len(idx)-1) // every label keeps a training row
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx[:k] {
			held[i] = true
		}
	}
	return held
}

// labelTally adds up, over a step's training rows, the K-way cross-entropy
// over the label logits at the label position, from the hidden states the loss
// uses (no gradient, and only the K lm_head rows: no [N, V] product).
type labelTally struct {
	ids  []int // the label tokens, in class order
	sum  float64
	rows int
	// vals, when set, holds each micro-batch's label logits on the device until mean reads them all
	// at once (a training step reads nothing back before its log line); nil reads them at once.
	vals    *torch.Scope
	pending []*torch.Tensor
	labels  []int // the pending rows' classes
}

// add scores exs from h, one row per answer token (answerPositions' order).
func (t *labelTally) add(s *torch.Scope, model *llm.Model, h *torch.Tensor, exs []example) error {
	if t == nil {
		return nil
	}
	return torch.NoGrad(func() error {
		classes, err := model.LogitsOf(s, s.IndexSelect(h, 0, t.labelRows(s, model, exs)), t.ids)
		if err != nil {
			return err
		}
		return t.tally(classes, exs)
	})
}

// addLogits scores exs from full logits [N, V], one row per answer token.
func (t *labelTally) addLogits(s *torch.Scope, model *llm.Model, logits *torch.Tensor, exs []example) error {
	if t == nil {
		return nil
	}
	return torch.NoGrad(func() error {
		cols := s.ToDevice(s.FromInt64(int64s(t.ids), int64(len(t.ids))), model.Device())
		classes := s.ToDType(s.IndexSelect(s.IndexSelect(logits, 0, t.labelRows(s, model, exs)), 1, cols), torch.Float32)
		return t.tally(classes, exs)
	})
}

// labelRows indexes each example's first answer row: the position that predicts its label.
func (t *labelTally) labelRows(s *torch.Scope, model *llm.Model, exs []example) *torch.Tensor {
	idx, row := make([]int64, len(exs)), 0
	for i, e := range exs {
		idx[i] = int64(row)
		row += e.answerLen()
	}
	return s.ToDevice(s.FromInt64(idx, int64(len(idx))), model.Device())
}

func (t *labelTally) tally(classes *torch.Tensor, exs []example) error {
	if t.vals != nil {
		t.pending = append(t.pending, t.vals.Adopt(classes))
		for _, e := range exs {
			t.labels = append(t.labels, e.label)
		}
		return nil
	}
	v, err := classes.Float32s()
	if err != nil {
		return err
	}
	K := len(t.ids)
	for i, e := range exs {
		t.sum += labelCrossEntropy(v[K*i:K*i+K], e.label)
	}
	t.rows += len(exs)
	return nil
}

// mean is the step's label loss over all ranks' rows.
func (t *labelTally) mean(d *dist) (float64, error) {
	if err := t.readPending(); err != nil {
		return 0, err
	}
	sums := []float64{t.sum, float64(t.rows)}
	if err := d.sum(sums); err != nil {
		return 0, err
	}
	return sums[0] / max(sums[1], 1), nil
}

// readPending tallies the label logits kept on the device, in one read.
func (t *labelTally) readPending() error {
	if len(t.pending) == 0 {
		return nil
	}
	all := t.vals.Cat(t.pending, 0)
	v, err := all.Float32s()
	if err == nil {
		err = t.vals.Err()
	}
	if err != nil {
		return err
	}
	K := len(t.ids)
	for i, label := range t.labels {
		t.sum += labelCrossEntropy(v[K*i:K*i+K], label)
	}
	t.rows += len(t.labels)
	t.pending, t.labels = nil, nil
	return nil
}

// metricOf reads metric off an evaluation; higher is better when the bool says so.
func metricOf(metric string, r *EvalResult) (float64, bool) {
	switch metric {
	case MetricEvalAccuracy:
		return r.Accuracy, true
	case MetricEvalLabelLoss:
		return r.LabelLoss, false
	default:
		return r.Loss, false
	}
}

// selection follows the evaluations of a run: the best one so far and how
// many evaluations since have not beaten it (early stopping's patience).
type selection struct {
	Metric string               `json:"metric"`
	Best   *task.BestCheckpoint `json:"best,omitempty"`
	Eval   *EvalResult          `json:"eval,omitempty"` // the best evaluation in full
	Since  int                  `json:"evals_since_best"`
}

// observe records the evaluation r (at r.Step) and says whether it is a new best.
// The untuned model (step 0) is not a candidate.
func (sel *selection) observe(r *EvalResult) bool {
	if r.Step == 0 {
		return false
	}
	v, higher := metricOf(sel.Metric, r)
	if sel.Best != nil && !(higher && v > sel.Best.Value) && !(!higher && v < sel.Best.Value) {
		sel.Since++
		return false
	}
	rc := *r
	sel.Best, sel.Eval, sel.Since = &task.BestCheckpoint{Step: r.Step, Metric: sel.Metric, Value: v}, &rc, 0
	return true
}

// stop says whether patience has run out.
func (sel *selection) stop(patience int) bool { return patience > 0 && sel.Since >= patience }

// isBest says whether step holds the best evaluation so far.
func (sel *selection) isBest(step int) bool { return sel.Best != nil && sel.Best.Step == step }

func (sel *selection) String() string {
	if sel.Best == nil {
		return "no evaluation yet"
	}
	return fmt.Sprintf("%s %.4f at step %d", sel.Metric, sel.Best.Value, sel.Best.Step)
}

func metricForBest(cfg Config) string {
	if cfg.MetricForBest == "" {
		return MetricEvalLoss
	}
	return cfg.MetricForBest
}

// checkpointDir is RUNDIR/checkpoints/step-N.
func checkpointDir(out string, step int) string {
	return filepath.Join(out, DirCheckpoint, fmt.Sprintf("step-%d", step))
}
