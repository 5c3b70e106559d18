#include "capture/video_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "core/log.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace tessera {

namespace {

constexpr int32_t kMaxSide = 16384;
// Tick times (index / fps) and frame times (pts * time base) are compared with this much slack,
// so that 2 / 20 and 1024 / 10240 count as the same 0.1 s whatever the rounding.
constexpr double kSlack = 1e-6;

std::string av_error(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  if (av_strerror(err, buf, sizeof buf) < 0) return fmt::format("FFmpeg error {}", err);
  return buf;
}

int sws_colorspace(AVColorSpace cs) {
  switch (cs) {
    case AVCOL_SPC_BT709:
      return SWS_CS_ITU709;
    case AVCOL_SPC_FCC:
      return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M:
      return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      return SWS_CS_BT2020;
    default:
      return SWS_CS_ITU601;  // also what FFmpeg assumes for untagged video
  }
}

}  // namespace

struct VideoSource::Impl {
  std::string path;
  double tick_fps = 30;
  AVFormatContext* input = nullptr;
  AVCodecContext* dec = nullptr;
  AVPacket* pkt = nullptr;
  AVFrame* cur = nullptr;   // the decoded frame on show
  AVFrame* next = nullptr;  // the one after it, decoded ahead (when have_next)
  SwsContext* sws = nullptr;
  int stream = -1;
  AVRational time_base{1, 1};
  Size size;                        // the picture we give out: the video's, cut to even numbers
  double frame_rate = 0;            // as the file states it; 0 when it does not
  double frame_interval = 0;        // for frames without a timestamp or a duration
  double duration = 0;              // seconds per pass; 0 until known
  int64_t origin = AV_NOPTS_VALUE;  // timestamp of the first frame: media time 0
  double cur_time = 0;              // seconds into the pass
  double next_time = 0;
  bool have_next = false;
  bool draining = false;  // the demuxer is done; the decoder gives out what it still holds
  bool still = false;     // the file holds a single picture: nothing to loop
  bool decoded_any = false;
  int frames_in_pass = 0;
  uint64_t pass = 0;  // passes completed before the current one
  int bad_packets = 0;
  int last_error = 0;
  FramePtr shown;      // `cur` as BGRX
  bool unsent = true;  // `shown` has not been given out yet

  ~Impl() {
    close();
    sws_freeContext(sws);
    av_frame_free(&cur);
    av_frame_free(&next);
    av_packet_free(&pkt);
  }

  [[noreturn]] void fail(const std::string& what, int err) const {
    throw std::runtime_error(fmt::format("video {}: {}: {}", path, what, av_error(err)));
  }

  void close() {
    avcodec_free_context(&dec);
    avformat_close_input(&input);
  }

