#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace tessera::bench {

// A self-contained HTML page (inline CSS and SVG; no network, no external files) from a report
// written by `tessera bench` (the "tessera_bench": 1 JSON). Missing or null fields are shown as
// absent; every string from the report is HTML-escaped.
std::string render_html_report(const nlohmann::json& report);

}  // namespace tessera::bench
