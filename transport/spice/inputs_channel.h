#pragma once
// The inputs channel: keys (scan code set 1) and pointer events, handed to the frame source;
// a MOUSE_MOTION_ACK after every four motion messages keeps the client's pointer flowing.
#include "transport/spice/channel.h"
#include "transport/spice/inputs_reader.h"

namespace tessera::spice {

class InputsChannel : public Channel {
 public:
  using Channel::Channel;

 protected:
  void on_start() override;
  void on_message(uint16_t type, WireReader& body) override;

 private:
  void deliver(const InputEvent& e);
  void motion_received();

  InputsReader reader_;
  uint32_t motion_count_ = 0;
  uint16_t modifiers_ = 0;
};

}  // namespace tessera::spice
