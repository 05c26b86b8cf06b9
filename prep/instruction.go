package prep

import (
	"unicode"
)

// DetectLang returns "zh" when Han characters make up at least 30% of the
// letters in the texts (up to the first 2,000), else "en"; an English review
// quoting a Chinese phrase stays "en".
func DetectLang(texts []string) string {
	han, letters := 0, 0
	for i, t := range texts {
		if i == 2000 {
			break
		}
		for _, r := range t {
			if unicode.IsLetter(r) {
				letters++
				if unicode.Is(unicode.Han, r) {
					han++
				}
			}
		}
	}
	if letters > 0 && han*10 >= letters*3 {
		return "zh"
	}
	return "en"
}
