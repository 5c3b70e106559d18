#include "bench/svg_chart.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tessera::bench::svg {

namespace {

bool finite(double v) { return std::isfinite(v); }

// 1, 2 or 5 times a power of ten, near `raw`.
double nice_step(double raw) {
    if (!finite(raw) || raw <= 0) return 1;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

// At most `max_bytes` bytes of UTF-8 text, cut at a character boundary, with an ellipsis when cut.
std::string clip(std::string_view s, size_t max_bytes) {
    if (s.size() <= max_bytes) return std::string(s);
    size_t n = max_bytes;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return std::string(s.substr(0, n)) + "\u2026";
}

}  // namespace

std::string escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string fmt_coord(double v) {
    if (!finite(v)) v = 0;
    v = std::clamp(v, -1e6, 1e6);
    std::string s = fmt::format("{:.2f}", v);
    // 12.50 -> 12.5, 3.00 -> 3 (shorter SVG)
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    if (s == "-0") s = "0";
    return s;
}

std::string tick_label(double v) {
    if (!finite(v)) return "?";
    const double a = std::fabs(v);
    if (a < 1e-12) return "0";
    if (a >= 1e6) return fmt::format("{:g}M", static_cast<double>(static_cast<float>(v / 1e6)));
    if (a >= 1e4) return fmt::format("{:g}k", static_cast<double>(static_cast<float>(v / 1e3)));
    // through float: 0.30000000000000004 -> 0.3
    return fmt::format("{:g}", static_cast<double>(static_cast<float>(v)));
}

Scale::Scale(double lo, double hi, double px0, double px1, bool log)
    : lo_(lo), hi_(hi), px0_(px0), px1_(px1), log_(log) {
    if (!finite(lo_) || !finite(hi_)) lo_ = 0, hi_ = 1;
    if (log_) {
        if (hi_ <= 0) lo_ = 1, hi_ = 10;
        if (lo_ <= 0) lo_ = hi_ / 10;
        if (hi_ <= lo_) lo_ /= 2, hi_ *= 2;
    } else if (hi_ <= lo_) {
        const double pad = std::fabs(lo_) > 0 ? std::fabs(lo_) * 0.1 : 1.0;
        lo_ -= pad;
        hi_ += pad;
    }
}

double Scale::operator()(double v) const {
    if (!finite(v)) v = lo_;
    double t;
    if (log_) {
        v = std::max(v, lo_ * 1e-3);
        t = (std::log10(v) - std::log10(lo_)) / (std::log10(hi_) - std::log10(lo_));
    } else {
        t = (v - lo_) / (hi_ - lo_);
    }
    return px0_ + t * (px1_ - px0_);
}

std::vector<double> Scale::ticks(int target) const {
    std::vector<double> out;
    const double eps = (hi_ - lo_) * 1e-9;
    if (log_) {
        const double ratio = hi_ / lo_;
        std::vector<double> mults{1};
        if (ratio <= 20) mults = {1, 2, 3, 5};
        else if (ratio <= 1000) mults = {1, 2, 5};
        const int d0 = static_cast<int>(std::floor(std::log10(lo_)));
        const int d1 = static_cast<int>(std::ceil(std::log10(hi_)));
        for (int d = d0; d <= d1 && out.size() < 40; ++d) {
            for (double m : mults) {
                const double v = m * std::pow(10.0, d);
                if (v >= lo_ * (1 - 1e-9) && v <= hi_ * (1 + 1e-9)) out.push_back(v);
            }
        }
        if (out.size() < 2) out = {lo_, hi_};
        return out;
    }
    const double step = nice_step((hi_ - lo_) / std::max(target, 1));
    for (double v = std::ceil((lo_ - eps) / step) * step; v <= hi_ + eps && out.size() < 60; v += step)
        out.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
    return out;
}

std::pair<double, double> nice_range(double lo, double hi, bool keep_lo) {
    if (!finite(lo) || !finite(hi)) return {0, 1};
    if (hi <= lo) {
        const double pad = std::fabs(lo) > 0 ? std::fabs(lo) * 0.1 : 1.0;
        if (!keep_lo) lo -= pad;
        hi += pad;
    }
    const double step = nice_step((hi - lo) / 5);
    return {keep_lo ? lo : std::floor(lo / step) * step, std::ceil(hi / step) * step};
}

std::pair<double, double> nice_log_range(double lo, double hi) {
    if (!finite(lo) || !finite(hi) || lo <= 0 || hi <= 0) return {1, 10};
    if (hi < lo) std::swap(lo, hi);
    // Out to the next 1-2-5 value on each side.
    auto down = [](double v) {
        const double p = std::pow(10.0, std::floor(std::log10(v)));
        for (double m : {5.0, 2.0, 1.0})
            if (m * p <= v) return m * p;
        return p;
    };
    auto up = [](double v) {
        const double p = std::pow(10.0, std::floor(std::log10(v)));
        for (double m : {1.0, 2.0, 5.0, 10.0})
            if (m * p >= v) return m * p;
        return 10 * p;
    };
    return {down(lo), up(hi)};
}

Chart::Chart(std::string id, double width, double height, std::string title)
    : id_(std::move(id)), title_(std::move(title)), width_(width), height_(height) {
    x_ = Scale(0, 1, plot_left(), plot_right(), false);
    y_ = Scale(0, 1, plot_bottom(), plot_top(), false);
}

void Chart::margins(double left, double right, double top, double bottom) {
    left_ = left, right_ = right, top_ = top, bottom_ = bottom;
    x_ = Scale(x_.lo(), x_.hi(), plot_left(), plot_right(), x_.log());
    y_ = Scale(y_.lo(), y_.hi(), plot_bottom(), plot_top(), y_.log());
}

void Chart::x_axis(double lo, double hi, bool log, std::string label) {
    x_ = Scale(lo, hi, plot_left(), plot_right(), log);
    x_label_ = std::move(label);
}

void Chart::y_axis(double lo, double hi, bool log, std::string label) {
    y_ = Scale(lo, hi, plot_bottom(), plot_top(), log);
    y_label_ = std::move(label);
}

double Chart::px_x(double v) const { return x_(v); }
double Chart::px_y(double v) const { return y_(v); }

void Chart::axes(int x_ticks, int y_ticks, double y_tick_max) {
    const std::string l = fmt_coord(plot_left()), r = fmt_coord(plot_right());
    const std::string t = fmt_coord(plot_top()), b = fmt_coord(plot_bottom());
    body_ += "<g class=\"axes\">";
    for (double v : y_.ticks(y_ticks)) {
        if (v > y_tick_max + std::fabs(y_tick_max) * 1e-9) continue;
        const std::string y = fmt_coord(px_y(v));
        body_ += fmt::format("<line class=\"grid\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", l, y, r, y);
        body_ += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\" dy=\"0.32em\">{}</text>",
                             fmt_coord(plot_left() - 5), y, escape(tick_label(v)));
    }
    for (double v : x_.ticks(x_ticks)) {
        const std::string x = fmt_coord(px_x(v));
        body_ += fmt::format("<line class=\"grid\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", x, t, x, b);
        body_ += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", x,
                             fmt_coord(plot_bottom() + 14), escape(tick_label(v)));
    }
    body_ += fmt::format("<path class=\"axis\" d=\"M{} {}V{}H{}\"/>", l, t, b, r);
    if (!x_label_.empty())
        body_ += fmt::format("<text class=\"axlabel\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                             fmt_coord((plot_left() + plot_right()) / 2), fmt_coord(height_ - 6),
                             escape(x_label_ + (x_.log() ? " (log scale)" : "")));
    if (!y_label_.empty()) {
        const std::string cx = fmt_coord(13), cy = fmt_coord((plot_top() + plot_bottom()) / 2);
        body_ += fmt::format("<text class=\"axlabel\" x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" "
                             "transform=\"rotate(-90 {0} {1})\">{2}</text>",
                             cx, cy, escape(y_label_));
    }
    body_ += "</g>";
}

