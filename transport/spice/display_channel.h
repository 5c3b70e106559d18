#pragma once
// The display channel: the primary surface, a full lossless first frame, then the damaged
// rectangles of each new frame as DRAW_COPY (LZ4 when the client decodes it and it pays off,
// uncompressed bitmaps otherwise), scrolls as COPY_BITS, and motion as video streams. A sender
// thread per client takes the newest frame when the client's ACK window allows, so a slow
// client skips frames instead of queueing them.
#include <atomic>

#include "transport/spice/display_update_writer.h"
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
  void on_ack_round_trip(std::chrono::nanoseconds rtt) override {
    if (writer_) writer_->note_round_trip(rtt);
  }
  void push_loop() override;
  Interest interest() const override { return {.frames = true, .cursor = false}; }

 private:
  // The first frame waits (briefly) for the client's INIT and whatever it sent with it, so
  // that a compression preference applies from the first picture on.
  bool wait_for_client_init();
  std::mutex init_mu_;
  std::condition_variable init_cv_;
  bool init_received_ = false;
  bool client_ready_ = false;

  std::unique_ptr<DisplayUpdateWriter> writer_;
};

}  // namespace tessera::spice
