// Package progress reports long work on stderr in one way for every command: a bar on a
// terminal, and plain lines when stderr is a file or pipe (nohup, Slurm, Kubernetes logs),
// where a bar's carriage returns are noise and its redraws never end a line.
package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// DefaultInterval is the most time between two plain lines unless a command is told otherwise.
const DefaultInterval = 30 * time.Second

// barRedraw is the least time between two redraws of a bar.
const barRedraw = 200 * time.Millisecond

// Mode is how a Reporter shows progress.
type Mode int

const (
	Auto  Mode = iota // a bar when the writer is a terminal, else lines
	Bar               // a redrawn bar
	Lines             // a plain line every Interval, and at each event
)

// Options describe what is counted.
type Options struct {
	Name     string        // prefix of every line: "finetune", "predict"
	Item     string        // singular noun before the count: "step" → "step 40/100"
	Unit     string        // plural unit after the count: "rows" → "40/100 rows", with a rate in rows/s
	Bytes    bool          // the count is bytes: shown in KiB/MiB/GiB, with a rate
	Total    int64         // 0: unknown (no percentage, no ETA)
	Start    int64         // count already done before this process (a resumed run): not part of the rate
	Interval time.Duration // Lines: the most time between two lines (0: DefaultInterval)
	Mode     Mode
	KeepBar  bool // Bar: leave the finished bar on screen instead of clearing it
}

// IsTerminal reports whether f, a writer or a reader (the CLI's stdin), is a terminal: the one
// terminal check every command uses.
func IsTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// Reporter shows progress in one of the modes; a nil *Reporter or one made for a nil
// writer shows nothing. Its methods are safe for concurrent use.
type Reporter struct {
	mu       sync.Mutex
	w        io.Writer
	o        Options
	bar      *progressbar.ProgressBar
	begin    time.Time
	lastLine time.Time
	done     int64
	shown    int64 // count of the last plain line; -1: none yet
	detail   string
	finished bool
}

// New starts a reporter writing to w (nil: a silent one).
func New(w io.Writer, o Options) *Reporter {
	r := &Reporter{w: w, o: o, begin: time.Now(), lastLine: time.Now(), done: o.Start, shown: -1}
	if w == nil {
		return r
	}
	if r.o.Interval <= 0 {
		r.o.Interval = DefaultInterval
	}
	if r.o.Mode == Auto {
		r.o.Mode = Lines
		if IsTerminal(w) {
			r.o.Mode = Bar
		}
	}
	if r.o.Mode == Bar {
		total := o.Total
		if total <= 0 {
			total = -1 // progressbar's unknown length: a spinner
		}
		opts := []progressbar.Option{progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(o.Name),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(20)}
		switch {
		case o.Bytes:
			opts = append(opts, progressbar.OptionShowBytes(true))
		case o.Unit != "":
			opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString(o.Unit))
		default:
			opts = append(opts, progressbar.OptionShowCount())
		}
		if !o.KeepBar {
			opts = append(opts, progressbar.OptionClearOnFinish())
		}
		r.bar = progressbar.NewOptions64(total, opts...)
		if o.Start > 0 {
			r.bar.Set64(o.Start)
		}
	}
	return r
}

// Mode is the mode the reporter settled on (Auto resolved); Lines for a silent one.
func (r *Reporter) Mode() Mode {
	if r == nil || r.w == nil {
		return Lines
	}
	return r.o.Mode
}

// Set records done so far and a detail ("loss 0.41, lr 3e-4"; "" keeps the last one). On a
// terminal it redraws the bar; otherwise it writes a line when Interval has passed since the
// last line (or the start), so work shorter than Interval stays quiet in a log.
func (r *Reporter) Set(done int64, detail string) {
	if r == nil || r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set(done, detail)
}

// Add counts n more done.
func (r *Reporter) Add(n int64) {
	if r == nil || r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set(r.done+n, "")
}

func (r *Reporter) set(done int64, detail string) {
	r.done = done
	if detail != "" {
		r.detail = detail
	}
	if r.bar != nil {
		// Throttled here rather than by progressbar, so that Event can always redraw the bar.
		if time.Since(r.lastLine) < barRedraw && (r.o.Total <= 0 || done < r.o.Total) && r.shown >= 0 {
			return
		}
		r.lastLine, r.shown = time.Now(), done
		r.bar.Describe(r.barText())
		r.bar.Set64(done)
		return
	}
	if time.Since(r.lastLine) >= r.o.Interval {
		r.writeLine()
	}
}