void Chart::y_marker_line(double y, std::string_view label, std::string_view color) {
    const std::string py = fmt_coord(px_y(y));
    body_ += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-dasharray=\"4 3\"/>",
                         fmt_coord(plot_left()), py, fmt_coord(plot_right()), py, escape(color));
    body_ += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\" dy=\"0.32em\" fill=\"{}\">{}</text>",
                         fmt_coord(plot_left() - 5), py, escape(color), escape(label));
}

void Chart::polyline(const std::vector<std::pair<double, double>>& pts, std::string_view color, double width,
                     std::string_view dash) {
    if (pts.size() < 2) return;
    std::string points;
    for (const auto& [x, y] : pts) points += fmt::format("{},{} ", fmt_coord(px_x(x)), fmt_coord(px_y(y)));
    points.pop_back();
    body_ += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{} points=\"{}\"/>",
                         escape(color), fmt_coord(width),
                         dash.empty() ? std::string() : fmt::format(" stroke-dasharray=\"{}\"", escape(dash)),
                         points);
}

void Chart::shape(double cx, double cy, char kind, std::string_view color, double size, std::string_view tooltip,
                  bool with_title) {
    const std::string c = escape(color);
    const std::string x = fmt_coord(cx), y = fmt_coord(cy);
    const std::string title =
        with_title && !tooltip.empty() ? fmt::format("<title>{}</title>", escape(tooltip)) : std::string();
    const char* end = title.empty() ? "/>" : ">";
    std::string tag;
    switch (kind) {
    case 's':
        tag = "rect";
        body_ += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#fff\"{}",
                             fmt_coord(cx - size), fmt_coord(cy - size), fmt_coord(2 * size), fmt_coord(2 * size),
                             c, end);
        break;
    case 'd':
    case 't': {
        tag = "polygon";
        const double s = size * 1.3;
        const std::string pts =
            kind == 'd' ? fmt::format("{},{} {},{} {},{} {},{}", x, fmt_coord(cy - s), fmt_coord(cx + s), y, x,
                                      fmt_coord(cy + s), fmt_coord(cx - s), y)
                        : fmt::format("{},{} {},{} {},{}", x, fmt_coord(cy - s), fmt_coord(cx + s),
                                      fmt_coord(cy + s * 0.8), fmt_coord(cx - s), fmt_coord(cy + s * 0.8));
        body_ += fmt::format("<polygon points=\"{}\" fill=\"{}\" stroke=\"#fff\"{}", pts, c, end);
        break;
    }
    case '#':
        tag = "rect";
        body_ += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"{}", fmt_coord(cx - size),
                             fmt_coord(cy - size * 0.7), fmt_coord(2 * size), fmt_coord(1.4 * size), c, end);
        break;
    case '-': return;
    default:
        tag = "circle";
        body_ += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\" stroke=\"#fff\"{}", x, y,
                             fmt_coord(size), c, end);
    }
    if (!title.empty()) body_ += title + "</" + tag + ">";
}

