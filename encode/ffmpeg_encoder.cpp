#include "encode/ffmpeg_encoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdarg>

#include <unistd.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
}

namespace tessera {

namespace {

std::string av_error(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof buf);
  return buf;
}

struct CodecCtxDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct BufferRef {
  AVBufferRef* ref = nullptr;
  BufferRef() = default;
  BufferRef(const BufferRef&) = delete;
  BufferRef& operator=(const BufferRef&) = delete;
  ~BufferRef() { reset(); }
  void reset() { av_buffer_unref(&ref); }
};

// FFmpeg's own messages say why an encoder refused (e.g. "Cannot load libcuda.so.1"): keep the
// last error of this thread for our exception instead of letting FFmpeg print to stderr.
thread_local std::string t_last_av_error;

void keep_av_error(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > AV_LOG_ERROR) return;
  char line[512];
  int prefix = 1;
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
  std::string msg = line;
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (!msg.empty()) t_last_av_error = msg;
}

void quiet_ffmpeg_logs() {
  static bool once = [] {
    av_log_set_callback(keep_av_error);
    return true;
  }();
  (void)once;
  t_last_av_error.clear();
}

// "Invalid argument (Cannot load libcuda.so.1)": the error code and what FFmpeg said about it.
std::string av_reason(int err) {
  std::string r = av_error(err);
  if (!t_last_av_error.empty()) r += " (" + t_last_av_error + ")";
  return r;
}

class FfmpegEncoder final : public VideoEncoder {
 public:
  FfmpegEncoder(std::string encoder, EncoderKind kind, VideoEncoderConfig cfg)
      : VideoEncoder(std::move(cfg)), encoder_(std::move(encoder)), kind_(kind) {
    quiet_ffmpeg_logs();
    codec_ = avcodec_find_encoder_by_name(encoder_.c_str());
    if (!codec_) throw EncoderError(fmt::format("{} is not built into this FFmpeg", encoder_));
    open();
  }

  YuvLayout input_layout() const override { return kind_ == EncoderKind::software ? YuvLayout::i420 : YuvLayout::nv12; }
  bool full_range_input() const override { return cfg_.codec == VideoCodec::mjpeg; }
  std::string name() const override { return "ffmpeg:" + encoder_; }

  void set_bitrate(int kbps) override {
    if (kbps == cfg_.bitrate_kbps) return;
    cfg_.bitrate_kbps = kbps;
    if (cfg_.codec == VideoCodec::mjpeg) {
      reopen_ = true;  // a new quantiser
    } else if (live_rate_change()) {
      apply_rate(ctx_.get());  // libx264 and NVENC pick up the new rate on the next frame
    } else {
      reopen_ = true;
    }
  }

  bool changes_rate_live() const override { return live_rate_change(); }
  bool wants_bt709() const override { return cfg_.codec == VideoCodec::vp8 && cfg_.height > 576; }

  std::vector<EncodedFrame> encode(const YuvImage& pic, bool force_keyframe) override {
    if (pic.width() != cfg_.width || pic.height() != cfg_.height || pic.layout() != input_layout())
      throw EncoderError(fmt::format("{}: picture {}x{} does not match the encoder's {}x{}", name(), pic.width(),
                                     pic.height(), cfg_.width, cfg_.height));
    if (reopen_) {
      open();
      force_keyframe = true;
    }
    AVFrame* in = sw_frame_.get();
    if (av_frame_make_writable(in) < 0) throw EncoderError(name() + ": out of memory");
    copy_picture(pic, in);
    in->pts = pts_++;
    in->pict_type = force_keyframe || in->pts == 0 ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    in->key_frame = in->pict_type == AV_PICTURE_TYPE_I;
    AVFrame* send = in;
    if (hw_frames_.ref) {
      av_frame_unref(hw_frame_.get());
      int err = av_hwframe_get_buffer(hw_frames_.ref, hw_frame_.get(), 0);
      if (err >= 0) err = av_hwframe_transfer_data(hw_frame_.get(), in, 0);
      if (err < 0) throw EncoderError(fmt::format("{}: upload to the device failed: {}", name(), av_error(err)));
      hw_frame_->pts = in->pts;
      hw_frame_->pict_type = in->pict_type;
      hw_frame_->key_frame = in->key_frame;
      send = hw_frame_.get();
    }
    int err = avcodec_send_frame(ctx_.get(), send);
    if (err < 0) throw EncoderError(fmt::format("{}: encoding failed: {}", name(), av_error(err)));
    std::vector<EncodedFrame> out;
    for (;;) {
      err = avcodec_receive_packet(ctx_.get(), pkt_.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) break;
      if (err < 0) throw EncoderError(fmt::format("{}: encoding failed: {}", name(), av_error(err)));
      out.push_back({{pkt_->data, pkt_->data + pkt_->size}, (pkt_->flags & AV_PKT_FLAG_KEY) != 0});
      av_packet_unref(pkt_.get());
    }
    return out;
  }

