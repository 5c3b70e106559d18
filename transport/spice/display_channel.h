#pragma once
// The display channel: the primary surface, a full lossless first frame, then the damaged
// rectangles of each new frame as DRAW_COPY (LZ4 when the client decodes it and it pays off,
// uncompressed bitmaps otherwise), scrolls as COPY_BITS, and motion as video streams. A sender
// thread per client takes the newest frame when the client's ACK window allows, so a slow
// client skips frames instead of queueing them.
#include <atomic>

#include "encode/lz4_image_encoder.h"
#include "transport/spice/push_channel.h"

namespace tessera::spice {

class DisplayChannel : public PushChannel {
 public:
  using PushChannel::PushChannel;

 protected:
  void on_start() override;
  void on_message(uint16_t type, WireReader& body) override;
  void on_stop() override;
  void on_drained() override;
  void push_loop() override;
  Interest interest() const override { return {.frames = true, .cursor = false}; }

 private:
  void send_update(const Subscription::FrameUpdate& u);
  void send_rect(const Frame& f, const Rect& r);
  void send_lossless(const Frame& f, const Region& region);
  bool send_waiting(uint16_t type, const Body& body);
  // send_waiting as the stream code takes it.
  VideoStreams::SendFn stream_sender() {
    return [this](uint16_t type, const Body& b) { return send_waiting(type, b); };
  }
  void send_owed_frames();

  // The first frame waits (briefly) for the client's INIT and whatever it sent with it, so
  // that a compression preference applies from the first picture on.
  bool wait_for_client_init();
  std::mutex init_mu_;
  std::condition_variable init_cv_;
  bool init_received_ = false;
  bool client_ready_ = false;

  std::atomic<uint8_t> preferred_compression_{SPICE_IMAGE_COMPRESSION_LZ4};
  bool surface_created_ = false;
  struct Counters {
    uint64_t updates = 0, draws = 0, lz4_draws = 0, copies = 0, bytes = 0;
  } sent_;
  uint64_t next_image_id_ = 1;
  Lz4ImageEncoder lz4_;
  std::unique_ptr<VideoStreams> video_;
  FramePtr last_frame_;  // the newest frame this client was sent
};

}  // namespace tessera::spice
