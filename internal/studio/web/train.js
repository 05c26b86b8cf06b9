// Data labels, the Model page (hub models, memory plan) and the Train page (the form, the live
// view). Loaded after app.js, whose helpers ($, api, t, esc, plot, refresh, showCommand) it uses.
"use strict";

Object.assign(I18N.en, {
  "data.classes": "Classes", "data.binary": "two (0/1)", "data.custom": "custom NAME=ANSWER,…",
  "model.hub": "Hub cache", "model.hubhelp": "Models downloaded with sentitune download, huggingface-cli or modelscope: the Train page takes them by name.",
  "model.none": "none", "model.plan": "Memory a LoRA run needs", "model.device": "Device", "model.estimate": "Estimate",
  "model.planhelp": "For the Train page's options (batch size, max length, LoRA rank and targets, checkpointing); finetune --dry-run prints the same plan.",
  "model.params": "%p parameters", "plan.part": "part", "plan.none": "as loaded", "plan.8bit": "8-bit base", "plan.4bit": "4-bit NF4 base",
  "plan.weights_projections": "weights: projections", "plan.weights_other": "weights: embeddings, norms", "plan.trainable": "LoRA parameters (f32)",
  "plan.grads": "LoRA gradients", "plan.optimizer": "AdamW moments", "plan.activations_plain": "activations, no checkpointing",
  "plan.activations_checkpointed": "activations, gradient checkpointing", "plan.workspace": "largest op's buffers", "plan.overhead": "runtime",
  "plan.total": "total (this run)",
  "group.model": "Model", "group.data": "Data", "group.extra": "Evaluation, saving, memory",
  "train.watch": "Watch run", "train.watchbtn": "Watch", "train.acc": "Evaluation accuracy",
  "live.step": "step %s", "live.eta": "ETA %s", "live.done": "finished", "live.tps": "%s tokens/s", "live.rss": "RSS %s", "live.cuda": "CUDA %s",
  "live.evalacc": "eval accuracy %s",
});
Object.assign(I18N.zh, {
  "data.classes": "类别", "data.binary": "两类（0/1）", "data.custom": "自定义 名称=答案,…",
  "model.hub": "Hub 缓存", "model.hubhelp": "用 sentitune download、huggingface-cli 或 modelscope 下载的模型：训练页可直接按名称使用。",
  "model.none": "无", "model.plan": "LoRA 训练所需显存/内存", "model.device": "设备", "model.estimate": "估算",
  "model.planhelp": "按训练页的选项（批大小、最大长度、LoRA 秩与目标模块、梯度检查点）估算；finetune --dry-run 打印同一份估算。",
  "model.params": "%p 个参数", "plan.part": "部分", "plan.none": "原精度", "plan.8bit": "8 位基座", "plan.4bit": "4 位 NF4 基座",
  "plan.weights_projections": "权重：线性层", "plan.weights_other": "权重：词嵌入、归一化", "plan.trainable": "LoRA 参数（f32）",
  "plan.grads": "LoRA 梯度", "plan.optimizer": "AdamW 动量", "plan.activations_plain": "激活（不用梯度检查点）",
  "plan.activations_checkpointed": "激活（梯度检查点）", "plan.workspace": "最大算子的临时缓冲", "plan.overhead": "运行时",
  "plan.total": "合计（本次训练）",
  "group.model": "模型", "group.data": "数据", "group.extra": "评估、保存与显存",
  "train.watch": "查看运行", "train.watchbtn": "查看", "train.acc": "评估准确率",
  "live.step": "第 %s 步", "live.eta": "预计剩余 %s", "live.done": "已完成", "live.tps": "%s tokens/s", "live.rss": "内存 %s", "live.cuda": "显存 %s",
  "live.evalacc": "评估准确率 %s",
});

const fmt = (key, v) => t(key).replace("%s", v);
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// ---- Data: binary, a star preset or custom classes
// labelChoice is the --labels / --label-map pair the Data page's choices make.
function labelChoice() {
  const c = $("data-classes").value;
  if (c === "stars3" || c === "stars5") return { labels: "", label_map: c };
  return { labels: c === "custom" ? $("data-labels").value : "", label_map: $("label-map").value };
}
$("data-classes").onchange = () => {
  $("data-labels").hidden = $("data-classes").value !== "custom";
  $("label-map").disabled = $("data-classes").value.startsWith("stars");
  if ($("data-classes").value !== "custom" || $("data-labels").value) inspect(true);
};

