#pragma once
// One RFB encoding for one client. Encoders with zlib streams keep them for the connection's
// life (the client's inflaters follow them), so each client owns its encoders.
#include <cstdint>
#include <memory>
#include <vector>

#include "core/frame.h"
#include "transport/vnc/pixel_format.h"

namespace tessera::vnc {

struct EncodeOptions {
  bool lossy_ok = false;  // the rect is motion and the client allows JPEG
  int jpeg_quality = -1;  // client's level 0..9, -1 none
  int compress_level = 6;  // 0..9
};

class RectEncoder {
 public:
  virtual ~RectEncoder() = default;
  virtual int32_t encoding() const = 0;
  // Appends one or more rectangles (each with its 12-byte header) covering `r`; returns how many.
  virtual size_t encode(const Frame& f, const Rect& r, const PixelFormat& pf, const EncodeOptions& o,
                        std::vector<uint8_t>& out) = 0;
};

// The 12-byte rectangle header.
void put_rect_header(std::vector<uint8_t>& out, const Rect& r, int32_t encoding);

// A deflate stream that lives as long as the connection; each call ends with a sync flush so
// the client can decode the rect at once.
class ZStream {
 public:
  explicit ZStream(int level = 6);
  ~ZStream();
  ZStream(const ZStream&) = delete;
  ZStream& operator=(const ZStream&) = delete;
  void set_level(int level);
  void compress(const uint8_t* data, size_t n, std::vector<uint8_t>& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Raw, Zlib, Hextile, ZRLE and Tight/TightPNG (factories for the client's encodings).
std::unique_ptr<RectEncoder> make_raw_encoder();
std::unique_ptr<RectEncoder> make_zlib_encoder();
std::unique_ptr<RectEncoder> make_hextile_encoder();
std::unique_ptr<RectEncoder> make_zrle_encoder();
std::unique_ptr<RectEncoder> make_tight_encoder(bool png);

}  // namespace tessera::vnc
