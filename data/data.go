// Package data holds the bundled sample data (embedded in the binary for the demo).
package data

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed amazon.jsonl
var amazon []byte

// AmazonName is a file name for the Amazon sample (its format is JSON Lines).
const AmazonName = "amazon.jsonl"

// AmazonJSONL returns the 1,000 labelled Amazon review sentences as JSON
// Lines: {"text": "...", "label": 1 or 0}, 500 of each, in source order.
// The slice is a copy; callers may modify it.
func AmazonJSONL() []byte {
	return append([]byte(nil), amazon...)
}

// Amazon returns the sample as parallel slices of texts and labels (1 or 0), in source order.
func Amazon() (texts []string, labels []int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(amazon))
	for row := 1; sc.Scan(); row++ {
		var r struct {
			Text  string `json:"text"`
			Label int    `json:"label"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, nil, fmt.Errorf("%s line %d: %w", AmazonName, row, err)
		}
		texts, labels = append(texts, r.Text), append(labels, r.Label)
	}
	return texts, labels, sc.Err()
}
