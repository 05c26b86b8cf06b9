// Package data holds the bundled sample data (embedded in the binary for the demo).
package data

import _ "embed"

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
