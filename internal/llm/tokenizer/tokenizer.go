// Package tokenizer reads a Hugging Face model folder's tokenizer.json (and
// tokenizer_config.json) and encodes text exactly as Hugging Face tokenizers
// does for BPE models: added/special tokens split out first, the normalizer,
// the pre-tokenizer, then byte-level BPE (Qwen, Llama-3, DeepSeek-V3, GLM-4) or
// SentencePiece-style BPE with byte fallback (Llama-2, Mistral, Yi, Gemma).
// Its Chat renders the model's own Jinja chat template (internal/chattemplate).
//
// Encode never adds BOS/EOS itself (Hugging Face's add_special_tokens=False):
// the chat templates write the special tokens they need into the text.
//
// A Tokenizer is immutable after Load apart from an internal, locked word
// cache, so one value may be shared by any number of goroutines.
package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/sentitune/sentitune/internal/chattemplate"
)

// Tokenizer encodes text to token ids and back. Build one with Load.
type Tokenizer struct {
	model     bpe
	norm      normalizer    // nil: none
	meta      *metaspace    // Metaspace pre-tokenizer's rewrite, or nil
	pre       preTokenizer  // nil: a segment is one piece
	dec       textDecoder   // nil for byte-level vocabularies (idBytes decode them)
	rawAdded  *addedMatcher // added tokens with normalized=false: matched on the raw text
	normAdded *addedMatcher // normalized=true: matched after NFC
	added     map[string]int
	idToken   []string // token text by id ("" for an unused id)
	idBytes   [][]byte // what each id decodes to (byte-level vocabularies)
	eos, pad  int
	bos       int
	chat      *Chat

	// rawAdded and normAdded without special tokens: EncodePlain reads "<|im_end|>" in a text as text.
	rawOrdinary, normOrdinary *addedMatcher
}