// ---- Model: hub models, one model's details and its memory plan
async function loadHubModels() {
  let hub = [];
  try { hub = await api("GET", "/api/hub-models"); } catch (e) { showError($("hub-list"), e); return; }
  HUB_MODELS = hub.filter((m) => !m.error).map((m) => m.id);
  const ul = $("hub-list");
  ul.innerHTML = hub.length ? "" : `<li>${esc(t("model.none"))}</li>`;
  for (const m of hub) {
    const li = document.createElement("li");
    li.innerHTML = `<code></code> (${esc(m.hub)}) <small></small>`;
    li.querySelector("code").textContent = m.id;
    li.querySelector("small").textContent = m.error || m.dir;
    if (m.error) li.classList.add("error");
    ul.appendChild(li);
  }
  await refresh();
  fillModelSelect();
}
function fillModelSelect() { fillSelect($("plan-model"), (STATE.models || []).concat(HUB_MODELS)); }
$("tabs").querySelector('[data-page="model"]').addEventListener("click", () => refresh().then(fillModelSelect));

const PLAN_ROWS = ["weights_projections", "weights_other", "trainable", "grads", "optimizer", "activations_plain", "activations_checkpointed", "workspace", "overhead", "total"];
$("plan-btn").onclick = async () => {
  const model = $("plan-model").value;
  clearError($("plan-notes"));
  $("plan-table").innerHTML = "";
  try {
    const d = await api("GET", "/api/model?model=" + encodeURIComponent(model));
    $("model-detail").textContent = `${model}: ${(d.architectures || [d.model_type]).join(",")}, ` +
      t("model.params").replace("%p", (d.parameters / 1e6).toFixed(1) + " M") + `, ${d.num_hidden_layers} layers, hidden ${d.hidden_size}, ` +
      `${d.num_attention_heads}/${d.num_key_value_heads} heads, vocab ${d.vocab_size}, ${d.torch_dtype || "?"}, weights on disk ${bytes(d.weight_bytes)}`;
    const options = trainRequest(true).options;
    options.device = $("plan-device").value;
    const r = await api("POST", "/api/model/plan", { model, options });
    const cols = ["none", "8bit", "4bit"];
    const tb = $("plan-table");
    tb.innerHTML = `<tr><th>${esc(t("plan.part"))}</th>` + cols.map((c) => `<th>${esc(t("plan." + c))}</th>`).join("") + "</tr>";
    for (const row of PLAN_ROWS) {
      const tr = tb.insertRow();
      tr.dataset.part = row;
      tr.insertCell().textContent = t("plan." + row);
      for (const c of cols) {
        const p = r.plans[c], cell = tr.insertCell();
        cell.textContent = bytes(p[row]);
        const used = row === (p.gradient_checkpointing ? "activations_checkpointed" : "activations_plain");
        if (used || row === "total") cell.classList.add("used");
      }
    }
    const p = r.plans.none;
    $("plan-notes").textContent = `${p.device}, ${p.dtype}, batch ${p.batch} × ${p.seq_len} tokens. ${p.attention}. ` + (p.notes || []).join(" ");
  } catch (e) { showError($("plan-notes"), e); }
};

// ---- Train: the form, built from finetune's own options
let TRAIN_OPTIONS = [];
async function buildTrainForm() {
  TRAIN_OPTIONS = await api("GET", "/api/train/options");
  const box = $("train-options");
  box.innerHTML = "";
  const groups = {};
  for (const o of TRAIN_OPTIONS) {
    if (!groups[o.group]) {
      groups[o.group] = document.createElement("fieldset");
      groups[o.group].innerHTML = `<legend>${esc(t("group." + o.group))}</legend>`;
      box.appendChild(groups[o.group]);
    }
    const l = document.createElement("label");
    l.textContent = o.flag + " ";
    let inp;
    if (o.choices) {
      inp = document.createElement("select");
      for (const c of o.choices) { const opt = document.createElement("option"); opt.value = c; opt.textContent = c === "" ? "—" : c; inp.appendChild(opt); }
      inp.onchange = showCommand;
    } else {
      inp = document.createElement("input");
      inp.oninput = showCommand;
    }
    inp.id = "opt-" + o.flag; inp.value = o.default; inp.dataset.flag = o.flag;
    l.appendChild(inp); groups[o.group].appendChild(l);
  }
  showCommand();
}
function trainRequest(dry) {
  const options = {};
  document.querySelectorAll("#train-options [data-flag]").forEach((i) => { options[i.dataset.flag] = i.value; });
  return { model: $("train-model").value, data: $("train-data").value, name: $("train-name").value, resume: $("train-resume").checked, options, dry_run: dry };
}

