package tensorboard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestWriteThenReadIndependently(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs")
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_790_000_000, 250_000_000)
	if err := w.Scalars(1, t0, []Scalar{{"train/loss", 2.5}, {"train/learning_rate", 3e-4}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Scalars(300, t0.Add(time.Second), []Scalar{{"eval/accuracy", 0.8125}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^events\.out\.tfevents\.\d{10}\.[^/]+$`).MatchString(filepath.Base(w.Path())) {
		t.Errorf("file name %q is not TensorFlow's events.out.tfevents.<unix>.<host>", filepath.Base(w.Path()))
	}
	events, err := ReadEventFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || events[0].FileVersion != "brain.Event:2" || events[0].WallTime <= 0 {
		t.Fatalf("events %+v: want the file version first, then 2 summaries", events)
	}
	e1, e2 := events[1], events[2]
	if e1.Step != 1 || e1.WallTime != 1_790_000_000.25 || len(e1.Values) != 2 ||
		e1.Values[0] != (TestScalar{"train/loss", 2.5}) || e1.Values[1] != (TestScalar{"train/learning_rate", float32(3e-4)}) {
		t.Errorf("event 1 = %+v", e1)
	}
	if e2.Step != 300 || len(e2.Values) != 1 || e2.Values[0] != (TestScalar{"eval/accuracy", 0.8125}) {
		t.Errorf("event 2 = %+v", e2)
	}

	// A second writer in the same second gets its own file rather than clobbering the first.
	w2, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	if w2.Path() == w.Path() {
		t.Errorf("two writers share %s", w.Path())
	}
}

func TestReaderChecksTheCRCs(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.Scalars(7, time.Now(), []Scalar{{"train/loss", 1}})
	w.Close()
	b, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{3, 9, 20, len(b) - 6, len(b) - 1} { // length, length CRC, data, data, data CRC
		bad := append([]byte(nil), b...)
		bad[at] ^= 0x10
		path := filepath.Join(dir, fmt.Sprintf("bad-%d", at))
		os.WriteFile(path, bad, 0o644)
		if _, err := ReadEventFile(path); err == nil {
			t.Errorf("a flipped bit at byte %d of %d went unnoticed", at, len(b))
		}
	}
}

// TestCRC32CVectors checks the test's own CRC against published CRC-32C check values
// (RFC 3720 B.4 and the "123456789" check value).
func TestCRC32CVectors(t *testing.T) {
	ff := make([]byte, 32)
	for i := range ff {
		ff[i] = 0xff
	}
	for _, c := range []struct {
		in   []byte
		want uint32
	}{{[]byte("123456789"), 0xe3069283}, {make([]byte, 32), 0x8a9136aa}, {ff, 0x62a8ab43}} {
		if got := bitwiseCRC32C(c.in); got != c.want {
			t.Errorf("crc32c(%x) = %08x, want %08x", c.in, got, c.want)
		}
	}
}

// --- an independent reader: TFRecord framing and the Event/Summary wire format decoded by
// hand from the published field numbers, with a bit-at-a-time CRC-32C, sharing no code
// with the writer.

type TestScalar struct {
	Tag   string
	Value float32
}

type TestEvent struct {
	WallTime    float64
	Step        int64
	FileVersion string
	Values      []TestScalar
}

func ReadEventFile(path string) ([]TestEvent, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []TestEvent
	for len(b) > 0 {
		if len(b) < 12 {
			return nil, errors.New("truncated record header")
		}
		n := binary.LittleEndian.Uint64(b[:8])
		if mask(bitwiseCRC32C(b[:8])) != binary.LittleEndian.Uint32(b[8:12]) {
			return nil, errors.New("length CRC mismatch")
		}
		if uint64(len(b)-16) < n {
			return nil, errors.New("truncated record")
		}
		data := b[12 : 12+n]
		if mask(bitwiseCRC32C(data)) != binary.LittleEndian.Uint32(b[12+n:16+n]) {
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

func bitwiseCRC32C(b []byte) uint32 {
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

func decodeEvent(b []byte) (TestEvent, error) {
	var ev TestEvent
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
				var s TestScalar
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
