// Stream lifecycle, codec choice, rate control and message layout of SPICE video streams,
// with stand-in encoders (the real ones are tested in encode_test and end to end).
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <set>

#include "core/frame_clock.h"
#include "transport/spice/display_update_writer.h"
#include "transport/spice/video_streams.h"

namespace tessera::spice {
namespace {

using Clock = VideoStreams::Clock;
using namespace std::chrono_literals;

struct EncoderLog {
  std::vector<int> bitrates;
  bool fail_next = false;
  int opened = 0;
};

class StandInEncoder : public VideoEncoder {
 public:
  StandInEncoder(VideoEncoderConfig c, EncoderLog* log) : VideoEncoder(std::move(c)), log_(log) {}
  YuvLayout input_layout() const override { return YuvLayout::i420; }
  std::vector<EncodedFrame> encode(const YuvImage& p, bool) override {
    if (log_->fail_next) throw EncoderError("stand-in failure");
    EXPECT_EQ(p.width(), cfg_.width);
    return {EncodedFrame{{uint8_t(frames_), 0xAB}, frames_++ == 0}};
  }
  void set_bitrate(int kbps) override { log_->bitrates.push_back(kbps); }
  std::string name() const override { return "stand-in"; }

 private:
  EncoderLog* log_;
  int frames_ = 0;
};

struct Sent {
  uint16_t type;
  Body body;
};

struct Fixture {
  EncoderLog log;
  std::set<unsigned> caps{SPICE_DISPLAY_CAP_MULTI_CODEC, SPICE_DISPLAY_CAP_CODEC_H264, SPICE_DISPLAY_CAP_CODEC_VP9,
                          SPICE_DISPLAY_CAP_CODEC_MJPEG, SPICE_DISPLAY_CAP_STREAM_REPORT,
                          SPICE_DISPLAY_CAP_SIZED_STREAM};
  std::vector<Sent> sent;
  VideoSettings settings;
  std::unique_ptr<VideoStreams> streams;
  Frame frame{640, 400};
  Clock::time_point t0 = Clock::now();

