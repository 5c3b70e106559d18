#pragma once
// Logging goes through spdlog. Every component logs to the default logger so that an operator
// gets one stream, and tests can attach a sink to read what was logged.
#include <spdlog/spdlog.h>

#include <string_view>

namespace tessera {

// Sends the log to standard error (standard output is for what the program reports).
void init_logging();
// Sets the level by name (trace, debug, info, warn, error, off); false on an unknown name.
bool set_log_level(std::string_view name);

}  // namespace tessera
