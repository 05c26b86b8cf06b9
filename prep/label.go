package prep

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/table"
)

// LabelMap maps raw label values (matched case-insensitively, numbers by
// value so "5" matches "5.0") to 1, 0 or Skip.
type LabelMap map[string]int

// Skip in a LabelMap drops rows with that value (e.g. neutral reviews).
const Skip = -1

// Label errors; NormalizeLabel wraps them with the raw value.
var (
	ErrMissingLabel = errors.New("missing label")
	ErrUnknownLabel = errors.New("unknown label value")
	ErrStarRating   = errors.New("label looks like a star rating")
	ErrSkippedLabel = errors.New("label mapped to skip")
)

// StarsLabelMap is the documented rule for 1–5 star ratings, selected with
// --label-map stars: 1–2 stars negative, 3 dropped as neutral, 4–5 positive.
var StarsLabelMap = LabelMap{"1": 0, "2": 0, "3": Skip, "4": 1, "5": 1}

// builtinLabels are the values every run understands (table.LabelWords, which eval also reads generated answers with).
var builtinLabels = table.LabelWords

// ParseLabelMap parses "pos=1,neg=0,neutral=skip" or the preset "stars".
// Values must be 1, 0 or skip.
func ParseLabelMap(spec string) (LabelMap, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	if strings.EqualFold(spec, "stars") {
		return StarsLabelMap, nil
	}
	m := LabelMap{}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.ToLower(strings.TrimSpace(v))
		if !ok || k == "" {
			return nil, fmt.Errorf("label map %q: want value=1, value=0 or value=skip, got %q", spec, part)
		}
		switch v {
		case "1":
			m[labelKey(k)] = 1
		case "0":
			m[labelKey(k)] = 0
		case "skip":
			m[labelKey(k)] = Skip
		default:
			return nil, fmt.Errorf("label map %q: %q must map to 1, 0 or skip, not %q", spec, k, v)
		}
	}
	return m, nil
}

// String renders the map sorted by key ("neg=0,pos=1").
func (m LabelMap) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := strconv.Itoa(m[k])
		if m[k] == Skip {
			v = "skip"
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, ",")
}

// labelKey canonicalises a raw value: trimmed, lower case, numbers by value.
func labelKey(raw string) string {
	k := strings.ToLower(strings.TrimSpace(raw))
	if f, err := strconv.ParseFloat(k, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return k
}

// NormalizeLabel turns a raw label into 1 or 0. The user's map wins; then
// the built-in values: 1/0 (also 1.0/0.0), pos/neg, positive/negative,
// true/false, 好评/差评, 正面/负面, 积极/消极, 正向/负向, case-insensitive.
//
// Star ratings are refused: a number above 1 up to 10 (e.g. 4 or 3.5)
// returns ErrStarRating, since "1" would then mean one star, not positive;
// pass the "stars" map or your own. A fraction such as 0.5 is no rating: it is
// an unknown label, which --on-bad-row skip drops. Errors: ErrMissingLabel
// for an empty value, ErrSkippedLabel for a value mapped to skip,
// ErrUnknownLabel otherwise.
func NormalizeLabel(raw string, m LabelMap) (int, error) {
	k := labelKey(raw)
	if k == "" {
		return 0, ErrMissingLabel
	}
	if v, ok := m[k]; ok {
		if v == Skip {
			return 0, fmt.Errorf("%w: %q", ErrSkippedLabel, raw)
		}
		return v, nil
	}
	if v, ok := builtinLabels[k]; ok {
		return v, nil
	}
	f, err := strconv.ParseFloat(k, 64)
	if err == nil && f > 1 && f <= 10 {
		return 0, fmt.Errorf("%w: %q (pass --label-map stars for 1–2→0, 3 skipped, 4–5→1, stars3 or stars5 for three or five classes, or your own map like '1=0,2=0,4=1,5=1')", ErrStarRating, raw)
	}
	if err == nil && f > 0 && f < 1 {
		return 0, fmt.Errorf("%w %q (a fraction, not a class: map it with --label-map, e.g. '%s=skip')", ErrUnknownLabel, raw, k)
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownLabel, raw)
}
