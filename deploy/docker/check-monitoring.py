#!/usr/bin/env python3
"""Checks the monitoring files of the Compose deployment (no dependencies; Python 3.9+).

    check-monitoring.py dashboard
        The Grafana dashboard (grafana/dashboards/securechat.json) and the provisioning files:
        every panel has a title, a unique id, a gridPos and PromQL targets on the data source
        uid securechat-prometheus, which the data source file declares; the dashboard
        provider loads /var/lib/grafana/dashboards.

    check-monitoring.py metrics METRICS_FILE [--strict]
        Every metric named by a dashboard query or an alert rule (prometheus/alerts.yml) is a
        family of the Prometheus text exposition METRICS_FILE (a scrape of a node's /metrics;
        a path, "-" for stdin, or an http:// URL). A series appears only after its first
        event, so a name missing from the scrape but defined in
        crates/server/src/metrics.rs is reported and tolerated, unless --strict.

    check-monitoring.py queries PROMETHEUS_URL
        Sends every dashboard query (template variables replaced: $node by .*,
        $__rate_interval by 1m, ...) to PROMETHEUS_URL/api/v1/query and fails on any answer
        with status "error" (syntax errors, unknown functions, wrong argument types).

Paths default to the files next to this script; see --help of each subcommand. Exits 0 when
everything checked is right, 1 with a message per problem otherwise (2 for usage errors).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULTS = {
    "dashboard": os.path.join(HERE, "grafana", "dashboards", "securechat.json"),
    "datasource": os.path.join(HERE, "grafana", "provisioning", "datasources", "prometheus.yml"),
    "provider": os.path.join(HERE, "grafana", "provisioning", "dashboards", "securechat.yml"),
    "alerts": os.path.join(HERE, "prometheus", "alerts.yml"),
    "source": os.path.normpath(
        os.path.join(HERE, "..", "..", "crates", "server", "src", "metrics.rs")
    ),
}
DS_UID = "securechat-prometheus"
DS_URL = "http://prometheus:9090"
DASHBOARD_UID = "securechat"
DASHBOARDS_PATH = "/var/lib/grafana/dashboards"

# Grafana's own variables, with a value Prometheus accepts where they are used.
GRAFANA_BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# PromQL words that are not metric names (aggregations, binary and modifier keywords).
PROMQL_KEYWORDS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "atan2", "start", "end",
    "inf", "nan",
}
# Names that are not securechat's own but are fine to use.
IGNORED_NAMES = {"up", "time", "vector", "scalar"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


class Problems:
    """Collects problems; the check fails if there is any."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def report(self, what: str) -> int:
        if self.items:
            print(f"FAILED: {what}: {len(self.items)} problem(s)", file=sys.stderr)
            for item in self.items:
                print(f"  - {item}", file=sys.stderr)
            return 1
        print(f"OK: {what}")
        return 0


