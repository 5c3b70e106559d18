#!/usr/bin/python3
"""End-to-end test: `tessera bench`'s HTML report in headless Chromium.

Usage:  /usr/bin/python3 bench_report_test.py /path/to/tessera [WORKDIR]
        /usr/bin/python3 bench_report_test.py --html REPORT.html [WORKDIR]

Runs `tessera bench --quick --out WORKDIR/out`, which must exit 0 and write
report.json, report.csv and report.html there (the JSON a "tessera_bench": 1
report with runs), then opens report.html from file:// in Debian's headless
Chromium under npm playwright-core (tests/e2e/bench_report_check.mjs): no
console or page error, no request that is not file:// or data: (the page is
self-contained), the <meta name="tessera-report"> tag, the summary and
comparisons tables, at least 3 svg.plot elements each with an id and a
non-empty box (every <details> opened), and one bitrate-quality plot
(svg#bq-psnr-N) per workload of the JSON. The full-page screenshot is left in
WORKDIR/report.png. With --html, only the page given is checked.

WORKDIR (default: a temporary folder, removed unless a check failed) is
emptied first and kept afterwards when given.

npm packages: playwright-core from the noVNC test's packages
(tests/e2e/novnc/package-lock.json): TESSERA_NOVNC_NODE_MODULES, else `npm ci`
into e2e-novnc/ next to the tessera binary, reused while the lock file is
unchanged (vnc_viewers_test.ensure_node_modules). With --html and neither,
tests/e2e/novnc/node_modules or the build folder's e2e-novnc is used if there.

Prints one line per check and ends with "N passed, M failed"; exits non-zero
if any check failed, a missing tool included.

Needs: Debian's /usr/bin/python3, chromium, nodejs + npm.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import spice_clients_test as base  # noqa: E402  (Results, tail, script_error, tally)
import vnc_viewers_test as vv      # noqa: E402  (ensure_node_modules)

CHECK_MJS = os.path.join(HERE, "bench_report_check.mjs")
CHROMIUM = vv.CHROMIUM
BENCH_TIMEOUT = 200
CHECK_TIMEOUT = 90

R = None


def node_modules_for(binary):
    """playwright-core's node_modules (checked), or None."""
    given = os.environ.get("TESSERA_NOVNC_NODE_MODULES")
    if binary is None and not given:
        # --html: whatever is installed already, without npm.
        for nm in (os.path.join(HERE, "novnc", "node_modules"),
                   os.path.join(os.path.dirname(HERE), "..", "build",
                                "e2e-novnc", "node_modules")):
            if os.path.exists(os.path.join(nm, "playwright-core", "index.mjs")):
                R.check("playwright-core found", True, os.path.abspath(nm))
                return os.path.abspath(nm)
        R.check("playwright-core found", False,
                "set TESSERA_NOVNC_NODE_MODULES (or run e2e_vnc_viewers once)")
        return None
    vv.R = R       # ensure_node_modules reports through the module's Results
    return vv.ensure_node_modules(binary or "")


def run_bench(binary, out):
    """`tessera bench --quick --out OUT`; the report's JSON, or None (checked)."""
    cmd = [binary, "bench", "--quick", "--out", out]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=BENCH_TIMEOUT)
        rc, text = p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        rc, text = "timeout", (e.stdout or b"").decode("utf-8", "replace")
    with open(os.path.join(os.path.dirname(out), "bench.log"), "w") as f:
        f.write(text)
    if not R.check("tessera bench --quick exits 0", rc == 0,
                   "%.1f s" % (time.monotonic() - t0) if rc == 0 else
                   "rc=%s\n%s" % (rc, base.tail(text))):
        return None
    missing = [f for f in ("report.json", "report.csv", "report.html")
               if not os.path.isfile(os.path.join(out, f))]
    if not R.check("report.json, report.csv and report.html written", not missing,
                   "missing: %s" % ", ".join(missing) if missing else out):
        return None
    try:
        with open(os.path.join(out, "report.json")) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        R.check("report.json parses", False, str(e))
        return None
    runs = report.get("runs") if isinstance(report, dict) else None
    ok = isinstance(report, dict) and report.get("tessera_bench") == 1 and \
        isinstance(runs, list) and len(runs) > 0
    R.check("report.json is a tessera_bench 1 report with runs", ok,
            "%d runs" % len(runs) if ok else json.dumps(report)[:300])
    return report if ok else None


