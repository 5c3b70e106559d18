#include "transport/spice/display_channel.h"


#include "core/log.h"
#include "transport/spice/messages.h"

namespace tessera::spice {

namespace {
// Below this many pixels compression costs more than it saves.
constexpr int64_t kMinLz4Pixels = 256;
// More rectangles than this go as their bounding box: fewer, larger draws are cheaper.
constexpr size_t kMaxRectsPerUpdate = 32;
constexpr std::chrono::milliseconds kClientInitWait{500};

}  // namespace

void DisplayChannel::on_start() {
  video_ = std::make_unique<VideoStreams>(
      ctx_.settings.video, [this](unsigned cap) { return client_has_cap(cap); }, tag(),
      [this] { return wait_for_ack_window(); });
  PushChannel::on_start();
}

void DisplayChannel::on_stop() {
  PushChannel::on_stop();
  spdlog::info("{}: sent {} updates: {} draws ({} LZ4), {} copy-bits, {} image bytes; {}", tag(), sent_.updates,
               sent_.draws, sent_.lz4_draws, sent_.copies, sent_.bytes, video_ ? video_->summary() : "");
}

void DisplayChannel::on_message(uint16_t type, WireReader& body) {
  switch (type) {
    case SPICE_MSGC_DISPLAY_INIT: {
      body.u8();   // pixmap cache id
      body.u64();  // pixmap cache size: we send no cacheable images
      body.u8();   // GLZ dictionary id
      body.u32();  // GLZ window: we send no GLZ images
      std::lock_guard lock(init_mu_);
      init_received_ = true;
      break;
    }
    case SPICE_MSGC_DISPLAY_PREFERRED_COMPRESSION: {
      uint8_t c = body.u8();
      preferred_compression_ = c;
      spdlog::debug("{}: client prefers image compression {}", tag(), c);
      break;
    }
    case SPICE_MSGC_DISPLAY_STREAM_REPORT:
      video_->post_report(parse_stream_report(body));
      break;
    case SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE: {
      auto codecs = parse_preferred_video_codecs(body);
      spdlog::debug("{}: client prefers {} video codec types", tag(), codecs.size());
      video_->post_preferred_codecs(std::move(codecs));
      break;
    }
    case SPICE_MSGC_DISPLAY_GL_DRAW_DONE:
      break;  // we never send GL scanouts
    default:
      spdlog::debug("{}: ignoring display message {}", tag(), type);
  }
}

void DisplayChannel::on_drained() {
  std::lock_guard lock(init_mu_);
  if (init_received_ && !client_ready_) {
    client_ready_ = true;
    init_cv_.notify_all();
  }
}

bool DisplayChannel::wait_for_client_init() {
  std::unique_lock lock(init_mu_);
  // Clients that never send INIT still get their picture, a moment later.
  init_cv_.wait_for(lock, kClientInitWait, [&] { return client_ready_ || closed(); });
  return !closed();
}

void DisplayChannel::send_rect(const Frame& f, const Rect& r) {
  bool lz4 = ctx_.settings.lz4 && client_has_cap(SPICE_DISPLAY_CAP_LZ4_COMPRESSION) &&
             preferred_compression_ != SPICE_IMAGE_COMPRESSION_OFF && r.area() >= kMinLz4Pixels;
  Body b = lz4 ? draw_copy_lz4(f, r, next_image_id_++, lz4_) : Body{};
  const bool sent_lz4 = !b.empty();
  if (!sent_lz4) b = draw_copy_bitmap(f, r, next_image_id_++);
  send(SPICE_MSG_DISPLAY_DRAW_COPY, b);
  ++sent_.draws;
  sent_.lz4_draws += sent_lz4;
  sent_.bytes += b.size();
}

bool DisplayChannel::send_waiting(uint16_t type, const Body& body) {
  if (!wait_for_ack_window()) return false;
  send(type, body);
  return true;
}

void DisplayChannel::send_lossless(const Frame& f, const Region& region) {
  std::vector<Rect> rects = region.rects();
  if (rects.size() > kMaxRectsPerUpdate) {
    // The bounding box instead, less the live streams (draws never touch their areas).
    Region box(region.bounds());
    box.subtract(video_->covered());
    rects = box.rects();
  }
  for (const Rect& r : rects) {
    if (!wait_for_ack_window()) return;
    send_rect(f, r);
  }
}

void DisplayChannel::send_update(const Subscription::FrameUpdate& u) {
  const Frame& f = *u.frame;
  last_frame_ = u.frame;
  const auto send_fn = stream_sender();
  const auto now = VideoStreams::Clock::now();
  bool new_surface = u.resized || !surface_created_;
  if (new_surface) {
    video_->destroy_all(send_fn);
    if (surface_created_) send(SPICE_MSG_DISPLAY_SURFACE_DESTROY, surface_destroy(0));
    send(SPICE_MSG_DISPLAY_SURFACE_CREATE, surface_create(0, uint32_t(f.width()), uint32_t(f.height())));
    surface_created_ = true;
    spdlog::info("{}: primary surface {}x{}", tag(), f.width(), f.height());
  }
  // Streams first: where they start and end decides what goes lossless.
  Region damage = u.damage;
  // Streams that end in this update leave lossy pixels until their repaint below.
  Region unsafe = video_->covered();
  if (!new_surface) damage.add(video_->plan(u.motion_area, f.bounds(), now, send_fn));
  const Region video = video_->covered();
  // A move may only copy pixels the client holds exactly, and never into a stream's area;
  // the part of it that would is painted instead (and is not exact until then).
  unsafe.add(video);
  for (const Move& m : u.moves) {
    auto part = safe_move_part(m, unsafe, video);
    Region rest(m.dst);
    if (part) rest.subtract(Region(part->dst));
    damage.add(rest);
    unsafe.add(rest);
    if (!part) continue;
    if (!wait_for_ack_window()) return;
    send(SPICE_MSG_DISPLAY_COPY_BITS, copy_bits(*part));
    ++sent_.copies;
  }
  ++sent_.updates;
  // Video first: its frames are the time-critical part of the update.
  Region lost = video_->send_frames(damage, f, now, send_fn);
  Region still = damage;
  still.subtract(video_->covered());
  still.add(lost);
  send_lossless(f, still);
  if (new_surface) {
    // remote-viewer shows the display once it has the monitor layout and a MARK.
    send(SPICE_MSG_DISPLAY_MONITORS_CONFIG, monitors_config(uint32_t(f.width()), uint32_t(f.height())));
    send(SPICE_MSG_DISPLAY_MARK, {});
  }
}

void DisplayChannel::send_owed_frames() {
  auto due = video_->next_due();
  const auto now = VideoStreams::Clock::now();
  if (!due || *due > now || !last_frame_) return;
  const auto send_fn = stream_sender();
  send_lossless(*last_frame_, video_->send_frames(Region{}, *last_frame_, now, send_fn));
}

void DisplayChannel::push_loop() {
  if (!wait_for_client_init()) return;
  while (!closed()) {
    auto timeout = std::chrono::milliseconds(500);
    if (auto due = video_->next_due()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*due - VideoStreams::Clock::now());
      timeout = std::clamp(left, std::chrono::milliseconds(0), timeout);
    }
    bool pending = sub_->wait(timeout);
    if (sub_->closed()) return;
    if (!wait_for_ack_window()) return;
    if (pending) {
      if (auto u = sub_->take_frame()) {
        send_update(*u);
        continue;
      }
    }
    send_owed_frames();
  }
}

}  // namespace tessera::spice