def die(message: str) -> None:
    print(f"FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    raise AssertionError  # unreachable


def load_dashboard(path: str) -> dict:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        die(f"{path} is not valid JSON: {e}")
    raise AssertionError  # unreachable


# --- dashboard structure ---------------------------------------------------------------------


def all_panels(dashboard: dict) -> list[dict]:
    """Top-level panels and the panels inside collapsed rows."""
    out = []
    for panel in dashboard.get("panels") or []:
        out.append(panel)
        for inner in panel.get("panels") or []:
            out.append(inner)
    return out


def variables(dashboard: dict) -> dict[str, dict]:
    return {v.get("name"): v for v in (dashboard.get("templating") or {}).get("list") or []}


def variable_query(var: dict) -> str:
    query = var.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    return query if isinstance(query, str) else ""


def dashboard_queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    out = []
    for panel in all_panels(dashboard):
        for target in panel.get("targets") or []:
            expr = target.get("expr")
            if isinstance(expr, str) and expr.strip():
                where = f'panel {panel.get("id")} "{panel.get("title")}" target {target.get("refId")}'
                out.append((where, expr))
    for name, var in variables(dashboard).items():
        if var.get("type") != "query":
            continue
        query = variable_query(var).strip()
        # label_values(selector, label) / query_result(expr): the PromQL inside.
        m = re.fullmatch(r"label_values\((.*),\s*[a-zA-Z_]\w*\s*\)", query, re.S)
        if m:
            out.append((f"variable ${name}", m.group(1)))
            continue
        m = re.fullmatch(r"query_result\((.*)\)", query, re.S)
        if m:
            out.append((f"variable ${name}", m.group(1)))
    return out


def datasource_ok(ds, dashboard_vars: dict[str, dict]) -> bool:
    """True if ds names the Prometheus data source by uid, directly or by a variable."""
    if not isinstance(ds, dict):
        return False
    uid = ds.get("uid")
    if uid == DS_UID:
        return True
    m = re.fullmatch(r"\$\{?(\w+)\}?", uid or "")
    if m and m.group(1) in dashboard_vars:
        var = dashboard_vars[m.group(1)]
        current = (var.get("current") or {}).get("value")
        return var.get("type") == "datasource" and current == DS_UID
    return False


VAR_REF = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")


def check_dashboard(args) -> int:
    problems = Problems()
    dashboard = load_dashboard(args.dashboard)
    dvars = variables(dashboard)

    if dashboard.get("uid") != DASHBOARD_UID:
        problems.add(f'dashboard uid is {dashboard.get("uid")!r}, expected {DASHBOARD_UID!r}')
    if not dashboard.get("title"):
        problems.add("dashboard has no title")
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 36:
        problems.add(f'schemaVersion {dashboard.get("schemaVersion")!r}: expected 36 or newer')
    if not ({"node", "instance"} & set(dvars)):
        problems.add("no template variable named node or instance")

    for name, var in dvars.items():
        if var.get("type") == "query":
            if not datasource_ok(var.get("datasource"), dvars):
                problems.add(f"variable ${name}: data source is not uid {DS_UID}: {var.get('datasource')!r}")
            if not variable_query(var).strip():
                problems.add(f"variable ${name}: empty query")

    panels = all_panels(dashboard)
    if not panels:
        problems.add("dashboard has no panels")
    seen_ids: dict = {}
    boxes = []
    n_targets = 0
    for panel in panels:
        pid = panel.get("id")
        label = f'panel {pid} "{panel.get("title", "")}"'
        if not isinstance(pid, int):
            problems.add(f"{label}: id is not an integer")
        elif pid in seen_ids:
            problems.add(f'{label}: id {pid} also used by "{seen_ids[pid]}"')
        else:
            seen_ids[pid] = panel.get("title", "")
        if not str(panel.get("title") or "").strip():
            problems.add(f"{label}: no title")
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
            problems.add(f"{label}: gridPos needs integer h, w, x, y: {grid!r}")
        else:
            if grid["x"] < 0 or grid["w"] <= 0 or grid["x"] + grid["w"] > 24:
                problems.add(f"{label}: gridPos does not fit the 24 columns: {grid!r}")
            boxes.append((label, grid))
        if panel.get("type") == "row":
            continue
        if not panel.get("type"):
            problems.add(f"{label}: no type")
        if not datasource_ok(panel.get("datasource"), dvars):
            problems.add(f"{label}: data source is not uid {DS_UID}: {panel.get('datasource')!r}")
        targets = panel.get("targets") or []
        if not targets:
            problems.add(f"{label}: no targets")
        ref_ids = set()
        for target in targets:
            n_targets += 1
            ref = target.get("refId")
            tlabel = f"{label} target {ref}"
            if not ref or ref in ref_ids:
                problems.add(f"{tlabel}: missing or repeated refId")
            ref_ids.add(ref)
            if not datasource_ok(target.get("datasource"), dvars):
                problems.add(f"{tlabel}: data source is not uid {DS_UID}: {target.get('datasource')!r}")
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.add(f"{tlabel}: no expr")
                continue
            for m in VAR_REF.finditer(expr):
                name = m.group(1) or m.group(2) or m.group(3)
                if name not in dvars and name not in GRAFANA_BUILTINS:
                    problems.add(f"{tlabel}: uses undefined variable ${name}")

    # Panels must not overlap.
    for i, (la, a) in enumerate(boxes):
        for lb, b in boxes[i + 1:]:
            if (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                    and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]):
                problems.add(f"{la} and {lb} overlap")

    check_datasource_file(args.datasource, problems)
    check_provider_file(args.provider, problems)
    rows = sum(1 for p in panels if p.get("type") == "row")
    print(f"{args.dashboard}: {len(panels) - rows} panels in {rows} rows, {n_targets} targets, "
          f"variables: "
          f"{', '.join('$' + v for v in dvars) or 'none'}")
    return problems.report("dashboard and provisioning")


def yaml_values(text: str, key: str) -> list[str]:
    """Values of `key: value` lines (any indentation, optional list dash), unquoted."""
    out = []
    for line in text.splitlines():
        m = re.match(rf"^\s*(?:-\s+)?{re.escape(key)}:\s*(.*?)\s*(?:#.*)?$", line)
        if m:
            out.append(m.group(1).strip().strip("'\""))
    return out


