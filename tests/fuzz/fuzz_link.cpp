// libFuzzer: the SPICE link header and message parsers take any bytes without crashing, and
// what they accept is consistent with what they were given.
#include <cstdint>
#include <span>

#include "transport/spice/link.h"

using namespace tessera::spice;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  try {
    if (size >= kLinkHeaderBytes) {
      LinkHeader h = parse_link_header(in.first(kLinkHeaderBytes));
      if (h.size < kLinkMessMinBytes || h.size > kLinkMessMaxBytes) __builtin_trap();
    }
  } catch (const ProtocolError&) {
  }
  try {
    LinkMessage m = parse_link_message(in);
    if (m.common_caps.size() + m.channel_caps.size() > kLinkMaxCapWords) __builtin_trap();
    if (18 + 4 * (m.common_caps.size() + m.channel_caps.size()) > size) __builtin_trap();
  } catch (const ProtocolError&) {
  }
  return 0;
}
