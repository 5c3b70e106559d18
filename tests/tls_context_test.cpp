// TLS set-up at start: every bad certificate file is an error naming the file and the problem,
// before any client comes.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "auth/tls_context.h"
#include "tests/test_pki.h"

using namespace tessera;
using namespace tessera::test;
namespace fs = std::filesystem;

namespace {

class TlsContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root = (fs::temp_directory_path() / ("tessera-tls-test-" + std::to_string(::getpid()))).string();
    fs::remove_all(root);
    write_test_pki(root + "/pki");
  }
  static void TearDownTestSuite() { fs::remove_all(root); }

  // A fresh x509 dir holding the good CA, certificate and key.
  std::string good_dir(const std::string& name) {
    std::string d = root + "/" + name;
    fs::create_directories(d);
    for (const char* f : {"ca-cert.pem", "server-cert.pem", "server-key.pem"})
      fs::copy_file(root + "/pki/" + f, d + "/" + f, fs::copy_options::overwrite_existing);
    return d;
  }
  static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

  // load() must throw, with a message containing every needle.
  static void expect_error(const TlsConfig& cfg, std::initializer_list<std::string> needles) {
    try {
      TlsContext::load(cfg);
      ADD_FAILURE() << "loaded without error";
    } catch (const std::runtime_error& e) {
      for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
  }

  static inline std::string root;
};

TEST_F(TlsContextTest, GoodDirectoryLoads) {
  std::vector<std::string> warnings;
  auto ctx = TlsContext::load({good_dir("good"), false}, &warnings);
  ASSERT_TRUE(ctx);
  EXPECT_NE(ctx->summary().find("CN=localhost"), std::string::npos) << ctx->summary();
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  // TLS 1.2 is the floor.
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->ctx()), TLS1_2_VERSION);
}

TEST_F(TlsContextTest, MissingDirectoryOrFile) {
  expect_error({root + "/nowhere", false}, {"nowhere", "No such file"});
  std::string d = good_dir("nocert");
  fs::remove(d + "/server-cert.pem");
  expect_error({d, false}, {"server-cert.pem", "cannot read"});
  d = good_dir("nokey");
  fs::remove(d + "/server-key.pem");
  expect_error({d, false}, {"server-key.pem", "cannot read"});
}

TEST_F(TlsContextTest, GarbageAndDamagedCertificates) {
  std::string d = good_dir("garbage");
  write(d + "/server-cert.pem", "this is not a certificate\n");
  expect_error({d, false}, {"server-cert.pem", "contains no PEM certificate"});
  d = good_dir("damaged");
  write(d + "/server-cert.pem", "-----BEGIN CERTIFICATE-----\nMIIBnotbase64!!\n-----END CERTIFICATE-----\n");
  expect_error({d, false}, {"server-cert.pem", "damaged"});
  d = good_dir("badca");
  write(d + "/ca-cert.pem", "");
  expect_error({d, false}, {"ca-cert.pem", "no PEM certificate"});
}

TEST_F(TlsContextTest, KeyThatIsNotAKeyOrDoesNotMatch) {
  std::string d = good_dir("badkey");
  write(d + "/server-key.pem", "nonsense");
  expect_error({d, false}, {"server-key.pem", "not an unencrypted PEM private key"});
  d = good_dir("otherkey");
  fs::copy_file(root + "/pki/client-key.pem", d + "/server-key.pem", fs::copy_options::overwrite_existing);
  expect_error({d, false}, {"server-key.pem does not match", "server-cert.pem"});
}

TEST_F(TlsContextTest, ExpiredAndNotYetValidCertificates) {
  std::string d = root + "/expired";
  write_server_cert(root + "/pki", d, CertAge::Expired);
  expect_error({d, false}, {"server-cert.pem", "expired on"});
  d = root + "/future";
  write_server_cert(root + "/pki", d, CertAge::NotYetValid);
  expect_error({d, false}, {"server-cert.pem", "not valid before"});
}

