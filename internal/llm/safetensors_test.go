package llm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sampleTensors() []TensorData {
	f32, _ := FromFloat32("F32", []float32{1, -2.5, 3.25, 0, 1e-8, -7})
	bf, _ := FromFloat32("BF16", []float32{0.5, 1, -1.5, 2})
	return []TensorData{
		{Name: "z.weight", DType: "F32", Shape: []int64{2, 3}, Data: f32},
		{Name: "a.bias", DType: "BF16", Shape: []int64{4}, Data: bf},
		{Name: "ids", DType: "I64", Shape: []int64{2}, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}},
		{Name: "scalar", DType: "F32", Shape: []int64{}, Data: f32[:4]},
		{Name: "empty", DType: "F16", Shape: []int64{0, 5}, Data: []byte{}},
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	in := sampleTensors()
	meta := map[string]string{"format": "pt", "note": "ünïcode"}
	if err := WriteSafetensors(path, in, meta); err != nil {
		t.Fatal(err)
	}
	w, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !reflect.DeepEqual(w.Names(), []string{"a.bias", "empty", "ids", "scalar", "z.weight"}) {
		t.Errorf("names %v", w.Names())
	}
	for _, want := range in {
		got, ok := w.Get(want.Name)
		if !ok {
			t.Fatalf("%s missing", want.Name)
		}
		if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: got %s %v %v, want %s %v %v", want.Name, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
		}
		if w.File(want.Name) != "x.safetensors" {
			t.Errorf("File(%s) = %q", want.Name, w.File(want.Name))
		}
	}
	if !reflect.DeepEqual(w.Metadata(), meta) {
		t.Errorf("metadata %v", w.Metadata())
	}
	v, err := mustGet(t, w, "z.weight").Float32s()
	if err != nil || !reflect.DeepEqual(v, []float32{1, -2.5, 3.25, 0, 1e-8, -7}) {
		t.Errorf("Float32s = %v, %v", v, err)
	}
	if _, err := mustGet(t, w, "ids").Float32s(); err == nil || !strings.Contains(err.Error(), "ids") {
		t.Errorf("Float32s of I64: %v", err)
	}

	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 {
		t.Errorf("data section starts at %d, not 8-byte aligned", 8+n)
	}
	header := string(raw[8 : 8+n])
	wantHeader := `{"__metadata__":{"format":"pt","note":"ünïcode"},"a.bias":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]},` +
		`"empty":{"dtype":"F16","shape":[0,5],"data_offsets":[8,8]},"ids":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},` +
		`"scalar":{"dtype":"F32","shape":[],"data_offsets":[24,28]},"z.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[28,52]}}`
	if strings.TrimRight(header, " ") != wantHeader {
		t.Errorf("header\n got %s\nwant %s", header, wantHeader)
	}

	t.Run("order of input does not matter", func(t *testing.T) {
		rev := append([]TensorData(nil), in...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		p2 := filepath.Join(dir, "y.safetensors")
		if err := WriteSafetensors(p2, rev, meta); err != nil {
			t.Fatal(err)
		}
		b2, _ := os.ReadFile(p2)
		if !bytes.Equal(raw, b2) {
			t.Error("different bytes for the same tensors in another order")
		}
	})
	t.Run("Load streams data", func(t *testing.T) {
		lazy := append([]TensorData(nil), in...)
		calls := 0
		data := lazy[0].Data
		lazy[0].Data = nil
		lazy[0].Load = func() ([]byte, error) { calls++; return data, nil }
		p3 := filepath.Join(dir, "lazy.safetensors")
		if err := WriteSafetensors(p3, lazy, meta); err != nil {
			t.Fatal(err)
		}
		b3, _ := os.ReadFile(p3)
		if !bytes.Equal(raw, b3) || calls != 1 {
			t.Errorf("lazy write differs (calls %d)", calls)
		}
	})
}

