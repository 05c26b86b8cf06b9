package predict

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sentitune/sentitune/internal/task"
)

// serveClasses is the class names of a K-class scorer, nil for binary (or an unreadable set,
// which NewScorer has already refused).
func serveClasses(info Info) []string {
	if info.Labels == "" {
		return nil
	}
	ls, err := task.ParseLabels(info.Labels)
	if err != nil {
		return nil
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return names
}

// prediction is a Score as the server answers it.
func (s *Server) prediction(sc Score) Prediction {
	if s.classes == nil || sc.Probs == nil {
		return Prediction{Pred: sc.Pred, Prob: sc.Prob}
	}
	p := Prediction{Pred: sc.Pred, Prob: sc.Prob, Class: s.classes[sc.Pred], Probs: make(map[string]float64, len(s.classes))}
	for c, name := range s.classes {
		p.Probs[name] = sc.Probs[c]
	}
	return p
}

// classPrediction is a K-class prediction on the wire.
type classPrediction struct {
	Pred  string             `json:"pred"`
	Probs map[string]float64 `json:"probs"`
}

// MarshalJSON writes {"pred": 1, "prob": 0.9} for the binary task (as always) and
// {"pred": "neutral", "probs": {"negative": 0.1, ...}} for K classes.
func (p Prediction) MarshalJSON() ([]byte, error) {
	if p.Probs != nil {
		return json.Marshal(classPrediction{Pred: p.Class, Probs: p.Probs})
	}
	type binary Prediction // without this method
	return json.Marshal(binary(p))
}

// UnmarshalJSON reads either shape (clients in Go, tests).
func (p *Prediction) UnmarshalJSON(b []byte) error {
	var raw struct {
		Pred  json.RawMessage    `json:"pred"`
		Prob  float64            `json:"prob"`
		Probs map[string]float64 `json:"probs"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*p = Prediction{Prob: raw.Prob, Probs: raw.Probs}
	if bytes.HasPrefix(bytes.TrimSpace(raw.Pred), []byte(`"`)) {
		return json.Unmarshal(raw.Pred, &p.Class)
	}
	if len(raw.Pred) == 0 {
		return fmt.Errorf("prediction %s has no pred", b)
	}
	return json.Unmarshal(raw.Pred, &p.Pred)
}
