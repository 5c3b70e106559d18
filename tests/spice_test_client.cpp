#include "tests/spice_test_client.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

#include "auth/ticket_key.h"
#include "transport/spice/wire.h"

namespace tessera::test {

using namespace tessera::spice;

namespace {
SSL* ssl_of(void* p) { return static_cast<SSL*>(p); }
}  // namespace

RawConn::RawConn(uint16_t port, const TlsClientOptions* tls) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!tls) return;
  // OpenSSL writes with write(): a server that closes on us must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ssl_ctx_ = ctx;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!tls->ca_file.empty()) SSL_CTX_load_verify_locations(ctx, tls->ca_file.c_str(), nullptr);
  if (!tls->cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, tls->key_file.c_str(), SSL_FILETYPE_PEM);
  }
  SSL* ssl = SSL_new(ctx);
  ssl_ = ssl;
  SSL_set_fd(ssl, fd_);
  SSL_set1_host(ssl, "localhost");
  timeval tv{5, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (SSL_connect(ssl) != 1) {
    unsigned long e = ERR_get_error();
    char buf[256] = "handshake failed";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    tls_error_ = buf;
    ERR_clear_error();
  }
}

RawConn::~RawConn() {
  if (ssl_) SSL_free(ssl_of(ssl_));
  if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
  ::close(fd_);
}

void RawConn::send(std::span<const uint8_t> data) {
  size_t off = 0;
  if (ssl_) {
    // A refused handshake (TLS 1.3 reports it late) shows as a failed recv() afterwards.
    size_t put = 0;
    if (tls_error_.empty() && !data.empty() && SSL_write_ex(ssl_of(ssl_), data.data(), data.size(), &put) != 1) {
      tls_error_ = "TLS send failed";
      ERR_clear_error();
    }
    return;
  }
  while (off < data.size()) {
    ssize_t r = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (r <= 0) throw std::runtime_error("send failed");
    off += size_t(r);
  }
}

bool RawConn::recv(void* buf, size_t n, int timeout_ms) {
  auto* p = static_cast<uint8_t*>(buf);
  size_t got = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (got < n) {
    int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    pollfd pf{fd_, POLLIN, 0};
    bool buffered = ssl_ && SSL_pending(ssl_of(ssl_)) > 0;
    if (!buffered && (left <= 0 || ::poll(&pf, 1, left) <= 0)) return false;
    if (ssl_) {
      if (!tls_error_.empty()) return false;
      size_t k = 0;
      if (SSL_read_ex(ssl_of(ssl_), p + got, n - got, &k) != 1) {
        int err = SSL_get_error(ssl_of(ssl_), 0);
        if (err == SSL_ERROR_WANT_READ) continue;
        unsigned long e = ERR_get_error();
        if (e) {
          char b[256];
          ERR_error_string_n(e, b, sizeof b);
          tls_error_ = b;
        }
        ERR_clear_error();
        return false;
      }
      got += k;
      continue;
    }
    ssize_t r = ::recv(fd_, p + got, n - got, 0);
    if (r <= 0) return false;
    got += size_t(r);
  }
  return true;
}

bool RawConn::wait_closed(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  uint8_t buf[65536];
  while (true) {
    int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    pollfd pf{fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&pf, 1, left) <= 0) return false;
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r <= 0) return true;
  }
}

void RawConn::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

void RawConn::set_receive_buffer(int bytes) { setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }

