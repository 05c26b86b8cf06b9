// sentitune studio front end: plain JS, no build step; every action is a call to the studio API.
"use strict";

const I18N = {
  en: {
    "tab.data": "Data", "tab.model": "Model", "tab.train": "Train", "tab.evaluate": "Evaluate", "tab.try": "Try it", "tab.runs": "Runs",
    "data.title": "Reviews", "data.upload": "Upload", "data.file": "File", "data.inspect": "Inspect",
    "data.detected": "Detected:", "data.textcol": "Text column", "data.labelcol": "Label column", "data.labelmap": "Label map",
    "data.labels": "Label values", "data.balance": "Classes after mapping", "data.lengths": "Text length (characters)",
    "data.preview": "Alpaca records and the instruction the model sees", "data.prep": "Prep", "data.name": "Dataset name", "data.run": "Run prep",
    "model.title": "Models", "model.help": "Model folders under the workspace's models/ (Hugging Face layout).", "model.demo": "Create the demo model (tiny, random weights)",
    "train.title": "Fine-tune", "train.model": "Model", "train.data": "Dataset", "train.name": "Run name", "train.command": "The same run from the command line",
    "train.start": "Start", "train.stop": "Stop", "train.loss": "Loss", "train.lr": "Learning rate",
    "group.lora": "LoRA", "group.train": "Training", "group.eval": "Evaluation & saving", "group.device": "Device",
    "eval.title": "Evaluate", "eval.run": "Run", "eval.start": "Evaluate on the test split",
    "try.title": "Try it", "try.placeholder": "One review per line", "try.score": "Score", "try.file": "Score a file", "try.scorefile": "Score file", "try.download": "Download predictions",
    "runs.title": "Runs", "runs.delete": "Delete", "runs.confirm": "Delete run %s and all its files?",
    "jobs.title": "Jobs (one at a time)", "stop": "stop",
  },
  zh: {
    "tab.data": "数据", "tab.model": "模型", "tab.train": "训练", "tab.evaluate": "评估", "tab.try": "试用", "tab.runs": "运行记录",
    "data.title": "评论数据", "data.upload": "上传", "data.file": "文件", "data.inspect": "检查",
    "data.detected": "识别结果：", "data.textcol": "文本列", "data.labelcol": "标签列", "data.labelmap": "标签映射",
    "data.labels": "标签取值", "data.balance": "映射后的类别", "data.lengths": "文本长度（字符）",
    "data.preview": "Alpaca 记录与模型看到的指令", "data.prep": "预处理", "data.name": "数据集名称", "data.run": "运行预处理",
    "model.title": "模型", "model.help": "工作区 models/ 下的模型文件夹（Hugging Face 格式）。", "model.demo": "创建演示模型（tiny，随机权重）",
    "train.title": "微调", "train.model": "模型", "train.data": "数据集", "train.name": "运行名称", "train.command": "等价的命令行",
    "train.start": "开始", "train.stop": "停止", "train.loss": "损失", "train.lr": "学习率",
    "group.lora": "LoRA", "group.train": "训练", "group.eval": "评估与保存", "group.device": "设备",
    "eval.title": "评估", "eval.run": "运行", "eval.start": "在测试集上评估",
    "try.title": "试用", "try.placeholder": "每行一条评论", "try.score": "打分", "try.file": "为文件打分", "try.scorefile": "文件打分", "try.download": "下载预测结果",
    "runs.title": "运行记录", "runs.delete": "删除", "runs.confirm": "删除运行 %s 及其全部文件？",
    "jobs.title": "任务（一次一个）", "stop": "停止",
  },
};

function pickLang() {
  const q = new URLSearchParams(location.search).get("lang");
  if (q === "zh" || q === "en") return q;
  const server = document.querySelector('meta[name="studio-lang"]').content;
  if (server) return server;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}
const LANG = pickLang();
const t = (k) => (I18N[LANG][k] ?? I18N.en[k] ?? k);
document.documentElement.lang = LANG;
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);

function translate() {
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
}

async function api(method, path, body) {
  const opts = { method, headers: { "X-CSRF-Token": CSRF } };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const r = await fetch(path, opts);
  const text = await r.text();
  let v;
  try { v = JSON.parse(text); } catch { v = text; }
  if (!r.ok) throw new Error((v && v.error) || text);
  return v;
}
function showError(el, err) { el.textContent = String(err.message || err); el.classList.add("error"); }
function clearError(el) { el.textContent = ""; el.classList.remove("error"); }

