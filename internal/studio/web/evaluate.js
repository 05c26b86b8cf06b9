// Evaluate and Try-it extras: two runs side by side, the decision threshold on the validation
// split, the most confident mistakes. Loaded after app.js, whose helpers ($, api, t, esc) it uses.
"use strict";

Object.assign(I18N.en, {
  "cmp.title": "Compare two runs", "cmp.go": "Compare", "cmp.metric": "metric", "cmp.curves": "Loss (solid) and evaluation loss (dashed) by step", "cmp.log": "log scale",
  "cmp.same": "Pick two different runs.", "cmp.none": "No McNemar test: %s",
  "cmp.more": "%s is %p points more accurate on the test split", "cmp.even": "Both runs are right on as many rows",
  "cmp.sig": "McNemar p = %v (%m, %d discordant pairs): significant at 5 %, the difference is unlikely to be chance.",
  "cmp.nosig": "McNemar p = %v (%m, %d discordant pairs): not significant at 5 %, the difference may be chance.",
  "cmp.nodisc": "McNemar: both runs are right and wrong on the same rows (no discordant pairs).",
  "cmp.exact": "exact binomial", "cmp.chi2": "chi-square, continuity-corrected",
  "thr.title": "Decision threshold (validation split)", "thr.score": "Score the validation split",
  "thr.help": "pred = 1 when prob ≥ threshold. Curves computed once on the validation rows; the slider moves along them.",
  "thr.save": "Use this threshold for predictions", "thr.saved": "saved in %f: studio's predictions and `%c` use it",
  "thr.current": "current threshold %v", "thr.rows": "%n validation rows",
  "mis.title": "Most confident mistakes (test split)", "mis.show": "Show", "mis.count": "%w wrong of %n test rows; the %s the model was surest of:",
  "mis.noprob": "(no probabilities: in file order)",
  "col.text": "review", "col.label": "label", "col.pred": "pred", "col.conf": "confidence",
});
Object.assign(I18N.zh, {
  "cmp.title": "对比两次运行", "cmp.go": "对比", "cmp.metric": "指标", "cmp.curves": "按步数的训练损失（实线）与评估损失（虚线）", "cmp.log": "对数坐标",
  "cmp.same": "请选择两次不同的运行。", "cmp.none": "无法做 McNemar 检验：%s",
  "cmp.more": "%s 在测试集上的准确率高 %p 个百分点", "cmp.even": "两次运行答对的样本数相同",
  "cmp.sig": "McNemar 检验 p = %v（%m，%d 个不一致样本对）：在 5% 水平上显著，差异不太可能是偶然。",
  "cmp.nosig": "McNemar 检验 p = %v（%m，%d 个不一致样本对）：在 5% 水平上不显著，差异可能只是偶然。",
  "cmp.nodisc": "McNemar 检验：两次运行在相同的样本上答对和答错（没有不一致样本对）。",
  "cmp.exact": "精确二项检验", "cmp.chi2": "卡方检验（连续性校正）",
  "thr.title": "决策阈值（验证集）", "thr.score": "在验证集上打分",
  "thr.help": "prob ≥ 阈值时 pred = 1。曲线在验证集上只计算一次，滑块沿曲线移动。",
  "thr.save": "预测时使用此阈值", "thr.saved": "已保存到 %f：studio 的预测和 `%c` 都会使用它",
  "thr.current": "当前阈值 %v", "thr.rows": "%n 条验证样本",
  "mis.title": "最自信的错误（测试集）", "mis.show": "显示", "mis.count": "%n 条测试样本中错了 %w 条；模型最有把握的 %s 条：",
  "mis.noprob": "（无概率：按文件顺序）",
  "col.text": "评论", "col.label": "标签", "col.pred": "预测", "col.conf": "置信度",
});

const fmt4 = (x) => (x == null ? "—" : Number(x).toFixed(4));
const fill = (s, vars) => s.replace(/%(\w)/g, (m, k) => (k in vars ? vars[k] : m));

