package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/eval"
)

// scoreForEval scores the labelled test split at dataPath with the model named by the eval
// command's --model and --adapter flags, and returns one prediction per row (ID, Text, Label,
// Pred, Prob) plus provenance entries to show in the report (model, adapter, options, …).
//
// Placeholder: the predict engine fills this in. Until then `eval --model` exits with code 2.
func scoreForEval(c *cli.Context, dataPath string) ([]eval.Prediction, map[string]string, error) {
	return nil, nil, exitError{2, errors.New("eval --model: not implemented yet")}
}
