#pragma once
// The server side of TLS: certificates and key from an x509 directory with the file names QEMU
// and libvirt use, checked when the server starts so that a bad file is an error then and not
// at the first client. TLS 1.2 or newer, forward-secret AEAD ciphers only, no renegotiation,
// no compression; optionally a client certificate signed by the CA (and not on its CRL).
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tessera {

struct TlsConfig {
  std::string x509_dir;        // ca-cert.pem, server-cert.pem, server-key.pem, optional ca-crl.pem
  bool verify_client = false;  // require a client certificate signed by ca-cert.pem
};

class TlsContext {
 public:
  static constexpr const char* kCaFile = "ca-cert.pem";
  static constexpr const char* kCertFile = "server-cert.pem";
  static constexpr const char* kKeyFile = "server-key.pem";
  static constexpr const char* kCrlFile = "ca-crl.pem";

  // Throws std::runtime_error naming the file and what is wrong with it. Problems that leave
  // the server usable (a group-readable key, a CRL past its next update) come back as warnings.
  static std::shared_ptr<TlsContext> load(const TlsConfig& config, std::vector<std::string>* warnings = nullptr);

  // Anonymous Diffie-Hellman, no certificate (VNC's TLS* sub-types): encrypts, but nobody is
  // authenticated, so a man in the middle goes unnoticed. TLS 1.2 at most (1.3 has no anonymous
  // key exchange) and security level 0, in a context of its own.
  static std::shared_ptr<TlsContext> anonymous();

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  bool verify_client() const { return verify_client_; }
  // "CN=localhost,O=..., valid until 2027-11-23 10:00:00 UTC" for the start-up log.
  const std::string& summary() const { return summary_; }

 private:
  TlsContext() = default;
  SSL_CTX* ctx_ = nullptr;
  bool verify_client_ = false;
  std::string summary_;
};

// The text of OpenSSL's error queue (emptied), or `fallback` when it is empty.
std::string openssl_errors(const std::string& fallback = "no detail from OpenSSL");
// The same, with each error's reason code (ERR_GET_REASON) for decisions: the text is only for
// the log. Empties OpenSSL's queue.
struct OpenSslErrors {
  std::string text;
  std::vector<int> reasons;
  bool has(int reason) const;
};
OpenSslErrors take_openssl_errors();
// RFC 2253 form of an X509 name, e.g. "CN=localhost,O=Tessera Test,C=XX".
std::string x509_name_text(const X509_NAME* name);

}  // namespace tessera