 private:
  bool live_rate_change() const {
    return encoder_ == "libx264" || kind_ == EncoderKind::nvenc;
  }

  void apply_rate(AVCodecContext* c) const {
    int64_t bps = int64_t(cfg_.bitrate_kbps) * 1000;
    c->bit_rate = bps;
    c->rc_max_rate = bps;
    // A VBV of about half a second lets a keyframe through without a long queue.
    c->rc_buffer_size = int(std::min<int64_t>(bps / 2, INT_MAX));
  }

  void open() {
    reopen_ = false;
    pts_ = 0;
    ctx_.reset();
    hw_frames_.reset();
    ctx_.reset(avcodec_alloc_context3(codec_));
    if (!ctx_) throw EncoderError(name() + ": out of memory");
    AVCodecContext* c = ctx_.get();
    c->width = cfg_.width;
    c->height = cfg_.height;
    c->time_base = {1, cfg_.fps};
    c->framerate = {cfg_.fps, 1};
    c->max_b_frames = 0;
    c->gop_size = cfg_.keyframe_interval > 0 ? cfg_.keyframe_interval : INT_MAX / 2;
    // (MPEG-video-based encoders such as MJPEG refuse the flag)
    if (cfg_.codec != VideoCodec::mjpeg) c->flags |= AV_CODEC_FLAG_LOW_DELAY;
    // Signal the matrix our converter used (VP8 cannot; see wants_bt709()).
    c->colorspace = wants_bt709() ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
    c->color_primaries = wants_bt709() ? AVCOL_PRI_BT709 : AVCOL_PRI_SMPTE170M;
    c->color_trc = wants_bt709() ? AVCOL_TRC_BT709 : AVCOL_TRC_SMPTE170M;
    c->color_range = cfg_.codec == VideoCodec::mjpeg ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    if (cfg_.codec != VideoCodec::mjpeg) apply_rate(c);  // MJPEG: a quantiser instead, below
    AVPixelFormat sw_fmt = input_layout() == YuvLayout::nv12 ? AV_PIX_FMT_NV12 : AV_PIX_FMT_YUV420P;
    c->pix_fmt = sw_fmt;
    if (cfg_.codec == VideoCodec::mjpeg) {
      c->pix_fmt = AV_PIX_FMT_YUVJ420P;
      c->flags |= AV_CODEC_FLAG_QSCALE;
      c->global_quality = FF_QP2LAMBDA * mjpeg_qscale();
    }
    set_private_options(c);
    if (kind_ == EncoderKind::vaapi || kind_ == EncoderKind::qsv) open_device(c, sw_fmt);

    AVDictionary* opts = nullptr;
    int err = avcodec_open2(c, codec_, &opts);
    av_dict_free(&opts);
    if (err < 0) throw EncoderError(fmt::format("{} rejected {}x{} at {} kb/s: {}", name(), cfg_.width, cfg_.height,
                                                cfg_.bitrate_kbps, av_reason(err)));
    sw_frame_.reset(av_frame_alloc());
    hw_frame_.reset(av_frame_alloc());
    pkt_.reset(av_packet_alloc());
    if (!sw_frame_ || !hw_frame_ || !pkt_) throw EncoderError(name() + ": out of memory");
    sw_frame_->format = c->pix_fmt == AV_PIX_FMT_VAAPI || c->pix_fmt == AV_PIX_FMT_QSV ? sw_fmt : c->pix_fmt;
    sw_frame_->width = cfg_.width;
    sw_frame_->height = cfg_.height;
    if (av_frame_get_buffer(sw_frame_.get(), 64) < 0) throw EncoderError(name() + ": out of memory");
  }

  int mjpeg_qscale() const {
    // libavcodec's MJPEG has no rate control of its own: map the rate to a quantiser, 2 (best)
    // at 20 Mb/s and above, 31 (worst) at 1 Mb/s and below, for a 1080p-sized picture.
    double pixels_per_s = double(cfg_.width) * cfg_.height * cfg_.fps;
    double bits_per_pixel = cfg_.bitrate_kbps * 1000.0 / std::max(1.0, pixels_per_s);
    int q = int(2.0 / std::max(0.01, bits_per_pixel / 0.32));
    return std::clamp(q, 2, 31);
  }

