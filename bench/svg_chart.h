#pragma once
// A small inline-SVG chart builder for the bench HTML report (bench/report_html.cpp): linear and
// log scales with readable ticks, axes, polylines, markers, bars, step areas, vertical rules and a
// legend. Every coordinate is written through fmt_coord, so nothing non-finite reaches the SVG;
// every text is XML-escaped here. Tooltips are SVG <title> elements (no script).
#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::bench::svg {

// HTML/XML escape of &, <, >, " and '.
std::string escape(std::string_view text);

// A coordinate with two decimals; non-finite values become 0 and huge ones are clamped.
std::string fmt_coord(double v);

// A short tick label: 0.5, 12, 1500, 25k, 3.2M.
std::string tick_label(double v);

// Maps a data interval onto a pixel interval, linearly or (log10) logarithmically.
class Scale {
public:
    Scale() = default;
    Scale(double lo, double hi, double px0, double px1, bool log);
    double operator()(double v) const;
    double lo() const { return lo_; }
    double hi() const { return hi_; }
    bool log() const { return log_; }
    // Ticks inside [lo, hi]: 1-2-5 steps (about `target` of them), or decades (and 2, 5 within
    // them when the range spans few decades) for a log scale.
    std::vector<double> ticks(int target) const;

private:
    double lo_ = 0, hi_ = 1, px0_ = 0, px1_ = 1;
    bool log_ = false;
};

// "Nice" bounds around [lo, hi] for a linear axis (rounded out to a 1-2-5 step; a degenerate range
// is widened); `lo` stays where it is when `keep_lo`.
std::pair<double, double> nice_range(double lo, double hi, bool keep_lo = false);

// Bounds for a log axis: [lo, hi] widened out to the nearest 1, 2 or 5 times a power of ten.
std::pair<double, double> nice_log_range(double lo, double hi);

struct LegendEntry {
    std::string label;
    std::string color;
    char marker = 'o';  // 'o' circle, 's' square, 'd' diamond, 't' triangle, '-' line only, '#' swatch
    bool line = false;
};

// One chart: an <svg class="plot"> of a fixed size with a plot area inside margins.
class Chart {
public:
    Chart(std::string id, double width, double height, std::string title);

    // Room around the plot area (the legend, when there is one, goes into the right margin).
    void margins(double left, double right, double top, double bottom);
    void x_axis(double lo, double hi, bool log, std::string label);
    void y_axis(double lo, double hi, bool log, std::string label);
    const Scale& x() const { return x_; }
    const Scale& y() const { return y_; }
    double plot_left() const { return left_; }
    double plot_right() const { return width_ - right_; }
    double plot_top() const { return top_; }
    double plot_bottom() const { return height_ - bottom_; }

    // Grid, ticks and labels of both axes; `x_ticks`/`y_ticks` is about how many ticks; no y tick
    // above `y_tick_max` (room for a labelled line above the values, see y_marker_line).
    void axes(int x_ticks = 6, int y_ticks = 5, double y_tick_max = HUGE_VAL);
    // An extra labelled y tick (e.g. "exact" above the finite values), with a dashed grid line.
    void y_marker_line(double y, std::string_view label, std::string_view color);

    void polyline(const std::vector<std::pair<double, double>>& pts, std::string_view color,
                  double width = 1.8, std::string_view dash = {});
    void marker(double x, double y, char shape, std::string_view color, std::string_view tooltip,
                double size = 4.5);
    // A bar in data coordinates from x0 to x1, y from `base` to `top`.
    void bar(double x0, double x1, double base, double top, std::string_view color,
             std::string_view tooltip = {});
    // A filled step area: for each i, the band [xs[i], xs[i+1]) between lower[i] and upper[i]
    // (xs has one more element than lower/upper).
    void step_area(const std::vector<double>& xs, const std::vector<double>& lower,
                   const std::vector<double>& upper, std::string_view color, std::string_view tooltip = {});
    // A full-height vertical rule at data x with a small label at the top.
    void vline(double x, std::string_view color, std::string_view label, std::string_view tooltip = {},
               double label_dy = 0);
    // An invisible column from data x0 to x1 over the whole plot height that shows `tooltip` on hover.
    void hover_column(double x0, double x1, std::string_view tooltip);
    // Text at data coordinates.
    void text(double x, double y, std::string_view text, std::string_view css_class = "lbl",
              std::string_view anchor = "start");
    void note(std::string_view text);  // centred in the plot area (e.g. "no data")
    void legend(const std::vector<LegendEntry>& entries);

    std::string str() const;

private:
    double px_x(double v) const;
    double px_y(double v) const;
    void shape(double cx, double cy, char shape, std::string_view color, double size,
               std::string_view tooltip, bool with_title);

    std::string id_, title_, x_label_, y_label_;
    double width_, height_;
    double left_ = 56, right_ = 16, top_ = 28, bottom_ = 40;
    Scale x_, y_;
    std::string body_;
};

}  // namespace tessera::bench::svg
