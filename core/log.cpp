#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace tessera {

void init_logging() { spdlog::set_default_logger(spdlog::stderr_color_mt("tessera")); }

bool set_log_level(std::string_view name) {
  auto level = spdlog::level::from_str(std::string(name));
  if (level == spdlog::level::off && name != "off") return false;
  spdlog::set_level(level);
  return true;
}

}  // namespace tessera
