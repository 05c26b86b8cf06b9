package prep

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

var (
	synthProducts = []string{"phone", "charger", "headset", "case", "battery", "cable", "speaker", "keyboard",
		"blender", "kettle", "backpack", "lamp", "watch", "camera", "router", "mouse"}
	synthPositive = []string{"works great", "is excellent value", "exceeded my expectations", "feels solid",
		"arrived quickly", "is easy to set up", "sounds amazing", "has a battery that lasts for days",
		"is exactly as described", "was worth every penny"}
	synthNegative = []string{"stopped working after a week", "is a waste of money", "feels cheap",
		"arrived broken", "is impossible to set up", "sounds terrible", "has a battery that dies by noon",
		"looks nothing like the picture", "was returned the next day", "overheats constantly"}
	synthFiller = []string{"I bought it for my daughter", "we use it every day", "the packaging was plain",
		"shipping took three days", "I compared it with two other brands", "the manual is short",
		"my old one lasted five years", "customer service answered my email", "it comes in four colours",
		"the price dropped after I ordered"}
	synthZH = []string{"质量很好，物流也快", "包装简单但是完好", "用了一个星期就坏了", "客服态度不错", "性价比很高", "和描述的不一样"}
)

// GenerateSyntheticReviews writes n labelled reviews of about 1 KB each as
// CSV (columns id, review, sentiment with values positive/negative) for
// benchmarks. The text exercises the CSV reader and the cleaning rules:
// quoted commas, doubled quotes, embedded newlines, <br /> tags, &amp;
// entities and some Chinese. The same seed gives the same bytes.
func GenerateSyntheticReviews(w io.Writer, n int, seed int64) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	r := &rng{s: uint64(seed)}
	pick := func(a []string) string { return a[r.intn(len(a))] }
	if _, err := bw.WriteString("id,review,sentiment\n"); err != nil {
		return err
	}
	var b strings.Builder
	for i := 1; i <= n; i++ {
		pos := r.intn(2) == 1
		b.Reset()
		for b.Len() < 1000 {
			opinion := synthNegative
			if pos == (r.intn(5) != 0) { // one sentence in five goes against the label
				opinion = synthPositive
			}
			switch k := r.intn(10); {
			case k < 5:
				fmt.Fprintf(&b, "The %s %s, and %s. ", pick(synthProducts), pick(opinion), pick(synthFiller))
			case k < 7:
				fmt.Fprintf(&b, "My wife said \"\"it %s\"\" &amp; I agree.<br /><br />", pick(opinion))
			case k < 8:
				fmt.Fprintf(&b, "%s。%s\n", pick(synthZH), pick(synthZH))
			default:
				fmt.Fprintf(&b, "Honestly,   it %s!! ", pick(opinion))
			}
		}
		label := "negative"
		if pos {
			label = "positive"
		}
		if _, err := fmt.Fprintf(bw, "%d,\"%s\",%s\n", i, b.String(), label); err != nil {
			return err
		}
	}
	return bw.Flush()
}
