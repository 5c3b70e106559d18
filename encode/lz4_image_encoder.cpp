#include "encode/lz4_image_encoder.h"

#include <lz4.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace tessera {

void pack_rect(const Frame& f, const Rect& r, std::vector<uint8_t>& out) {
  if (r.intersect(f.bounds()) != r) throw std::out_of_range("rectangle outside the frame");
  size_t row_bytes = size_t(r.width) * 4;
  out.resize(row_bytes * size_t(r.height));
  for (int32_t y = 0; y < r.height; ++y)
    std::memcpy(out.data() + size_t(y) * row_bytes, f.row(r.y + y) + r.x, row_bytes);
}

size_t Lz4ImageEncoder::encode(const Frame& f, const Rect& r, const BlockSink& sink, size_t limit) {
  pack_rect(f, r, packed_);
  std::unique_ptr<LZ4_stream_t, int (*)(LZ4_stream_t*)> stream(LZ4_createStream(), LZ4_freeStream);
  if (!stream) throw std::bad_alloc();
  size_t row_bytes = size_t(r.width) * 4;
  size_t total = 0;
  for (int32_t y = 0; y < r.height; y += rows_per_block_) {
    int32_t rows = std::min(rows_per_block_, r.height - y);
    const char* src = reinterpret_cast<const char*>(packed_.data() + size_t(y) * row_bytes);
    int src_len = int(size_t(rows) * row_bytes);
    block_.resize(size_t(LZ4_compressBound(src_len)));
    int n = LZ4_compress_fast_continue(stream.get(), src, reinterpret_cast<char*>(block_.data()), src_len,
                                       int(block_.size()), 1);
    if (n <= 0) throw std::runtime_error("LZ4 compression failed");
    sink(std::span<const uint8_t>(block_.data(), size_t(n)));
    total += size_t(n);
    if (total >= limit) break;
  }
  return total;
}

}  // namespace tessera
