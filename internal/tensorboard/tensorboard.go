// Package tensorboard writes TensorBoard event files: TFRecord framing (length, masked CRC32C,
// data, masked CRC32C) around tensorflow.Event protobuf messages holding scalar summaries, so
// `tensorboard --logdir DIR` plots a run without TensorFlow or Python on the training machine.
package tensorboard

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of tensorflow/core/util/event.proto and framework/summary.proto.
const (
	eventWallTime    = 1 // double
	eventStep        = 2 // int64
	eventFileVersion = 3 // string
	eventSummary     = 5 // Summary
	eventSessionLog  = 7 // SessionLog

	sessionLogStatus = 1 // SessionLog.SessionStatus
	sessionStart     = 1 // SessionStatus START

	summaryValue = 1 // repeated Summary.Value

	valueTag         = 1 // string
	valueSimpleValue = 2 // float
)

// FileVersion is the first event of every file; TensorBoard checks it.
const FileVersion = "brain.Event:2"

// Scalar is one named value at a step.
type Scalar struct {
	Tag   string
	Value float64
}

// Writer appends events to one events.out.tfevents.* file.
type Writer struct {
	f    *os.File
	bw   *bufio.Writer
	path string
}

// Create makes dir if needed and starts a new event file in it, named as TensorFlow names
// them (events.out.tfevents.<unix seconds>.<host>) so TensorBoard finds it.
func Create(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	now := time.Now()
	name := fmt.Sprintf("events.out.tfevents.%d.%s", now.Unix(), strings.ReplaceAll(host, "/", "_"))
	path := filepath.Join(dir, name)
	// O_EXCL: a second writer started in the same second (a quick resume) gets its own file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	for i := 1; err != nil && os.IsExist(err) && i < 100; i++ {
		path = filepath.Join(dir, fmt.Sprintf("%s.%d", name, i))
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	w := &Writer{f: f, bw: bufio.NewWriter(f), path: path}
	ev := protowire.AppendTag(nil, eventWallTime, protowire.Fixed64Type)
	ev = protowire.AppendFixed64(ev, math.Float64bits(seconds(now)))
	ev = protowire.AppendTag(ev, eventFileVersion, protowire.BytesType)
	ev = protowire.AppendString(ev, FileVersion)
	if err := w.record(ev); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return w, nil
}

// Path is the event file's path.
func (w *Writer) Path() string { return w.path }

// Scalars writes one event at step holding every value, and flushes it so a running
// TensorBoard sees it. Values are stored as float32 (TensorBoard's simple_value).
func (w *Writer) Scalars(step int64, wall time.Time, values []Scalar) error {
	var sum []byte
	for _, v := range values {
		var val []byte
		val = protowire.AppendTag(val, valueTag, protowire.BytesType)
		val = protowire.AppendString(val, v.Tag)
		val = protowire.AppendTag(val, valueSimpleValue, protowire.Fixed32Type)
		val = protowire.AppendFixed32(val, math.Float32bits(float32(v.Value)))
		sum = protowire.AppendTag(sum, summaryValue, protowire.BytesType)
		sum = protowire.AppendBytes(sum, val)
	}
	ev := eventAt(step, wall)
	ev = protowire.AppendTag(ev, eventSummary, protowire.BytesType)
	ev = protowire.AppendBytes(ev, sum)
	return w.record(ev)
}

// SessionStart marks a restart (a resumed run) at step: TensorBoard drops the events of
// earlier files from step on, which the interrupted run logged past its checkpoint.
func (w *Writer) SessionStart(step int64, wall time.Time) error {
	sl := protowire.AppendTag(nil, sessionLogStatus, protowire.VarintType)
	sl = protowire.AppendVarint(sl, sessionStart)
	ev := eventAt(step, wall)
	ev = protowire.AppendTag(ev, eventSessionLog, protowire.BytesType)
	ev = protowire.AppendBytes(ev, sl)
	return w.record(ev)
}

// eventAt starts an Event message with its wall time and step.
func eventAt(step int64, wall time.Time) []byte {
	ev := protowire.AppendTag(nil, eventWallTime, protowire.Fixed64Type)
	ev = protowire.AppendFixed64(ev, math.Float64bits(seconds(wall)))
	ev = protowire.AppendTag(ev, eventStep, protowire.VarintType)
	return protowire.AppendVarint(ev, uint64(step))
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	if w == nil {
		return nil
	}
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tensorboard: close %s: %w", w.path, err)
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's checksum: CRC32C rotated right by 15 bits plus a constant, so that
// a CRC of data that itself holds CRCs does not degenerate.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// record frames data as a TFRecord: uint64 length, masked CRC of the length bytes, data,
// masked CRC of data (all little-endian).
func (w *Writer) record(data []byte) error {
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(head[8:], maskedCRC(head[:8]))
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], maskedCRC(data))
	w.bw.Write(head[:])
	w.bw.Write(data)
	w.bw.Write(tail[:])
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("tensorboard: write %s: %w", w.path, err)
	}
	return nil
}

func seconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }
