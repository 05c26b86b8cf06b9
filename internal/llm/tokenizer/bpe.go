package tokenizer

import (
	"math"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpe is a BPE model: the merge with the lowest rank is applied first, the
// leftmost occurrence on ties — the order Hugging Face tokenizers uses. A
// byte-level model (GPT-2, Qwen, Llama-3) starts from one symbol per byte; a
// SentencePiece-style one (Llama-2, Mistral, Gemma) from one per character,
// spelling characters missing from the vocab as "<0xNN>" byte tokens.
type bpe struct {
	byteLevel    bool
	byteID       [256]int32       // byte-level: each byte's token; else its "<0xNN>" token or -1
	charID       map[rune]int32   // not byte-level: the single-character tokens
	byteFallback bool             // not byte-level: unknown characters become "<0xNN>" tokens
	unk          int32            // not byte-level: the token of other unknown characters, or -1 (dropped)
	fuseUnk      bool             // consecutive unknown characters make one unk token
	glued        map[rune]bool    // not byte-level: characters some token joins to a following "▁"
	merges       map[uint64]merge // pair key → rank and merged id
	vocab        map[string]int   // token string (byte-level form for byte-level models) → id
	ignoreMerges bool             // a piece that is itself in the vocab is one token (Llama-3)
	cache        *wordCache
}

type merge struct{ rank, id int32 }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

const noRank = math.MaxInt32

// heapThreshold: pieces with more bytes than this use the O(n log n) merge loop;
// shorter ones use a linear scan, which is faster for them.
const heapThreshold = 64

// appendPiece appends the ids of one pre-tokenized piece (raw UTF-8 bytes).
func (m *bpe) appendPiece(dst []int, piece string) []int {
	if len(piece) == 1 && m.byteLevel {
		return append(dst, int(m.byteID[piece[0]]))
	}
	if ids, ok := m.cache.get(piece); ok {
		for _, id := range ids {
			dst = append(dst, int(id))
		}
		return dst
	}
	ids := m.encodeWord(piece)
	m.cache.put(piece, ids)
	for _, id := range ids {
		dst = append(dst, int(id))
	}
	return dst
}

// metaSpace is SentencePiece's word-start mark, which the normalizer or Metaspace writes for spaces.
const metaSpace = '▁'

// appendWords is appendPiece for SentencePiece-style models, whose pre-tokenizer
// often leaves a whole review as one piece. It cuts the piece before each "▁"
// that no vocab token joins to the character before it: no merge can cross such
// a cut, so the ids are the same, and the words hit the cache.
func (m *bpe) appendWords(dst []int, piece string) []int {
	if m.ignoreMerges { // a cut would change which piece is looked up whole
		return m.appendPiece(dst, piece)
	}
	start, prev := 0, metaSpace
	for i, r := range piece {
		if r == metaSpace && prev != metaSpace && i > start && !m.glued[prev] {
			dst = m.appendPiece(dst, piece[start:i])
			start = i
		}
		prev = r
	}
	return m.appendPiece(dst, piece[start:])
}

// encodeWord runs BPE on one piece without the cache.
func (m *bpe) encodeWord(piece string) []int32 {
	if m.ignoreMerges {
		key := piece
		if m.byteLevel {
			key = byteLevelString(piece)
		}
		if id, ok := m.vocab[key]; ok {
			return []int32{int32(id)}
		}
	}
	var syms []int32
	if m.byteLevel {
		syms = make([]int32, len(piece))
		for i := 0; i < len(piece); i++ {
			syms[i] = m.byteID[piece[i]]
		}
	} else {
		syms = m.charSymbols(piece)
	}
	if len(syms) > heapThreshold {
		return m.mergeHeap(syms)
	}
	return m.mergeLinear(syms)
}

// charSymbols is the starting point of SentencePiece-style BPE: one token per
// character, "<0xNN>" tokens for characters the vocab lacks, else unk.
func (m *bpe) charSymbols(piece string) []int32 {
	syms := make([]int32, 0, len(piece))
	prevUnk := false
	for i, r := range piece {
		if id, ok := m.charID[r]; ok {
			syms, prevUnk = append(syms, id), false
			continue
		}
		if m.byteFallback && m.hasByteTokens(piece[i:i+utf8.RuneLen(r)]) {
			for k := i; k < i+utf8.RuneLen(r); k++ {
				syms = append(syms, m.byteID[piece[k]])
			}
			prevUnk = false
			continue
		}
		if m.unk >= 0 && !(m.fuseUnk && prevUnk) {
			syms = append(syms, m.unk)
		}
		prevUnk = m.unk >= 0
	}
	return syms
}

func (m *bpe) hasByteTokens(ch string) bool {
	for k := 0; k < len(ch); k++ {
		if m.byteID[ch[k]] < 0 {
			return false
		}
	}
	return true
}

func (m *bpe) rankOf(a, b int32) int32 {
	if mg, ok := m.merges[pairKey(a, b)]; ok {
		return mg.rank
	}
	return noRank
}

// mergeLinear keeps the rank of every adjacent pair and rescans for the minimum.
func (m *bpe) mergeLinear(syms []int32) []int32 {
	if len(syms) < 2 {
		return syms
	}
	ranks := make([]int32, len(syms)-1)
	for k := range ranks {
		ranks[k] = m.rankOf(syms[k], syms[k+1])
	}
	for {
		best, bestRank := -1, int32(noRank)
		for k, r := range ranks {
			if r < bestRank {
				best, bestRank = k, r
			}
		}
		if best < 0 {
			return syms
		}
		syms[best] = m.merges[pairKey(syms[best], syms[best+1])].id
		syms = append(syms[:best+1], syms[best+2:]...)
		ranks = append(ranks[:best], ranks[best+1:]...)
		if best > 0 {
			ranks[best-1] = m.rankOf(syms[best-1], syms[best])
		}
		if best < len(ranks) {
			ranks[best] = m.rankOf(syms[best], syms[best+1])
		}
	}
}

// mergeHeap is Hugging Face's algorithm: a priority queue of (rank, position)
// over a linked list of symbols, skipping entries that went stale.
func (m *bpe) mergeHeap(syms []int32) []int32 {
	n := len(syms)
	prev := make([]int32, n)
	next := make([]int32, n)
	alive := make([]bool, n)
	for i := range syms {
		prev[i], next[i], alive[i] = int32(i-1), int32(i+1), true
	}
	next[n-1] = -1
	q := make(mergeQueue, 0, n)
	for i := 0; i+1 < n; i++ {
		if mg, ok := m.merges[pairKey(syms[i], syms[i+1])]; ok {
			q = append(q, queued{mg.rank, int32(i), mg.id})
		}
	}
	q.init()
	for len(q) > 0 {
		top := q.pop()
		p := top.pos
		if !alive[p] || next[p] < 0 {
			continue
		}
		r := next[p]
		if mg, ok := m.merges[pairKey(syms[p], syms[r])]; !ok || mg.id != top.id {
			continue // stale entry
		}
		syms[p] = top.id
		alive[r] = false
		next[p] = next[r]
		if next[r] >= 0 {
			prev[next[r]] = p
		}
		if l := prev[p]; l >= 0 {
			if mg, ok := m.merges[pairKey(syms[l], syms[p])]; ok {
				q.push(queued{mg.rank, l, mg.id})
			}
		}
		if nr := next[p]; nr >= 0 {
			if mg, ok := m.merges[pairKey(syms[p], syms[nr])]; ok {
				q.push(queued{mg.rank, p, mg.id})
			}
		}
	}
	out := make([]int32, 0, n)
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

type queued struct{ rank, pos, id int32 }

// mergeQueue is a binary min-heap by (rank, position), written out rather
// than through container/heap, whose interface boxing allocated on every push.
type mergeQueue []queued

func (q mergeQueue) less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].pos < q[j].pos
}

