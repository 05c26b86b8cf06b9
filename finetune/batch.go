package finetune

import (
	"math/rand/v2"
	"sort"
)

// megaBatchFactor is how many batches are sorted by length together, as in
// Hugging Face's LengthGroupedSampler: large enough to cut most padding, small
// enough that batch order stays random.
const megaBatchFactor = 50

// LengthGroupedBatches splits the example indices 0..len(lengths)-1 into
// batches of at most batchSize examples with similar lengths: shuffle, sort
// each mega-batch of 50 batches by length (longest first), cut it into batches,
// then shuffle the batches. Every index appears exactly once; the same seed
// gives the same batches.
func LengthGroupedBatches(lengths []int, batchSize int, seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed, 0x5e471))
	perm := rng.Perm(len(lengths))
	mega := batchSize * megaBatchFactor
	var batches [][]int
	for start := 0; start < len(perm); start += mega {
		group := perm[start:min(start+mega, len(perm))]
		sort.SliceStable(group, func(i, j int) bool { return lengths[group[i]] > lengths[group[j]] })
		for b := 0; b < len(group); b += batchSize {
			batches = append(batches, group[b:min(b+batchSize, len(group))])
		}
	}
	rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	return batches
}

// epochBatches is the batch plan of one epoch; each epoch has its own seed so
// that a resumed run rebuilds exactly the batches the interrupted one used.
func epochBatches(lengths []int, batchSize int, seed uint64, epoch int) [][]int {
	return LengthGroupedBatches(lengths, batchSize, seed+uint64(epoch)*1_000_003)
}

// sortedBatches cuts the indices, sorted by length, into batches: evaluation
// needs no randomness, only little padding.
func sortedBatches(lengths []int, batchSize int) [][]int {
	idx := make([]int, len(lengths))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return lengths[idx[i]] > lengths[idx[j]] })
	var batches [][]int
	for b := 0; b < len(idx); b += batchSize {
		batches = append(batches, idx[b:min(b+batchSize, len(idx))])
	}
	return batches
}
