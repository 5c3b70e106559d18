#include "transport/vnc/vnc_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace tessera::vnc {

VncServer::VncServer(VncServerConfig config, FrameHub& hub, InputSink input)
    : config_(std::move(config)), hub_(hub), input_(std::move(input)) {
  config_.security.validate();
  guard_ = config_.guard ? config_.guard : std::make_shared<AuthGuard>(config_.limits);
}

VncServer::~VncServer() { stop(); }

void VncServer::start() {
  listen_fd_ = net::listen_tcp(config_.listen_address, config_.port);
  port_ = net::local_port(listen_fd_);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  acceptor_ = std::thread([this] { accept_loop(); });
  std::string offer;
  for (Method m : config_.security.offer) offer += std::string(offer.empty() ? "" : ", ") + method_name(m);
  spdlog::info("vnc: listening on {}:{} (security: {})", config_.listen_address, port_, offer);
  for (Method m : config_.security.offer)
    if (is_anonymous_tls(m))
      spdlog::warn("vnc: {} is anonymous TLS: it encrypts, but clients cannot tell a man in the middle from us", method_name(m));
    else if (m == Method::VncAuth)
      spdlog::warn("vnc: VNC authentication without TLS: the DES challenge lets an eavesdropper guess the password "
                   "offline, and the session is not encrypted");
    else if (m == Method::None)
      spdlog::warn("vnc: security type None: anyone who reaches the port gets the desktop, unencrypted");
}

void VncServer::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_pipe_[1] >= 0) (void)!::write(wake_pipe_[1], "x", 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::unique_lock lock(mu_);
  for (net::Socket* s : sockets_) s->shutdown();
  idle_cv_.wait(lock, [&] { return threads_ == 0; });
  lock.unlock();
  for (int fd : {listen_fd_, wake_pipe_[0], wake_pipe_[1]})
    if (fd >= 0) ::close(fd);
  listen_fd_ = wake_pipe_[0] = wake_pipe_[1] = -1;
}

size_t VncServer::connection_count() const {
  std::lock_guard lock(mu_);
  return sockets_.size();
}

void VncServer::accept_loop() {
  while (!stopping_) {
    pollfd p[2] = {{wake_pipe_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) continue;
    if (p[0].revents) break;
    if (!(p[1].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        spdlog::warn("vnc: cannot accept a connection: {}; retrying in 100 ms", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;
    }
    auto sock = std::make_unique<net::Socket>(fd);
    std::string why, evicted;
    auto now = std::chrono::steady_clock::now();
    auto slot = guard_->admit(sock->peer_host(), now, &why, &evicted);
    if (!evicted.empty()) spdlog::warn("vnc: {} for {}", evicted, sock->peer());
    std::lock_guard lock(mu_);
    if (!slot || sockets_.size() >= config_.max_connections) {
      if (slot) why = fmt::format("{} connections open (limit)", sockets_.size());
      refusals_.note(fmt::format("refusing {}: {}", sock->peer(), why), now);
      continue;
    }
    net::Socket* raw = sock.get();
    sockets_.insert(raw);
    ++threads_;
    try {
      std::thread([this, s = std::move(sock), sl = std::move(slot)]() mutable { serve(std::move(s), std::move(sl)); })
          .detach();
    } catch (const std::system_error& e) {
      sockets_.erase(raw);
      --threads_;
      refusals_.note(fmt::format("cannot start a thread for a connection: {}", e.what()));
    }
  }
}

void VncServer::serve(std::unique_ptr<net::Socket> socket, std::unique_ptr<AuthGuard::Slot> slot) {
  net::Socket* raw = socket.get();
  // The connection takes the socket and may be gone by the time an error reaches the handlers
  // below: they use these copies.
  const std::string peer = raw->peer(), host = raw->peer_host();
  // Un-watched once authenticated, before the socket changes hands.
  slot->watch([raw] { return raw->silent_for(); }, [raw] { raw->shutdown(); });
  std::unique_ptr<VncConnection> conn;
  auto now = [] { return std::chrono::steady_clock::now(); };
  const auto started = now();
  bool counted = false;
  auto count_failure = [&](const AuthGuard::Identity& who) {
    // Closed by us to make room: its silence was no guess at a password.
    if (counted || slot->evicted()) return;
    counted = true;
    guard_->failed(host, now(), who);
  };
  try {
    HandshakeResult hs = run_security(*socket, config_.security, started + config_.link_timeout, count_failure);
    guard_->succeeded(host, hs.who);
    slot->watch({}, {});
    conn = std::make_unique<VncConnection>(config_.session, hub_, input_, std::move(socket), hs.minor, hs.auth);
  } catch (const AuthRefused& e) {
    count_failure(e.who);  // normally counted already, before the client was told
    spdlog::warn("vnc {}: authentication failed: {}; closing the connection", peer, e.what());
  } catch (const SecureLayerError& e) {
    if (e.counts_as_failure) count_failure(std::nullopt);
    spdlog::warn("vnc {}: {}; closing the connection", peer, e.what());
  } catch (const net::TimeoutError& e) {
    count_failure(std::nullopt);
    spdlog::warn("vnc {}: handshake failed: {}; closing the connection", peer, e.what());
  } catch (const net::ProtocolError& e) {
    spdlog::warn("vnc {}: handshake failed: {}; closing the connection", peer, e.what());
  } catch (const std::exception& e) {
    spdlog::error("vnc {}: internal error during the handshake: {}", peer, e.what());
  }
  // Half the deadline spent without authenticating counts however the connection ended, so that
  // hanging up just before the deadline does not hold link-stage slots for free.
  if (!conn && !counted && now() - started >= config_.link_timeout / 2) {
    count_failure(std::nullopt);
    spdlog::warn("vnc {}: spent {} ms in the handshake without authenticating: counted as a failed authentication",
                 peer, std::chrono::duration_cast<std::chrono::milliseconds>(now() - started).count());
  }
  slot.reset();
  if (conn) conn->run();
  {
    std::lock_guard lock(mu_);
    sockets_.erase(raw);
  }
  conn.reset();
  socket.reset();
  std::lock_guard lock(mu_);
  --threads_;
  idle_cv_.notify_all();
}

}  // namespace tessera::vnc
