// tessera: serves a desktop to remote viewers (serve) or writes one frame of a source (snapshot).
#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "app/bench_command.h"
#include "app/cli_options.h"
#include "app/gpu_cli.h"
#include "app/overlay.h"
#include "capture/capture_loop.h"
#include "capture/frame_source.h"
#include "core/log.h"
#include "core/png_file.h"
#include "encode/encoder_catalog.h"
#include "auth/sasl_auth.h"
#include "transport/spice/spice_server.h"
#include "transport/vnc/vnc_server.h"

using namespace tessera;

namespace {

struct CommonOptions {
  std::string source;
  std::string size = "1280x800";
  double fps = 30;
  int tile_size = 32;
  int lossless_after_ms = 300;
  int enter_changes = 4, enter_window = 6, min_motion_tiles = 12, fast_motion_tiles = 48;
  bool no_scroll = false, no_picture_start = false;
};

void add_source_options(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("--source", o.source,
                  "Frame source: 'demo' (built-in synthetic desktop), 'image:PATH' (a PNG shown as a still "
                  "desktop, pixel for pixel), 'video:PATH' (a video file played at its own rate, looping), "
                  "'x11:DISPLAY' (an X display, e.g. x11::0; viewers' keys and pointer are injected with XTest)")
      ->required();
  cmd->add_option("--size", o.size, "Desktop size WxH for sources that choose their own size (demo)")
      ->capture_default_str()
      ->check([](const std::string& s) { return parse_size(s) ? std::string() : "expected WxH, e.g. 1920x1080"; });
  cmd->add_option("--fps", o.fps, "Frames per second to capture")->capture_default_str()->check(CLI::Range(1.0, 240.0));
  cmd->add_option("--tile-size", o.tile_size, "Damage tracker tile size in pixels (smaller: more precise, more work)")
      ->capture_default_str()
      ->check(CLI::Range(8, 128));
  cmd->add_option("--lossless-after", o.lossless_after_ms,
                  "Milliseconds after motion stops by which its area is repainted losslessly")
      ->capture_default_str()
      ->check(CLI::Range(50, 10000));
  cmd->add_flag("--no-scroll-detection", o.no_scroll, "Send scrolled content again instead of moving it");
  // The classifier; `tessera bench` sweeps the same settings (docs/tuning.md).
  cmd->add_option("--enter-changes", o.enter_changes, "A tile becomes motion after changing in this many of the "
                                                      "last --enter-window frames")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  cmd->add_option("--enter-window", o.enter_window, "Frames the motion test looks back over (at most 16)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  cmd->add_option("--min-motion-tiles", o.min_motion_tiles,
                  "Smallest group of connected motion tiles sent as video; smaller ones stay lossless")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--fast-motion-tiles", o.fast_motion_tiles,
                  "A dense area of at least this many changed tiles that changes again within three frames is "
                  "video at once (a video starting), without waiting for --enter-changes; 0: off")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_flag("--no-picture-start", o.no_picture_start,
                "Such an area that looks like a picture (many colours, no flat background) waits for its second "
                "change too, instead of streaming from its first (a still photo opened then costs no video frame)");
}

DamageTrackerConfig tracker_config(const CommonOptions& o) {
  DamageTrackerConfig c;
  c.tile_size = o.tile_size;
  c.detect_scroll = !o.no_scroll;
  c.classifier.lossless_after = std::chrono::milliseconds(o.lossless_after_ms);
  if (o.enter_changes > o.enter_window) throw std::invalid_argument("--enter-changes cannot exceed --enter-window");
  c.classifier.enter_changes = o.enter_changes;
  c.classifier.enter_window = o.enter_window;
  c.min_motion_tiles = o.min_motion_tiles;
  c.fast_motion_tiles = o.fast_motion_tiles;
  c.pictorial_start = !o.no_picture_start;
  c.classifier.frame_interval = std::chrono::nanoseconds(int64_t(1e9 / o.fps));
  return c;
}

SourceOptions source_options(const CommonOptions& o) { return {*parse_size(o.size), o.fps}; }

