#include "auth/sasl_auth.h"

#include <netdb.h>
#include <sasl/sasl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/log.h"
#include "core/printable.h"

namespace tessera {

namespace {

std::mutex g_init_mu;
bool g_initialised = false;
SaslConfig g_config;

// Cyrus's own log lines go to ours. SASL_LOG_PASS is the level Cyrus uses for lines that may
// hold a password: those are never written.
int log_callback(void*, int level, const char* message) {
  if (!message) return SASL_OK;
  // Cyrus quotes what clients sent (user names, realms): escaped like any peer text.
  const std::string m = printable(message, 512);
  switch (level) {
    case SASL_LOG_ERR: spdlog::error("sasl: {}", m); break;
    case SASL_LOG_FAIL: spdlog::info("sasl: {}", m); break;
    case SASL_LOG_WARN: spdlog::warn("sasl: {}", m); break;
    case SASL_LOG_NOTE: spdlog::info("sasl: {}", m); break;
    case SASL_LOG_DEBUG: spdlog::debug("sasl: {}", m); break;
    case SASL_LOG_TRACE: spdlog::trace("sasl: {}", m); break;
    default: break;
  }
  return SASL_OK;
}

int confpath_callback(void*, const char** path) {
  *path = g_config.config_dir.c_str();
  return SASL_OK;
}

using CbFn = int (*)();
sasl_callback_t g_callbacks_with_dir[] = {
    {SASL_CB_LOG, reinterpret_cast<CbFn>(reinterpret_cast<void*>(&log_callback)), nullptr},
    {SASL_CB_GETCONFPATH, reinterpret_cast<CbFn>(reinterpret_cast<void*>(&confpath_callback)), nullptr},
    {SASL_CB_LIST_END, nullptr, nullptr}};
sasl_callback_t g_callbacks[] = {
    {SASL_CB_LOG, reinterpret_cast<CbFn>(reinterpret_cast<void*>(&log_callback)), nullptr},
    {SASL_CB_LIST_END, nullptr, nullptr}};

std::string errstring(int rc) { return sasl_errstring(rc, nullptr, nullptr); }

// The SASL security layer over a non-blocking socket. Cyrus keeps separate state for the two
// directions, but both live in one sasl_conn_t, so encode and decode take turns.
class SaslLayer : public SecureLayer {
 public:
  SaslLayer(sasl_conn_t* conn, int fd, std::string mech, unsigned ssf) : conn_(conn), fd_(fd), mech_(std::move(mech)), ssf_(ssf) {
    const void* val = nullptr;
    if (sasl_getprop(conn_, SASL_MAXOUTBUF, &val) == SASL_OK && val) maxout_ = *static_cast<const unsigned*>(val);
    if (maxout_ == 0 || maxout_ > (1u << 20)) maxout_ = 4096;
  }
  ~SaslLayer() override { sasl_dispose(&conn_); }

  bool pending() const override { return decoded_pos_ < decoded_.size(); }

  IoResult read(uint8_t* buf, size_t n) override {
    for (;;) {
      if (decoded_pos_ < decoded_.size()) {
        size_t k = std::min(n, decoded_.size() - decoded_pos_);
        std::memcpy(buf, decoded_.data() + decoded_pos_, k);
        decoded_pos_ += k;
        return IoResult{k, false, IoWait::None};
      }
      uint8_t raw[8192];
      IoResult r = io_result_from_errno(::recv(fd_, raw, sizeof raw, 0), true);
      if (r.bytes == 0) return r;
      std::lock_guard lock(mu_);
      const char* out = nullptr;
      unsigned outlen = 0;
      int rc = sasl_decode(conn_, reinterpret_cast<const char*>(raw), unsigned(r.bytes), &out, &outlen);
      if (rc != SASL_OK)
        throw SecureLayerError(fmt::format("SASL security layer: undecodable data from the client: {}",
                                           sasl_errdetail(conn_)));
      decoded_.assign(out, out + outlen);  // may be empty: a packet is not complete yet
      decoded_pos_ = 0;
    }
  }

