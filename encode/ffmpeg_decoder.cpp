#include "encode/ffmpeg_decoder.h"

#include <fmt/format.h>

#include <stdexcept>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
}

namespace tessera {

struct FfmpegDecoder::Impl {
  AVCodecContext* ctx = nullptr;
  AVPacket* pkt = nullptr;
  AVFrame* frame = nullptr;
  SwsContext* sws = nullptr;
  ~Impl() {
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&ctx);
  }
  Frame to_bgrx() {
    Frame out(frame->width, frame->height);
    AVPixelFormat fmt = AVPixelFormat(frame->format);
    bool full = frame->color_range == AVCOL_RANGE_JPEG || fmt == AV_PIX_FMT_YUVJ420P || fmt == AV_PIX_FMT_YUVJ422P ||
                fmt == AV_PIX_FMT_YUVJ444P;
    sws = sws_getCachedContext(sws, frame->width, frame->height, fmt, frame->width, frame->height, AV_PIX_FMT_BGR0,
                               SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr);
    if (!sws) throw std::runtime_error("decoder: no conversion to BGRX");
    int cs = frame->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601;
    const int* coefs = sws_getCoefficients(cs);
    sws_setColorspaceDetails(sws, coefs, full ? 1 : 0, coefs, 1, 0, 1 << 16, 1 << 16);
    uint8_t* dst[1] = {out.data()};
    int dst_stride[1] = {out.stride()};
    sws_scale(sws, frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
    for (int32_t y = 0; y < out.height(); ++y)
      for (int32_t x = 0; x < out.width(); ++x) out.row(y)[x] |= 0xFF000000u;
    return out;
  }
};

FfmpegDecoder::FfmpegDecoder(VideoCodec codec) : impl_(std::make_unique<Impl>()) {
  AVCodecID id = AV_CODEC_ID_H264;
  switch (codec) {
    case VideoCodec::h264: id = AV_CODEC_ID_H264; break;
    case VideoCodec::h265: id = AV_CODEC_ID_HEVC; break;
    case VideoCodec::vp9: id = AV_CODEC_ID_VP9; break;
    case VideoCodec::vp8: id = AV_CODEC_ID_VP8; break;
    case VideoCodec::mjpeg: id = AV_CODEC_ID_MJPEG; break;
  }
  const AVCodec* dec = avcodec_find_decoder(id);
  if (!dec) throw std::runtime_error(fmt::format("FFmpeg has no {} decoder", to_string(codec)));
  impl_->ctx = avcodec_alloc_context3(dec);
  impl_->ctx->thread_count = 1;  // frame threads would delay output
  impl_->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
  if (avcodec_open2(impl_->ctx, dec, nullptr) < 0) throw std::runtime_error("cannot open the decoder");
  impl_->pkt = av_packet_alloc();
  impl_->frame = av_frame_alloc();
}

FfmpegDecoder::~FfmpegDecoder() = default;

std::optional<Frame> FfmpegDecoder::decode(std::span<const uint8_t> data) {
  if (av_new_packet(impl_->pkt, int(data.size())) < 0) throw std::runtime_error("out of memory");
  std::copy(data.begin(), data.end(), impl_->pkt->data);
  int err = avcodec_send_packet(impl_->ctx, impl_->pkt);
  av_packet_unref(impl_->pkt);
  if (err < 0) throw std::runtime_error("decoder rejected the frame");
  err = avcodec_receive_frame(impl_->ctx, impl_->frame);
  if (err == AVERROR(EAGAIN)) return std::nullopt;
  if (err < 0) throw std::runtime_error("decoding failed");
  Frame f = impl_->to_bgrx();
  av_frame_unref(impl_->frame);
  return f;
}

int FfmpegDecoder::flush() {
  avcodec_send_packet(impl_->ctx, nullptr);
  int n = 0;
  while (avcodec_receive_frame(impl_->ctx, impl_->frame) == 0) {
    ++n;
    av_frame_unref(impl_->frame);
  }
  return n;
}

}  // namespace tessera
