package task

import "strings"

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