  explicit Fixture(std::vector<VideoCodec> codecs = {VideoCodec::h264, VideoCodec::vp9, VideoCodec::mjpeg}) {
    EncoderCatalogOptions o;
    o.codecs = codecs;
    o.opener = [this](const EncoderCandidate& c, const VideoEncoderConfig& cfg) -> std::unique_ptr<VideoEncoder> {
      if (c.kind != EncoderKind::software) throw EncoderError("no device");
      ++log.opened;
      return std::make_unique<StandInEncoder>(cfg, &log);
    };
    settings.encoders = std::make_shared<EncoderCatalog>(EncoderCatalog::probe(o));
    log.opened = 0;
    settings.codecs = codecs;
    settings.bitrate_kbps = 4000;
    settings.min_bitrate_kbps = 1000;
    make();
  }
  void make() {
    streams = std::make_unique<VideoStreams>(settings, [this](unsigned c) { return caps.count(c) > 0; }, "test");
  }
  VideoStreams::SendFn send() {
    return [this](uint16_t type, const Body& b) {
      sent.push_back({type, b});
      return true;
    };
  }
  Region plan(const Region& motion, Clock::duration at) { return streams->plan(motion, frame.bounds(), t0 + at, send()); }
  std::vector<uint16_t> types() const {
    std::vector<uint16_t> t;
    for (const Sent& s : sent) t.push_back(s.type);
    return t;
  }
  // Opens a stream on `r` (after the settle time) and clears the message log.
  void open(const Rect& r) {
    plan(Region(r), 0ms);
    plan(Region(r), 150ms);
    ASSERT_FALSE(streams->empty());
  }
};

// A flat 640x400 desktop with noise (incompressible, like video) over `video`.
std::shared_ptr<Frame> desktop_with_noise(const Rect& video) {
  auto frame = std::make_shared<Frame>(640, 400);
  frame->fill(frame->bounds(), bgrx(40, 60, 110));
  uint64_t h = 1;
  for (int32_t y = video.y; y < video.bottom(); ++y)
    for (int32_t x = video.x; x < video.right(); ++x) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      frame->set_pixel(x, y, uint32_t(h >> 32) | 0xFF000000u);
    }
  return frame;
}

uint32_t le32(const Body& b, size_t at) { return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | uint32_t(b[at + 3]) << 24; }

TEST(MotionBoxes, ConnectedPartsBecomeEvenBoxes) {
  Region m;
  m.add({10, 10, 32, 32});
  m.add({42, 10, 32, 32});     // touches the first
  m.add({301, 201, 33, 31});   // apart, odd corners
  auto boxes = motion_boxes(m, {0, 0, 333, 300});
  ASSERT_EQ(boxes.size(), 2u);
  EXPECT_EQ(boxes[0], (Rect{10, 10, 64, 32}));
  EXPECT_EQ(boxes[1], (Rect{300, 200, 32, 32}));  // right edge clipped to the even 332
  EXPECT_TRUE(motion_boxes(Region(), {0, 0, 100, 100}).empty());
}

TEST(MotionBoxes, ThinTrailsAreTrimmedOff) {
  Region m(Rect{320, 64, 256, 192});  // a video
  m.add({0, 64, 320, 32});            // a pointer trail joined to it, across text
  Rect box = motion_boxes(m, {0, 0, 640, 400}).front();
  EXPECT_EQ(box, (Rect{0, 64, 576, 192}));
  EXPECT_EQ(trim_sparse_edges(box, m), (Rect{320, 64, 256, 192}));
  Region full(Rect{0, 0, 128, 128});
  EXPECT_EQ(trim_sparse_edges({0, 0, 128, 128}, full), (Rect{0, 0, 128, 128}));
}

TEST(SafeMovePart, KeepsTheLargestPartAwayFromLossyPixels) {
  Move scroll{{16, 32, 214, 160}, 16, 48};  // text scrolled up 16 rows
  Region video(Rect{224, 64, 256, 128});
  // No stream nearby: the whole move.
  EXPECT_EQ(safe_move_part(scroll, Region(), Region()), scroll);
  // The stream shares the text's last 6 columns: those are painted, the rest still moves.
  auto part = safe_move_part(scroll, video, video);
  ASSERT_TRUE(part);
  EXPECT_EQ(part->dst, (Rect{16, 32, 208, 160}));
  EXPECT_EQ(part->src_x, 16);
  EXPECT_EQ(part->src_y, 48);
  // A source inside lossy pixels (a stream's former area) cuts the copy where it reads them.
  Region lossy_src(Rect{16, 150, 214, 58});  // src rows 150..207 -> dst rows 134..191
  part = safe_move_part(scroll, lossy_src, Region());
  ASSERT_TRUE(part);
  EXPECT_EQ(part->dst, (Rect{16, 32, 214, 102}));
  EXPECT_EQ(part->src(), (Rect{16, 48, 214, 102}));
  // Entirely inside a stream: nothing moves.
  EXPECT_FALSE(safe_move_part(scroll, Region(Rect{0, 0, 640, 400}), Region(Rect{0, 0, 640, 400})));
}

TEST(VideoStreams, OpensAtOnceByDefault) {
  // The tracker brings a starting video in whole (fast entry): its stream opens on that frame.
  Fixture f;
  EXPECT_EQ(f.settings.settle, 0ms);
  f.plan(Region(Rect{320, 64, 256, 192}), 0ms);
  EXPECT_EQ(f.types(), (std::vector<uint16_t>{SPICE_MSG_DISPLAY_STREAM_CREATE, SPICE_MSG_DISPLAY_STREAM_ACTIVATE_REPORT}));
}

// A viewer that joins while video plays gets the video area as a stream in its very first
// update (after the surface), and losslessly only the rest of the picture.
TEST(DisplayUpdateWriterVideo, AViewerJoiningPlayingVideoGetsItAsVideoFirst) {
  Fixture f;
  const Rect video{320, 64, 256, 192};
  auto frame = desktop_with_noise(video);
  auto join = [&](const Region& motion_area, std::vector<uint16_t>& types) {
    uint64_t image_bytes = 0;
    DisplayUpdateWriter w(
        f.settings, ImageCodec::Auto, [&](unsigned c) { return f.caps.count(c) > 0; }, nullptr,
        [&](uint16_t type, const Body& b) {
          types.push_back(type);
          if (type == SPICE_MSG_DISPLAY_DRAW_COPY) image_bytes += b.size();
        },
        "test");
    Subscription::FrameUpdate u;
    u.frame = frame;
    u.damage = Region(frame->bounds());
    u.motion = motion_area;
    u.motion_area = motion_area;
    u.resized = true;
    w.update(u, f.t0);
    return image_bytes;
  };
  std::vector<uint16_t> playing, still;
  uint64_t with_video = join(Region(video), playing), without = join(Region{}, still);
  auto at = [](const std::vector<uint16_t>& t, uint16_t type) { return std::find(t.begin(), t.end(), type) - t.begin(); };
  ASSERT_LT(at(playing, SPICE_MSG_DISPLAY_STREAM_CREATE), std::ptrdiff_t(playing.size()));
  EXPECT_LT(at(playing, SPICE_MSG_DISPLAY_SURFACE_CREATE), at(playing, SPICE_MSG_DISPLAY_STREAM_CREATE));
  EXPECT_LT(std::min(at(playing, SPICE_MSG_DISPLAY_STREAM_DATA), at(playing, SPICE_MSG_DISPLAY_STREAM_DATA_SIZED)),
            std::ptrdiff_t(playing.size()));
  EXPECT_EQ(at(still, SPICE_MSG_DISPLAY_STREAM_CREATE), std::ptrdiff_t(still.size()));
  // The noisy video area is most of the lossless picture's bytes; with the stream it is not sent.
  EXPECT_LT(with_video * 4, without) << with_video << " vs " << without;
}

TEST(RepaintBudget, StartsAtTwoStreamFramesAndFollowsTheClient) {
  RepaintBudget b;
  b.set_stream(8000, 30);  // 33,333 bytes a frame
  EXPECT_EQ(b.bytes(), 66666);
  b.on_round_trip(5ms);  // a window back within half a frame: the link has room
  EXPECT_EQ(b.bytes(), 133332);
  b.on_round_trip(20ms);  // between half and one interval: as it is
  EXPECT_EQ(b.bytes(), 133332);
  b.on_round_trip(50ms);  // slower than a frame: the client falls behind
  EXPECT_EQ(b.bytes(), 66666);
  for (int i = 0; i < 10; ++i) b.on_round_trip(1ms);
  EXPECT_EQ(b.bytes(), 16 * 33333);  // never past 16 stream frames
  for (int i = 0; i < 10; ++i) b.on_late_frames();
  EXPECT_EQ(b.bytes(), RepaintBudget::kMinBytes);  // a repaint always moves
  b.set_stream(250, 60);  // reports cut the stream's rate: the budget stays within its bounds
  EXPECT_EQ(b.bytes(), RepaintBudget::kMinBytes);

  RepaintBudget off(*parse_repaint_pacing("off")), fixed(*parse_repaint_pacing("48"));
  off.set_stream(8000, 30), fixed.set_stream(8000, 30);
  EXPECT_FALSE(off.paced());
  EXPECT_EQ(off.bytes(), std::numeric_limits<int64_t>::max());
  fixed.on_round_trip(1ms);
  EXPECT_EQ(fixed.bytes(), 48 * 1024);
  for (const char* bad : {"", "0", "-4", "12k", "auto ", "2000000"}) EXPECT_FALSE(parse_repaint_pacing(bad)) << bad;
  EXPECT_EQ(to_string(*parse_repaint_pacing("48")), "48");
}

// The area a stream leaves is repainted over several updates, each within the budget, while
// what changes elsewhere still goes at once; with pacing off it all goes in one update.
TEST(DisplayUpdateWriterVideo, AnEndedStreamIsRepaintedInPartsWithinTheBudget) {
  Fixture f;
  const Rect video{64, 64, 512, 288};
  auto frame = desktop_with_noise(video);
  struct Run {
    std::vector<uint64_t> update_bytes;  // lossless image bytes of each update after the stream ended
    bool typed_at_once = false;
  };
  auto run = [&](const char* pacing) {
    Run out;
    uint64_t bytes = 0;
    bool typed = false;
    DisplayUpdateWriter w(
        f.settings, ImageCodec::Lz4, [&](unsigned c) { return f.caps.count(c) > 0 || c == SPICE_DISPLAY_CAP_LZ4_COMPRESSION; },
        nullptr,
        [&](uint16_t type, const Body& b) {
          if (type != SPICE_MSG_DISPLAY_DRAW_COPY && type != SPICE_MSG_DISPLAY_DRAW_FILL) return;
          bytes += b.size();
          // The fill of the typed line below: its rectangle's top is row 380.
          if (type == SPICE_MSG_DISPLAY_DRAW_FILL && le32(b, 4) == 380) typed = true;
        },
        "test");
    w.set_repaint_pacing(*parse_repaint_pacing(pacing));
    Subscription::FrameUpdate u;
    u.frame = frame;
    u.damage = Region(frame->bounds());
    u.motion = u.motion_area = Region(video);
    u.resized = true;
    w.update(u, f.t0);
    EXPECT_FALSE(w.video().empty());
    // Motion stops: the stream ends, and a line is typed below it in the same update.
    auto typed_frame = std::make_shared<Frame>(*frame);
    typed_frame->fill({8, 380, 300, 10}, bgrx(250, 250, 250));
    u.frame = typed_frame;
    u.damage = Region(Rect{8, 380, 300, 10});
    u.motion = u.motion_area = Region{};
    u.resized = false;
    bytes = 0;
    w.update(u, f.t0 + 33ms);
    EXPECT_TRUE(w.video().empty());
    out.typed_at_once = typed;
    out.update_bytes.push_back(bytes);
    for (int i = 2; i < 100 && w.next_due(); ++i) {
      bytes = 0;
      w.send_owed_frames(f.t0 + i * 33ms);
      out.update_bytes.push_back(bytes);
    }
    EXPECT_TRUE(w.repaint_owed().empty());
    EXPECT_FALSE(w.next_due());
    return out;
  };
  Run paced = run("auto"), at_once = run("off");
  const uint64_t budget = 2 * 4000 * 1000 / 8 / 30;  // two stream frames at the fixture's 4000 kb/s
  ASSERT_GT(paced.update_bytes.size(), 4u) << "590 KB of noise takes many updates at 33 KB";
  for (uint64_t b : paced.update_bytes) EXPECT_LE(b, 2 * budget);
  EXPECT_TRUE(paced.typed_at_once) << "fresh changes do not wait for the repaint";
  ASSERT_EQ(at_once.update_bytes.size(), 1u);
  EXPECT_TRUE(at_once.typed_at_once);
  uint64_t paced_total = 0;
  for (uint64_t b : paced.update_bytes) paced_total += b;
  EXPECT_GT(at_once.update_bytes[0], 512u * 288 * 4 * 9 / 10);  // noise does not compress
  EXPECT_NEAR(double(paced_total), double(at_once.update_bytes[0]), 0.02 * double(at_once.update_bytes[0]));
}

TEST(VideoStreams, OpensAfterSettlingWithTheClientsFirstCodec) {
  Fixture f;
  f.settings.settle = 100ms;
  f.make();
  Rect r{320, 64, 256, 192};
  EXPECT_TRUE(f.plan(Region(r), 0ms).empty());
  EXPECT_TRUE(f.sent.empty()) << "a new motion area first settles";
  f.plan(Region(r), 150ms);
  ASSERT_EQ(f.types(), (std::vector<uint16_t>{SPICE_MSG_DISPLAY_STREAM_CREATE, SPICE_MSG_DISPLAY_STREAM_ACTIVATE_REPORT}));
  const Body& c = f.sent[0].body;
  ASSERT_EQ(c.size(), 51u);
  EXPECT_EQ(le32(c, 0), 0u);                         // surface
  EXPECT_EQ(c[8], SPICE_STREAM_FLAGS_TOP_DOWN);      // else the client flips every frame
  EXPECT_EQ(c[9], SPICE_VIDEO_CODEC_TYPE_H264);
  EXPECT_EQ(le32(c, 18), 256u);                      // stream width
  EXPECT_EQ(le32(c, 34), 64u);                       // dest top
  EXPECT_EQ(le32(c, 38), 320u);                      // dest left
  EXPECT_EQ(c[50], SPICE_CLIP_TYPE_NONE);
  EXPECT_EQ(f.streams->covered().bounds(), r);

  // The first frame is owed even without damage; sized data when the client has the cap.
  f.sent.clear();
  EXPECT_TRUE(f.streams->send_frames(Region(), f.frame, f.t0 + 150ms, f.send()).empty());
  ASSERT_EQ(f.types(), (std::vector<uint16_t>{SPICE_MSG_DISPLAY_STREAM_DATA_SIZED}));
  EXPECT_EQ(f.sent[0].body.size(), kStreamDataSizedHeaderBytes + 2);
  EXPECT_EQ(le32(f.sent[0].body, 32), 2u);  // data size
}

TEST(VideoStreams, ClientCapsAndPreferencePickTheCodec) {
  {
    Fixture f;
    f.caps.erase(SPICE_DISPLAY_CAP_CODEC_H264);
    f.make();
    f.open({0, 0, 128, 128});
    EXPECT_EQ(f.sent[0].body[9], SPICE_VIDEO_CODEC_TYPE_VP9);
  }
  {
    Fixture f;  // a client from before codec negotiation: MJPEG only
    f.caps = {};
    f.make();
    f.open({0, 0, 128, 128});
    EXPECT_EQ(f.sent[0].body[9], SPICE_VIDEO_CODEC_TYPE_MJPEG);
    EXPECT_EQ(f.sent.size(), 1u) << "no report activation without the client's STREAM_REPORT cap";
  }
  {
    Fixture f;
    f.streams->post_preferred_codecs({SPICE_VIDEO_CODEC_TYPE_VP9, SPICE_VIDEO_CODEC_TYPE_H264});
    f.open({0, 0, 128, 128});
    EXPECT_EQ(f.sent[0].body[9], SPICE_VIDEO_CODEC_TYPE_VP9);
  }
  {
    Fixture f;  // a codec the server was not asked to use is never chosen
    f.caps.erase(SPICE_DISPLAY_CAP_CODEC_H264);
    f.caps.erase(SPICE_DISPLAY_CAP_CODEC_VP9);
    f.caps.erase(SPICE_DISPLAY_CAP_CODEC_MJPEG);
    f.caps.insert(SPICE_DISPLAY_CAP_CODEC_VP8);
    f.make();
    f.plan(Region(Rect{0, 0, 128, 128}), 0ms);
    f.plan(Region(Rect{0, 0, 128, 128}), 150ms);
    EXPECT_TRUE(f.streams->empty());
    EXPECT_TRUE(f.sent.empty());
  }
}

TEST(VideoStreams, MotionEndingDestroysTheStreamAndRepaintsItsArea) {
  Fixture f;
  Rect r{64, 64, 256, 128};
  f.open(r);
  f.sent.clear();
  Region repaint = f.plan(Region(), 400ms);
  EXPECT_EQ(f.types(), (std::vector<uint16_t>{SPICE_MSG_DISPLAY_STREAM_DESTROY}));
  EXPECT_EQ(repaint.bounds(), r);
  EXPECT_TRUE(f.streams->covered().empty());
}

TEST(VideoStreams, SmallStrayMotionKeepsTheStreamLargeGrowthReplacesIt) {
  Fixture f;
  f.settings.settle = 100ms;
  f.make();
  Rect r{64, 64, 256, 128};
  f.open(r);
  f.sent.clear();
  Region stray(r);
  stray.add({320, 64, 32, 32});  // a pointer trail joining the group
  EXPECT_TRUE(f.plan(stray, 200ms).empty());
  EXPECT_TRUE(f.sent.empty());
  // A window that grew to three times the size: after settling, one new stream replaces it.
  Rect big{64, 64, 512, 192};
  f.plan(Region(big), 300ms);
  EXPECT_TRUE(f.sent.empty()) << "still settling";
  Region repaint = f.plan(Region(big), 450ms);
  EXPECT_EQ(f.types(), (std::vector<uint16_t>{SPICE_MSG_DISPLAY_STREAM_DESTROY, SPICE_MSG_DISPLAY_STREAM_CREATE,
                                              SPICE_MSG_DISPLAY_STREAM_ACTIVATE_REPORT}));
  EXPECT_TRUE(repaint.empty()) << "the new stream covers the old area";
  EXPECT_EQ(f.streams->covered().bounds(), big);
}

TEST(VideoStreams, LateFramesWidenTheMarginThenCutTheRate) {
  Fixture f;
  f.open({0, 0, 128, 128});
  const Body& act = f.sent[1].body;
  uint32_t id = le32(act, 0), unique = le32(act, 4);
  const Region m(Rect{0, 0, 128, 128});
  // Frames stamped after any rate change so far (mm times are the server's clock).
  auto report = [&](uint32_t frames, uint32_t late, int32_t margin, int32_t start_from_now = 1000) {
    uint32_t start = monotonic_ms() + uint32_t(start_from_now);
    return StreamReport{id, unique, start, start + 100, frames, late, margin, 0};
  };
  // Late frames first widen the stamp margin, 4 ms per report, up to one frame interval
  // (33 ms at 30 fps): 7 reports. Only then do late frames mean a congested link.
  for (int i = 0; i < 6; ++i) f.streams->post_report(report(5, 2, -3));
  f.plan(m, 200ms);
  EXPECT_TRUE(f.log.bitrates.empty()) << "jitter within a frame interval is no reason to cut";
  f.streams->post_report(report(5, 2, -3));
  f.plan(m, 250ms);
  ASSERT_EQ(f.log.bitrates, (std::vector<int>{3000}));
  // A minority of late frames, or reports on frames sent before the cut, change nothing.
  f.streams->post_report(report(5, 1, -3));
  f.streams->post_report(report(5, 5, -30, -1000));
  f.plan(m, 300ms);
  EXPECT_EQ(f.log.bitrates.size(), 1u);
  f.streams->post_report(report(5, 3, -10));
  f.plan(m, 350ms);
  EXPECT_EQ(f.log.bitrates, (std::vector<int>{3000, 2250}));
  // Good reports raise the rate only every 2 s, in 10 % steps, never above the setting.
  f.streams->post_report(report(5, 0, 20));
  f.plan(m, 1s);
  EXPECT_EQ(f.log.bitrates.size(), 2u);
  for (int s = 3; s < 40; s += 2) {
    f.streams->post_report(report(5, 0, 20));
    f.plan(m, std::chrono::seconds(s));
  }
  EXPECT_EQ(f.log.bitrates[2], 2250 + 225);
  EXPECT_EQ(f.log.bitrates.back(), 4000);
  // A report for another stream (or an older one with the same id) changes nothing.
  size_t n = f.log.bitrates.size();
  f.streams->post_report({id, unique + 1, 0, 0, 5, 5, -50, 0});
  f.plan(m, 41s);
  EXPECT_EQ(f.log.bitrates.size(), n);
  EXPECT_NE(f.streams->summary().find("reports"), std::string::npos) << f.streams->summary();
}

// With an injected multimedia clock (the bench's), reports stamped in that clock after a rate
// cut count as after it: the cut is remembered in the clock frames carry, not the real one.
TEST(VideoStreams, RateChangesAreRememberedInTheStreamsOwnClock) {
  Fixture f;
  uint32_t mm = monotonic_ms() - (1u << 30);  // well behind the real clock
  f.settings.mm_clock = [&] { return mm; };
  f.make();
  f.open({0, 0, 128, 128});
  const Body& act = f.sent[1].body;
  uint32_t id = le32(act, 0), unique = le32(act, 4);
  const Region m(Rect{0, 0, 128, 128});
  auto late = [&] { return StreamReport{id, unique, mm, mm + 100, 5, 3, -10, 0}; };
  for (int i = 0; i < 8; ++i) f.streams->post_report(late());
  f.plan(m, 200ms);
  ASSERT_EQ(f.log.bitrates, (std::vector<int>{3000}));
  mm += 500;  // frames sent after the cut, reported late again
  f.streams->post_report(late());
  f.plan(m, 300ms);
  EXPECT_EQ(f.log.bitrates, (std::vector<int>{3000, 2250}));
}

TEST(VideoStreams, FramesCarryTheRealClockPlusTheMargin) {
  Fixture f;
  f.open({0, 0, 128, 128});
  f.sent.clear();
  uint32_t before = monotonic_ms();
  f.streams->send_frames(Region(), f.frame, f.t0 + 150ms, f.send());
  uint32_t after = monotonic_ms();
  ASSERT_EQ(f.sent.size(), 1u);
  uint32_t mm = le32(f.sent[0].body, 4);
  EXPECT_GE(int32_t(mm - before), 8);
  EXPECT_LE(int32_t(mm - after), 8);
}

TEST(VideoStreams, AClientThatCannotDecodeGetsAnotherCodec) {
  Fixture f;
  f.settings.settle = 100ms;
  f.make();
  Rect r{0, 0, 128, 128};
  f.open(r);
  uint32_t id = le32(f.sent[1].body, 0), unique = le32(f.sent[1].body, 4);
  f.sent.clear();
  f.streams->post_report({id, unique, 0, 0, 0, 0xFFFFFFFFu, 0, 0});
  Region repaint = f.plan(Region(r), 200ms);
  // The client already dropped it: no DESTROY; the area is repainted; a VP9 stream settles.
  EXPECT_TRUE(f.sent.empty());
  EXPECT_EQ(repaint.bounds(), r);
  f.plan(Region(r), 400ms);
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[0].body[9], SPICE_VIDEO_CODEC_TYPE_VP9);
}

