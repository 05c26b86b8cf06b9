package predict

// DefaultBatchTokens bounds the padded tokens (rows × longest row) of one scoring pass, as serve's
// --max-batch-tokens does: on long reviews 16 rows of ~500 tokens scored ~4× slower per row than 4
// (issue 18), so long rows form smaller batches while short ones still fill --batch-size.
const DefaultBatchTokens = DefaultServeBatchTokens

// batches cuts order (row indices sorted by ascending length of ids) into consecutive runs of at
// most maxRows rows and maxTokens padded tokens (rows × the run's last, longest row); a row longer
// than maxTokens forms a run of its own.
func batches(ids [][]int, order []int, maxRows, maxTokens int) [][]int {
	var out [][]int
	for lo := 0; lo < len(order); {
		hi := lo + 1
		for hi < len(order) && hi-lo < maxRows && (hi-lo+1)*len(ids[order[hi]]) <= maxTokens {
			hi++
		}
		out = append(out, order[lo:hi])
		lo = hi
	}
	return out
}