// lineChart draws series {points: [[x, y]], color, dash, label} on one SVG, with a legend and an
// optional vertical marker at x = marker. opts.logY puts y on a log scale (points y ≤ 0 dropped),
// so a loss falling from ~14 to ~0.7 keeps its tail readable.
function lineChart(svg, series, marker, opts = {}) {
  const fy = opts.logY ? Math.log10 : (y) => y, unfy = opts.logY ? (v) => 10 ** v : (v) => v;
  if (opts.logY) series = series.map((ser) => ({ ...ser, points: ser.points.filter((q) => q[1] > 0) }));
  const pts = series.flatMap((s) => s.points);
  svg.dataset.scale = opts.logY ? "log" : "linear";
  if (!pts.length) { svg.innerHTML = ""; return; }
  const [W, H, L, B, T] = [560, 260, 50, 22, 10];
  const xs = pts.map((p) => p[0]).concat(marker == null ? [] : [marker]), ys = pts.map((p) => fy(p[1]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1e-9), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - 130), sy = (y) => H - B - ((fy(y) - y0) / (y1 - y0)) * (H - B - T);
  let s = `<line x1="${L}" y1="${H - B}" x2="${W - 120}" y2="${H - B}" stroke="#999"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#999"/>` +
    `<text x="2" y="${T + 4}" font-size="10">${unfy(y1).toPrecision(3)}</text><text x="2" y="${H - B}" font-size="10">${unfy(y0).toPrecision(3)}</text>` +
    `<text x="${L}" y="${H - 6}" font-size="10">${+x0.toPrecision(3)}</text><text x="${W - 150}" y="${H - 6}" font-size="10">${+x1.toPrecision(3)}</text>`;
  if (opts.logY) s += logTicks(y0, y1).map((v) => `<line class="ytick" x1="${L - 4}" y1="${sy(v).toFixed(1)}" x2="${L}" y2="${sy(v).toFixed(1)}" stroke="#999"/>` +
    `<text x="${L - 6}" y="${(sy(v) + 3).toFixed(1)}" font-size="9" text-anchor="end">${+v.toPrecision(3)}</text>`).join("");
  series.forEach((ser, i) => {
    const p = ser.points.map((q) => sx(q[0]).toFixed(1) + "," + sy(q[1]).toFixed(1));
    if (p.length) s += `<polyline class="series" fill="none" stroke="${ser.color}" stroke-width="1.6" ${ser.dash ? 'stroke-dasharray="5 3"' : ""} points="${p.join(" ")}"/>`;
    if (ser.dots) ser.points.forEach((q) => { s += `<circle cx="${sx(q[0]).toFixed(1)}" cy="${sy(q[1]).toFixed(1)}" r="2.5" fill="${ser.color}"/>`; });
    s += `<line x1="${W - 112}" y1="${T + 6 + i * 16}" x2="${W - 92}" y2="${T + 6 + i * 16}" stroke="${ser.color}" stroke-width="2" ${ser.dash ? 'stroke-dasharray="5 3"' : ""}/>` +
      `<text x="${W - 88}" y="${T + 10 + i * 16}" font-size="11">${esc(ser.label)}</text>`;
  });
  if (marker != null) s += `<line id="${svg.id}-marker" x1="${sx(marker)}" y1="${T}" x2="${sx(marker)}" y2="${H - B}" stroke="#111" stroke-dasharray="2 2"/>`;
  svg.innerHTML = s;
  svg.dataset.series = series.filter((x) => x.points.length).length;
}

// logTicks are the values 1, 2 and 5 × 10^k strictly inside the log10 range (lo, hi), a few
// labels between the ends.
function logTicks(lo, hi) {
  const out = [];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** k, e = Math.log10(v);
      if (e > lo + 0.05 && e < hi - 0.05) out.push(v);
    }
  }
  return out;
}

// ---- Compare two runs
const RUN_COLORS = ["#2563eb", "#dc2626"];
$("cmp-btn").onclick = async () => {
  const a = $("cmp-a").value, b = $("cmp-b").value, out = $("cmp-mcnemar");
  clearError(out);
  if (a === b) { showError(out, t("cmp.same")); return; }
  let c;
  try { c = await api("GET", "/api/compare?" + new URLSearchParams({ a, b })); } catch (e) { showError(out, e); return; }
  const tb = $("cmp-table");
  tb.innerHTML = `<tr><th>${esc(t("cmp.metric"))}</th>` + c.runs.map((r) => `<th>${esc(r.name)}</th>`).join("") + "</tr>";
  for (const k of ["accuracy", "precision", "recall", "f1", "roc_auc", "n"]) {
    const tr = tb.insertRow();
    tr.insertCell().textContent = k;
    for (const r of c.runs) tr.insertCell().textContent = !r.metrics ? "—" : k === "n" ? r.metrics.n : fmt4(r.metrics[k]);
  }
  out.textContent = mcnemarLine(c);
  CMP = c;
  drawCompareCurves();
};
let CMP = null; // the last comparison, redrawn when the scale changes
function drawCompareCurves() {
  if (!CMP) return;
  lineChart($("cmp-chart"), CMP.runs.flatMap((r, i) => [
    { points: r.curves.loss, color: RUN_COLORS[i], label: r.name + " loss" },
    { points: r.curves.eval_loss, color: RUN_COLORS[i], dash: true, dots: true, label: r.name + " eval" },
  ]), null, { logY: $("cmp-log").checked });
}
$("cmp-log").addEventListener("change", drawCompareCurves);

// mcnemarLine is the one-line reading of the test: who is ahead, p, and whether it is chance.
function mcnemarLine(c) {
  const m = c.mcnemar;
  if (!m) return fill(t("cmp.none"), { s: c.why });
  const lead = m.better ? fill(t("cmp.more"), { s: m.better, p: m.points.toFixed(1) }) : t("cmp.even");
  if (m.method === "none") return lead + "; " + t("cmp.nodisc");
  const p = m.p_value < 0.0001 ? "< 0.0001" : m.p_value.toFixed(4);
  return lead + ". " + fill(t(m.significant ? "cmp.sig" : "cmp.nosig"), { v: p, m: t("cmp." + m.method), d: m.a_only_correct + m.b_only_correct });
}

