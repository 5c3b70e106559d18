// libFuzzer: SPICE client messages after the link, as the channels read them: the message
// header (mini and full), inputs (keys, scan codes across messages, pointer), display INIT,
// STREAM_REPORT and PREFERRED_VIDEO_CODEC_TYPE. Input: a sequence of [u16 type][u16 length][body]
// where type % 5 picks the reader and type / 5 is the message type; any bytes, no crash, only
// ProtocolError.
#include <cstdint>

#include "transport/spice/inputs_reader.h"
#include "transport/spice/messages.h"

using namespace tessera::spice;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InputsReader inputs;
  size_t at = 0;
  while (at + 4 <= size) {
    const uint16_t type = uint16_t(data[at] | data[at + 1] << 8);
    size_t len = size_t(data[at + 2] | data[at + 3] << 8);
    at += 4;
    if (len > size - at) len = size - at;
    std::span<const uint8_t> body(data + at, len);
    at += len;
    try {
      WireReader r(body, "message body");
      switch (type % 5) {
        case 0: {
          auto res = inputs.read(uint16_t(type / 5), r);
          for (const auto& e : res.events)
            if (e.kind == tessera::InputEvent::Kind::KeyDown && e.key == 0) __builtin_trap();  // no unnamed keys
          break;
        }
        case 1:
          parse_stream_report(r);
          break;
        case 3:
          parse_display_init(r);
          break;
        case 4: {
          auto h = parse_message_header(body, type / 5 % 2 == 0, 1 << 16);
          if (h.size > (1 << 16)) __builtin_trap();
          break;
        }
        default: {
          auto codecs = parse_preferred_video_codecs(r);
          if (codecs.size() > body.size()) __builtin_trap();
        }
      }
    } catch (const ProtocolError&) {
    }
  }
  return 0;
}
