package reports

import (
	"bytes"
	"html/template"
)

func renderHTML(in *Input) ([]byte, error) {
	v := buildView(in)
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	// The SVG is built by this package from numbers and escaped labels.
	"svg": func(s string) template.HTML { return template.HTML(s) },
	"css": func(s string) template.CSS { return template.CSS(s) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f8fafc; --card:#fff; --blue:#2563eb; --good:#059669; --bad:#dc2626; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Noto Sans CJK SC","Noto Sans CJK JP","Source Han Sans SC","PingFang SC","Hiragino Sans","Microsoft YaHei",sans-serif; }
main { max-width:1120px; margin:0 auto; padding:28px 24px 48px; }
h1 { font-size:26px; margin:0 0 4px; letter-spacing:-0.01em; }
h2 { font-size:18px; margin:36px 0 12px; padding-bottom:6px; border-bottom:1px solid var(--line); }
.sub { color:var(--muted); margin:0 0 18px; }
.note { background:#fffbeb; border:1px solid #fcd34d; border-radius:10px; padding:10px 14px; margin:12px 0; }
.warn { background:#fef2f2; border:1px solid #fca5a5; border-radius:10px; padding:10px 14px; margin:12px 0; }
.verdict { background:#eff6ff; border:1px solid #bfdbfe; border-radius:10px; padding:12px 16px; margin:16px 0 8px; font-size:16px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(160px,1fr)); gap:12px; margin:18px 0; }
.card { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:14px 16px; box-shadow:0 1px 2px rgba(15,23,42,.04); }
.card .label { color:var(--muted); font-size:13px; text-transform:uppercase; letter-spacing:.04em; }
.card .value { font-size:30px; font-weight:650; letter-spacing:-0.02em; font-variant-numeric:tabular-nums; }
.card .ci, .card .sub2 { color:var(--muted); font-size:12.5px; font-variant-numeric:tabular-nums; }
.delta { font-size:13px; font-weight:600; font-variant-numeric:tabular-nums; }
.delta.up { color:var(--good); } .delta.down { color:var(--bad); } .delta.flat, .delta.trade { color:var(--muted); }
table { border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:10px; overflow:hidden; }
th, td { padding:7px 12px; text-align:left; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f1f5f9; font-weight:600; font-size:13.5px; white-space:nowrap; }
tr:last-child td { border-bottom:none; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.best { font-weight:700; }
.help { color:var(--muted); font-size:12.5px; }
.wide { width:100%; }
.cm { margin-top:4px; }
.cm td.cell { text-align:center; min-width:150px; font-size:22px; font-weight:650; font-variant-numeric:tabular-nums; }
.cm td.cell small { display:block; font-size:12px; font-weight:400; color:var(--muted); }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:16px; }
figure { margin:0; background:var(--card); border:1px solid var(--line); border-radius:12px; padding:10px 12px 12px; }
figcaption { color:var(--muted); font-size:12.5px; margin-top:2px; }
svg.plot { width:100%; height:auto; display:block; }
svg .ptitle { font-size:14px; font-weight:600; fill:var(--ink); }
svg .tick { font-size:11px; fill:#64748b; }
svg .axis { font-size:12px; fill:#334155; }
svg .legend { font-size:11.5px; fill:#334155; }
.errors td.text { max-width:720px; }
.sig { color:var(--good); font-weight:600; } .nsig { color:var(--muted); }
.cmrow { display:grid; grid-template-columns:minmax(0,auto) minmax(0,1fr); gap:28px; align-items:start; }
.nowrap td { white-space:nowrap; }
@media (max-width:900px) { .cmrow { grid-template-columns:1fr; } }
.two { display:grid; grid-template-columns:repeat(auto-fit,minmax(320px,1fr)); gap:16px; align-items:start; }
footer { color:var(--muted); font-size:12.5px; margin-top:40px; }
code { background:#f1f5f9; padding:1px 5px; border-radius:4px; font-size:13px; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}}</p>
{{if .Note}}<div class="note"><strong>Note.</strong> {{.Note}}</div>{{end}}
{{range .Warnings}}<div class="warn">{{.}}</div>{{end}}
<div class="verdict">{{.Verdict}}</div>

<section class="cards">
{{range .Cards}}<div class="card"><div class="label">{{.Label}}</div><div class="value">{{.Value}}</div>
{{if .CI}}<div class="ci">{{.CI}}</div>{{end}}{{if .Delta}}<div class="delta {{.DeltaClass}}">{{.Delta}}</div>{{end}}{{if .Sub}}<div class="sub2">{{.Sub}}</div>{{end}}</div>
{{end}}</section>

<h2>Metrics side by side</h2>
<table class="wide">
<tr><th>Metric</th>{{range .Columns}}<th class="num">{{.}}</th>{{end}}<th>What it means</th></tr>
{{range .Rows}}<tr><td>{{.Label}}</td>{{range .Cells}}<td class="num{{if .Best}} best{{end}}"{{if .Tip}} title="{{.Tip}}"{{end}}>{{.Text}}</td>{{end}}<td class="help">{{.Help}}</td></tr>
{{end}}</table>
<p class="help">{{.Majority}} Bold: best value in the row. Positive class = 1.</p>

<div class="cmrow">
<div>
<h2>Confusion matrix</h2>
<table class="cm">
<tr><th></th><th class="num">predicted 0</th><th class="num">predicted 1</th></tr>
<tr><th>labelled 0</th><td class="cell" style="background:rgba(16,185,129,{{css .CM.TNAlpha}})">{{.CM.TN}}<small>true negatives · {{.CM.TNPct}}</small></td><td class="cell" style="background:rgba(239,68,68,{{css .CM.FPAlpha}})">{{.CM.FP}}<small>false positives · {{.CM.FPPct}}</small></td></tr>
<tr><th>labelled 1</th><td class="cell" style="background:rgba(239,68,68,{{css .CM.FNAlpha}})">{{.CM.FN}}<small>false negatives · {{.CM.FNPct}}</small></td><td class="cell" style="background:rgba(16,185,129,{{css .CM.TPAlpha}})">{{.CM.TP}}<small>true positives · {{.CM.TPPct}}</small></td></tr>
</table>
<p class="help">Percentages are of each label's row.</p>
</div>
{{if .Thresholds}}<div>
<h2 id="thresholds">Thresholds on this split</h2>
<table class="nowrap">
<tr><th>Classifier</th><th>Optimises</th><th class="num">threshold</th><th class="num">accuracy</th><th class="num">F1</th></tr>
{{range .Thresholds}}<tr><td>{{.Label}}</td>{{range $i, $c := .Cells}}<td{{if $i}} class="num"{{end}}>{{$c.Text}}</td>{{end}}</tr>
{{end}}</table>
<p class="help">Predict 1 when prob ≥ threshold. Chosen on the test split itself, so optimistic: confirm on held-out data before deploying.</p>
</div>{{end}}
</div>

{{if .Plots}}<h2>Plots</h2>
<div class="grid">
{{range .Plots}}<figure>{{svg .SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}</div>{{end}}
{{if .NoProbNote}}<p class="note">{{.NoProbNote}}</p>{{end}}

{{if .Comparisons}}<h2>Paired comparisons (McNemar)</h2>
<table class="wide">
<tr><th>A</th><th>B</th><th class="num">acc A</th><th class="num">acc B</th><th class="num">only A right</th><th class="num">only B right</th><th class="num">both right</th><th class="num">both wrong</th><th class="num">p</th><th>Test</th></tr>
{{range .Comparisons}}<tr><td>{{.A}}</td><td>{{.B}}</td><td class="num">{{.AccA}}</td><td class="num">{{.AccB}}</td><td class="num">{{.AOnly}}</td><td class="num">{{.BOnly}}</td><td class="num">{{.Both}}</td><td class="num">{{.Neither}}</td><td class="num {{if .Significant}}sig{{else}}nsig{{end}}">{{.PValue}}</td><td class="help">{{.Method}}</td></tr>
{{end}}</table>
<p class="help">{{range .Comparisons}}{{.Verdict}}. {{end}}McNemar's test looks only at the rows where exactly one classifier is right.</p>{{end}}

<h2>Most confident errors</h2>
{{if .HasText}}{{else}}<p class="help">The predictions carry no text column; ids only.</p>{{end}}
<div class="two">
<div><h3>False positives <span class="help">(labelled 0, predicted 1; highest prob first)</span></h3>
{{if .FalsePos}}<table class="errors wide"><tr><th>id</th><th class="num">prob</th><th>text</th></tr>
{{range .FalsePos}}<tr><td>{{.ID}}</td><td class="num">{{.Prob}}</td><td class="text">{{.Text}}</td></tr>
{{end}}</table>{{else}}<p class="help">None.</p>{{end}}</div>
<div><h3>False negatives <span class="help">(labelled 1, predicted 0; lowest prob first)</span></h3>
{{if .FalseNeg}}<table class="errors wide"><tr><th>id</th><th class="num">prob</th><th>text</th></tr>
{{range .FalseNeg}}<tr><td>{{.ID}}</td><td class="num">{{.Prob}}</td><td class="text">{{.Text}}</td></tr>
{{end}}</table>{{else}}<p class="help">None.</p>{{end}}</div>
</div>

{{if .Provenance}}<h2>Provenance</h2>
<table class="wide">
{{range .Provenance}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>{{end}}

<footer>Generated by sentitune. Intervals are Wilson 95 % score intervals. PR-AUC is average precision. Calibration uses ten equal-width bins. The full numbers are in <code>metrics.json</code> beside this page.</footer>
</main>
</body>
</html>
`))
