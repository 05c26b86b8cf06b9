package prep

import (
	"errors"
	"testing"
)

// TestLabeler: the classes a page shows before prep are the ones prep gives, binary or K-class.
func TestLabeler(t *testing.T) {
	for _, tc := range []struct {
		labels, labelMap string
		k                int
		raw              map[string]int // raw value → class; -1: skipped, -2: an error
	}{
		{"", "", 2, map[string]int{"pos": 1, "0": 0, "好评": 1, "maybe": -2}},
		{"", "good=1,bad=0,meh=skip", 2, map[string]int{"good": 1, "bad": 0, "meh": -1}},
		{"", "stars3", 3, map[string]int{"1": 0, "3": 1, "5": 2, "6": -2}},
		{"", "stars5", 5, map[string]int{"1": 0, "4": 3}},
		{"negative=0,neutral=1,positive=2", "mixed=neutral,spam=skip", 3,
			map[string]int{"negative": 0, "1": 1, "mixed": 1, "positive": 2, "spam": -1, "pos": -2}},
	} {
		l, err := NewLabeler(tc.labels, tc.labelMap)
		if err != nil || len(l.Labels) != tc.k {
			t.Fatalf("%q %q: %v, %d classes, want %d", tc.labels, tc.labelMap, err, len(l.Labels), tc.k)
		}
		for raw, want := range tc.raw {
			got, err := l.Class(raw)
			switch {
			case want == -1 && !errors.Is(err, ErrSkippedLabel), want == -2 && err == nil, want >= 0 && (err != nil || got != want):
				t.Errorf("%q %q: %q is class %d (%v), want %d", tc.labels, tc.labelMap, raw, got, err, want)
			}
		}
	}
	if _, err := NewLabeler("a=0,b=1", "stars3"); err == nil {
		t.Error("--labels with --label-map stars3 accepted")
	}
}
