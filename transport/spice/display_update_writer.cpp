#include "transport/spice/display_update_writer.h"

#include "core/log.h"
#include "encode/palette_image.h"
#include "encode/uniform_bands.h"

namespace tessera::spice {

namespace {
// Below this many pixels compression costs more than it saves.
constexpr int64_t kMinLz4Pixels = 256;
// More rectangles than this go as their bounding box: fewer, larger draws are cheaper.
constexpr size_t kMaxRectsPerUpdate = 32;
// INVAL_LIST entries per message (9 bytes each).
constexpr size_t kMaxInvalidationsPerMessage = 1024;
}  // namespace

std::optional<ImageCodec> parse_image_codec(const std::string& name) {
  for (ImageCodec c : {ImageCodec::Auto, ImageCodec::Glz, ImageCodec::Lz4, ImageCodec::Palette, ImageCodec::Off})
    if (name == to_string(c)) return c;
  return std::nullopt;
}

const char* to_string(ImageCodec c) {
  switch (c) {
    case ImageCodec::Auto: return "auto";
    case ImageCodec::Glz: return "glz";
    case ImageCodec::Lz4: return "lz4";
    case ImageCodec::Palette: return "palette";
    case ImageCodec::Off: return "off";
  }
  return "auto";
}

DisplayUpdateWriter::DisplayUpdateWriter(VideoSettings video, ImageCodec codec, VideoStreams::CapFn client_cap,
                                         VideoStreams::ReadyFn ready, SendFn send, std::string tag)
    : codec_(codec),
      client_cap_(std::move(client_cap)),
      ready_(std::move(ready)),
      send_(std::move(send)),
      tag_(std::move(tag)),
      video_(std::make_unique<VideoStreams>(std::move(video), client_cap_, tag_, ready_)) {}

bool DisplayUpdateWriter::send_waiting(uint16_t type, const Body& body) {
  if (ready_ && !ready_()) return false;
  send_(type, body);
  return true;
}

void DisplayUpdateWriter::send_counted(uint16_t type, const Body& body) {
  send_(type, body);
  sent_.bytes += body.size();
}

void DisplayUpdateWriter::send_image(const Frame& f, const Rect& r) {
  auto t0 = Clock::now();
  // Content the client still holds goes as a reference to it.
  std::optional<ImageCache::Key> key;
  if (cache_.worth_caching(r.area())) {
    key = ImageCache::key_of(f, r);
    if (auto id = cache_.find(*key)) {
      sent_.lossless_time += Clock::now() - t0;
      send_counted(SPICE_MSG_DISPLAY_DRAW_COPY, draw_copy_from_cache(r, *id));
      ++sent_.draws;
      ++sent_.cache_hits;
      return;
    }
  }
  const uint8_t flags = key ? SPICE_IMAGE_FLAGS_CACHE_ME : 0;
  const uint64_t id = next_image_id_++;
  // A client that asked for no compression gets plain bitmaps whatever the setting.
  const bool compress = preferred_compression_ != SPICE_IMAGE_COMPRESSION_OFF && codec_ != ImageCodec::Off;
  auto allowed = [&](ImageCodec c) { return compress && (codec_ == ImageCodec::Auto || codec_ == c); };
  // The smallest body of the candidates goes: palette indices for few colours (text, flat UI),
  // GLZ where earlier images hold the same content, LZ4 otherwise.
  Body b;
  bool palette = false, lz4 = false, glz = false;
  auto take = [&](Body candidate) {
    if (candidate.empty() || (!b.empty() && candidate.size() >= b.size())) return false;
    b = std::move(candidate);
    return true;
  };
  if (allowed(ImageCodec::Palette))
    if (auto p = palette_image(f, r)) palette = take(draw_copy_palette(r, id, *p, flags));
  // Each later candidate gives up once it is as large as the best so far: the same choice, at
  // a fraction of the work where the palette bitmap is far smaller (text).
  auto limit = [&] { return b.empty() ? SIZE_MAX : b.size(); };
  if (allowed(ImageCodec::Lz4) && client_cap_(SPICE_DISPLAY_CAP_LZ4_COMPRESSION) && r.area() >= kMinLz4Pixels &&
      take(draw_copy_lz4(f, r, id, lz4_encoder_, flags, limit())))
    palette = false, lz4 = true;
  if (allowed(ImageCodec::Glz) && glz_.enabled())
    if (auto stream = glz_.encode(f, r, limit()); stream && take(draw_copy_glz(r, id, *stream, flags))) {
      palette = lz4 = false;
      glz = true;
    }
  if (b.empty()) b = draw_copy_bitmap(f, r, id, flags);
  if (glz) glz_.commit();  // the client adds it to its window as it decodes it
  sent_.lossless_time += Clock::now() - t0;
  if (key) {
    // Room first: the client must never hold more than it announced.
    std::vector<uint64_t> evicted = cache_.insert(*key, id, r.area());
    sent_.cache_evictions += evicted.size();
    for (size_t i = 0; i < evicted.size(); i += kMaxInvalidationsPerMessage) {
      std::vector<uint64_t> part(evicted.begin() + long(i),
                                 evicted.begin() + long(std::min(evicted.size(), i + kMaxInvalidationsPerMessage)));
      send_counted(SPICE_MSG_DISPLAY_INVAL_LIST, inval_list(part));
    }
  }
  send_counted(SPICE_MSG_DISPLAY_DRAW_COPY, b);
  ++sent_.draws;
  sent_.lz4_draws += lz4;
  sent_.palette_draws += palette;
  sent_.glz_draws += glz;
}

void DisplayUpdateWriter::send_rect(const Frame& f, const Rect& r) {
  for (const Band& band : uniform_bands(f, r)) {
    if (ready_ && !ready_()) return;
    if (band.solid) {
      Body b = draw_fill(band.rect, *band.solid);
      send_(SPICE_MSG_DISPLAY_DRAW_FILL, b);
      ++sent_.fills;
      sent_.bytes += b.size();
    } else {
      send_image(f, band.rect);
    }
  }
}

void DisplayUpdateWriter::send_lossless(const Frame& f, const Region& region) {
  std::vector<Rect> rects = region.rects();
  if (rects.size() > kMaxRectsPerUpdate) {
    // The bounding box instead, less the live streams (draws never touch their areas).
    Region box(region.bounds());
    box.subtract(video_->covered());
    rects = box.rects();
  }
  for (const Rect& r : rects) {
    if (ready_ && !ready_()) return;
    send_rect(f, r);
  }
}

void DisplayUpdateWriter::steer_budget() {
  repaint_budget_.set_stream(video_->rate_kbps(), video_->fps());
  if (int64_t rtt = pending_rtt_ns_.exchange(-1); rtt >= 0)
    repaint_budget_.on_round_trip(std::chrono::nanoseconds(rtt));
  if (uint64_t late = video_->stats().late_frames; late > late_frames_seen_) {
    late_frames_seen_ = late;
    repaint_budget_.on_late_frames();
  }
}

void DisplayUpdateWriter::send_repaint(const Frame& f, Clock::time_point now) {
  if (owed_.empty()) return;
  const int64_t budget = repaint_budget_.bytes();
  const uint64_t start = sent_.bytes;
  auto spent = [&] { return int64_t(sent_.bytes - start); };
  // Parts sized to 90 % of the budget at the ratio the repaint compressed at so far (large
  // images compress better than strips), and never above twice the budget raw: one update
  // overshoots its budget by one part at most.
  for (const Rect& r : owed_.rects()) {
    const double row_bytes = double(r.width) * 4;
    for (int32_t y = r.y; y < r.bottom() && spent() < budget;) {
      const double expected_row = std::max(1.0, row_bytes * repaint_ratio_);
      const int64_t rows = std::min<int64_t>(int64_t(double(budget) * 0.9 / expected_row), 2 * budget / int64_t(row_bytes));
      // At least 8 rows, unless fewer are left.
      const Rect part{r.x, y, r.width, int32_t(std::min<int64_t>(std::max<int64_t>(rows, 8), r.bottom() - y))};
      const uint64_t before = sent_.bytes;
      send_rect(f, part);
      owed_.subtract(Region(part));
      const double ratio = double(sent_.bytes - before) / (row_bytes * part.height);
      repaint_ratio_ = std::clamp(0.5 * repaint_ratio_ + 0.5 * ratio, 0.01, 1.0);
      y = part.bottom();
    }
    if (spent() >= budget) break;
  }
  ++sent_.repaint_parts;
  ++run_parts_;
  run_bytes_ += sent_.bytes - start;
  last_repaint_ = now;
  if (!owed_.empty()) return;
  ++sent_.repaints;
  spdlog::info("{}: repainted what ended streams left in {} updates, {} bytes (budget {} bytes per update)", tag_,
               run_parts_, run_bytes_, budget);
  run_parts_ = run_bytes_ = 0;
}

void DisplayUpdateWriter::update(const Subscription::FrameUpdate& u, Clock::time_point now) {
  const Frame& f = *u.frame;
  last_frame_ = u.frame;
  const VideoStreams::SendFn send_fn = [this](uint16_t type, const Body& b) { return send_waiting(type, b); };
  bool new_surface = u.resized || !surface_created_;
  if (!cache_started_) {
    // The cache budget is fixed before the first image; the client forgets images an earlier
    // display channel of its session may have left under ids we would reuse.
    cache_started_ = true;
    cache_.set_capacity(client_cache_pixels_.load());
    if (cache_.capacity() > 0) send_counted(SPICE_MSG_DISPLAY_INVAL_ALL_PIXMAPS, inval_all_pixmaps());
    if (glz_allowed_) glz_ = GlzEncoder(client_glz_pixels_.load());
  }
  if (new_surface) {
    video_->destroy_all(send_fn);
    owed_ = Region{};
    if (surface_created_) send_(SPICE_MSG_DISPLAY_SURFACE_DESTROY, surface_destroy(0));
    send_(SPICE_MSG_DISPLAY_SURFACE_CREATE, surface_create(0, uint32_t(f.width()), uint32_t(f.height())));
    surface_created_ = true;
    spdlog::info("{}: primary surface {}x{}", tag_, f.width(), f.height());
  }
  // Streams first: where they start and end decides what goes lossless.
  Region damage = u.damage;
  // Streams that end in this update leave lossy pixels until their repaint below.
  Region unsafe = video_->covered();
  unsafe.add(owed_);
  // Also on a new surface: a viewer that joins while video plays gets it as video from its first
  // update, not as one more lossless picture of it.
  Region ended = video_->plan(u.motion_area, f.bounds(), now, send_fn);
  if (repaint_budget_.paced())
    owed_.add(ended);
  else
    damage.add(ended);
  const Region video = video_->covered();
  owed_.subtract(video);
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
    if (!send_waiting(SPICE_MSG_DISPLAY_COPY_BITS, copy_bits(*part))) return;
    owed_.subtract(Region(part->dst));  // exact pixels copied over the lossy ones
    ++sent_.copies;
  }
  ++sent_.updates;
  steer_budget();
  // Video first: its frames are the time-critical part of the update.
  Region lost = video_->send_frames(damage, f, now, send_fn);
  Region still = damage;
  still.subtract(video_->covered());
  still.add(lost);
  // What changed anew goes whole; what was under an ended stream waits for its part of the repaint.
  still.subtract(owed_);
  send_lossless(f, still);
  send_repaint(f, now);
  if (new_surface) {
    // remote-viewer shows the display once it has the monitor layout and a MARK.
    send_(SPICE_MSG_DISPLAY_MONITORS_CONFIG, monitors_config(uint32_t(f.width()), uint32_t(f.height())));
    send_(SPICE_MSG_DISPLAY_MARK, {});
  }
}

DisplayUpdateWriter::Clock::time_point DisplayUpdateWriter::repaint_due() const {
  // A quarter interval early, as stream frames: a tick that comes a little early still sends.
  return last_repaint_ + repaint_budget_.interval() * 3 / 4;
}

std::optional<DisplayUpdateWriter::Clock::time_point> DisplayUpdateWriter::next_due() const {
  std::optional<Clock::time_point> due = video_->next_due();
  if (!owed_.empty()) {
    auto at = repaint_due();
    if (!due || at < *due) due = at;
  }
  return due;
}

void DisplayUpdateWriter::send_owed_frames(Clock::time_point now) {
  if (!last_frame_) return;
  auto due = video_->next_due();
  const VideoStreams::SendFn send_fn = [this](uint16_t type, const Body& b) { return send_waiting(type, b); };
  if (due && *due <= now) {
    Region lost = video_->send_frames(Region{}, *last_frame_, now, send_fn);
    lost.subtract(owed_);
    send_lossless(*last_frame_, lost);
  }
  if (!owed_.empty() && repaint_due() <= now) {
    steer_budget();
    send_repaint(*last_frame_, now);
  }
}

}  // namespace tessera::spice
