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
#include "transport/vnc/client_message_reader.h"
#include "transport/vnc/pixel_format.h"
#include "transport/vnc/update_writer.h"

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

class VncConnection : private ClientMessageHandler {
 public:
  VncConnection(const VncSettings& settings, FrameHub& hub, InputSink input, std::unique_ptr<net::Socket> socket,
                int minor, std::string auth);
  ~VncConnection() override;
  // Runs until the client leaves or breaks the protocol; logs why, returns normally.
  void run();
  void close();
  std::string tag() const;

 private:
  void read_loop();
  void send_loop();
  // Under mu_. Throws ProtocolError once a client that does not read has too many waiting.
  void queue_control(std::vector<uint8_t> message);
  void press(uint32_t evdev, bool down);
  // Sends the frame's damage plus the pseudo-rects; false when there was nothing to send.
  bool send_update(Subscription::FrameUpdate& u, bool full, const ExtraRects& extra);

  // The client's messages, from read_client_message on the reader thread.
  void set_pixel_format(const PixelFormat& pf) override;
  void set_encodings(const std::vector<int32_t>& encodings) override;
  void update_request(bool incremental, const Rect& area) override;
  void key(uint32_t keysym, bool down) override;
  void pointer(uint8_t buttons, uint16_t x, uint16_t y) override;
  void cut_text(std::span<const uint8_t> latin1) override;
  void enable_continuous_updates(bool on, const Rect& area) override;
  void fence(uint32_t flags, std::span<const uint8_t> payload) override;
  void set_desktop_size(uint16_t width, uint16_t height, const std::vector<ScreenLayout>& screens) override;
  void qemu_key(uint32_t keysym, uint32_t xt, bool down) override;

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
  ClientFeatures features_;                                      // under mu_
  bool cursor_dirty_ = true, sent_fence_ = false, sent_end_cu_ = false;  // under mu_
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
  UpdateWriter writer_;  // sender only
  uint64_t last_cursor_serial_ = ~0ull;
  bool last_cursor_visible_ = false;
};

}  // namespace tessera::vnc
