package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sentitune/sentitune/eval"
)

var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// findChromium returns a headless-capable Chromium, or skips the test naming what is missing
// (make setup installs Debian's chromium, so CI always runs these tests).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skipf("no Chromium binary on PATH (looked for %s); `make setup` installs Debian's chromium", strings.Join(chromiumNames, ", "))
	return ""
}

// runChromium loads page headless and returns stdout and the console messages it logged.
func runChromium(t *testing.T, bin, page string, args ...string) (stdout string, console []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, errb.String())
	}
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			console = append(console, l)
		}
	}
	return out.String(), console
}

// probeScript measures each plot after layout and leaves the result in the DOM for --dump-dom.
const probeScript = `<script>
(function () {
  var r = {plots: [], height: document.documentElement.scrollHeight};
  document.querySelectorAll('svg.plot').forEach(function (s) {
    var box = s.getBoundingClientRect(), marks = 0;
    s.querySelectorAll('path, circle, rect[fill-opacity]').forEach(function (e) {
      var b = e.getBBox();
      if (b.width > 0 || b.height > 0) { marks++; }
    });
    r.plots.push({label: s.getAttribute('aria-label'), width: box.width, height: box.height, marks: marks});
  });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
})();
</script>`

type probe struct {
	Plots []struct {
		Label         string
		Width, Height float64
		Marks         int
	}
	Height int
}

// TestReportInChromium opens the example report in headless Chromium: no console messages,
// every plot laid out with visible marks, and a screenshot that is not blank and shows the
// plots' colours. With -update the screenshot becomes reports/example-report.png.
func TestReportInChromium(t *testing.T) {
	bin := findChromium(t)
	out := t.TempDir()
	writeExample(t, out)
	page := filepath.Join(out, HTMLFile)
	src := readFile(t, page)

	// The console check must be able to fail: a control page that logs an error.
	control := filepath.Join(out, "control.html")
	if err := os.WriteFile(control, []byte(`<!DOCTYPE html><html><body><script>console.error("sentitune-control")</script></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, console := runChromium(t, bin, control, "--dump-dom"); len(console) == 0 {
		t.Fatal("console capture does not work: the control page's console.error was not seen")
	}

	probed := filepath.Join(out, "probe.html")
	if err := os.WriteFile(probed, []byte(strings.Replace(src, "</body>", probeScript+"</body>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, console := runChromium(t, bin, probed, "--dump-dom", "--window-size=1280,1000")
	if len(console) > 0 {
		t.Errorf("console messages while loading the report:\n%s", strings.Join(console, "\n"))
	}
	m := regexp.MustCompile(`(?s)<pre id="probe">(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("probe result missing from the DOM (%d bytes dumped)", len(dom))
	}
	var p probe
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &p); err != nil {
		t.Fatal(err)
	}
	wantPlots := []string{"ROC curve", "Precision-recall curve", "Calibration (reliability)", "Predicted P(1) by true class", "Training loss"}
	if len(p.Plots) != len(wantPlots) {
		t.Fatalf("%d plots rendered, want %d: %+v", len(p.Plots), len(wantPlots), p.Plots)
	}
	for i, pl := range p.Plots {
		if !strings.HasPrefix(pl.Label, wantPlots[i]) {
			t.Errorf("plot %d is %q, want %q", i, pl.Label, wantPlots[i])
		}
		if pl.Width < 300 || pl.Height < 200 || pl.Marks < 1 {
			t.Errorf("plot %q renders %gx%g px with %d visible marks", pl.Label, pl.Width, pl.Height, pl.Marks)
		}
	}
	if p.Height < 2000 {
		t.Errorf("page height %d px: too short for the full report", p.Height)
	}

	shot := filepath.Join(out, "report.png")
	if _, console := runChromium(t, bin, page, fmt.Sprintf("--window-size=1280,%d", p.Height), "--screenshot="+shot); len(console) > 0 {
		t.Errorf("console messages while loading the report:\n%s", strings.Join(console, "\n"))
	}
	checkScreenshot(t, shot, p.Height)
	if *update {
		if err := writeCompactPNG(shot, "example-report.png"); err != nil {
			t.Fatal(err)
		}
	}
}

// writeCompactPNG re-encodes a screenshot with a palette of its 256 most frequent colours
// (a rendered page is mostly flat colour), so the committed example stays small.
func writeCompactPNG(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		return err
	}
	b := img.Bounds()
	freq := map[[3]uint32]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			freq[rgb8(img, x, y)]++
		}
	}
	colors := make([][3]uint32, 0, len(freq))
	for c := range freq {
		colors = append(colors, c)
	}
	sort.Slice(colors, func(i, j int) bool {
		if freq[colors[i]] != freq[colors[j]] {
			return freq[colors[i]] > freq[colors[j]]
		}
		return fmt.Sprint(colors[i]) < fmt.Sprint(colors[j])
	})
	pal := make(color.Palette, 0, 256)
	for _, c := range colors[:min(256, len(colors))] {
		pal = append(pal, color.RGBA{uint8(c[0]), uint8(c[1]), uint8(c[2]), 255})
	}
	out := image.NewPaletted(b, pal)
	index := map[[3]uint32]uint8{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgb8(img, x, y)
			i, ok := index[c]
			if !ok {
				i = uint8(pal.Index(color.RGBA{uint8(c[0]), uint8(c[1]), uint8(c[2]), 255}))
				index[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		return err
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

// checkScreenshot asserts the PNG is the page's size, is not blank, and contains the model's
// blue and the baseline's amber (the plotted curves) in quantity.
func checkScreenshot(t *testing.T, path string, height int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != 1280 || b.Dy() < height-10 {
		t.Errorf("screenshot %dx%d, want 1280x%d", b.Dx(), b.Dy(), height)
	}
	bg := [3]uint32{0xf8, 0xfa, 0xfc}
	var nonBG, blue, amber int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgb8(img, x, y)
			if c != bg {
				nonBG++
			}
			if near(c, [3]uint32{0x25, 0x63, 0xeb}) {
				blue++
			}
			if near(c, [3]uint32{0xf5, 0x9e, 0x0b}) {
				amber++
			}
		}
	}
	total := b.Dx() * b.Dy()
	t.Logf("screenshot %dx%d: %.1f%% non-background, %d blue and %d amber pixels", b.Dx(), b.Dy(), 100*float64(nonBG)/float64(total), blue, amber)
	if float64(nonBG) < 0.2*float64(total) {
		t.Errorf("screenshot looks blank: %.1f%% non-background pixels", 100*float64(nonBG)/float64(total))
	}
	if blue < 1000 || amber < 500 {
		t.Errorf("plots look empty: %d model-blue and %d baseline-amber pixels", blue, amber)
	}
}

func rgb8(img image.Image, x, y int) [3]uint32 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint32{r >> 8, g >> 8, b >> 8}
}

