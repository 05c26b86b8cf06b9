package finetune

import "github.com/sentitune/sentitune/internal/task"

// HeldOutRecords are the records of trainPath that finetune holds out for evaluation when the
// data has no val split (--val-ratio, --seed), in file order: studio scores them to pick a
// decision threshold on rows the model did not train on.
func HeldOutRecords(trainPath string, ratio float64, seed uint64) ([]task.Record, error) {
	exs, err := readAnswers(trainPath)
	if err != nil {
		return nil, err
	}
	labels := make([]int, len(exs))
	for i, e := range exs {
		labels[i] = e.Label
	}
	held := heldOutRows(labels, ratio, seed)
	var out []task.Record
	for i, e := range exs {
		if held[i] {
			out = append(out, e.Record)
		}
	}
	return out, nil
}
