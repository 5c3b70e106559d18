#pragma once
// Cyrus SASL on the server side: the process-wide set-up (application name "tessera", so the
// operator's configuration is tessera.conf), one authentication per connection, and the
// security layer some mechanisms (DIGEST-MD5, GSSAPI) negotiate for connections without TLS.
//
// The rules: without TLS a mechanism must give a security layer of at least 56 bits and must
// not send a password in clear, so PLAIN, LOGIN and SCRAM are never offered there; over TLS,
// TLS is the security layer and any configured mechanism may run. Anonymous login never.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "auth/secure_layer.h"

typedef struct sasl_conn sasl_conn_t;

namespace tessera {

struct SaslConfig {
  std::string app_name = "tessera";
  std::string config_dir;  // holds <app_name>.conf; empty: SASL_CONF_PATH or Cyrus's default
};

// Authentication failed or the exchange broke; the text is safe to log (it never holds a secret).
struct SaslError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class SaslAuth {
 public:
  static constexpr unsigned kMinSsfWithoutTls = 56;  // DES strength, what spice-gtk demands
  static constexpr unsigned kMaxBufSize = 8192;      // largest security-layer packet we accept

  // Once per process, before any connection. Throws SaslError when Cyrus cannot start or the
  // configuration file is missing from config_dir. Later calls must name the same set-up.
  static void init(const SaslConfig& config);
  static bool initialised();
  // Mechanisms a connection would be offered, without and with TLS (for the start-up log).
  static std::vector<std::string> mechanisms_for(bool tls);

  // `service` is the protocol's SASL service name ("spice", "vnc"). Addresses are "ip;port".
  // `tls_ssf` is the TLS cipher strength, 0 when the connection has no TLS.
  SaslAuth(const std::string& service, const std::string& local_addr, const std::string& remote_addr,
           unsigned tls_ssf);
  ~SaslAuth();
  SaslAuth(const SaslAuth&) = delete;
  SaslAuth& operator=(const SaslAuth&) = delete;

  const std::vector<std::string>& mechanisms() const { return mechanisms_; }
  bool offers(const std::string& mech) const;

  struct Step {
    bool done = false;
    std::optional<std::string> out;  // nullopt: no data (distinct from an empty string)
  };
  // Throw SaslError on failure (wrong password, unknown user, a broken exchange).
  Step start(const std::string& mech, const std::optional<std::string>& in);
  Step step(const std::optional<std::string>& in);

  // A user name and password checked against the configured password store (sasldb, saslauthd):
  // for protocols that carry a password inside TLS (VNC's Plain sub-types).
  bool check_password(const std::string& user, const std::string& password);

  // After `done`: the negotiated security layer strength and who logged in.
  unsigned ssf() const;
  std::string username() const;
  // The authentication id the client gave, also after a failure; nullopt before the mechanism
  // read one (GSSAPI fails before it knows anyone). Unauthenticated input: escape it to log it.
  std::optional<std::string> claimed_user() const;
  const std::string& mechanism() const { return mech_; }
  // Throws SaslError when a connection without TLS got a weaker layer than it must.
  void check_strength() const;
  // The security layer over `fd` (non-blocking), taking over this connection's SASL state;
  // null when no layer was negotiated (over TLS).
  std::unique_ptr<SecureLayer> make_layer(int fd);

 private:
  Step finish(int rc, const char* out, unsigned outlen, const char* what);
  sasl_conn_t* conn_ = nullptr;
  unsigned tls_ssf_ = 0;
  std::string mech_;
  std::vector<std::string> mechanisms_;
};

// "ip;port" for SASL, of the local or remote end of a connected socket.
std::string sasl_address(int fd, bool local);

}  // namespace tessera
