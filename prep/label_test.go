package prep

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeLabel(t *testing.T) {
	user, err := ParseLabelMap("good=1, bad=0, neutral=skip, 5=1, -1=0")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		raw     string
		m       LabelMap
		want    int
		wantErr error
	}{
		{"1", nil, 1, nil},
		{"0", nil, 0, nil},
		{" 1 ", nil, 1, nil},
		{"1.0", nil, 1, nil},
		{"0.0", nil, 0, nil},
		{"pos", nil, 1, nil},
		{"NEG", nil, 0, nil},
		{"Positive", nil, 1, nil},
		{"negative", nil, 0, nil},
		{"true", nil, 1, nil},
		{"FALSE", nil, 0, nil},
		{"好评", nil, 1, nil},
		{"差评", nil, 0, nil},
		{"正面", nil, 1, nil},
		{"负面", nil, 0, nil},
		{"", nil, 0, ErrMissingLabel},
		{"  ", nil, 0, ErrMissingLabel},
		{"maybe", nil, 0, ErrUnknownLabel},
		{"-1", nil, 0, ErrUnknownLabel},
		{"5", nil, 0, ErrStarRating},
		{"3.5", nil, 0, ErrStarRating},
		{"2", nil, 0, ErrStarRating},
		{"good", user, 1, nil},
		{"BAD", user, 0, nil},
		{"neutral", user, 0, ErrSkippedLabel},
		{"5.0", user, 1, nil},
		{"-1", user, 0, nil},
		{"pos", user, 1, nil}, // built-ins still apply
		{"4", user, 0, ErrStarRating},
		{"1", StarsLabelMap, 0, nil},
		{"2", StarsLabelMap, 0, nil},
		{"3", StarsLabelMap, 0, ErrSkippedLabel},
		{"4", StarsLabelMap, 1, nil},
		{"5.0", StarsLabelMap, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.raw+"/"+tt.m.String(), func(t *testing.T) {
			got, err := NormalizeLabel(tt.raw, tt.m)
			if !errors.Is(err, tt.wantErr) || (err == nil && got != tt.want) {
				t.Errorf("NormalizeLabel(%q) = %d, %v; want %d, %v", tt.raw, got, err, tt.want, tt.wantErr)
			}
			if err != nil && tt.raw != "" && strings.TrimSpace(tt.raw) != "" && !strings.Contains(err.Error(), tt.raw) {
				t.Errorf("error %q does not name the value %q", err, tt.raw)
			}
		})
	}
}

func TestParseLabelMap(t *testing.T) {
	tests := []struct {
		spec, want, err string
	}{
		{"pos=1,neg=0", "neg=0,pos=1", ""},
		{"stars", "1=0,2=0,3=skip,4=1,5=1", ""},
		{"Great = 1 , AWFUL=0, meh=SKIP", "awful=0,great=1,meh=skip", ""},
		{"", "", ""},
		{"pos=2", "", `"pos" must map to 1, 0 or skip`},
		{"pos", "", `want value=1, value=0 or value=skip, got "pos"`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			m, err := ParseLabelMap(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || m.String() != tt.want {
				t.Errorf("got %q, %v; want %q", m.String(), err, tt.want)
			}
		})
	}
}
