"""Writes internal/llm/tokenizer/testdata/llama3_tokenizer.json: a tiny synthetic
tokenizer.json laid out like Meta-Llama-3's (Split regex with \\p{N}{1,3}, ByteLevel,
ignore_merges, merges as "a b" strings, Llama-3 special tokens). No real Llama-3 file
is reachable here; the tests use it for the pre-tokenizer, ignore_merges and the chat template.
Run from the repository root: python3 scripts/tokenizer-golden/llama3_fixture.py"""
import json


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


b2u = bytes_to_unicode()
vocab = {b2u[b]: b for b in range(256)}
merges = []


def add_merge(a, b):
    merges.append(f"{a} {b}")
    if a + b not in vocab:
        vocab[a + b] = len(vocab)


for a, b in [("h", "e"), ("he", "l"), ("hel", "l"), ("hell", "o"), ("Ġ", "w"), ("o", "r"),
             ("1", "2"), ("12", "3"), ("4", "5"), ("Ċ", "Ċ"), ("Ġ", "Ġ"), ("u", "s"), ("us", "e"), ("use", "r"),
             ("a", "s"), ("as", "s"), ("ass", "i"), ("assi", "s"), ("assis", "t"), ("assist", "a"),
             ("assista", "n"), ("assistan", "t"), ("'", "s"), ("'", "S")]:
    add_merge(a, b)
# in the vocab but unreachable by merges: only ignore_merges makes " world" one token
vocab["Ġworld"] = len(vocab)

special = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
           "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
           "<|eot_id|>", "<|python_tag|>"]
base = 1000
added = [{"id": base + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
          "normalized": False, "special": True} for i, s in enumerate(special)]

tok = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": added,
    "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    "post_processor": {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                                  {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [], "special_tokens": {}}]},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
              "vocab": vocab, "merges": merges},
}
with open("internal/llm/tokenizer/testdata/llama3_tokenizer.json", "w") as f:
    json.dump(tok, f, ensure_ascii=False, indent=1)
    f.write("\n")
