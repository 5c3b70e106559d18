#pragma once
// Runs a bench plan: every workload through the real pipeline (source -> damage tracker ->
// SPICE display update writer with its video streams and LZ4), offline on a synthetic clock at
// the plan's frame rate, then decodes every message as a client would (SpiceView) and compares
// the picture with the source frame per region class. Baselines in the same run: full-frame
// x264 at each swept bitrate, and everything lossless.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/bench_plan.h"
#include "bench/progress.h"

namespace tessera::bench {

struct RunnerOptions {
  std::string command;  // how the bench was invoked, for the report
  std::string version;
  bool progress = true;
};

// The whole report (schema: docs/tuning.md "Bench report"). Throws std::runtime_error when a
// workload cannot be opened or an encoder fails to open.
nlohmann::json run_plan(const BenchPlan& plan, const RunnerOptions& opts);

// The report as CSV, one row per run.
std::string report_csv(const nlohmann::json& report);
// A plain-text table of the runs and the ratios, for the terminal.
std::string report_summary(const nlohmann::json& report);

}  // namespace tessera::bench