def check_page(html, png, node_modules, report):
    """bench_report_check.mjs on the page, one check per finding."""
    cmd = ["node", CHECK_MJS, html, png, node_modules, CHROMIUM]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=CHECK_TIMEOUT)
        rc, out, err = (p.returncode, p.stdout.decode("utf-8", "replace"),
                        p.stderr.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", (e.stdout or b"").decode("utf-8", "replace"), ""
    try:
        res = json.loads(out)
    except ValueError:
        R.check("bench_report_check.mjs prints its result", False,
                "rc=%s\n%s\n%s" % (rc, base.tail(out), base.tail(err)))
        return
    secs = time.monotonic() - t0
    R.check("the page opens in headless Chromium %s without an error" % res.get("browser"),
            rc == 0 and res.get("ok") is True and not res.get("errors"),
            "%.1f s, loaded in %s ms, %s plots, screenshot %s" % (
                secs, res.get("loadMs"), res.get("plots"), res.get("screenshot"))
            if rc == 0 and res.get("ok") else
            "rc=%s\n  %s" % (rc, "\n  ".join(res.get("errors") or [err.strip()])))
    kinds = res.get("plotKinds") or {}
    R.check("at least 3 plots drawn", (res.get("plots") or 0) >= 3, json.dumps(kinds))
    if report is not None:
        workloads = []
        for r in report.get("runs", []):
            w = r.get("workload") if isinstance(r, dict) else None
            if w not in workloads:
                workloads.append(w)
        R.check("one bitrate-quality plot per workload",
                kinds.get("bq-psnr") == len(workloads),
                "%s plots, %d workloads" % (kinds.get("bq-psnr"), len(workloads)))
        R.check("one summary row per run",
                res.get("summaryRows") == len(report.get("runs", [])),
                "%s rows, %d runs" % (res.get("summaryRows"), len(report.get("runs", []))))


def main(argv):
    global R
    html_only = len(argv) >= 2 and argv[1] == "--html"
    if html_only:
        if len(argv) not in (3, 4):
            print("usage: %s --html REPORT.html [WORKDIR]" % argv[0], file=sys.stderr)
            return 2
        binary, html = None, os.path.abspath(argv[2])
    else:
        binary = base.binary_from_argv(argv, ("WORKDIR",))
        if binary is None:
            return 2
    given_dir = argv[3 if html_only else 2] if len(argv) > (3 if html_only else 2) else None
    if given_dir:
        workdir = os.path.abspath(given_dir)
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
    else:
        workdir = tempfile.mkdtemp(prefix="tessera-e2e-bench-report-")

    R = base.Results()
    t0 = time.monotonic()
    try:
        tools = [t for t in ("node", "npm") if not shutil.which(t)]
        if not os.access(CHROMIUM, os.X_OK):
            tools.append(CHROMIUM)
        R.check("tools (node, npm, chromium)", not tools, "missing: %s" % ", ".join(tools)
                if tools else "")
        node_modules = node_modules_for(binary) if shutil.which("node") else None
        report = None
        if not html_only:
            out = os.path.join(workdir, "out")
            report = run_bench(binary, out)
            html = os.path.join(out, "report.html")
        if node_modules and os.path.isfile(html) and not tools:
            check_page(html, os.path.join(workdir, "report.png"), node_modules, report)
        elif os.path.isfile(html) or html_only:
            R.check("the page can be checked", False,
                    "no playwright-core or browser" if os.path.isfile(html) else "no " + html)
    except Exception as e:  # a bug in this script is a failure too
        base.script_error(R, e)
    finally:
        if given_dir:
            print("(work folder: %s)" % workdir)
        else:
            base.keep_if_failed(R, workdir)
    return base.tally(R, t0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