int run_snapshot(const CommonOptions& o, uint64_t frame, const std::string& out, bool overlay) {
  auto source = make_frame_source(o.source, source_options(o));
  if (!overlay) {
    CapturedFrame c = source->capture(frame);
    write_png(*c.frame, out);
    std::printf("wrote frame %llu of %s to %s\n", static_cast<unsigned long long>(frame),
                source->description().c_str(), out.c_str());
    return 0;
  }
  // Run the tracker over the two seconds before the frame, as the server would have.
  DamageTracker tracker(tracker_config(o));
  uint64_t first = frame > uint64_t(2 * o.fps) ? frame - uint64_t(2 * o.fps) : 0;
  FrameChange change;
  auto t0 = std::chrono::steady_clock::time_point{};
  for (uint64_t i = first; i <= frame; ++i) {
    CapturedFrame c = source->capture(i);
    auto now = t0 + std::chrono::nanoseconds(int64_t(double(i) * 1e9 / o.fps));
    change = tracker.update(c.frame, &c.damage, now);
    if (i == frame) {
      Frame f = *c.frame;
      draw_overlay(f, change, tracker.motion_area());
      write_png(f, out);
    }
  }
  std::printf("wrote frame %llu of %s with the tracker's view to %s\n", static_cast<unsigned long long>(frame),
              source->description().c_str(), out.c_str());
  std::printf("  red tint: motion (%lld px)   green: changed, static (%lld px)   blue: moved (%zu moves)   "
              "yellow: repainted after motion (%lld px)\n",
              static_cast<long long>(tracker.motion_area().area()),
              static_cast<long long>(change.damage.area() - change.motion.area()), change.moves.size(),
              static_cast<long long>(change.refresh.area()));
  return 0;
}

struct VideoOptions {
  std::string backend = "ffmpeg";
  std::string codecs = "h264,vp9,vp8,h265,mjpeg";
  std::string exclude;
  std::string preset;
  int bitrate_kbps = 8000;
  int fps_max = 30;
};

