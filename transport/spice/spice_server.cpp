#include "transport/spice/spice_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/printable.h"
#include "transport/spice/cursor_channel.h"
#include "transport/spice/display_channel.h"
#include "transport/spice/inputs_channel.h"
#include "transport/spice/main_channel.h"
#include "transport/spice/sasl_link.h"
#include "auth/sasl_auth.h"
#include "auth/tls_layer.h"

namespace tessera::spice {

using net::listen_tcp;
using net::local_port;

namespace {

Caps server_common_caps(bool sasl) {
  Caps c;
  set_cap(c, SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
  // Exactly one method: spice-gtk picks SASL whenever it is offered.
  set_cap(c, sasl ? SPICE_COMMON_CAP_AUTH_SASL : SPICE_COMMON_CAP_AUTH_SPICE);
  set_cap(c, SPICE_COMMON_CAP_MINI_HEADER);
  return c;
}


// Session ids are unguessable: they are what a client's other channels name to join it.
uint32_t new_session_id() {
  uint32_t id = 0;
  while (id == 0)
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id) != 1)
      throw std::runtime_error("no random bytes for a session id (RAND_bytes failed)");
  return id;
}

constexpr uint8_t kOfferedChannels[] = {SPICE_CHANNEL_MAIN, SPICE_CHANNEL_DISPLAY, SPICE_CHANNEL_INPUTS,
                                        SPICE_CHANNEL_CURSOR};

bool channel_offered(uint8_t type, uint8_t id) {
  return id == 0 && std::find(std::begin(kOfferedChannels), std::end(kOfferedChannels), type) != std::end(kOfferedChannels);
}

}  // namespace

struct SpiceServer::Pending {
  bool tls = false;
  Deadline deadline;
  std::chrono::steady_clock::time_point started;
  std::string auth;                // for the log: how this connection authenticated
  AuthGuard::Identity who;         // whose credentials were tried (for the failure count)
  std::string owner;               // the identity a session is tied to
  bool awaiting_ticket = false;    // holds a key made for it, has not sent a good ticket yet
  bool failure_counted = false;
  AuthGuard::Slot* slot = nullptr;  // un-watched once authenticated, before the socket changes hands
};

SpiceServer::SpiceServer(SpiceServerConfig config, FrameHub& hub, TicketPolicy policy, InputSink input)
    : config_(std::move(config)), policy_(std::move(policy)) {
  if (config_.sasl && policy_.enabled())
    throw std::invalid_argument("SPICE tickets and SASL cannot both be on: clients pick SASL whenever it is offered");
  if (config_.tls_port && !config_.tls) throw std::invalid_argument("a TLS port needs certificates (--x509-dir)");
  if (!config_.port && !config_.tls_port) throw std::invalid_argument("neither a plain nor a TLS port is enabled");
  if (config_.sasl && !SaslAuth::initialised()) throw std::invalid_argument("SASL is not set up");
  if (config_.require_client_certificate) {
    if (!config_.tls_port || !config_.tls || !config_.tls->verify_client())
      throw std::invalid_argument(
          "client certificates are required (--tls-verify-client), but SPICE has no TLS port that checks them: "
          "add --spice-tls-port, or turn SPICE off with --spice-port off and no --spice-tls-port");
    if (config_.port)
      for (uint8_t t : kOfferedChannels)
        if (!config_.secure_channels.count(t))
          throw std::invalid_argument(fmt::format(
              "client certificates are required (--tls-verify-client), but the plain SPICE port takes the {} "
              "channel without one: use --spice-port off or --secure-channels all",
              channel_name(t)));
  }
  guard_ = config_.guard ? config_.guard : std::make_shared<AuthGuard>(config_.limits);
  acceptor_ = std::make_unique<net::Acceptor>(
      "spice", guard_, config_.max_connections,
      [this](std::unique_ptr<Socket> s, size_t listener, std::unique_ptr<AuthGuard::Slot> slot,
             net::Acceptor::Lease& lease) { serve(std::move(s), listener == 1, std::move(slot), lease); });
  if (!config_.sasl && policy_.enabled()) keys_ = std::make_unique<TicketKeyPool>();
  if (!config_.sasl && !policy_.enabled()) open_key_ = TicketKey::generate();
  ctx_.settings = config_.channel;
  ctx_.hub = &hub;
  ctx_.input = std::move(input);
}

SpiceServer::~SpiceServer() { stop(); }