void Chart::marker(double x, double y, char kind, std::string_view color, std::string_view tooltip, double size) {
    shape(px_x(x), px_y(y), kind, color, size, tooltip, true);
}

void Chart::bar(double x0, double x1, double base, double top, std::string_view color, std::string_view tooltip) {
    const double a = px_x(x0), b = px_x(x1), y0 = px_y(base), y1 = px_y(top);
    const double x = std::min(a, b), w = std::fabs(b - a), y = std::min(y0, y1), h = std::fabs(y1 - y0);
    if (!finite(w) || !finite(h)) return;
    body_ += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"", fmt_coord(x), fmt_coord(y),
                         fmt_coord(w), fmt_coord(h), escape(color));
    if (tooltip.empty()) body_ += "/>";
    else body_ += fmt::format("><title>{}</title></rect>", escape(tooltip));
}

void Chart::step_area(const std::vector<double>& xs, const std::vector<double>& lower,
                      const std::vector<double>& upper, std::string_view color, std::string_view tooltip) {
    const size_t n = std::min(lower.size(), upper.size());
    if (n == 0 || xs.size() < n + 1) return;
    // The outline: along the upper edge left to right, back along the lower edge; a corner only
    // where the value changes.
    std::string pts;
    auto point = [&](double x, double y) { pts += fmt::format("{},{} ", fmt_coord(px_x(x)), fmt_coord(px_y(y))); };
    for (size_t i = 0; i < n; ++i) {
        if (i == 0 || upper[i] != upper[i - 1]) {
            if (i > 0) point(xs[i], upper[i - 1]);
            point(xs[i], upper[i]);
        }
    }
    point(xs[n], upper[n - 1]);
    for (size_t i = n; i-- > 0;) {
        if (i == n - 1 || lower[i] != lower[i + 1]) {
            if (i < n - 1) point(xs[i + 1], lower[i + 1]);
            point(xs[i + 1], lower[i]);
        }
    }
    point(xs[0], lower[0]);
    pts.pop_back();
    body_ += fmt::format("<polygon points=\"{}\" fill=\"{}\"", pts, escape(color));
    if (tooltip.empty()) body_ += "/>";
    else body_ += fmt::format("><title>{}</title></polygon>", escape(tooltip));
}