TEST_F(TlsContextTest, ClientVerificationNeedsTheCa) {
  std::string d = good_dir("noca");
  fs::remove(d + "/ca-cert.pem");
  EXPECT_NO_THROW(TlsContext::load({d, false}));  // without client checks the CA is optional
  expect_error({d, true}, {"ca-cert.pem is missing", "--tls-verify-client"});
  auto ctx = TlsContext::load({good_dir("verify"), true});
  EXPECT_TRUE(ctx->verify_client());
  EXPECT_NE(SSL_CTX_get_verify_mode(ctx->ctx()) & SSL_VERIFY_FAIL_IF_NO_PEER_CERT, 0);
}

TEST_F(TlsContextTest, RevocationListChecks) {
  std::string d = good_dir("crl");
  write_test_crl(root + "/pki", d + "/ca-crl.pem");
  EXPECT_NE(TlsContext::load({d, true})->summary().find("with CRL"), std::string::npos);

  d = good_dir("crl-other");
  write_test_crl(root + "/pki", d + "/ca-crl.pem", false, true);
  expect_error({d, true}, {"ca-crl.pem is not signed by", "ca-cert.pem"});

  d = good_dir("crl-expired");
  write_test_crl(root + "/pki", d + "/ca-crl.pem", true);
  expect_error({d, true}, {"ca-crl.pem expired on", "every client certificate would be refused"});
  std::vector<std::string> warnings;
  EXPECT_NO_THROW(TlsContext::load({d, false}, &warnings));
  ASSERT_FALSE(warnings.empty());

  d = good_dir("crl-garbage");
  write(d + "/ca-crl.pem", "garbage");
  expect_error({d, true}, {"ca-crl.pem is not a PEM certificate revocation list"});
}

TEST_F(TlsContextTest, WarningsForAReadableKeyAndAForeignChain) {
  std::string d = good_dir("warn");
  ::chmod((d + "/server-key.pem").c_str(), 0644);
  fs::copy_file(root + "/pki/other-ca-cert.pem", d + "/ca-cert.pem", fs::copy_options::overwrite_existing);
  std::vector<std::string> warnings;
  ASSERT_NO_THROW(TlsContext::load({d, false}, &warnings));
  std::string all;
  for (auto& w : warnings) all += w + "\n";
  EXPECT_NE(all.find("chmod 600"), std::string::npos) << all;
  EXPECT_NE(all.find("does not verify against"), std::string::npos) << all;
}

}  // namespace

namespace {

// A TLS 1.2 handshake between `server_ctx` and a plain client over a socket pair; returns whether
// the client got a session ticket.
bool tls12_client_gets_a_ticket(SSL_CTX* server_ctx, const char* client_ciphers = nullptr) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return true;
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
  if (client_ciphers) SSL_CTX_set_cipher_list(cctx, client_ciphers);
  SSL* client = SSL_new(cctx);
  SSL_set_fd(client, fds[1]);
  SSL* server = SSL_new(server_ctx);
  SSL_set_fd(server, fds[0]);
  std::thread t([&] { SSL_accept(server); });
  int rc = SSL_connect(client);
  t.join();
  EXPECT_EQ(rc, 1) << "the handshake failed";
  SSL_SESSION* s = SSL_get_session(client);
  bool ticket = s && SSL_SESSION_has_ticket(s);
  SSL_free(client);
  SSL_free(server);
  SSL_CTX_free(cctx);
  ::close(fds[0]);
  ::close(fds[1]);
  return ticket;
}

}  // namespace

TEST_F(TlsContextTest, NoSessionTicketsInTls12Either) {
  auto ctx = TlsContext::load({good_dir("tickets"), false});
  EXPECT_FALSE(tls12_client_gets_a_ticket(ctx->ctx()));
  auto anon = TlsContext::anonymous();
  EXPECT_FALSE(tls12_client_gets_a_ticket(anon->ctx(), "ADH-AES256-GCM-SHA384:@SECLEVEL=0"));
}