  IoResult write(const uint8_t* buf, size_t n) override {
    if (IoWait w = flush(); w != IoWait::None) return IoResult{0, false, w};
    size_t chunk = std::min<size_t>(n, maxout_);
    {
      std::lock_guard lock(mu_);
      const char* out = nullptr;
      unsigned outlen = 0;
      int rc = sasl_encode(conn_, reinterpret_cast<const char*>(buf), unsigned(chunk), &out, &outlen);
      if (rc != SASL_OK)
        throw SecureLayerError(fmt::format("SASL security layer: cannot encode: {}", sasl_errdetail(conn_)));
      out_.assign(out, out + outlen);
      out_pos_ = 0;
    }
    return IoResult{chunk, false, flush()};
  }

  IoWait flush() override {
    while (out_pos_ < out_.size()) {
      IoResult r = io_result_from_errno(::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL), false);
      if (r.wait != IoWait::None) return r.wait;
      out_pos_ += r.bytes;
    }
    return IoWait::None;
  }

  std::string describe() const override { return fmt::format("SASL {} security layer, SSF {}", mech_, ssf_); }

 private:
  sasl_conn_t* conn_;
  int fd_;
  std::string mech_;
  unsigned ssf_;
  unsigned maxout_ = 4096;
  std::mutex mu_;
  std::vector<uint8_t> decoded_;  // reader only
  size_t decoded_pos_ = 0;
  std::vector<uint8_t> out_;  // writer only (the socket serialises writers)
  size_t out_pos_ = 0;
};

}  // namespace

void SaslAuth::init(const SaslConfig& config) {
  std::lock_guard lock(g_init_mu);
  if (g_initialised) {
    if (config.app_name != g_config.app_name || config.config_dir != g_config.config_dir)
      throw SaslError("SASL is already set up for this process with another configuration");
    return;
  }
  if (!config.config_dir.empty()) {
    std::string conf = config.config_dir + "/" + config.app_name + ".conf";
    struct stat st {};
    if (::stat(conf.c_str(), &st) != 0)
      throw SaslError(fmt::format("SASL: {}: {} (the SASL configuration: mech_list, and for a password "
                                  "database sasldb_path)",
                                  conf, std::strerror(errno)));
  }
  g_config = config;
  // Cyrus's built-in mutexes do nothing; connections authenticate on their own threads.
  sasl_set_mutex([]() -> void* { return new std::mutex; },
                 [](void* m) -> int {
                   static_cast<std::mutex*>(m)->lock();
                   return SASL_OK;
                 },
                 [](void* m) -> int {
                   static_cast<std::mutex*>(m)->unlock();
                   return SASL_OK;
                 },
                 [](void* m) { delete static_cast<std::mutex*>(m); });
  int rc = sasl_server_init(config.config_dir.empty() ? g_callbacks : g_callbacks_with_dir, g_config.app_name.c_str());
  if (rc != SASL_OK) throw SaslError("SASL: cannot start Cyrus SASL: " + errstring(rc));
  g_initialised = true;
}

bool SaslAuth::initialised() {
  std::lock_guard lock(g_init_mu);
  return g_initialised;
}

std::vector<std::string> SaslAuth::mechanisms_for(bool tls) {
  SaslAuth probe("spice", "", "", tls ? 128 : 0);
  return probe.mechanisms();
}

