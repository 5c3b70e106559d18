#include "transport/spice/display_channel.h"


#include "core/log.h"
#include "transport/spice/messages.h"

namespace tessera::spice {

namespace {
constexpr std::chrono::milliseconds kClientInitWait{500};
constexpr int64_t kMaxCachePixels = int64_t(1) << 28;  // 1 GiB of 32-bit pixels
constexpr int64_t kMaxGlzPixels = int64_t(1) << 25;    // the most the GLZ format can address
}  // namespace

void DisplayChannel::on_start() {
  writer_ = std::make_unique<DisplayUpdateWriter>(
      ctx_.settings.video, ctx_.settings.image_codec, [this](unsigned cap) { return client_has_cap(cap); },
      [this] { return wait_for_ack_window(); }, [this](uint16_t type, const Body& b) { send(type, b); }, tag());
  writer_->allow_glz(session_->claim_glz());
  writer_->set_repaint_pacing(ctx_.settings.repaint);
  PushChannel::on_start();
}

void DisplayChannel::on_stop() {
  PushChannel::on_stop();
  if (!writer_) return;
  const auto& sent = writer_->counters();
  spdlog::info("{}: sent {} updates: {} draws ({} LZ4, {} palette, {} GLZ, {} from the client's cache), {} fills, "
               "{} copy-bits, {} image bytes, {} cached images dropped, {} paced repaints in {} parts; {}",
               tag(), sent.updates, sent.draws, sent.lz4_draws, sent.palette_draws, sent.glz_draws, sent.cache_hits,
               sent.fills, sent.copies, sent.bytes, sent.cache_evictions, sent.repaints, sent.repaint_parts,
               writer_->video().summary());
}

void DisplayChannel::on_message(uint16_t type, WireReader& body) {
  switch (type) {
    case SPICE_MSGC_DISPLAY_INIT: {
      DisplayInit init = parse_display_init(body);
      spdlog::debug("{}: client INIT: pixmap cache {} pixels, GLZ window {} pixels", tag(), init.cache_pixels,
                    init.glz_window_pixels);
      // A cache larger than any sane client's is not believed (it bounds our own table).
      writer_->set_client_cache(std::clamp<int64_t>(init.cache_pixels, 0, kMaxCachePixels),
                                std::clamp<int64_t>(init.glz_window_pixels, 0, kMaxGlzPixels));
      std::lock_guard lock(init_mu_);
      init_received_ = true;
      break;
    }
    case SPICE_MSGC_DISPLAY_PREFERRED_COMPRESSION: {
      uint8_t c = body.u8();
      writer_->set_preferred_compression(c);
      spdlog::debug("{}: client prefers image compression {}", tag(), c);
      break;
    }
    case SPICE_MSGC_DISPLAY_STREAM_REPORT:
      writer_->video().post_report(parse_stream_report(body));
      break;
    case SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE: {
      auto codecs = parse_preferred_video_codecs(body);
      spdlog::debug("{}: client prefers {} video codec types", tag(), codecs.size());
      writer_->video().post_preferred_codecs(std::move(codecs));
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

void DisplayChannel::push_loop() {
  if (!wait_for_client_init()) return;
  while (!closed()) {
    auto timeout = std::chrono::milliseconds(500);
    if (auto due = writer_->next_due()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*due - VideoStreams::Clock::now());
      timeout = std::clamp(left, std::chrono::milliseconds(0), timeout);
    }
    bool pending = sub_->wait(timeout);
    if (sub_->closed()) return;
    if (!wait_for_ack_window()) return;
    if (pending) {
      if (auto u = sub_->take_frame()) {
        writer_->update(*u, DisplayUpdateWriter::Clock::now());
        continue;
      }
    }
    writer_->send_owed_frames(DisplayUpdateWriter::Clock::now());
  }
}

}  // namespace tessera::spice