void Chart::vline(double x, std::string_view color, std::string_view label, std::string_view tooltip,
                  double label_dy) {
    const double px = std::clamp(px_x(x), plot_left(), plot_right());
    const std::string c = escape(color);
    body_ += fmt::format("<g><line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"1.5\" "
                         "stroke-dasharray=\"3 2\"/>",
                         fmt_coord(px), fmt_coord(plot_top()), fmt_coord(plot_bottom()), c);
    if (!label.empty())
        body_ += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" fill=\"{}\" text-anchor=\"{}\">{}</text>",
                             fmt_coord(px + (px > plot_right() - 30 ? -2 : 2)), fmt_coord(plot_top() - 3 + label_dy),
                             c, px > plot_right() - 30 ? "end" : "start", escape(label));
    if (!tooltip.empty()) body_ += fmt::format("<title>{}</title>", escape(tooltip));
    body_ += "</g>";
}

void Chart::hover_column(double x0, double x1, std::string_view tooltip) {
    const double a = px_x(x0), b = px_x(x1);
    body_ += fmt::format("<rect class=\"hover\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
                         fmt_coord(std::min(a, b)), fmt_coord(plot_top()), fmt_coord(std::fabs(b - a)),
                         fmt_coord(plot_bottom() - plot_top()), escape(tooltip));
}

void Chart::text(double x, double y, std::string_view s, std::string_view css_class, std::string_view anchor) {
    body_ += fmt::format("<text class=\"{}\" x=\"{}\" y=\"{}\" text-anchor=\"{}\">{}</text>", escape(css_class),
                         fmt_coord(px_x(x)), fmt_coord(px_y(y)), escape(anchor), escape(s));
}

void Chart::note(std::string_view s) {
    body_ += fmt::format("<text class=\"note\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                         fmt_coord((plot_left() + plot_right()) / 2), fmt_coord((plot_top() + plot_bottom()) / 2),
                         escape(s));
}

void Chart::legend(const std::vector<LegendEntry>& entries) {
    const double x = plot_right() + 14;
    double y = plot_top() + 6;
    body_ += "<g class=\"legend\">";
    for (const auto& e : entries) {
        if (e.line)
            body_ += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"/>",
                                 fmt_coord(x), fmt_coord(y), fmt_coord(x + 20), fmt_coord(y), escape(e.color));
        shape(x + 10, y, e.marker, e.color, 4, {}, false);
        body_ += fmt::format("<text class=\"lbl\" x=\"{}\" y=\"{}\" dy=\"0.32em\">{}<title>{}</title></text>",
                             fmt_coord(x + 26), fmt_coord(y), escape(clip(e.label, 30)), escape(e.label));
        y += 17;
    }
    body_ += "</g>";
}

std::string Chart::str() const {
    const std::string w = fmt_coord(width_), h = fmt_coord(height_);
    return fmt::format("<svg class=\"plot\" id=\"{0}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{1}\" "
                       "height=\"{2}\" viewBox=\"0 0 {1} {2}\" role=\"img\" aria-label=\"{3}\">"
                       "<text class=\"ttl\" x=\"{4}\" y=\"16\">{3}</text>{5}</svg>\n",
                       escape(id_), w, h, escape(title_), fmt_coord(plot_left()), body_);
}

}  // namespace tessera::bench::svg
