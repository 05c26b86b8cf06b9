package prep

import "testing"

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in, want string
		res            CleanResult
	}{
		{"plain", "Works great.", "Works great.", CleanResult{}},
		{"empty", "", "", CleanResult{}},
		{"br tags", "Good<br />really<br><br/>good", "Good really good", CleanResult{HTMLTags: true, Whitespace: true}},
		{"inline tags", "This is <b>great</b>!", "This is great!", CleanResult{HTMLTags: true}},
		{"tag with attributes", `See <a href="x">link</a> here`, "See link here", CleanResult{HTMLTags: true}},
		{"paragraphs", "<p>One</p><p>Two</p>", "One Two", CleanResult{HTMLTags: true, Whitespace: true}},
		{"comment", "Nice<!-- tracking -->phone", "Nice phone", CleanResult{HTMLTags: true}},
		{"not tags", "I <3 it, 2 < 5 and x<y", "I <3 it, 2 < 5 and x<y", CleanResult{}},
		{"unknown tag name kept", "<phone> is fine", "<phone> is fine", CleanResult{}},
		{"entities", "Tom &amp; Jerry &#39;s &quot;hit&quot;", `Tom & Jerry 's "hit"`, CleanResult{Entities: true}},
		{"nbsp entity", "a&nbsp;&nbsp;b", "a b", CleanResult{Entities: true, Whitespace: true}},
		{"double escaped br", "one&lt;br /&gt;two", "one two", CleanResult{HTMLTags: true, Entities: true}},
		{"escaped text stays text", "a &lt; b", "a < b", CleanResult{Entities: true}},
		{"bare ampersand", "AT&T works", "AT&T works", CleanResult{}},
		{"whitespace runs", "  lots \t of\n\nspace  ", "lots of space", CleanResult{Whitespace: true}},
		{"unicode spaces", "全角\u3000空格\u00a0ok", "全角 空格 ok", CleanResult{Whitespace: true}},
		{"control chars", "bell\u0007 and\u0000nul", "bell andnul", CleanResult{ControlChars: true}},
		{"zero width and bom", "zero\u200bwidth\ufeff", "zerowidth", CleanResult{ControlChars: true}},
		{"emoji joiner kept", "👨\u200d👩\u200d👧 family", "👨\u200d👩\u200d👧 family", CleanResult{}},
		{"invalid utf8 repaired", "Caf\xc3\xa9 \xff\xfe ok", "Café \ufffd ok", CleanResult{InvalidUTF8: true}},
		{"nfc", "Cafe\u0301", "Caf\u00e9", CleanResult{Normalized: true}},
		{"chinese untouched", "质量很好，物流也快", "质量很好，物流也快", CleanResult{}},
		{"only whitespace", " \t\n ", "", CleanResult{Whitespace: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res := CleanText(tt.in)
			if got != tt.want || res != tt.res {
				t.Errorf("CleanText(%q) = %q, %+v; want %q, %+v", tt.in, got, res, tt.want, tt.res)
			}
			if again, res2 := CleanText(got); again != got || res2.Changed() {
				t.Errorf("not idempotent: %q → %q (%+v)", got, again, res2)
			}
		})
	}
}

func TestTruncateChars(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"hello", 10, "hello", false},
		{"hello world", 6, "hello", true},
		{"质量很好物流", 4, "质量很好", true},
		{"abc", 3, "abc", false},
	}
	for _, tt := range tests {
		got, cut := truncateChars(tt.in, tt.n)
		if got != tt.want || cut != tt.cut {
			t.Errorf("truncateChars(%q, %d) = %q, %v; want %q, %v", tt.in, tt.n, got, cut, tt.want, tt.cut)
		}
	}
}
