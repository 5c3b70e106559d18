#include "transport/spice/main_channel.h"

#include <random>

#include "core/frame_clock.h"
#include "core/log.h"
#include "transport/spice/messages.h"

namespace tessera::spice {

namespace {
constexpr uint32_t kSupportedMouseModes = SPICE_MOUSE_MODE_SERVER | SPICE_MOUSE_MODE_CLIENT;
}  // namespace

const std::vector<std::pair<uint8_t, uint8_t>>& MainChannel::offered_channels() {
  static const std::vector<std::pair<uint8_t, uint8_t>> list = {
      {SPICE_CHANNEL_DISPLAY, 0}, {SPICE_CHANNEL_INPUTS, 0}, {SPICE_CHANNEL_CURSOR, 0}};
  return list;
}

void MainChannel::on_start() {
  MainInit init;
  init.session_id = session_->id();
  init.supported_mouse_modes = kSupportedMouseModes;
  init.current_mouse_mode = session_->mouse_mode.load();
  // Our real clock, not spice-server's "now - 400 ms": video must not be held back.
  init.multi_media_time = monotonic_ms();
  send(SPICE_MSG_MAIN_INIT, main_init(init));
  if (client_has_cap(SPICE_MAIN_CAP_NAME_AND_UUID)) {
    send(SPICE_MSG_MAIN_NAME, main_name(ctx_.settings.server_name));
    std::array<uint8_t, 16> uuid{};
    std::random_device rd;
    for (auto& b : uuid) b = uint8_t(rd());
    uuid[6] = uint8_t((uuid[6] & 0x0F) | 0x40);  // version 4
    uuid[8] = uint8_t((uuid[8] & 0x3F) | 0x80);
    send(SPICE_MSG_MAIN_UUID, main_uuid(uuid));
  }
  last_mm_time_ = std::chrono::steady_clock::now();
  spdlog::info("{}: session started", tag());
}

void MainChannel::send_mouse_mode() {
  send(SPICE_MSG_MAIN_MOUSE_MODE, main_mouse_mode(uint16_t(kSupportedMouseModes), uint16_t(session_->mouse_mode.load())));
}

void MainChannel::on_message(uint16_t type, WireReader& body) {
  switch (type) {
    case SPICE_MSGC_MAIN_ATTACH_CHANNELS:
      send(SPICE_MSG_MAIN_CHANNELS_LIST, main_channels_list(offered_channels()));
      break;
    case SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST: {
      uint16_t mode = body.u16();
      if (mode == SPICE_MOUSE_MODE_SERVER || mode == SPICE_MOUSE_MODE_CLIENT) {
        session_->mouse_mode = mode;
        spdlog::debug("{}: mouse mode {}", tag(), mode == SPICE_MOUSE_MODE_CLIENT ? "client" : "server");
      } else {
        spdlog::warn("{}: client asked for unknown mouse mode {}", tag(), mode);
      }
      send_mouse_mode();
      break;
    }
    case SPICE_MSGC_MAIN_CLIENT_INFO:
    case SPICE_MSGC_MAIN_AGENT_START:
    case SPICE_MSGC_MAIN_AGENT_DATA:
    case SPICE_MSGC_MAIN_AGENT_TOKEN:
      break;  // no guest agent here
    default:
      spdlog::debug("{}: ignoring main message {}", tag(), type);
  }
}

void MainChannel::on_idle() {
  auto now = std::chrono::steady_clock::now();
  // Clocks drift: keep the client's multimedia clock on ours.
  if (now - last_mm_time_ >= ctx_.settings.mm_time_interval) {
    send(SPICE_MSG_MAIN_MULTI_MEDIA_TIME, main_multi_media_time(monotonic_ms()));
    last_mm_time_ = now;
  }
}

void MainChannel::on_stop() {
  // The main channel carries the session: when it goes, the client's other channels go too.
  session_->close_all();
  spdlog::info("{}: session ended", tag());
}

}  // namespace tessera::spice
