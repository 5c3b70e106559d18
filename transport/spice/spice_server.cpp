#include "transport/spice/spice_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "core/log.h"
#include "transport/spice/cursor_channel.h"
#include "transport/spice/display_channel.h"
#include "transport/spice/inputs_channel.h"
#include "transport/spice/main_channel.h"

namespace tessera::spice {

namespace {

Caps server_common_caps() {
  Caps c;
  set_cap(c, SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
  set_cap(c, SPICE_COMMON_CAP_AUTH_SPICE);
  set_cap(c, SPICE_COMMON_CAP_MINI_HEADER);
  return c;
}

bool channel_offered(uint8_t type, uint8_t id) {
  if (id != 0) return false;
  return type == SPICE_CHANNEL_MAIN || type == SPICE_CHANNEL_DISPLAY || type == SPICE_CHANNEL_INPUTS ||
         type == SPICE_CHANNEL_CURSOR;
}

uint32_t new_session_id() {
  static std::mt19937 rng{std::random_device{}()};
  static std::mutex mu;
  std::lock_guard lock(mu);
  uint32_t id;
  do id = uint32_t(rng());
  while (id == 0);
  return id;
}

}  // namespace

SpiceServer::SpiceServer(SpiceServerConfig config, FrameHub& hub, TicketPolicy policy, InputSink input)
    : config_(std::move(config)), key_(TicketKey::generate()), policy_(std::move(policy)) {
  ctx_.settings = config_.channel;
  ctx_.hub = &hub;
  ctx_.input = std::move(input);
}

SpiceServer::~SpiceServer() { stop(); }

void SpiceServer::start() {
  listen_fd_ = listen_tcp(config_.listen_address, config_.port);
  port_ = local_port(listen_fd_);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  acceptor_ = std::thread([this] { accept_loop(); });
  spdlog::info("spice: listening on {}:{} ({})", config_.listen_address, port_,
               policy_.enabled() ? "ticket authentication" : "no authentication");
}

void SpiceServer::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_pipe_[1] >= 0) (void)!::write(wake_pipe_[1], "x", 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::unique_lock lock(mu_);
  for (Socket* s : sockets_) s->shutdown();
  idle_cv_.wait(lock, [&] { return threads_ == 0; });
  sessions_.clear();
  lock.unlock();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : wake_pipe_)
    if (fd >= 0) ::close(fd);
  listen_fd_ = wake_pipe_[0] = wake_pipe_[1] = -1;
}

size_t SpiceServer::connection_count() const {
  std::lock_guard lock(mu_);
  return sockets_.size();
}

size_t SpiceServer::session_count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

