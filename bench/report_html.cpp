// The bench report as one self-contained HTML page: a header, a summary table, the comparisons with
// the baselines, bitrate-quality curves per workload, per-stage latency histograms and per-frame
// timelines per run. Inline CSS and SVG only (bench/svg_chart.h); no script, no external resource.
#include "bench/report_html.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "bench/svg_chart.h"

namespace tessera::bench {

namespace {

using nlohmann::json;
using svg::escape;

// ---------------------------------------------------------------------------------------------
// Reading the report: every accessor tolerates a missing key, null, or a value of another type.

const json& at(const json& j, std::string_view key) {
    static const json null_value;
    if (j.is_object()) {
        auto it = j.find(key);
        if (it != j.end()) return *it;
    }
    return null_value;
}

std::optional<double> num(const json& j) {
    if (!j.is_number()) return std::nullopt;
    const double v = j.get<double>();
    if (!std::isfinite(v)) return std::nullopt;
    return v;
}

std::optional<double> num(const json& j, std::string_view key) { return num(at(j, key)); }

std::string str(const json& j, std::string_view key) {
    const json& v = at(j, key);
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number() || v.is_boolean()) return v.dump();
    return {};
}

bool flag(const json& j, std::string_view key) {
    const json& v = at(j, key);
    return v.is_boolean() && v.get<bool>();
}

const json& array(const json& j, std::string_view key) {
    static const json empty = json::array();
    const json& v = at(j, key);
    return v.is_array() ? v : empty;
}

// ---------------------------------------------------------------------------------------------
// Formatting

constexpr std::string_view kDash = "\u2014";

std::string fixed(std::optional<double> v, int decimals) {
    if (!v) return std::string(kDash);
    return fmt::format("{:.{}f}", *v, decimals);
}

std::string kbps_text(std::optional<double> v) {
    if (!v) return std::string(kDash);
    const double a = std::fabs(*v);
    return fixed(v, a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

std::string bytes_text(double v) {
    if (v >= 1e6) return fmt::format("{:.2f} MB", v / 1e6);
    if (v >= 1e3) return fmt::format("{:.1f} kB", v / 1e3);
    return fmt::format("{:.0f} B", v);
}

std::string or_dash(const std::string& s) { return s.empty() ? std::string(kDash) : escape(s); }

bool is_baseline(const std::string& kind) { return kind.rfind("baseline", 0) == 0; }

std::string kind_name(const std::string& kind) {
    if (kind == "baseline_x264") return "full-frame x264";
    if (kind == "baseline_lossless") return "all lossless";
    if (kind.empty()) return "run";
    return kind;
}

// PSNR of one region class: "exact" (null PSNR: identical), "38.2 dB", or a dash.
struct Psnr {
    bool present = false;  // the class was measured and has pixels
    bool exact = false;    // psnr_db null: identical
    double db = 0;
};

Psnr psnr_of(const json& q) {
    Psnr p;
    if (!q.is_object() || !q.contains("psnr_db")) return p;
    if (auto px = num(q, "pixels"); px && *px <= 0) return p;
    if (auto v = num(q, "psnr_db")) {
        p.present = true;
        p.db = *v;
    } else if (at(q, "psnr_db").is_null()) {
        p.present = true;
        p.exact = true;
    }
    return p;
}

std::string psnr_text(const Psnr& p) {
    if (!p.present) return std::string(kDash);
    if (p.exact) return "exact";
    return fmt::format("{:.1f} dB", p.db);
}

// A table cell for quality.<cls>: the mean PSNR, with the minimum and counts as its tooltip.
std::string psnr_cell(const json& q) {
    const Psnr p = psnr_of(q);
    std::string tip;
    if (p.present) {
        if (auto m = num(q, "min_psnr_db")) tip += fmt::format("min {:.1f} dB per frame; ", *m);
        if (auto n = num(q, "frames_not_exact")) tip += fmt::format("{:.0f} frames not exact; ", *n);
        if (auto px = num(q, "pixels")) tip += fmt::format("{:.0f} pixels", *px);
        if (p.exact && !flag(q, "exact")) tip += " (PSNR null but not flagged exact)";
    } else if (auto px = num(q, "pixels"); px && *px <= 0) {
        tip = "no pixels of this class";
    }
    return fmt::format("<td class=\"num{}\"{}>{}</td>", p.exact ? " exact" : "",
                       tip.empty() ? std::string() : fmt::format(" title=\"{}\"", escape(tip)), psnr_text(p));
}

std::string ssim_cell(const json& q) {
    auto s = num(q, "ssim");
    if (auto px = num(q, "pixels"); px && *px <= 0) s.reset();
    std::string tip;
    if (auto m = num(q, "min_ssim"); m && s) tip = fmt::format(" title=\"min {:.4f} per frame\"", *m);
    return fmt::format("<td class=\"num\"{}>{}</td>", tip, fixed(s, 3));
}

// Difference of two PSNRs as text and a CSS class (better/worse for the tessera run).
std::pair<std::string, std::string> psnr_delta(const Psnr& run, const Psnr& base) {
    if (!run.present || !base.present) return {std::string(kDash), ""};
    if (run.exact && base.exact) return {"both exact", ""};
    if (run.exact) return {"exact vs lossy", "better"};
    if (base.exact) return {"lossy vs exact", "worse"};
    const double d = run.db - base.db;
    return {fmt::format("{:+.1f} dB", d), d > 0.05 ? "better" : d < -0.05 ? "worse" : ""};
}

// ---------------------------------------------------------------------------------------------
// Runs

struct Run {
    const json* j = nullptr;
    size_t index = 0;
    std::string id, workload, kind, label, series;  // series: "codec preset" of a tessera run
    std::optional<double> kbps, bitrate;
};

std::vector<Run> read_runs(const json& report) {
    std::vector<Run> runs;
    for (const json& r : array(report, "runs")) {
        if (!r.is_object()) continue;
        Run run;
        run.j = &r;
        run.index = runs.size();
        run.id = str(r, "id");
        run.workload = str(r, "workload");
        run.kind = str(r, "kind");
        run.label = str(r, "label");
        if (run.label.empty()) run.label = run.id;
        const json& cfg = at(r, "config");
        std::string codec = str(cfg, "codec"), preset = str(cfg, "preset");
        run.series = codec.empty() && preset.empty() ? std::string("tessera")
                                                      : codec + (preset.empty() ? "" : " " + preset);
        run.kbps = num(at(r, "kbps"), "total");
        run.bitrate = num(cfg, "bitrate_kbps");
        runs.push_back(std::move(run));
    }
    return runs;
}

// A run's heading in the latency and timeline sections: its label, baseline kind and id (which
// names the workload).
std::string run_title(const Run& r) {
    return fmt::format("{}{} <span class=\"small\">{}</span>", or_dash(r.label),
                       is_baseline(r.kind) ? " <span class=\"badge base\">baseline: " + escape(kind_name(r.kind)) + "</span>"
                                           : std::string(),
                       r.id.empty() ? or_dash(r.workload) : escape(r.id));
}

std::vector<std::string> workloads_of(const std::vector<Run>& runs) {
    std::vector<std::string> out;
    for (const Run& r : runs)
        if (std::find(out.begin(), out.end(), r.workload) == out.end()) out.push_back(r.workload);
    return out;
}

constexpr std::string_view kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                         "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

struct BaselineStyle {
    char marker;
    std::string_view color;
};

BaselineStyle baseline_style(const std::string& kind) {
    if (kind == "baseline_x264") return {'s', "#444444"};
    if (kind == "baseline_lossless") return {'d', "#000000"};
    return {'t', "#777777"};
}

// ---------------------------------------------------------------------------------------------
// Page parts

constexpr std::string_view kCss = R"css(
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1320px; background: #fff; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #444; margin: 2px 0; }
pre.cmd { background: #f4f4f6; padding: 6px 10px; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; }
.howto { background: #f7f9fc; border-left: 3px solid #1f77b4; padding: 8px 12px; max-width: 1000px; }
nav a { margin-right: 14px; }
.warn { color: #a40000; font-weight: 600; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { border: 1px solid #d8d8dc; padding: 3px 7px; vertical-align: top; }
td:first-child { max-width: 14em; overflow-wrap: anywhere; }
th { background: #eef0f4; text-align: left; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.exact { color: #1a7f37; font-weight: 600; }
tr.baseline td { background: #f6f1e7; font-style: italic; }
tr.baseline-lossless td { background: #eef3ea; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; font-style: normal;
         background: #dfe9f7; color: #0b3d91; white-space: nowrap; }
.badge.base, tr.baseline .badge { background: #f0dfbf; color: #6b4500; }
tr.baseline-lossless .badge { background: #d7ead0; color: #245b12; }
.better { color: #1a7f37; font-weight: 600; }
.worse { color: #b42318; font-weight: 600; }
.ratio { font-weight: 600; }
.small { color: #555; font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 10px 18px; align-items: flex-start; }
details { margin: 6px 0; border: 1px solid #e2e2e6; border-radius: 4px; padding: 4px 10px; }
summary { cursor: pointer; font-weight: 600; }
p.note { color: #666; font-style: italic; }
svg.plot { background: #fff; overflow: visible; }
svg.plot text { font: 11px system-ui, sans-serif; fill: #333; }
svg.plot text.ttl { font-size: 12px; font-weight: 600; fill: #111; }
svg.plot text.axlabel { fill: #444; }
svg.plot text.note { fill: #888; font-style: italic; }
svg.plot text.onband { fill: #fff; font-weight: 600; }
svg.plot .grid { stroke: #ececef; }
svg.plot .axis { stroke: #555; fill: none; }
svg.plot .hover { fill: #000; fill-opacity: 0; }
svg.plot .hover:hover { fill-opacity: 0.06; }
.key span { display: inline-block; margin-right: 14px; }
.key i { display: inline-block; width: 14px; height: 0; border-top: 2px dashed; vertical-align: middle; margin-right: 4px; }
)css";

void header(std::string& out, const json& report) {
    const json& host = at(report, "host");
    const json& settings = at(report, "settings");
    out += "<h1>Tessera bench report</h1>\n";
    if (auto v = num(report, "tessera_bench"); !v || *v != 1)
        out += "<p class=\"warn\">This page expects a report with \"tessera_bench\": 1; fields it does not "
               "know are left out.</p>\n";
    out += fmt::format("<p class=\"meta\">Generated <b>{}</b> by Tessera {}</p>\n", or_dash(str(report, "generated")),
                       or_dash(str(report, "tessera_version")));
    std::string cores = str(host, "cores");
    out += fmt::format("<p class=\"meta\">Host: {}{}</p>\n", or_dash(str(host, "cpu")),
                       cores.empty() ? std::string() : fmt::format(", {} cores", escape(cores)));
    out += fmt::format("<p class=\"meta\">Settings: {} frames at {} fps, {}</p>\n", or_dash(str(settings, "frames")),
                       or_dash(str(settings, "fps")), or_dash(str(settings, "size")));
    if (std::string cmd = str(settings, "command"); !cmd.empty())
        out += fmt::format("<pre class=\"cmd\"><code>{}</code></pre>\n", escape(cmd));
    out += R"(<p class="howto"><b>How to read this.</b> Each <i>run</i> sends one workload (a synthetic desktop
or a recorded trace) through Tessera's real pipeline with one codec configuration. Tessera splits every frame
into <i>static</i> regions (sent losslessly) and <i>motion</i> regions (sent as video streams); the
<i>baselines</i> encode the same frames as one full-frame x264 stream at the same bit rate, or everything
losslessly. Lower kb/s is better; higher PSNR (dB) and SSIM (1.0 = identical) are better; <i>exact</i> means
every pixel of that class arrived unchanged. In the curves, each line is one codec and preset swept over bit
rates; grey squares and black diamonds are the baselines; points at the dashed "exact" line had no loss at all.
Latency histograms show the time per frame of each pipeline stage with p50, p95 and p99 marked; timelines
show, frame by frame, how much of the picture changed and how many bytes each class took. Hover over points,
bars and columns for their values.</p>
<nav><a href="#summary">Summary</a><a href="#comparisons">Comparisons</a><a href="#curves">Bitrate and
quality</a><a href="#latency">Latency</a><a href="#timelines">Timelines</a></nav>
)";
}

void summary_table(std::string& out, const std::vector<Run>& runs) {
    out += "<h2>Summary</h2>\n";
    if (runs.empty()) {
        out += "<p class=\"note\">The report has no runs.</p>\n<table id=\"summary\"></table>\n";
        return;
    }
    out += R"(<table id="summary"><thead><tr><th>Workload</th><th>Kind</th><th>Configuration</th>
<th>Total kb/s</th><th>Static kb/s</th><th>Motion kb/s</th><th>Static PSNR</th><th>Motion PSNR</th>
<th>SSIM static</th><th>SSIM motion</th><th>SSIM all</th><th>Encode fps</th><th>Encoder CPU s</th>
<th>Total p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr></thead><tbody>
)";
    for (const Run& r : runs) {
        const json& j = *r.j;
        const json& kbps = at(j, "kbps");
        const json& q = at(j, "quality");
        const json& enc = at(j, "encoder");
        const json& total = at(at(j, "stages"), "total");
        std::string cls;
        if (is_baseline(r.kind)) cls = " class=\"baseline" + std::string(r.kind == "baseline_lossless" ? " baseline-lossless" : "") + "\"";
        out += fmt::format("<tr{}><td>{}</td><td><span class=\"badge\">{}</span></td><td title=\"{}\">{}</td>", cls,
                           or_dash(r.workload),
                           escape(is_baseline(r.kind) ? "baseline: " + kind_name(r.kind) : kind_name(r.kind)),
                           escape(r.id), or_dash(r.label));
        for (const char* k : {"total", "static", "motion"})
            out += fmt::format("<td class=\"num\">{}</td>", kbps_text(num(kbps, k)));
        out += psnr_cell(at(q, "static"));
        out += psnr_cell(at(q, "motion"));
        for (const char* k : {"static", "motion", "all"}) out += ssim_cell(at(q, k));
        out += fmt::format("<td class=\"num\">{}</td><td class=\"num\">{}</td>", fixed(num(enc, "fps"), 1),
                           fixed(num(enc, "cpu_s"), 2));
        for (const char* k : {"p50_ms", "p95_ms", "p99_ms"})
            out += fmt::format("<td class=\"num\">{}</td>", fixed(num(total, k), 2));
        out += "</tr>\n";
    }
    out += "</tbody></table>\n<p class=\"small\">Hover over a configuration for its run id, and over a PSNR "
           "for its per-frame minimum. Shaded rows are baselines.</p>\n";
}

void comparisons_table(std::string& out, const json& report, const std::vector<Run>& runs) {
    out += "<h2>Comparisons with the baselines</h2>\n";
    const json& comps = array(report, "comparisons");
    if (comps.empty()) {
        out += "<p class=\"note\">No comparisons in this report.</p>\n<table id=\"comparisons\"></table>\n";
        return;
    }
    auto find = [&](const std::string& id) -> const Run* {
        for (const Run& r : runs)
            if (r.id == id) return &r;
        return nullptr;
    };
    out += R"(<table id="comparisons"><thead><tr><th>Workload</th><th>Tessera run</th><th>Baseline</th>
<th>Bytes</th><th>Static PSNR</th><th>&Delta;</th><th>Motion PSNR</th><th>&Delta;</th><th>Static SSIM</th>
<th>&Delta;</th><th>Motion SSIM</th><th>&Delta;</th></tr></thead><tbody>
)";
    for (const json& c : comps) {
        const std::string run_id = str(c, "run"), base_id = str(c, "baseline");
        const Run* run = find(run_id);
        const Run* base = find(base_id);
        std::string bkind = str(c, "baseline_kind");
        if (bkind.empty() && base) bkind = base->kind;
        out += fmt::format("<tr><td>{}</td><td title=\"{}\">{}</td><td title=\"{}\">{}</td>",
                           or_dash(str(c, "workload")), escape(run_id), or_dash(run ? run->label : run_id),
                           escape(base_id), escape(kind_name(bkind)));
        if (auto ratio = num(c, "bytes_ratio")) {
            std::string detail;
            if (run && base && run->kbps && base->kbps)
                detail = fmt::format("<br><span class=\"small\">{} vs {} kb/s</span>", kbps_text(run->kbps),
                                     kbps_text(base->kbps));
            out += fmt::format("<td><span class=\"ratio {}\">{:.2f}&times;</span> the bytes of {}{}</td>",
                               *ratio < 1 ? "better" : *ratio > 1 ? "worse" : "", *ratio, escape(kind_name(bkind)),
                               detail);
        } else {
            out += fmt::format("<td>{}</td>", kDash);
        }
        // PSNR values: null is exact (identical) when the key is there.
        auto psnr_field = [&](std::string_view key) {
            Psnr p;
            if (!c.is_object() || !c.contains(key)) return p;
            p.present = true;
            if (auto v = num(c, key)) p.db = *v;
            else p.exact = true;
            return p;
        };
        for (std::string_view cls : {"static", "motion"}) {
            const Psnr a = psnr_field(fmt::format("{}_psnr_db", cls));
            const Psnr b = psnr_field(fmt::format("baseline_{}_psnr_db", cls));
            const auto [delta, dcls] = psnr_delta(a, b);
            out += fmt::format("<td class=\"num\">{} vs {}</td><td class=\"num {}\">{}</td>", psnr_text(a),
                               psnr_text(b), dcls, delta);
        }
        for (std::string_view cls : {"static", "motion"}) {
            const auto s = num(c, fmt::format("{}_ssim", cls)), bs = num(c, fmt::format("baseline_{}_ssim", cls));
            std::string d(kDash), dcls;
            if (s && bs) {
                d = fmt::format("{:+.3f}", *s - *bs);
                dcls = *s - *bs > 5e-4 ? "better" : *s - *bs < -5e-4 ? "worse" : "";
            }
            out += fmt::format("<td class=\"num\">{} vs {}</td><td class=\"num {}\">{}</td>", fixed(s, 3),
                               fixed(bs, 3), dcls, d);
        }
        out += "</tr>\n";
    }
    out += "</tbody></table>\n<p class=\"small\">A ratio below 1 means Tessera sent fewer bytes than the "
           "baseline; &Delta; is Tessera minus the baseline (positive is better).</p>\n";
}

// One bitrate-quality chart for the runs of one workload: PSNR (dB, exact on a line above the
// finite values) or SSIM against total kb/s.
std::string quality_chart(const std::string& id, const std::string& workload, const std::vector<const Run*>& runs,
                          const std::string& cls, bool ssim) {
    struct Point {
        const Run* run;
        double x, y;
        bool exact;
    };
    std::vector<Point> pts;
    std::vector<double> finite_y;
    for (const Run* r : runs) {
        if (!r->kbps || *r->kbps <= 0) continue;
        const json& q = at(at(*r->j, "quality"), cls);
        if (ssim) {
            auto px = num(q, "pixels");
            auto s = num(q, "ssim");
            if (!s || (px && *px <= 0)) continue;
            pts.push_back({r, *r->kbps, *s, false});
            finite_y.push_back(*s);
        } else {
            const Psnr p = psnr_of(q);
            if (!p.present) continue;
            pts.push_back({r, *r->kbps, p.db, p.exact});
            if (!p.exact) finite_y.push_back(p.db);
        }
    }
    const std::string what = cls == "motion" ? "motion regions" : "all pixels";
    svg::Chart chart(id, 620, 330,
                     fmt::format("{}: {} of {} vs bit rate", workload.empty() ? std::string("(no workload)") : workload,
                                 ssim ? "SSIM" : "PSNR", what));
    chart.margins(58, 190, 28, 42);
    if (pts.empty()) {
        chart.x_axis(0, 1, false, "total kb/s");
        chart.y_axis(0, 1, false, ssim ? "SSIM" : "PSNR (dB)");
        chart.axes();
        chart.note("no run with a bit rate and this measure");
        return chart.str();
    }
    double xmin = pts[0].x, xmax = pts[0].x;
    for (const Point& p : pts) xmin = std::min(xmin, p.x), xmax = std::max(xmax, p.x);
    const bool logx = xmax / xmin > 10;
    if (logx) {
        auto [lo, hi] = svg::nice_log_range(xmin / 1.05, xmax * 1.05);
        chart.x_axis(lo, hi, true, "total kb/s");
    }
    else {
        const double pad = std::max((xmax - xmin) * 0.08, xmax * 0.05);
        auto [lo, hi] = svg::nice_range(std::max(0.0, xmin - pad), xmax + pad);
        chart.x_axis(lo, hi, false, "total kb/s");
    }
    double ylo, yhi, exact_y = 0;
    const bool any_exact = std::any_of(pts.begin(), pts.end(), [](const Point& p) { return p.exact; });
    if (finite_y.empty()) {
        ylo = ssim ? 0.9 : 30, yhi = ssim ? 1.0 : 50;
    } else {
        const auto [mn, mx] = std::minmax_element(finite_y.begin(), finite_y.end());
        if (ssim) std::tie(ylo, yhi) = svg::nice_range(std::max(0.0, *mn - 0.01), std::min(1.0, *mx + 0.005));
        else std::tie(ylo, yhi) = svg::nice_range(*mn - 1, *mx + 1);
        if (ssim) yhi = std::min(yhi, 1.0), ylo = std::min(ylo, yhi - 0.01);
    }
    double top = yhi + (yhi - ylo) * 0.04;  // room for the markers at the top
    if (any_exact) {
        exact_y = yhi + (yhi - ylo) * 0.12;
        top = yhi + (yhi - ylo) * 0.2;
    }
    chart.y_axis(ylo, top, false, ssim ? "SSIM" : "PSNR (dB)");
    chart.axes(6, 5, yhi);
    if (any_exact) chart.y_marker_line(exact_y, "exact", "#1a7f37");

    // Tessera series: one per (codec, preset), sorted by bit rate.
    std::vector<std::string> series;
    for (const Point& p : pts)
        if (!is_baseline(p.run->kind) && std::find(series.begin(), series.end(), p.run->series) == series.end())
            series.push_back(p.run->series);
    std::vector<svg::LegendEntry> legend;
    auto tooltip = [&](const Point& p) {
        return fmt::format("{}\n{}\n{} kb/s, {}", p.run->label, p.run->id, kbps_text(p.x),
                           ssim ? fmt::format("SSIM {:.4f}", p.y)
                                : p.exact ? std::string("exact (identical)") : fmt::format("PSNR {:.2f} dB", p.y));
    };
    // Baselines first: a tessera point on the same spot (an exact run at the lossless rate) stays
    // visible inside the larger baseline marker.
    std::vector<svg::LegendEntry> base_legend;
    std::vector<std::string> base_kinds;
    for (const Point& p : pts) {
        if (!is_baseline(p.run->kind)) continue;
        const BaselineStyle st = baseline_style(p.run->kind);
        chart.marker(p.x, p.exact ? exact_y : p.y, st.marker, st.color, tooltip(p), 5.5);
        if (std::find(base_kinds.begin(), base_kinds.end(), p.run->kind) == base_kinds.end()) {
            base_kinds.push_back(p.run->kind);
            base_legend.push_back({"baseline: " + kind_name(p.run->kind), std::string(st.color), st.marker, false});
        }
    }
    for (size_t s = 0; s < series.size(); ++s) {
        const std::string_view color = kPalette[s % std::size(kPalette)];
        std::vector<const Point*> sp;
        for (const Point& p : pts)
            if (!is_baseline(p.run->kind) && p.run->series == series[s]) sp.push_back(&p);
        std::stable_sort(sp.begin(), sp.end(), [](const Point* a, const Point* b) {
            return a->run->bitrate.value_or(a->x) < b->run->bitrate.value_or(b->x);
        });
        std::vector<std::pair<double, double>> line;
        for (const Point* p : sp) line.emplace_back(p->x, p->exact ? exact_y : p->y);
        chart.polyline(line, color);
        for (const Point* p : sp) chart.marker(p->x, p->exact ? exact_y : p->y, 'o', color, tooltip(*p));
        legend.push_back({series[s], std::string(color), 'o', true});
    }
    legend.insert(legend.end(), base_legend.begin(), base_legend.end());
    chart.legend(legend);
    return chart.str();
}

void curves(std::string& out, const std::vector<Run>& runs) {
    out += "<h2 id=\"curves\">Bitrate and quality</h2>\n";
    const auto workloads = workloads_of(runs);
    if (workloads.empty()) out += "<p class=\"note\">No runs.</p>\n";
    for (size_t w = 0; w < workloads.size(); ++w) {
        std::vector<const Run*> wr;
        for (const Run& r : runs)
            if (r.workload == workloads[w]) wr.push_back(&r);
        // Motion PSNR where the workload has motion regions, else the whole picture.
        std::string cls = "all";
        for (const Run* r : wr) {
            const json& m = at(at(*r->j, "quality"), "motion");
            auto px = num(m, "pixels");
            if (m.is_object() && (!px || *px > 0) && (psnr_of(m).present || num(m, "ssim"))) cls = "motion";
        }
        out += fmt::format("<section class=\"workload\" id=\"wl-{}\"><h3>Workload {}</h3>\n", w,
                           or_dash(workloads[w]));
        if (cls == "all")
            out += "<p class=\"small\">No run of this workload has motion regions; the curves show the whole "
                   "picture.</p>\n";
        out += "<div class=\"charts\">\n";
        out += quality_chart(fmt::format("bq-psnr-{}", w), workloads[w], wr, cls, false);
        out += quality_chart(fmt::format("bq-ssim-{}", w), workloads[w], wr, cls, true);
        out += "</div></section>\n";
    }
}

constexpr std::string_view kStageOrder[] = {"capture", "diff",   "scroll",  "classify",
                                            "convert", "encode", "marshal", "total"};

std::string stage_chart(const std::string& id, const std::string& stage, const json& st) {
    std::string title = stage;
    if (auto m = num(st, "mean_ms")) title += fmt::format(": mean {:.2f} ms", *m);
    if (auto m = num(st, "max_ms")) title += fmt::format(", max {:.2f}", *m);
    svg::Chart chart(id, 300, 170, title);
    chart.margins(44, 12, 26, 34);
    const json& hist = at(st, "histogram");
    const json& edges = array(hist, "edges_ms");
    const json& counts = array(hist, "counts");
    std::vector<double> e, c;
    bool ok = edges.size() >= 2 && counts.size() + 1 == edges.size();
    for (size_t i = 0; ok && i < edges.size(); ++i) {
        auto v = num(edges[i]);
        ok = v && (e.empty() || *v >= e.back());
        if (ok) e.push_back(*v);
    }
    for (size_t i = 0; ok && i < counts.size(); ++i) {
        auto v = num(counts[i]);
        ok = v.has_value();
        if (ok) c.push_back(std::max(0.0, *v));
    }
    if (!ok) {
        chart.x_axis(0, 1, false, "ms");
        chart.y_axis(0, 1, false, "frames");
        chart.axes(4, 3);
        std::string pct;
        for (const char* k : {"p50_ms", "p95_ms", "p99_ms"})
            if (auto v = num(st, k)) pct += fmt::format("{} {:.2f} ", std::string_view(k).substr(0, 3), *v);
        chart.note(pct.empty() ? "no histogram" : "no histogram; " + pct);
        return chart.str();
    }
    const double cmax = *std::max_element(c.begin(), c.end());
    chart.x_axis(e.front(), e.back() > e.front() ? e.back() : e.front() + 1, false, "ms per frame");
    chart.y_axis(0, svg::nice_range(0, std::max(cmax, 1.0), true).second, false, "frames");
    chart.axes(5, 3);
    for (size_t i = 0; i < c.size(); ++i)
        if (c[i] > 0)
            chart.bar(e[i], e[i + 1], 0, c[i], "#7aa6d6",
                      fmt::format("{:.3f}\u2013{:.3f} ms: {:.0f} frames", e[i], e[i + 1], c[i]));
    double dy = 12;
    for (auto [key, color] : {std::pair{"p50_ms", "#1a7f37"}, {"p95_ms", "#d97706"}, {"p99_ms", "#b42318"}}) {
        if (auto v = num(st, key)) {
            const std::string name(std::string_view(key).substr(0, 3));
            chart.vline(*v, color, name, fmt::format("{} {:.3f} ms", name, *v), dy);
            dy += 11;
        }
    }
    return chart.str();
}

void latency(std::string& out, const std::vector<Run>& runs) {
    out += "<h2 id=\"latency\">Latency per stage</h2>\n<p class=\"key small\">Time per frame of each pipeline "
           "stage; dashed lines: <span><i style=\"border-color:#1a7f37\"></i>p50</span><span><i "
           "style=\"border-color:#d97706\"></i>p95</span><span><i style=\"border-color:#b42318\"></i>p99</span></p>\n";
    if (runs.empty()) out += "<p class=\"note\">No runs.</p>\n";
    for (const Run& r : runs) {
        const json& stages = at(*r.j, "stages");
        std::vector<std::string> names;
        for (std::string_view s : kStageOrder)
            if (stages.is_object() && stages.contains(s)) names.emplace_back(s);
        if (stages.is_object())
            for (const auto& item : stages.items())
                if (std::find(names.begin(), names.end(), item.key()) == names.end()) names.push_back(item.key());
        out += fmt::format("<details{}><summary>{}</summary>\n", r.index < 2 ? " open" : "", run_title(r));
        if (names.empty()) {
            out += "<p class=\"note\">No stage timings in this run.</p></details>\n";
            continue;
        }
        out += "<div class=\"charts\">\n";
        for (size_t s = 0; s < names.size(); ++s)
            out += stage_chart(fmt::format("lat-{}-{}", r.index, s), names[s], at(stages, names[s]));
        out += "</div></details>\n";
    }
}

void timeline(std::string& out, const Run& r) {
    const json& tl = array(*r.j, "timeline");
    out += fmt::format("<details{}><summary>{}</summary>\n", r.index == 0 ? " open" : "", run_title(r));
    if (tl.empty()) {
        out += "<p class=\"note\">No per-frame timeline in this run.</p></details>\n";
        return;
    }
    const size_t n = tl.size();
    std::vector<double> xs(n + 1), zero(n, 0), motion(n), both(n), bs(n), bsm(n), bsmv(n), streams(n);
    double area = num(*r.j, "width").value_or(0) * num(*r.j, "height").value_or(0);
    double max_px = 0, max_bytes = 0, max_streams = 0;
    for (size_t i = 0; i < n; ++i) {
        const json& f = tl[i];
        xs[i] = static_cast<double>(i);
        motion[i] = std::max(0.0, num(f, "motion_px").value_or(0));
        both[i] = motion[i] + std::max(0.0, num(f, "static_px").value_or(0));
        bs[i] = std::max(0.0, num(f, "bytes_static").value_or(0));
        bsm[i] = bs[i] + std::max(0.0, num(f, "bytes_motion").value_or(0));
        bsmv[i] = bsm[i] + std::max(0.0, num(f, "bytes_moves").value_or(0));
        streams[i] = std::max(0.0, num(f, "streams").value_or(0));
        max_px = std::max(max_px, both[i]);
        max_bytes = std::max(max_bytes, bsmv[i]);
        max_streams = std::max(max_streams, streams[i]);
    }
    xs[n] = static_cast<double>(n);
    if (area <= 0) area = std::max(max_px, 1.0);
    for (size_t i = 0; i < n; ++i) motion[i] *= 100 / area, both[i] *= 100 / area;
    const double xhi = std::max(static_cast<double>(n), 5.0);
    const bool hover = n <= 1000;  // per-frame tooltips (bytes chart) on shorter runs
    auto frame_tip = [&](size_t i) {
        const json& f = tl[i];
        std::string tip = fmt::format("frame {}: static {:.1f}% motion {:.1f}% of the picture; bytes: static {}, "
                                      "motion {}, moves {}",
                                      num(f, "frame").value_or(static_cast<double>(i)), both[i] - motion[i], motion[i],
                                      bytes_text(bs[i]), bytes_text(bsm[i] - bs[i]), bytes_text(bsmv[i] - bsm[i]));
        if (auto m = num(f, "moves"); m && *m > 0) tip += fmt::format("; {:.0f} moves", *m);
        if (streams[i] > 0) tip += fmt::format("; {:.0f} video streams", streams[i]);
        if (auto p = num(f, "psnr_motion_db")) tip += fmt::format("; motion PSNR {:.1f} dB", *p);
        return tip;
    };

    out += "<div class=\"charts\">\n";
    svg::Chart px(fmt::format("tl-px-{}", r.index), 1080, 210, "Changed pixels per frame (share of the picture)");
    px.margins(58, 170, 28, 36);
    px.x_axis(0, xhi, false, "frame");
    const double ytop = max_streams > 0 ? 118 : 100;
    px.y_axis(0, ytop, false, "% of picture");
    px.axes(10, 4, 100);
    px.step_area(xs, zero, motion, "#e4572e", "motion regions");
    px.step_area(xs, motion, both, "#4c8bd6", "static regions");
    std::vector<svg::LegendEntry> legend{{"static (lossless)", "#4c8bd6", '#', false},
                                         {"motion (video)", "#e4572e", '#', false}};
    if (max_streams > 0) {
        // One band per run of frames with the same number of video streams, above 100 %.
        for (size_t i = 0; i < n;) {
            size_t k = i;
            while (k < n && streams[k] == streams[i]) ++k;
            if (streams[i] > 0) {
                px.step_area({xs[i], xs[k]}, {103}, {113}, "#7b3fa0",
                             fmt::format("frames {}\u2013{}: {:.0f} video stream{}", i, k - 1, streams[i],
                                         streams[i] == 1 ? "" : "s"));
                px.marker(xs[i], 108, 't', "#7b3fa0", fmt::format("{:.0f} streams from frame {}", streams[i], i), 3.5);
                if (static_cast<double>(k - i) >= xhi / 25)
                    px.text(xs[i] + xhi / 80, 105, fmt::format("{:.0f}", streams[i]), "onband");
            }
            i = k;
        }
        px.text(0, 106, "streams", "tick", "end");
        legend.push_back({"video streams", "#7b3fa0", 't', false});
    }
    px.legend(legend);
    out += px.str();

    svg::Chart by(fmt::format("tl-bytes-{}", r.index), 1080, 210, "Bytes per frame by class");
    by.margins(58, 170, 28, 36);
    by.x_axis(0, xhi, false, "frame");
    by.y_axis(0, svg::nice_range(0, std::max(max_bytes, 1.0), true).second, false, "bytes");
    by.axes(10, 4);
    by.step_area(xs, zero, bs, "#4c8bd6", "static bytes");
    by.step_area(xs, bs, bsm, "#e4572e", "motion bytes");
    by.step_area(xs, bsm, bsmv, "#2ca02c", "move bytes");
    if (hover)
        for (size_t i = 0; i < n; ++i) by.hover_column(xs[i], xs[i + 1], frame_tip(i));
    by.legend({{"static", "#4c8bd6", '#', false}, {"motion", "#e4572e", '#', false}, {"moves", "#2ca02c", '#', false}});
    out += by.str();
    out += "</div></details>\n";
}

}  // namespace

std::string render_html_report(const json& report) {
    const std::vector<Run> runs = read_runs(report);
    std::string out;
    out.reserve(64 * 1024);
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"tessera-report\" content=\"1\">\n";
    std::string title = "Tessera bench report";
    if (std::string g = str(report, "generated"); !g.empty()) title += " " + g;
    out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head><body>\n", escape(title), kCss);
    header(out, report);
    summary_table(out, runs);
    comparisons_table(out, report, runs);
    curves(out, runs);
    latency(out, runs);
    out += "<h2 id=\"timelines\">Timelines</h2>\n";
    if (runs.empty()) out += "<p class=\"note\">No runs.</p>\n";
    for (const Run& r : runs) timeline(out, r);
    out += "</body></html>\n";
    return out;
}

}  // namespace tessera::bench
