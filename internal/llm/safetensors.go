package llm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/sentitune/sentitune/internal/atomicfile"
)

// Weight file names of a Hugging Face model folder.
const (
	SafetensorsFile      = "model.safetensors"
	SafetensorsIndexFile = "model.safetensors.index.json"
)

// maxHeaderBytes bounds the JSON header (the reference implementation uses 100 MB).
const maxHeaderBytes = 100 << 20

var dtypeSizes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// DTypeSize returns the bytes per element of a safetensors dtype ("F32", "BF16", ...).
func DTypeSize(dtype string) (int, bool) {
	n, ok := dtypeSizes[dtype]
	return n, ok
}

// TensorInfo is one tensor of an open safetensors file.
type TensorInfo struct {
	Name  string
	DType string // safetensors dtype: F32, BF16, F16, I64, ...
	Shape []int64
	// Data is a read-only slice of the file's memory map: writing to it crashes the process,
	// and it is invalid after Weights.Close.
	Data []byte
}

// NumElements is the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int64 { return numElements(t.Shape) }

// Float32s decodes a floating-point tensor (F32, BF16, F16, F64) into a new slice.
func (t TensorInfo) Float32s() ([]float32, error) {
	v, err := ToFloat32(t.DType, t.Data)
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	return v, nil
}

// Weights is a set of memory-mapped safetensors files read as one name → tensor map.
type Weights struct {
	files    []*mappedFile
	tensors  map[string]TensorInfo
	fileOf   map[string]string // tensor name → base name of its file
	metadata map[string]string
}

type mappedFile struct {
	path string
	data []byte // the whole file, mmapped read-only
}

// OpenWeights memory-maps a model folder's weights: model.safetensors, or else the shards named in
// model.safetensors.index.json (the order transformers' from_pretrained looks in).
func OpenWeights(dir string) (*Weights, error) {
	single := filepath.Join(dir, SafetensorsFile)
	if _, err := os.Stat(single); err == nil {
		return OpenSafetensors(single)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open weights: %w", err)
	}
	indexPath := filepath.Join(dir, SafetensorsIndexFile)
	if _, err := os.Stat(indexPath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("model folder %s has neither %s nor %s", dir, SafetensorsFile, SafetensorsIndexFile)
		}
		return nil, fmt.Errorf("open weights: %w", err)
	}
	return openSharded(dir, indexPath)
}

// OpenSafetensors memory-maps one safetensors file (e.g. an adapter_model.safetensors).
func OpenSafetensors(path string) (*Weights, error) {
	w := &Weights{tensors: map[string]TensorInfo{}, fileOf: map[string]string{}}
	meta, err := w.addFile(path)
	if err != nil {
		return nil, err
	}
	w.metadata = meta
	return w, nil
}

type shardIndex struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

func openSharded(dir, indexPath string) (*Weights, error) {
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("read weight index: %w", err)
	}
	var idx shardIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("parse %s: %w", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: empty weight_map", indexPath)
	}
	var files []string
	seen := map[string]bool{}
	for name, f := range idx.WeightMap {
		if f == "" || f != filepath.Base(f) {
			return nil, fmt.Errorf("%s: tensor %s maps to bad file name %q", indexPath, name, f)
		}
		if !seen[f] {
			seen[f] = true
			files = append(files, f)
		}
	}
	sort.Strings(files)
	w := &Weights{tensors: map[string]TensorInfo{}, fileOf: map[string]string{}}
	for _, f := range files {
		if _, err := w.addFile(filepath.Join(dir, f)); err != nil {
			w.Close()
			return nil, err
		}
	}
	// The index and the shards must agree: a tensor the index places elsewhere, or not at all,
	// means a mixed-up download.
	var problems []string
	for _, name := range sortedKeys(idx.WeightMap) {
		got, ok := w.fileOf[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("tensor %s listed in %s is missing from it", name, idx.WeightMap[name]))
		case got != idx.WeightMap[name]:
			problems = append(problems, fmt.Sprintf("tensor %s is in %s, index says %s", name, got, idx.WeightMap[name]))
		}
	}
	for _, name := range w.Names() {
		if _, ok := idx.WeightMap[name]; !ok {
			problems = append(problems, fmt.Sprintf("tensor %s in %s is not in the index", name, w.fileOf[name]))
		}
	}
	if len(problems) > 0 {
		w.Close()
		return nil, fmt.Errorf("%s: %s", indexPath, strings.Join(limitList(problems, 20), "; "))
	}
	return w, nil
}