std::unique_ptr<ChannelClient> ChannelClient::open(uint16_t port, uint32_t connection_id, uint8_t type,
                                                   const std::string& password, const Caps& channel_caps,
                                                   LinkOutcome* outcome, const TlsClientOptions* tls,
                                                   const std::string& sasl_user) {
  LinkOutcome local;
  LinkOutcome& out = outcome ? *outcome : local;
  auto c = std::make_unique<ChannelClient>(port, tls);
  if (!c->conn_.tls_error().empty()) {
    out.tls_error = c->conn_.tls_error();
    return nullptr;
  }
  Caps common;
  set_cap(common, SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
  set_cap(common, SPICE_COMMON_CAP_AUTH_SPICE);
  set_cap(common, SPICE_COMMON_CAP_MINI_HEADER);
  auto request = build_link_request(connection_id, type, 0, common, channel_caps);
  c->conn_.send(request);
  out.sent = request;
  uint8_t header[16];
  if (!c->conn_.recv(header, 16)) {
    out.tls_error = c->conn_.tls_error();
    return nullptr;
  }
  WireReader h(header, "reply header");
  h.u32();
  h.u32();
  h.u32();
  uint32_t size = h.u32();
  if (size < 178 || size > 4096) return nullptr;
  std::vector<uint8_t> reply(size);
  if (!c->conn_.recv(reply.data(), size)) return nullptr;
  WireReader r(reply, "reply");
  out.reply_error = r.u32();
  auto key = r.bytes(162);
  out.public_key.assign(key.begin(), key.end());
  uint32_t ncommon = r.u32(), nchannel = r.u32(), offset = r.u32();
  WireReader caps(std::span<const uint8_t>(reply).subspan(offset), "caps");
  for (uint32_t i = 0; i < ncommon; ++i) out.common_caps.push_back(caps.u32());
  for (uint32_t i = 0; i < nchannel; ++i) out.channel_caps.push_back(caps.u32());
  if (out.reply_error != SPICE_LINK_ERR_OK) return nullptr;
  uint8_t result[4];
  if (has_cap(out.common_caps, SPICE_COMMON_CAP_AUTH_SASL)) {
    c->conn_.send(WireWriter().u32(SPICE_COMMON_CAP_AUTH_SASL).take());
    uint8_t len[4];
    if (!c->conn_.recv(len, 4)) return nullptr;
    uint32_t n = WireReader(len, "mechlist length").u32();
    if (n > 300) return nullptr;
    out.sasl_mechanisms.resize(n);
    if (n && !c->conn_.recv(out.sasl_mechanisms.data(), n)) return nullptr;
    if (out.sasl_mechanisms.find(",PLAIN,") == std::string::npos) return nullptr;
    std::string resp = std::string(1, '\0') + sasl_user + std::string(1, '\0') + password;
    WireWriter w;
    w.u32(5).bytes(std::span(reinterpret_cast<const uint8_t*>("PLAIN"), 5));
    w.u32(uint32_t(resp.size() + 1)).bytes(std::span(reinterpret_cast<const uint8_t*>(resp.data()), resp.size())).u8(0);
    c->conn_.send(w.buffer());
    if (!c->conn_.recv(len, 4)) return nullptr;  // server data: none for PLAIN
    uint32_t k = WireReader(len, "server data length").u32();
    if (k > 4096) return nullptr;
    std::vector<uint8_t> skip(k + 1);  // + the "complete" byte
    if (!c->conn_.recv(skip.data(), skip.size())) return nullptr;
    if (!c->conn_.recv(result, 4) || WireReader(result, "sasl result").u32() != 0) return nullptr;
    if (!c->conn_.recv(result, 4)) return nullptr;
    out.auth_result = WireReader(result, "result").u32();
    if (out.auth_result != SPICE_LINK_ERR_OK) return nullptr;
    return c;
  }
  std::vector<uint8_t> plain(password.begin(), password.end());
  plain.push_back(0);
  auto ticket = TicketKey::encrypt_for(key, plain);
  auto mech = WireWriter().u32(SPICE_COMMON_CAP_AUTH_SPICE).take();
  c->conn_.send(mech);
  c->conn_.send(ticket);
  out.sent.insert(out.sent.end(), mech.begin(), mech.end());
  out.sent.insert(out.sent.end(), ticket.begin(), ticket.end());
  if (!c->conn_.recv(result, 4)) return nullptr;
  out.auth_result = WireReader(result, "result").u32();
  if (out.auth_result != SPICE_LINK_ERR_OK) return nullptr;
  return c;
}

std::optional<ChannelClient::Message> ChannelClient::read(int timeout_ms) {
  uint8_t h[6];
  if (!conn_.recv(h, 6, timeout_ms)) return std::nullopt;
  WireReader r(h, "header");
  Message m;
  m.type = r.u16();
  uint32_t size = r.u32();
  if (size > (256u << 20)) return std::nullopt;
  m.body.resize(size);
  if (size && !conn_.recv(m.body.data(), size, timeout_ms)) return std::nullopt;
  return m;
}

void ChannelClient::write(uint16_t type, std::span<const uint8_t> body) {
  WireWriter w;
  w.u16(type).u32(uint32_t(body.size())).bytes(body);
  conn_.send(w.buffer());
}

DisplayClient::DisplayClient(uint16_t port, Options opts) : surface(view_.surface()) {
  Caps main_caps;
  set_cap(main_caps, SPICE_MAIN_CAP_NAME_AND_UUID);
  const TlsClientOptions* tls = opts.tls ? &*opts.tls : nullptr;
  LinkOutcome main_outcome;
  main_ = ChannelClient::open(port, 0, SPICE_CHANNEL_MAIN, opts.password, main_caps, &main_outcome, tls,
                              opts.sasl_user);
  if (!main_) {
    error = "main channel link failed" + (main_outcome.tls_error.empty() ? "" : ": " + main_outcome.tls_error);
    return;
  }
  while (auto m = main_->read()) {
    if (m->type == SPICE_MSG_MAIN_INIT) {
      session_id = WireReader(m->body, "init").u32();
      break;
    }
  }
  if (!session_id) {
    error = "no MAIN_INIT";
    return;
  }
  main_->write(SPICE_MSGC_MAIN_ATTACH_CHANNELS);
  Caps display_caps;
  set_cap(display_caps, SPICE_DISPLAY_CAP_MONITORS_CONFIG);
  if (opts.lz4) set_cap(display_caps, SPICE_DISPLAY_CAP_LZ4_COMPRESSION);
  display_ = ChannelClient::open(port, session_id, SPICE_CHANNEL_DISPLAY, opts.password, display_caps, nullptr, tls,
                                 opts.sasl_user);
  if (!display_) {
    error = "display channel link failed";
    return;
  }
  // What spice-gtk sends first: cache sizes it will never be asked to use.
  display_->write(SPICE_MSGC_DISPLAY_INIT,
                  WireWriter().u8(1).u64(uint64_t(opts.cache_pixels)).u8(1).u32(1 << 20).take());
}

DisplayClient::~DisplayClient() { stop(); }

void DisplayClient::start() {
  if (!display_) return;
  thread_ = std::thread([this] { loop(); });
}

void DisplayClient::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool DisplayClient::wait_until(const std::function<bool(const DisplayClient&)>& pred, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu_);
      if (pred(*this)) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::lock_guard lock(mu_);
  return pred(*this);
}