func (q mergeQueue) init() {
	for i := len(q)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}

func (q *mergeQueue) push(x queued) {
	*q = append(*q, x)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *mergeQueue) pop() queued {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	*q = h[:n]
	q.down(0)
	return top
}

func (q mergeQueue) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(q) {
			return
		}
		m := l
		if r := l + 1; r < len(q) && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			return
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
}

// wordCache maps pieces to their ids, sharded so that many goroutines can
// encode at once. A full shard is emptied rather than grown, bounding memory
// on a long-running server.
type wordCache struct {
	shards [cacheShards]cacheShard
}

const (
	cacheShards   = 64
	cacheShardCap = 4096
	maxCachedLen  = 256 // longer pieces are rare; caching them would only hold memory
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[string][]int32
	_  [40]byte // keep shards on separate cache lines
}

func newWordCache() *wordCache {
	c := &wordCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[string][]int32)
	}
	return c
}

// shard picks a shard from a few bytes of the key (pieces reaching the cache
// have at least two): hashing the whole key here would double the map's own work.
func (c *wordCache) shard(key string) *cacheShard {
	h := uint(key[0]) + 31*uint(key[len(key)-1]) + 131*uint(key[len(key)/2]) + 7*uint(len(key))
	return &c.shards[h%cacheShards]
}

func (c *wordCache) get(key string) ([]int32, bool) {
	sh := c.shard(key)
	sh.mu.RLock()
	ids, ok := sh.m[key]
	sh.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(key string, ids []int32) {
	if len(key) > maxCachedLen {
		return
	}
	sh := c.shard(key)
	key = strings.Clone(key) // do not pin the caller's (possibly large) text
	sh.mu.Lock()
	if len(sh.m) >= cacheShardCap {
		clear(sh.m)
	}
	sh.m[key] = ids
	sh.mu.Unlock()
}