// addFile maps and validates one file and adds its tensors; it returns the file's metadata.
func (w *Weights) addFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("%s: truncated safetensors file (%d bytes, need at least 8)", path, size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("%s: file too large to map (%d bytes)", path, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	mf := &mappedFile{path: path, data: data}
	tensors, meta, err := parseSafetensors(path, data)
	if err != nil {
		syscall.Munmap(data)
		return nil, err
	}
	base := filepath.Base(path)
	for _, t := range tensors {
		if prev, dup := w.fileOf[t.Name]; dup {
			syscall.Munmap(data)
			return nil, fmt.Errorf("%s: tensor %s also appears in %s", path, t.Name, prev)
		}
	}
	for _, t := range tensors {
		w.tensors[t.Name] = t
		w.fileOf[t.Name] = base
	}
	w.files = append(w.files, mf)
	return meta, nil
}

type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// parseSafetensors validates a whole safetensors file held in data and returns its tensors as
// slices of data.
func parseSafetensors(path string, data []byte) ([]TensorInfo, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("%s: truncated safetensors file (%d bytes, need at least 8)", path, len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("%s: header length %d runs past the end of the %d-byte file (truncated or not safetensors)", path, n, len(data))
	}
	if n > maxHeaderBytes {
		return nil, nil, fmt.Errorf("%s: header length %d exceeds the %d-byte limit", path, n, maxHeaderBytes)
	}
	header := data[8 : 8+n]
	if len(bytes.TrimSpace(header)) == 0 || bytes.TrimSpace(header)[0] != '{' {
		return nil, nil, fmt.Errorf("%s: header is not a JSON object (not a safetensors file?)", path)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, nil, fmt.Errorf("%s: parse header: %w", path, err)
	}
	body := data[8+n:]
	var meta map[string]string
	tensors := make([]TensorInfo, 0, len(raw))
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, fmt.Errorf("%s: __metadata__ must map strings to strings: %w", path, err)
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, nil, fmt.Errorf("%s: tensor %s: bad header entry: %w", path, name, err)
		}
		size, ok := dtypeSizes[e.DType]
		if !ok {
			return nil, nil, fmt.Errorf("%s: tensor %s: unknown dtype %q", path, name, e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("%s: tensor %s: data_offsets must be [begin, end], got %v", path, name, e.DataOffsets)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin {
			return nil, nil, fmt.Errorf("%s: tensor %s: bad data_offsets [%d, %d]", path, name, begin, end)
		}
		if end > int64(len(body)) {
			return nil, nil, fmt.Errorf("%s: tensor %s: data_offsets [%d, %d] run past the %d data bytes (truncated file?)",
				path, name, begin, end, len(body))
		}
		numel := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("%s: tensor %s: negative dimension in shape %v", path, name, e.Shape)
			}
			if d > 0 && numel > math.MaxInt64/d {
				return nil, nil, fmt.Errorf("%s: tensor %s: shape %v overflows", path, name, e.Shape)
			}
			numel *= d
		}
		if numel > math.MaxInt64/int64(size) || numel*int64(size) != end-begin {
			return nil, nil, fmt.Errorf("%s: tensor %s: shape %v × %s (%d bytes each) does not match its %d data bytes",
				path, name, e.Shape, e.DType, size, end-begin)
		}
		spans = append(spans, span{name, begin, end})
		tensors = append(tensors, TensorInfo{
			Name:  name,
			DType: e.DType,
			Shape: append([]int64{}, e.Shape...),
			Data:  body[begin:end:end],
		})
	}
	// Overlapping byte ranges mean a corrupt header: two tensors cannot share storage.
	// Empty tensors occupy no bytes and cannot overlap anything.
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].name < spans[j].name
	})
	var prev *span
	for i := range spans {
		cur := &spans[i]
		if cur.begin == cur.end {
			continue
		}
		if prev != nil && prev.end > cur.begin {
			return nil, nil, fmt.Errorf("%s: tensors %s and %s have overlapping data_offsets", path, prev.name, cur.name)
		}
		prev = cur
	}
	sort.Slice(tensors, func(i, j int) bool { return tensors[i].Name < tensors[j].Name })
	return tensors, meta, nil
}

