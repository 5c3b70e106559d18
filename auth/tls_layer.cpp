#include "auth/tls_layer.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/log.h"

namespace tessera {

namespace {

// A socket BIO that sends with MSG_NOSIGNAL: a client that vanishes mid-write must not raise
// SIGPIPE in a process that may embed us.
struct BioState {
  int fd;
  bool eof = false;
};
BioState* bio_state(BIO* b) { return static_cast<BioState*>(BIO_get_data(b)); }
int bio_fd(BIO* b) { return bio_state(b)->fd; }

int bio_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t r = ::send(bio_fd(b), data, size_t(len), MSG_NOSIGNAL);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return int(r);
}

int bio_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t r = ::recv(bio_fd(b), data, size_t(len), 0);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
  // A reset is how some clients hang up: report it as the end of the stream.
  if (r < 0 && errno == ECONNRESET) r = 0;
  if (r == 0 && len > 0) bio_state(b)->eof = true;
  return int(r);
}

const BIO_METHOD* nosignal_socket_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "tessera socket");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    // Flush is all OpenSSL asks of a socket BIO here; the fd is set at creation.
    BIO_meth_set_ctrl(m, [](BIO* b, int cmd, long, void*) -> long {
      if (cmd == BIO_CTRL_FLUSH) return 1;
      if (cmd == BIO_CTRL_EOF) return bio_state(b)->eof ? 1 : 0;
      return 0;
    });
    BIO_meth_set_destroy(m, [](BIO* b) -> int {
      delete bio_state(b);
      BIO_set_data(b, nullptr);
      return 1;
    });
    return m;
  }();
  return method;
}

bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, int(left.count()));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

std::unique_ptr<TlsLayer> TlsLayer::accept(std::shared_ptr<const TlsContext> ctx, int fd,
                                           std::chrono::steady_clock::time_point deadline) {
  SSL* ssl = SSL_new(ctx->ctx());
  if (!ssl) throw SecureLayerError("TLS: cannot create a session: " + openssl_errors());
  std::unique_ptr<TlsLayer> layer(new TlsLayer(std::move(ctx), ssl));
  const BIO_METHOD* method = nosignal_socket_method();
  BIO* bio = method ? BIO_new(method) : nullptr;
  if (!bio) throw SecureLayerError("TLS: cannot create a socket BIO: " + openssl_errors());
  BIO_set_data(bio, new BioState{fd});
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);
  // A client that closes without close_notify has simply gone: not a TLS error.
  SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);

  for (;;) {
    ERR_clear_error();
    int r = SSL_accept(ssl);
    if (r == 1) break;
    int err = SSL_get_error(ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!wait_fd(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
        throw SecureLayerError("TLS handshake timed out", true);
      continue;
    }
    long verify = SSL_get_verify_result(ssl);
    const OpenSslErrors errors = take_openssl_errors();
    std::string why = errors.text;
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errors.reasons.empty()))
      throw SecureLayerError("client closed the connection during the TLS handshake (did it refuse our certificate?)");
    if (errors.has(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE))
      throw SecureLayerError("TLS handshake failed: the client sent no certificate (--tls-verify-client)", true);
    if (verify != X509_V_OK)
      throw SecureLayerError(fmt::format("TLS handshake failed: client certificate refused: {}",
                                         X509_verify_cert_error_string(verify)),
                             true);
    if (errors.has(SSL_R_WRONG_VERSION_NUMBER) || errors.has(SSL_R_HTTP_REQUEST) ||
        errors.has(SSL_R_PACKET_LENGTH_TOO_LONG))
      why += " (the client is not speaking TLS: a plain SPICE client on the TLS port?)";
    throw SecureLayerError("TLS handshake failed: " + (why.empty() ? std::string(std::strerror(errno)) : why));
  }
  return layer;
}

TlsLayer::~TlsLayer() {
  std::lock_guard lock(mu_);
  // One polite close_notify if the socket still takes it; never wait for the peer's.
  if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
  SSL_free(ssl_);
}

bool TlsLayer::pending() const {
  std::lock_guard lock(mu_);
  return SSL_pending(ssl_) > 0;
}

IoResult TlsLayer::result(int ret, size_t done, bool reading) {
  IoResult res;
  if (ret == 1) {
    res.bytes = done;
    return res;
  }
  int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ: res.wait = IoWait::Read; return res;
    case SSL_ERROR_WANT_WRITE: res.wait = IoWait::Write; return res;
    case SSL_ERROR_ZERO_RETURN: res.closed = true; return res;
    case SSL_ERROR_SYSCALL: {
      int e = errno;
      std::string why = openssl_errors("");
      if (reading && why.empty()) {
        res.closed = true;
        return res;
      }
      throw SecureLayerError(std::string("TLS ") + (reading ? "read" : "write") + " failed: " +
                             (why.empty() ? std::strerror(e) : why));
    }
    default:
      throw SecureLayerError(std::string("TLS ") + (reading ? "read" : "write") + " failed: " + openssl_errors());
  }
}

IoResult TlsLayer::read(uint8_t* buf, size_t n) {
  std::lock_guard lock(mu_);
  ERR_clear_error();
  size_t got = 0;
  int r = SSL_read_ex(ssl_, buf, n, &got);
  return result(r, got, true);
}

IoResult TlsLayer::write(const uint8_t* buf, size_t n) {
  std::lock_guard lock(mu_);
  ERR_clear_error();
  size_t put = 0;
  int r = SSL_write_ex(ssl_, buf, n, &put);
  return result(r, put, false);
}

std::string TlsLayer::describe() const {
  std::lock_guard lock(mu_);
  return fmt::format("{} {}", SSL_get_version(ssl_), SSL_get_cipher_name(ssl_));
}

unsigned TlsLayer::cipher_bits() const {
  std::lock_guard lock(mu_);
  return unsigned(SSL_get_cipher_bits(ssl_, nullptr));
}

std::string TlsLayer::peer_subject() const {
  std::lock_guard lock(mu_);
  X509* cert = SSL_get0_peer_certificate(ssl_);
  return cert ? x509_name_text(X509_get_subject_name(cert)) : std::string();
}

}  // namespace tessera
