#pragma once
// The cursor channel: INIT with the source's pointer shape, SET when the shape or visibility
// changes, MOVE when the pointer moves (only in server mouse mode; in client mode the client
// draws its own pointer where the user's mouse is).
#include <thread>

#include "transport/spice/channel.h"

namespace tessera::spice {

class CursorChannel : public Channel {
 public:
  using Channel::Channel;
  ~CursorChannel() override;

 protected:
  void on_start() override;
  void on_message(uint16_t type, WireReader& body) override;
  void on_stop() override;

 private:
  void send_loop();
  std::shared_ptr<Subscription> sub_;
  std::thread sender_;
};

}  // namespace tessera::spice