func near(a, b [3]uint32) bool {
	d := func(x, y uint32) uint32 {
		if x > y {
			return x - y
		}
		return y - x
	}
	return d(a[0], b[0]) < 24 && d(a[1], b[1]) < 24 && d(a[2], b[2]) < 24
}

// TestCJKInChromium: Chinese review text in a report renders as glyphs, not tofu. Two Han
// characters drawn with the page's font stack must differ; as a control, two characters no
// font has (plane-15 private use) draw the same missing-glyph box.
func TestCJKInChromium(t *testing.T) {
	bin := findChromium(t)
	out := t.TempDir()
	preds := []eval.Prediction{
		{ID: "r1", Text: "质量很好，物流也快，好评", Label: 1, Pred: 0, Prob: 0.3},
		{ID: "r2", Text: "太差了，用了两天就坏了", Label: 0, Pred: 1, Prob: 0.8},
		{ID: "r3", Text: "还不错", Label: 1, Pred: 1, Prob: 0.9},
	}
	if err := Write(out, Input{Model: Side{Predictions: preds}}); err != nil {
		t.Fatal(err)
	}
	src := readFile(t, filepath.Join(out, HTMLFile))
	if !strings.Contains(src, "太差了，用了两天就坏了") || !strings.Contains(src, `"Noto Sans CJK SC"`) {
		t.Fatal("report.html lacks the Chinese review text or a CJK font in its stack")
	}
	// Glyphs at fixed spots over the page, in the body's font stack.
	const glyph = `<span style="position:absolute;top:0;left:%dpx;font-size:96px;line-height:1">%s</span>`
	overlay := `<div style="position:fixed;inset:0;background:#fff;z-index:9">` +
		fmt.Sprintf(glyph, 0, "好") + fmt.Sprintf(glyph, 150, "差") +
		fmt.Sprintf(glyph, 300, "\U000F0000") + fmt.Sprintf(glyph, 450, "\U000F0001") + `</div>`
	page := filepath.Join(out, "cjk.html")
	if err := os.WriteFile(page, []byte(strings.Replace(src, "</body>", overlay+"</body>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(out, "cjk.png")
	runChromium(t, bin, page, "--window-size=600,200", "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// cell returns which pixels of the 110×110 box at x0 are inked.
	cell := func(x0 int) (ink []bool, n int) {
		for y := range 110 {
			for x := x0; x < x0+110; x++ {
				c := rgb8(img, x, y)
				dark := c[0]+c[1]+c[2] < 3*160
				ink = append(ink, dark)
				n += b2i(dark)
			}
		}
		return ink, n
	}
	differ := func(a, b []bool) (d int) {
		for i := range a {
			d += b2i(a[i] != b[i])
		}
		return d
	}
	good, nGood := cell(0)
	bad, nBad := cell(150)
	pua1, _ := cell(300)
	pua2, _ := cell(450)
	t.Logf("ink: 好 %d px, 差 %d px; they differ in %d px; two missing glyphs differ in %d px", nGood, nBad, differ(good, bad), differ(pua1, pua2))
	if d := differ(pua1, pua2); d > 20 {
		t.Fatalf("control failed: two characters without a font differ in %d px, so the tofu check cannot tell", d)
	}
	if nGood < 300 || nBad < 300 || differ(good, bad) < 300 {
		t.Errorf("Chinese text renders as tofu or not at all (install a CJK font: make setup installs fonts-noto-cjk)")
	}
}
