package task

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Record is one instruction record in the Alpaca format LLaMA-Factory reads.
type Record struct {
	Instruction string `json:"instruction"`
	Input       string `json:"input"`
	Output      string `json:"output"`
	System      string `json:"system,omitempty"`
	// ID names the source row (its id column, else its row number); LLaMA-Factory ignores it.
	ID string `json:"id,omitempty"`
	// Aspect is the aspect an aspect-sentiment record asks about (prep --aspects); "" otherwise.
	Aspect string `json:"aspect,omitempty"`
}

// ReadRecords reads a JSON array (or JSON Lines) file of Alpaca records.
func ReadRecords(path string) ([]Record, error) {
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
	var recs []Record
	if first == '[' {
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		for dec.More() {
			var r Record
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
			var r Record
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

// Review is the text to classify: the record's input, or its instruction when the input is empty
// (a record that puts the review in the instruction).
func (r Record) Review() string {
	if strings.TrimSpace(r.Input) == "" {
		return r.Instruction
	}
	return r.Input
}

// Example is a record with its answer parsed.
type Example struct {
	Record
	Row   int // 1-based position in its file
	Label int // the class of its answer
}

// Key names the example in predictions: its id, else its row number (as predict numbers the rows
// of an Alpaca file without ids).
func (e Example) Key() string {
	return cmp.Or(strings.TrimSpace(e.ID), strconv.Itoa(e.Row))
}

// ReadExamples reads an Alpaca file (a prep split) and parses every record's answer with ls; a
// record whose output is no label is an error naming the file and record.
func (ls Labels) ReadExamples(path string) ([]Example, error) {
	recs, err := ReadRecords(path)
	if err != nil {
		return nil, err
	}
	exs := make([]Example, len(recs))
	for i, r := range recs {
		label, err := ls.ParseAnswer(r.Output)
		if err != nil {
			return nil, fmt.Errorf("%s record %d: %w", path, i+1, err)
		}
		exs[i] = Example{Record: r, Row: i + 1, Label: label}
	}
	return exs, nil
}