TEST(VideoStreams, EncoderFailureEndsTheStreamLosslessly) {
  Fixture f;
  Rect r{0, 0, 128, 128};
  f.open(r);
  f.sent.clear();
  f.log.fail_next = true;
  Region lost = f.streams->send_frames(Region(r), f.frame, f.t0 + 200ms, f.send());
  EXPECT_EQ(lost.bounds(), r);
  EXPECT_EQ(f.types(), (std::vector<uint16_t>{SPICE_MSG_DISPLAY_STREAM_DESTROY}));
  EXPECT_TRUE(f.streams->empty());
}

TEST(VideoStreams, FpsCapHoldsFramesBackUntilDue) {
  Fixture f;
  f.settings.fps_max = 10;
  f.make();
  Rect r{0, 0, 128, 128};
  f.open(r);
  f.sent.clear();
  auto t = f.t0 + 150ms;
  f.streams->send_frames(Region(r), f.frame, t, f.send());
  f.streams->send_frames(Region(r), f.frame, t + 30ms, f.send());
  EXPECT_EQ(f.sent.size(), 1u);
  ASSERT_TRUE(f.streams->next_due());
  EXPECT_EQ(*f.streams->next_due(), t + 75ms) << "a quarter interval of slack for capture jitter";
  f.streams->send_frames(Region(), f.frame, t + 75ms, f.send());
  EXPECT_EQ(f.sent.size(), 2u);
  EXPECT_FALSE(f.streams->next_due());
}

