// The bench's HTML report (bench/report_html.cpp) from sample reports built here: well-formed enough
// for a browser, self-contained, escaped, NaN-free, one bitrate-quality plot per workload; odd and
// empty reports render too. Set TESSERA_BENCH_REPORT_SAMPLE_DIR=DIR to write the sample as
// DIR/report.json and DIR/report.html (for a look, or for tests/e2e/bench_report_test.py --html).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/report_html.h"
#include "bench/svg_chart.h"

namespace {

using nlohmann::json;
using tessera::bench::render_html_report;

const std::string kOddWorkload = "video:/tmp/<x>&\"y\".mp4";

json stage(double base) {
    json edges = json::array(), counts = json::array();
    for (int i = 0; i <= 12; ++i) edges.push_back(base * 0.5 + i * base * 0.25);
    for (int i = 0; i < 12; ++i) counts.push_back(i < 6 ? i * 3 + 1 : std::max(0, 40 - i * 4));
    return {{"mean_ms", base * 1.6}, {"p50_ms", base * 1.5}, {"p95_ms", base * 2.6}, {"p99_ms", base * 3.1},
            {"max_ms", base * 3.4}, {"histogram", {{"edges_ms", edges}, {"counts", counts}}}};
}

json quality(json psnr, json min_psnr, double ssim, bool exact, double pixels) {
    return {{"psnr_db", psnr}, {"min_psnr_db", min_psnr}, {"ssim", ssim}, {"min_ssim", ssim - 0.02},
            {"exact", exact}, {"frames_not_exact", exact ? 0 : 60}, {"pixels", pixels}};
}

json timeline(int frames, int phase) {
    json tl = json::array();
    for (int f = 0; f < frames; ++f) {
        const bool video = f >= 20 + phase && f < 70;
        const double motion = video ? 180000.0 : 0.0;
        const double stat = f == 0 ? 1024000.0 - motion : (f % 7 == 0 ? 40000.0 : 0.0);
        tl.push_back({{"frame", f}, {"static_px", stat}, {"motion_px", motion}, {"moves", f % 11 == 0 ? 1 : 0},
                      {"bytes_static", stat * 0.05}, {"bytes_motion", video ? 4000.0 + 300.0 * (f % 5) : 0.0},
                      {"bytes_moves", f % 11 == 0 ? 24 : 0}, {"psnr_motion_db", video ? json(36.5) : json(nullptr)},
                      {"streams", video ? (f < 45 ? 1 : 2) : 0}});
    }
    return tl;
}

json run(const std::string& workload, const std::string& kind, const std::string& codec, const std::string& preset,
         double kbps, double motion_psnr, int index) {
    const bool lossless = kind == "baseline_lossless";
    const bool x264 = kind == "baseline_x264";
    const std::string id = workload + "/" + kind + "/" + codec + "-" + preset + "-" + std::to_string(int(kbps)) + "k";
    json r = {{"id", id},
              {"workload", workload},
              {"kind", kind},
              {"label", lossless ? std::string("all lossless")
                                 : codec + " " + preset + " " + std::to_string(int(kbps)) + " kb/s, tile 32"},
              {"config",
               {{"codec", codec}, {"backend", "ffmpeg"}, {"encoder", "ffmpeg:lib" + codec}, {"preset", preset},
                {"bitrate_kbps", kbps}, {"tile_size", 32}, {"enter_changes", 4}, {"enter_window", 6},
                {"lossless_after_ms", 300}, {"min_motion_tiles", 12}}},
              {"frames", 90}, {"fps", 30}, {"width", 1280}, {"height", 800}, {"seconds", 3.0},
              {"stages",
               {{"capture", stage(0.3)}, {"diff", stage(0.8)}, {"classify", stage(0.1)}, {"convert", stage(0.6)},
                {"encode", stage(2.0 + kbps / 4000)}, {"marshal", stage(0.2)}, {"total", stage(4.0)}}},
              {"bytes", {{"static", 400000}, {"motion", kbps * 300}, {"moves", 70}, {"control", 800},
                         {"total", 400870 + kbps * 300}}},
              {"kbps", {{"static", 1066.7}, {"motion", kbps * 0.8}, {"moves", 0.2}, {"control", 2.1},
                        {"total", lossless ? kbps : kbps * 0.8 + 1069}}},
              {"quality",
               {{"static", x264 ? quality(31.2 + index, 29.0, 0.95, false, 900000)
                                : quality(nullptr, nullptr, 1.0, true, 900000)},
                {"motion", lossless ? quality(nullptr, nullptr, 1.0, true, 99999)
                                    : quality(motion_psnr, motion_psnr - 5, 0.9 + motion_psnr / 1000, false, 99999)},
                {"all", quality(44.0, 38.0, 0.99, false, 1024000)}}},
              {"encoder", {{"frames", 60}, {"fps", 310.5 - index}, {"cpu_s", 0.4}, {"wall_s", 0.19}, {"keyframes", 1}}},
              {"digest", "9f2c0123abcd"},
              {"timeline", timeline(90, index % 3)}};
    return r;
}

json sample_report() {
    json runs = json::array(), comps = json::array();
    int index = 0;
    for (const std::string& workload : {std::string("office"), kOddWorkload}) {
        std::string last;
        for (const std::string preset : {"ultrafast", "veryfast"}) {
            for (double kbps : {2000.0, 4000.0, 8000.0}) {
                runs.push_back(run(workload, "tessera", "h264", preset, kbps,
                                   33.0 + kbps / 1000 + (preset == "veryfast" ? 1.2 : 0), index++));
                last = runs.back()["id"];
            }
        }
        runs.push_back(run(workload, "baseline_x264", "h264", "ultrafast", 8000, 36.1, index++));
        const std::string x264 = runs.back()["id"];
        runs.push_back(run(workload, "baseline_lossless", "lossless", "none", 95000, 0, index++));
        const std::string lossless = runs.back()["id"];
        comps.push_back({{"workload", workload}, {"run", last}, {"baseline", x264}, {"baseline_kind", "baseline_x264"},
                         {"bytes_ratio", 0.12}, {"static_psnr_db", nullptr}, {"baseline_static_psnr_db", 31.2},
                         {"motion_psnr_db", 38.0}, {"baseline_motion_psnr_db", 36.1}, {"static_ssim", 1.0},
                         {"baseline_static_ssim", 0.95}});
        comps.push_back({{"workload", workload}, {"run", last}, {"baseline", lossless},
                         {"baseline_kind", "baseline_lossless"}, {"bytes_ratio", 0.093}, {"static_psnr_db", nullptr},
                         {"baseline_static_psnr_db", nullptr}, {"motion_psnr_db", 38.0},
                         {"baseline_motion_psnr_db", nullptr}, {"static_ssim", 1.0}, {"baseline_static_ssim", 1.0}});
    }
    // An empty timeline, a run without stage timings, a stage without a histogram, a NaN and an
    // infinity where numbers go (nlohmann keeps them as doubles), a null where an object goes.
    runs[1]["timeline"] = json::array();
    runs[2].erase("stages");
    runs[3]["stages"]["scroll"] = {{"mean_ms", 0.05}, {"p50_ms", 0.04}};
    runs[4]["kbps"]["motion"] = std::numeric_limits<double>::quiet_NaN();
    runs[4]["encoder"]["fps"] = std::numeric_limits<double>::infinity();
    runs[5]["quality"] = nullptr;
    return {{"tessera_bench", 1},
            {"generated", "2026-11-23T10:00:00Z"},
            {"tessera_version", "0.1.0"},
            {"host", {{"cpu", "Test CPU <model> & co"}, {"cores", 2}}},
            {"settings", {{"frames", 90}, {"fps", 30}, {"size", "1280x800"},
                          {"command", "tessera bench --workloads office,'" + kOddWorkload + "'"}}},
            {"runs", runs},
            {"comparisons", comps}};
}

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
    return n;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

// Every <tag ...> has its </tag>, in order (no crossing), for the container tags the page uses; and
// no <svg> inside another.
void expect_balanced(const std::string& html) {
    static const std::regex tag_re(R"(<(/?)(svg|table|thead|tbody|tr|td|th|details|summary|section|div|p|g|text|title|pre|code|style|head|body|html)[\s>/])");
    std::vector<std::string> stack;
    int svg_depth = 0, max_svg_depth = 0;
    for (auto it = std::sregex_iterator(html.begin(), html.end(), tag_re); it != std::sregex_iterator(); ++it) {
        const std::string name = (*it)[2];
        const bool closing = (*it)[1].length() > 0;
        // <p> inside a <style> block or self-closing tags are not in the page; a self-closing <g/> or
        // <text/> is not produced either, so each open tag needs its close.
        if (!closing) {
            const size_t end = html.find('>', size_t(it->position()));
            ASSERT_NE(end, std::string::npos);
            if (html[end - 1] == '/') continue;  // <title/> etc.
            stack.push_back(name);
            if (name == "svg") max_svg_depth = std::max(max_svg_depth, ++svg_depth);
        } else {
            ASSERT_FALSE(stack.empty()) << "</" << name << "> without an open tag at " << it->position();
            ASSERT_EQ(stack.back(), name) << "at " << it->position() << ": "
                                          << html.substr(size_t(std::max<long>(0, it->position() - 200)), 260);
            stack.pop_back();
            if (name == "svg") --svg_depth;
        }
    }
    EXPECT_TRUE(stack.empty()) << "unclosed: " << (stack.empty() ? "" : stack.back());
    EXPECT_LE(max_svg_depth, 1) << "an <svg> inside another";
}

void expect_clean(const std::string& html) {
    const std::string l = lower(html);
    EXPECT_EQ(l.find("nan"), std::string::npos) << html.substr(l.find("nan") - 100, 200);
    EXPECT_EQ(l.find("inf"), std::string::npos) << html.substr(l.find("inf") - 100, 200);
    EXPECT_NE(html.find("<meta name=\"tessera-report\" content=\"1\">"), std::string::npos);
    EXPECT_NE(html.find("id=\"summary\""), std::string::npos);
    EXPECT_NE(html.find("id=\"comparisons\""), std::string::npos);
    EXPECT_EQ(count(html, "http://"), count(html, "xmlns=\"http://www.w3.org/2000/svg\""))
        << "only the SVG namespace may name an http URL";
    EXPECT_EQ(html.find("https://"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("src="), std::string::npos);
    EXPECT_EQ(html.find("<link"), std::string::npos);
    EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
    expect_balanced(html);
}

TEST(BenchReportHtml, SampleReportRendersWellFormed) {
    const json report = sample_report();
    const std::string html = render_html_report(report);
    if (const char* dir = std::getenv("TESSERA_BENCH_REPORT_SAMPLE_DIR")) {
        std::ofstream(std::string(dir) + "/report.json") << report.dump(1);
        std::ofstream(std::string(dir) + "/report.html") << html;
    }

    expect_clean(html);
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    // One bitrate-quality plot (PSNR, and SSIM beside it) per workload.
    EXPECT_EQ(count(html, "id=\"bq-psnr-"), 2u);
    EXPECT_EQ(count(html, "id=\"bq-ssim-"), 2u);
    EXPECT_NE(html.find("id=\"bq-psnr-0\""), std::string::npos);
    EXPECT_NE(html.find("id=\"bq-psnr-1\""), std::string::npos);
    // Every plot is an svg.plot with an id; latency per stage and timelines per run are there.
    EXPECT_EQ(count(html, "<svg class=\"plot\" id=\""), count(html, "<svg"));
    EXPECT_GE(count(html, "<svg"), 3u);
    EXPECT_NE(html.find("id=\"lat-0-0\""), std::string::npos);
    EXPECT_NE(html.find("id=\"tl-px-0\""), std::string::npos);
    EXPECT_NE(html.find("id=\"tl-bytes-0\""), std::string::npos);
    EXPECT_EQ(html.find("id=\"tl-px-1\""), std::string::npos) << "run 1 has an empty timeline";
    EXPECT_NE(html.find("No per-frame timeline in this run."), std::string::npos);
    EXPECT_NE(html.find("No stage timings in this run."), std::string::npos);
    EXPECT_NE(html.find("no histogram"), std::string::npos);

    // Strings from the report are escaped wherever they appear.
    EXPECT_EQ(html.find(kOddWorkload), std::string::npos);
    EXPECT_EQ(html.find("<x>"), std::string::npos);
    EXPECT_NE(html.find("video:/tmp/&lt;x&gt;&amp;&quot;y&quot;.mp4"), std::string::npos);
    EXPECT_NE(html.find("Test CPU &lt;model&gt; &amp; co"), std::string::npos);

    // The summary: one row per run; baselines marked; null PSNR with exact shows "exact".
    const size_t runs = report["runs"].size();
    const size_t sum_begin = html.find("id=\"summary\""), sum_end = html.find("</table>", sum_begin);
    const std::string summary = html.substr(sum_begin, sum_end - sum_begin);
    EXPECT_EQ(count(summary, "<tr"), runs + 1);
    EXPECT_EQ(count(summary, "<tr class=\"baseline"), 4u);
    EXPECT_NE(summary.find(">exact</td>"), std::string::npos);
    // The comparisons: the ratio in words and the quality deltas.
    const size_t cmp_begin = html.find("id=\"comparisons\""), cmp_end = html.find("</table>", cmp_begin);
    const std::string comparisons = html.substr(cmp_begin, cmp_end - cmp_begin);
    EXPECT_EQ(count(comparisons, "<tr"), report["comparisons"].size() + 1);
    EXPECT_NE(comparisons.find("0.12&times;</span> the bytes of full-frame x264"), std::string::npos);
    EXPECT_NE(comparisons.find("+1.9 dB"), std::string::npos);
    EXPECT_NE(comparisons.find("exact vs lossy"), std::string::npos);
    // Exact points sit on the labelled line of the PSNR chart.
    const size_t bq = html.find("id=\"bq-psnr-0\""), bq_end = html.find("</svg>", bq);
    EXPECT_NE(html.substr(bq, bq_end - bq).find(">exact</text>"), std::string::npos);
}

TEST(BenchReportHtml, EmptyAndOddReportsRender) {
    for (const json& report :
         {json::object(), json(nullptr), json::array(), json{{"runs", nullptr}, {"comparisons", 5}},
          json{{"tessera_bench", 1}, {"runs", {{{"id", "only"}, {"frames", 0}, {"timeline", json::array()}}}}},
          json{{"runs", {{{"id", "x"}, {"workload", 3}, {"kind", nullptr}, {"kbps", {{"total", "12"}}},
                         {"stages", {{"total", {{"histogram", {{"edges_ms", {1, 0}}, {"counts", {1}}}}}}}},
                         {"timeline", {{{"frame", 0}}, nullptr, 7}}}}}}}) {
        SCOPED_TRACE(report.dump());
        const std::string html = render_html_report(report);
        expect_clean(html);
    }
}

TEST(BenchReportHtml, SingleRunWithZeroFramesAndNulls) {
    json r = run("office", "tessera", "h264", "ultrafast", 8000, 38, 0);
    r["frames"] = 0;
    r["timeline"] = json::array();
    r["kbps"] = {{"total", 0}, {"static", nullptr}};
    r["quality"]["motion"] = quality(nullptr, nullptr, 1.0, true, 0);
    for (auto& [name, st] : r["stages"].items()) st["histogram"] = {{"edges_ms", {0, 0}}, {"counts", {0}}};
    const std::string html = render_html_report({{"tessera_bench", 1}, {"runs", {r}}});
    expect_clean(html);
    EXPECT_EQ(count(html, "id=\"bq-psnr-"), 1u);
    EXPECT_NE(html.find("no run with a bit rate"), std::string::npos);
}

TEST(SvgChart, CoordinatesAndTicksStayFinite) {
    using namespace tessera::bench::svg;
    EXPECT_EQ(fmt_coord(std::numeric_limits<double>::quiet_NaN()), "0");
    EXPECT_EQ(fmt_coord(std::numeric_limits<double>::infinity()), "0");
    EXPECT_EQ(fmt_coord(12.5), "12.5");
    EXPECT_EQ(fmt_coord(-0.001), "0");
    EXPECT_EQ(tick_label(25000), "25k");
    EXPECT_EQ(tick_label(0.1 + 0.2), "0.3");
    const Scale lin(0, 100, 0, 500, false);
    EXPECT_DOUBLE_EQ(lin(50), 250);
    const auto t = lin.ticks(5);
    ASSERT_EQ(t.size(), 6u);
    EXPECT_DOUBLE_EQ(t[1], 20);
    const Scale lg(1000, 100000, 0, 200, true);
    EXPECT_DOUBLE_EQ(lg(10000), 100);
    const auto lt = lg.ticks(5);
    EXPECT_NE(std::find(lt.begin(), lt.end(), 10000.0), lt.end());
    const Scale degenerate(5, 5, 0, 100, false);
    EXPECT_TRUE(std::isfinite(degenerate(5)));
    const Scale bad_log(-1, 0, 0, 100, true);
    EXPECT_TRUE(std::isfinite(bad_log(-5)));
    EXPECT_EQ(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

}  // namespace