// Get returns the named tensor.
func (w *Weights) Get(name string) (TensorInfo, bool) {
	t, ok := w.tensors[name]
	return t, ok
}

// Names lists all tensor names, sorted.
func (w *Weights) Names() []string { return sortedKeys(w.tensors) }

// File returns the base name of the file holding the tensor ("" if absent), so a writer can
// keep a model's sharding.
func (w *Weights) File(name string) string { return w.fileOf[name] }

// Metadata is the __metadata__ of a single-file checkpoint (nil for sharded ones or none).
func (w *Weights) Metadata() map[string]string { return w.metadata }

// Close unmaps the files; every TensorInfo.Data from these weights becomes invalid.
func (w *Weights) Close() error {
	var errs []error
	for _, f := range w.files {
		if f.data != nil {
			if err := syscall.Munmap(f.data); err != nil {
				errs = append(errs, fmt.Errorf("munmap %s: %w", f.path, err))
			}
			f.data = nil
		}
	}
	w.files = nil
	w.tensors = map[string]TensorInfo{}
	return errors.Join(errs...)
}

// CheckWeights reports, in one error, every tensor the config needs that is missing, has the
// wrong shape, or is not floating point. A tied model may still carry lm_head.weight; if so its
// shape is checked too. A bias the config does not declare is an error (it would otherwise be
// silently dropped or applied); other extra tensors are ignored.
func CheckWeights(cfg *Config, w *Weights) error {
	var missing, bad []string
	names := cfg.WeightNames()
	if cfg.TieWordEmbeddings {
		if _, ok := w.Get(LMHeadWeight); ok {
			names = append(names, LMHeadWeight)
		}
	}
	for _, name := range names {
		t, ok := w.Get(name)
		if !ok {
			missing = append(missing, name)
			continue
		}
		want := cfg.ExpectedShape(name)
		if !equalShape(t.Shape, want) {
			bad = append(bad, fmt.Sprintf("%s has shape %v, config wants %v", name, t.Shape, want))
		}
		switch t.DType {
		case "F32", "BF16", "F16":
		default:
			bad = append(bad, fmt.Sprintf("%s has dtype %s (want F32, BF16 or F16)", name, t.DType))
		}
	}
	for _, name := range w.Names() {
		if cfg.strayBias(name) {
			bad = append(bad, fmt.Sprintf("%s is present but the config declares that projection without a bias", name))
		}
	}
	if len(missing) == 0 && len(bad) == 0 {
		return nil
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d missing tensor(s): %s", len(missing), strings.Join(missing, ", ")))
	}
	if len(bad) > 0 {
		parts = append(parts, fmt.Sprintf("%d mismatched tensor(s): %s", len(bad), strings.Join(bad, "; ")))
	}
	return fmt.Errorf("weights do not match the %s config: %s", cfg.ModelType, strings.Join(parts, "; "))
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func limitList(items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	return append(items[:n:n], fmt.Sprintf("and %d more", len(items)-n))
}

// TensorData is one tensor to write. When Data is nil, Load is called at write time (once) so
// a large model can be streamed to disk without holding every tensor in memory.
type TensorData struct {
	Name  string
	DType string
	Shape []int64
	Data  []byte
	Load  func() ([]byte, error)
}

func (t TensorData) byteSize() (int64, error) {
	size, ok := dtypeSizes[t.DType]
	if !ok {
		return 0, fmt.Errorf("tensor %s: unknown dtype %q", t.Name, t.DType)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return 0, fmt.Errorf("tensor %s: negative dimension in shape %v", t.Name, t.Shape)
		}
	}
	return numElements(t.Shape) * int64(size), nil
}

