"""One self-contained HTML page per run: headline numbers, the gate table and the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from harness.report.plots import render_all
from harness.report.rundata import RunData

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>wastecoach run {{ s.run_id }}: {{ s.verdict | upper }}</title>
<style>
 body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
 h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
 table { border-collapse: collapse; width: 100%; margin: .5em 0; }
 th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
 th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
 .pass { color: #127a2a; font-weight: 600; } .fail { color: #b3141b; font-weight: 600; }
 .inconclusive { color: #9a6a00; font-weight: 600; }
 .badge { padding: 2px 10px; border-radius: 4px; color: #fff; }
 .badge.pass { background: #127a2a; } .badge.fail { background: #b3141b; }
 .badge.inconclusive { background: #9a6a00; }
 img { max-width: 100%; } code { background: #f4f4f4; padding: 0 3px; }
</style></head><body>
<h1>{{ s.scenario.name }} <span class="badge {{ s.verdict }}">{{ s.verdict }}</span></h1>
<p>{{ s.scenario.description }}</p>
<p>Run <code>{{ s.run_id }}</code> · target <code>{{ s.target }}</code> ·
 {% if s.servers %}servers {% for kind, mode in s.servers.items() %}<code>{{ kind }}
 {{ mode }}</code> {% endfor %}·{% endif %}
 {{ s.started_at }} · {{ "%.0f" | format(s.duration_seconds) }} s
 {% if s.warmup_seconds %}(first {{ "%.0f" | format(s.warmup_seconds) }} s excluded
 from gates){% endif %}</p>
{% if s.aborted %}<p class="fail"><b>Stopped early</b> at {{ s.aborted.at_seconds }} s into the
 load: gate <i>{{ s.aborted.gate }}</i> (abort_on_fail) broke: {{ s.aborted.message }}</p>
{% endif %}

<h2>Gates</h2>
<table><tr><th>gate</th><th>threshold</th><th>observed</th><th>samples</th><th>verdict</th><th>why</th></tr>
{% for g in s.gates %}<tr>
 <td>{{ g.name }}</td><td><code>{{ g.threshold }}</code></td>
 <td class="num">{{ g.observed_text }}</td><td class="num">{{ g.samples }}</td>
 <td class="{{ g.verdict }}">{{ g.verdict }}</td><td>{{ g.message }}</td></tr>
{% endfor %}</table>

<h2>Headline numbers</h2>
<table>{% for name, value in s.headline.items() %}
<tr><th>{{ name }}</th><td class="num">{{ value }}</td></tr>{% endfor %}</table>

{% if s.fault_outcomes %}<h2>Faults</h2>
<p>Steady state before, during and after each fault (processing p95 of the scans started in each
window), recovery time from the end of the fault, and the jobs it touched. Plots over time shade
the fault windows.</p>
<table><tr><th>fault</th><th>p95 before ms</th><th>p95 during ms</th><th>p95 after ms</th>
<th>recovery s</th><th>lost</th><th>failed</th><th>answered twice</th></tr>
{% for o in s.fault_outcomes %}<tr><td>{{ o.label }}</td>
 {% for ph in (o.before, o.during, o.after) %}<td class="num">
 {%- if ph and ph.p95_ms is not none %}{{ "%.0f" | format(ph.p95_ms) }}{% else %}-{% endif -%}
 </td>{% endfor %}
 <td class="num">{% if o.recovery_seconds is none %}never{% else -%}
 {{ "%.1f" | format(o.recovery_seconds) }}{% endif %}</td>
 <td class="num">{{ o.lost }}</td><td class="num">{{ o.failed }}</td>
 <td class="num">{{ o.answered_twice }}</td></tr>
{% endfor %}</table>{% endif %}

{% for title, uri in figures.items() %}
<h2>{{ title }}</h2><img alt="{{ title }}" src="{{ uri }}">
{% endfor %}

{% if s.notes %}<h2>Notes</h2><ul>{% for n in s.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
<p style="color:#777">Raw data beside this page: <code>events.csv</code> (one row per scan),
<code>requests.csv</code>, <code>series.csv</code>, <code>summary.json</code>,
<code>junit.xml</code>.</p>
</body></html>
"""


def render_html(run: RunData) -> str:
    env = Environment(autoescape=select_autoescape(default=True))
    summary: dict[str, Any] = run.summary
    return env.from_string(TEMPLATE).render(s=summary, figures=render_all(run))


def write_html(run: RunData, path: Path | None = None) -> Path:
    target = path or run.run_dir / "report.html"
    target.write_text(render_html(run), encoding="utf-8")
    return target
