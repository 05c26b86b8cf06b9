package finetune

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// example is one encoded training record: the prompt ids followed by the
// answer ids (label and end-of-turn). Loss is taken only on the answer.
type example struct {
	ids    []int
	prompt int  // number of prompt ids; ids[prompt:] is the answer
	label  int  // the class, 0..K-1
	cut    bool // the review was cut to fit the max length (task.TruncationRight)

	// Static shapes (static.go): the batch is padded to padTo positions; a filler row only pads.
	padTo  int
	filler bool
}

// answerLen is the number of tokens that carry loss.
func (e example) answerLen() int { return len(e.ids) - e.prompt }

// dataFiles resolves the training and (optional) evaluation files of cfg.
// From a prep folder the evaluation split is val.json; test.json is never
// read, since choosing a checkpoint on it would leak it into the model.
func dataFiles(cfg Config) (train, eval string, err error) {
	if cfg.Data == "" {
		if _, err := os.Stat(cfg.TrainFile); err != nil {
			return "", "", fmt.Errorf("training file: %w", err)
		}
		if cfg.EvalFile != "" {
			if _, err := os.Stat(cfg.EvalFile); err != nil {
				return "", "", fmt.Errorf("evaluation file: %w", err)
			}
		}
		return cfg.TrainFile, cfg.EvalFile, nil
	}
	st, err := os.Stat(cfg.Data)
	if err != nil {
		return "", "", fmt.Errorf("prep folder: %w", err)
	}
	if !st.IsDir() {
		return "", "", fmt.Errorf("prep folder %s is not a folder (give a single file with --train)", cfg.Data)
	}
	train = filepath.Join(cfg.Data, prep.FileTrain)
	if _, err := os.Stat(train); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("prep folder %s has no %s (run `sentitune prep` into it first)", cfg.Data, prep.FileTrain)
		}
		return "", "", err
	}
	if p := filepath.Join(cfg.Data, prep.FileVal); fileExists(p) {
		return train, p, nil
	}
	return train, "", nil
}

// readExamples reads an Alpaca file and encodes every record with the prompt
// builder predict uses. It returns the records too, for the adapter metadata.
func readExamples(tok *tokenizer.Tokenizer, path string, maxLen int) ([]example, []task.Example, error) {
	return readExamplesIn(tok, path, maxLen, task.Binary)
}

// readExamplesIn is readExamples with the answers of the label set ls.
func readExamplesIn(tok *tokenizer.Tokenizer, path string, maxLen int, ls task.Labels) ([]example, []task.Example, error) {
	recs, err := readAnswersIn(path, ls)
	if err != nil {
		return nil, nil, err
	}
	exs := make([]example, len(recs))
	for i, r := range recs {
		answer, err := tok.Chat().EncodeAnswer(ls[r.Label].Answer)
		if err != nil {
			return nil, nil, fmt.Errorf("%s record %d: %w", path, r.Row, err)
		}
		ids, cut, err := task.BuildPromptCut(tok, task.PromptSpec{Instruction: r.Instruction, System: r.System}, r.Input, maxLen, len(answer))
		if err != nil {
			return nil, nil, fmt.Errorf("%s record %d: %w", path, r.Row, err)
		}
		exs[i] = example{ids: append(ids, answer...), prompt: len(ids), label: r.Label, cut: cut}
	}
	return exs, recs, nil
}

// countCut is the number of examples whose review was cut to the max length.
func countCut(exs []example) int {
	n := 0
	for _, e := range exs {
		if e.cut {
			n++
		}
	}
	return n
}

// truncationLine says how many examples the max length cut, and from which end.
func truncationLine(maxLen int, train, eval []example) string {
	s := fmt.Sprintf("finetune: --max-len %d cuts %d of %d training examples (%.1f%%)", maxLen, countCut(train), len(train),
		100*float64(countCut(train))/float64(max(1, len(train))))
	if len(eval) > 0 {
		s += fmt.Sprintf(" and %d of %d evaluation examples", countCut(eval), len(eval))
	}
	return s + "; truncation side " + task.TruncationRight + ": a long review loses its end, the prompt template and answer are kept\n"
}

func lengthsOf(exs []example) []int {
	l := make([]int, len(exs))
	for i, e := range exs {
		l[i] = len(e.ids)
	}
	return l
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
