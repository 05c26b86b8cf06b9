package llm

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/sentitune/sentitune/internal/torch"
)

// LoadOptions says where a model runs and in which dtype.
type LoadOptions struct {
	Device torch.Device
	// DType is the compute and weight dtype. Its zero value (f32) means "auto": f32 on CPU,
	// bf16 on CUDA, unless ExplicitDType is set.
	DType torch.DType
	// ExplicitDType makes DType binding even when it is the zero value (f32 on CUDA).
	ExplicitDType bool
	// QuantizationBit 4 or 8 keeps the projections quantized (quantized.go); 0 keeps them as loaded.
	QuantizationBit int
}

// ParseComputeDType reads a --dtype flag: "auto" or "" (explicit false), or f32, bf16, f16.
func ParseComputeDType(s string) (dtype torch.DType, explicit bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return torch.Float32, false, nil
	}
	d, err := torch.ParseDType(s)
	if err != nil {
		return 0, false, err
	}
	if d != torch.Float32 && d != torch.BFloat16 && d != torch.Float16 {
		return 0, false, fmt.Errorf("model dtype %v is not supported (want auto, f32, bf16 or f16)", d)
	}
	return d, true, nil
}

func (o LoadOptions) dtype() torch.DType {
	if o.DType == torch.Float32 && !o.ExplicitDType && o.Device.CUDA {
		return torch.BFloat16
	}
	return o.DType
}

// Model is a Qwen2/Llama decoder in libtorch, with optional LoRA adapters and modules_to_save
// copies (PEFT's wrapper model). Forward passes may run concurrently; AddLoRA, LoadAdapter,
// Merge and Close must not run alongside anything else.
type Model struct {
	cfg   *Config
	dir   string
	dev   torch.Device
	dtype torch.DType

	weights *Weights     // kept mapped while zero-copy tensors point into it
	params  *torch.Scope // owns every model-lifetime tensor

	embed  *torch.Tensor // model.embed_tokens.weight [V, H], frozen
	layers []*decoderLayer
	norm   *torch.Tensor // model.norm.weight [H]
	lmHead *torch.Tensor // lm_head.weight [V, H]; the same tensor as embed when tied

	lora *LoRAConfig // attached adapter config, nil when none
	// modules_to_save: trainable f32 copies that replace the originals while attached.
	embedTrain  *torch.Tensor
	lmHeadTrain *torch.Tensor

	ropeMu  sync.Mutex
	ropeCos *torch.Tensor // [n, head_dim] in the model dtype, positions 0..n-1
	ropeSin *torch.Tensor
	// gemma3's sliding layers rotate at rope_local_base_freq: their own tables, or nil.
	ropeLocalCos, ropeLocalSin *torch.Tensor

	checkpointing bool              // training forwards keep only each layer's input (checkpoint.go)
	pending       *layerCheckpoints // the last checkpointed forward's, until Backward

	quantBits int // 4 or 8 when the projections are quantized, else 0
}

// safetensorsDTypes maps the floating-point safetensors dtypes to torch's.
var safetensorsDTypes = map[string]torch.DType{"F32": torch.Float32, "BF16": torch.BFloat16, "F16": torch.Float16}