// ---- Train: the live view of a run's train_log.jsonl (started here or from the command line)
let SOURCE = null;
function watchRun(name) {
  if (SOURCE) SOURCE.close();
  const train = [], evals = [];
  $("watch-run").value = name;
  $("train-live").textContent = "";
  SOURCE = new EventSource(`/api/runs/${encodeURIComponent(name)}/events`);
  SOURCE.onmessage = (ev) => {
    const l = JSON.parse(ev.data);
    (l.split === "eval" ? evals : train).push(l);
    plot($("loss-chart"), [train.map((x) => [x.step, x.loss]), evals.map((x) => [x.step, x.loss])]);
    plot($("lr-chart"), [train.map((x) => [x.step, x.lr])]);
    plotPoints($("acc-chart"), evals.filter((x) => x.accuracy != null).map((x) => [x.step, x.accuracy]));
    $("train-live").textContent = liveLine(train, evals, true);
  };
  SOURCE.addEventListener("end", () => {
    SOURCE.close(); SOURCE = null;
    if (train.length) $("train-live").textContent = liveLine(train, evals, false) + " · " + t("live.done");
    refresh();
  });
}

// liveLine is the run's progress: step, loss, tokens/s, ETA, memory, the latest eval accuracy.
function liveLine(train, evals, running) {
  const last = train[train.length - 1];
  if (!last) return "";
  const parts = [fmt("live.step", last.max_steps ? `${last.step}/${last.max_steps}` : last.step), `loss ${last.loss.toFixed(4)}`,
    fmt("live.tps", Math.round(last.tokens_per_s || 0))];
  const eta = etaSeconds(train);
  if (running && eta != null) parts.push(fmt("live.eta", duration(eta)));
  if (last.rss_bytes) parts.push(fmt("live.rss", bytes(last.rss_bytes)));
  if (last.cuda_bytes) parts.push(fmt("live.cuda", bytes(last.cuda_bytes)));
  const acc = evals.filter((x) => x.accuracy != null).pop();
  if (acc) parts.push(fmt("live.evalacc", acc.accuracy.toFixed(3)));
  return parts.join(" · ");
}

// etaSeconds extrapolates the time per step of the last ten steps (evaluations included) to the
// steps left; null without max_steps (a log written before it was recorded).
function etaSeconds(train) {
  const last = train[train.length - 1];
  if (!last || !last.max_steps) return null;
  const first = train[Math.max(0, train.length - 11)];
  const perStep = last.step > first.step ? (last.elapsed_s - first.elapsed_s) / (last.step - first.step) : last.elapsed_s / last.step;
  return Math.max(0, (last.max_steps - last.step) * perStep);
}
function duration(s) {
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return (h ? `${h}:${String(m).padStart(2, "0")}` : `${m}`) + `:${String(sec).padStart(2, "0")}`;
}

// plotPoints is plot with every point marked: evaluations are few and far apart.
function plotPoints(svg, pts) {
  plot(svg, [pts]);
  if (pts.length < 3) return;
  const line = svg.querySelector("polyline");
  for (const xy of line.getAttribute("points").split(" ")) {
    const [x, y] = xy.split(",");
    svg.insertAdjacentHTML("beforeend", `<circle cx="${x}" cy="${y}" r="3" fill="#2563eb"/>`);
  }
}

$("watch-btn").onclick = () => { if ($("watch-run").value) watchRun($("watch-run").value); };
// a run that is training when the Train page opens (from here, or the command line) is followed at once
async function followRunning() {
  await refresh();
  const running = RUNS.find((r) => r.state === "running");
  if (running && !SOURCE) watchRun(running.name);
}
$("tabs").querySelector('[data-page="train"]').addEventListener("click", followRunning);

translate();
buildTrainForm();
loadHubModels().then(() => { if (location.hash === "#train") followRunning(); });
