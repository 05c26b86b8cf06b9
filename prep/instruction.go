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

// DetectLang returns "zh" when at least half of the texts (up to the first
// 2,000) contain a Han character, else "en".
func DetectLang(texts []string) string {
	n, zh := 0, 0
	for _, t := range texts {
		if n == 2000 {
			break
		}
		n++
		for _, r := range t {
			if unicode.Is(unicode.Han, r) {
				zh++
				break
			}
		}
	}
	if n > 0 && zh*2 >= n {
		return "zh"
	}
	return "en"
}