void DisplayClient::loop() {
  while (!stop_) {
    // The main channel: PINGs answered, as real clients do (the server closes a silent client).
    if (main_) {
      pollfd mp{main_->conn().fd(), POLLIN, 0};
      if (::poll(&mp, 1, 0) > 0)
        if (auto mm = main_->read(1000); mm && mm->type == SPICE_MSG_PING) main_->write(SPICE_MSGC_PONG, mm->body);
    }
    auto m = display_->read(200);
    if (!m) {
      // A timeout is fine; a closed connection ends the loop.
      pollfd pf{display_->conn().fd(), POLLIN, 0};
      if (::poll(&pf, 1, 0) > 0) {
        char b;
        if (::recv(display_->conn().fd(), &b, 1, MSG_PEEK) <= 0) {
          std::lock_guard lock(mu_);
          error = "display connection closed";
          return;
        }
      }
      continue;
    }
    std::lock_guard lock(mu_);
    try {
      apply(*m);
    } catch (const std::exception& e) {
      error = e.what();
      return;
    }
    if (ack_window_ && ++ack_count_ % ack_window_ == 0) display_->write(SPICE_MSGC_ACK);
  }
}

void DisplayClient::apply(const ChannelClient::Message& m) {
  WireReader r(m.body, "display message");
  switch (m.type) {
    case SPICE_MSG_SET_ACK: {
      uint32_t gen = r.u32();
      ack_window_ = r.u32();
      ack_count_ = 0;
      display_->write(SPICE_MSGC_ACK_SYNC, WireWriter().u32(gen).take());
      return;  // SET_ACK itself is not counted
    }
    case SPICE_MSG_DISPLAY_MONITORS_CONFIG:
      monitors_config = true;
      return;
    case SPICE_MSG_PING:
      display_->write(SPICE_MSGC_PONG, m.body);
      return;
    case SPICE_MSG_DISPLAY_MARK:
      marked = true;
      return;
    case SPICE_MSG_DISPLAY_SURFACE_CREATE:
      marked = false;
      break;
    case SPICE_MSG_DISPLAY_INVAL_LIST:
    case SPICE_MSG_DISPLAY_INVAL_ALL_PIXMAPS:
      break;  // the pixmap cache (before any surface too)
    case SPICE_MSG_DISPLAY_COPY_BITS:
    case SPICE_MSG_DISPLAY_DRAW_COPY:
    case SPICE_MSG_DISPLAY_DRAW_FILL:
      if (!view_.has_surface()) throw std::runtime_error("drawing before SURFACE_CREATE");
      break;
    default:
      return;
  }
  view_.apply(m.type, m.body);
  surface_created = view_.has_surface();
  const auto& n = view_.counters();
  draws = n.draws, lz4_draws = n.lz4_draws, bitmap_draws = n.bitmap_draws, copies = n.copies;
  palette_draws = n.palette_draws, fills = n.fills, glz_draws = n.glz_draws, cache_hits = n.cache_hits;
}

}  // namespace tessera::test
