package finetune

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// The optimizer state goes by parameter name: a second optimizer whose parameters come in
// another order gets every moment on the right tensor, and a file that does not match the
// trainable parameters (names, shapes, groups) is refused, naming the parameter.
func TestOptimizerStateByName(t *testing.T) {
	model, batch, params, opt := benchSetup(t, 8, nil)
	defer model.Close()
	defer opt.Close()
	named := model.TrainableParams()
	answers := 0
	for _, e := range batch {
		answers += e.answerLen()
	}
	for range 2 {
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		if _, err := trainMicroBatch(model, batch, answers, false, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
	}
	ckpt := t.TempDir()
	if err := saveOptimizer(filepath.Join(ckpt, fileOptimizer), opt, named); err != nil {
		t.Fatal(err)
	}
	w, err := llm.OpenSafetensors(filepath.Join(ckpt, fileOptimizer))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(w.Names()); got != 2*len(named) || w.Metadata()["format"] != optimizerFormat {
		t.Fatalf("%d tensors, metadata %v", got, w.Metadata())
	}
	if _, ok := w.Get(named[3].Name + ".exp_avg_sq"); !ok {
		t.Fatalf("no %s.exp_avg_sq among %v", named[3].Name, w.Names()[:4])
	}
	w.Close()

	s := torch.NewScope()
	defer s.Close()
	stateBytes := func(o *torch.AdamW, p *torch.Tensor) (int64, []byte) {
		st, err := o.State(s, p)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := st.ExpAvg.Bytes(torch.Float32)
		b, _ := st.ExpAvgSq.Bytes(torch.Float32)
		return st.Step, append(a, b...)
	}
	// Reversed parameter order: positional state would land on the wrong tensors.
	reversed := slices.Clone(params)
	slices.Reverse(reversed)
	opt2, err := torch.NewAdamW([]torch.ParamGroup{{Params: reversed, LR: 1e-3}}, 0.9, 0.999, 1e-8)
	if err != nil {
		t.Fatal(err)
	}
	defer opt2.Close()
	if err := loadOptimizer(ckpt, opt2, named); err != nil {
		t.Fatal(err)
	}
	for _, p := range named {
		step1, b1 := stateBytes(opt, p.T)
		step2, b2 := stateBytes(opt2, p.T)
		if step1 != 2 || step2 != step1 || !bytes.Equal(b1, b2) {
			t.Fatalf("%s: step %d → %d, moments equal %v", p.Name, step1, step2, bytes.Equal(b1, b2))
		}
	}

	refuse := func(t *testing.T, o *torch.AdamW, ps []llm.NamedParam, want ...string) {
		t.Helper()
		err := loadOptimizer(ckpt, o, ps)
		if err == nil {
			t.Fatal("loaded: no error")
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("error %q does not say %q", err, w)
			}
		}
	}
	t.Run("a parameter fewer", func(t *testing.T) {
		refuse(t, opt2, named[1:], "not trained now", named[0].Name)
	})
	t.Run("renamed", func(t *testing.T) {
		ps := slices.Clone(named)
		ps[0].Name = "base_model.model.other.weight"
		refuse(t, opt2, ps, "have no state: base_model.model.other.weight", named[0].Name)
	})
	t.Run("names swapped between shapes", func(t *testing.T) {
		ps := slices.Clone(named)
		i := slices.IndexFunc(ps, func(p llm.NamedParam) bool { return !slices.Equal(p.T.Shape(), ps[0].T.Shape()) })
		ps[0].Name, ps[i].Name = ps[i].Name, ps[0].Name
		refuse(t, opt2, ps, "has shape", ps[0].Name)
	})
	t.Run("another group", func(t *testing.T) {
		var as, bs []*torch.Tensor
		for _, p := range named {
			if p.IsLoRAB {
				bs = append(bs, p.T)
			} else {
				as = append(as, p.T)
			}
		}
		o, err := torch.NewAdamW([]torch.ParamGroup{{Params: as, LR: 1e-3}, {Params: bs, LR: 1e-2}}, 0.9, 0.999, 1e-8)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		refuse(t, o, named, "another group", "lora_B")
	})
	t.Run("not our format", func(t *testing.T) {
		dir := t.TempDir()
		if err := llm.WriteSafetensors(filepath.Join(dir, fileOptimizer), nil, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		err := loadOptimizer(dir, opt2, named)
		if err == nil || !strings.Contains(err.Error(), optimizerFormat) {
			t.Fatalf("err = %v", err)
		}
		os.Remove(filepath.Join(dir, fileOptimizer))
		if err := loadOptimizer(dir, opt2, named); err == nil || !strings.Contains(err.Error(), fileOptimizer) {
			t.Fatalf("missing file: %v", err)
		}
	})
}
