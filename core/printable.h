#pragma once
// Text a peer sent, made safe for a log line: bytes outside printable ASCII (and the backslash)
// become \xNN, and anything past `max_bytes` is cut and counted, so an unauthenticated client can
// neither forge log lines nor flood them.
#include <cstddef>
#include <string>
#include <string_view>

namespace tessera {

std::string printable(std::string_view text, size_t max_bytes = 64);

}  // namespace tessera
