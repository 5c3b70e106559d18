#pragma once
// RFB's wire: big-endian integers, message and encoding numbers. Reads go straight from the
// socket with a deadline per message; every length is checked before anything is allocated.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "transport/net/errors.h"

namespace tessera::vnc {

using net::ProtocolError;

namespace rfb {
// Client to server messages.
constexpr uint8_t kSetPixelFormat = 0, kSetEncodings = 2, kFramebufferUpdateRequest = 3, kKeyEvent = 4,
                  kPointerEvent = 5, kClientCutText = 6, kEnableContinuousUpdates = 150, kClientFence = 248,
                  kSetDesktopSize = 251, kQemu = 255;
// Server to client messages.
constexpr uint8_t kFramebufferUpdate = 0, kBell = 2, kServerCutText = 3, kEndOfContinuousUpdates = 150,
                  kServerFence = 248;
// Encodings.
constexpr int32_t kRaw = 0, kCopyRect = 1, kHextile = 5, kZlib = 6, kTight = 7, kZrle = 16, kOpenH264 = 50,
                  kTightPng = -260;
// Pseudo-encodings.
constexpr int32_t kDesktopSize = -223, kLastRect = -224, kCursor = -239, kQemuExtendedKey = -258,
                  kExtendedDesktopSize = -308, kFence = -312, kContinuousUpdates = -313, kDesktopName = -307,
                  kJpegQuality0 = -32, kJpegQuality9 = -23, kCompressLevel0 = -256, kCompressLevel9 = -247;
// Security types and VeNCrypt sub-types (263/264 as QEMU, gtk-vnc and libvncclient number them;
// the community specification has them the other way round).
constexpr uint8_t kSecInvalid = 0, kSecNone = 1, kSecVncAuth = 2, kSecVeNCrypt = 19, kSecSasl = 20;
constexpr uint32_t kVeNCryptPlain = 256, kTlsNone = 257, kTlsVnc = 258, kTlsPlain = 259, kX509None = 260,
                   kX509Vnc = 261, kX509Plain = 262, kX509Sasl = 263, kTlsSasl = 264;
}  // namespace rfb

class BeWriter {
 public:
  BeWriter& u8(uint8_t v) {
    buf_.push_back(v);
    return *this;
  }
  BeWriter& u16(uint16_t v) { return u8(uint8_t(v >> 8)).u8(uint8_t(v)); }
  BeWriter& u32(uint32_t v) { return u16(uint16_t(v >> 16)).u16(uint16_t(v)); }
  BeWriter& s32(int32_t v) { return u32(uint32_t(v)); }
  BeWriter& bytes(std::span<const uint8_t> b) {
    buf_.insert(buf_.end(), b.begin(), b.end());
    return *this;
  }
  BeWriter& str(const std::string& s) {
    buf_.insert(buf_.end(), s.begin(), s.end());
    return *this;
  }
  BeWriter& zeros(size_t n) {
    buf_.insert(buf_.end(), n, 0);
    return *this;
  }
  std::vector<uint8_t>& buffer() { return buf_; }
  std::vector<uint8_t> take() { return std::move(buf_); }

 private:
  std::vector<uint8_t> buf_;
};

class BeReader {
 public:
  BeReader(std::span<const uint8_t> b, const char* what) : b_(b), what_(what) {}
  uint8_t u8() {
    need(1);
    return b_[pos_++];
  }
  uint16_t u16() {
    need(2);
    uint16_t v = uint16_t(b_[pos_] << 8 | b_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  uint32_t u32() {
    need(4);
    uint32_t v = uint32_t(b_[pos_]) << 24 | uint32_t(b_[pos_ + 1]) << 16 | uint32_t(b_[pos_ + 2]) << 8 | b_[pos_ + 3];
    pos_ += 4;
    return v;
  }
  int32_t s32() { return int32_t(u32()); }
  void skip(size_t n) {
    need(n);
    pos_ += n;
  }
  std::span<const uint8_t> bytes(size_t n) {
    need(n);
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  void need(size_t n) {
    if (pos_ + n > b_.size())
      throw ProtocolError(std::string(what_) + " is truncated: needs " + std::to_string(pos_ + n) + " bytes, has " +
                          std::to_string(b_.size()));
  }
  std::span<const uint8_t> b_;
  const char* what_;
  size_t pos_ = 0;
};

}  // namespace tessera::vnc
