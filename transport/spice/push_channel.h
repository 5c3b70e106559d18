#pragma once
// A channel that pushes what the frame hub publishes: ACK-window flow control, a subscription
// and a sender thread that runs push_loop() until the connection ends. A send that fails ends
// the connection with the reason logged.
#include <thread>

#include "transport/spice/channel.h"

namespace tessera::spice {

class PushChannel : public Channel {
 public:
  using Channel::Channel;
  ~PushChannel() override;

 protected:
  void on_start() override;
  void on_stop() override;
  // Runs on the sender thread; returns when the channel closes.
  virtual void push_loop() = 0;
  // What this channel pushes: the hub hands it nothing else.
  virtual Interest interest() const = 0;

  std::shared_ptr<Subscription> sub_;

 private:
  std::thread sender_;
};

}  // namespace tessera::spice
