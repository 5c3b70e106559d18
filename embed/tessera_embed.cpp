// The embedding API (embed/tessera.h): a C ABI over an EmbedSource (the producer's newest frame
// and its damage), a CaptureLoop that pulls from it at cfg.fps through the damage tracker like
// any other source, and a SpiceServer and/or VncServer over the same FrameHub. No C++ exception
// leaves an extern "C" function.
#include "embed/tessera.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/change_signal.h"
#include "capture/capture_loop.h"
#include "capture/frame_source.h"
#include "core/frame_hub.h"
#include "core/log.h"
#include "transport/spice/spice_server.h"
#include "transport/vnc/vnc_server.h"

namespace tessera::embed {

constexpr size_t kMaxDamageRects = 256;       // more count as their bounding box
constexpr size_t kMaxConfigStructSize = 4096;  // a larger struct_size is garbage, not a newer header

// The producer's frames as a FrameSource. Thread-safe on its own: the producer submits from its
// thread while the capture loop takes frames and viewers' connection threads report input.
class EmbedSource final : public FrameSource {
 public:
  EmbedSource(Size initial, bool arrow) : arrow_(arrow) {
    auto f = std::make_shared<Frame>(initial.width, initial.height);
    f->fill(f->bounds(), bgrx(0, 0, 0));
    latest_ = std::move(f);
    pending_ = Region(latest_->bounds());
    pointer_x_ = initial.width / 2;
    pointer_y_ = initial.height / 2;
  }

  std::string description() const override { return "embedded producer"; }

  Size size() const override {
    std::lock_guard lock(mu_);
    return latest_->size();
  }

  // The newest frame and the union of the damage submitted since the last capture. Between
  // submissions: the same frame, no damage (the tracker's full scans still look).
  CapturedFrame capture(uint64_t) override {
    std::lock_guard lock(mu_);
    CapturedFrame c{latest_, pending_};
    pending_.clear();
    changed_.clear();
    return c;
  }

  // A submitted frame is taken at once, not at the next tick.
  int change_fd() const override { return changed_.fd(); }
  bool change_queued() override {
    std::lock_guard lock(mu_);
    return !pending_.empty();
  }

  std::optional<CursorState> cursor(uint64_t) override {
    if (!arrow_) return std::nullopt;
    std::lock_guard lock(mu_);
    return CursorState{default_arrow_cursor(), pointer_x_, pointer_y_, true};
  }

  // Follows the viewers' pointer, so that the arrow moves in server mouse mode.
  void handle_input(const InputEvent& e) override {
    if (e.kind != InputEvent::Kind::PointerMove && e.kind != InputEvent::Kind::PointerRelative) return;
    std::lock_guard lock(mu_);
    int64_t x = e.x, y = e.y;
    if (e.kind == InputEvent::Kind::PointerRelative) {
      x += pointer_x_;
      y += pointer_y_;
    }
    pointer_x_ = int32_t(std::clamp<int64_t>(x, 0, std::max(0, latest_->width() - 1)));
    pointer_y_ = int32_t(std::clamp<int64_t>(y, 0, std::max(0, latest_->height() - 1)));
    changed_.set();  // the arrow moves now, not at the next (perhaps slow) tick
  }

  // `damage` null: the whole frame changed. Rectangles are already clipped to the frame.
  void submit(FramePtr frame, const std::vector<Rect>* damage) {
    std::lock_guard lock(mu_);
    bool resized = frame->size() != latest_->size();
    latest_ = std::move(frame);
    if (resized || !damage)
      pending_ = Region(latest_->bounds());
    else
      for (const Rect& r : *damage) pending_.add(r);
    changed_.set();
  }