SaslAuth::SaslAuth(const std::string& service, const std::string& local_addr, const std::string& remote_addr,
                   unsigned tls_ssf)
    : tls_ssf_(tls_ssf) {
  if (!initialised()) throw SaslError("SASL is not set up (SaslAuth::init)");
  int rc = sasl_server_new(service.c_str(), nullptr, nullptr, local_addr.empty() ? nullptr : local_addr.c_str(),
                           remote_addr.empty() ? nullptr : remote_addr.c_str(), nullptr, SASL_SUCCESS_DATA, &conn_);
  if (rc != SASL_OK) throw SaslError("SASL: cannot start a server exchange: " + errstring(rc));
  if (tls_ssf_) {
    sasl_ssf_t ext = tls_ssf_;
    if (sasl_setprop(conn_, SASL_SSF_EXTERNAL, &ext) != SASL_OK)
      throw SaslError(fmt::format("SASL: cannot set the TLS strength: {}", sasl_errdetail(conn_)));
  }
  sasl_security_properties_t props{};
  props.min_ssf = tls_ssf_ ? 0 : kMinSsfWithoutTls;
  props.max_ssf = tls_ssf_ ? 0 : 100000;  // over TLS no second layer
  props.maxbufsize = kMaxBufSize;
  props.security_flags = SASL_SEC_NOANONYMOUS | (tls_ssf_ ? 0 : SASL_SEC_NOPLAINTEXT);
  if (sasl_setprop(conn_, SASL_SEC_PROPS, &props) != SASL_OK)
    throw SaslError(fmt::format("SASL: cannot set security properties: {}", sasl_errdetail(conn_)));
  const char* list = nullptr;
  unsigned len = 0;
  int count = 0;
  rc = sasl_listmech(conn_, nullptr, "", ",", "", &list, &len, &count);
  if (rc == SASL_OK && list) {
    std::string all(list, len);
    size_t start = 0;
    while (start <= all.size()) {
      size_t comma = all.find(',', start);
      std::string m = all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!m.empty()) mechanisms_.push_back(m);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
}

SaslAuth::~SaslAuth() {
  if (conn_) sasl_dispose(&conn_);
}

bool SaslAuth::offers(const std::string& mech) const {
  for (const auto& m : mechanisms_)
    if (m == mech) return true;
  return false;
}

SaslAuth::Step SaslAuth::finish(int rc, const char* out, unsigned outlen, const char* what) {
  if (rc != SASL_OK && rc != SASL_CONTINUE)
    throw SaslError(fmt::format("SASL {} {} failed: {}", mech_, what, printable(sasl_errdetail(conn_), 512)));
  Step s;
  s.done = rc == SASL_OK;
  if (out) s.out = std::string(out, outlen);
  return s;
}

SaslAuth::Step SaslAuth::start(const std::string& mech, const std::optional<std::string>& in) {
  if (!offers(mech)) {
    std::string list;
    for (const auto& m : mechanisms_) list += (list.empty() ? "" : ",") + m;
    throw SaslError(fmt::format("SASL mechanism '{}' is not offered here (offered: {})", printable(mech),
                                list.empty() ? "none" : list));
  }
  mech_ = mech;
  const char* out = nullptr;
  unsigned outlen = 0;
  int rc = sasl_server_start(conn_, mech.c_str(), in ? in->data() : nullptr, in ? unsigned(in->size()) : 0, &out,
                             &outlen);
  return finish(rc, out, outlen, "start");
}

SaslAuth::Step SaslAuth::step(const std::optional<std::string>& in) {
  const char* out = nullptr;
  unsigned outlen = 0;
  int rc = sasl_server_step(conn_, in ? in->data() : nullptr, in ? unsigned(in->size()) : 0, &out, &outlen);
  return finish(rc, out, outlen, "step");
}

bool SaslAuth::check_password(const std::string& user, const std::string& password) {
  return sasl_checkpass(conn_, user.data(), unsigned(user.size()), password.data(), unsigned(password.size())) == SASL_OK;
}

unsigned SaslAuth::ssf() const {
  const void* val = nullptr;
  if (!conn_ || sasl_getprop(conn_, SASL_SSF, &val) != SASL_OK || !val) return 0;
  return *static_cast<const sasl_ssf_t*>(val);
}

std::string SaslAuth::username() const {
  const void* val = nullptr;
  if (!conn_ || sasl_getprop(conn_, SASL_USERNAME, &val) != SASL_OK || !val) return "?";
  return static_cast<const char*>(val);
}

std::optional<std::string> SaslAuth::claimed_user() const {
  // Cyrus sets the authentication id as soon as a mechanism has parsed it, before the password
  // is checked, and keeps it after a failure.
  const void* val = nullptr;
  if (!conn_ || sasl_getprop(conn_, SASL_AUTHUSER, &val) != SASL_OK || !val) return std::nullopt;
  return std::string(static_cast<const char*>(val));
}

void SaslAuth::check_strength() const {
  if (tls_ssf_ == 0 && ssf() < kMinSsfWithoutTls)
    throw SaslError(fmt::format("SASL {} gave a security layer of {} bits; without TLS at least {} are required",
                                mech_, ssf(), kMinSsfWithoutTls));
}

std::unique_ptr<SecureLayer> SaslAuth::make_layer(int fd) {
  unsigned s = ssf();
  if (tls_ssf_ || s == 0) return nullptr;
  auto layer = std::make_unique<SaslLayer>(conn_, fd, mech_, s);
  conn_ = nullptr;
  return layer;
}

std::string sasl_address(int fd, bool local) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int rc = local ? getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                 : getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return "";
  char host[NI_MAXHOST] = {}, serv[NI_MAXSERV] = {};
  if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return "";
  return std::string(host) + ";" + serv;
}

}  // namespace tessera