  void set_private_options(AVCodecContext* c) {
    void* p = c->priv_data;
    auto set = [&](const char* k, const std::string& v) { av_opt_set(p, k, v.c_str(), 0); };
    if (encoder_ == "libx264") {
      set("preset", cfg_.preset.empty() ? "ultrafast" : cfg_.preset);
      set("tune", "zerolatency");
      // In-band SPS/PPS before every keyframe (no global header) and an AUD per frame.
      set("x264-params", cfg_.single_slice || cfg_.threads == 1 ? "aud=1:repeat-headers=1:sliced-threads=0:slices=1"
                                                                : "aud=1:repeat-headers=1");
      set("forced-idr", "1");
      // Frame threads would hold pictures back; without sliced threads, one thread it is.
      c->thread_count = cfg_.single_slice ? 1 : cfg_.threads;
    } else if (encoder_ == "libx265") {
      set("preset", cfg_.preset.empty() ? "ultrafast" : cfg_.preset);
      set("tune", "zerolatency");
      set("x265-params", cfg_.threads > 0 ? fmt::format("repeat-headers=1:bframes=0:log-level=error:pools={}:frame-threads=1",
                                                        cfg_.threads)
                                          : std::string("repeat-headers=1:bframes=0:log-level=error"));
      set("forced-idr", "1");
    } else if (encoder_ == "libvpx" || encoder_ == "libvpx-vp9") {
      set("deadline", "realtime");
      set("cpu-used", cfg_.preset.empty() ? "8" : cfg_.preset);
      set("lag-in-frames", "0");
      set("auto-alt-ref", "0");
      set("error-resilient", "default");
      if (encoder_ == "libvpx-vp9" && cfg_.threads != 1) set("row-mt", "1");
      c->rc_min_rate = 0;
      c->qmin = 4;
      c->qmax = 52;
      c->thread_count = cfg_.threads > 0 ? cfg_.threads : 2;
    } else if (kind_ == EncoderKind::nvenc) {
      set("preset", cfg_.preset.empty() ? "p1" : cfg_.preset);
      set("tune", "ull");
      set("zerolatency", "1");
      set("delay", "0");
      set("rc", "cbr");
    } else if (kind_ == EncoderKind::vaapi) {
      set("async_depth", "1");
      set("rc_mode", "CBR");
    } else if (kind_ == EncoderKind::qsv) {
      set("async_depth", "1");
      set("look_ahead", "0");
      set("preset", cfg_.preset.empty() ? "veryfast" : cfg_.preset);
    }
  }

  void open_device(AVCodecContext* c, AVPixelFormat sw_fmt) {
    AVHWDeviceType type = kind_ == EncoderKind::vaapi ? AV_HWDEVICE_TYPE_VAAPI : AV_HWDEVICE_TYPE_QSV;
    BufferRef device;
    int err = av_hwdevice_ctx_create(&device.ref, type, nullptr, nullptr, 0);
    if (err < 0) {
      std::string why = av_reason(err);
      if (::access("/dev/dri", F_OK) != 0) why += "; this machine has no /dev/dri render node";
      throw EncoderError(fmt::format("{}: no {} device: {}", name(), to_string(kind_), why));
    }
    hw_frames_.ref = av_hwframe_ctx_alloc(device.ref);
    if (!hw_frames_.ref) throw EncoderError(name() + ": out of memory");
    auto* fc = reinterpret_cast<AVHWFramesContext*>(hw_frames_.ref->data);
    fc->format = kind_ == EncoderKind::vaapi ? AV_PIX_FMT_VAAPI : AV_PIX_FMT_QSV;
    fc->sw_format = sw_fmt;
    fc->width = cfg_.width;
    fc->height = cfg_.height;
    fc->initial_pool_size = 4;
    err = av_hwframe_ctx_init(hw_frames_.ref);
    if (err < 0) throw EncoderError(fmt::format("{}: device frame pool: {}", name(), av_reason(err)));
    c->pix_fmt = fc->format;
    c->hw_frames_ctx = av_buffer_ref(hw_frames_.ref);
  }

  static void copy_picture(const YuvImage& pic, AVFrame* f) {
    const int rows[3] = {pic.height(), pic.height() / 2, pic.height() / 2};
    const int bytes[3] = {pic.width(), pic.layout() == YuvLayout::nv12 ? pic.width() : pic.width() / 2,
                          pic.width() / 2};
    for (int i = 0; i < pic.planes(); ++i)
      av_image_copy_plane(f->data[i], f->linesize[i], pic.plane(i), pic.stride(i), bytes[i], rows[i]);
  }

  std::string encoder_;
  EncoderKind kind_;
  const AVCodec* codec_ = nullptr;
  std::unique_ptr<AVCodecContext, CodecCtxDeleter> ctx_;
  std::unique_ptr<AVFrame, FrameDeleter> sw_frame_, hw_frame_;
  std::unique_ptr<AVPacket, PacketDeleter> pkt_;
  BufferRef hw_frames_;
  int64_t pts_ = 0;
  bool reopen_ = false;
};

}  // namespace

std::unique_ptr<VideoEncoder> open_ffmpeg_encoder(const std::string& encoder, EncoderKind kind,
                                                  const VideoEncoderConfig& cfg) {
  return std::make_unique<FfmpegEncoder>(encoder, kind, cfg);
}

}  // namespace tessera
