#pragma once
// What an RFB client sends after ServerInit, read one message at a time: one function per
// message, every length checked against its limit before anything is read or allocated, and a
// typed call on a handler for each. The bytes come from a ByteSource: the connection's socket,
// or a buffer in tests and the fuzzer. Unknown message types end the stream (RFB has no length
// on its messages, so nothing after one can be parsed).
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/rect.h"
#include "transport/vnc/pixel_format.h"

namespace tessera::vnc {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // The next message's type byte; nullopt when the client left cleanly between messages.
  virtual std::optional<uint8_t> next_type() = 0;
  // Exactly n bytes of the current message; throws ProtocolError naming `what` when they do not come.
  virtual void read(uint8_t* out, size_t n, const char* what) = 0;
};

// A buffer as a client's stream: it ends cleanly only between messages.
class SpanSource : public ByteSource {
 public:
  explicit SpanSource(std::span<const uint8_t> bytes) : b_(bytes) {}
  std::optional<uint8_t> next_type() override;
  void read(uint8_t* out, size_t n, const char* what) override;
  size_t consumed() const { return at_; }

 private:
  std::span<const uint8_t> b_;
  size_t at_ = 0;
};

struct ScreenLayout {
  uint32_t id = 0, flags = 0;
  Rect area;
};

class ClientMessageHandler {
 public:
  virtual ~ClientMessageHandler() = default;
  virtual void set_pixel_format(const PixelFormat& pf) = 0;
  virtual void set_encodings(const std::vector<int32_t>& encodings) = 0;
  virtual void update_request(bool incremental, const Rect& area) = 0;
  virtual void key(uint32_t keysym, bool down) = 0;
  virtual void pointer(uint8_t buttons, uint16_t x, uint16_t y) = 0;
  virtual void cut_text(std::span<const uint8_t> latin1) = 0;
  virtual void enable_continuous_updates(bool on, const Rect& area) = 0;
  virtual void fence(uint32_t flags, std::span<const uint8_t> payload) = 0;
  virtual void set_desktop_size(uint16_t width, uint16_t height, const std::vector<ScreenLayout>& screens) = 0;
  // QEMU extended key event: `xt` is the XT scan code (0 when the client sends only a keysym).
  virtual void qemu_key(uint32_t keysym, uint32_t xt, bool down) = 0;
};

struct ClientMessageLimits {
  size_t max_encodings = 1024;
  size_t max_cut_text = 1 << 20;
  size_t max_fence_payload = 64;  // the RFB community specification's limit
};

// Reads one message and calls the handler; false when the client left between messages.
// Throws ProtocolError for anything malformed or over a limit, naming the message and field.
bool read_client_message(ByteSource& in, ClientMessageHandler& h, const ClientMessageLimits& limits = {});

}  // namespace tessera::vnc