func mustGet(t *testing.T, w *Weights, name string) TensorInfo {
	t.Helper()
	ti, ok := w.Get(name)
	if !ok {
		t.Fatalf("no tensor %s", name)
	}
	return ti
}

func TestWriteSafetensorsRejects(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		tensors []TensorData
		want    string
	}{
		{"short data", []TensorData{{Name: "w", DType: "F32", Shape: []int64{3}, Data: make([]byte, 8)}}, "tensor w: 8 data bytes"},
		{"unknown dtype", []TensorData{{Name: "w", DType: "F31", Shape: []int64{1}, Data: make([]byte, 4)}}, `unknown dtype "F31"`},
		{"duplicate", []TensorData{{Name: "w", DType: "U8", Shape: []int64{1}, Data: []byte{1}}, {Name: "w", DType: "U8", Shape: []int64{1}, Data: []byte{1}}}, "given twice"},
		{"no data", []TensorData{{Name: "w", DType: "U8", Shape: []int64{1}}}, "no data"},
		{"load error", []TensorData{{Name: "w", DType: "U8", Shape: []int64{1}, Load: func() ([]byte, error) { return nil, os.ErrInvalid }}}, "tensor w"},
		{"load short", []TensorData{{Name: "w", DType: "U8", Shape: []int64{2}, Load: func() ([]byte, error) { return []byte{1}, nil }}}, "tensor w: 1 data bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "out.safetensors")
			err := WriteSafetensors(path, tc.tensors, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Errorf("left files behind: %v", entries)
			}
		})
	}
}

