package finetune

import (
	"fmt"
	"math"

	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// flagLabels is the label set --labels or --label-map names (prep's spellings); nil when neither.
func (c Config) flagLabels() (task.Labels, error) {
	ls, err := prep.LabelSetOf(c.Labels, c.LabelMap)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	return ls, nil
}

// labelSetOf is the run's label set: --labels/--label-map, else what the prep folder's
// stats.json records, else Binary. Flags that contradict the prep folder are refused, since
// its answers were written for its own set.
func labelSetOf(cfg Config) (task.Labels, error) {
	flag, err := cfg.flagLabels()
	if err != nil {
		return nil, err
	}
	var prepped task.Labels
	if cfg.Data != "" {
		if prepped, err = prep.ReadLabelSet(cfg.Data); err != nil {
			return nil, err
		}
	}
	switch {
	case flag != nil && prepped != nil && flag.String() != prepped.String():
		return nil, fmt.Errorf("labels %s differ from the prep folder %s's label set %s (drop --labels/--label-map, or prep again with them)", flag, cfg.Data, prepped)
	case flag != nil:
		return flag, nil
	case prepped != nil:
		return prepped, nil
	}
	return task.Binary, nil
}

// labelTokenIDs is each class's answer token id, in class order; a K-class answer must be
// one token, since a prediction reads one next-token logit per class.
func labelTokenIDs(ls task.Labels, tok *tokenizer.Tokenizer) ([]int, error) {
	if !ls.IsBinary() {
		if err := ls.CheckSingleTokens(tok.Encode); err != nil {
			return nil, fmt.Errorf("labels: %w", err)
		}
	}
	return ls.TokenIDs(tok)
}

// labelCrossEntropy is −log softmax(logits)[label] over one row of label logits, computed
// without overflow; two classes keep the binary form, bit for bit.
func labelCrossEntropy(logits []float32, label int) float64 {
	if len(logits) == 2 {
		d := float64(logits[1]) - float64(logits[0]) // log-odds of class 1
		if label == 1 {
			d = -d
		}
		return softplus(d) // −log σ(−d) = log(1 + e^d)
	}
	top := math.Inf(-1)
	for _, l := range logits {
		top = math.Max(top, float64(l))
	}
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(float64(l) - top)
	}
	return top + math.Log(sum) - float64(logits[label])
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// argmax is the class of the largest logit, the first on a tie (binary: 1 only when l1 > l0).
func argmax(logits []float32) int {
	best := 0
	for c, l := range logits {
		if l > logits[best] {
			best = c
		}
	}
	return best
}

// int64s is ids as a tensor's values.
func int64s(ids []int) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}