// WriteSafetensors writes tensors (sorted by name) to path, atomically: a temporary file in the
// same directory renamed over path. Same input → same bytes.
func WriteSafetensors(path string, tensors []TensorData, metadata map[string]string) error {
	sorted, header, err := buildHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, func(f io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
		if _, err := f.Write(n[:]); err != nil {
			return err
		}
		if _, err := f.Write(header); err != nil {
			return err
		}
		for _, t := range sorted {
			data := t.Data
			if data == nil && t.Load != nil {
				if data, err = t.Load(); err != nil {
					return fmt.Errorf("tensor %s: %w", t.Name, err)
				}
			}
			want, _ := t.byteSize()
			if int64(len(data)) != want {
				return fmt.Errorf("tensor %s: %d data bytes, shape %v × %s needs %d", t.Name, len(data), t.Shape, t.DType, want)
			}
			if _, err := f.Write(data); err != nil {
				return err
			}
		}
		return nil
	})
}

// buildHeader sorts the tensors by name, checks them, and returns the padded JSON header.
func buildHeader(tensors []TensorData, metadata map[string]string) ([]TensorData, []byte, error) {
	sorted := append([]TensorData(nil), tensors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	writeKey := func(k string) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
	}
	if len(metadata) > 0 {
		writeKey("__metadata__")
		mb, err := json.Marshal(metadata) // map keys come out sorted
		if err != nil {
			return nil, nil, err
		}
		buf.Write(mb)
	}
	var offset int64
	for i, t := range sorted {
		if t.Name == "" || t.Name == "__metadata__" {
			return nil, nil, fmt.Errorf("bad tensor name %q", t.Name)
		}
		if i > 0 && sorted[i-1].Name == t.Name {
			return nil, nil, fmt.Errorf("tensor %s given twice", t.Name)
		}
		size, err := t.byteSize()
		if err != nil {
			return nil, nil, err
		}
		if t.Data == nil && t.Load == nil && size != 0 {
			return nil, nil, fmt.Errorf("tensor %s has no data", t.Name)
		}
		if t.Data != nil && int64(len(t.Data)) != size {
			return nil, nil, fmt.Errorf("tensor %s: %d data bytes, shape %v × %s needs %d", t.Name, len(t.Data), t.Shape, t.DType, size)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		eb, err := json.Marshal(headerEntry{DType: t.DType, Shape: shape, DataOffsets: []int64{offset, offset + size}})
		if err != nil {
			return nil, nil, err
		}
		writeKey(t.Name)
		buf.Write(eb)
		offset += size
	}
	buf.WriteByte('}')
	// Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
	for (8+buf.Len())%8 != 0 {
		buf.WriteByte(' ')
	}
	return sorted, buf.Bytes(), nil
}

var shardNameRE = regexp.MustCompile(`^model-\d{5}-of-\d{5}\.safetensors$`)

// WriteShardedSafetensors writes tensors in Hugging Face's layout: model.safetensors when they fit
// in maxShardBytes (or maxShardBytes <= 0), else model-0000i-of-0000n.safetensors files plus
// model.safetensors.index.json. Tensors fill shards in the given order (a new shard starts when
// the next tensor would overflow the current one); each file's tensors are stored sorted by name.
// dir must exist and hold no weight files yet.
func WriteShardedSafetensors(dir string, tensors []TensorData, maxShardBytes int64, metadata map[string]string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("write weights: %w", err)
	}
	for _, e := range entries {
		if n := e.Name(); n == SafetensorsFile || n == SafetensorsIndexFile || shardNameRE.MatchString(n) {
			return fmt.Errorf("write weights: %s already holds weight file %s", dir, n)
		}
	}
	var total int64
	var shards [][]TensorData
	var cur []TensorData
	var curSize int64
	for _, t := range tensors {
		size, err := t.byteSize()
		if err != nil {
			return fmt.Errorf("write weights: %w", err)
		}
		total += size
		if maxShardBytes > 0 && len(cur) > 0 && curSize+size > maxShardBytes {
			shards = append(shards, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, t)
		curSize += size
	}
	if len(cur) > 0 || len(shards) == 0 {
		shards = append(shards, cur)
	}
	if len(shards) == 1 {
		return WriteSafetensors(filepath.Join(dir, SafetensorsFile), shards[0], metadata)
	}
	if len(shards) > 99999 {
		return fmt.Errorf("write weights: %d shards is too many", len(shards))
	}
	weightMap := map[string]string{}
	for i, shard := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		for _, t := range shard {
			if _, dup := weightMap[t.Name]; dup {
				return fmt.Errorf("write weights: tensor %s given twice", t.Name)
			}
			weightMap[t.Name] = name
		}
		if err := WriteSafetensors(filepath.Join(dir, name), shard, metadata); err != nil {
			return err
		}
	}
	return writeSafetensorsIndex(dir, total, weightMap)
}