 private:
  const bool arrow_;
  mutable std::mutex mu_;
  FramePtr latest_;
  Region pending_;
  ChangeSignal changed_;
  int32_t pointer_x_ = 0, pointer_y_ = 0;
};

// Per thread, like errno: the last call's server and what went wrong ("" when it succeeded).
struct LastError {
  const tessera_server* srv = nullptr;
  std::string text;
};
thread_local LastError t_error;
// The server whose input callback this thread is running, if any.
thread_local const tessera_server* t_in_callback = nullptr;

int fail(const tessera_server* srv, int code, std::string_view why) noexcept {
  t_error.srv = srv;
  try {
    t_error.text.assign(why.empty() ? std::string_view(tessera_strerror(code)) : why);
  } catch (...) {
    t_error.text.clear();  // no memory even for the message
  }
  return code;
}

int succeed(const tessera_server* srv) noexcept {
  t_error.srv = srv;
  t_error.text.clear();
  return TESSERA_OK;
}

// What a caught exception means for the caller; call only from inside a catch block.
int fail_current_exception(const tessera_server* srv, const char* what_call) noexcept {
  try {
    try {
      throw;
    } catch (const std::bad_alloc&) {
      (void)what_call;
      return fail(srv, TESSERA_E_NOMEM, "out of memory");
    } catch (const std::exception& e) {
      return fail(srv, TESSERA_E_INTERNAL, std::string(what_call) + ": " + e.what());
    }
  } catch (...) {
  }
  return fail(srv, TESSERA_E_INTERNAL, "");  // an unknown exception, or no memory left to describe one
}

// Runs an API function's body: whatever it throws becomes an error code, never a C++ exception
// in the caller's C code.
template <class Body>
int guarded(const tessera_server* srv, const char* what_call, Body&& body) noexcept {
  try {
    return body();
  } catch (...) {
    return fail_current_exception(srv, what_call);
  }
}

void copy_message(char* err, size_t err_len, std::string_view msg) noexcept {
  if (!err || err_len == 0) return;
  size_t n = std::min(msg.size(), err_len - 1);
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

// spdlog's own default logger writes to standard output, which belongs to the host program:
// unless the process installed a default logger of its own, ours writes to standard error.
std::string level_name(int level) {
  switch (level) {
    case TESSERA_LOG_TRACE: return "trace";
    case TESSERA_LOG_DEBUG: return "debug";
    case TESSERA_LOG_INFO: return "info";
    case TESSERA_LOG_WARN: return "warn";
    case TESSERA_LOG_ERROR: return "error";
    case TESSERA_LOG_OFF: return "off";
    default: return "";
  }
}

bool is_loopback(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address == "::1" || address == "localhost";
}

// The settings taken from a tessera_config, checked.
struct Settings {
  std::string listen = "127.0.0.1";
  int spice_port = -1, vnc_port = -1;
  std::optional<std::string> password;
  bool vnc_auth = false;
  Size size;
  double fps = 30;
  int log_level = TESSERA_LOG_UNCHANGED;
  bool arrow = true;
  std::string name = "tessera";

  ~Settings() {
    if (password && !password->empty()) OPENSSL_cleanse(password->data(), password->size());
  }
};

// Reads and checks the config; returns the reason it is unusable, or "" with `out` filled.
std::string read_config(const tessera_config* config, Settings& out, int& code) {
  code = TESSERA_E_INVALID;
  if (!config) return "config is NULL";
  const size_t size = config->struct_size;
  if (size < sizeof(tessera_config))
    return "config->struct_size is " + std::to_string(size) + ", expected " + std::to_string(sizeof(tessera_config)) +
           " (sizeof(tessera_config)): start from tessera_config_init()";
  if (size > kMaxConfigStructSize)
    return "config->struct_size is " + std::to_string(size) +
           ": not a tessera_config (start from tessera_config_init())";
  if (size > sizeof(tessera_config)) {
    // A newer header's struct: fields this library does not know must be left at zero.
    const auto* bytes = reinterpret_cast<const unsigned char*>(config);
    for (size_t i = sizeof(tessera_config); i < size; ++i)
      if (bytes[i] != 0) {
        code = TESSERA_E_UNSUPPORTED;
        return "config sets fields that this library (API version " + std::to_string(TESSERA_API_VERSION) +
               ") does not know (config->struct_size " + std::to_string(size) + ")";
      }
  }
  const tessera_config& c = *config;
  if (c.listen_address) {
    out.listen = c.listen_address;
    if (out.listen.empty()) return "listen_address is empty (NULL means 127.0.0.1)";
  }
  if (c.spice_port < -1 || c.spice_port > 65535)
    return "spice_port " + std::to_string(c.spice_port) + " is out of range (-1 off, 0 a free port, 1..65535)";
  if (c.vnc_port < -1 || c.vnc_port > 65535)
    return "vnc_port " + std::to_string(c.vnc_port) + " is out of range (-1 off, 0 a free port, 1..65535)";
  if (c.spice_port < 0 && c.vnc_port < 0) return "spice_port and vnc_port are both -1: nothing to serve on";
  out.spice_port = c.spice_port;
  out.vnc_port = c.vnc_port;
  if (c.width < 1 || c.height < 1 || c.width > TESSERA_MAX_DIMENSION || c.height > TESSERA_MAX_DIMENSION)
    return "width x height " + std::to_string(c.width) + "x" + std::to_string(c.height) + " is out of range (1.." +
           std::to_string(TESSERA_MAX_DIMENSION) + ")";
  out.size = {c.width, c.height};
  if (!(c.fps >= 1.0 && c.fps <= 240.0)) return "fps must be 1..240";
  out.fps = c.fps;
  if (c.log_level != TESSERA_LOG_UNCHANGED && level_name(c.log_level).empty())
    return "log_level " + std::to_string(c.log_level) + " is not a TESSERA_LOG_* value";
  out.log_level = c.log_level;
  out.arrow = c.default_cursor != 0;
  if (c.desktop_name) out.name = c.desktop_name;
  if (c.password) {
    size_t len = std::strlen(c.password);
    if (len == 0) return "password is empty: pass NULL for no authentication";
    if (len > TicketPolicy::kMaxPasswordLength)
      return "password is longer than " + std::to_string(TicketPolicy::kMaxPasswordLength) +
             " characters: SPICE clients cannot send it";
    out.password.emplace(c.password, len);
  }
  if (out.vnc_port >= 0 && out.password) {
    // As `tessera serve` without --x509-dir: VNC's DES authentication in the clear only when asked
    // for by name. Version 1 has no TLS to offer instead.
    if (!c.allow_vnc_auth_without_tls)
      return "VNC with a password needs TLS, which this version does not offer: set "
             "allow_vnc_auth_without_tls to allow VNC authentication without encryption, or set vnc_port -1";
    out.vnc_auth = true;
  }
  code = TESSERA_OK;
  return "";
}

}  // namespace tessera::embed

using namespace tessera;
using namespace tessera::embed;

struct tessera_server {
  enum class State { Built, Started, Failed };