// craft builds a safetensors file from a raw header and a data section.
func craft(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestOpenSafetensorsBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := WriteSafetensors(good, sampleTensors(), nil); err != nil {
		t.Fatal(err)
	}
	goodBytes, _ := os.ReadFile(good)
	hugeLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(hugeLen, 1<<40)

	cases := []struct {
		name string
		file []byte
		want []string
	}{
		{"empty file", nil, []string{"truncated", "0 bytes"}},
		{"shorter than 8 bytes", []byte{1, 2, 3}, []string{"truncated"}},
		{"truncated data", goodBytes[:len(goodBytes)-3], []string{"z.weight", "run past", "truncated"}},
		{"header longer than file", hugeLen, []string{"header length 1099511627776 runs past the end"}},
		{"header cut short", goodBytes[:40], []string{"runs past the end"}},
		{"not json", craft("hello world!", nil), []string{"not a JSON object"}},
		{"broken json", craft(`{"w": {"dtype": "F32",`, nil), []string{"parse header"}},
		{"offsets out of range", craft(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4)), []string{"tensor w", "run past the 4 data bytes"}},
		{"offsets reversed", craft(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}`, make([]byte, 8)), []string{"tensor w", "bad data_offsets"}},
		{"offsets not a pair", craft(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, make([]byte, 8)), []string{"tensor w", "[begin, end]"}},
		{"shape dtype mismatch", craft(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), []string{"tensor w", "shape [3] × F32", "8 data bytes"}},
		{"bf16 counted as f32", craft(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}`, make([]byte, 8)), []string{"tensor w", "does not match"}},
		{"unknown dtype", craft(`{"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)), []string{"tensor w", `unknown dtype "Q4_K"`}},
		{"negative dim", craft(`{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}`, make([]byte, 1)), []string{"tensor w", "negative"}},
		{"overlap", craft(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, make([]byte, 6)), []string{"a and b", "overlapping"}},
		{"bad metadata", craft(`{"__metadata__":{"x":1}}`, nil), []string{"__metadata__"}},
		{"bad entry", craft(`{"w":[1,2]}`, nil), []string{"tensor w", "bad header entry"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.safetensors")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := OpenSafetensors(path)
			if err == nil {
				w.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := OpenSafetensors(filepath.Join(dir, "nope.safetensors"))
		if err == nil || !strings.Contains(err.Error(), "nope.safetensors") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestShardedWeights(t *testing.T) {
	var tensors []TensorData
	for i, name := range []string{"model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "model.norm.weight", "lm_head.weight"} {
		data := bytes.Repeat([]byte{byte(i + 1)}, 400)
		tensors = append(tensors, TensorData{Name: name, DType: "F32", Shape: []int64{10, 10}, Data: data})
	}
	t.Run("split", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteShardedSafetensors(dir, tensors, 900, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		want := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"}
		if !reflect.DeepEqual(names, want) {
			t.Fatalf("files %v, want %v", names, want)
		}
		var idx struct {
			Metadata  map[string]int64  `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}
		b, _ := os.ReadFile(filepath.Join(dir, SafetensorsIndexFile))
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		if idx.Metadata["total_size"] != 1600 || idx.WeightMap["model.norm.weight"] != "model-00002-of-00002.safetensors" ||
			idx.WeightMap["model.embed_tokens.weight"] != "model-00001-of-00002.safetensors" {
			t.Errorf("index %s", b)
		}
		w, err := OpenWeights(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for _, td := range tensors {
			got := mustGet(t, w, td.Name)
			if !bytes.Equal(got.Data, td.Data) {
				t.Errorf("%s data differs", td.Name)
			}
			if w.File(td.Name) != idx.WeightMap[td.Name] {
				t.Errorf("File(%s) = %s", td.Name, w.File(td.Name))
			}
		}
		if err := WriteShardedSafetensors(dir, tensors, 900, nil); err == nil || !strings.Contains(err.Error(), "already holds") {
			t.Errorf("overwrote existing weights: %v", err)
		}
	})
	t.Run("fits in one file", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteShardedSafetensors(dir, tensors, 0, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, SafetensorsFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, SafetensorsIndexFile)); err == nil {
			t.Error("index written for a single file")
		}
		w, err := OpenWeights(dir)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
	})
	t.Run("index disagrees with shards", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteShardedSafetensors(dir, tensors, 900, nil); err != nil {
			t.Fatal(err)
		}
		idxPath := filepath.Join(dir, SafetensorsIndexFile)
		b, _ := os.ReadFile(idxPath)
		var idx map[string]any
		json.Unmarshal(b, &idx)
		wm := idx["weight_map"].(map[string]any)
		wm["model.norm.weight"] = "model-00001-of-00002.safetensors"
		wm["ghost.weight"] = "model-00002-of-00002.safetensors"
		b, _ = json.Marshal(idx)
		os.WriteFile(idxPath, b, 0o644)
		_, err := OpenWeights(dir)
		if err == nil || !strings.Contains(err.Error(), "model.norm.weight is in model-00002-of-00002.safetensors") ||
			!strings.Contains(err.Error(), "ghost.weight") {
			t.Fatalf("got %v", err)
		}
		wm["model.norm.weight"] = "model-00009-of-00009.safetensors"
		delete(wm, "ghost.weight")
		b, _ = json.Marshal(idx)
		os.WriteFile(idxPath, b, 0o644)
		_, err = OpenWeights(dir)
		if err == nil || !strings.Contains(err.Error(), "model-00009-of-00009.safetensors") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("empty folder", func(t *testing.T) {
		dir := t.TempDir()
		_, err := OpenWeights(dir)
		if err == nil || !strings.Contains(err.Error(), SafetensorsFile) || !strings.Contains(err.Error(), SafetensorsIndexFile) {
			t.Fatalf("got %v", err)
		}
	})
}

func tinyTestConfig(tied bool) *Config {
	return &Config{
		ModelType: "qwen2", HiddenSize: 8, IntermediateSize: 16, NumAttentionHeads: 2, NumKeyValueHeads: 1,
		NumHiddenLayers: 2, HeadDim: 4, RopeTheta: 10000, RMSNormEps: 1e-6, TieWordEmbeddings: tied,
		VocabSize: 10, MaxPositionEmbeddings: 64, AttentionBias: true, HiddenAct: "silu",
	}
}