  // Opens the file and its best video stream's decoder.
  void open() {
    int err = avformat_open_input(&input, path.c_str(), nullptr, nullptr);
    if (err < 0) fail("cannot open", err);
    err = avformat_find_stream_info(input, nullptr);
    if (err < 0) fail("cannot read the stream information", err);
    const AVCodec* codec = nullptr;
    stream = av_find_best_stream(input, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream < 0) fail("no playable video stream", stream);
    AVStream* st = input->streams[stream];
    dec = avcodec_alloc_context3(codec);
    if (!dec) fail("cannot set up the decoder", AVERROR(ENOMEM));
    err = avcodec_parameters_to_context(dec, st->codecpar);
    if (err < 0) fail("cannot set up the decoder", err);
    // A file has no latency to keep low: frame threads are fine, a few of them.
    dec->thread_count = int(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
    dec->pkt_timebase = st->time_base;
    err = avcodec_open2(dec, codec, nullptr);
    if (err < 0) fail(fmt::format("cannot open the {} decoder", codec->name), err);
    time_base = st->time_base;
    draining = false;
  }

  // Reads what the file says about rate and length (once, after the first open).
  void read_stream_facts() {
    AVStream* st = input->streams[stream];
    AVRational r = av_guess_frame_rate(input, st, nullptr);
    frame_rate = r.num > 0 && r.den > 0 ? av_q2d(r) : 0;
    frame_interval = frame_rate > 0 ? 1.0 / frame_rate : 1.0 / tick_fps;
    // A guess from the bit rate is no duration: such files (and those that say nothing) loop
    // when their last frame is done.
    if (input->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE) return;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
      duration = double(st->duration) * av_q2d(st->time_base);
    else if (input->duration != AV_NOPTS_VALUE && input->duration > 0)
      duration = double(input->duration) / AV_TIME_BASE;
  }

  // The next decoded frame into `out`; false at the end of the file. Packets the decoder
  // rejects are skipped (and counted).
  bool receive(AVFrame* out) {
    for (;;) {
      int err = avcodec_receive_frame(dec, out);
      if (err == 0) {
        decoded_any = true;
        return true;
      }
      if (err == AVERROR_EOF) return false;
      if (err != AVERROR(EAGAIN)) {
        last_error = err;
        return false;  // the decoder gave up: this pass ends here
      }
      if (draining) return false;
      err = av_read_frame(input, pkt);
      if (err < 0) {
        if (err != AVERROR_EOF) last_error = err;
        avcodec_send_packet(dec, nullptr);
        draining = true;
        continue;
      }
      if (pkt->stream_index != stream) {
        av_packet_unref(pkt);
        continue;
      }
      err = avcodec_send_packet(dec, pkt);
      av_packet_unref(pkt);
      if (err < 0 && err != AVERROR(EAGAIN)) {
        last_error = err;
        if (bad_packets++ == 0 && decoded_any)
          spdlog::warn("video {}: skipping a packet the decoder rejects: {}", path, av_error(err));
      }
    }
  }

  static int64_t timestamp(const AVFrame* f) {
    return f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
  }

  // Seconds into the pass; a frame without a timestamp follows the one before it.
  double time_of(const AVFrame* f, double previous) const {
    int64_t ts = timestamp(f);
    if (ts == AV_NOPTS_VALUE) return previous + frame_interval;
    return double(ts - origin) * av_q2d(time_base);
  }

  double duration_of(const AVFrame* f) const {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
    int64_t d = f->duration;
#else
    int64_t d = f->pkt_duration;
#endif
    return d > 0 ? double(d) * av_q2d(time_base) : frame_interval;
  }

  void fetch_next() {
    have_next = receive(next);
    if (have_next) {
      next_time = time_of(next, cur_time);
      ++frames_in_pass;
    } else if (frames_in_pass == 1) {
      still = true;
    }
  }

  // Decodes the first frame of a pass (and the one after it); false when there is none.
  bool begin_pass() {
    av_frame_unref(cur);
    av_frame_unref(next);
    have_next = false;
    frames_in_pass = 0;
    if (!receive(cur)) return false;
    if (origin == AV_NOPTS_VALUE) {
      int64_t ts = timestamp(cur);
      int64_t start = input->streams[stream]->start_time;
      origin = ts != AV_NOPTS_VALUE ? ts : start != AV_NOPTS_VALUE ? start : 0;
    }
    cur_time = time_of(cur, -frame_interval);
    frames_in_pass = 1;
    fetch_next();
    return true;
  }

  void start_pass() {
    if (!begin_pass()) fail("no picture could be decoded", last_error ? last_error : AVERROR_EOF);
  }

  // Back to the start of the file: a seek, or where that fails (inputs without timestamps or
  // an index, such as raw H.264), opening the file again.
  void rewind() {
    if (input && dec && av_seek_frame(input, stream, origin, AVSEEK_FLAG_BACKWARD) >= 0) {
      avcodec_flush_buffers(dec);
      draining = false;
      if (begin_pass()) return;
    }
    close();
    open();
    start_pass();
  }

  void advance() {
    av_frame_unref(cur);
    av_frame_move_ref(cur, next);
    cur_time = next_time;
    fetch_next();
  }

  // Which pass media time `t` falls in (once the duration is known).
  uint64_t pass_of(double t) const {
    double q = std::floor((t + kSlack) / duration);
    if (!(q > 0)) return 0;
    if (q > 1e18) q = 1e18;
    return uint64_t(q);
  }

  FramePtr to_bgrx(const AVFrame* f) {
    auto out = std::make_shared<Frame>(size.width, size.height);
    AVPixelFormat pix = AVPixelFormat(f->format);
    // The odd last column or row is cut off; a frame of another size (the stream changed
    // resolution) is scaled to ours.
    bool crop = f->width - size.width >= 0 && f->width - size.width <= 1 && f->height - size.height >= 0 &&
                f->height - size.height <= 1;
    int src_w = crop ? size.width : f->width;
    int src_h = crop ? size.height : f->height;
    // The ffmpeg CLI's flags: the same picture it decodes, pixel for pixel (SWS_ACCURATE_RND
    // would leave swscale's unscaled YUV->RGB path for one that blends chroma across edges).
    sws = sws_getCachedContext(sws, src_w, src_h, pix, size.width, size.height, AV_PIX_FMT_BGR0, SWS_BICUBIC, nullptr,
                               nullptr, nullptr);
    if (!sws) {
      const char* name = av_get_pix_fmt_name(pix);
      throw std::runtime_error(
          fmt::format("video {}: no conversion from pixel format {} to BGRX", path, name ? name : "unknown"));
    }
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(pix);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
      bool full = f->color_range == AVCOL_RANGE_JPEG || pix == AV_PIX_FMT_YUVJ420P || pix == AV_PIX_FMT_YUVJ422P ||
                  pix == AV_PIX_FMT_YUVJ444P || pix == AV_PIX_FMT_YUVJ440P || pix == AV_PIX_FMT_YUVJ411P;
      const int* coefs = sws_getCoefficients(sws_colorspace(f->colorspace));
      sws_setColorspaceDetails(sws, coefs, full ? 1 : 0, coefs, 1, 0, 1 << 16, 1 << 16);
    }
    uint8_t* dst[4] = {out->data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {out->stride(), 0, 0, 0};
    if (sws_scale(sws, f->data, f->linesize, 0, src_h, dst, dst_stride) <= 0)
      throw std::runtime_error(fmt::format("video {}: conversion to BGRX failed", path));
    for (int32_t y = 0; y < out->height(); ++y) {
      uint32_t* row = out->row(y);
      for (int32_t x = 0; x < out->width(); ++x) row[x] |= 0xFF000000u;
    }
    return out;
  }
};

VideoSource::VideoSource(const std::string& path, double tick_fps) : impl_(std::make_unique<Impl>()) {
  if (!(tick_fps > 0)) throw std::invalid_argument("fps must be positive");
  Impl& v = *impl_;
  v.path = path;
  v.tick_fps = tick_fps;
  v.pkt = av_packet_alloc();
  v.cur = av_frame_alloc();
  v.next = av_frame_alloc();
  if (!v.pkt || !v.cur || !v.next) v.fail("cannot set up the decoder", AVERROR(ENOMEM));
  v.open();
  v.read_stream_facts();
  const AVCodecParameters* par = v.input->streams[v.stream]->codecpar;
  int32_t w = par->width & ~1, h = par->height & ~1;
  if (w < 2 || h < 2 || w > kMaxSide || h > kMaxSide)
    throw std::runtime_error(fmt::format("video {}: size {}x{} is not supported (2x2 to {}x{})", path, par->width,
                                         par->height, kMaxSide, kMaxSide));
  v.size = {w, h};
  size_ = v.size;
  v.start_pass();
  v.shown = v.to_bgrx(v.cur);
}

VideoSource::~VideoSource() = default;

std::string VideoSource::description() const {
  double r = impl_->frame_rate;
  std::string rate = r <= 0                                ? "unknown"
                     : std::abs(r - std::round(r)) < 0.005 ? fmt::format("{}", int64_t(std::llround(r)))
                                                           : fmt::format("{:.2f}", r);
  return fmt::format("video {} {}x{} at {} fps", std::filesystem::path(impl_->path).filename().string(), size_.width,
                     size_.height, rate);
}

double VideoSource::frame_rate() const { return impl_->frame_rate; }
double VideoSource::duration() const { return impl_->duration; }

CapturedFrame VideoSource::capture(uint64_t index) {
  Impl& v = *impl_;
  const double t = double(index) / v.tick_fps;
  bool changed = false;
  for (;;) {
    if (v.duration > 0 && !v.still) {
      uint64_t p = v.pass_of(t);
      if (p != v.pass) {
        // Whole passes a late tick skipped are not decoded: straight to the start of this one.
        v.pass = p;
        changed = true;
        v.rewind();
        continue;
      }
    }
    double local = t - double(v.pass) * v.duration;
    if (v.have_next && v.next_time <= local + kSlack) {
      v.advance();
      changed = true;
      continue;
    }
    if (!v.have_next && v.duration <= 0) {
      // The file did not say how long it is: a pass ends where its last frame does.
      v.duration = std::max(v.cur_time + v.duration_of(v.cur), 1e-3);
      continue;
    }
    break;
  }
  if (changed) v.shown = v.to_bgrx(v.cur);
  CapturedFrame c{v.shown, {}};
  if (changed || v.unsent) c.damage = Region(v.shown->bounds());
  v.unsent = false;
  return c;
}

std::optional<CursorState> VideoSource::cursor(uint64_t) {
  // Like a still picture, a video has no pointer of its own; viewers get a plain arrow.
  return CursorState{default_arrow_cursor(), size_.width / 2, size_.height / 2, true};
}

}  // namespace tessera
