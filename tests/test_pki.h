#pragma once
// A throwaway PKI for tests: a CA, a server certificate for localhost/127.0.0.1, a client
// certificate, a revoked client certificate, an unrelated CA, and the broken files that start-up
// checks must reject. EC P-256 keys: quick to make.
#include <string>

namespace tessera::test {

// Subject of the server certificate, in the order spice-gtk's host-subject check compares.
inline constexpr const char* kTestServerSubject = "C=XX,O=Tessera Test,CN=localhost";

enum class CertAge { Valid, Expired, NotYetValid };

// Writes into `dir` (created if missing): ca-cert.pem, ca-key.pem, server-cert.pem,
// server-key.pem, client-cert.pem, client-key.pem, revoked-client-cert.pem,
// revoked-client-key.pem, other-ca-cert.pem, other-ca-key.pem, other-client-cert.pem,
// other-client-key.pem (signed by the other CA). No CRL: see write_test_crl.
void write_test_pki(const std::string& dir);

// A server certificate (and key) of the given age, signed by dir's CA, as server-cert.pem and
// server-key.pem in `out_dir` (the CA is copied there too).
void write_server_cert(const std::string& dir, const std::string& out_dir, CertAge age);

// ca-crl.pem in `out_path` revoking revoked-client-cert.pem; signed by the CA of `dir` unless
// `by_other_ca`; `expired` puts its next update in the past.
void write_test_crl(const std::string& dir, const std::string& out_path, bool expired = false,
                    bool by_other_ca = false);

}  // namespace tessera::test