// Load reads modelDir/tokenizer.json and, if present, modelDir/tokenizer_config.json
// (special tokens, chat template) and modelDir/chat_template.jinja.
func Load(modelDir string) (*Tokenizer, error) {
	tokPath := filepath.Join(modelDir, "tokenizer.json")
	tokJSON, err := os.ReadFile(tokPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("load tokenizer: %s not found (the model folder needs a Hugging Face tokenizer.json)", tokPath)
		}
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	cfgPath := filepath.Join(modelDir, "tokenizer_config.json")
	cfgJSON, err := os.ReadFile(cfgPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	var template string
	if b, err := os.ReadFile(filepath.Join(modelDir, "chat_template.jinja")); err == nil {
		template = string(b)
	}
	return build(tokPath, tokJSON, cfgPath, cfgJSON, template)
}

// New builds a Tokenizer from the contents of tokenizer.json and
// tokenizer_config.json (which may be nil).
func New(tokenizerJSON, tokenizerConfigJSON []byte) (*Tokenizer, error) {
	return build("tokenizer.json", tokenizerJSON, "tokenizer_config.json", tokenizerConfigJSON, "")
}

// tokenizerFile is the part of tokenizer.json this package reads.
type tokenizerFile struct {
	AddedTokens  []*addedToken `json:"added_tokens"`
	Normalizer   *component    `json:"normalizer"`
	PreTokenizer *component    `json:"pre_tokenizer"`
	Model        *tokenizerBPE `json:"model"`
	Decoder      *component    `json:"decoder"`
}

type component struct {
	Type           string       `json:"type"`
	Normalizers    []*component `json:"normalizers"`
	PreTokenizers  []*component `json:"pretokenizers"`
	Decoders       []*component `json:"decoders"`
	Pattern        *pattern     `json:"pattern"`
	Behavior       string       `json:"behavior"`
	Invert         bool         `json:"invert"`
	AddPrefixSpace *bool        `json:"add_prefix_space"`
	UseRegex       *bool        `json:"use_regex"`
	Prepend        string       `json:"prepend"`        // Prepend normalizer
	Content        string       `json:"content"`        // Replace, Strip
	Replacement    string       `json:"replacement"`    // Metaspace
	PrependScheme  string       `json:"prepend_scheme"` // Metaspace
	Split          *bool        `json:"split"`          // Metaspace
	Start          int          `json:"start"`          // Strip decoder
	Stop           int          `json:"stop"`           // Strip decoder
}

type pattern struct {
	Regex  *string `json:"Regex"`
	String *string `json:"String"`
}

type tokenizerBPE struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	ByteFallback            bool            `json:"byte_fallback"`
	UnkToken                *string         `json:"unk_token"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ContinuingSubwordPrefix string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         string          `json:"end_of_word_suffix"`
}

func build(tokName string, tokJSON []byte, cfgName string, cfgJSON []byte, template string) (*Tokenizer, error) {
	var f tokenizerFile
	if err := json.Unmarshal(tokJSON, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", tokName, err)
	}
	t, err := fromFile(&f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tokName, err)
	}
	cfg, err := parseConfig(cfgJSON)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", cfgName, err)
	}
	if template == "" {
		template = cfg.template
	}
	t.bos, t.eos, t.pad = t.idOf(cfg.bos), t.idOf(cfg.eos), t.idOf(cfg.pad)
	if t.pad < 0 {
		t.pad = t.eos
	}
	if t.chat, err = newChat(t, template, cfg.bos); err != nil {
		return nil, fmt.Errorf("%s: %w", cfgName, err)
	}
	return t, nil
}

func fromFile(f *tokenizerFile) (*Tokenizer, error) {
	m := f.Model
	if m == nil {
		return nil, errors.New(`no "model" section`)
	}
	if m.Type != "" && m.Type != "BPE" {
		return nil, fmt.Errorf("model type %q is not supported (only BPE)", m.Type)
	}
	vocab, err := parseVocab(m.Vocab)
	if err != nil {
		return nil, fmt.Errorf("model vocab: %w", err)
	}
	if len(vocab) == 0 {
		return nil, errors.New("model has an empty vocab")
	}
	if m.ContinuingSubwordPrefix != "" || m.EndOfWordSuffix != "" {
		return nil, errors.New("BPE with continuing_subword_prefix/end_of_word_suffix is not supported")
	}
	t := &Tokenizer{added: map[string]int{}}
	if t.norm, err = normalizerOf(f.Normalizer); err != nil {
		return nil, err
	}
	stage, err := preStageOf(f.PreTokenizer)
	if err != nil {
		return nil, err
	}
	t.meta, t.pre = stage.meta, stage.split
	if err := t.setDecoder(f.Decoder, stage.byteLevel); err != nil {
		return nil, err
	}
	if err := t.setVocab(vocab, f.AddedTokens, stage.byteLevel); err != nil {
		return nil, err
	}
	t.model = bpe{byteLevel: stage.byteLevel, vocab: vocab, ignoreMerges: m.IgnoreMerges, cache: newWordCache()}
	if stage.byteLevel {
		err = t.model.setByteTokens(vocab)
	} else {
		err = t.model.setCharTokens(vocab, m)
	}
	if err != nil {
		return nil, err
	}
	return t, t.model.setMerges(vocab, m.Merges)
}

func (t *Tokenizer) setDecoder(c *component, byteLevel bool) error {
	if byteLevel {
		if c != nil && c.Type != "ByteLevel" {
			return fmt.Errorf("decoder %q is not supported with a ByteLevel pre-tokenizer (only ByteLevel)", c.Type)
		}
		return nil
	}
	var err error
	t.dec, err = textDecoderOf(c)
	return err
}

// setVocab fills the id tables and the added-token matchers.
func (t *Tokenizer) setVocab(vocab map[string]int, added []*addedToken, byteLevel bool) error {
	size := 0
	for _, id := range vocab {
		if id < 0 {
			return fmt.Errorf("vocab has a negative id %d", id)
		}
		size = max(size, id+1)
	}
	for _, a := range added {
		if a.ID < 0 || a.Content == "" {
			return fmt.Errorf("added token %q has an invalid id %d or empty content", a.Content, a.ID)
		}
		size = max(size, a.ID+1)
	}
	t.idToken = make([]string, size)
	if byteLevel {
		t.idBytes = make([][]byte, size)
	}
	for tok, id := range vocab {
		t.idToken[id] = tok
		if byteLevel {
			t.idBytes[id] = byteLevelDecode(tok)
		}
	}
	var raw, normd, rawOrd, normOrd []*addedToken
	for _, a := range added {
		t.idToken[a.ID] = a.Content
		if byteLevel {
			t.idBytes[a.ID] = []byte(a.Content)
		}
		t.added[a.Content] = a.ID
		if a.Normalized {
			normd = append(normd, a)
		} else {
			raw = append(raw, a)
		}
		if !a.Special && a.Normalized {
			normOrd = append(normOrd, a)
		} else if !a.Special {
			rawOrd = append(rawOrd, a)
		}
	}
	t.rawAdded, t.normAdded = newAddedMatcher(raw), newAddedMatcher(normd)
	t.rawOrdinary, t.normOrdinary = newAddedMatcher(rawOrd), newAddedMatcher(normOrd)
	return nil
}

func (m *bpe) setByteTokens(vocab map[string]int) error {
	for b := 0; b < 256; b++ {
		tok := string(byteToRune[b])
		id, ok := vocab[tok]
		if !ok {
			return fmt.Errorf("vocab lacks the byte-level token %q for byte 0x%02X (not a byte-level BPE vocab?)", tok, b)
		}
		m.byteID[b] = int32(id)
	}
	return nil
}

// setCharTokens prepares SentencePiece-style BPE: single-character tokens,
// "<0xNN>" byte tokens and the unk token.
func (m *bpe) setCharTokens(vocab map[string]int, f *tokenizerBPE) error {
	m.charID = make(map[rune]int32)
	for tok, id := range vocab {
		if r, w := utf8.DecodeRuneInString(tok); w == len(tok) && (w > 1 || r < utf8.RuneSelf) {
			m.charID[r] = int32(id)
		}
	}
	m.glued = map[rune]bool{}
	for tok := range vocab {
		prev := metaSpace
		for _, r := range tok {
			if r == metaSpace && prev != metaSpace {
				m.glued[prev] = true
			}
			prev = r
		}
	}
	m.byteFallback, m.fuseUnk, m.unk = f.ByteFallback, f.FuseUnk, -1
	for b := range m.byteID {
		m.byteID[b] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteID[b] = int32(id)
		}
	}
	if f.UnkToken != nil {
		id, ok := vocab[*f.UnkToken]
		if !ok {
			return fmt.Errorf("model unk_token %q is not in the vocab", *f.UnkToken)
		}
		m.unk = int32(id)
	}
	return nil
}

func (m *bpe) setMerges(vocab map[string]int, raw json.RawMessage) error {
	pairs, err := parseMerges(raw)
	if err != nil {
		return err
	}
	m.merges = make(map[uint64]merge, len(pairs))
	for rank, p := range pairs {
		a, okA := vocab[p[0]]
		b, okB := vocab[p[1]]
		ab, okAB := vocab[p[0]+p[1]]
		if !okA || !okB || !okAB {
			return fmt.Errorf("merge %d (%q %q) uses a token missing from the vocab", rank, p[0], p[1])
		}
		k := pairKey(int32(a), int32(b))
		if _, dup := m.merges[k]; !dup { // the first (lowest-rank) occurrence wins
			m.merges[k] = merge{rank: int32(rank), id: int32(ab)}
		}
	}
	return nil
}

// tokenizerConfig is the part of tokenizer_config.json this package reads.
type tokenizerConfig struct {
	bos, eos, pad string
	template      string
}

func parseConfig(b []byte) (tokenizerConfig, error) {
	var c tokenizerConfig
	if len(bytes.TrimSpace(b)) == 0 {
		return c, nil
	}
	var raw struct {
		BOS          json.RawMessage `json:"bos_token"`
		EOS          json.RawMessage `json:"eos_token"`
		Pad          json.RawMessage `json:"pad_token"`
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return c, err
	}
	var err error
	if c.bos, err = tokenContent(raw.BOS); err != nil {
		return c, fmt.Errorf("bos_token: %w", err)
	}
	if c.eos, err = tokenContent(raw.EOS); err != nil {
		return c, fmt.Errorf("eos_token: %w", err)
	}
	if c.pad, err = tokenContent(raw.Pad); err != nil {
		return c, fmt.Errorf("pad_token: %w", err)
	}
	if c.template, err = chattemplate.FromConfig(raw.ChatTemplate); err != nil {
		return c, fmt.Errorf("chat_template: %w", err)
	}
	return c, nil
}

// tokenContent reads a special token written as a string, null, or an
// AddedToken object {"content": ...}.
func tokenContent(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", errors.New("neither a string nor an object with content")
	}
	return obj.Content, nil
}

func (t *Tokenizer) idOf(tok string) int {
	if tok == "" {
		return -1
	}
	if id, ok := t.TokenID(tok); ok {
		return id
	}
	return -1
}

// Encode returns the token ids of text. Added and special tokens written in
// the text (e.g. "<|im_end|>") become their ids, as in Hugging Face with
// split_special_tokens=False; no BOS/EOS is added.
func (t *Tokenizer) Encode(text string) ([]int, error) {
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("encode: text is not valid UTF-8 (bad byte at offset %d)", invalidOffset(text))
	}
	ids := make([]int, 0, len(text)/4+4)
	return t.appendText(ids, text, t.rawAdded, t.normAdded), nil
}

// EncodePlain is Encode with special tokens written in the text (e.g.
// "<|im_end|>") encoded as the plain text they are, as Hugging Face does with
// split_special_tokens=True: a review cannot end its chat turn or forge an
// answer. Added tokens that are not special still become their ids.
func (t *Tokenizer) EncodePlain(text string) ([]int, error) {
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("encode: text is not valid UTF-8 (bad byte at offset %d)", invalidOffset(text))
	}
	ids := make([]int, 0, len(text)/4+4)
	return t.appendText(ids, text, t.rawOrdinary, t.normOrdinary), nil
}

func (t *Tokenizer) appendText(ids []int, text string, raw, normd *addedMatcher) []int {
	for from := 0; ; {
		a, b, tok := raw.find(text, from)
		if tok == nil {
			return t.appendSegment(ids, text[from:], from == 0, normd)
		}
		ids = t.appendSegment(ids, text[from:a], from == 0, normd)
		ids = append(ids, tok.ID)
		from = b
	}
}

// appendSegment encodes text that holds no raw added token; first says
// whether it starts the text (for Metaspace's prepend_scheme "first").
func (t *Tokenizer) appendSegment(ids []int, seg string, first bool, normd *addedMatcher) []int {
	if seg == "" {
		return ids
	}
	if t.norm != nil {
		seg = t.norm.normalize(seg)
	}
	for from := 0; ; {
		a, b, tok := normd.find(seg, from)
		if tok == nil {
			return t.appendPieces(ids, seg[from:], first && from == 0)
		}
		ids = t.appendPieces(ids, seg[from:a], first && from == 0)
		ids = append(ids, tok.ID)
		from = b
	}
}

func (t *Tokenizer) appendPieces(ids []int, s string, first bool) []int {
	if s == "" {
		return ids
	}
	if t.meta != nil {
		s = t.meta.rewrite(s, first)
	}
	if !t.model.byteLevel {
		if t.pre == nil {
			return t.model.appendWords(ids, s)
		}
		for _, p := range t.pre.split(s, nil) {
			ids = t.model.appendWords(ids, p)
		}
		return ids
	}
	if sp, ok := t.pre.(regexSplitter); ok { // the common case, without a pieces slice
		for i := 0; i < len(s); {
			end := sp.next(s, i)
			ids = t.model.appendPiece(ids, s[i:end])
			i = end
		}
		return ids
	}
	for _, p := range t.pre.split(s, nil) {
		ids = t.model.appendPiece(ids, p)
	}
	return ids
}

func invalidOffset(s string) int {
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			return i
		}
		i += w
	}
	return -1
}

// Decode returns the text of ids. Special tokens are kept as their text;
// byte sequences that are not valid UTF-8 (an id sequence cut inside a
// character) become U+FFFD. Hugging Face's clean_up_tokenization_spaces is
// not applied, so Decode(Encode(s)) is the normalized s for byte-level
// models (NFC(s) for Qwen); SentencePiece-style models run tokenizer.json's
// decoder (Llama-2's strips the leading space its normalizer added).
func (t *Tokenizer) Decode(ids []int) (string, error) {
	for i, id := range ids {
		if id < 0 || id >= len(t.idToken) || (t.idToken[id] == "" && (t.idBytes == nil || t.idBytes[id] == nil)) {
			return "", fmt.Errorf("decode: id %d at position %d is not in the vocabulary (size %d)", id, i, len(t.idToken))
		}
	}
	if t.dec != nil {
		tokens := make([]string, len(ids))
		for i, id := range ids {
			tokens[i] = t.idToken[id]
		}
		return strings.Join(t.dec.decodeChain(tokens), ""), nil
	}
	var buf []byte
	for _, id := range ids {
		buf = append(buf, t.idBytes[id]...)
	}
	if utf8.Valid(buf) {
		return string(buf), nil
	}
	return string(appendLossyUTF8(nil, buf)), nil
}

// TokenID returns the id of a token as written in tokenizer.json: an added
// token's content ("<|im_end|>") or a vocab entry, in byte-level form ("Ġthe")
// for byte-level models and with "▁" for SentencePiece-style ones ("▁the").
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	if id, ok := t.added[tok]; ok {
		return id, true
	}
	id, ok := t.model.vocab[tok]
	return id, ok
}

// VocabSize is the largest token id plus one (151,669 for Qwen2.5). Models
// usually pad their embedding matrix beyond it (151,936 for Qwen2.5).
func (t *Tokenizer) VocabSize() int { return len(t.idToken) }

// EOSID is the id of tokenizer_config.json's eos_token, or -1 if none is set.
func (t *Tokenizer) EOSID() int { return t.eos }

// PadID is the id of pad_token, falling back to eos_token; -1 if neither is set.
func (t *Tokenizer) PadID() int { return t.pad }

// BOSID is the id of bos_token, or -1 (Qwen has none).
func (t *Tokenizer) BOSID() int { return t.bos }

// Chat returns the model's chat template, or nil when it is neither ChatML
// nor Llama-3.
func (t *Tokenizer) Chat() *Chat { return t.chat }