void SpiceServer::start() {
  std::string auth = config_.sasl ? "SASL" : policy_.enabled() ? "ticket authentication" : "no authentication";
  int plain_fd = -1, tls_fd = -1;  // listener 0 and 1
  if (config_.port) {
    plain_fd = listen_tcp(config_.listen_address, *config_.port);
    port_ = local_port(plain_fd);
  }
  if (config_.tls_port) {
    try {
      tls_fd = listen_tcp(config_.listen_address, *config_.tls_port);
    } catch (...) {
      if (plain_fd >= 0) ::close(plain_fd);
      throw;
    }
    tls_port_ = local_port(tls_fd);
  }
  acceptor_->start({plain_fd, tls_fd});
  auto mechs = [](bool tls) {
    std::string out;
    for (const auto& m : SaslAuth::mechanisms_for(tls)) out += (out.empty() ? "" : ",") + m;
    return out.empty() ? std::string("none") : out;
  };
  if (port_) {
    std::string secure;
    for (uint8_t t : config_.secure_channels) secure += std::string(secure.empty() ? "" : ",") + channel_name(t);
    spdlog::info("spice: listening on {}:{} (plain TCP; {}{}{})", config_.listen_address, port_, auth,
                 config_.sasl ? " with mechanisms " + mechs(false) : "",
                 secure.empty() ? "" : "; TLS required for " + secure);
  }
  if (tls_port_)
    spdlog::info("spice: listening on {}:{} (TLS: {}; {}{})", config_.listen_address, tls_port_,
                 config_.tls->summary(), auth, config_.sasl ? " with mechanisms " + mechs(true) : "");
}

void SpiceServer::stop() {
  if (stopping_.exchange(true)) return;
  acceptor_->stop();
  std::lock_guard lock(mu_);
  sessions_.clear();
}

size_t SpiceServer::connection_count() const { return acceptor_->connection_count(); }

size_t SpiceServer::session_count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

void SpiceServer::serve(std::unique_ptr<Socket> socket, bool tls, std::unique_ptr<AuthGuard::Slot> slot,
                        net::Acceptor::Lease& lease) {
  Socket* raw = socket.get();
  // link() may hand the socket to a channel that is gone by the time an error reaches the
  // handlers below: they use these copies, and write only for errors from before the handover.
  const std::string peer = raw->peer(), host = raw->peer_host();
  // Un-watched once authenticated (link()), before the socket can go.
  slot->watch([raw] { return raw->silent_for(); }, [raw] { raw->shutdown(); });
  std::shared_ptr<Channel> channel;
  Pending p;
  p.slot = slot.get();
  p.tls = tls;
  p.started = std::chrono::steady_clock::now();
  p.deadline = p.started + config_.link_timeout;
  // Counted before the client hears of it, so an instant retry already meets the count.
  auto count_failure = [&] {
    // Closed by us to make room: its silence was no guess at a password.
    if (p.failure_counted || slot->evicted()) return;
    p.failure_counted = true;
    guard_->failed(host, std::chrono::steady_clock::now(), p.who);
  };
  try {
    if (tls) socket->set_layer(TlsLayer::accept(config_.tls, socket->fd(), p.deadline));
    channel = link(socket, p);
  } catch (const LinkError& e) {
    spdlog::warn("spice {}: link refused ({}): {}", peer, link_error_name(e.code), e.what());
    try {
      raw->write_all(build_link_reply(e.code, {}, {}, {}));
    } catch (const ProtocolError&) {
    }
  } catch (const AuthFailure& e) {
    count_failure();
    spdlog::warn("spice {}: authentication failed: {}; closing the connection", peer, e.what());
    if (e.reply) {
      try {
        raw->write_all(WireWriter().u32(*e.reply).take());
      } catch (const ProtocolError&) {
      }
    }
  } catch (const SecureLayerError& e) {
    // A refused certificate or a stalled handshake counts; a peer that just hangs up at once (a
    // port scan, a health check, a client refusing our certificate) does not.
    if (e.counts_as_failure) count_failure();
    spdlog::warn("spice {}: {}; closing the connection", peer, e.what());
  } catch (const TimeoutError& e) {
    count_failure();
    spdlog::warn("spice {}: link failed: {}; closing the connection", peer, e.what());
  } catch (const ProtocolError& e) {
    // Hanging up on a key made for it: counted, or keys would be a free way to burn our CPU.
    if (p.awaiting_ticket) count_failure();
    spdlog::warn("spice {}: link failed: {}; closing the connection", peer, e.what());
  } catch (const std::exception& e) {
    spdlog::error("spice {}: internal error during link: {}", peer, e.what());
  }
  // A connection that held a link-stage slot for half the deadline without authenticating
  // counts however it ended: otherwise hanging up just before the deadline holds slots for free.
  if (!channel && !p.failure_counted && std::chrono::steady_clock::now() - p.started >= config_.link_timeout / 2) {
    count_failure();
    spdlog::warn("spice {}: spent {} ms in the link stage without authenticating: counted as a failed "
                 "authentication",
                 peer,
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - p.started)
                     .count());
  }
  slot.reset();  // authenticated or gone: no longer counts against the link-stage limits
  if (channel) channel->run();
  if (channel && channel->link().channel_type == SPICE_CHANNEL_MAIN) {
    std::lock_guard lock(mu_);
    sessions_.erase(channel->link().connection_id);  // a closed main channel takes its session out
  }
  lease.forget();  // from here on stop() no longer touches this socket
  channel.reset();
  socket.reset();
}

