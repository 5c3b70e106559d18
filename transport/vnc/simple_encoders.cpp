// Raw and Zlib: the client's pixels as they are, or deflated on one stream per connection.
#include <zlib.h>

#include <stdexcept>

#include "transport/vnc/rect_encoder.h"
#include "transport/vnc/rfb_wire.h"

namespace tessera::vnc {

void put_rect_header(std::vector<uint8_t>& out, const Rect& r, int32_t encoding) {
  auto put16 = [&](int v) {
    out.push_back(uint8_t(v >> 8));
    out.push_back(uint8_t(v));
  };
  put16(r.x);
  put16(r.y);
  put16(r.width);
  put16(r.height);
  uint32_t e = uint32_t(encoding);
  for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(e >> s));
}

struct ZStream::Impl {
  z_stream z{};
  int level = 6;
};

ZStream::ZStream(int level) : impl_(std::make_unique<Impl>()) {
  impl_->level = level;
  if (deflateInit(&impl_->z, level) != Z_OK) throw std::runtime_error("zlib: deflateInit failed");
}

ZStream::~ZStream() { deflateEnd(&impl_->z); }

void ZStream::set_level(int level) {
  if (level == impl_->level) return;
  // Takes effect from the next block; the client's inflater does not care.
  deflateParams(&impl_->z, level, Z_DEFAULT_STRATEGY);
  impl_->level = level;
}

void ZStream::compress(const uint8_t* data, size_t n, std::vector<uint8_t>& out) {
  z_stream& z = impl_->z;
  z.next_in = const_cast<uint8_t*>(data);
  z.avail_in = uInt(n);
  size_t start = out.size();
  out.resize(start + deflateBound(&z, uLong(n)) + 64);
  for (;;) {
    z.next_out = out.data() + start;
    z.avail_out = uInt(out.size() - start);
    int rc = deflate(&z, Z_SYNC_FLUSH);
    start = out.size() - z.avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("zlib: deflate failed");
    if (z.avail_in == 0 && z.avail_out > 0) break;
    out.resize(out.size() + 65536);
  }
  out.resize(start);
}

namespace {

class RawEncoder : public RectEncoder {
 public:
  int32_t encoding() const override { return rfb::kRaw; }
  size_t encode(const Frame& f, const Rect& r, const PixelFormat& pf, const EncodeOptions&,
                std::vector<uint8_t>& out) override {
    put_rect_header(out, r, rfb::kRaw);
    pf.convert(f, r, out);
    return 1;
  }
};

class ZlibEncoder : public RectEncoder {
 public:
  int32_t encoding() const override { return rfb::kZlib; }
  size_t encode(const Frame& f, const Rect& r, const PixelFormat& pf, const EncodeOptions& o,
                std::vector<uint8_t>& out) override {
    put_rect_header(out, r, rfb::kZlib);
    pixels_.clear();
    pf.convert(f, r, pixels_);
    z_.set_level(o.compress_level);
    size_t len_at = out.size();
    out.resize(out.size() + 4);
    z_.compress(pixels_.data(), pixels_.size(), out);
    uint32_t len = uint32_t(out.size() - len_at - 4);
    for (int i = 0; i < 4; ++i) out[len_at + size_t(i)] = uint8_t(len >> (24 - 8 * i));
    return 1;
  }

 private:
  ZStream z_;
  std::vector<uint8_t> pixels_;
};

}  // namespace

std::unique_ptr<RectEncoder> make_raw_encoder() { return std::make_unique<RawEncoder>(); }
std::unique_ptr<RectEncoder> make_zlib_encoder() { return std::make_unique<ZlibEncoder>(); }

}  // namespace tessera::vnc
