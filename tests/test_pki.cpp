#include "tests/test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

namespace tessera::test {

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

Key make_key() {
  Key k(EVP_EC_gen("P-256"));
  if (!k) throw std::runtime_error("test PKI: cannot make a key");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) throw std::runtime_error(std::string("test PKI: bad extension ") + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509_NAME* name_of(const std::string& org, const std::string& cn) {
  X509_NAME* n = X509_NAME_new();
  X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("XX"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return n;
}

enum class Role { Ca, Server, Client };

// Signed by (issuer, issuer_key), or self-signed when issuer is null.
Cert make_cert(EVP_PKEY* key, const std::string& org, const std::string& cn, Role role, X509* issuer,
               EVP_PKEY* issuer_key, long serial, CertAge age = CertAge::Valid) {
  Cert c(X509_new());
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial);
  long day = 24 * 3600;
  long from = age == CertAge::NotYetValid ? 10 * day : age == CertAge::Expired ? -20 * day : -day;
  long to = age == CertAge::Expired ? -10 * day : age == CertAge::NotYetValid ? 20 * day : 365 * day;
  X509_gmtime_adj(X509_getm_notBefore(c.get()), from);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), to);
  X509_set_pubkey(c.get(), key);
  X509_NAME* n = name_of(org, cn);
  X509_set_subject_name(c.get(), n);
  X509_NAME_free(n);
  X509* iss = issuer ? issuer : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(iss));
  add_ext(c.get(), iss, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(c.get(), iss, NID_authority_key_identifier, "keyid");
  switch (role) {
    case Role::Ca:
      add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
      add_ext(c.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
      break;
    case Role::Server:
      add_ext(c.get(), iss, NID_basic_constraints, "CA:FALSE");
      add_ext(c.get(), iss, NID_ext_key_usage, "serverAuth");
      add_ext(c.get(), iss, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
      break;
    case Role::Client:
      add_ext(c.get(), iss, NID_basic_constraints, "CA:FALSE");
      add_ext(c.get(), iss, NID_ext_key_usage, "clientAuth");
      break;
  }
  if (!X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256()))
    throw std::runtime_error("test PKI: cannot sign");
  return c;
}

void write_cert(const std::string& path, X509* c) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("test PKI: cannot write " + path);
  PEM_write_X509(f, c);
  std::fclose(f);
}

void write_key(const std::string& path, EVP_PKEY* k) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("test PKI: cannot write " + path);
  PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  ::chmod(path.c_str(), 0600);
}

Cert read_cert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) throw std::runtime_error("test PKI: cannot read " + path);
  Cert c(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!c) throw std::runtime_error("test PKI: no certificate in " + path);
  return c;
}

Key read_key(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) throw std::runtime_error("test PKI: cannot read " + path);
  Key k(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!k) throw std::runtime_error("test PKI: no key in " + path);
  return k;
}

}  // namespace

void write_test_pki(const std::string& dir) {
  std::filesystem::create_directories(dir);
  auto p = [&](const char* f) { return dir + "/" + f; };
  Key ca_key = make_key();
  Cert ca = make_cert(ca_key.get(), "Tessera Test", "Tessera Test CA", Role::Ca, nullptr, nullptr, 1);
  write_cert(p("ca-cert.pem"), ca.get());
  write_key(p("ca-key.pem"), ca_key.get());

  Key server_key = make_key();
  Cert server = make_cert(server_key.get(), "Tessera Test", "localhost", Role::Server, ca.get(), ca_key.get(), 2);
  write_cert(p("server-cert.pem"), server.get());
  write_key(p("server-key.pem"), server_key.get());

  Key client_key = make_key();
  Cert client = make_cert(client_key.get(), "Tessera Test", "tessera-test-client", Role::Client, ca.get(),
                          ca_key.get(), 3);
  write_cert(p("client-cert.pem"), client.get());
  write_key(p("client-key.pem"), client_key.get());

  Key revoked_key = make_key();
  Cert revoked = make_cert(revoked_key.get(), "Tessera Test", "tessera-revoked-client", Role::Client, ca.get(),
                           ca_key.get(), 4);
  write_cert(p("revoked-client-cert.pem"), revoked.get());
  write_key(p("revoked-client-key.pem"), revoked_key.get());

  Key other_key = make_key();
  Cert other = make_cert(other_key.get(), "Someone Else", "Unrelated CA", Role::Ca, nullptr, nullptr, 1);
  write_cert(p("other-ca-cert.pem"), other.get());
  write_key(p("other-ca-key.pem"), other_key.get());
  Key oc_key = make_key();
  Cert oc = make_cert(oc_key.get(), "Someone Else", "stranger", Role::Client, other.get(), other_key.get(), 2);
  write_cert(p("other-client-cert.pem"), oc.get());
  write_key(p("other-client-key.pem"), oc_key.get());
}

void write_server_cert(const std::string& dir, const std::string& out_dir, CertAge age) {
  std::filesystem::create_directories(out_dir);
  Cert ca = read_cert(dir + "/ca-cert.pem");
  Key ca_key = read_key(dir + "/ca-key.pem");
  Key key = make_key();
  Cert c = make_cert(key.get(), "Tessera Test", "localhost", Role::Server, ca.get(), ca_key.get(), 20, age);
  write_cert(out_dir + "/server-cert.pem", c.get());
  write_key(out_dir + "/server-key.pem", key.get());
  std::filesystem::copy_file(dir + "/ca-cert.pem", out_dir + "/ca-cert.pem",
                             std::filesystem::copy_options::overwrite_existing);
}

void write_test_crl(const std::string& dir, const std::string& out_path, bool expired, bool by_other_ca) {
  Cert ca = read_cert(dir + (by_other_ca ? "/other-ca-cert.pem" : "/ca-cert.pem"));
  Key ca_key = read_key(dir + (by_other_ca ? "/other-ca-key.pem" : "/ca-key.pem"));
  Cert revoked = read_cert(dir + "/revoked-client-cert.pem");
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca.get()));
  ASN1_TIME* t = ASN1_TIME_new();
  X509_gmtime_adj(t, expired ? -20L * 86400 : -3600);
  X509_CRL_set1_lastUpdate(crl, t);
  X509_gmtime_adj(t, expired ? -10L * 86400 : 30L * 86400);
  X509_CRL_set1_nextUpdate(crl, t);
  X509_REVOKED* r = X509_REVOKED_new();
  X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked.get()));
  X509_gmtime_adj(t, -600);
  X509_REVOKED_set_revocationDate(r, t);
  X509_CRL_add0_revoked(crl, r);
  ASN1_TIME_free(t);
  X509_CRL_sort(crl);
  X509_CRL_sign(crl, ca_key.get(), EVP_sha256());
  FILE* f = std::fopen(out_path.c_str(), "w");
  if (!f) throw std::runtime_error("test PKI: cannot write " + out_path);
  PEM_write_X509_CRL(f, crl);
  std::fclose(f);
  X509_CRL_free(crl);
}

}  // namespace tessera::test