def check_datasource_file(path: str, problems: Problems) -> None:
    text = read_text(path)
    if yaml_values(text, "apiVersion") != ["1"]:
        problems.add(f"{path}: expected apiVersion: 1")
    expect = {"type": "prometheus", "uid": DS_UID, "url": DS_URL, "isDefault": "true"}
    for key, value in expect.items():
        values = yaml_values(text, key)
        if value not in values:
            problems.add(f"{path}: expected {key}: {value} (found {values or 'none'})")


def check_provider_file(path: str, problems: Problems) -> None:
    text = read_text(path)
    if yaml_values(text, "apiVersion") != ["1"]:
        problems.add(f"{path}: expected apiVersion: 1")
    if "file" not in yaml_values(text, "type"):
        problems.add(f"{path}: expected a provider of type: file")
    if DASHBOARDS_PATH not in yaml_values(text, "path"):
        problems.add(f"{path}: expected path: {DASHBOARDS_PATH}")


# --- metric names ----------------------------------------------------------------------------


def alert_exprs(path: str) -> list[tuple[str, str]]:
    """(where, PromQL) for every `expr:` of a rules file: plain, quoted or block scalars."""
    lines = read_text(path).splitlines()
    out = []
    alert = "?"
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*(?:-\s+)?(alert|record):\s*(\S+)", line)
        if m:
            alert = m.group(2).strip("'\"")
        m = re.match(r"^(\s*(?:-\s+)?)expr:\s*(.*?)\s*$", line)
        i += 1
        if not m:
            continue
        column = len(m.group(1))
        rest = m.group(2)
        if rest[:1] in ("|", ">"):
            block = []
            while i < len(lines) and (not lines[i].strip()
                                      or len(lines[i]) - len(lines[i].lstrip()) > column):
                block.append(lines[i].strip())
                i += 1
            expr = "\n".join(block).strip()
        elif rest[:1] == '"':
            expr = json.loads(rest[: rest.rindex('"') + 1])
        elif rest[:1] == "'":
            expr = rest[1: rest.rindex("'")].replace("''", "'")
        else:
            expr = re.sub(r"\s+#.*$", "", rest)
        out.append((f"alert {alert}", expr))
    if not out:
        die(f"{path}: no expr found")
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (best effort, enough for our queries)."""
    s = VAR_REF.sub("", expr)
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', s)  # strings
    s = re.sub(r"#[^\n]*", "", s)  # comments
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges, subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r" \1 ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", s):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_KEYWORDS or word in IGNORED_NAMES:
            continue
        names.add(word)
    return names


def read_exposition(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    if re.match(r"https?://", source):
        try:
            with urllib.request.urlopen(source, timeout=10) as resp:
                return resp.read().decode("utf-8")
        except (urllib.error.URLError, OSError) as e:
            die(f"cannot scrape {source}: {e}")
    return read_text(source)


def parse_exposition(text: str) -> dict[str, str]:
    """Family name -> type ('untyped' for samples without a TYPE line)."""
    families: dict[str, str] = {}
    samples: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^#\s*TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\w+)", line)
        if m:
            families[m.group(1)] = m.group(2)
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
        if m:
            samples.add(m.group(1))
    for name in samples:
        base = name
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and families.get(name[: -len(suffix)]) in ("histogram", "summary"):
                base = name[: -len(suffix)]
        families.setdefault(base, "untyped")
    return families


def check_metrics(args) -> int:
    problems = Problems()
    families = parse_exposition(read_exposition(args.metrics_file))
    if not families:
        die(f"{args.metrics_file}: no metric families found (not a Prometheus text exposition?)")

    defined: set[str] | None = None
    if not args.strict:
        if os.path.exists(args.source):
            defined = set(re.findall(r'"(securechat_[a-z0-9_]+)"', read_text(args.source)))
        else:
            print(f"note: {args.source} not found: every name must be in the scrape (as --strict)")

    uses: dict[str, list[str]] = {}
    exprs = dashboard_queries(load_dashboard(args.dashboard)) + alert_exprs(args.alerts)
    for where, expr in exprs:
        for name in metric_names(expr):
            uses.setdefault(name, []).append(where)

    print(f"{len(uses)} metric names from {len(exprs)} expressions "
          f"(dashboard and alert rules), against {len(families)} families in {args.metrics_file}:")
    absent = []
    for name in sorted(uses):
        family, suffix = name, ""
        if name not in families:
            for sfx in HISTOGRAM_SUFFIXES:
                if name.endswith(sfx):
                    family, suffix = name[: -len(sfx)], sfx
        kind = families.get(family)
        if kind is not None:
            status = f"ok ({kind})"
            if suffix and kind not in ("histogram", "summary", "untyped"):
                problems.add(f"{name}: used as a histogram, but {family} is a {kind} "
                             f"(in {uses[name][0]})")
                status = f"WRONG TYPE ({kind})"
            elif suffix == "_bucket" and kind == "summary":
                problems.add(f"{name}: {family} is a summary, it has no buckets (in {uses[name][0]})")
                status = "WRONG TYPE (summary)"
        elif defined is not None and family in defined:
            status = "not in this scrape (defined in metrics.rs: appears after its first event)"
            absent.append(family)
        else:
            where = "; ".join(sorted(set(uses[name]))[:3])
            problems.add(f"{name}: not in the exposition"
                         + ("" if defined is None else " nor defined in metrics.rs")
                         + f" (used by {where})")
            status = "MISSING"
        print(f"  {name:<56} {status}")
    if absent:
        print(f"note: {len(absent)} name(s) tolerated as not exported yet; --strict makes them fail")
    return problems.report(f"metric names ({len(uses)} checked)")


# --- queries against a live Prometheus -------------------------------------------------------


def substitute(expr: str, dvars: dict[str, dict]) -> str:
    def value(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        var = dvars.get(name) or {}
        if var.get("type") == "datasource":
            return DS_UID
        if var.get("type") in ("interval",):
            return "5m"
        return ".*"

    return VAR_REF.sub(value, expr)


def check_queries(args) -> int:
    problems = Problems()
    dashboard = load_dashboard(args.dashboard)
    dvars = variables(dashboard)
    url = args.prometheus_url.rstrip("/") + "/api/v1/query"
    queries = dashboard_queries(dashboard)
    with_data = 0
    for where, expr in queries:
        query = substitute(expr, dvars)
        data = urllib.parse.urlencode({"query": query}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:  # 400/422/503 carry a JSON error body
            body = e.read()
        except (urllib.error.URLError, OSError) as e:
            die(f"cannot reach {url}: {e}")
        try:
            answer = json.loads(body)
        except json.JSONDecodeError:
            problems.add(f"{where}: not a Prometheus API answer: {body[:200]!r}")
            continue
        if answer.get("status") != "success":
            problems.add(f"{where}: {answer.get('errorType')}: {answer.get('error')}\n"
                         f"      query: {' '.join(query.split())}")
            continue
        result = (answer.get("data") or {}).get("result")
        series = len(result) if isinstance(result, list) else 1
        with_data += series > 0
        print(f"  {where}: ok, {series} series")
        for note in (answer.get("warnings") or []) + (answer.get("infos") or []):
            print(f"    note: {note}")
    print(f"{len(queries)} dashboard queries sent to {url}; {with_data} returned data "
          "(a series appears after its first event: empty answers are not errors)")
    return problems.report(f"dashboard queries ({len(queries)} checked)")


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Checks the Grafana dashboard and the Prometheus alert rules of the "
                    "Compose deployment.")
    parser.add_argument("--dashboard", default=DEFAULTS["dashboard"],
                        help="dashboard JSON (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("dashboard", help="dashboard and provisioning files")
    p.add_argument("--datasource", default=DEFAULTS["datasource"],
                   help="data source provisioning file (default: %(default)s)")
    p.add_argument("--provider", default=DEFAULTS["provider"],
                   help="dashboard provider provisioning file (default: %(default)s)")
    p.set_defaults(func=check_dashboard)

    p = sub.add_parser("metrics", help="metric names against a node's exposition")
    p.add_argument("metrics_file", metavar="METRICS_FILE",
                   help='scrape of /metrics: a file, "-" for stdin, or an http(s):// URL')
    p.add_argument("--alerts", default=DEFAULTS["alerts"],
                   help="alert rules (default: %(default)s)")
    p.add_argument("--source", default=DEFAULTS["source"],
                   help="where the metric names are defined (default: %(default)s)")
    p.add_argument("--strict", action="store_true",
                   help="every name must be in the exposition, even one defined but not "
                        "exported yet")
    p.set_defaults(func=check_metrics)

    p = sub.add_parser("queries", help="dashboard queries against a running Prometheus")
    p.add_argument("prometheus_url", metavar="PROMETHEUS_URL",
                   help="e.g. http://127.0.0.1:9090")
    p.set_defaults(func=check_queries)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
