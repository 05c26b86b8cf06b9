package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/predict"
)

// scoreLine is one --text answer: "pred prob" for the binary task; for K classes the class
// name, its probability and every class's, "neutral 0.612345 negative=0.201234 ...".
func scoreLine(ls task.Labels, s predict.Score) string {
	if ls.IsBinary() || s.Probs == nil {
		return fmt.Sprintf("%d %.6f", s.Pred, s.Prob)
	}
	parts := []string{ls[s.Pred].Name, strconv.FormatFloat(s.Prob, 'f', 6, 64)}
	for c, l := range ls {
		parts = append(parts, l.Name+"="+strconv.FormatFloat(s.Probs[c], 'f', 6, 64))
	}
	return strings.Join(parts, " ")
}

// generatedClass is a --generate answer's class as printed: its index for the binary task, its
// name for K classes, "-" when the reply holds no answer.
func generatedClass(ls task.Labels, pred int) string {
	switch {
	case pred == predict.NoAnswer:
		return "-"
	case ls.IsBinary():
		return strconv.Itoa(pred)
	}
	return ls[pred].Name
}