void SpiceServer::accept_loop() {
  while (!stopping_) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) continue;
    if (p[1].revents) break;
    if (!(p[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors or memory: the listening socket stays readable, so pause, not spin.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        spdlog::warn("spice: cannot accept a connection: {}; retrying in 100 ms", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;
    }
    auto sock = std::make_unique<Socket>(fd);
    std::lock_guard lock(mu_);
    if (sockets_.size() >= config_.max_connections) {
      spdlog::warn("spice: refusing {}: {} connections open (limit)", sock->peer(), sockets_.size());
      continue;
    }
    sockets_.insert(sock.get());
    ++threads_;
    std::thread([this, s = std::move(sock)]() mutable { serve(std::move(s)); }).detach();
  }
}

void SpiceServer::serve(std::unique_ptr<Socket> socket) {
  Socket* raw = socket.get();
  std::shared_ptr<Channel> channel;
  try {
    channel = link(socket);
  } catch (const LinkError& e) {
    spdlog::warn("spice {}: link refused ({}): {}", raw->peer(), link_error_name(e.code), e.what());
    try {
      raw->write_all(build_link_reply(e.code, {}, {}, {}));
    } catch (const ProtocolError&) {
    }
  } catch (const ProtocolError& e) {
    spdlog::warn("spice {}: link failed: {}; closing the connection", raw->peer(), e.what());
  } catch (const std::exception& e) {
    spdlog::error("spice {}: internal error during link: {}", raw->peer(), e.what());
  }
  if (channel) channel->run();
  {
    std::lock_guard lock(mu_);
    // A closed main channel takes its session out of the table.
    if (channel && channel->link().channel_type == SPICE_CHANNEL_MAIN) sessions_.erase(channel->link().connection_id);
    sockets_.erase(raw);  // from here on stop() no longer touches this socket
  }
  channel.reset();
  socket.reset();
  std::lock_guard lock(mu_);
  --threads_;
  idle_cv_.notify_all();
}

std::shared_ptr<Channel> SpiceServer::link(std::unique_ptr<Socket>& owned) {
  Socket& socket = *owned;
  uint8_t header[kLinkHeaderBytes];
  socket.read_exact(header, sizeof header, config_.link_timeout, "link header");
  LinkHeader h = parse_link_header(header);
  std::vector<uint8_t> body(h.size);
  socket.read_exact(body.data(), body.size(), config_.link_timeout, "link message");
  LinkMessage m = parse_link_message(body);

  const char* name = channel_name(m.channel_type);
  if (!channel_offered(m.channel_type, m.channel_id))
    throw LinkError(SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE,
                    fmt::format("channel {} ({}) id {} is not offered", m.channel_type, name, m.channel_id));

  std::shared_ptr<Session> session;
  if (m.channel_type != SPICE_CHANNEL_MAIN) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(m.connection_id);
    if (it == sessions_.end())
      throw LinkError(SPICE_LINK_ERR_BAD_CONNECTION_ID,
                      fmt::format("{} channel names session {:08x}, which does not exist", name, m.connection_id));
    session = it->second;
  }

  socket.write_all(build_link_reply(SPICE_LINK_ERR_OK, key_.public_der(), server_common_caps(),
                                    Channel::server_channel_caps(m.channel_type)));

  if (has_cap(m.common_caps, SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION)) {
    uint8_t mech_bytes[4];
    socket.read_exact(mech_bytes, 4, config_.link_timeout, "auth mechanism");
    uint32_t mech = WireReader(mech_bytes, "auth mechanism").u32();
    if (mech != SPICE_COMMON_CAP_AUTH_SPICE) {
      socket.write_all(WireWriter().u32(SPICE_LINK_ERR_INVALID_DATA).take());
      throw ProtocolError(fmt::format("{} channel asked for auth mechanism {}, only SPICE tickets (1) are offered",
                                      name, mech));
    }
  }
  uint8_t ticket[TicketKey::kModulusBytes];
  socket.read_exact(ticket, sizeof ticket, config_.link_timeout, "ticket");
  auto verdict = policy_.check(key_, ticket);
  if (verdict != TicketPolicy::Verdict::Accepted) {
    socket.write_all(WireWriter().u32(SPICE_LINK_ERR_PERMISSION_DENIED).take());
    throw ProtocolError(fmt::format("{} channel: authentication failed: {}", name, TicketPolicy::describe(verdict)));
  }

  if (!session) {
    std::lock_guard lock(mu_);
    uint32_t id;
    do id = new_session_id();
    while (sessions_.count(id));
    session = std::make_shared<Session>(id);
    sessions_[id] = session;
    m.connection_id = id;
  }
  try {
    socket.write_all(WireWriter().u32(SPICE_LINK_ERR_OK).take());
  } catch (const ProtocolError&) {
    // The session was never started: take it out again.
    if (m.channel_type == SPICE_CHANNEL_MAIN) {
      std::lock_guard lock(mu_);
      sessions_.erase(m.connection_id);
    }
    throw;
  }
  socket.set_send_timeout(config_.send_timeout);

  std::shared_ptr<Channel> ch;
  switch (m.channel_type) {
    case SPICE_CHANNEL_MAIN: ch = std::make_shared<MainChannel>(ctx_, session, std::move(owned), m); break;
    case SPICE_CHANNEL_DISPLAY: ch = std::make_shared<DisplayChannel>(ctx_, session, std::move(owned), m); break;
    case SPICE_CHANNEL_INPUTS: ch = std::make_shared<InputsChannel>(ctx_, session, std::move(owned), m); break;
    default: ch = std::make_shared<CursorChannel>(ctx_, session, std::move(owned), m); break;
  }
  if (!session->attach(ch)) ch->close();  // the session ended meanwhile: run() returns at once
  spdlog::debug("{}: linked", ch->tag());
  return ch;
}

}  // namespace tessera::spice
