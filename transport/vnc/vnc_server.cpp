#include "transport/vnc/vnc_server.h"

#include "core/log.h"

namespace tessera::vnc {

VncServer::VncServer(VncServerConfig config, FrameHub& hub, InputSink input)
    : config_(std::move(config)), hub_(hub), input_(std::move(input)) {
  config_.security.validate();
  guard_ = config_.guard ? config_.guard : std::make_shared<AuthGuard>(config_.limits);
  acceptor_ = std::make_unique<net::Acceptor>(
      "vnc", guard_, config_.max_connections,
      [this](std::unique_ptr<net::Socket> s, size_t, std::unique_ptr<AuthGuard::Slot> slot, net::Acceptor::Lease& l) {
        serve(std::move(s), std::move(slot), l);
      });
}

VncServer::~VncServer() { stop(); }

void VncServer::start() {
  int fd = net::listen_tcp(config_.listen_address, config_.port);
  port_ = net::local_port(fd);
  acceptor_->start({fd});
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

void VncServer::stop() { acceptor_->stop(); }

size_t VncServer::connection_count() const { return acceptor_->connection_count(); }

void VncServer::serve(std::unique_ptr<net::Socket> socket, std::unique_ptr<AuthGuard::Slot> slot,
                      net::Acceptor::Lease& lease) {
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
  lease.forget();  // from here on stop() no longer touches this socket
  conn.reset();
  socket.reset();
}

}  // namespace tessera::vnc