// ---- navigation
function showPage(name) {
  document.querySelectorAll(".page").forEach((p) => p.classList.toggle("active", p.id === "page-" + name));
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.page === name));
  location.hash = name;
  refresh();
}
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => showPage(b.dataset.page)));

// ---- state: files, datasets, models, runs, jobs
let STATE = { uploads: [], datasets: [], models: [], jobs: [] };
let RUNS = [];
let HUB_MODELS = []; // ORG/NAME of the models the hub caches hold (train.js)
function fillSelect(sel, values, keep = true) {
  const old = sel.value;
  sel.innerHTML = "";
  for (const v of values) { const o = document.createElement("option"); o.value = o.textContent = v; sel.appendChild(o); }
  if (keep && values.includes(old)) sel.value = old;
}
async function refresh() {
  STATE = await api("GET", "/api/state");
  RUNS = await api("GET", "/api/runs");
  fillSelect($("data-file"), STATE.uploads);
  fillSelect($("train-model"), (STATE.models || []).concat(HUB_MODELS));
  fillSelect($("train-data"), STATE.datasets || []);
  document.querySelectorAll(".run-select").forEach((s) => fillSelect(s, RUNS.map((r) => r.name)));
  $("model-list").innerHTML = "";
  for (const m of STATE.models || []) {
    const li = document.createElement("li"); li.textContent = "models/" + m; $("model-list").appendChild(li);
    api("GET", "/api/models/" + encodeURIComponent(m)).then((i) => {
      li.textContent = `models/${m}: ${(i.architectures || [i.model_type]).join(",")}, ${i.num_hidden_layers} layers, hidden ${i.hidden_size}, ` +
        `${i.num_attention_heads}/${i.num_key_value_heads} heads, vocab ${i.vocab_size}, ${i.torch_dtype || "?"}, weights ${(i.weight_bytes / 2 ** 20).toFixed(1)} MiB`;
    }).catch(() => {});
  }
  renderJobs();
  renderRuns();
}
function renderJobs() {
  const ol = $("jobs");
  ol.innerHTML = "";
  for (const j of (STATE.jobs || []).slice().reverse().slice(0, 15)) {
    const li = document.createElement("li");
    li.innerHTML = `<b class="state-${j.state}">${j.state}</b> ${j.kind} → <code></code> `;
    li.querySelector("code").textContent = j.out;
    if (j.state === "running" || j.state === "queued") {
      const b = document.createElement("button");
      b.textContent = t("stop");
      b.onclick = () => api("POST", `/api/jobs/${j.id}/stop`).then(refresh);
      li.appendChild(b);
    }
    if (j.state === "failed") { const a = document.createElement("a"); a.href = `/api/jobs/${j.id}/log`; a.textContent = " log"; a.target = "_blank"; li.appendChild(a); }
    ol.appendChild(li);
  }
}

// waitJob polls until a job ends and returns its record.
async function waitJob(id) {
  for (;;) {
    const st = await api("GET", "/api/state");
    const j = st.jobs.find((x) => x.id === id);
    STATE = st; renderJobs();
    if (j && j.state !== "queued" && j.state !== "running") return j;
    await new Promise((r) => setTimeout(r, 700));
  }
}

