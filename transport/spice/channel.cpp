#include "transport/spice/channel.h"

#include <fmt/format.h>

#include "core/log.h"
#include "transport/spice/messages.h"

namespace tessera::spice {

bool Session::attach(const std::shared_ptr<Channel>& ch) {
  std::lock_guard lock(mu_);
  if (closed_) return false;
  std::erase_if(channels_, [](const std::weak_ptr<Channel>& w) { return w.expired(); });
  channels_.push_back(ch);
  return true;
}

void Session::close_all() {
  std::vector<std::shared_ptr<Channel>> chans;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& w : channels_)
      if (auto c = w.lock()) chans.push_back(c);
  }
  for (auto& c : chans) c->close();
}

Channel::Channel(ChannelContext& ctx, std::shared_ptr<Session> session, std::unique_ptr<Socket> socket,
                 LinkMessage link)
    : ctx_(ctx),
      session_(std::move(session)),
      socket_(std::move(socket)),
      link_(std::move(link)),
      mini_header_(has_cap(link_.common_caps, SPICE_COMMON_CAP_MINI_HEADER)) {}

Channel::~Channel() = default;

Caps Channel::server_channel_caps(uint8_t type) {
  Caps c;
  switch (type) {
    case SPICE_CHANNEL_MAIN:
      set_cap(c, SPICE_MAIN_CAP_NAME_AND_UUID);
      break;
    case SPICE_CHANNEL_DISPLAY:
      set_cap(c, SPICE_DISPLAY_CAP_MONITORS_CONFIG);
      set_cap(c, SPICE_DISPLAY_CAP_PREF_COMPRESSION);
      set_cap(c, SPICE_DISPLAY_CAP_STREAM_REPORT);
      set_cap(c, SPICE_DISPLAY_CAP_PREF_VIDEO_CODEC_TYPE);
      break;
    case SPICE_CHANNEL_INPUTS:
      set_cap(c, SPICE_INPUTS_CAP_KEY_SCANCODE);
      break;
    default:
      break;
  }
  return c;
}

std::string Channel::tag() const {
  return fmt::format("spice {} {} (session {:08x})", channel_name(link_.channel_type), socket_->peer(),
                     session_ ? session_->id() : 0);
}

void Channel::send(uint16_t type, std::span<const uint8_t> body) {
  if (closed_) throw ProtocolError("connection already closed");
  std::lock_guard lock(send_mu_);
  WireWriter h;
  if (mini_header_) {
    h.u16(type).u32(uint32_t(body.size()));
  } else {
    h.u64(++serial_).u16(type).u32(uint32_t(body.size())).u32(0);
  }
  socket_->write_all(h.buffer(), body);
  if (ack_enabled_) {
    std::lock_guard a(ack_mu_);
    ++unacked_;
    // Bounded: a client that never ACKs is waited for by the sender, not remembered forever.
    if (unacked_sent_.size() < 8u * ctx_.settings.ack_window) unacked_sent_.push_back(std::chrono::steady_clock::now());
  }
}

void Channel::close() {
  if (!closed_.exchange(true)) socket_->shutdown();
  ack_cv_.notify_all();
}

void Channel::enable_ack_window() {
  {
    std::lock_guard a(ack_mu_);
    ack_enabled_ = true;
    ++ack_generation_;
    unacked_sent_.clear();
  }
  send(SPICE_MSG_SET_ACK, set_ack(ack_generation_, ctx_.settings.ack_window));
}

bool Channel::wait_for_ack_window() {
  std::unique_lock a(ack_mu_);
  uint64_t limit = 2ull * ctx_.settings.ack_window;
  while (!closed_ && ack_enabled_ && unacked_ > limit) ack_cv_.wait_for(a, std::chrono::milliseconds(500));
  return !closed_;
}

