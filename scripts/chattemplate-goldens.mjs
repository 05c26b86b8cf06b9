// Renders internal/chattemplate/templates/*.jinja with @huggingface/jinja
// (the renderer transformers.js uses) into testdata/golden/*.json, the reference
// the Go test must match byte for byte.
//
//   mkdir -p /tmp/npm-template && (cd /tmp/npm-template && npm install @huggingface/jinja@0.5.11)
//   JINJA_DIR=/tmp/npm-template node scripts/chattemplate-goldens.mjs
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(path.join(process.env.JINJA_DIR ?? "/tmp/npm-template", "node_modules") + "/");
const { Template } = require("@huggingface/jinja");
const jinjaDir = path.dirname(path.dirname(require.resolve("@huggingface/jinja")));
const version = JSON.parse(fs.readFileSync(path.join(jinjaDir, "package.json"), "utf8")).version;

const dir = "internal/chattemplate/testdata";
const meta = JSON.parse(fs.readFileSync(path.join(dir, "templates.json"), "utf8"));
const cases = JSON.parse(fs.readFileSync(path.join(dir, "cases.json"), "utf8"));
fs.mkdirSync(path.join(dir, "golden"), { recursive: true });

// strftime_now reads the clock: every golden sees 2026-12-02 20:19:18 UTC, so they never change.
process.env.TZ = "UTC";
const RealDate = Date;
const fixedNow = RealDate.UTC(2026, 11, 2, 20, 19, 18);
globalThis.Date = class extends RealDate {
	constructor(...args) {
		super(...(args.length ? args : [fixedNow]));
	}
	static now() {
		return fixedNow;
	}
};

for (const name of Object.keys(meta).sort()) {
	// file: relative to the package; the real models' templates are in templates/.
	const file = path.join("internal/chattemplate", meta[name].file ?? path.join("templates", name + ".jinja"));
	const source = fs.readFileSync(file, "utf8");
	const template = new Template(source);
	const out = [];
	for (const c of cases) {
		const ctx = {
			messages: c.messages,
			add_generation_prompt: c.add_generation_prompt,
			enable_thinking: false,
			bos_token: meta[name].bos_token,
			eos_token: meta[name].eos_token,
		};
		try {
			out.push({ name: c.name, output: template.render(ctx) });
		} catch (e) {
			out.push({ name: c.name, error: String(e.message ?? e) });
		}
	}
	const golden = { renderer: `@huggingface/jinja@${version}`, template: name, model: meta[name].model, cases: out };
	fs.writeFileSync(path.join(dir, "golden", name + ".json"), JSON.stringify(golden, null, 1) + "\n");
}