  explicit tessera_server(const Settings& s)
      : source(s.size, s.arrow), capture(source, hub, s.fps), has_spice(s.spice_port >= 0),
        has_vnc(s.vnc_port >= 0) {
    // Input goes straight to the source and the callback, not through CaptureLoop::deliver_input:
    // the callback is the producer's code and must not hold up capture while it runs.
    InputSink input = [this](const InputEvent& e) {
      source.handle_input(e);
      dispatch(e);
    };
    auto guard = std::make_shared<AuthGuard>();  // one failure count per address for both protocols
    if (has_spice) {
      spice::SpiceServerConfig cfg;
      cfg.guard = guard;
      cfg.listen_address = s.listen;
      cfg.port = uint16_t(s.spice_port);
      cfg.channel.server_name = s.name;
      cfg.channel.video.codecs.clear();  // no video encoders in API version 1: all lossless
      TicketPolicy policy =
          s.password ? TicketPolicy::with_password(*s.password, std::nullopt) : TicketPolicy::disabled();
      spice_server = std::make_unique<spice::SpiceServer>(cfg, hub, std::move(policy), input);
    }
    if (has_vnc) {
      vnc::VncServerConfig vc;
      vc.listen_address = s.listen;
      vc.port = uint16_t(s.vnc_port);
      vc.session.name = s.name;
      if (s.vnc_auth) {
        vc.security.offer = {vnc::Method::VncAuth};
        vc.security.password = s.password;
        if (s.password->size() > 8)
          spdlog::warn("vnc: VNC authentication uses only the first 8 characters of the password");
      } else {
        vc.security.offer = {vnc::Method::None};  // no password was given (checked above)
        vc.security.allow_no_auth = true;
      }
      vc.guard = guard;
      vnc_server = std::make_unique<vnc::VncServer>(vc, hub, input);
      if (vc.security.password) OPENSSL_cleanse(vc.security.password->data(), vc.security.password->size());
    }
    if (!s.password && !is_loopback(s.listen))
      spdlog::warn("tessera: listening on {} without a password: anyone who reaches the port gets the desktop",
                   s.listen);
  }