func TestCheckWeights(t *testing.T) {
	writeModel := func(t *testing.T, cfg *Config, edit func([]TensorData) []TensorData) *Weights {
		t.Helper()
		tensors, err := RandomWeights(cfg, RandomInit{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		tensors = edit(tensors)
		path := filepath.Join(t.TempDir(), SafetensorsFile)
		if err := WriteSafetensors(path, tensors, nil); err != nil {
			t.Fatal(err)
		}
		w, err := OpenSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w
	}
	keep := func(ts []TensorData) []TensorData { return ts }
	drop := func(names ...string) func([]TensorData) []TensorData {
		return func(ts []TensorData) []TensorData {
			var out []TensorData
			for _, td := range ts {
				skip := false
				for _, n := range names {
					skip = skip || td.Name == n
				}
				if !skip {
					out = append(out, td)
				}
			}
			return out
		}
	}
	t.Run("complete", func(t *testing.T) {
		if err := CheckWeights(tinyTestConfig(true), writeModel(t, tinyTestConfig(true), keep)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("all missing listed", func(t *testing.T) {
		missing := []string{"model.layers.0.self_attn.q_proj.bias", "model.layers.1.mlp.down_proj.weight", "model.norm.weight"}
		err := CheckWeights(tinyTestConfig(true), writeModel(t, tinyTestConfig(true), drop(missing...)))
		if err == nil {
			t.Fatal("no error")
		}
		for _, m := range missing {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("error %q does not list %s", err, m)
			}
		}
		if !strings.Contains(err.Error(), "3 missing") {
			t.Errorf("error %q does not count 3 missing", err)
		}
	})
	t.Run("untied needs lm_head", func(t *testing.T) {
		w := writeModel(t, tinyTestConfig(true), keep) // written without lm_head
		err := CheckWeights(tinyTestConfig(false), w)
		if err == nil || !strings.Contains(err.Error(), "lm_head.weight") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("tied lm_head present is shape-checked", func(t *testing.T) {
		w := writeModel(t, tinyTestConfig(true), func(ts []TensorData) []TensorData {
			return append(ts, TensorData{Name: LMHeadWeight, DType: "F32", Shape: []int64{10, 4}, Data: make([]byte, 160)})
		})
		err := CheckWeights(tinyTestConfig(true), w)
		if err == nil || !strings.Contains(err.Error(), "lm_head.weight has shape [10 4], config wants [10 8]") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("shape and dtype mismatches", func(t *testing.T) {
		w := writeModel(t, tinyTestConfig(true), func(ts []TensorData) []TensorData {
			for i := range ts {
				switch ts[i].Name {
				case "model.layers.1.self_attn.k_proj.weight":
					ts[i].Shape = []int64{8, 4}
				case "model.norm.weight":
					ts[i].DType, ts[i].Shape, ts[i].Data = "I32", []int64{8}, make([]byte, 32)
				}
			}
			return drop("model.embed_tokens.weight")(ts)
		})
		err := CheckWeights(tinyTestConfig(true), w)
		for _, s := range []string{"model.embed_tokens.weight", "k_proj.weight has shape [8 4], config wants [4 8]", "model.norm.weight has dtype I32"} {
			if err == nil || !strings.Contains(err.Error(), s) {
				t.Errorf("error %v lacks %q", err, s)
			}
		}
	})
}

func TestFloatConversions(t *testing.T) {
	t.Run("f16 exhaustive round trip", func(t *testing.T) {
		for h := 0; h < 1<<16; h++ {
			f := F16ToF32(uint16(h))
			if f != f {
				if back := F32ToF16(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
					t.Fatalf("NaN %#04x came back as %#04x", h, back)
				}
				continue
			}
			if back := F32ToF16(f); back != uint16(h) {
				t.Fatalf("%#04x → %g → %#04x", h, f, back)
			}
		}
	})
	t.Run("bf16 exhaustive round trip", func(t *testing.T) {
		for h := 0; h < 1<<16; h++ {
			f := BF16ToF32(uint16(h))
			if f != f {
				continue
			}
			if back := F32ToBF16(f); back != uint16(h) {
				t.Fatalf("%#04x → %g → %#04x", h, f, back)
			}
		}
	})
	cases := []struct {
		f      float32
		f16    uint16
		bf16   uint16
		reason string
	}{
		{1, 0x3c00, 0x3f80, "one"},
		{-2, 0xc000, 0xc000, "minus two"},
		{65504, 0x7bff, 0x4780, "largest half (bf16 rounds up to 65536)"},
		{65520, 0x7c00, 0x4780, "rounds to +Inf in half"},
		{float32(math.Ldexp(1, -24)), 0x0001, 0x3380, "smallest half subnormal"},
		{float32(math.Ldexp(1, -25)), 0x0000, 0x3300, "half-way to the smallest subnormal: ties to even (0)"},
		{float32(math.Ldexp(3, -26)), 0x0001, 0x3340, "above half-way rounds up"},
		{float32(math.Ldexp(3, -25)), 0x0002, 0x33c0, "1.5 subnormal ulps: ties to even (2)"},
		{1 + float32(math.Ldexp(1, -11)), 0x3c00, 0x3f80, "half ulp above 1: ties to even"},
		{1 + float32(math.Ldexp(3, -11)), 0x3c02, 0x3f80, "1.5 ulp above 1: ties to even (up)"},
		{1 + float32(math.Ldexp(1, -8)), 0x3c04, 0x3f80, "bf16 half ulp above 1: ties to even (down)"},
		{1 + float32(math.Ldexp(3, -8)), 0x3c0c, 0x3f82, "bf16 1.5 ulp above 1: up"},
		{float32(math.Inf(-1)), 0xfc00, 0xff80, "-Inf"},
		{float32(math.Copysign(0, -1)), 0x8000, 0x8000, "-0"},
	}
	for _, tc := range cases {
		if got := F32ToF16(tc.f); got != tc.f16 {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x (%s)", tc.f, got, tc.f16, tc.reason)
		}
		if got := F32ToBF16(tc.f); got != tc.bf16 {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x (%s)", tc.f, got, tc.bf16, tc.reason)
		}
	}
	nan := float32(math.NaN())
	if F16ToF32(F32ToF16(nan)) == F16ToF32(F32ToF16(nan)) || BF16ToF32(F32ToBF16(nan)) == BF16ToF32(F32ToBF16(nan)) {
		t.Error("NaN did not survive")
	}
	t.Run("slices", func(t *testing.T) {
		vals := []float32{0.1, -3, 1e5, 7.5e-3}
		for _, dt := range []string{"F32", "BF16", "F16", "F64"} {
			b, err := FromFloat32(dt, vals)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ToFloat32(dt, b)
			if err != nil {
				t.Fatal(err)
			}
			tol := map[string]float64{"F32": 0, "F64": 0, "BF16": 1.0 / 256, "F16": 1.0 / 2048}[dt]
			for i := range vals {
				if dt == "F16" && vals[i] > 65504 {
					continue
				}
				if d := math.Abs(float64(back[i]-vals[i])) / math.Abs(float64(vals[i])); d > tol {
					t.Errorf("%s: %g → %g (rel %g)", dt, vals[i], back[i], d)
				}
			}
		}
		if _, err := ToFloat32("F32", make([]byte, 5)); err == nil {
			t.Error("accepted 5 bytes of F32")
		}
		if _, err := ToFloat32("I64", make([]byte, 8)); err == nil {
			t.Error("decoded I64 as floats")
		}
		if _, err := FromFloat32("I8", vals); err == nil {
			t.Error("encoded floats as I8")
		}
	})
}
