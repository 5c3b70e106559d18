#pragma once
// The VNC server: one port, the RFB handshake and security for every connection under the same
// link-stage limits as SPICE (a deadline, caps on unauthenticated connections, per-address
// backoff), then a VncConnection per client. A thread per connection, so a slow or hostile
// client only holds up itself.
#include <memory>

#include "auth/auth_guard.h"
#include "core/frame_hub.h"
#include "core/input_event.h"
#include "transport/net/acceptor.h"
#include "transport/vnc/vnc_connection.h"
#include "transport/vnc/vnc_security.h"

namespace tessera::vnc {

struct VncServerConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 5900;  // 0 picks a free port
  SecurityConfig security;
  VncSettings session;
  AuthLimits limits;
  std::shared_ptr<AuthGuard> guard;  // shared with the SPICE server; null: one of our own from `limits`
  std::chrono::milliseconds link_timeout{10000};
  size_t max_connections = 256;
};

class VncServer {
 public:
  VncServer(VncServerConfig config, FrameHub& hub, InputSink input);
  ~VncServer();
  void start();
  void stop();
  uint16_t port() const { return port_; }
  size_t connection_count() const;

 private:
  void serve(std::unique_ptr<net::Socket> socket, std::unique_ptr<AuthGuard::Slot> slot, net::Acceptor::Lease& lease);

  VncServerConfig config_;
  FrameHub& hub_;
  InputSink input_;
  std::shared_ptr<AuthGuard> guard_;
  uint16_t port_ = 0;
  std::unique_ptr<net::Acceptor> acceptor_;
};

}  // namespace tessera::vnc