// ---- Data
$("upload-btn").onclick = async () => {
  const f = $("upload-file").files[0];
  if (!f) return;
  const fd = new FormData(); fd.append("file", f);
  try { const r = await api("POST", "/api/upload", fd); await refresh(); $("data-file").value = r.path; inspect(); }
  catch (e) { showError($("ins-errors"), e); $("inspect-out").hidden = false; }
};
$("inspect-btn").onclick = () => inspect();
$("text-col").onchange = $("label-col").onchange = $("label-map").onchange = $("data-labels").onchange = () => inspect(true);
async function inspect(keepCols) {
  const q = new URLSearchParams({ path: $("data-file").value, ...labelChoice() });
  if (keepCols) { q.set("text_col", $("text-col").value); q.set("label_col", $("label-col").value); }
  $("inspect-out").hidden = false;
  clearError($("ins-errors"));
  let ins;
  try { ins = await api("GET", "/api/inspect?" + q); } catch (e) { showError($("ins-errors"), e); return; }
  $("ins-format").textContent = ins.format; $("ins-encoding").textContent = ins.encoding;
  $("ins-rows").textContent = `${ins.rows} rows` + (ins.bad_rows ? `, ${ins.bad_rows} bad` : "");
  fillSelect($("text-col"), ins.columns, false); $("text-col").value = ins.text_col;
  fillSelect($("label-col"), ins.columns, false); $("label-col").value = ins.label_col;
  const lt = $("ins-labels"); lt.innerHTML = "";
  for (const [k, v] of Object.entries(ins.labels).sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    const tr = lt.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v;
  }
  $("ins-balance").innerHTML = bars(ins.classes.map((c) => [c, ins.mapped[c]]).concat(Object.entries(ins.mapped).filter(([k]) => !ins.classes.includes(k)).sort())); $("ins-lengths").innerHTML = bars(ins.lengths.map((v, i) => [i === ins.lengths.length - 1 ? `${i * 20}+` : `${i * 20}`, v]));
  if (ins.map_errors && ins.map_errors.length) showError($("ins-errors"), { message: ins.map_errors.join("\n") });
  $("ins-preview").textContent = ins.preview.map((p) => JSON.stringify(p, null, 1)).join("\n");
}
// bars is a horizontal SVG bar chart of [label, count] pairs.
function bars(pairs) {
  const max = Math.max(1, ...pairs.map((p) => p[1])), h = 16, w = 300;
  let s = `<svg width="${w + 120}" height="${pairs.length * h + 4}">`;
  pairs.forEach(([k, v], i) => {
    s += `<text x="0" y="${i * h + 12}" font-size="11">${esc(k)}</text><rect x="60" y="${i * h + 2}" width="${(v / max) * w}" height="${h - 4}" fill="#60a5fa"/><text x="${64 + (v / max) * w}" y="${i * h + 12}" font-size="11">${v}</text>`;
  });
  return s + "</svg>";
}
function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }
$("prep-btn").onclick = async () => {
  const body = { path: $("data-file").value, name: $("prep-name").value, text_col: $("text-col").value, label_col: $("label-col").value,
    ...labelChoice(), lang: "", test_ratio: +$("prep-test").value, val_ratio: +$("prep-val").value, seed: +$("prep-seed").value, dedup: $("prep-dedup").checked };
  clearError($("prep-stats"));
  try {
    const r = await api("POST", "/api/prep", body);
    $("prep-stats").textContent = r.command;
    const j = await waitJob(r.job.id);
    if (j.state !== "done") throw new Error(j.state + ": " + (await (await fetch(`/api/jobs/${j.id}/log`)).text()));
    $("prep-stats").textContent = r.command + "\n\n" + JSON.stringify(await api("GET", "/api/data/" + body.name), null, 1);
    refresh();
  } catch (e) { showError($("prep-stats"), e); }
};

// ---- Model
$("demo-model-btn").onclick = async () => { const r = await api("POST", "/api/models/demo"); if (r.job) await waitJob(r.job.id); refresh(); };

// ---- Train
async function showCommand() {
  const req = trainRequest(true);
  if (!req.model || !req.data || !req.name) return; // nothing to show until the workspace has a model and a dataset
  try { const r = await api("POST", "/api/train", req); $("train-command").textContent = r.command; $("train-yaml").textContent = r.yaml; clearError($("train-status")); }
  catch (e) { $("train-command").textContent = ""; $("train-yaml").textContent = ""; showError($("train-status"), e); }
}
["train-model", "train-data", "train-name", "train-resume"].forEach((id) => $(id).addEventListener("change", showCommand));
$("train-btn").onclick = async () => {
  try { const r = await api("POST", "/api/train", trainRequest(false)); $("train-status").textContent = r.command; refresh(); watchRun($("train-name").value); }
  catch (e) { showError($("train-status"), e); }
};
$("stop-btn").onclick = async () => {
  const j = (STATE.jobs || []).find((x) => x.out === "runs/" + $("train-name").value && (x.state === "running" || x.state === "queued"));
  if (j) await api("POST", `/api/jobs/${j.id}/stop`);
  refresh();
};
// plot draws series of [x, y] points as SVG polylines with their axis ranges.
function plot(svg, series) {
  const pts = series.flat();
  if (!pts.length) { svg.innerHTML = ""; return; }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const W = 420, H = 220, L = 50, B = 20;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - 10), sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - B - 10);
  const colors = ["#2563eb", "#dc2626"];
  let s = `<line x1="${L}" y1="${H - B}" x2="${W}" y2="${H - B}" stroke="#999"/><line x1="${L}" y1="0" x2="${L}" y2="${H - B}" stroke="#999"/>` +
    `<text x="2" y="12" font-size="10">${y1.toPrecision(3)}</text><text x="2" y="${H - B}" font-size="10">${y0.toPrecision(3)}</text>` +
    `<text x="${L}" y="${H - 4}" font-size="10">${x0}</text><text x="${W - 30}" y="${H - 4}" font-size="10">${x1}</text>`;
  series.forEach((ser, i) => {
    if (!ser.length) return;
    s += `<polyline class="series" fill="none" stroke="${colors[i]}" stroke-width="1.5" points="${ser.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" ")}"/>`;
    if (ser.length < 3) ser.forEach((p) => { s += `<circle cx="${sx(p[0])}" cy="${sy(p[1])}" r="3" fill="${colors[i]}"/>`; });
  });
  svg.innerHTML = s;
  svg.dataset.points = pts.length;
}

