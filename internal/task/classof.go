package task

import (
	"fmt"
	"strings"
)

// ClassOf reads a label value given in a file (a label column, a record's answer) as a class
// of ls: its answer exactly, else its name in any case ("neutral", "Neutral").
func (ls Labels) ClassOf(value string) (int, error) {
	if c, err := ls.ParseAnswer(value); err == nil {
		return c, nil
	}
	v := strings.TrimSpace(value)
	for i, l := range ls {
		if strings.EqualFold(v, l.Name) {
			return i, nil
		}
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return -1, fmt.Errorf("label %q is none of %s (answers %s)", value, strings.Join(names, ", "), strings.Join(ls.Answers(), ", "))
}