void SpiceServer::authenticate(Socket& socket, Pending& p, const LinkMessage& m, const TicketKey* key) {
  const char* name = channel_name(m.channel_type);
  bool selection = has_cap(m.common_caps, SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
  uint32_t mech = SPICE_COMMON_CAP_AUTH_SPICE;  // what a client without selection sends
  if (selection) {
    uint8_t mech_bytes[4];
    socket.read_exact(mech_bytes, 4, time_left(p.deadline), "auth mechanism");
    mech = WireReader(mech_bytes, "auth mechanism").u32();
  }
  uint32_t wanted = config_.sasl ? SPICE_COMMON_CAP_AUTH_SASL : SPICE_COMMON_CAP_AUTH_SPICE;
  if (mech != wanted) {
    socket.write_all(WireWriter().u32(SPICE_LINK_ERR_INVALID_DATA).take());
    throw ProtocolError(fmt::format("{} channel asked for auth mechanism {}{}, only {} is offered", name, mech,
                                    selection ? "" : " (it cannot choose)",
                                    config_.sasl ? "SASL (2)" : "SPICE tickets (1)"));
  }
  if (config_.sasl) {
    unsigned tls_bits = 0;
    if (auto* t = dynamic_cast<TlsLayer*>(socket.layer())) tls_bits = std::max(1u, t->cipher_bits());
    SaslAuth sasl("spice", sasl_address(socket.fd(), true), sasl_address(socket.fd(), false), tls_bits);
    SaslOutcome o;
    try {
      o = run_sasl_exchange(socket, sasl, p.deadline);
    } catch (const AuthFailure&) {
      if (auto claimed = sasl.claimed_user()) p.who = AuthGuard::user(*claimed);
      throw;
    }
    std::string user = o.authid.value_or(o.username);
    p.who = AuthGuard::user(user);
    p.owner = "SASL user " + user;
    p.auth = fmt::format("SASL {} as {}, {}", o.mechanism, printable(o.username),
                         p.tls ? std::string("no security layer (TLS)") : fmt::format("security layer SSF {}", o.ssf));
    return;
  }
  uint8_t ticket[TicketKey::kModulusBytes];
  socket.read_exact(ticket, sizeof ticket, time_left(p.deadline), "ticket");
  if (policy_.enabled()) p.who = AuthGuard::kSharedSecret;
  auto verdict = policy_.check(*key, ticket);
  if (verdict != TicketPolicy::Verdict::Accepted)
    throw AuthFailure(fmt::format("{} ({} channel)", TicketPolicy::describe(verdict), name),
                      SPICE_LINK_ERR_PERMISSION_DENIED);
  p.owner = policy_.enabled() ? "ticket" : "anyone";
  p.auth = policy_.enabled() ? "ticket" : "no authentication";
}

std::shared_ptr<Channel> SpiceServer::link(std::unique_ptr<Socket>& owned, Pending& p) {
  Socket& socket = *owned;
  uint8_t header[kLinkHeaderBytes];
  socket.read_exact(header, sizeof header, time_left(p.deadline), "link header");
  LinkHeader h = parse_link_header(header);
  std::vector<uint8_t> body(h.size);
  socket.read_exact(body.data(), body.size(), time_left(p.deadline), "link message");
  LinkMessage m = parse_link_message(body);

  const char* name = channel_name(m.channel_type);
  if (!channel_offered(m.channel_type, m.channel_id))
    throw LinkError(SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE,
                    fmt::format("channel {} ({}) id {} is not offered", m.channel_type, name, m.channel_id));
  if (!p.tls && config_.secure_channels.count(m.channel_type))
    throw LinkError(SPICE_LINK_ERR_NEED_SECURED,
                    fmt::format("the {} channel must use TLS (--secure-channels); the client should reconnect it "
                                "to the TLS port",
                                name));

  // A key of its own for every link: a ticket recorded on one connection decrypts on no other.
  std::optional<TicketKey> fresh;
  if (keys_) {
    Socket::Busy busy(socket);  // the client waits on us, not we on it
    fresh = keys_->take(p.deadline);
    if (!fresh) throw TimeoutError("no ticket key could be made before the link deadline (too many links at once)");
  }
  const TicketKey* key = fresh ? &*fresh : open_key_ ? &*open_key_ : nullptr;
  std::vector<uint8_t> no_key;
  socket.write_all(build_link_reply(SPICE_LINK_ERR_OK, key ? std::span<const uint8_t>(key->public_der()) : no_key,
                                    server_common_caps(config_.sasl), Channel::server_channel_caps(m.channel_type)));
  p.awaiting_ticket = fresh.has_value();
  authenticate(socket, p, m, key);
  p.awaiting_ticket = false;
  fresh.reset();
  // A verified client certificate is part of who the session belongs to.
  if (auto* t = dynamic_cast<TlsLayer*>(socket.layer()))
    if (std::string subject = t->peer_subject(); !subject.empty()) p.owner += " with client certificate " + subject;
  guard_->succeeded(socket.peer_host(), p.who);

  // Only an authenticated client learns whether a session id is live, and only its own.
  std::shared_ptr<Session> session;
  if (m.channel_type != SPICE_CHANNEL_MAIN) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(m.connection_id);
    if (it != sessions_.end()) session = it->second;
  }
  if (m.channel_type != SPICE_CHANNEL_MAIN && !session) {
    socket.write_all(WireWriter().u32(SPICE_LINK_ERR_BAD_CONNECTION_ID).take());
    throw ProtocolError(fmt::format("{} channel names session {:08x}, which does not exist", name, m.connection_id));
  }
  if (session && session->owner() != p.owner) {
    socket.write_all(WireWriter().u32(SPICE_LINK_ERR_BAD_CONNECTION_ID).take());
    throw ProtocolError(fmt::format("{} channel authenticated as {} names session {:08x} of {}; refused", name,
                                    printable(p.owner), m.connection_id, printable(session->owner())));
  }
  if (!session) {
    std::lock_guard lock(mu_);
    uint32_t id;
    do id = new_session_id();
    while (sessions_.count(id));
    session = std::make_shared<Session>(id, p.owner);
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
  // Authenticated: no longer a connection to evict, and the socket is about to change hands.
  if (p.slot) p.slot->watch({}, {});

  std::shared_ptr<Channel> ch;
  switch (m.channel_type) {
    case SPICE_CHANNEL_MAIN: ch = std::make_shared<MainChannel>(ctx_, session, std::move(owned), m); break;
    case SPICE_CHANNEL_DISPLAY: ch = std::make_shared<DisplayChannel>(ctx_, session, std::move(owned), m); break;
    case SPICE_CHANNEL_INPUTS: ch = std::make_shared<InputsChannel>(ctx_, session, std::move(owned), m); break;
    default: ch = std::make_shared<CursorChannel>(ctx_, session, std::move(owned), m); break;
  }
  if (!session->attach(ch)) ch->close();  // the session ended meanwhile: run() returns at once
  std::string transport = "plain TCP";
  if (auto* t = dynamic_cast<TlsLayer*>(ch->socket_layer())) {
    transport = "TLS (" + t->describe() + ")";
    if (std::string subject = t->peer_subject(); !subject.empty()) transport += ", client certificate " + subject;
  }
  auto level = m.channel_type == SPICE_CHANNEL_MAIN ? spdlog::level::info : spdlog::level::debug;
  spdlog::log(level, "{}: linked over {}; {}", ch->tag(), transport, p.auth);
  return ch;
}

}  // namespace tessera::spice