// ---- Evaluate
$("eval-btn").onclick = async () => {
  const name = $("eval-run").value;
  clearError($("eval-status"));
  try {
    const r = await api("POST", `/api/runs/${encodeURIComponent(name)}/eval`);
    $("eval-status").textContent = r.command;
    const j = await waitJob(r.job.id);
    if (j.state !== "done") throw new Error(j.state);
    showReport();
  } catch (e) { showError($("eval-status"), e); }
};
$("eval-run").onchange = showReport;
function showReport() {
  const r = RUNS.find((x) => x.name === $("eval-run").value);
  $("report-frame").src = r && r.test_accuracy != null || r ? `/api/runs/${encodeURIComponent($("eval-run").value)}/report` : "about:blank";
}

// ---- Try it
$("try-btn").onclick = async () => {
  const texts = $("try-text").value.split("\n").filter((x) => x.trim());
  const out = $("try-out"); out.innerHTML = "<tr><td>…</td></tr>";
  try {
    const rows = await api("POST", `/api/runs/${encodeURIComponent($("try-run").value)}/predict`, { texts });
    out.innerHTML = "<tr><th>review</th><th>pred</th><th>prob</th></tr>";
    for (const r of rows) { const tr = out.insertRow(); tr.insertCell().textContent = r.text; tr.insertCell().textContent = r.pred; tr.insertCell().textContent = Number(r.prob).toFixed(4); }
  } catch (e) { out.innerHTML = ""; const tr = out.insertRow(); showError(tr.insertCell(), e); }
};
$("score-btn").onclick = async () => {
  const f = $("score-file").files[0];
  if (!f) return;
  const fd = new FormData(); fd.append("file", f);
  clearError($("score-status")); $("score-download").hidden = true;
  try {
    const r = await api("POST", `/api/runs/${encodeURIComponent($("try-run").value)}/score?format=${$("score-format").value}`, fd);
    $("score-status").textContent = r.command;
    const j = await waitJob(r.job.id);
    if (j.state !== "done") throw new Error(j.state);
    $("score-download").href = "/api/file?path=" + encodeURIComponent(r.job.out);
    $("score-download").hidden = false;
  } catch (e) { showError($("score-status"), e); }
};

// ---- Runs
// byColumn orders two cells in direction dir (1 or -1): numbers as numbers, text as text, and
// runs without the value (not evaluated yet) last either way.
function byColumn(a, b, dir) {
  if (a == null || b == null) return (a == null) - (b == null);
  return (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b))) * dir;
}
let SORT = ["modified", -1];
function renderRuns() {
  const tb = $("runs-table");
  const cols = ["name", "state", "steps", "loss", "eval_accuracy", "test_accuracy", "precision", "recall", "f1", "roc_auc", "modified"];
  tb.innerHTML = "<tr>" + cols.map((c) => `<th data-col="${c}">${c}</th>`).join("") + "<th></th></tr>";
  tb.querySelectorAll("th[data-col]").forEach((th) => th.onclick = () => { SORT = [th.dataset.col, SORT[0] === th.dataset.col ? -SORT[1] : 1]; renderRuns(); });
  const rows = RUNS.slice().sort((a, b) => byColumn(a[SORT[0]], b[SORT[0]], SORT[1]));
  for (const r of rows) {
    const tr = tb.insertRow();
    for (const c of cols) tr.insertCell().textContent = typeof r[c] === "number" && !Number.isInteger(r[c]) ? r[c].toFixed(4) : (r[c] ?? "");
    const b = document.createElement("button"); b.textContent = t("runs.delete");
    b.onclick = async () => { if (confirm(t("runs.confirm").replace("%s", r.name))) { await api("DELETE", `/api/runs/${encodeURIComponent(r.name)}`); refresh(); } };
    tr.insertCell().appendChild(b);
  }
}

translate();
showPage((location.hash || "#data").slice(1));
refresh().then(showCommand);
