#include "auth/tls_context.h"

#include <algorithm>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "core/log.h"

namespace tessera {

namespace {

// No TLS 1.2 session tickets either: a ticket holds the session's keys encrypted under one key
// for the whole process life, so one stolen ticket key would open every recorded session.
constexpr uint64_t kOptions =
    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET;


// Modern AEAD suites with forward secrecy for TLS 1.2; TLS 1.3 suites are all of that kind.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* s) const { X509_STORE_CTX_free(s); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// Never prompt for a pass phrase: an encrypted key is an error at start.
int no_passphrase(char*, int, int, void*) { return 0; }

std::string time_text(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "an unreadable date";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::unique_ptr<BIO, BioFree> open_file(const std::string& path, const std::string& role) {
  errno = 0;
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    ERR_clear_error();
    throw std::runtime_error(fmt::format("TLS: cannot read {} ({}): {}", path, role,
                                         errno ? std::strerror(errno) : "unknown error"));
  }
  return bio;
}

std::vector<X509Ptr> read_certs(const std::string& path, const std::string& role) {
  auto bio = open_file(path, role);
  std::vector<X509Ptr> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) certs.emplace_back(x);
  unsigned long err = ERR_peek_last_error();
  // The loop ends on "no start line" after the last certificate; anything else is damage.
  if (!(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) && err != 0) {
    std::string why = openssl_errors();
    throw std::runtime_error(fmt::format("TLS: {} ({}) holds a damaged PEM certificate: {}", path, role, why));
  }
  ERR_clear_error();
  if (certs.empty())
    throw std::runtime_error(fmt::format("TLS: {} ({}) contains no PEM certificate", path, role));
  return certs;
}

void check_dates(X509* x, const std::string& path, const std::string& role) {
  if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
    throw std::runtime_error(fmt::format("TLS: {} ({}) is not valid before {}", path, role,
                                         time_text(X509_get0_notBefore(x))));
  if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
    throw std::runtime_error(
        fmt::format("TLS: {} ({}) expired on {}", path, role, time_text(X509_get0_notAfter(x))));
}

}  // namespace

OpenSslErrors take_openssl_errors() {
  OpenSslErrors out;
  while (unsigned long e = ERR_get_error()) {
    out.reasons.push_back(ERR_GET_REASON(e));
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    // "error:0A000086:SSL routines::certificate verify failed" -> keep the readable tail.
    std::string s = buf;
    auto pos = s.rfind("::");
    if (pos != std::string::npos) s = s.substr(pos + 2);
    if (!out.text.empty()) out.text += "; ";
    out.text += s;
  }
  return out;
}

bool OpenSslErrors::has(int reason) const { return std::find(reasons.begin(), reasons.end(), reason) != reasons.end(); }

std::string openssl_errors(const std::string& fallback) {
  std::string text = take_openssl_errors().text;
  return text.empty() ? fallback : text;
}

std::string x509_name_text(const X509_NAME* name) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size_t(len));
}

