// Package prep turns labelled review files into Alpaca instruction records and a held-out split.
package prep

import (
	"encoding/json"
	"fmt"
	"os"
)

// Alpaca is one instruction record in the format LLaMA-Factory reads.
type Alpaca struct {
	Instruction string `json:"instruction"`
	Input       string `json:"input"`
	Output      string `json:"output"`
	System      string `json:"system,omitempty"`
}

// ReadAlpaca reads a JSON array (or JSON Lines) file of Alpaca records.
func ReadAlpaca(path string) ([]Alpaca, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var recs []Alpaca
	if err := json.Unmarshal(b, &recs); err == nil {
		return recs, nil
	}
	dec := json.NewDecoder(bytesReader(b))
	for row := 1; dec.More(); row++ {
		var r Alpaca
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("read %s record %d: %w", path, row, err)
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("read %s: no Alpaca records", path)
	}
	return recs, nil
}
