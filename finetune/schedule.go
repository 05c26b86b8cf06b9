package finetune

import "math"

// Schedule is the learning rate of each optimizer step: linear warmup from 0,
// then cosine or linear decay to 0, or constant. It reproduces Hugging Face's
// get_{cosine,linear,constant}_schedule_with_warmup (what LLaMA-Factory uses),
// where step s (0-based) trains with lr·λ(s).
type Schedule struct {
	Kind   string  // cosine | linear | constant
	Peak   float64 // the configured lr
	Total  int     // optimizer steps in the run
	Warmup int     // warmup steps: ceil(Total × warmup ratio), as Hugging Face
}

// NewSchedule builds the schedule of a run of total steps.
func NewSchedule(kind string, peak float64, total int, warmupRatio float64) Schedule {
	return Schedule{Kind: kind, Peak: peak, Total: total, Warmup: int(math.Ceil(float64(total) * warmupRatio))}
}

// LR is the learning rate of step s (0-based).
func (sc Schedule) LR(s int) float64 {
	return sc.Peak * sc.factor(s)
}

func (sc Schedule) factor(s int) float64 {
	if s < sc.Warmup {
		return float64(s) / float64(max(1, sc.Warmup))
	}
	rest := float64(max(1, sc.Total-sc.Warmup))
	switch sc.Kind {
	case "linear":
		return max(0, float64(sc.Total-s)/rest)
	case "cosine":
		progress := float64(s-sc.Warmup) / rest
		return max(0, 0.5*(1+math.Cos(math.Pi*progress)))
	default: // constant
		return 1
	}
}
