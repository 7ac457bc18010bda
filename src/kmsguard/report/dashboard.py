"""`kmsguard report --format html`: one self-contained HTML file (no network needed to open
it): KPI tiles, trend charts drawn by Chart.js (vendored in `assets/`, inlined), the open
findings table (sortable, with witness and suggested fix) and the keys without an owner
tag, grouped by account.

Every value from the store is escaped: markup is written with `html.escape`, the chart data
travels as JSON with `<`, `>` and `&` escaped, and the page's script only ever sets
`textContent`. A Content-Security-Policy allows exactly the two inline scripts (by hash),
so even a value that slipped through could not run.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from .kpi_text import hours, share

CHART_JS = "chart.umd.min.js"
_SEVERITY_RANK = {"critical": 5, "high": 4, "medium": 3, "low": 2, "info": 1, "none": 0}


@cache
def chart_js() -> str:
    """The vendored Chart.js build, checked against the sha256 recorded beside it."""
    assets = resources.files("kmsguard.report").joinpath("assets")
    meta = json.loads(assets.joinpath("chart.js.json").read_text("utf-8"))
    data = assets.joinpath(CHART_JS).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta["sha256"]:
        raise RuntimeError(f"vendored {CHART_JS} does not match its recorded sha256")
    text = data.decode("utf-8")
    if "</script" in text.lower():
        raise RuntimeError(f"vendored {CHART_JS} cannot be inlined")
    return text


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` left to end it."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _tile(tile_id: str, label: str, value: str, raw: object, detail: str, tone: str) -> str:
    return (
        f'<section class="tile {tone}" id="{tile_id}" data-value="{_e(raw)}">'
        f'<h2>{_e(label)}</h2><p class="value">{_e(value)}</p>'
        f'<p class="detail">{_e(detail)}</p></section>'
    )


def _tiles(k: dict[str, Any]) -> str:
    pub, mttr = k["public_keys"], k["mttr_critical_hours"]
    owner, blocked = k["owner_tag_share"], k["blocked_before_deployment"]
    return "".join(
        [
            _tile(
                "kpi-public", "Keys with a public policy", str(pub["now"]), pub["now"],
                f"{pub['cross_account_now']} cross-account",
                "bad" if pub["now"] else "good",
            ),
            _tile(
                "kpi-mttr", "Time to remediate critical (mean)", hours(mttr["mean"]),
                mttr["mean"],
                f"median {hours(mttr['median'])} · p90 {hours(mttr['p90'])} · "
                f"{mttr['resolved']} resolved, {mttr['open_critical']} open",
                "neutral",
            ),
            _tile(
                "kpi-owner", "Customer managed keys with an owner", share(owner["share"]),
                owner["share"], f"{owner['with_owner']} of {owner['customer_keys']} keys",
                "good" if (owner["share"] or 0) >= 0.9 else "warn",
            ),
            _tile(
                "kpi-blocked", "Blocked before deployment", str(blocked["misconfigurations"]),
                blocked["misconfigurations"],
                f"misconfigurations · {blocked['gate_failures']} CI gate failures",
                "good",
            ),
        ]
    )


def _finding_row(f: dict[str, Any]) -> str:
    where = f["source"] if f["line"] is None else f"{f['source']}:{f['line']}"
    place = " / ".join(x for x in (f["account"], f["region"]) if x) or "template"
    if f["kind"] == "aws":  # the alias names the key for people; the ARN below it
        name = f["resource"] or where.rsplit("/", 1)[-1]
        where_html = f'<b>{_e(name)}</b><br><code>{_e(where)}</code>'
    else:
        where_html = f'<b>{_e(f["resource"] or where)}</b><br><code>{_e(where)}</code>'
    cells = [
        (_SEVERITY_RANK.get(f["severity"], 0),
         f'<span class="sev sev-{_e(f["severity"])}">{_e(f["severity"])}</span>'),
        (f["rule_id"], f'<b>{_e(f["rule_id"])}</b><br><small>{_e(f["title"])}</small>'),
        (f"{f['resource'] or ''} {where}", where_html),
        (place, _e(place)),
        (f["first_seen"], _e((f["first_seen"] or "")[:16].replace("T", " "))),
        (f["statements"], _e(f["statements"])),
        (f["witness"] or "", f'<span class="witness">{_e(f["witness"] or "—")}</span>'),
        (f["remediation"], f'<small>{_e(f["remediation"])}</small>'),
    ]
    tds = "".join(f'<td data-sort="{_e(key)}">{body}</td>' for key, body in cells)
    return f'<tr data-id="{_e(f["id"])}">{tds}</tr>'


_COLUMNS = (
    ("severity", "num"), ("rule", "text"), ("where", "text"), ("account / region", "text"),
    ("first seen", "text"), ("statements", "text"), ("witness", "text"),
    ("suggested fix", "text"),
)


def _findings_table(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return '<p class="empty">No open findings.</p>'
    head = "".join(
        f'<th data-type="{kind}" aria-sort="none"><button type="button">{_e(name)}'
        "</button></th>"
        for name, kind in _COLUMNS
    )
    rows = "".join(_finding_row(f) for f in findings)
    return (
        f'<table id="findings"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


def _unowned(groups: dict[str, list[dict[str, Any]]]) -> str:
    if not groups:
        return '<p class="empty">Every customer managed key has an owner tag.</p>'
    parts = []
    for account, keys in groups.items():
        items = []
        for key in keys:
            tags = ", ".join(f"{k}={v}" for k, v in key["tags"].items()) or "no tags"
            aliases = ", ".join(key["aliases"]) or "no alias"
            items.append(
                f'<li><code>{_e(key["arn"])}</code><span class="meta">{_e(key["region"])}'
                f" · {_e(aliases)} · {_e(tags)}</span></li>"
            )
        parts.append(
            f'<details class="account" open data-account="{_e(account)}"><summary>account '
            f"{_e(account)} <span class=\"count\">{len(keys)}</span></summary>"
            f"<ul>{''.join(items)}</ul></details>"
        )
    return "".join(parts)


def _labels(points: list[dict[str, Any]]) -> list[str]:
    """`YYYY-MM-DD HH:MM`, with seconds when two points fall in the same minute."""
    minutes = [str(p["at"])[:16].replace("T", " ") for p in points]
    if len(set(minutes)) == len(minutes):
        return minutes
    return [str(p["at"])[:19].replace("T", " ") for p in points]


def _charts_data(k: dict[str, Any]) -> dict[str, Any]:
    pub = k["public_keys"]["trend"]
    owner = k["owner_tag_share"]["trend"]
    blocked = k["blocked_before_deployment"]["trend"]
    return {
        "exposure": {
            "labels": _labels(pub),
            "public": [p["public"] for p in pub],
            "cross": [p["cross_account"] for p in pub],
        },
        "owner": {
            "labels": _labels(owner),
            "share": [None if p["share"] is None else round(100 * p["share"], 1)
                      for p in owner],
        },
        "blocked": {
            "labels": _labels(blocked),
            "total": [p["total"] for p in blocked],
        },
    }


def render_dashboard(report: dict[str, Any]) -> str:
    """The whole page for the report's JSON (`kmsguard.store.kpis.kpis_json`)."""
    k = report["kpis"]
    data_script = _script_json(_charts_data(k))
    library = chart_js()
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src {_csp_hash(library)} {_csp_hash(_PAGE_JS)}"
    )
    since = f" · since {report['since']}" if report.get("since") else ""
    findings = report["open_findings"]
    unowned_total = sum(len(v) for v in report["keys_without_owner"].values())
    return _PAGE.format(
        csp=_e(csp),
        css=_PAGE_CSS,
        subtitle=_e(f"generated {report['generated_at']}{since} · {report['runs']} recorded "
                    "scans"),
        tiles=_tiles(k),
        findings_count=len(findings),
        findings=_findings_table(findings),
        unowned_count=unowned_total,
        unowned=_unowned(report["keys_without_owner"]),
        data=data_script,
        library=library,
        page_js=_PAGE_JS,
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kmsguard · KMS key exposure dashboard</title>
<style>{css}</style></head>
<body>
<header><div><h1><svg class="logo" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
<path fill="currentColor"
d="M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5l-8-3zm0 6a2.5 2.5 0 0 1 1 4.8V16h-2v-3.2A2.5
2.5 0 0 1 12 8z"/>
</svg> kmsguard</h1>
<p>KMS key exposure dashboard · {subtitle}</p></div></header>
<main>
<div class="tiles">{tiles}</div>
<div class="charts">
<section class="card"><h2>Exposed keys over time</h2><div class="chart">
<canvas id="chart-exposure" aria-label="public and cross-account keys over time"></canvas>
</div></section>
<section class="card"><h2>Owner tag coverage</h2><div class="chart">
<canvas id="chart-owner" aria-label="share of customer managed keys with an owner"></canvas>
</div></section>
<section class="card"><h2>Blocked before deployment</h2><div class="chart">
<canvas id="chart-blocked" aria-label="misconfigurations blocked by CI gates"></canvas>
</div></section>
</div>
<section class="card wide"><h2>Open findings <span class="count">{findings_count}</span></h2>
<p class="hint">Click a column to sort.</p>
<div class="scroll">{findings}</div></section>
<section class="card wide"><h2>Keys without an owner tag
<span class="count">{unowned_count}</span></h2>{unowned}</section>
</main>
<footer>kmsguard · charts by Chart.js (MIT) · this file needs no network</footer>
<script type="application/json" id="kmsguard-data">{data}</script>
<script>{library}</script>
<script>{page_js}</script>
</body></html>
"""

_PAGE_CSS = """
:root{--bg:#f4f6fb;--card:#fff;--ink:#1d2433;--muted:#667085;--line:#e4e7ef;
--bad:#d92d20;--warn:#dc6803;--good:#039855;--accent:#3e4fe0}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:var(--bg);color:var(--ink)}
header{background:linear-gradient(120deg,#141b34,#2b3a8f);color:#fff;padding:22px 32px}
header h1{margin:0;font-size:24px;letter-spacing:.3px}
header p{margin:4px 0 0;color:#c8cff5}
.logo{color:#8fa2ff;vertical-align:-3px}
main{max-width:1560px;margin:0 auto;padding:24px 32px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:16px}
.tile{background:var(--card);border-radius:12px;padding:16px 18px;
box-shadow:0 1px 3px rgba(16,24,40,.08);border-top:4px solid var(--accent)}
.tile.bad{border-top-color:var(--bad)}.tile.warn{border-top-color:var(--warn)}
.tile.good{border-top-color:var(--good)}
.tile h2{margin:0;font-size:13px;font-weight:600;color:var(--muted);text-transform:uppercase;
letter-spacing:.4px}
.tile .value{margin:6px 0 2px;font-size:36px;font-weight:700}
.tile .detail{margin:0;color:var(--muted)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px;
margin-top:16px}
.card{background:var(--card);border-radius:12px;padding:16px 18px;
box-shadow:0 1px 3px rgba(16,24,40,.08)}
.card.wide{margin-top:16px}
.card h2{margin:0 0 10px;font-size:16px}
.chart{position:relative;height:220px}
.count{display:inline-block;min-width:24px;padding:0 8px;border-radius:10px;
background:#eef0fb;color:var(--accent);font-size:12px;text-align:center}
.hint{margin:-6px 0 8px;color:var(--muted);font-size:12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:8px 10px;border-bottom:1px solid var(--line)}
th button{all:unset;cursor:pointer;font-weight:600;color:var(--muted);font-size:12px;
text-transform:uppercase;letter-spacing:.3px}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
td code{font-size:11px;word-break:break-all;color:var(--muted)}
td:nth-child(2){min-width:170px}td:nth-child(3){min-width:240px;max-width:320px}
td:nth-child(4){white-space:nowrap}td:nth-child(5){min-width:92px}
td:nth-child(7){min-width:240px}td:nth-child(8){min-width:220px}
.witness{font-size:13px}
td small{color:var(--muted)}
.sev{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
color:#fff;background:#98a2b3}
.sev-critical{background:var(--bad)}.sev-high{background:var(--warn)}
.sev-medium{background:#f79009}.sev-low{background:#2e90fa}
.account{border:1px solid var(--line);border-radius:8px;padding:8px 12px;margin:8px 0}
.account summary{cursor:pointer;font-weight:600}
.account ul{margin:8px 0 0;padding-left:18px}
.account li{margin:4px 0}
.meta{display:block;color:var(--muted);font-size:12px}
.empty{color:var(--muted)}
footer{text-align:center;color:var(--muted);font-size:12px;padding:16px}
"""

_PAGE_JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("kmsguard-data").textContent);
  var common = {responsive: true, maintainAspectRatio: false, animation: false,
    plugins: {legend: {position: "bottom"}},
    scales: {y: {beginAtZero: true, ticks: {precision: 0}}}};
  function chart(id, labels, datasets, extra) {
    var options = Object.assign({}, common, extra || {});
    return new Chart(document.getElementById(id), {type: "line",
      data: {labels: labels, datasets: datasets}, options: options});
  }
  chart("chart-exposure", data.exposure.labels, [
    {label: "public", data: data.exposure.public, borderColor: "#d92d20",
     backgroundColor: "rgba(217,45,32,.15)", fill: true, stepped: true},
    {label: "cross-account", data: data.exposure.cross, borderColor: "#dc6803",
     backgroundColor: "rgba(220,104,3,.10)", fill: true, stepped: true}]);
  chart("chart-owner", data.owner.labels, [
    {label: "% with owner tag", data: data.owner.share, borderColor: "#039855",
     backgroundColor: "rgba(3,152,85,.12)", fill: true, tension: .25}],
    {scales: {y: {min: 0, max: 100, ticks: {callback: function (v) { return v + "%"; }}}}});
  chart("chart-blocked", data.blocked.labels, [
    {label: "misconfigurations blocked (cumulative)", data: data.blocked.total,
     borderColor: "#3e4fe0", backgroundColor: "rgba(62,79,224,.12)", fill: true,
     stepped: true}]);

  var table = document.getElementById("findings");
  if (!table) { return; }
  var heads = table.tHead.rows[0].cells;
  function sortBy(index) {
    var th = heads[index];
    var numeric = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    for (var i = 0; i < heads.length; i++) { heads[i].setAttribute("aria-sort", "none"); }
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-sort");
      var y = b.cells[index].getAttribute("data-sort");
      var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return dir === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(heads, function (th, i) {
    th.querySelector("button").addEventListener("click", function () { sortBy(i); });
  });
})();
"""