// writeSafetensorsIndex writes dir/model.safetensors.index.json as transformers does: the total byte
// size of the tensors and the shard file of each tensor.
func writeSafetensorsIndex(dir string, total int64, weightMap map[string]string) error {
	index := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]int64{"total_size": total}, weightMap}
	ib, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, SafetensorsIndexFile), append(ib, '\n'))
}

// ToFloat32 decodes little-endian F32, BF16, F16 or F64 bytes into float32 values.
func ToFloat32(dtype string, data []byte) ([]float32, error) {
	size, ok := dtypeSizes[dtype]
	if !ok {
		return nil, fmt.Errorf("unknown dtype %q", dtype)
	}
	if len(data)%size != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %s values", len(data), dtype)
	}
	out := make([]float32, len(data)/size)
	switch dtype {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = BF16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:])))
		}
	default:
		return nil, fmt.Errorf("dtype %s is not floating point", dtype)
	}
	return out, nil
}

// FromFloat32 encodes float32 values as little-endian F32, BF16, F16 or F64 bytes, rounding to
// nearest even as torch does.
func FromFloat32(dtype string, v []float32) ([]byte, error) {
	switch dtype {
	case "F32":
		out := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
		}
		return out, nil
	case "BF16":
		out := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(x))
		}
		return out, nil
	case "F16":
		out := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(x))
		}
		return out, nil
	case "F64":
		out := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(float64(x)))
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot encode floats as dtype %q", dtype)
}

// BF16ToF32 widens a bfloat16 bit pattern.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds to the nearest bfloat16, ties to even (c10::BFloat16's rule); NaN stays NaN.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToF32 widens an IEEE half-precision bit pattern (subnormals, infinities and NaN included).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// F32ToF16 rounds to the nearest IEEE half, ties to even; out-of-range values become ±Inf.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 { // subnormal half (or zero)
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - e)
		half := uint32(1) << (shift - 1)
		rem := mant & (1<<shift - 1)
		m := mant >> shift
		if rem > half || (rem == half && m&1 == 1) {
			m++
		}
		return sign | uint16(m)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry into the exponent is still the right rounding (up to Inf)
	}
	return sign | uint16(h)
}
