#pragma once
// The main channel: session start (INIT), the list of other channels, mouse mode,
// and multimedia time (every channel pings a quiet client: transport/spice/channel).
#include "transport/spice/channel.h"

namespace tessera::spice {

class MainChannel : public Channel {
 public:
  using Channel::Channel;
  // Channels a client is told about; the main channel itself is never listed.
  static const std::vector<std::pair<uint8_t, uint8_t>>& offered_channels();

 protected:
  void on_start() override;
  void on_message(uint16_t type, WireReader& body) override;
  void on_idle() override;
  void on_stop() override;

 private:
  void send_mouse_mode();
  std::chrono::steady_clock::time_point last_mm_time_{};
};

}  // namespace tessera::spice
