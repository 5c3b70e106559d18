#pragma once
// A minimal SPICE client for tests: raw connections for hostile input, linked channels, and a
// display client that applies DRAW_COPY (bitmap and LZ4) to its own copy of the surface so
// tests can compare what a client would show with the source frame.
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/frame.h"
#include "transport/spice/client_view.h"
#include "transport/spice/link.h"

namespace tessera::test {

// TLS for a test connection: the CA to check the server with, and an optional client certificate.
struct TlsClientOptions {
  std::string ca_file;
  std::string cert_file, key_file;
};

class RawConn {
 public:
  explicit RawConn(uint16_t port, const TlsClientOptions* tls = nullptr);
  RawConn(const RawConn&) = delete;
  ~RawConn();
  void send(std::span<const uint8_t> data);
  // Reads exactly n bytes; false on EOF, error or timeout.
  bool recv(void* buf, size_t n, int timeout_ms = 5000);
  // Drains whatever comes until the server closes; true if it closed within the timeout.
  bool wait_closed(int timeout_ms = 5000);
  void shutdown_write();
  void set_receive_buffer(int bytes);
  int fd() const { return fd_; }
  // Why the TLS handshake failed; empty when it succeeded or there is no TLS.
  const std::string& tls_error() const { return tls_error_; }
  bool tls() const { return ssl_ != nullptr; }

 private:
  int fd_ = -1;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*, SSL*: kept out of this header
  void* ssl_ = nullptr;
  std::string tls_error_;
};

struct LinkOutcome {
  uint32_t reply_error = 0xFFFFFFFF;  // from the link reply
  uint32_t auth_result = 0xFFFFFFFF;  // the u32 after the ticket
  std::string sasl_mechanisms;        // the list a SASL server offered
  spice::Caps common_caps, channel_caps;
  std::string tls_error;
  std::vector<uint8_t> public_key;  // the 162 bytes the link reply carried
  std::vector<uint8_t> sent;        // what the client sent (link message, mechanism, ticket): for replays
};

class ChannelClient {
 public:
  struct Message {
    uint16_t type = 0;
    std::vector<uint8_t> body;
  };
  // Links one channel and sends the ticket, or, when the server offers SASL, logs in with
  // SASL PLAIN as `sasl_user` with `password`; null unless the link succeeded.
  static std::unique_ptr<ChannelClient> open(uint16_t port, uint32_t connection_id, uint8_t type,
                                             const std::string& password, const spice::Caps& channel_caps,
                                             LinkOutcome* outcome = nullptr, const TlsClientOptions* tls = nullptr,
                                             const std::string& sasl_user = "");
  std::optional<Message> read(int timeout_ms = 5000);
  void write(uint16_t type, std::span<const uint8_t> body = {});
  RawConn& conn() { return conn_; }
  explicit ChannelClient(uint16_t port, const TlsClientOptions* tls = nullptr) : conn_(port, tls) {}

 private:
  RawConn conn_;
};

class DisplayClient {
  spice::ClientView view_;  // the picture: DRAW_COPY (bitmap, LZ4) and COPY_BITS applied

 public:
  struct Options {
    std::string password;
    bool lz4 = true;  // advertise LZ4_COMPRESSION
    std::optional<TlsClientOptions> tls;  // connect with TLS (to the TLS port)
    std::string sasl_user;                // for servers that offer SASL (PLAIN)
    int64_t cache_pixels = 20 << 20;      // the pixmap cache announced in DISPLAY_INIT (spice-gtk's)
  };
  DisplayClient(uint16_t port, Options opts);
  DisplayClient(uint16_t port) : DisplayClient(port, Options{}) {}
  ~DisplayClient();
  bool ok() const { return display_ != nullptr; }
  // Reads display messages on a background thread from now on.
  void start();
  // Waits until the predicate holds (checked under the surface lock) or the timeout passes.
  bool wait_until(const std::function<bool(const DisplayClient&)>& pred, int timeout_ms = 10000);

  // Read these only inside wait_until's predicate or after stop().
  const Frame& surface;
  bool surface_created = false;
  bool marked = false;
  bool monitors_config = false;
  uint64_t draws = 0, lz4_draws = 0, bitmap_draws = 0, palette_draws = 0, glz_draws = 0, cache_hits = 0, fills = 0,
           copies = 0;
  std::string error;
  uint32_t session_id = 0;

  void stop();
  ChannelClient* main() { return main_.get(); }

 private:
  void apply(const ChannelClient::Message& m);
  void loop();
  std::unique_ptr<ChannelClient> main_, display_;
  std::mutex mu_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  uint32_t ack_window_ = 0, ack_count_ = 0;
};

}  // namespace tessera::test
