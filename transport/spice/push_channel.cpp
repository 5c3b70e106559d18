#include "transport/spice/push_channel.h"

#include "core/log.h"

namespace tessera::spice {

PushChannel::~PushChannel() {
  if (sender_.joinable()) sender_.join();
}

void PushChannel::on_start() {
  enable_ack_window();
  sub_ = ctx_.hub->subscribe(interest());
  sender_ = std::thread([this] {
    try {
      push_loop();
    } catch (const ProtocolError& e) {
      if (!closed()) spdlog::warn("{}: {}; closing the connection", tag(), e.what());
    } catch (const std::exception& e) {
      spdlog::error("{}: internal error while sending: {}; closing the connection", tag(), e.what());
    }
    close();
  });
}

void PushChannel::on_stop() {
  if (sub_) sub_->close();
  if (sender_.joinable()) sender_.join();
}

}  // namespace tessera::spice
