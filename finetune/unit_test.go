package finetune

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestSchedule(t *testing.T) {
	// Hugging Face: warmup = ceil(10 × 0.2) = 2 steps: 0, 0.5; then decay over 8 steps.
	cases := []struct {
		kind string
		want []float64 // factors of steps 0..9 (× peak 0.1)
	}{
		{"cosine", []float64{0, 0.5, 1, 0.9619397662556434, 0.8535533905932737, 0.6913417161825449,
			0.5, 0.30865828381745514, 0.14644660940672627, 0.03806023374435663}},
		{"linear", []float64{0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125}},
		{"constant", []float64{0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			sc := NewSchedule(c.kind, 0.1, 10, 0.2)
			if sc.Warmup != 2 {
				t.Fatalf("warmup = %d steps, want 2", sc.Warmup)
			}
			for s, f := range c.want {
				if got := sc.LR(s); math.Abs(got-0.1*f) > 1e-15 {
					t.Errorf("step %d: lr %.17g, want %.17g", s, got, 0.1*f)
				}
			}
		})
	}
	t.Run("no warmup", func(t *testing.T) {
		sc := NewSchedule("cosine", 1, 4, 0)
		got := []float64{sc.LR(0), sc.LR(1), sc.LR(2), sc.LR(3)}
		want := []float64{1, 0.8535533905932737, 0.5, 0.14644660940672627}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-15 {
				t.Fatalf("lrs %v, want %v", got, want)
			}
		}
	})
	t.Run("warmup rounds up", func(t *testing.T) {
		if w := NewSchedule("cosine", 1, 100, 0.03).Warmup; w != 3 {
			t.Fatalf("warmup %d, want 3", w)
		}
		if w := NewSchedule("cosine", 1, 101, 0.03).Warmup; w != 4 { // ceil(3.03)
			t.Fatalf("warmup %d, want 4", w)
		}
	})
}

func TestLengthGroupedBatches(t *testing.T) {
	lengths := make([]int, 1000)
	for i := range lengths {
		lengths[i] = 20 + (i*7919)%300
	}
	cases := []struct {
		name  string
		n     int
		batch int
	}{
		{"many mega-batches", 1000, 8},
		{"ragged last batch", 997, 16},
		{"one batch", 5, 8},
		{"batch of one", 30, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ls := lengths[:c.n]
			a := LengthGroupedBatches(ls, c.batch, 42)
			var seen []int
			for _, b := range a {
				if len(b) == 0 || len(b) > c.batch {
					t.Fatalf("batch of %d, want 1..%d", len(b), c.batch)
				}
				seen = append(seen, b...)
			}
			slices.Sort(seen)
			for i, v := range seen {
				if v != i {
					t.Fatalf("batches are not a permutation of 0..%d: index %d at %d", c.n-1, v, i)
				}
			}
			if !reflect.DeepEqual(a, LengthGroupedBatches(ls, c.batch, 42)) {
				t.Fatal("same seed gave different batches")
			}
			if c.n > c.batch*2 && reflect.DeepEqual(a, LengthGroupedBatches(ls, c.batch, 43)) {
				t.Fatal("another seed gave the same batches")
			}
		})
	}
	t.Run("less padding than random batches", func(t *testing.T) {
		pad := func(batches [][]int) int {
			n := 0
			for _, b := range batches {
				m := 0
				for _, i := range b {
					m = max(m, lengths[i])
				}
				for _, i := range b {
					n += m - lengths[i]
				}
			}
			return n
		}
		grouped := pad(LengthGroupedBatches(lengths, 8, 1))
		var random [][]int
		for i := 0; i < len(lengths); i += 8 {
			random = append(random, []int{i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7})
		}
		if r := pad(random); grouped*5 > r {
			t.Fatalf("length-grouped batches pad %d tokens, random ones %d: want at least 5× less", grouped, r)
		}
	})
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		yaml    string
		check   func(Config) bool
		wantErr string
	}{
		{"empty file keeps defaults", "", func(c Config) bool { return reflect.DeepEqual(c, Defaults()) }, ""},
		{"values", "model: m\nlora-r: 16\nlr: 0.003\nmodules-to-save: embed_tokens\nlora-target: [q_proj, v_proj]\nseed: 7\n",
			func(c Config) bool {
				return c.Model == "m" && c.LoRAR == 16 && c.LR == 0.003 && reflect.DeepEqual(c.ModulesToSave, List{"embed_tokens"}) &&
					reflect.DeepEqual(c.LoRATarget, List{"q_proj", "v_proj"}) && c.Seed == 7 && c.LoRAAlpha == 16
			}, ""},
		{"comma list", "lora-target: q_proj, v_proj\n", func(c Config) bool { return reflect.DeepEqual(c.LoRATarget, List{"q_proj", "v_proj"}) }, ""},
		{"unknown key", "learning_rate: 0.1\n", nil, "learning_rate"},
		{"wrong type", "lora-r: eight\n", nil, "line 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			if err := os.WriteFile(p, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(p)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file: want an error")
	}
}

func TestValidate(t *testing.T) {
	base := Defaults()
	base.Model, base.Data, base.Out = "m", "d", "o"
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"rank 0", func(c *Config) { c.LoRAR = 0 }, "lora-r"},
		{"no model", func(c *Config) { c.Model = "" }, "--model"},
		{"no data", func(c *Config) { c.Data = "" }, "training data"},
		{"both data forms", func(c *Config) { c.TrainFile = "t.json" }, "either"},
		{"scheduler", func(c *Config) { c.Scheduler = "step" }, "scheduler"},
		{"batch", func(c *Config) { c.BatchSize = 0 }, "batch-size"},
		{"dropout", func(c *Config) { c.LoRADropout = 1 }, "lora-dropout"},
		{"no steps", func(c *Config) { c.Epochs = 0 }, "epochs"},
		{"save limit", func(c *Config) { c.SaveTotalLimit = 0 }, "save-total-limit"},
		{"empty target", func(c *Config) { c.LoRATarget = nil }, "lora-target"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			c.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestHintOOM(t *testing.T) {
	cfg := Defaults()
	oom := errors.New("step 3: linear [8, 512, 4096]: CUDA out of memory. Tried to allocate 2.00 GiB")
	got := hintOOM(oom, cfg)
	for _, want := range []string{"--batch-size (now 8)", "--grad-accum", "--max-len (now 512)", "Tried to allocate"} {
		if !strings.Contains(got.Error(), want) {
			t.Errorf("hint %q lacks %q", got, want)
		}
	}
	if !errors.Is(got, oom) {
		t.Error("the hint does not wrap the engine's error")
	}
	other := errors.New("shape mismatch")
	if hintOOM(other, cfg) != other {
		t.Error("a non-OOM error was changed")
	}
}
