package prep

import (
	"strings"
	"unicode"
)

// Default instructions: a 1/0 judgement of one product review.
const (
	InstructionEN = "Is the sentiment of the following product review positive or negative? Answer 1 for positive or 0 for negative, with nothing else."
	InstructionZH = "判断下面这条商品评论的情感倾向：正面回答 1，负面回答 0，只输出数字。"
)

// DefaultInstruction returns the default instruction for "zh" or "en"
// (anything else gets English).
func DefaultInstruction(lang string) string {
	if strings.EqualFold(lang, "zh") {
		return InstructionZH
	}
	return InstructionEN
}

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
