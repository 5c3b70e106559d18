#pragma once
// One VNC client after its handshake: ServerInit, then a reader (client messages, input, fences)
// and a sender thread that answers update requests, or pushes updates under continuous updates,
// from the shared frame hub. The sender writes one update at a time, so a slow client skips
// frames (its damage accumulates in its subscription) and its memory never grows.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/frame_hub.h"
#include "core/input_event.h"
#include "transport/net/socket.h"
#include "transport/vnc/pixel_format.h"
#include "transport/vnc/rect_encoder.h"

namespace tessera {
class EncoderCatalog;
}

namespace tessera::vnc {

struct VncSettings {
  std::string name = "tessera";
  size_t max_cut_text = 1 << 20;  // clipboard text a client may send
  std::chrono::milliseconds message_timeout{30000};
  std::chrono::milliseconds send_timeout{30000};
  // H.264 (encoding 50) for motion regions, when the client lists it and an encoder works.
  std::shared_ptr<const EncoderCatalog> encoders;
  int video_bitrate_kbps = 8000;
};

class VncConnection {
 public:
  VncConnection(const VncSettings& settings, FrameHub& hub, InputSink input, std::unique_ptr<net::Socket> socket,
                int minor, std::string auth);
  ~VncConnection();
  // Runs until the client leaves or breaks the protocol; logs why, returns normally.
  void run();
  void close();
  std::string tag() const;

 private:
  struct Features;
  void read_loop();
  void send_loop();
  void handle_set_encodings(const std::vector<int32_t>& encodings);
  void handle_pointer(uint8_t mask, uint16_t x, uint16_t y);
  void key(uint32_t evdev, bool down);
  void send_desktop_size(bool ext, int reason, int status);
  bool send_update(Subscription::FrameUpdate& u, bool full);
  void send_cursor(const CursorState& c);

  const VncSettings& settings_;
  FrameHub& hub_;
  InputSink input_;
  std::unique_ptr<net::Socket> socket_;
  int minor_;
  std::string auth_;
  std::shared_ptr<Subscription> sub_;
  std::atomic<bool> closed_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<Features> f_;  // under mu_
  bool fur_pending_ = false, fur_full_ = false, cu_enabled_ = false;
  bool desktop_size_reply_ = false;  // a SetDesktopSize to answer
  Size size_{};                     // what the client was last told
  uint8_t buttons_ = 0;
  std::vector<uint32_t> held_keys_;
  Region lossy_;  // what the client shows from JPEG or H.264 (sender only)
  std::unique_ptr<RectEncoder> encoder_;  // sender only
  int32_t encoder_kind_ = 0;
  std::unique_ptr<class H264Rects> video_;  // sender only
  uint64_t last_cursor_serial_ = ~0ull;
  uint64_t updates_ = 0, bytes_ = 0, copies_ = 0, lossy_rects_ = 0, h264_frames_ = 0;
};

}  // namespace tessera::vnc