// ---- Decision threshold on the validation split
let THR = null;
$("thr-score").onclick = async () => {
  const name = $("thr-run").value;
  clearError($("thr-status"));
  try {
    const r = await api("POST", `/api/runs/${encodeURIComponent(name)}/val`);
    $("thr-status").textContent = r.command;
    const j = await waitJob(r.job.id);
    if (j.state !== "done") throw new Error(j.state + ": " + (await (await fetch(`/api/jobs/${j.id}/log`)).text()));
    await loadThreshold();
  } catch (e) { showError($("thr-status"), e); }
};
$("thr-run").addEventListener("change", () => loadThreshold().catch((e) => showError($("thr-status"), e)));
async function loadThreshold() {
  const name = $("thr-run").value;
  THR = null;
  $("thr-view").hidden = true;
  THR = await api("GET", `/api/runs/${encodeURIComponent(name)}/threshold`);
  if (!THR.n) { THR = null; return; } // the validation split is not scored yet
  $("thr-view").hidden = false;
  $("thr-rows").textContent = fill(t("thr.rows"), { n: THR.n }) + (THR.split ? " · " + THR.split : "");
  $("thr-slider").value = THR.saved;
  showSaved(THR);
  moveThreshold();
}
// pointAt is the sweep point a threshold falls on: the first at or above it (the probs between
// two points are predicted as the next one up).
function pointAt(v) {
  return THR.points.find((p) => p.threshold >= v) || THR.points[THR.points.length - 1];
}
function moveThreshold() {
  if (!THR) return;
  const v = +$("thr-slider").value, p = pointAt(v);
  $("thr-value").textContent = v.toFixed(3);
  const mt = $("thr-metrics");
  mt.innerHTML = "";
  for (const k of ["precision", "recall", "f1", "accuracy"]) {
    const tr = mt.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = fmt4(p[k]); tr.cells[1].id = "thr-" + k;
  }
  $("thr-confusion").innerHTML = `<tr><th></th><th>pred 1</th><th>pred 0</th></tr>` +
    `<tr><th>label 1</th><td id="thr-tp">${p.tp}</td><td id="thr-fn">${p.fn}</td></tr>` +
    `<tr><th>label 0</th><td id="thr-fp">${p.fp}</td><td id="thr-tn">${p.tn}</td></tr>`;
  const curve = (k) => THR.points.filter((q) => q[k] != null && q.threshold <= 1).map((q) => [q.threshold, q[k]]);
  lineChart($("thr-chart"), [
    { points: curve("precision"), color: "#2563eb", label: "precision" },
    { points: curve("recall"), color: "#dc2626", label: "recall" },
    { points: curve("f1"), color: "#15803d", label: "F1" },
    { points: curve("accuracy"), color: "#9333ea", dash: true, label: "accuracy" },
  ], Math.min(v, 1));
}
$("thr-slider").addEventListener("input", moveThreshold);
function showSaved(r) {
  $("thr-saved").textContent = r.file ? fill(t("thr.saved"), { f: r.file, c: r.command || `sentitune predict --config ${r.file} …` }) : fill(t("thr.current"), { v: r.saved });
}
$("thr-save").onclick = async () => {
  const name = $("thr-run").value;
  clearError($("thr-saved"));
  try {
    const r = await api("POST", `/api/runs/${encodeURIComponent(name)}/threshold`, { threshold: +$("thr-slider").value });
    THR.saved = r.threshold;
    showSaved(r);
  } catch (e) { showError($("thr-saved"), e); }
};

// ---- Most confident mistakes
$("mis-btn").onclick = async () => {
  const name = $("try-run").value, tb = $("mis-table");
  clearError($("mis-status"));
  tb.innerHTML = "";
  let r;
  try { r = await api("GET", `/api/runs/${encodeURIComponent(name)}/mistakes?n=20`); } catch (e) { showError($("mis-status"), e); return; }
  $("mis-status").textContent = fill(t("mis.count"), { w: r.wrong, n: r.n, s: r.rows.length }) + (r.no_prob ? " " + t("mis.noprob") : "");
  tb.innerHTML = "<tr>" + ["col.text", "col.label", "col.pred", "col.conf"].map((k) => `<th>${esc(t(k))}</th>`).join("") + "</tr>";
  for (const m of r.rows) {
    const tr = tb.insertRow();
    tr.insertCell().textContent = m.text || m.id;
    const cls = (i) => (r.classes ? r.classes[i] ?? i : i);
    tr.insertCell().textContent = cls(m.label);
    tr.insertCell().textContent = cls(m.pred);
    tr.insertCell().textContent = r.no_prob ? "—" : m.confidence.toFixed(4);
  }
};

translate();