  tessera_server(const tessera_server&) = delete;
  tessera_server& operator=(const tessera_server&) = delete;
  ~tessera_server() { stop(); }

  void stop() {
    if (vnc_server) vnc_server->stop();
    if (spice_server) spice_server->stop();
    capture.stop();
    hub.close();
  }

  // Calls the producer's callback: one call at a time, and none after set_callback has returned.
  void dispatch(const InputEvent& e) {
    std::lock_guard lock(cb_mu);
    if (!cb) return;
    tessera_input_event ev{};
    switch (e.kind) {
      case InputEvent::Kind::KeyDown: ev.kind = TESSERA_INPUT_KEY_DOWN; break;
      case InputEvent::Kind::KeyUp: ev.kind = TESSERA_INPUT_KEY_UP; break;
      case InputEvent::Kind::PointerMove: ev.kind = TESSERA_INPUT_POINTER_MOVE; break;
      case InputEvent::Kind::PointerRelative: ev.kind = TESSERA_INPUT_POINTER_RELATIVE; break;
      case InputEvent::Kind::ButtonDown: ev.kind = TESSERA_INPUT_BUTTON_DOWN; break;
      case InputEvent::Kind::ButtonUp: ev.kind = TESSERA_INPUT_BUTTON_UP; break;
    }
    ev.key = e.key;
    ev.x = e.x;
    ev.y = e.y;
    if (e.kind != InputEvent::Kind::PointerRelative) {
      // A viewer's absolute position is clamped to the frame: the producer may index with it.
      Size sz = source.size();
      ev.x = std::clamp(e.x, 0, std::max(0, sz.width - 1));
      ev.y = std::clamp(e.y, 0, std::max(0, sz.height - 1));
    }
    ev.button = e.button;
    ev.buttons = e.buttons;
    const tessera_server* outer = t_in_callback;
    t_in_callback = this;
    try {
      cb(&ev, cb_user);
    } catch (...) {
      // A C++ host's callback that throws must not take the connection thread with it.
      spdlog::error("tessera: the input callback threw an exception; ignored");
    }
    t_in_callback = outer;
  }

  // Declaration order is construction order: the servers come last, so they are destroyed first
  // (after stop() has ended every thread), before anything their threads used.
  FrameHub hub;
  EmbedSource source;
  CaptureLoop capture;
  const bool has_spice, has_vnc;

  std::mutex life_mu;  // start against start
  std::atomic<State> state{State::Built};
  std::atomic<int> spice_port{0}, vnc_port{0};

  std::mutex cb_mu;  // held while the callback runs
  tessera_input_callback cb = nullptr;
  void* cb_user = nullptr;

