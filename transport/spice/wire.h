#pragma once
// Little-endian, packed marshalling for SPICE messages, and a bounds-checked reader whose
// every failure is a ProtocolError naming what was short or wrong.
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>

#include "transport/net/errors.h"
#include <string>
#include <vector>

#include "core/rect.h"

namespace tessera::spice {

using net::ProtocolError;
using net::TimeoutError;

class WireWriter {
 public:
  WireWriter& u8(uint8_t v) { buf_.push_back(v); return *this; }
  WireWriter& u16(uint16_t v) { return raw_le(v, 2); }
  WireWriter& u32(uint32_t v) { return raw_le(v, 4); }
  WireWriter& u64(uint64_t v) { return raw_le(v, 8); }
  WireWriter& i32(int32_t v) { return raw_le(uint32_t(v), 4); }
  WireWriter& i16(int16_t v) { return raw_le(uint16_t(v), 2); }
  WireWriter& u32_be(uint32_t v) {
    for (int i = 3; i >= 0; --i) buf_.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  WireWriter& bytes(std::span<const uint8_t> b) { buf_.insert(buf_.end(), b.begin(), b.end()); return *this; }
  WireWriter& zeros(size_t n) { buf_.insert(buf_.end(), n, 0); return *this; }
  // SPICE's Rect: top, left, bottom, right.
  WireWriter& rect(const Rect& r) { return i32(r.y).i32(r.x).i32(r.bottom()).i32(r.right()); }
  // Overwrites a u32 written earlier (offsets that are only known later).
  void patch_u32(size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) buf_[at + size_t(i)] = uint8_t(v >> (8 * i));
  }
  size_t size() const { return buf_.size(); }
  void reserve(size_t n) { buf_.reserve(n); }
  std::vector<uint8_t>& buffer() { return buf_; }
  std::vector<uint8_t> take() { return std::move(buf_); }

 private:
  WireWriter& raw_le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> buf_;
};

class WireReader {
 public:
  WireReader(std::span<const uint8_t> data, const char* what) : d_(data), what_(what) {}
  uint8_t u8() { return uint8_t(le(1)); }
  uint16_t u16() { return uint16_t(le(2)); }
  uint32_t u32() { return uint32_t(le(4)); }
  uint64_t u64() { return le(8); }
  int32_t i32() { return int32_t(uint32_t(le(4))); }
  std::span<const uint8_t> bytes(size_t n) {
    need(n);
    auto s = d_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::span<const uint8_t> rest() { return bytes(remaining()); }
  size_t remaining() const { return d_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  void need(size_t n) const {
    if (remaining() < n)
      throw ProtocolError(std::string(what_) + " is truncated: needs " + std::to_string(pos_ + n) +
                          " bytes, has " + std::to_string(d_.size()));
  }
  uint64_t le(int n) {
    need(size_t(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(d_[pos_ + size_t(i)]) << (8 * i);
    pos_ += size_t(n);
    return v;
  }
  std::span<const uint8_t> d_;
  size_t pos_ = 0;
  const char* what_;
};

}  // namespace tessera::spice
