#pragma once
// The bytes of RFB FramebufferUpdates for one client: what changed in a frame, as CopyRect for
// safe moves, H.264 or Tight JPEG for motion where the client takes them, and its chosen
// lossless encoding for the rest; plus the pseudo-rects (cursor, size, QEMU key ack) that ride
// along. No socket: the connection writes what this returns, and tests read it.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/cursor.h"
#include "core/frame_hub.h"
#include "core/region.h"
#include "transport/vnc/pixel_format.h"
#include "transport/vnc/rect_encoder.h"

namespace tessera {
class EncoderCatalog;
}

namespace tessera::vnc {

class H264Rects;

// What the client said it can do in its last SetEncodings (each one resets all of it) and the
// pixel format it last set.
struct ClientFeatures {
  PixelFormat pf = PixelFormat::server_native();
  int32_t preferred = 0;  // rfb::kRaw
  bool copyrect = false, desktop_size = false, ext_desktop_size = false, last_rect = false, cursor = false;
  bool qemu_key = false, fence = false, cu = false, h264 = false;
  int quality = -1, compress = 6;  // JPEG quality level (-1: none asked), zlib level

  // A SetEncodings list read in order: the first encoding we serve is preferred; pseudo-encodings
  // switch features on. The pixel format is kept.
  static ClientFeatures from_encodings(const std::vector<int32_t>& encodings, const PixelFormat& pf);
  std::string describe() const;  // for the log: "Tight, JPEG for motion at level 8, ..."
};

const char* encoding_name(int32_t encoding);

// Pseudo-rects for the next update, counted.
struct ExtraRects {
  std::vector<uint8_t> bytes;
  size_t count = 0;
  void cursor(const CursorState& c, const PixelFormat& pf);  // rich cursor, or an empty one when hidden
  void qemu_key_ack();                                       // lets the client send XT key codes
};

class UpdateWriter {
 public:
  UpdateWriter(std::shared_ptr<const EncoderCatalog> encoders, int video_bitrate_kbps);
  ~UpdateWriter();

  // One update of only the pseudo-rects.
  static std::vector<uint8_t> extras_only(const ExtraRects& extra);
  // DesktopSize, or ExtendedDesktopSize with one screen and `reason`/`status` in x/y.
  static std::vector<uint8_t> desktop_size(bool ext, int reason, int status, Size size);

  struct Update {
    std::vector<uint8_t> bytes;  // empty: nothing to send
    bool resized = false;        // a size change went out: the caller records it and asks for a full frame
  };
  // The frame's moves and damage plus `extra`. When the frame's size is not `told` (what the
  // client was last told), the update is the size change and the extras; throws ProtocolError
  // when the client cannot follow a size change, or when an update needs more rects than it can
  // count. `full`: the client asked for everything, so moves are sent as pixels.
  Update update(const Subscription::FrameUpdate& u, bool full, const ClientFeatures& f, Size told,
                const ExtraRects& extra);

  uint64_t updates() const { return updates_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t copies() const { return copies_; }
  uint64_t lossy_rects() const { return lossy_rects_; }
  uint64_t h264_frames() const { return h264_frames_; }

 private:
  std::shared_ptr<const EncoderCatalog> catalog_;
  int video_bitrate_kbps_;
  // One encoder per encoding for the connection's life: the client's zlib streams follow ours.
  std::map<int32_t, std::unique_ptr<RectEncoder>> encoders_;
  std::unique_ptr<H264Rects> video_;
  Region lossy_;  // what the client shows from JPEG or H.264
  uint64_t updates_ = 0, bytes_ = 0, copies_ = 0, lossy_rects_ = 0, h264_frames_ = 0;
};

}  // namespace tessera::vnc