TEST(VideoStreams, NoEncodersMeansNoStreams) {
  Fixture f;
  f.settings.encoders.reset();
  f.make();
  f.plan(Region(Rect{0, 0, 256, 256}), 0ms);
  EXPECT_TRUE(f.plan(Region(Rect{0, 0, 256, 256}), 1s).empty());
  EXPECT_TRUE(f.sent.empty());
}

TEST(StreamMessages, ReportParsingRejectsShortBodies) {
  Body good = WireWriter().u32(1).u32(2).u32(3).u32(4).u32(5).u32(6).i32(-7).u32(8).take();
  WireReader r(good, "stream report");
  StreamReport s = parse_stream_report(r);
  EXPECT_EQ(s.stream_id, 1u);
  EXPECT_EQ(s.last_frame_delay, -7);
  EXPECT_FALSE(s.unsupported());
  for (size_t n = 0; n < good.size(); ++n) {
    WireReader shortr(std::span<const uint8_t>(good.data(), n), "stream report");
    EXPECT_THROW(parse_stream_report(shortr), ProtocolError) << n;
  }
  Body pref{3, SPICE_VIDEO_CODEC_TYPE_VP9, SPICE_VIDEO_CODEC_TYPE_H264};
  WireReader pr(pref, "codec preference");
  EXPECT_THROW(parse_preferred_video_codecs(pr), ProtocolError) << "claims 3 codecs, holds 2";
}

}  // namespace
}  // namespace tessera::spice