void add_video_options(CLI::App* cmd, VideoOptions& v, bool serving) {
  cmd->add_option("--encoder-backend", v.backend,
                  "Library that runs the video encoders: ffmpeg (libavcodec) or gstreamer" +
                      std::string(serving ? "" : "; 'all' probes both"))
      ->capture_default_str()
      ->check(serving ? CLI::IsMember({"ffmpeg", "gstreamer"}) : CLI::IsMember({"ffmpeg", "gstreamer", "all"}));
  cmd->add_option("--video-codec", v.codecs,
                  "Codecs for motion areas, most wanted first (h264, vp9, vp8, h265, mjpeg), or 'off' to send "
                  "everything losslessly. A client gets the first one it decodes; its own preference, when it "
                  "states one, comes first")
      ->capture_default_str()
      ->check([](const std::string& s) {
        if (s == "off") return std::string();
        try {
          parse_video_codec_list(s);
          return std::string();
        } catch (const std::exception& e) {
          return std::string(e.what());
        }
      });
  cmd->add_option("--encoder-exclude", v.exclude,
                  "Comma-separated encoders never to use, e.g. h264_vaapi,nvh264enc (a driver you do not trust)");
  if (!serving) return;
  cmd->add_option("--video-preset", v.preset,
                  "Encoder speed preset: x264/x265 names (ultrafast ... medium) or libvpx cpu-used (0-8); default: "
                  "the fastest");
  cmd->add_option("--video-bitrate", v.bitrate_kbps,
                  "Bitrate per video stream in kb/s: where streams start, and the most rate control allows")
      ->capture_default_str()
      ->check(CLI::Range(100, 200000));
  cmd->add_option("--video-fps-max", v.fps_max, "Most frames per second a video stream sends")
      ->capture_default_str()
      ->check(CLI::Range(1, 240));
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

EncoderCatalogOptions catalog_options(const VideoOptions& v, EncoderBackend backend) {
  EncoderCatalogOptions c;
  c.backend = backend;
  c.codecs = parse_video_codec_list(v.codecs);
  c.exclude = split_list(v.exclude);
  return c;
}

int run_probe(const VideoOptions& v) {
  std::vector<EncoderBackend> backends;
  if (v.backend == "all" || v.backend == "ffmpeg") backends.push_back(EncoderBackend::ffmpeg);
  if (v.backend == "all" || v.backend == "gstreamer") backends.push_back(EncoderBackend::gstreamer);
  const std::string codecs = v.codecs == "off" ? "h264,vp9,vp8,h265,mjpeg" : v.codecs;
  int working = 0;
  for (EncoderBackend b : backends) {
    VideoOptions vo = v;
    vo.codecs = codecs;
    EncoderCatalogOptions o = catalog_options(vo, b);
    o.probe_all = true;
    EncoderCatalog cat = EncoderCatalog::probe(o);
    std::printf("%s backend:\n", std::string(to_string(b)).c_str());
    for (VideoCodec c : o.codecs) {
      auto sel = cat.selected(c);
      std::printf("  %-5s -> %s\n", std::string(to_string(c)).c_str(),
                  sel ? (sel->element + " (" + std::string(to_string(sel->kind)) + ")").c_str() : "none: no encoder works");
      for (const ProbeAttempt& a : cat.attempts())
        if (a.candidate.codec == c)
          std::printf("       %-8s %-14s %-9s %6.1f ms  %s\n", a.ok ? "accepted" : "rejected", a.candidate.element.c_str(),
                      std::string(to_string(a.candidate.kind)).c_str(), a.millis, a.reason.c_str());
    }
    working += int(cat.available().size());
  }
  return working > 0 ? 0 : 1;
}

struct ServeOptions {
  std::string listen = "127.0.0.1";
  std::string spice_port = "5930";
  int tls_port = -1;
  std::string x509_dir;
  bool tls_verify_client = false;
  std::string secure_channels;
  bool sasl = false;
  std::string sasl_config_dir;
  double link_timeout = 10;
  int vnc_port = -1;
  std::string vnc_security;
  size_t max_unauthenticated = 64;
  std::string auth_penalty = "3,60";
  std::vector<std::string> auth_exempt;
  bool disable_ticketing = false;
  std::string password_file;
  int64_t ticket_expiry = 0;
  bool no_lz4 = false;
  std::string image_codec = "auto";
  std::string repaint_budget = "auto";
  double peer_timeout = 30;
  uint64_t frames = 0;
  VideoOptions video;
  std::string gpu = "auto";
};

// "all" or "main,display,...": the channel types that must come over TLS.
std::set<uint8_t> parse_secure_channels(const std::string& list) {
  std::set<uint8_t> out;
  if (list.empty()) return out;
  const std::pair<const char*, uint8_t> known[] = {{"main", SPICE_CHANNEL_MAIN},
                                                   {"display", SPICE_CHANNEL_DISPLAY},
                                                   {"inputs", SPICE_CHANNEL_INPUTS},
                                                   {"cursor", SPICE_CHANNEL_CURSOR}};
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    bool found = name == "all";
    for (auto& [n, t] : known)
      if (name == n || name == "all") {
        out.insert(t);
        found = true;
      }
    if (!found) throw std::invalid_argument("unknown channel '" + name + "' (all, main, display, inputs, cursor)");
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Probes the encoders once; the server's streams open them from this catalog.
spice::VideoSettings video_settings(const ServeOptions& s) {
  spice::VideoSettings v;
  if (s.video.codecs == "off") {
    v.codecs.clear();
    spdlog::info("video: off (--video-codec off); motion is sent losslessly");
    return v;
  }
  EncoderCatalogOptions o = catalog_options(s.video, *parse_encoder_backend(s.video.backend));
  auto cat = std::make_shared<EncoderCatalog>(EncoderCatalog::probe(o));
  for (VideoCodec c : o.codecs) {
    std::string rejected;
    for (const ProbeAttempt& a : cat->attempts())
      if (a.candidate.codec == c && !a.ok) rejected += fmt::format("; {} rejected: {}", a.candidate.element, a.reason);
    if (auto sel = cat->selected(c))
      spdlog::info("video: {} through {} ({}){}", to_string(c), sel->label(), to_string(sel->kind), rejected);
    else
      spdlog::warn("video: no {} encoder works{}", to_string(c), rejected);
  }
  v.codecs = o.codecs;
  v.encoders = std::move(cat);
  v.preset = s.video.preset;
  v.bitrate_kbps = s.video.bitrate_kbps;
  v.fps_max = s.video.fps_max;
  return v;
}

// The VNC security types to offer: --vnc-security as given, or what the configured credentials
// allow without exposing anything (TLS whenever there are certificates).
vnc::SecurityConfig vnc_security(const ServeOptions& s, const std::shared_ptr<const TlsContext>& x509,
                                 const std::optional<std::string>& password) {
  vnc::SecurityConfig sec;
  sec.x509 = x509;
  sec.sasl = s.sasl;
  sec.password = password;
  sec.allow_no_auth = s.disable_ticketing;
  sec.require_client_certificate = s.tls_verify_client;
  if (password && s.ticket_expiry > 0)
    sec.password_expires = std::chrono::steady_clock::now() + std::chrono::seconds(s.ticket_expiry);
  using vnc::Method;
  if (!s.vnc_security.empty()) {
    size_t start = 0;
    while (start <= s.vnc_security.size()) {
      size_t comma = s.vnc_security.find(',', start);
      std::string name = s.vnc_security.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      auto m = vnc::parse_method(name);
      if (!m) throw std::invalid_argument("--vnc-security: unknown security type '" + name + "'");
      sec.offer.push_back(*m);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    sec.offer = vnc::default_offer(x509 != nullptr, s.sasl, password.has_value(), s.disable_ticketing);
  }
  for (Method m : sec.offer)
    if (vnc::is_anonymous_tls(m) && !sec.anon) sec.anon = TlsContext::anonymous();
  if (password && password->size() > 8)
    for (Method m : sec.offer)
      if (m == Method::VncAuth || m == Method::X509Vnc || m == Method::TlsVnc) {
        spdlog::warn("vnc: VNC authentication uses only the first 8 characters of the password");
        break;
      }
  sec.validate();
  return sec;
}

int run_serve(const CommonOptions& o, const ServeOptions& s) {
  // Signals are taken by sigwait below, so every thread started from here leaves them alone.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto source = make_frame_source(o.source, source_options(o));
  TicketPolicy policy = TicketPolicy::disabled();
  std::optional<std::string> password;
  if (!s.password_file.empty()) {
    std::optional<std::chrono::seconds> lifetime;
    if (s.ticket_expiry > 0) lifetime = std::chrono::seconds(s.ticket_expiry);
    password = read_password_file(s.password_file);
    policy = TicketPolicy::with_password(*password, lifetime);
  }

  spice::SpiceServerConfig cfg;
  cfg.listen_address = s.listen;
  if (s.spice_port == "off")
    cfg.port.reset();
  else
    cfg.port = uint16_t(std::stoi(s.spice_port));
  std::shared_ptr<const TlsContext> x509;
  if (!s.x509_dir.empty()) {
    std::vector<std::string> warnings;
    x509 = TlsContext::load(TlsConfig{s.x509_dir, s.tls_verify_client}, &warnings);
    for (const auto& w : warnings) spdlog::warn("{}", w);
  }
  if (s.tls_port >= 0) {
    cfg.tls_port = uint16_t(s.tls_port);
    cfg.tls = x509;
  }
  cfg.secure_channels = parse_secure_channels(s.secure_channels);
  if (s.sasl) {
    SaslAuth::init(SaslConfig{"tessera", s.sasl_config_dir});
    cfg.sasl = true;
  }
  cfg.require_client_certificate = s.tls_verify_client;
  cfg.link_timeout = std::chrono::milliseconds(int64_t(s.link_timeout * 1000));
  cfg.limits.max_unauthenticated = s.max_unauthenticated;
  apply_auth_penalty(s.auth_penalty, cfg.limits);  // checked by the option
  for (const auto& n : s.auth_exempt) cfg.limits.exempt.push_back(*Network::parse(n));
  // One count of failed logins per address for both protocols: the same password opens both.
  cfg.guard = std::make_shared<AuthGuard>(cfg.limits);

  FrameHub hub;
  DamageTrackerConfig tracker = tracker_config(o);
  tracker.accelerator = gpu_accelerator(s.gpu);
  CaptureLoop capture(*source, hub, o.fps, tracker, s.frames);
  cfg.channel.server_name = "tessera: " + source->description();
  cfg.channel.image_codec = s.no_lz4 ? spice::ImageCodec::Off : *spice::parse_image_codec(s.image_codec);
  cfg.channel.repaint = *spice::parse_repaint_pacing(s.repaint_budget);
  cfg.channel.peer_timeout = std::chrono::milliseconds(int64_t(s.peer_timeout * 1000));
  cfg.channel.video = video_settings(s);
  auto input = [&](const InputEvent& e) { capture.deliver_input(e); };
  std::unique_ptr<spice::SpiceServer> server;
  if (cfg.port || cfg.tls_port) server = std::make_unique<spice::SpiceServer>(cfg, hub, std::move(policy), input);
  std::unique_ptr<vnc::VncServer> vnc_server;
  if (s.vnc_port >= 0) {
    vnc::VncServerConfig vc;
    vc.listen_address = s.listen;
    vc.port = uint16_t(s.vnc_port);
    vc.security = vnc_security(s, x509, password);
    vc.session.name = cfg.channel.server_name;
    vc.session.encoders = cfg.channel.video.encoders;
    if (s.video.bitrate_kbps > 0) vc.session.video_bitrate_kbps = s.video.bitrate_kbps;
    vc.link_timeout = cfg.link_timeout;
    vc.limits = cfg.limits;
    vc.guard = cfg.guard;
    vnc_server = std::make_unique<vnc::VncServer>(vc, hub, input);
  }

  capture.start();
  if (server) server->start();
  if (vnc_server) vnc_server->start();
  std::string host = s.listen.find(':') != std::string::npos ? "[" + s.listen + "]" : s.listen;
  std::printf("tessera: serving %s at %.0f fps\n", source->description().c_str(), o.fps);
  if (server && !server->tls_port()) {
    std::printf("tessera: connect with:  remote-viewer spice://%s:%u\n", host.c_str(), unsigned(server->port()));
  } else if (server) {
    std::string plain = server->port() ? fmt::format("port={}&", server->port()) : "";
    std::printf("tessera: connect with:  remote-viewer --spice-ca-file=%s/ca-cert.pem \"spice://%s?%stls-port=%u\"\n",
                s.x509_dir.c_str(), host.c_str(), plain.c_str(), unsigned(server->tls_port()));
  }
  if (vnc_server)
    std::printf("tessera: VNC clients connect to %s:%u\n", host.c_str(), unsigned(vnc_server->port()));
  std::printf("tessera: press Ctrl-C to stop\n");
  std::fflush(stdout);

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("tessera: {} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  if (vnc_server) vnc_server->stop();
  if (server) server->stop();
  capture.stop();
  hub.close();
  spdlog::info("tessera: stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tessera: a display encoder service that serves desktops to stock SPICE clients."};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "Log level: trace, debug, info, warn, error, off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.set_version_flag("--version", "tessera 0.1.0");

  CommonOptions serve_common;
  ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Serve a frame source to SPICE clients");
  add_source_options(serve_cmd, serve_common);
  serve_cmd->add_option("--listen", serve.listen, "Address to listen on (127.0.0.1 keeps it local)")
      ->capture_default_str();
  serve_cmd->add_option("--spice-port", serve.spice_port, "Plain SPICE port (0 picks a free port; off: none, TLS only)")
      ->capture_default_str()
      ->check(CLI::IsMember({"off"}) | CLI::Range(0, 65535));
  auto* tls_port = serve_cmd->add_option("--spice-tls-port", serve.tls_port,
                                         "SPICE TLS port (0 picks a free port); needs --x509-dir")
                       ->check(CLI::Range(0, 65535));
  auto* x509 = serve_cmd->add_option("--x509-dir", serve.x509_dir,
                                     "Directory with ca-cert.pem, server-cert.pem, server-key.pem and optionally "
                                     "ca-crl.pem (the file names QEMU and libvirt use)")
                   ->check(CLI::ExistingDirectory);
  auto* verify_client = serve_cmd->add_flag("--tls-verify-client", serve.tls_verify_client,
                                            "Require a client certificate signed by ca-cert.pem (and not revoked "
                                            "in ca-crl.pem)");
  auto* secure = serve_cmd->add_option("--secure-channels", serve.secure_channels,
                                       "Channels that must use TLS: all, or a list of main,display,inputs,cursor; "
                                       "the plain port answers them with NEED_SECURED and clients reconnect them "
                                       "over TLS");
  auto* sasl = serve_cmd->add_flag("--sasl", serve.sasl,
                                   "Authenticate with Cyrus SASL (application name tessera: configuration in "
                                   "tessera.conf) instead of a password file");
  serve_cmd->add_option("--sasl-config-dir", serve.sasl_config_dir,
                        "Directory holding tessera.conf (default: SASL_CONF_PATH, else Cyrus's own default)")
      ->check(CLI::ExistingDirectory)
      ->needs(sasl);
  serve_cmd->add_option("--link-timeout", serve.link_timeout,
                        "Seconds a connection gets to finish TLS, the link and authentication")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 600.0));
  serve_cmd->add_option("--max-unauthenticated", serve.max_unauthenticated,
                        "Connections that may be in the link stage (not yet authenticated) at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  serve_cmd->add_option("--auth-penalty", serve.auth_penalty,
                        "After failed logins an address waits (SPICE and VNC together): FREE,MAX gives the "
                        "failures it has free and the longest wait in seconds (1 s, then doubling up to MAX); "
                        "off: never wait (failures are still logged). Behind one tunnel, proxy or NAT every "
                        "viewer shares the address: see --auth-exempt")
      ->capture_default_str()
      ->check([](const std::string& v) {
        AuthLimits l;
        return apply_auth_penalty(v, l) ? std::string() : "expected off or FREE,MAX (MAX 1..3600 seconds)";
      });
  serve_cmd->add_option("--auth-exempt", serve.auth_exempt,
                        "Addresses or networks whose failed logins never make them wait (e.g. 127.0.0.1 for "
                        "viewers that all come through an SSH tunnel, or 10.0.0.0/8); link-stage limits still "
                        "apply")
      ->delimiter(',')
      ->check([](const std::string& v) {
        return Network::parse(v) ? std::string() : "expected an address or a network such as 10.0.0.0/8";
      });
  auto* vnc_port = serve_cmd->add_option("--vnc-port", serve.vnc_port,
                                         "Serve VNC (RFB 3.3/3.7/3.8) on this port too (5900 by convention; 0 picks a "
                                         "free port); off unless given")
                       ->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--vnc-security", serve.vnc_security,
                        "VNC security types to offer, in order: none, vnc, sasl, x509none, x509vnc, x509plain, "
                        "x509sasl, and (anonymous TLS, open to a man in the middle) tlsnone, tlsvnc, tlsplain, "
                        "tlssasl. Default: X509 types when --x509-dir is given, else SASL or None as the "
                        "authentication options say")
      ->needs(vnc_port);
  tls_port->needs(x509);
  verify_client->needs(x509);
  secure->needs(tls_port);
  auto* no_ticket = serve_cmd->add_flag("--disable-ticketing", serve.disable_ticketing,
                                        "Let clients connect without a password");
  auto* pw = serve_cmd->add_option("--password-file", serve.password_file,
                                   "File whose first line is the password clients must give (at most 60 "
                                   "characters; keep it chmod 600)")
                 ->check(CLI::ExistingFile);
  serve_cmd->add_option("--ticket-expiry", serve.ticket_expiry,
                        "Seconds after start when the password stops working (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->needs(pw);
  serve_cmd->add_option("--image-codec", serve.image_codec,
                        "Lossless images for SPICE: auto (for each image the smallest of a palette bitmap, GLZ "
                        "with the client's dictionary window, and LZ4), glz, lz4, palette, or off (plain bitmaps). "
                        "Content the client still holds in its cache is referenced, not sent again, in every mode "
                        "but off")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "glz", "lz4", "palette", "off"}));
  serve_cmd->add_flag("--no-lz4", serve.no_lz4, "The same as --image-codec off (kept for older scripts)");
  serve_cmd->add_option("--peer-timeout", serve.peer_timeout,
                        "SPICE: seconds a channel may hear nothing from its client (quiet channels are pinged "
                        "every 10 s, and clients answer) before it is closed as gone; 0: never. TCP keepalive "
                        "notices a vanished peer on every connection, VNC included, within about 30 s")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  serve_cmd->add_option("--repaint-budget", serve.repaint_budget,
                        "SPICE: how the area a video stream leaves is repainted losslessly: auto (in parts, each "
                        "update within a per-client budget that starts at two stream frames and follows the "
                        "display channel's ACK round trips and late-frame reports), off (all in one update), or "
                        "KB per update")
      ->capture_default_str()
      ->check([](const std::string& v) {
        return spice::parse_repaint_pacing(v) ? std::string() : "expected auto, off or KB per update (1..1048576)";
      });
  serve_cmd->add_option("--frames", serve.frames,
                        "Capture this many frames (ticks 0..N-1), then keep serving the last one (0: no limit); "
                        "for reproducible test and benchmark runs")
      ->capture_default_str();
  add_video_options(serve_cmd, serve.video, true);
  add_gpu_option(serve_cmd, serve.gpu);
  no_ticket->excludes(pw);
  sasl->excludes(pw);
  sasl->excludes(no_ticket);
  serve_cmd->callback([&] {
    if (!serve.disable_ticketing && serve.password_file.empty() && !serve.sasl)
      throw CLI::ValidationError("authentication",
                                 "choose --password-file FILE, --sasl, or --disable-ticketing to let anyone connect");
    if (!serve.x509_dir.empty() && serve.tls_port < 0 && serve.vnc_port < 0)
      throw CLI::ValidationError("--x509-dir", "needs --spice-tls-port or --vnc-port: nothing would use it");
    // Every way in must check the certificate, or a client without one simply takes another.
    if (serve.tls_verify_client && serve.spice_port != "off" && serve.secure_channels != "all")
      throw CLI::ValidationError("--tls-verify-client",
                                 "needs --spice-port off or --secure-channels all: otherwise a client without a "
                                 "certificate simply uses the plain SPICE port");
    if (serve.spice_port == "off" && serve.tls_port < 0 && serve.vnc_port < 0)
      throw CLI::ValidationError("--spice-port",
                                 "off needs --spice-tls-port or --vnc-port: there must be some port to serve on");
    try {
      parse_secure_channels(serve.secure_channels);
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError("--secure-channels", e.what());
    }
  });

  CommonOptions snap_common;
  uint64_t snap_frame = 0;
  std::string snap_out;
  auto* snap_cmd = app.add_subcommand("snapshot", "Write the frame a source produces to a PNG file");
  add_source_options(snap_cmd, snap_common);
  snap_cmd->add_option("--frame", snap_frame, "Frame index (tick) to capture")->capture_default_str();
  snap_cmd->add_option("--out", snap_out, "PNG file to write")->required();
  bool snap_overlay = false;
  snap_cmd->add_flag("--overlay", snap_overlay,
                     "Draw the damage tracker's decisions over the frame: motion tinted red, static changes "
                     "outlined green, scrolls outlined blue, lossless repaints after motion outlined yellow");

  VideoOptions probe_video;
  auto* probe_cmd = app.add_subcommand(
      "probe", "Try every video encoder candidate (hardware first) and say which works and why others do not");
  add_video_options(probe_cmd, probe_video, false);
  std::string probe_gpu = "auto";
  add_gpu_option(probe_cmd, probe_gpu);

  BenchCommand bench;
  add_bench_commands(app, bench);

  CLI11_PARSE(app, argc, argv);
  init_logging();
  // The bench opens hundreds of encoders and streams: their info lines would bury its output.
  const bool quiet_default = (bench.bench->parsed() || bench.record->parsed()) && app.count("--log-level") == 0;
  set_log_level(quiet_default ? "warn" : log_level);

  try {
    if (serve_cmd->parsed()) return run_serve(serve_common, serve);
    if (snap_cmd->parsed()) return run_snapshot(snap_common, snap_frame, snap_out, snap_overlay);
    if (probe_cmd->parsed()) {
      std::fputs(gpu_probe_report(probe_gpu).c_str(), stdout);
      return run_probe(probe_video);
    }
    if (bench.bench->parsed()) {
      std::string line = "tessera";
      for (int i = 1; i < argc; ++i) line += std::string(" ") + argv[i];
      return run_bench(bench, line);
    }
    if (bench.record->parsed()) return run_record(bench);
  } catch (const std::exception& e) {
    spdlog::error("tessera: {}", e.what());
    return 1;
  }
  return 0;
}
