#include "transport/spice/video_streams.h"

#include <algorithm>
#include <random>

#include "core/frame_clock.h"
#include "core/log.h"
#include "encode/color_convert.h"

namespace tessera::spice {

namespace {
constexpr uint32_t kMaxStreams = 64;  // SPICE_MAX_NUM_STREAMS
constexpr uint32_t kReportWindow = 5;  // frames per client report
constexpr uint32_t kReportTimeoutMs = 1000;
constexpr auto kRaiseEvery = std::chrono::seconds(2);
constexpr size_t kMaxMarginSamples = 100000;

}  // namespace

uint8_t spice_codec_type(VideoCodec c) {
  switch (c) {
    case VideoCodec::mjpeg: return SPICE_VIDEO_CODEC_TYPE_MJPEG;
    case VideoCodec::vp8: return SPICE_VIDEO_CODEC_TYPE_VP8;
    case VideoCodec::h264: return SPICE_VIDEO_CODEC_TYPE_H264;
    case VideoCodec::vp9: return SPICE_VIDEO_CODEC_TYPE_VP9;
    case VideoCodec::h265: return SPICE_VIDEO_CODEC_TYPE_H265;
  }
  return 0;
}

std::optional<VideoCodec> codec_of_spice_type(uint8_t type) {
  for (VideoCodec c : kAllVideoCodecs)
    if (spice_codec_type(c) == type) return c;
  return std::nullopt;
}

unsigned spice_codec_cap(VideoCodec c) {
  switch (c) {
    case VideoCodec::mjpeg: return SPICE_DISPLAY_CAP_CODEC_MJPEG;
    case VideoCodec::vp8: return SPICE_DISPLAY_CAP_CODEC_VP8;
    case VideoCodec::h264: return SPICE_DISPLAY_CAP_CODEC_H264;
    case VideoCodec::vp9: return SPICE_DISPLAY_CAP_CODEC_VP9;
    case VideoCodec::h265: return SPICE_DISPLAY_CAP_CODEC_H265;
  }
  return 0;
}


// The largest part of `m` that copies only pixels the client holds exactly (outside `unsafe`)
// and lands outside the live streams (`video`); nullopt when no part does. A sub-rectangle of
// a move, with the same offset, is a move too: a terminal scroll that shares a tile column
// with a video keeps going as COPY_BITS, and only the cut-off part is painted.
std::optional<Move> safe_move_part(const Move& m, const Region& unsafe, const Region& video) {
  const int32_t dx = m.dst.x - m.src_x, dy = m.dst.y - m.src_y;
  Region bad(m.src());
  bad.intersect(unsafe).translate(dx, dy);
  Region into(m.dst);
  bad.add(into.intersect(video));
  if (bad.empty()) return m;
  const Rect b = bad.bounds(), d = m.dst;
  const Rect slabs[4] = {{d.x, d.y, b.x - d.x, d.height},
                         {b.right(), d.y, d.right() - b.right(), d.height},
                         {d.x, d.y, d.width, b.y - d.y},
                         {d.x, b.bottom(), d.width, d.bottom() - b.bottom()}};
  const Rect* best = std::max_element(slabs, slabs + 4, [](const Rect& p, const Rect& q) { return p.area() < q.area(); });
  if (best->area() == 0) return std::nullopt;
  return Move{*best, best->x - dx, best->y - dy};
}

struct VideoStreams::Stream {
  uint32_t id = 0;
  uint32_t unique_id = 0;
  Rect rect;
  VideoCodec codec = VideoCodec::h264;
  std::unique_ptr<VideoEncoder> encoder;
  int bitrate_kbps = 0;
  Clock::time_point created, last_sent, last_rate_change;
  uint32_t last_change_mm = 0;  // stamp of the first frame at the current rate
  bool owes = true;  // a new stream shows nothing until its first frame
  uint64_t frames = 0, bytes = 0;
};

VideoStreams::VideoStreams(VideoSettings settings, CapFn client_cap, std::string tag, ReadyFn ready)
    : cfg_(std::move(settings)),
      client_cap_(std::move(client_cap)),
      tag_(std::move(tag)),
      ready_(std::move(ready)),
      delay_ms_(cfg_.frame_delay_ms) {
  cfg_.min_bitrate_kbps = std::min(cfg_.min_bitrate_kbps, cfg_.bitrate_kbps);
}

namespace {
uint32_t frame_interval_ms(int fps) { return uint32_t(1000 / std::max(1, fps)); }
// How soon after a frame the next may go under --video-fps-max: a quarter of an interval of
// slack, so capture jitter does not hold frames back.
std::chrono::microseconds min_frame_gap(int fps) { return std::chrono::microseconds(750000 / std::max(1, fps)); }
}  // namespace

VideoStreams::~VideoStreams() = default;

void VideoStreams::post_report(const StreamReport& r) {
  std::lock_guard lock(in_mu_);
  if (reports_.size() < 256) reports_.push_back(r);
}

void VideoStreams::post_preferred_codecs(std::vector<uint8_t> spice_types) {
  std::lock_guard lock(in_mu_);
  preferred_ = std::move(spice_types);
}

std::optional<VideoCodec> VideoStreams::choose_codec() const {
  if (!cfg_.encoders) return std::nullopt;
  std::vector<VideoCodec> order;
  // The client's order first (only codecs the server allows), then the server's.
  for (uint8_t t : client_order_)
    if (auto c = codec_of_spice_type(t); c && std::count(cfg_.codecs.begin(), cfg_.codecs.end(), *c))
      order.push_back(*c);
  for (VideoCodec c : cfg_.codecs)
    if (!std::count(order.begin(), order.end(), c)) order.push_back(c);
  const bool multi = client_cap_(SPICE_DISPLAY_CAP_MULTI_CODEC);
  for (VideoCodec c : order) {
    if (std::count(failed_codecs_.begin(), failed_codecs_.end(), c) || !cfg_.encoders->selected(c)) continue;
    // Clients from before codec negotiation decode MJPEG only.
    bool client_ok = c == VideoCodec::mjpeg ? (client_cap_(SPICE_DISPLAY_CAP_CODEC_MJPEG) || !multi)
                                            : (multi && client_cap_(spice_codec_cap(c)));
    if (client_ok) return c;
  }
  return std::nullopt;
}

uint32_t VideoStreams::mm_now() const { return cfg_.mm_clock ? cfg_.mm_clock() : monotonic_ms(); }

int VideoStreams::rate_kbps() const {
  int rate = 0;
  for (const auto& s : streams_) rate = std::max(rate, s->bitrate_kbps);
  if (rate == 0) rate = last_rate_kbps_;
  return rate > 0 ? rate : cfg_.bitrate_kbps;
}

Region VideoStreams::covered() const {
  Region r;
  for (const auto& s : streams_) r.add(s->rect);
  return r;
}

Region VideoStreams::plan(const Region& motion_area, const Rect& bounds, Clock::time_point now, const SendFn& send) {
  Region repaint;
  // Reports may end streams (a client that cannot decode); their areas need repainting.
  {
    Region before = covered();
    apply_reports(now);
    before.subtract(covered());
    repaint.add(before);
  }
  std::vector<Rect> boxes;
  if (cfg_.encoders && !cfg_.codecs.empty())
    for (const Rect& b : motion_boxes(motion_area, bounds)) {
      Rect t = trim_sparse_edges(b, motion_area);
      if (t.area() >= cfg_.min_area) boxes.push_back(t);
    }

  std::vector<bool> keep(streams_.size(), false);
  std::vector<Rect> settled;
  std::vector<Candidate> next_candidates;
  for (const Rect& b : boxes) {
    // A stream lives on while motion touches it (a settling replacement ends it below). A box
    // mostly inside one needs nothing more: what strays outside goes lossless.
    bool inside = false;
    for (size_t i = 0; i < streams_.size(); ++i) {
      Rect common = streams_[i]->rect.intersect(b);
      keep[i] = keep[i] || !common.empty();
      inside |= common.area() * 2 >= b.area();
    }
    if (inside) continue;
    Candidate c{b, now};
    for (const Candidate& old : candidates_)
      if (old.rect.intersects(b)) {
        c.rect = c.rect.united(old.rect).intersect(bounds);
        c.since = std::min(c.since, old.since);
      }
    if (now - c.since >= cfg_.settle) {
      // A stream it overlaps (a video that grew or moved far) gives way to the new one.
      settled.push_back(c.rect);
    } else {
      next_candidates.push_back(c);
    }
  }
  candidates_ = std::move(next_candidates);
  const std::vector<Rect>& to_open = settled;
  for (const Rect& u : to_open)
    for (size_t i = 0; i < streams_.size(); ++i)
      if (streams_[i]->rect.intersects(u)) keep[i] = false;
  for (size_t i = streams_.size(); i-- > 0;)
    if (!keep[i]) {
      repaint.add(streams_[i]->rect);
      close_stream(i, true, send);
    }
  for (const Rect& u : to_open) {
    bool overlaps = false;
    for (const auto& s : streams_) overlaps |= s->rect.intersects(u);
    if (overlaps || streams_.size() >= cfg_.max_streams) continue;  // stays lossless
    if (!open_stream(u, now, send)) break;
  }
  repaint.subtract(covered());
  return repaint;
}

bool VideoStreams::open_stream(const Rect& r, Clock::time_point now, const SendFn& send) {
  for (;;) {
    auto codec = choose_codec();
    if (!codec) return false;
    uint32_t id = 0;
    while (id < kMaxStreams && std::any_of(streams_.begin(), streams_.end(), [&](auto& s) { return s->id == id; }))
      ++id;
    if (id == kMaxStreams) return false;
    auto s = std::make_unique<Stream>();
    VideoEncoderConfig ec;
    ec.width = r.width;
    ec.height = r.height;
    ec.fps = cfg_.fps_max;
    ec.bitrate_kbps = cfg_.bitrate_kbps;
    ec.preset = cfg_.preset;
    ec.threads = cfg_.encoder_threads;
    try {
      s->encoder = cfg_.encoders->open(*codec, ec);
    } catch (const std::exception& e) {
      spdlog::warn("{}: cannot open a {} encoder for a {}x{} stream, trying another codec: {}", tag_,
                   to_string(*codec), r.width, r.height, e.what());
      failed_codecs_.push_back(*codec);
      continue;
    }
    static thread_local std::mt19937 rng{std::random_device{}()};
    s->id = id;
    s->unique_id = uint32_t(rng());
    s->rect = r;
    s->codec = *codec;
    s->bitrate_kbps = cfg_.bitrate_kbps;
    s->created = s->last_rate_change = now;
    s->last_change_mm = mm_now();
    if (!send(SPICE_MSG_DISPLAY_STREAM_CREATE, stream_create(id, spice_codec_type(*codec), r))) return false;
    if (client_cap_(SPICE_DISPLAY_CAP_STREAM_REPORT))
      send(SPICE_MSG_DISPLAY_STREAM_ACTIVATE_REPORT,
           stream_activate_report(id, s->unique_id, kReportWindow, kReportTimeoutMs));
    spdlog::info("{}: stream {} opened: {} through {} at {},{} {}x{}, {} kb/s", tag_, id, to_string(*codec),
                 s->encoder->name(), r.x, r.y, r.width, r.height, s->bitrate_kbps);
    ++stats_.streams;
    streams_.push_back(std::move(s));
    return true;
  }
}

void VideoStreams::close_stream(size_t index, bool tell_client, const SendFn& send) {
  Stream& s = *streams_[index];
  if (tell_client) send(SPICE_MSG_DISPLAY_STREAM_DESTROY, stream_destroy(s.id));
  recently_closed_.push_back({s.id, s.unique_id, s.codec});
  last_rate_kbps_ = s.bitrate_kbps;
  if (recently_closed_.size() > 8) recently_closed_.erase(recently_closed_.begin());
  double secs = std::chrono::duration<double>(s.last_sent - s.created).count();
  spdlog::info("{}: stream {} closed after {} frames, {} bytes ({:.0f} kb/s)", tag_, s.id, s.frames, s.bytes,
               secs > 0 ? double(s.bytes) * 8 / 1000 / secs : 0.0);
  streams_.erase(streams_.begin() + std::ptrdiff_t(index));
}

void VideoStreams::destroy_all(const SendFn& send) {
  while (!streams_.empty()) close_stream(streams_.size() - 1, true, send);
  candidates_.clear();
}

void VideoStreams::apply_reports(Clock::time_point now) {
  std::vector<StreamReport> reports;
  {
    std::lock_guard lock(in_mu_);
    reports.swap(reports_);
    if (preferred_) {
      client_order_ = std::move(*preferred_);
      preferred_.reset();
    }
  }
  const uint32_t max_delay = frame_interval_ms(cfg_.fps_max);
  for (const StreamReport& r : reports) {
    auto it = std::find_if(streams_.begin(), streams_.end(),
                           [&](auto& s) { return s->id == r.stream_id && s->unique_id == r.unique_id; });
    if (it == streams_.end()) {
      // A stream that already ended; if the client could not decode it, still avoid its codec.
      for (const Closed& c : recently_closed_)
        if (r.unsupported() && c.id == r.stream_id && c.unique_id == r.unique_id &&
            !std::count(failed_codecs_.begin(), failed_codecs_.end(), c.codec)) {
          spdlog::warn("{}: the client cannot decode {}; using another codec or lossless images", tag_,
                       to_string(c.codec));
          failed_codecs_.push_back(c.codec);
        }
      continue;
    }
    Stream& s = **it;
    if (r.unsupported()) {
      spdlog::warn("{}: the client cannot decode {} (stream {}); using another codec or lossless images", tag_,
                   to_string(s.codec), s.id);
      failed_codecs_.push_back(s.codec);
      close_stream(size_t(it - streams_.begin()), false, [](uint16_t, const Body&) { return true; });
      continue;
    }
    ++stats_.reports;
    stats_.late_frames += r.num_drops;
    if (stats_.margins.size() < kMaxMarginSamples) stats_.margins.push_back(r.last_frame_delay);
    // Late frames first widen the stamp margin (up to one frame interval: jitter, not a
    // congested link); with the margin at its limit, a quarter or more late cuts the rate.
    // Reports about frames sent before the last change say nothing about the new rate.
    const bool late = r.num_drops > 0 && uint64_t(r.num_drops) * 4 >= r.num_frames;
    const bool after_change = int32_t(r.start_frame_mm_time - s.last_change_mm) >= 0;
    if (r.num_drops > 0) {
      delay_ms_ = std::min(max_delay, delay_ms_ + 4);
    } else if (delay_ms_ > cfg_.frame_delay_ms && r.last_frame_delay > int32_t(delay_ms_ / 2)) {
      --delay_ms_;
    }
    int rate = s.bitrate_kbps;
    const auto raise_every = s.encoder->changes_rate_live() ? kRaiseEvery : 3 * kRaiseEvery;
    if (late && after_change && delay_ms_ >= max_delay) {
      rate = std::max(cfg_.min_bitrate_kbps, rate * 3 / 4);
    } else if (!late && now - s.last_rate_change >= raise_every) {
      // Encoders that reopen (a keyframe) on a change take fewer, larger steps.
      int step = s.encoder->changes_rate_live() ? std::max(100, rate / 10) : std::max(250, rate / 4);
      rate = std::min(cfg_.bitrate_kbps, rate + step);
    }
    if (rate != s.bitrate_kbps) {
      spdlog::debug("{}: stream {}: {} of {} frames late, last margin {} ms: {} -> {} kb/s", tag_, s.id, r.num_drops,
                    r.num_frames, r.last_frame_delay, s.bitrate_kbps, rate);
      s.bitrate_kbps = rate;
      s.encoder->set_bitrate(rate);
      s.last_rate_change = now;
      s.last_change_mm = mm_now() + delay_ms_;
    }
  }
}

Region VideoStreams::send_frames(const Region& damage, const Frame& frame, Clock::time_point now, const SendFn& send) {
  Region lost;
  const auto min_gap = min_frame_gap(cfg_.fps_max);
  for (size_t i = 0; i < streams_.size();) {
    Stream& s = *streams_[i];
    Region here(s.rect);
    here.intersect(damage);
    if (!s.owes && here.empty()) {
      ++i;
      continue;
    }
    if (s.frames > 0 && now - s.last_sent < min_gap) {
      s.owes = true;  // held back by --video-fps-max; sent when due
      ++stats_.held_back;
      ++i;
      continue;
    }
    try {
      if (!send_frame(s, frame, now, send)) return lost;
      ++i;
    } catch (const std::exception& e) {
      spdlog::warn("{}: stream {} ({}) failed, repainting it losslessly: {}", tag_, s.id, to_string(s.codec), e.what());
      failed_codecs_.push_back(s.codec);
      lost.add(s.rect);
      close_stream(i, true, send);
    }
  }
  return lost;
}

bool VideoStreams::send_frame(Stream& s, const Frame& frame, Clock::time_point now, const SendFn& send) {
  VideoEncoder& enc = *s.encoder;
  picture_.reset(enc.input_layout(), s.rect.width, s.rect.height, enc.full_range_input());
  picture_.set_bt709(enc.wants_bt709());
  auto t0 = Clock::now();
  bgrx_to_yuv(frame, s.rect, picture_);
  auto t1 = Clock::now();
  const auto cpu0 = process_cpu_time();
  auto out = enc.encode(picture_, false);
  stats_.encode_cpu += process_cpu_time() - cpu0;
  auto t2 = Clock::now();
  stats_.convert_time += t1 - t0;
  stats_.encode_time += t2 - t1;
  ++stats_.encoded;
  s.owes = false;
  s.last_sent = now;
  if (out.empty()) ++stats_.dropped;
  const bool sized = client_cap_(SPICE_DISPLAY_CAP_SIZED_STREAM);
  for (const EncodedFrame& ef : out) {
    if (ef.data.empty()) continue;
    if (ready_ && !ready_()) return false;
    // The real multimedia time plus a small margin: the client shows the frame on arrival.
    // MJPEG frames that arrive late are dropped by the client, so they get a full interval.
    uint32_t margin = s.codec == VideoCodec::mjpeg ? frame_interval_ms(cfg_.fps_max) : delay_ms_;
    uint32_t mm = mm_now() + margin;
    Body b = sized ? stream_data_sized(s.id, mm, s.rect, ef.data) : stream_data(s.id, mm, ef.data);
    if (!send(sized ? SPICE_MSG_DISPLAY_STREAM_DATA_SIZED : SPICE_MSG_DISPLAY_STREAM_DATA, b)) return false;
    ++s.frames;
    s.bytes += ef.data.size();
    ++stats_.frames;
    stats_.keyframes += ef.keyframe;
    stats_.bytes += ef.data.size();
  }
  return true;
}

std::optional<VideoStreams::Clock::time_point> VideoStreams::next_due() const {
  std::optional<Clock::time_point> due;
  const auto min_gap = min_frame_gap(cfg_.fps_max);
  for (const auto& s : streams_)
    if (s->owes) {
      auto t = s->last_sent + min_gap;
      if (!due || t < *due) due = t;
    }
  return due;
}

std::string VideoStreams::summary() const {
  if (stats_.streams == 0) return "no video streams";
  std::string margin = "no client reports";
  if (!stats_.margins.empty()) {
    auto m = stats_.margins;
    std::sort(m.begin(), m.end());
    margin = fmt::format("client wait before display (report margin) p50 {} ms, min {} ms, max {} ms over {} reports",
                         m[m.size() / 2], m.front(), m.back(), stats_.reports);
  }
  return fmt::format(
      "{} video streams, {} frames ({} keyframes; {} held back by --video-fps-max, {} dropped by encoders), {} bytes; "
      "{}; {} late frames",
      stats_.streams, stats_.frames, stats_.keyframes, stats_.held_back, stats_.dropped, stats_.bytes, margin,
      stats_.late_frames);
}

}  // namespace tessera::spice
