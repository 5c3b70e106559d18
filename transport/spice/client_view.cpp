#include "transport/spice/client_view.h"

#include <lz4.h>
#include <spice/enums.h>

#include <cstring>
#include <stdexcept>

#include "transport/spice/video_streams.h"
#include "transport/spice/wire.h"

namespace tessera::spice {

namespace {

Rect read_box(WireReader& r) {
  int32_t top = r.i32(), left = r.i32(), bottom = r.i32(), right = r.i32();
  return {left, top, right - left, bottom - top};
}

}  // namespace

Region ClientView::streams_area() const {
  Region a;
  for (const auto& [id, s] : streams_) a.add(s.dest);
  return a;
}

void ClientView::apply(uint16_t type, std::span<const uint8_t> body) {
  WireReader r(body, "display message");
  switch (type) {
    case SPICE_MSG_DISPLAY_SURFACE_CREATE: {
      r.u32();
      int32_t w = int32_t(r.u32()), h = int32_t(r.u32());
      if (r.u32() != SPICE_SURFACE_FMT_32_xRGB) throw std::runtime_error("surface format is not 32_xRGB");
      if (w < 1 || h < 1 || w > 16384 || h > 16384) throw std::runtime_error("surface size out of range");
      surface_ = Frame(w, h);
      created_ = true;
      streams_.clear();
      return;
    }
    case SPICE_MSG_DISPLAY_COPY_BITS: {
      if (!created_) throw std::runtime_error("COPY_BITS before SURFACE_CREATE");
      r.u32();
      Rect dst = read_box(r);
      if (r.u8() != SPICE_CLIP_TYPE_NONE) throw std::runtime_error("COPY_BITS with a clip");
      int32_t sx = r.i32(), sy = r.i32();
      Rect src{sx, sy, dst.width, dst.height};
      if (dst.intersect(surface_.bounds()) != dst || src.intersect(surface_.bounds()) != src)
        throw std::runtime_error("COPY_BITS outside the surface");
      // Source and destination may overlap: go through a copy of the rows.
      std::vector<uint32_t> rows(size_t(dst.width) * size_t(dst.height));
      for (int32_t y = 0; y < dst.height; ++y)
        std::memcpy(&rows[size_t(y) * size_t(dst.width)], surface_.row(src.y + y) + src.x, size_t(dst.width) * 4);
      for (int32_t y = 0; y < dst.height; ++y)
        std::memcpy(surface_.row(dst.y + y) + dst.x, &rows[size_t(y) * size_t(dst.width)], size_t(dst.width) * 4);
      ++counted_.copies;
      return;
    }
    case SPICE_MSG_DISPLAY_DRAW_COPY:
      draw_copy(body);
      return;
    case SPICE_MSG_DISPLAY_INVAL_LIST: {
      uint16_t n = r.u16();
      for (uint16_t i = 0; i < n; ++i) {
        if (r.u8() != SPICE_RES_TYPE_PIXMAP) throw std::runtime_error("INVAL_LIST of a resource that is no pixmap");
        auto it = cache_.find(r.u64());
        if (it == cache_.end()) throw std::runtime_error("INVAL_LIST names an image the cache does not hold");
        cache_pixels_ -= int64_t(it->second.size() / 4);
        cache_.erase(it);
      }
      return;
    }
    case SPICE_MSG_DISPLAY_INVAL_ALL_PIXMAPS:
      cache_.clear();
      cache_pixels_ = 0;
      return;
    case SPICE_MSG_DISPLAY_DRAW_FILL: {
      if (!created_) throw std::runtime_error("DRAW_FILL before SURFACE_CREATE");
      r.u32();
      Rect box = read_box(r);
      if (r.u8() != SPICE_CLIP_TYPE_NONE) throw std::runtime_error("DRAW_FILL with a clip");
      if (r.u8() != SPICE_BRUSH_TYPE_SOLID) throw std::runtime_error("DRAW_FILL without a solid brush");
      uint32_t colour = r.u32();
      if (r.u16() != SPICE_ROPD_OP_PUT) throw std::runtime_error("DRAW_FILL with a raster operation other than PUT");
      r.u8(), r.i32(), r.i32();
      if (r.u32() != 0) throw std::runtime_error("DRAW_FILL with a mask");
      if (box.empty() || box.intersect(surface_.bounds()) != box) throw std::runtime_error("DRAW_FILL outside the surface");
      surface_.fill(box, colour & 0xFFFFFFu);
      ++counted_.fills;
      return;
    }
    case SPICE_MSG_DISPLAY_STREAM_CREATE: {
      r.u32();
      uint32_t id = r.u32();
      r.u8();
      uint8_t codec_type = r.u8();
      r.u64();
      r.u32(), r.u32(), r.u32(), r.u32();
      Rect dest = read_box(r);
      auto codec = codec_of_spice_type(codec_type);
      if (!codec) throw std::runtime_error("stream of an unknown codec type");
      if (dest.intersect(surface_.bounds()) != dest) throw std::runtime_error("stream outside the surface");
      streams_[id] = Stream{*codec, dest, std::make_unique<FfmpegDecoder>(*codec)};
      return;
    }
    case SPICE_MSG_DISPLAY_STREAM_DATA: {
      uint32_t id = r.u32();
      r.u32();
      uint32_t size = r.u32();
      stream_frame(id, nullptr, r.bytes(size));
      return;
    }
    case SPICE_MSG_DISPLAY_STREAM_DATA_SIZED: {
      uint32_t id = r.u32();
      r.u32();
      r.u32(), r.u32();
      Rect dest = read_box(r);
      uint32_t size = r.u32();
      stream_frame(id, &dest, r.bytes(size));
      return;
    }
    case SPICE_MSG_DISPLAY_STREAM_DESTROY:
      streams_.erase(r.u32());
      return;
    case SPICE_MSG_DISPLAY_STREAM_DESTROY_ALL:
      streams_.clear();
      return;
    default:
      return;  // marks, monitor configs, reports: nothing to show
  }
}

void ClientView::stream_frame(uint32_t id, const Rect* sized_dest, std::span<const uint8_t> data) {
  auto it = streams_.find(id);
  if (it == streams_.end()) throw std::runtime_error("data for a stream that does not exist");
  Stream& s = it->second;
  Rect dest = sized_dest ? *sized_dest : s.dest;
  if (dest.intersect(surface_.bounds()) != dest) throw std::runtime_error("stream frame outside the surface");
  auto pic = s.decoder->decode(data);
  if (!pic) return;  // held back by the decoder: the client shows the old picture
  ++decoded_;
  if (pic->width() != dest.width || pic->height() != dest.height)
    throw std::runtime_error("stream frame size differs from its destination");
  for (int32_t y = 0; y < dest.height; ++y)
    std::memcpy(surface_.row(dest.y + y) + dest.x, pic->row(y), size_t(dest.width) * 4);
}

// As spice-gtk's decode-glz: the same stream rules, the same window (images kept until a later
// image's header says they are older than what it may refer to).
void ClientView::decode_glz(std::span<const uint8_t> stream, int32_t w, int32_t h) {
  size_t at = 0;
  auto byte = [&]() -> uint32_t {
    if (at >= stream.size()) throw std::runtime_error("GLZ stream ends early");
    return stream[at++];
  };
  auto be32 = [&] { return byte() << 24 | byte() << 16 | byte() << 8 | byte(); };
  if (be32() != 0x20205A4Cu) throw std::runtime_error("GLZ stream without its magic");
  if (be32() != 0x00010001u) throw std::runtime_error("GLZ stream of another version");
  uint32_t type = byte();
  if ((type & 0x0F) != 8) throw std::runtime_error("GLZ image not RGB32");
  if (!(type >> 4)) throw std::runtime_error("GLZ image not top-down");
  if (int32_t(be32()) != w || int32_t(be32()) != h) throw std::runtime_error("GLZ image size differs from its box");
  be32();  // stride
  uint64_t id = uint64_t(be32()) << 32;
  id |= be32();
  uint32_t head_dist = be32();
  const size_t n = size_t(w) * size_t(h);
  std::vector<uint32_t> out(n);
  size_t op = 0;
  uint32_t ctrl = byte();
  for (;;) {
    if (ctrl >= 32) {
      size_t len = ctrl >> 5;
      uint32_t pixel_flag = (ctrl >> 4) & 1, ofs = ctrl & 0x0F;
      if (len == 7) {
        uint32_t code;
        do {
          code = byte();
          len += code;
        } while (code == 255);
      }
      ofs += byte() << 4;
      uint32_t code = byte(), image_flag = (code >> 6) & 3;
      uint64_t dist;
      if (!pixel_flag) {
        dist = code & 0x3F;
        for (uint32_t i = 0; i < image_flag; ++i) dist += uint64_t(byte()) << (6 + 8 * i);
      } else {
        pixel_flag = (code >> 5) & 1;
        ofs += (code & 0x1F) << 12;
        dist = 0;
        for (uint32_t i = 0; i < image_flag; ++i) dist += uint64_t(byte()) << (8 * i);
        if (pixel_flag) ofs += byte() << 17;
      }
      if (op + len > n) throw std::runtime_error("GLZ match runs past the image");
      if (dist == 0) {
        ofs += 1;
        if (ofs > op) throw std::runtime_error("GLZ match before the image start");
        for (size_t k = 0; k < len; ++k, ++op) out[op] = out[op - ofs];
      } else {
        auto ref = glz_window_.find(id - dist);
        if (ref == glz_window_.end()) throw std::runtime_error("GLZ match into an image the window does not hold");
        if (size_t(ofs) + len > ref->second.size()) throw std::runtime_error("GLZ match past its image");
        for (size_t k = 0; k < len; ++k) out[op++] = ref->second[ofs + k];
      }
    } else {
      size_t count = ctrl + 1;
      if (op + count > n) throw std::runtime_error("GLZ literals run past the image");
      for (size_t k = 0; k < count; ++k) {
        uint32_t b = byte(), g = byte(), r = byte();
        out[op++] = r << 16 | g << 8 | b;
      }
    }
    if (op >= n) break;
    ctrl = byte();
  }
  std::memcpy(pixels_.data(), out.data(), n * 4);
  glz_window_[id] = std::move(out);
  glz_window_.erase(glz_window_.begin(), glz_window_.lower_bound(id - head_dist));
}

void ClientView::draw_copy(std::span<const uint8_t> body) {
  if (!created_) throw std::runtime_error("DRAW_COPY before SURFACE_CREATE");
  WireReader r(body, "DRAW_COPY");
  r.u32();
  Rect box = read_box(r);
  if (r.u8() != SPICE_CLIP_TYPE_NONE) throw std::runtime_error("DRAW_COPY with a clip");
  uint32_t img_off = r.u32();
  if (img_off > body.size()) throw std::runtime_error("DRAW_COPY image offset outside the message");
  WireReader img(body.subspan(img_off), "image");
  uint64_t id = img.u64();
  uint8_t type = img.u8();
  uint8_t flags = img.u8();
  int32_t w = int32_t(img.u32()), h = int32_t(img.u32());
  if (w != box.width || h != box.height || box.intersect(surface_.bounds()) != box)
    throw std::runtime_error("DRAW_COPY image does not fit its box");
  pixels_.resize(size_t(w) * 4 * size_t(h));
  if (type == SPICE_IMAGE_TYPE_FROM_CACHE) {
    auto it = cache_.find(id);
    if (it == cache_.end()) throw std::runtime_error("DRAW_COPY from an image the cache does not hold");
    if (it->second.size() != pixels_.size()) throw std::runtime_error("cached image of another size");
    pixels_ = it->second;
    ++counted_.cache_hits;
  } else if (type == SPICE_IMAGE_TYPE_BITMAP) {
    uint8_t format = img.u8();
    if (!(img.u8() & SPICE_BITMAP_FLAGS_TOP_DOWN)) throw std::runtime_error("bitmap not top-down");
    if (int32_t(img.u32()) != w || int32_t(img.u32()) != h) throw std::runtime_error("bitmap size differs from its image");
    uint32_t stride = img.u32();
    uint32_t palette_off = img.u32();
    if (format == SPICE_BITMAP_FMT_32BIT) {
      if (stride != uint32_t(w) * 4) throw std::runtime_error("bitmap stride is not width * 4");
      auto data = img.bytes(pixels_.size());
      std::memcpy(pixels_.data(), data.data(), data.size());
      ++counted_.bitmap_draws;
    } else {
      int bits = format == SPICE_BITMAP_FMT_1BIT_BE ? 1 : format == SPICE_BITMAP_FMT_4BIT_BE ? 4
                 : format == SPICE_BITMAP_FMT_8BIT ? 8 : 0;
      if (!bits) throw std::runtime_error("bitmap of an unexpected format " + std::to_string(format));
      if (stride != (uint32_t(w) * uint32_t(bits) + 7) / 8) throw std::runtime_error("palette bitmap stride is wrong");
      auto data = img.bytes(size_t(stride) * size_t(h));
      if (palette_off == 0 || palette_off > body.size()) throw std::runtime_error("palette offset outside the message");
      WireReader pal(body.subspan(palette_off), "palette");
      pal.u64();
      uint16_t n = pal.u16();
      if (n == 0 || n > (1u << bits)) throw std::runtime_error("palette size does not fit the bitmap format");
      std::vector<uint32_t> colours(n);
      for (auto& c : colours) c = pal.u32();
      auto* out = reinterpret_cast<uint32_t*>(pixels_.data());
      const int per_byte = 8 / bits;
      for (int32_t y = 0; y < h; ++y)
        for (int32_t x = 0; x < w; ++x) {
          uint8_t byte = data[size_t(y) * stride + size_t(x / per_byte)];
          unsigned i = (byte >> (8 - bits * (x % per_byte + 1))) & ((1u << bits) - 1);
          if (i >= n) throw std::runtime_error("palette index past the palette");
          out[size_t(y) * size_t(w) + size_t(x)] = colours[i];
        }
      ++counted_.palette_draws;
    }
  } else if (type == SPICE_IMAGE_TYPE_GLZ_RGB) {
    uint32_t size = img.u32();
    decode_glz(img.bytes(size), w, h);
    ++counted_.glz_draws;
  } else if (type == SPICE_IMAGE_TYPE_LZ4) {
    uint32_t size = img.u32();
    WireReader d(img.bytes(size), "LZ4 data");
    if (d.u8() != 1) throw std::runtime_error("LZ4 image not top-down");
    if (d.u8() != SPICE_BITMAP_FMT_32BIT) throw std::runtime_error("LZ4 image not 32BIT");
    LZ4_streamDecode_t stream;
    LZ4_setStreamDecode(&stream, nullptr, 0);
    size_t out = 0;
    while (d.remaining()) {
      auto lenb = d.bytes(4);
      uint32_t len = uint32_t(lenb[0]) << 24 | uint32_t(lenb[1]) << 16 | uint32_t(lenb[2]) << 8 | lenb[3];
      auto block = d.bytes(len);
      int n = LZ4_decompress_safe_continue(&stream, reinterpret_cast<const char*>(block.data()),
                                           reinterpret_cast<char*>(pixels_.data() + out), int(len),
                                           int(pixels_.size() - out));
      if (n < 0) throw std::runtime_error("LZ4 block does not decode");
      out += size_t(n);
    }
    if (out != pixels_.size()) throw std::runtime_error("LZ4 image decodes to the wrong size");
    ++counted_.lz4_draws;
  } else {
    throw std::runtime_error("DRAW_COPY image of an unexpected type " + std::to_string(type));
  }
  if (flags & SPICE_IMAGE_FLAGS_CACHE_ME) {
    if (type == SPICE_IMAGE_TYPE_FROM_CACHE) throw std::runtime_error("a cached image asked to be cached again");
    auto [it, fresh] = cache_.insert_or_assign(id, pixels_);
    if (fresh) cache_pixels_ += int64_t(w) * h;
  }
  for (int32_t y = 0; y < h; ++y)
    std::memcpy(surface_.row(box.y + y) + box.x, pixels_.data() + size_t(y) * size_t(w) * 4, size_t(w) * 4);
  ++counted_.draws;
}

}  // namespace tessera::spice
