// Package prep turns labelled review files into Alpaca instruction records and a held-out split.
//
// Readers (Open, NewReader) stream CSV/TSV, JSON arrays, JSON Lines, Parquet
// and Alpaca files as records with constant memory; CleanText and
// NormalizeLabel hold the cleaning and label rules; Run is the whole
// prep command.
package prep

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Alpaca is one instruction record in the format LLaMA-Factory reads.
type Alpaca struct {
	Instruction string `json:"instruction"`
	Input       string `json:"input"`
	Output      string `json:"output"`
	System      string `json:"system,omitempty"`
	// ID names the source row (its id column, else its row number); LLaMA-Factory ignores it.
	ID string `json:"id,omitempty"`
}

// ReadAlpaca reads a JSON array (or JSON Lines) file of Alpaca records.
func ReadAlpaca(path string) ([]Alpaca, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, err := br.Peek(3)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	first, err := firstNonSpace(br)
	if err == io.EOF {
		return nil, fmt.Errorf("read %s: no Alpaca records", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	dec := json.NewDecoder(br)
	var recs []Alpaca
	if first == '[' {
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		for dec.More() {
			var r Alpaca
			if err := dec.Decode(&r); err != nil {
				return nil, fmt.Errorf("read %s record %d: %w", path, len(recs)+1, err)
			}
			recs = append(recs, r)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("read %s after record %d: %w", path, len(recs), err)
		}
	} else {
		for dec.More() {
			var r Alpaca
			if err := dec.Decode(&r); err != nil {
				return nil, fmt.Errorf("read %s record %d: %w", path, len(recs)+1, err)
			}
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("read %s: no Alpaca records", path)
	}
	return recs, nil
}

// firstNonSpace peeks past leading whitespace and returns the first byte.
func firstNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}