// LoadModel reads a Hugging Face model folder (config.json + safetensors) onto opt.Device.
// Weights already in the wanted dtype on the CPU are wrapped without copying (the file stays
// mapped until Close); others are converted or moved.
func LoadModel(dir string, opt LoadOptions) (*Model, error) {
	if err := torch.Load(); err != nil {
		return nil, err
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	w, err := OpenWeights(dir)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	if err := CheckWeights(cfg, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	dtype := opt.dtype()
	if !dtype.IsFloat() || dtype == torch.Float64 {
		w.Close()
		return nil, fmt.Errorf("load model %s: dtype %v is not supported (want f32, bf16 or f16)", dir, dtype)
	}
	m := &Model{cfg: cfg, dir: dir, dev: opt.Device, dtype: dtype, params: torch.NewScope()}
	zeroCopy := false
	s := torch.NewScope()
	defer s.Close()
	toQuantize := cfg.projectionWeights(opt.QuantizationBit)
	load := func(name string) *torch.Tensor {
		ti, _ := w.Get(name)
		dev := opt.Device
		if toQuantize[name] {
			dev = torch.CPU // quantized on the host first, so the device never holds the full-precision projections
		}
		t, blob := tensorFromInfo(s, ti, dtype, dev)
		zeroCopy = zeroCopy || blob
		return m.keep(s, t)
	}
	m.embed = load(EmbedTokensWeight)
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		m.layers = append(m.layers, newDecoderLayer(cfg, i, load))
	}
	m.norm = load(FinalNormWeight)
	if cfg.TieWordEmbeddings {
		m.lmHead = m.embed
	} else {
		m.lmHead = load(LMHeadWeight)
	}
	if err := s.Err(); err != nil {
		m.params.Close()
		w.Close()
		return nil, fmt.Errorf("load model %s onto %v as %v: %w", dir, opt.Device, dtype, err)
	}
	if zeroCopy {
		m.weights = w
	} else {
		w.Close()
	}
	if err := m.quantize(opt.QuantizationBit); err != nil {
		m.Close()
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	return m, nil
}

// tensorFromInfo makes a tensor of dtype on dev from a safetensors entry: zero-copy when it
// already is dtype on the CPU and aligned (blob is then true), else a converted copy.
func tensorFromInfo(s *torch.Scope, ti TensorInfo, dtype torch.DType, dev torch.Device) (t *torch.Tensor, blob bool) {
	src, ok := safetensorsDTypes[ti.DType]
	if !ok {
		s.Fail(fmt.Errorf("tensor %s has dtype %s (want F32, BF16 or F16)", ti.Name, ti.DType))
		return nil, false
	}
	aligned := len(ti.Data) == 0 || uintptr(unsafe.Pointer(&ti.Data[0]))%uintptr(src.Size()) == 0
	if !dev.CUDA && src == dtype {
		if aligned {
			return s.FromBlob(ti.Data, src, ti.Shape), true
		}
		return s.FromBytes(ti.Data, src, ti.Shape, torch.CPU), false
	}
	var raw *torch.Tensor
	if aligned {
		raw = s.FromBlob(ti.Data, src, ti.Shape)
	} else {
		raw = s.FromBytes(ti.Data, src, ti.Shape, torch.CPU)
	}
	t = s.To(raw, dtype, dev) // dtype or device differs, so this copies
	raw.Free()
	return t, false
}

// keep moves t from the work scope s into the model's lifetime scope.
func (m *Model) keep(s *torch.Scope, t *torch.Tensor) *torch.Tensor {
	if t == nil {
		return nil
	}
	return m.params.Adopt(s.Keep(t))
}

// Close frees the model's tensors and unmaps its weight files.
func (m *Model) Close() {
	if m == nil || m.params == nil {
		return
	}
	m.pending.free()
	m.pending = nil
	m.params.Close()
	m.params = nil
	m.layers = nil
	m.embed, m.norm, m.lmHead, m.embedTrain, m.lmHeadTrain, m.ropeCos, m.ropeSin = nil, nil, nil, nil, nil, nil, nil
	m.ropeLocalCos, m.ropeLocalSin = nil, nil
	if m.weights != nil {
		m.weights.Close()
		m.weights = nil
	}
}

// Config is the model's config.json.
func (m *Model) Config() *Config { return m.cfg }

// Device is where the weights live.
func (m *Model) Device() torch.Device { return m.dev }

// DType is the compute and base-weight dtype.
func (m *Model) DType() torch.DType { return m.dtype }

// Dir is the model folder the model was loaded from.
func (m *Model) Dir() string { return m.dir }

// Batch is a set of token-id rows of any lengths; the model pads them itself.
type Batch struct {
	IDs [][]int
	// Len pads every row to at least this many positions (a static-shape bucket); 0: the longest row's.
	Len int
}

// MaxLen is the padded length: the longest row's, or Len when longer.
func (b Batch) MaxLen() int {
	n := b.Len
	for _, r := range b.IDs {
		n = max(n, len(r))
	}
	return n
}

// LastPositions are the (row, position) pairs of each row's last token, for HiddenAt.
func (b Batch) LastPositions() (rows, positions []int) {
	rows, positions = make([]int, len(b.IDs)), make([]int, len(b.IDs))
	for i, r := range b.IDs {
		rows[i], positions[i] = i, len(r)-1
	}
	return rows, positions
}

// HiddenAt runs the decoder over the batch padded on the right (pad id 0) and returns the
// final-norm hidden states at the given (row, position) pairs, [N, H] in pair order; each position
// must hold a real token of its row. rows and positions both nil ask for every position: [B·T, H]
// with row r's position p at r·T+p, T = b.MaxLen(), the outputs at pad positions meaningless.
// Every row starts at position 0, so a causal mask alone keeps real tokens from seeing padding and
// SDPA can use its fast kernels. All layers but the last run at every position; the last computes
// keys and values everywhere but its queries, attention output, o_proj and MLP only at the asked
// positions (attnQueries), which saves most of a layer's work when scoring. train turns LoRA
// dropout on. Run inference inside torch.NoGrad.
func (m *Model) HiddenAt(s *torch.Scope, b Batch, rows, positions []int, train bool) (*torch.Tensor, error) {
	ids, B, T, err := m.flatIDs(b)
	if err != nil {
		return nil, err
	}
	cos, sin, err := m.ropeTables(s, T)
	if err != nil {
		return nil, err
	}
	keyRope := m.ropePrefix(s, cos, sin, T)
	all := &attnQueries{n: int64(T), rope: keyRope, mask: m.windowMask(s, T), causal: true}
	if all.local, err = m.localQueries(s, T); err != nil {
		return nil, err
	}
	H := int64(m.cfg.HiddenSize)
	if rows == nil && positions == nil {
		out, err := m.forward(s, ids, B, T, keyRope, all, all, train)
		if err != nil {
			return nil, err
		}
		return s.Reshape(out, int64(B*T), H), s.Err()
	}
	last, slots, err := m.outputQueries(s, b, rows, positions, cos, sin)
	if err != nil {
		return nil, err
	}
	out, err := m.forward(s, ids, B, T, keyRope, all, last, train)
	if err != nil {
		return nil, err
	}
	h := s.IndexSelect(s.Reshape(out, int64(B)*last.n, H), 0, s.ToDevice(s.FromInt64(slots, int64(len(slots))), m.dev))
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	return h, nil
}

// outputQueries lays out the asked (row, position) pairs as A query slots per row (the most any
// row asks for; unused slots look at position 0) and returns them with each pair's slot in the
// flattened [B·A] output.
func (m *Model) outputQueries(s *torch.Scope, b Batch, rows, positions []int, cos, sin *torch.Tensor) (*attnQueries, []int64, error) {
	B, T := len(b.IDs), b.MaxLen()
	if len(rows) != len(positions) {
		return nil, nil, fmt.Errorf("forward: %d rows but %d positions", len(rows), len(positions))
	}
	if len(rows) == 0 {
		return nil, nil, errors.New("forward: no positions asked for")
	}
	count := make([]int, B)
	slot := make([]int64, len(rows))
	for i, r := range rows {
		if r < 0 || r >= B || positions[i] < 0 || positions[i] >= len(b.IDs[r]) {
			return nil, nil, fmt.Errorf("forward: (row %d, position %d) is not a token of the batch", r, positions[i])
		}
		slot[i] = int64(count[r])
		count[r]++
	}
	A := 0
	for _, c := range count {
		A = max(A, c)
	}
	qpos := make([]int64, B*A)
	for i, r := range rows {
		slot[i] += int64(r * A)
		qpos[slot[i]] = int64(positions[i])
	}
	flat := make([]int64, B*A)
	for k, p := range qpos {
		flat[k] = int64(k/A*T) + p
	}
	maskFor := func(sliding bool) *torch.Tensor {
		mask := make([]float32, B*A*T)
		for k, p := range qpos {
			for t := 0; t < T; t++ {
				if !m.sees(int(p), t, sliding) {
					mask[k*T+t] = -1e9
				}
			}
		}
		return s.To(s.FromFloat32(mask, int64(B), 1, int64(A), int64(T)), m.dtype, m.dev)
	}
	hd := int64(m.cfg.HeadDim)
	bb, aa := int64(B), int64(A)
	qposT := s.ToDevice(s.FromInt64(qpos, bb*aa), m.dev)
	ropeAtQueries := func(cos, sin *torch.Tensor) ropeAt {
		return ropeAt{cos: s.Reshape(s.IndexSelect(cos, 0, qposT), bb, 1, aa, hd), sin: s.Reshape(s.IndexSelect(sin, 0, qposT), bb, 1, aa, hd)}
	}
	q := &attnQueries{
		rows: s.ToDevice(s.FromInt64(flat, bb*aa), m.dev),
		n:    aa,
		rope: ropeAtQueries(cos, sin),
		mask: maskFor(m.cfg.primarySliding()),
	}
	if m.cfg.mixedLayers() {
		lcos, lsin, err := m.ropeLocalTables(s, T)
		if err != nil {
			return nil, nil, err
		}
		q.local = &attnQueries{rows: q.rows, n: aa, rope: ropeAtQueries(lcos, lsin), mask: maskFor(true),
			keyRope: m.ropePrefix(s, lcos, lsin, T)}
	}
	if err := s.Err(); err != nil {
		return nil, nil, fmt.Errorf("forward: %w", err)
	}
	return q, slot, nil
}

// sees reports whether the query at sequence index q attends to the key at index k: causal, and
// on a sliding layer within the window (transformers' sliding_window_overlay: k > q − window).
func (m *Model) sees(q, k int, sliding bool) bool {
	w := m.cfg.SlidingWindow
	return k <= q && (!sliding || w <= 0 || k > q-w)
}

// windowMask is the additive [1, 1, T, T] mask of the keys a sliding window hides from each query
// (causality is SDPA's) for the layers of the primary queries, or nil.
func (m *Model) windowMask(s *torch.Scope, T int) *torch.Tensor {
	return m.windowMaskFor(s, T, m.cfg.primarySliding())
}

// windowMaskFor is windowMask for sliding or full layers; nil when no row is longer than the window.
func (m *Model) windowMaskFor(s *torch.Scope, T int, sliding bool) *torch.Tensor {
	if !sliding || m.cfg.SlidingWindow <= 0 || T <= m.cfg.SlidingWindow {
		return nil
	}
	mask := make([]float32, T*T)
	for q := 0; q < T; q++ {
		for k := 0; k <= q; k++ {
			if !m.sees(q, k, true) {
				mask[q*T+k] = -1e9
			}
		}
	}
	return s.To(s.FromFloat32(mask, 1, 1, int64(T), int64(T)), m.dtype, m.dev)
}

// flatIDs checks the batch and lays it out right-padded (pad id 0) as [B·T] ids.
func (m *Model) flatIDs(b Batch) (ids []int64, B, T int, err error) {
	if err := m.usable(); err != nil {
		return nil, 0, 0, err
	}
	B, T = len(b.IDs), b.MaxLen()
	if B == 0 || T == 0 {
		return nil, 0, 0, errors.New("forward: empty batch")
	}
	ids = make([]int64, B*T)
	for r, row := range b.IDs {
		if len(row) == 0 {
			return nil, 0, 0, fmt.Errorf("forward: row %d is empty", r)
		}
		if err := m.copyIDs(ids[r*T:(r+1)*T], row, r); err != nil {
			return nil, 0, 0, err
		}
	}
	return ids, B, T, nil
}

// ropePrefix is the first T rows of the ropeTables views, broadcastable to [B, heads, T, head_dim].
func (m *Model) ropePrefix(s *torch.Scope, cos, sin *torch.Tensor, T int) ropeAt {
	hd := int64(m.cfg.HeadDim)
	return ropeAt{cos: s.Reshape(s.Narrow(cos, 0, 0, int64(T)), 1, 1, int64(T), hd),
		sin: s.Reshape(s.Narrow(sin, 0, 0, int64(T)), 1, 1, int64(T), hd)}
}

// Logits applies the lm_head to hidden states [N, H] (from HiddenAt): [N, V] in the model dtype
// (f32 when lm_head is a trainable modules_to_save copy).
func (m *Model) Logits(s *torch.Scope, h *torch.Tensor) (*torch.Tensor, error) {
	if err := m.usable(); err != nil {
		return nil, err
	}
	h, head := m.headFor(s, h)
	out := softcap(s, s.Linear(h, head, nil), m.cfg.FinalLogitSoftcap)
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	return out, nil
}

// LogitsOf is the logits of the given vocabulary ids only, [N, len(ids)] in f32, for hidden states
// h [N, H]: the lm_head rows of those ids alone, e.g. the two label tokens, so no [N, V] product.
func (m *Model) LogitsOf(s *torch.Scope, h *torch.Tensor, ids []int) (*torch.Tensor, error) {
	if err := m.usable(); err != nil {
		return nil, err
	}
	idx := make([]int64, len(ids))
	for i, id := range ids {
		if id < 0 || id >= m.cfg.VocabSize {
			return nil, fmt.Errorf("logits: token id %d is outside the vocabulary of %d", id, m.cfg.VocabSize)
		}
		idx[i] = int64(id)
	}
	h, head := m.headFor(s, h)
	rows := s.IndexSelect(head, 0, s.ToDevice(s.FromInt64(idx, int64(len(idx))), m.dev))
	out := s.ToDType(softcap(s, s.Linear(h, rows, nil), m.cfg.FinalLogitSoftcap), torch.Float32)
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	return out, nil
}

// lceChunkRows is AnswerLoss's vocabulary chunk: lm_head rows that stay in the core's cache between
// the logits GEMM and the gradient GEMM that reuses them. Measured on this project's CPU machine with
// V = 151,936 and 16 rows: 1,024 was the best or near it for H = 64, 256 and 896 (256 to 8,192 tried;
// 24 vs 36–45 ms, 108 vs 118–130 ms, 231 vs 332–372 ms against lm_head + cross-entropy forward and
// backward).
const lceChunkRows = 1024

// AnswerLoss is the summed cross-entropy of targets[i] predicted by hidden states h[i] ([N, H], from
// HiddenAt): CrossEntropy(Logits(h), targets, IgnoreIndex, ReduceSum) as an f32 scalar. On the CPU
// with a frozen lm_head it is one fused pass over the lm_head (torch.LinearCrossEntropy): no [N, V]
// logits, and the [V, H] head is streamed from memory once per training step instead of twice. On a
// GPU, or with a trainable lm_head, it is Logits + CrossEntropy. train asks for the gradient.
func (m *Model) AnswerLoss(s *torch.Scope, h *torch.Tensor, targets []int64, train bool) (*torch.Tensor, error) {
	if err := m.usable(); err != nil {
		return nil, err
	}
	if sh := h.Shape(); len(sh) != 2 || sh[0] != int64(len(targets)) {
		return nil, fmt.Errorf("answer loss: hidden states %v for %d targets", sh, len(targets))
	}
	for i, t := range targets { // checked here, on the host, so the device never reads them back
		if t != torch.IgnoreIndex && (t < 0 || t >= int64(m.cfg.VocabSize)) {
			return nil, fmt.Errorf("answer loss: target %d is token id %d, outside the vocabulary of %d", i, t, m.cfg.VocabSize)
		}
	}
	tgt := s.ToDevice(s.FromInt64(targets, int64(len(targets))), m.dev)
	if m.dev.CUDA || m.lmHeadTrain != nil || m.cfg.FinalLogitSoftcap > 0 { // the fused op has no soft-capping
		logits, err := m.Logits(s, h)
		if err != nil {
			return nil, err
		}
		out := s.CrossEntropy(logits, tgt, torch.IgnoreIndex, torch.ReduceSum)
		return out, s.Err()
	}
	out := s.LinearCrossEntropyChecked(h, m.lmHead, tgt, torch.IgnoreIndex, lceChunkRows, train)
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("answer loss: %w", err)
	}
	return out, nil
}

// headFor returns h cast to the dtype of the lm_head in use, and that lm_head.
func (m *Model) headFor(s *torch.Scope, h *torch.Tensor) (*torch.Tensor, *torch.Tensor) {
	if m.lmHeadTrain != nil {
		return s.ToDType(h, m.lmHeadTrain.DType()), m.lmHeadTrain
	}
	return h, m.lmHead
}

func (m *Model) usable() error {
	if m == nil || m.params == nil {
		return errors.New("model is closed")
	}
	return nil
}

// copyIDs checks one row's ids against the vocabulary and copies them into dst (rest stays 0).
func (m *Model) copyIDs(dst []int64, row []int, r int) error {
	for t, id := range row {
		if id < 0 || id >= m.cfg.VocabSize {
			return fmt.Errorf("forward: row %d position %d: token id %d outside the vocabulary [0, %d)", r, t, id, m.cfg.VocabSize)
		}
		dst[t] = int64(id)
	}
	return nil
}

// ropeTables returns views in s of the cos and sin tables [n, head_dim] (n ≥ need) in the model
// dtype, grown on demand. inv_freq and the angles are computed in float64 on the host, rounded to
// f32, then cast to the model dtype, as transformers' rotary embedding casts cos/sin to the
// input's dtype.
func (m *Model) ropeTables(s *torch.Scope, need int) (cos, sin *torch.Tensor, err error) {
	m.ropeMu.Lock()
	defer m.ropeMu.Unlock()
	if m.ropeCos == nil || m.ropeCos.Size(0) < int64(need) {
		if err := m.growRope(need); err != nil {
			return nil, nil, err
		}
	}
	// Views made under the lock keep the tables' storage alive even if another call grows them.
	n := m.ropeCos.Size(0)
	cos, sin = s.Narrow(m.ropeCos, 0, 0, n), s.Narrow(m.ropeSin, 0, 0, n)
	if err := s.Err(); err != nil {
		return nil, nil, err
	}
	return cos, sin, nil
}

func (m *Model) growRope(need int) error {
	n := 256
	for n < need {
		n *= 2
	}
	s := torch.NewScope()
	defer s.Close()
	ct, st := m.rotaryTable(s, n, false)
	var lct, lst *torch.Tensor
	if m.cfg.RopeLocalTheta > 0 {
		lct, lst = m.rotaryTable(s, n, true)
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("rotary tables: %w", err)
	}
	for _, t := range []*torch.Tensor{m.ropeCos, m.ropeSin, m.ropeLocalCos, m.ropeLocalSin} {
		t.Free()
	}
	m.ropeCos, m.ropeSin = m.keep(s, ct), m.keep(s, st)
	m.ropeLocalCos, m.ropeLocalSin = m.keep(s, lct), m.keep(s, lst)
	return nil
}
