package finetune

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// optimizerFormat tags optimizer.safetensors, so a later layout is refused rather than misread.
const optimizerFormat = "sentitune-adamw-v1"

// optimizerGroup is one parameter group as torch's state_dict keeps it, with parameter names for indexes.
type optimizerGroup struct {
	LR          float64  `json:"lr"`
	WeightDecay float64  `json:"weight_decay"`
	Params      []string `json:"params"`
}

// saveOptimizer writes opt's state by parameter name, as PEFT/accelerate keep named state:
// tensors NAME.exp_avg and NAME.exp_avg_sq (F32: lossless for the f32/bf16/f16 moments), and in
// the metadata each parameter's step and its group's hyperparameters. It goes through Go file
// writes, so a full disk is an ordinary error naming the file.
func saveOptimizer(path string, opt *torch.AdamW, params []llm.NamedParam) error {
	s := torch.NewScope()
	defer s.Close()
	groups := make([]optimizerGroup, opt.Groups())
	for g := range groups {
		pg := opt.Group(g)
		groups[g] = optimizerGroup{LR: pg.LR, WeightDecay: pg.WeightDecay, Params: []string{}}
	}
	steps := map[string]int64{}
	var tensors []llm.TensorData
	for _, p := range params {
		g := opt.GroupOf(p.T)
		if g < 0 {
			return fmt.Errorf("save optimizer state: %s is not one of the optimizer's parameters", p.Name)
		}
		groups[g].Params = append(groups[g].Params, p.Name)
		st, err := opt.State(s, p.T)
		if err != nil {
			return fmt.Errorf("save optimizer state: %s: %w", p.Name, err)
		}
		steps[p.Name] = st.Step
		if st.ExpAvg == nil {
			continue // no step yet: nothing but the step count to keep
		}
		for _, m := range []struct {
			suffix string
			t      *torch.Tensor
		}{{".exp_avg", st.ExpAvg}, {".exp_avg_sq", st.ExpAvgSq}} {
			data, err := m.t.Bytes(torch.Float32)
			if err != nil {
				return fmt.Errorf("save optimizer state: %s%s: %w", p.Name, m.suffix, err)
			}
			tensors = append(tensors, llm.TensorData{Name: p.Name + m.suffix, DType: "F32", Shape: m.t.Shape(), Data: data})
		}
	}
	b1, b2 := opt.Betas()
	gj, _ := json.Marshal(groups)
	sj, _ := json.Marshal(steps)
	meta := map[string]string{
		"format":       optimizerFormat,
		"optimizer":    "AdamW",
		"betas":        fmt.Sprintf("[%s,%s]", ftoa(b1), ftoa(b2)),
		"eps":          ftoa(opt.Eps()),
		"param_groups": string(gj),
		"step":         string(sj),
	}
	if err := llm.WriteSafetensors(path, tensors, meta); err != nil {
		return fmt.Errorf("save optimizer state: %w", err)
	}
	return nil
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// loadOptimizer restores opt's state from a checkpoint's optimizer.safetensors, matching by
// parameter name: a name missing or unexpected, a parameter in another group or a moment of
// another shape is an error, never moments loaded into the wrong tensor.
func loadOptimizer(ckpt string, opt *torch.AdamW, params []llm.NamedParam) error {
	path := filepath.Join(ckpt, fileOptimizer)
	fail := func(err error) error { return fmt.Errorf("resume from %s: %s: %w", ckpt, fileOptimizer, err) }
	w, err := llm.OpenSafetensors(path)
	if err != nil {
		return fmt.Errorf("resume from %s: %w", ckpt, err)
	}
	defer w.Close()
	meta := w.Metadata()
	if meta["format"] != optimizerFormat {
		return fail(fmt.Errorf("format %q, want %q", meta["format"], optimizerFormat))
	}
	var groups []optimizerGroup
	var steps map[string]int64
	if err := json.Unmarshal([]byte(meta["param_groups"]), &groups); err != nil {
		return fail(fmt.Errorf("metadata param_groups: %w", err))
	}
	if err := json.Unmarshal([]byte(meta["step"]), &steps); err != nil {
		return fail(fmt.Errorf("metadata step: %w", err))
	}
	groupOf := map[string]int{}
	for g, pg := range groups {
		for _, name := range pg.Params {
			groupOf[name] = g
		}
	}
	now := map[string]bool{}
	var missing, moved, bad []string
	for _, p := range params {
		now[p.Name] = true
		g, ok := groupOf[p.Name]
		if !ok {
			missing = append(missing, p.Name)
			continue
		}
		if want := opt.GroupOf(p.T); g != want {
			moved = append(moved, fmt.Sprintf("%s (group %d in the file, %d now)", p.Name, g, want))
		}
		if steps[p.Name] == 0 {
			continue
		}
		for _, suffix := range []string{".exp_avg", ".exp_avg_sq"} {
			ti, ok := w.Get(p.Name + suffix)
			switch {
			case !ok:
				bad = append(bad, p.Name+suffix+" missing")
			case ti.DType != "F32":
				bad = append(bad, fmt.Sprintf("%s%s is %s, want F32", p.Name, suffix, ti.DType))
			case !slices.Equal(ti.Shape, p.T.Shape()):
				bad = append(bad, fmt.Sprintf("%s%s has shape %v, the parameter %v", p.Name, suffix, ti.Shape, p.T.Shape()))
			}
		}
	}
	var unexpected []string
	for name := range groupOf {
		if !now[name] {
			unexpected = append(unexpected, name)
		}
	}
	sort.Strings(unexpected)
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d parameters have no state: %s", len(missing), strings.Join(firstN(missing, 5), ", ")))
	}
	if len(unexpected) > 0 {
		problems = append(problems, fmt.Sprintf("%d parameters of the file are not trained now: %s", len(unexpected), strings.Join(firstN(unexpected, 5), ", ")))
	}
	if len(moved) > 0 {
		problems = append(problems, "parameters in another group: "+strings.Join(firstN(moved, 5), ", "))
	}
	problems = append(problems, firstN(bad, 5)...)
	if len(problems) > 0 {
		return fail(fmt.Errorf("does not match the model's trainable parameters: %s", strings.Join(problems, "; ")))
	}
	s := torch.NewScope()
	defer s.Close()
	for _, p := range params {
		step := steps[p.Name]
		if step == 0 {
			continue
		}
		m1, _ := w.Get(p.Name + ".exp_avg")
		m2, _ := w.Get(p.Name + ".exp_avg_sq")
		st := torch.AdamWState{Step: step,
			ExpAvg:   s.FromBytes(m1.Data, torch.Float32, m1.Shape, torch.CPU),
			ExpAvgSq: s.FromBytes(m2.Data, torch.Float32, m2.Shape, torch.CPU)}
		if err := s.Err(); err != nil {
			return fail(fmt.Errorf("%s: %w", p.Name, err))
		}
		if err := opt.SetState(p.T, st); err != nil {
			return fail(fmt.Errorf("%s: %w", p.Name, err))
		}
		st.ExpAvg.Free()
		st.ExpAvgSq.Free()
	}
	return nil
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("… (%d more)", len(s)-n))
}
