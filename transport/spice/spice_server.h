#pragma once
// The SPICE server: listens on a plain port, a TLS port or both, runs the link stage and
// authentication (ticket or SASL) for every connection, and hands linked connections to their
// channel. Each connection has its own thread, so a slow, stuck or hostile client only ever
// holds up itself; connections that have not authenticated yet are capped and bounded in time,
// and an address that keeps failing to authenticate is made to wait.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "auth/auth_guard.h"
#include "auth/ticket_key_pool.h"
#include "auth/ticket_policy.h"
#include "auth/tls_context.h"
#include "transport/net/acceptor.h"
#include "transport/spice/channel.h"

namespace tessera::spice {

struct SpiceServerConfig {
  std::string listen_address = "127.0.0.1";
  std::optional<uint16_t> port = 5930;  // plain TCP; 0 picks a free port (tests); nullopt: none
  std::optional<uint16_t> tls_port;     // needs `tls`
  std::shared_ptr<const TlsContext> tls;
  std::set<uint8_t> secure_channels;    // channel types refused (NEED_SECURED) on the plain port
  bool sasl = false;                    // SASL instead of tickets (SaslAuth::init first)
  // --tls-verify-client: the server refuses to start unless every way in checks a certificate.
  bool require_client_certificate = false;
  AuthLimits limits;
  std::shared_ptr<AuthGuard> guard;     // shared with the VNC server; null: one of our own from `limits`
  std::chrono::milliseconds link_timeout{10000};  // the whole link stage, TLS and SASL included
  std::chrono::milliseconds send_timeout{30000};
  size_t max_connections = 256;
  ChannelSettings channel;
};

class SpiceServer {
 public:
  SpiceServer(SpiceServerConfig config, FrameHub& hub, TicketPolicy policy, InputSink input);
  ~SpiceServer();

  // Binds the port and starts accepting; throws std::runtime_error if it cannot listen.
  void start();
  // Closes every connection and waits for their threads.
  void stop();
  uint16_t port() const { return port_; }          // 0 when there is no plain port
  uint16_t tls_port() const { return tls_port_; }  // 0 when there is no TLS port
  size_t connection_count() const;
  size_t session_count() const;

 private:
  struct Pending;  // one connection in the link stage
  void serve(std::unique_ptr<Socket> socket, bool tls, std::unique_ptr<AuthGuard::Slot> slot,
             net::Acceptor::Lease& lease);
  std::shared_ptr<Channel> link(std::unique_ptr<Socket>& socket, Pending& p);
  void authenticate(Socket& socket, Pending& p, const LinkMessage& m, const TicketKey* key);

  SpiceServerConfig config_;
  ChannelContext ctx_;
  std::unique_ptr<TicketKeyPool> keys_;  // a fresh key per link with tickets
  std::optional<TicketKey> open_key_;    // ticketing off: nothing is checked, one key serves
  TicketPolicy policy_;
  std::shared_ptr<AuthGuard> guard_;
  uint16_t port_ = 0, tls_port_ = 0;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;
  std::map<uint32_t, std::shared_ptr<Session>> sessions_;
  // Last: destroyed first, so its connections' threads end while what they use still exists.
  std::unique_ptr<net::Acceptor> acceptor_;
};

}  // namespace tessera::spice
