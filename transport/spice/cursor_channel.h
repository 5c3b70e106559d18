#pragma once
// The cursor channel: INIT with the source's pointer shape, SET when the shape or visibility
// changes, MOVE when the pointer moves (only in server mouse mode; in client mode the client
// draws its own pointer where the user's mouse is).
#include "transport/spice/push_channel.h"

namespace tessera::spice {

class CursorChannel : public PushChannel {
 public:
  using PushChannel::PushChannel;

 protected:
  void on_message(uint16_t type, WireReader& body) override;
  void push_loop() override;
  Interest interest() const override { return {.frames = false, .cursor = true}; }
};

}  // namespace tessera::spice
