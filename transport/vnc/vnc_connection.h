#pragma once
// One VNC client after its handshake: ServerInit, then a reader (client messages, input, fences)
// and a sender thread that answers update requests, or pushes updates under continuous updates,
// from the shared frame hub. The sender writes one update at a time, so a slow client skips
// frames (its damage accumulates in its subscription) and its memory never grows.
#include <atomic>
#include <map>
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
  size_t max_control_messages = 256;  // fence replies and the like queued for a client that does not read
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
  // Under mu_. Throws ProtocolError once a client that does not read has too many waiting.
  void queue_control(std::vector<uint8_t> message);
  void handle_set_encodings(const std::vector<int32_t>& encodings);
  void handle_pointer(uint8_t mask, uint16_t x, uint16_t y);
  void key(uint32_t evdev, bool down);
  void send_desktop_size(bool ext, int reason, int status, Size size);
  // Sends the frame's damage plus `extra` (already-built pseudo-rects); false when there was
  // nothing to send.
  bool send_update(Subscription::FrameUpdate& u, bool full, const std::vector<uint8_t>& extra, size_t nextra);
  void put_cursor_rect(const CursorState& c, const PixelFormat& pf, std::vector<uint8_t>& out) const;

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
  // Update requests are counted, and an update answers every request taken before it was built,
  // so a request that arrives while one is being sent is never lost.
  uint64_t fur_seq_ = 0, fur_answered_ = 0;
  bool fur_full_ = false, cu_enabled_ = false;
  bool desktop_size_reply_ = false;  // a SetDesktopSize to answer
  bool ack_qemu_key_ = false;        // the empty -258 rect that lets the client send XT key codes
  std::vector<std::vector<uint8_t>> control_;  // fence replies, EndOfContinuousUpdates: sent between updates
  Size size_{};                     // what the client was last told (under mu_)
  uint8_t buttons_ = 0;
  std::vector<uint32_t> held_keys_;
  Region lossy_;  // what the client shows from JPEG or H.264 (sender only)
  // One encoder per encoding for the connection's life: the client's zlib streams follow ours.
  std::map<int32_t, std::unique_ptr<RectEncoder>> encoders_;  // sender only
  std::unique_ptr<class H264Rects> video_;  // sender only
  uint64_t last_cursor_serial_ = ~0ull;
  bool last_cursor_visible_ = false;
  uint64_t updates_ = 0, bytes_ = 0, copies_ = 0, lossy_rects_ = 0, h264_frames_ = 0;
};

}  // namespace tessera::vnc