std::shared_ptr<TlsContext> TlsContext::load(const TlsConfig& config, std::vector<std::string>* warnings) {
  auto warn = [&](std::string w) {
    if (warnings) warnings->push_back(std::move(w));
  };
  const std::string& dir = config.x509_dir;
  struct stat st {};
  if (dir.empty()) throw std::runtime_error("TLS: no x509 directory given (--x509-dir)");
  if (::stat(dir.c_str(), &st) != 0)
    throw std::runtime_error(fmt::format("TLS: x509 directory {}: {}", dir, std::strerror(errno)));
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error(fmt::format("TLS: {} is not a directory", dir));

  const std::string ca_path = dir + "/" + kCaFile, cert_path = dir + "/" + kCertFile,
                    key_path = dir + "/" + kKeyFile, crl_path = dir + "/" + kCrlFile;
  ERR_clear_error();

  // Server certificate (and any chain after it) and its key.
  auto chain = read_certs(cert_path, "server certificate");
  check_dates(chain.front().get(), cert_path, "server certificate");
  EVP_PKEY* raw_key = nullptr;
  {
    auto bio = open_file(key_path, "server private key");
    raw_key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  }
  std::unique_ptr<EVP_PKEY, KeyFree> key(raw_key);
  if (!key) {
    std::string why = openssl_errors();
    throw std::runtime_error(fmt::format(
        "TLS: {} (server private key) is not an unencrypted PEM private key: {}", key_path, why));
  }
  if (::stat(key_path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
    warn(fmt::format("TLS: {} can be read by other users; chmod 600 it", key_path));

  // CA: needed to check client certificates; otherwise used to check our own chain.
  std::vector<X509Ptr> cas;
  bool have_ca = file_exists(ca_path);
  if (have_ca) {
    cas = read_certs(ca_path, "CA certificate");
    for (auto& ca : cas) check_dates(ca.get(), ca_path, "CA certificate");
  } else if (config.verify_client) {
    throw std::runtime_error(
        fmt::format("TLS: {} is missing: --tls-verify-client needs the CA that signs client certificates", ca_path));
  }

  std::unique_ptr<X509_CRL, CrlFree> crl;
  if (file_exists(crl_path)) {
    auto bio = open_file(crl_path, "certificate revocation list");
    crl.reset(PEM_read_bio_X509_CRL(bio.get(), nullptr, no_passphrase, nullptr));
    if (!crl) {
      std::string why = openssl_errors();
      throw std::runtime_error(fmt::format("TLS: {} is not a PEM certificate revocation list: {}", crl_path, why));
    }
    if (!have_ca) throw std::runtime_error(fmt::format("TLS: {} needs {} to check it against", crl_path, ca_path));
    bool signed_by_ca = false;
    for (auto& ca : cas)
      if (X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.get())) == 1) signed_by_ca = true;
    ERR_clear_error();
    if (!signed_by_ca) throw std::runtime_error(fmt::format("TLS: {} is not signed by {}", crl_path, ca_path));
    const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
    if (next && X509_cmp_current_time(next) < 0) {
      std::string msg = fmt::format("TLS: {} expired on {} (its next update)", crl_path, time_text(next));
      if (config.verify_client)
        throw std::runtime_error(msg + ": every client certificate would be refused; publish a new CRL");
      warn(msg);
    }
    if (!config.verify_client) warn(fmt::format("TLS: {} is not used without --tls-verify-client", crl_path));
  }

  auto ctx = std::shared_ptr<TlsContext>(new TlsContext());
  SSL_CTX* c = SSL_CTX_new(TLS_server_method());
  if (!c) throw std::runtime_error("TLS: cannot create a context: " + openssl_errors());
  ctx->ctx_ = c;
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, kOptions);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1)
    throw std::runtime_error("TLS: cipher list refused: " + openssl_errors());
  // No TLS 1.3 session tickets: they arrive after the handshake, together with the first data,
  // and TigerVNC 1.12 then waits for data it has already read (half of its X509 connections hung).
  // TLS 1.2 tickets are off through kOptions.
  SSL_CTX_set_num_tickets(c, 0);
  static const unsigned char sid_ctx[] = "tessera";
  SSL_CTX_set_session_id_context(c, sid_ctx, sizeof sid_ctx - 1);

  if (SSL_CTX_use_certificate(c, chain.front().get()) != 1)
    throw std::runtime_error(fmt::format("TLS: {} cannot be used: {}", cert_path, openssl_errors()));
  for (size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    if (SSL_CTX_add_extra_chain_cert(c, chain[i].get()) != 1) {
      X509_free(chain[i].get());
      throw std::runtime_error(fmt::format("TLS: chain in {} cannot be used: {}", cert_path, openssl_errors()));
    }
  }
  if (SSL_CTX_use_PrivateKey(c, key.get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
    ERR_clear_error();
    throw std::runtime_error(fmt::format("TLS: {} does not match {} (the key belongs to another certificate)",
                                         key_path, cert_path));
  }

  // Our own chain against the CA: clients that trust only this CA would refuse a mismatch.
  if (have_ca) {
    std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
    for (auto& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
    std::unique_ptr<X509_STORE_CTX, StoreCtxFree> sctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(sctx.get(), store.get(), chain.front().get(), untrusted);
    if (X509_verify_cert(sctx.get()) != 1)
      warn(fmt::format("TLS: {} does not verify against {} ({}); clients that trust only that CA will refuse it",
                       cert_path, ca_path, X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx.get()))));
    sk_X509_free(untrusted);
    ERR_clear_error();
  }

  if (config.verify_client) {
    ctx->verify_client_ = true;
    if (SSL_CTX_load_verify_locations(c, ca_path.c_str(), nullptr) != 1)
      throw std::runtime_error(fmt::format("TLS: {} cannot be used to verify clients: {}", ca_path, openssl_errors()));
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_path.c_str())) SSL_CTX_set_client_CA_list(c, names);
    if (crl) {
      X509_STORE* store = SSL_CTX_get_cert_store(c);
      X509_STORE_add_crl(store, crl.get());
      X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }

  X509* leaf = chain.front().get();
  const ASN1_TIME* not_after = X509_get0_notAfter(leaf);
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, not_after) == 1 && days < 30)
    warn(fmt::format("TLS: {} expires in {} days ({})", cert_path, days, time_text(not_after)));
  ctx->summary_ = fmt::format("{}, valid until {}{}", x509_name_text(X509_get_subject_name(leaf)),
                              time_text(not_after),
                              config.verify_client ? fmt::format(", client certificates required{}",
                                                                 crl ? " (with CRL)" : "")
                                                   : "");
  return ctx;
}

std::shared_ptr<TlsContext> TlsContext::anonymous() {
  auto ctx = std::shared_ptr<TlsContext>(new TlsContext());
  SSL_CTX* c = SSL_CTX_new(TLS_server_method());
  if (!c) throw std::runtime_error("TLS: cannot create a context: " + openssl_errors());
  ctx->ctx_ = c;
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, kOptions);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // gtk-vnc offers only ANON-DH, TigerVNC and libvncclient also ANON-ECDH.
  if (SSL_CTX_set_cipher_list(c, "ADH-AES256-GCM-SHA384:ADH-AES128-GCM-SHA256:AECDH-AES256-SHA:AECDH-AES128-SHA:"
                                 "ADH-AES256-SHA256:ADH-AES128-SHA256:@SECLEVEL=0") != 1)
    throw std::runtime_error("TLS: anonymous cipher suites refused: " + openssl_errors());
  SSL_CTX_set_dh_auto(c, 1);
  ctx->summary_ = "anonymous Diffie-Hellman, TLS 1.2 (no server authentication)";
  return ctx;
}

TlsContext::~TlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);
}

}  // namespace tessera