  std::unique_ptr<spice::SpiceServer> spice_server;
  std::unique_ptr<vnc::VncServer> vnc_server;
};

namespace {

// Checks a submitted frame's damage: clipped to the frame, empty rectangles dropped, more than
// kMaxDamageRects replaced by their bounding box. Returns the reason when a rectangle is invalid.
std::string clip_damage(const tessera_rect* damage, size_t n, int width, int height, std::vector<Rect>& out) {
  Rect box;
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    const tessera_rect& d = damage[i];
    if (d.width < 0 || d.height < 0) return "damage[" + std::to_string(i) + "] has a negative width or height";
    // In 64 bits: x + width need not fit in 32.
    int64_t l = std::max<int64_t>(d.x, 0), t = std::max<int64_t>(d.y, 0);
    int64_t r = std::min<int64_t>(int64_t(d.x) + d.width, width);
    int64_t b = std::min<int64_t>(int64_t(d.y) + d.height, height);
    if (r <= l || b <= t) continue;
    Rect c{int32_t(l), int32_t(t), int32_t(r - l), int32_t(b - t)};
    if (kept++ == 0) {
      box = c;
    } else {
      int32_t bl = std::min(box.x, c.x), bt = std::min(box.y, c.y);
      int32_t br = std::max(box.right(), c.right()), bb = std::max(box.bottom(), c.bottom());
      box = {bl, bt, br - bl, bb - bt};
    }
    if (out.size() < kMaxDamageRects) out.push_back(c);
  }
  if (kept > kMaxDamageRects) out.assign(1, box);
  return "";
}

}  // namespace

