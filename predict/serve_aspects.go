package predict

import (
	"github.com/sentitune/sentitune/internal/task"
)

// serveAspects is an aspect adapter's contract as the server uses it: each text becomes one
// row per aspect, asking about that aspect, and the answer groups them back per text.
type serveAspects struct {
	template string
	names    []string
	enc      aspectEncoder
}

// aspectEncoder builds a prompt with another instruction; *Scorer implements it.
type aspectEncoder interface {
	encodeServeAspect(instruction, clean string, plain bool) ([]int, bool, error)
}

// serveAspectsOf returns the scorer's aspects, or nil for a scorer of one label per text.
func serveAspectsOf(sc serveScorer) *serveAspects {
	enc, ok := sc.(aspectEncoder)
	if !ok {
		return nil
	}
	info := sc.info()
	names, err := AdapterAspects(info.Adapter)
	if err != nil || len(names) == 0 {
		return nil
	}
	return &serveAspects{template: info.Instruction, names: names, enc: enc}
}

// encodeText turns one cleaned text into its prompt rows: one, or one per aspect.
func (s *Server) encodeText(clean string) (rows [][]int, truncated bool, err error) {
	plain := !s.cfg.ControlTokens
	if s.aspects == nil {
		ids, cut, err := s.sc.encodeServe(clean, plain)
		return [][]int{ids}, cut, err
	}
	for _, a := range s.aspects.names {
		ids, cut, err := s.aspects.enc.encodeServeAspect(task.RenderAspect(s.aspects.template, a), clean, plain)
		if err != nil {
			return nil, false, err
		}
		rows, truncated = append(rows, ids), truncated || cut
	}
	return rows, truncated, nil
}

// AspectPredictResponse is the answer of an aspect adapter: per text, per aspect, the
// predicted label's name and each label's probability.
type AspectPredictResponse struct {
	Predictions []AspectPrediction `json:"predictions"`
}

// AspectPrediction is one text's answer per aspect.
type AspectPrediction struct {
	Aspects map[string]classPrediction `json:"aspects"`
}

// aspectResponse groups the scores of texts × aspects rows (text-major) per text.
func (s *Server) aspectResponse(scores []Score) AspectPredictResponse {
	n := len(s.aspects.names)
	resp := AspectPredictResponse{Predictions: make([]AspectPrediction, len(scores)/n)}
	for i := range resp.Predictions {
		p := AspectPrediction{Aspects: make(map[string]classPrediction, n)}
		for k, a := range s.aspects.names {
			sc := scores[i*n+k]
			probs := make(map[string]float64, len(task.AspectLabels))
			for c, l := range task.AspectLabels {
				probs[l.Name] = sc.Probs[c]
			}
			p.Aspects[a] = classPrediction{Pred: task.AspectLabels[sc.Pred].Name, Probs: probs}
		}
		resp.Predictions[i] = p
	}
	return resp
}

// encodeServeAspect is encodeServe with the instruction of one aspect.
func (sc *Scorer) encodeServeAspect(instruction, clean string, plain bool) ([]int, bool, error) {
	spec := sc.spec
	spec.Instruction, spec.PlainText = instruction, plain
	return encodeBounded(sc.tok, spec, clean, sc.maxLen, sc.answerLen)
}
