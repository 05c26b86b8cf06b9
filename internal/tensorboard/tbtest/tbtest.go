// Package tbtest reads TensorBoard event files for tests, independently of the writer in
// package tensorboard: TFRecord framing and the Event/Summary wire format are decoded by hand
// from the published field numbers (tensorflow/core/util/event.proto, framework/summary.proto)
// with a bit-at-a-time CRC-32C, sharing no code with the writer.
package tbtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Scalar is one summary value.
type Scalar struct {
	Tag   string
	Value float32
}

// Event is one decoded tensorflow.Event.
type Event struct {
	WallTime    float64
	Step        int64
	FileVersion string
	Start       bool // a SessionLog with status START: a restart at Step
	Values      []Scalar
}

// ReadEventFile decodes every record of an event file, checking both CRCs of each.
func ReadEventFile(path string) ([]Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Event
	for len(b) > 0 {
		if len(b) < 12 {
			return nil, errors.New("truncated record header")
		}
		n := binary.LittleEndian.Uint64(b[:8])
		if mask(CRC32C(b[:8])) != binary.LittleEndian.Uint32(b[8:12]) {
			return nil, errors.New("length CRC mismatch")
		}
		if uint64(len(b)-16) < n {
			return nil, errors.New("truncated record")
		}
		data := b[12 : 12+n]
		if mask(CRC32C(data)) != binary.LittleEndian.Uint32(b[12+n:16+n]) {
			return nil, errors.New("data CRC mismatch")
		}
		ev, err := decodeEvent(data)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
		b = b[16+n:]
	}
	return out, nil
}

// ReadDir reads a run's event files in name order (their creation order) as TensorBoard's
// event accumulator does: a START session log at step S drops the scalars of step S and
// later read so far. It returns the surviving values by tag, in the order read.
func ReadDir(dir string) (map[string][]StepValue, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*tfevents*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	out := map[string][]StepValue{}
	for _, p := range paths {
		events, err := ReadEventFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, e := range events {
			if e.Start {
				for tag, vs := range out {
					kept := vs[:0]
					for _, v := range vs {
						if v.Step < e.Step {
							kept = append(kept, v)
						}
					}
					out[tag] = kept
				}
			}
			for _, v := range e.Values {
				out[v.Tag] = append(out[v.Tag], StepValue{Step: e.Step, Value: v.Value})
			}
		}
	}
	return out, nil
}

// StepValue is one scalar of a tag.
type StepValue struct {
	Step  int64
	Value float32
}

// CRC32C is CRC-32C (Castagnoli) computed a bit at a time.
func CRC32C(b []byte) uint32 {
	crc := ^uint32(0)
	for _, x := range b {
		crc ^= uint32(x)
		for k := 0; k < 8; k++ {
			if crc&1 == 1 {
				crc = crc>>1 ^ 0x82f63b78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func mask(crc uint32) uint32 { return ((crc >> 15) | (crc << 17)) + 0xa282ead8 }

// field is one decoded protobuf field: varint and fixed values in num, bytes in raw.
type field struct {
	id  int
	num uint64
	raw []byte
}

func decodeFields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("bad key")
		}
		b = b[n:]
		f := field{id: int(key >> 3)}
		switch key & 7 {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errors.New("bad varint")
			}
			f.num, b = v, b[n:]
		case 1:
			if len(b) < 8 {
				return nil, errors.New("short fixed64")
			}
			f.num, b = binary.LittleEndian.Uint64(b), b[8:]
		case 5:
			if len(b) < 4 {
				return nil, errors.New("short fixed32")
			}
			f.num, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, errors.New("bad length")
			}
			f.raw, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return nil, fmt.Errorf("wire type %d", key&7)
		}
		out = append(out, f)
	}
	return out, nil
}

func decodeEvent(b []byte) (Event, error) {
	var ev Event
	fs, err := decodeFields(b)
	if err != nil {
		return ev, err
	}
	for _, f := range fs {
		switch f.id {
		case 1:
			ev.WallTime = math.Float64frombits(f.num)
		case 2:
			ev.Step = int64(f.num)
		case 3:
			ev.FileVersion = string(f.raw)
		case 7: // SessionLog { SessionStatus status = 1; ... }, START = 1
			sl, err := decodeFields(f.raw)
			if err != nil {
				return ev, err
			}
			for _, x := range sl {
				if x.id == 1 && x.num == 1 {
					ev.Start = true
				}
			}
		case 5: // Summary { repeated Value value = 1; }
			vs, err := decodeFields(f.raw)
			if err != nil {
				return ev, err
			}
			for _, v := range vs {
				if v.id != 1 {
					continue
				}
				parts, err := decodeFields(v.raw)
				if err != nil {
					return ev, err
				}
				var s Scalar
				for _, p := range parts {
					switch p.id {
					case 1:
						s.Tag = string(p.raw)
					case 2:
						s.Value = math.Float32frombits(uint32(p.num))
					}
				}
				ev.Values = append(ev.Values, s)
			}
		}
	}
	return ev, nil
}