void Channel::handle_common(uint16_t type, WireReader& body) {
  switch (type) {
    case SPICE_MSGC_ACK_SYNC: {
      std::lock_guard a(ack_mu_);
      client_generation_ = body.u32();
      break;
    }
    case SPICE_MSGC_ACK: {
      std::optional<std::chrono::nanoseconds> rtt;
      {
        std::lock_guard a(ack_mu_);
        if (client_generation_ == ack_generation_) {
          uint64_t w = ctx_.settings.ack_window;
          unacked_ = unacked_ > w ? unacked_ - w : 0;
          if (unacked_sent_.size() >= w) {
            rtt = std::chrono::steady_clock::now() - unacked_sent_[w - 1];
            unacked_sent_.erase(unacked_sent_.begin(), unacked_sent_.begin() + std::ptrdiff_t(w));
          } else {
            unacked_sent_.clear();
          }
          ack_cv_.notify_all();
        }
      }
      if (rtt) on_ack_round_trip(*rtt);
      break;
    }
    case SPICE_MSGC_PONG:
    case SPICE_MSGC_MIGRATE_FLUSH_MARK:
    case SPICE_MSGC_MIGRATE_DATA:
      break;
    case SPICE_MSGC_DISCONNECTING:
      spdlog::info("{}: client announced it is disconnecting", tag());
      break;
    default:
      spdlog::debug("{}: ignoring unknown message type {}", tag(), type);
  }
}

std::chrono::milliseconds Channel::ping_every() const {
  // Three PINGs fit in the timeout, however short it was set.
  auto every = ctx_.settings.ping_interval;
  if (ctx_.settings.peer_timeout.count() > 0) every = std::min(every, ctx_.settings.peer_timeout / 3);
  return every;
}

void Channel::keep_alive() {
  const auto now = std::chrono::steady_clock::now();
  const auto quiet = now - last_heard_;
  const auto timeout = ctx_.settings.peer_timeout;
  if (timeout.count() > 0 && quiet >= timeout)
    throw ProtocolError(fmt::format("nothing from the client for {} ms, not even a PONG: it is gone",
                                    std::chrono::duration_cast<std::chrono::milliseconds>(quiet).count()));
  const auto every = ping_every();
  if (quiet >= every && now - last_ping_ >= every) {
    send(SPICE_MSG_PING, ping(++ping_id_, uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                                                       now.time_since_epoch()).count())));
    last_ping_ = now;
  }
}

void Channel::read_loop() {
  const size_t header_bytes = mini_header_ ? kMiniHeaderBytes : kFullHeaderBytes;
  std::vector<uint8_t> header(header_bytes), body;
  const auto wait =
      std::min(std::chrono::milliseconds(1000), std::max(std::chrono::milliseconds(10), ping_every() / 2));
  last_heard_ = last_ping_ = std::chrono::steady_clock::now();
  while (!closed_) {
    if (!socket_->wait_readable(wait)) {
      on_idle();
      keep_alive();
      continue;
    }
    bool started;
    try {
      started = socket_->try_read_byte(header.data(), wait, "message header");
    } catch (const net::PeerClosedError&) {
      client_left_ = true;  // between messages: the client is done
      return;
    }
    if (!started) {
      on_idle();
      keep_alive();
      continue;
    }
    last_heard_ = std::chrono::steady_clock::now();
    socket_->read_exact(header.data() + 1, header_bytes - 1, ctx_.settings.message_timeout, "message header");
    auto [type, size] = parse_message_header(header, mini_header_, ctx_.settings.max_message_bytes);
    body.resize(size);
    if (size) socket_->read_exact(body.data(), size, ctx_.settings.message_timeout, "message body");
    WireReader r(body, "message body");
    if (type <= SPICE_MSG_BASE_LAST)
      handle_common(type, r);
    else
      on_message(type, r);
    if (!socket_->wait_readable(std::chrono::milliseconds(0))) on_drained();
  }
}

void Channel::run() {
  try {
    on_start();
    read_loop();
    if (client_left_ && !closed_) spdlog::info("{}: client disconnected", tag());
  } catch (const ProtocolError& e) {
    if (closed_)
      spdlog::debug("{}: closed", tag());
    else
      spdlog::warn("{}: {}; closing the connection", tag(), e.what());
  } catch (const std::exception& e) {
    spdlog::error("{}: internal error: {}; closing the connection", tag(), e.what());
  }
  close();
  on_stop();
}

}  // namespace tessera::spice