extern "C" {

TESSERA_API int tessera_api_version(void) { return TESSERA_API_VERSION; }

TESSERA_API const char* tessera_strerror(int code) {
  switch (code) {
    case TESSERA_OK: return "success";
    case TESSERA_E_INVALID: return "invalid argument";
    case TESSERA_E_STATE: return "not allowed in the server's current state";
    case TESSERA_E_NOMEM: return "out of memory";
    case TESSERA_E_IO: return "system error";
    case TESSERA_E_UNSUPPORTED: return "not supported by this library version";
    case TESSERA_E_INTERNAL: return "internal error";
    default: return "unknown error code";
  }
}

TESSERA_API tessera_server* tessera_server_new(const tessera_config* config, char* err, size_t err_len) {
  tessera_server* made = nullptr;
  guarded(nullptr, "tessera_server_new", [&] {
    Settings s;
    int code = TESSERA_OK;
    std::string why = read_config(config, s, code);
    if (!why.empty()) return fail(nullptr, code, "tessera_server_new: " + why);
    if (s.log_level != TESSERA_LOG_UNCHANGED) set_log_level(level_name(s.log_level));
    made = new tessera_server(s);
    return succeed(nullptr);
  });
  copy_message(err, err_len, made ? std::string_view() : std::string_view(t_error.text));
  return made;
}

TESSERA_API int tessera_server_start(tessera_server* srv) {
  if (!srv) return fail(nullptr, TESSERA_E_INVALID, "tessera_server_start: srv is NULL");
  using State = tessera_server::State;
  int rc = guarded(srv, "tessera_server_start", [&] {
    std::lock_guard lock(srv->life_mu);
    if (srv->state == State::Started) return fail(srv, TESSERA_E_STATE, "tessera_server_start: already started");
    if (srv->state == State::Failed)
      return fail(srv, TESSERA_E_STATE, "tessera_server_start: an earlier start failed; free the server");
    try {
      srv->capture.start();
      if (srv->spice_server) {
        srv->spice_server->start();
        srv->spice_port = srv->spice_server->port();
      }
      if (srv->vnc_server) {
        srv->vnc_server->start();
        srv->vnc_port = srv->vnc_server->port();
      }
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      srv->state = State::Failed;
      srv->stop();
      return fail(srv, TESSERA_E_IO, std::string("tessera_server_start: ") + e.what());
    }
    srv->state = State::Started;
    return succeed(srv);
  });
  if (rc != TESSERA_OK && srv->state == State::Built) {
    // Out of memory or worse half way through: whatever started is stopped.
    srv->state = State::Failed;
    try {
      srv->stop();
    } catch (...) {
    }
  }
  return rc;
}

TESSERA_API int tessera_server_port(const tessera_server* srv, int which) {
  if (!srv) return fail(nullptr, TESSERA_E_INVALID, "tessera_server_port: srv is NULL");
  return guarded(srv, "tessera_server_port", [&] {
    if (which != TESSERA_PORT_SPICE && which != TESSERA_PORT_VNC)
      return fail(srv, TESSERA_E_INVALID,
                  "tessera_server_port: which is " + std::to_string(which) +
                      ", not TESSERA_PORT_SPICE or TESSERA_PORT_VNC");
    bool on = which == TESSERA_PORT_SPICE ? srv->has_spice : srv->has_vnc;
    if (!on) return succeed(srv);  // 0: that protocol is off
    if (srv->state != tessera_server::State::Started)
      return fail(srv, TESSERA_E_STATE, "tessera_server_port: the server is not started");
    succeed(srv);
    return which == TESSERA_PORT_SPICE ? srv->spice_port.load() : srv->vnc_port.load();
  });
}

TESSERA_API int tessera_submit_frame(tessera_server* srv, const uint8_t* pixels, int width, int height, int stride,
                                     const tessera_rect* damage, size_t n_damage) {
  if (!srv) return fail(nullptr, TESSERA_E_INVALID, "tessera_submit_frame: srv is NULL");
  return guarded(srv, "tessera_submit_frame", [&] {
    auto invalid = [&](const std::string& why) { return fail(srv, TESSERA_E_INVALID, "tessera_submit_frame: " + why); };
    if (!pixels) return invalid("bgrx is NULL");
    if (width < 1 || height < 1 || width > TESSERA_MAX_DIMENSION || height > TESSERA_MAX_DIMENSION)
      return invalid("width x height " + std::to_string(width) + "x" + std::to_string(height) +
                     " is out of range (1.." + std::to_string(TESSERA_MAX_DIMENSION) + ")");
    const int64_t row_bytes = int64_t(width) * 4;
    if (int64_t(stride) < row_bytes)
      return invalid("stride " + std::to_string(stride) + " is less than width * 4 = " + std::to_string(row_bytes));
    if (!damage && n_damage)
      return invalid("damage is NULL but n_damage is " + std::to_string(n_damage) +
                     " (NULL damage means the whole frame, with n_damage 0)");
    std::vector<Rect> rects;
    if (damage) {
      std::string why = clip_damage(damage, n_damage, width, height, rects);
      if (!why.empty()) return invalid(why);
    }
    auto frame = std::make_shared<Frame>(width, height);
    if (stride == row_bytes) {
      std::memcpy(frame->data(), pixels, size_t(row_bytes) * size_t(height));
    } else {
      for (int y = 0; y < height; ++y)
        std::memcpy(frame->row(y), pixels + size_t(y) * size_t(stride), size_t(row_bytes));
    }
    srv->source.submit(std::move(frame), damage ? &rects : nullptr);
    return succeed(srv);
  });
}

TESSERA_API int tessera_set_input_callback(tessera_server* srv, tessera_input_callback cb, void* user) {
  if (!srv) return fail(nullptr, TESSERA_E_INVALID, "tessera_set_input_callback: srv is NULL");
  if (t_in_callback == srv) {
    // From inside the callback: this thread already holds cb_mu.
    srv->cb = cb;
    srv->cb_user = user;
    return succeed(srv);
  }
  return guarded(srv, "tessera_set_input_callback", [&] {
    std::lock_guard lock(srv->cb_mu);
    srv->cb = cb;
    srv->cb_user = user;
    return succeed(srv);
  });
}

TESSERA_API const char* tessera_last_error(const tessera_server* srv) {
  return t_error.srv == srv ? t_error.text.c_str() : "";
}

TESSERA_API void tessera_server_free(tessera_server* srv) {
  if (!srv) return;
  if (t_in_callback == srv) {
    // Stopping would wait for this very thread: refuse rather than deadlock.
    spdlog::error("tessera: tessera_server_free called from inside the input callback; the server is not freed");
    fail(srv, TESSERA_E_STATE, "tessera_server_free: called from inside the input callback");
    return;
  }
  try {
    delete srv;
  } catch (...) {
    // Stopping threads should not throw; if it does, it must not reach C.
  }
  if (t_error.srv == srv) {
    t_error.srv = nullptr;
    t_error.text.clear();
  }
}

}  // extern "C"