// Event writes a line that always shows, such as an evaluation's result: above the bar on a
// terminal, as a line of its own in a log.
func (r *Reporter) Event(format string, args ...any) {
	if r == nil || r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	if r.bar != nil && !r.finished && !r.bar.IsFinished() {
		r.bar.Clear()
		fmt.Fprintf(r.w, "%s: %s\n", r.o.Name, msg)
		r.bar.Describe(r.barText()) // redraws with the latest count
		r.bar.Set64(r.done)
		return
	}
	r.endBar()
	fmt.Fprintf(r.w, "%s: %s\n", r.o.Name, msg)
}

// Finish ends the bar, or, when lines were written, a last line if the count moved since.
func (r *Reporter) Finish() {
	if r == nil || r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	if r.bar != nil {
		r.endBar()
		return
	}
	r.finished = true
	if r.shown >= 0 && r.done != r.shown {
		r.writeLine()
	}
}

// endBar stops the bar once: a kept bar ends its line, another is cleared.
func (r *Reporter) endBar() {
	if r.bar == nil || r.finished {
		return
	}
	if r.done != r.shown && !r.bar.IsFinished() { // the last Set may have been throttled
		r.bar.Describe(r.barText())
		r.bar.Set64(r.done)
	}
	r.finished = true
	finished := r.bar.IsFinished() // at 100% it has drawn its last state (or cleared itself)
	r.bar.Exit()
	switch {
	case r.o.KeepBar && r.bar.IsStarted():
		fmt.Fprintln(r.w)
	case !r.o.KeepBar && !finished:
		r.bar.Clear()
	}
}

// barSpace is about what progressbar draws after the description (percentage, bar, counts,
// times), and barRateSpace the same with a rate.
const barSpace, barRateSpace = 55, 72

// barText is the bar's description, cut to the terminal's width: a wrapped bar line cannot
// be redrawn in place and would scroll a new line per update.
func (r *Reporter) barText() string {
	text := r.o.Name
	if r.detail != "" {
		text += ": " + r.detail
	}
	f, ok := r.w.(*os.File)
	if !ok {
		return text
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return text
	}
	room := width - barSpace
	if r.o.Unit != "" || r.o.Bytes {
		room = width - barRateSpace
	}
	if utf8.RuneCountInString(text) > room {
		runes := []rune(text)
		text = string(runes[:max(room-1, min(len(r.o.Name), len(runes)))]) + "…"
	}
	return text
}

// Line is what a plain line would say now (for tests and summaries).
func (r *Reporter) Line() string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.format(time.Now())
}

func (r *Reporter) writeLine() {
	now := time.Now()
	fmt.Fprintln(r.w, r.format(now))
	r.lastLine, r.shown = now, r.done
}

// format builds "NAME: step 40/100 (40.0%), DETAIL, 2.1 rows/s, elapsed 1m20s, ETA 2m0s".
func (r *Reporter) format(now time.Time) string {
	var b strings.Builder
	b.WriteString(r.o.Name)
	b.WriteString(": ")
	count := func(n int64) string {
		if r.o.Bytes {
			return FormatBytes(n)
		}
		return strconv.FormatInt(n, 10)
	}
	if r.o.Item != "" {
		b.WriteString(r.o.Item + " ")
	}
	b.WriteString(count(r.done))
	if r.o.Total > 0 {
		b.WriteString("/" + count(r.o.Total))
	}
	if r.o.Unit != "" && !r.o.Bytes {
		b.WriteString(" " + r.o.Unit)
	}
	if r.o.Total > 0 {
		fmt.Fprintf(&b, " (%.1f%%)", 100*float64(r.done)/float64(r.o.Total))
	}
	if r.detail != "" {
		b.WriteString(", " + r.detail)
	}
	elapsed := now.Sub(r.begin)
	rate := float64(r.done-r.o.Start) / max(elapsed.Seconds(), 1e-9)
	switch {
	case r.o.Bytes:
		fmt.Fprintf(&b, ", %s/s", FormatBytes(int64(rate)))
	case r.o.Unit != "":
		fmt.Fprintf(&b, ", %.1f %s/s", rate, r.o.Unit)
	}
	fmt.Fprintf(&b, ", elapsed %s", FormatDuration(elapsed))
	if r.o.Total > 0 {
		eta := "?"
		if r.done >= r.o.Total {
			eta = "0s"
		} else if rate > 0 && r.done > r.o.Start {
			eta = FormatDuration(time.Duration(float64(r.o.Total-r.done) / rate * float64(time.Second)))
		}
		b.WriteString(", ETA " + eta)
	}
	return b.String()
}

// FormatDuration rounds d for a person: 1h2m3s, 45s, 0.4s.
func FormatDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// FormatBytes writes n in B, KiB, MiB or GiB with three significant digits or so.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), []string{"KiB", "MiB", "GiB", "TiB"}
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f %s", v, suffix[i])
	}
	return fmt.Sprintf("%.1f %s", v, suffix[i])
}

// HostRSS is this process's resident set in bytes (Linux /proc), 0 if unknown.
func HostRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) >= 1 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
