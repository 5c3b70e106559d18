#include "transport/spice/link.h"

#include <fmt/format.h>

namespace tessera::spice {

bool has_cap(const Caps& caps, unsigned bit) {
  size_t w = bit / 32;
  return w < caps.size() && (caps[w] >> (bit % 32) & 1u);
}

void set_cap(Caps& caps, unsigned bit) {
  size_t w = bit / 32;
  if (caps.size() <= w) caps.resize(w + 1, 0);
  caps[w] |= 1u << (bit % 32);
}

LinkHeader parse_link_header(std::span<const uint8_t> bytes) {
  WireReader r(bytes, "link header");
  uint32_t magic = r.u32();
  LinkHeader h;
  h.major = r.u32();
  h.minor = r.u32();
  h.size = r.u32();
  if (magic != SPICE_MAGIC)
    throw LinkError(SPICE_LINK_ERR_INVALID_MAGIC, fmt::format("wrong magic 0x{:08x} (not a SPICE client)", magic));
  if (h.major != SPICE_VERSION_MAJOR)
    throw LinkError(SPICE_LINK_ERR_VERSION_MISMATCH,
                    fmt::format("protocol version {}.{} is not supported (need major {})", h.major, h.minor,
                                SPICE_VERSION_MAJOR));
  if (h.size < kLinkMessMinBytes || h.size > kLinkMessMaxBytes)
    throw LinkError(SPICE_LINK_ERR_INVALID_DATA,
                    fmt::format("link message size {} outside {}..{}", h.size, kLinkMessMinBytes, kLinkMessMaxBytes));
  return h;
}

LinkMessage parse_link_message(std::span<const uint8_t> body) {
  WireReader r(body, "link message");
  LinkMessage m;
  m.connection_id = r.u32();
  m.channel_type = r.u8();
  m.channel_id = r.u8();
  uint64_t ncommon = r.u32();
  uint64_t nchannel = r.u32();
  uint64_t offset = r.u32();
  if (ncommon + nchannel > kLinkMaxCapWords)
    throw LinkError(SPICE_LINK_ERR_INVALID_DATA,
                    fmt::format("link message claims {} + {} capability words (limit {})", ncommon, nchannel,
                                kLinkMaxCapWords));
  if (offset < kLinkMessMinBytes || offset + 4 * (ncommon + nchannel) > body.size())
    throw LinkError(SPICE_LINK_ERR_INVALID_DATA,
                    fmt::format("capabilities at offset {} ({} words) run past the {}-byte link message", offset,
                                ncommon + nchannel, body.size()));
  WireReader caps(body.subspan(size_t(offset)), "link capabilities");
  for (uint64_t i = 0; i < ncommon; ++i) m.common_caps.push_back(caps.u32());
  for (uint64_t i = 0; i < nchannel; ++i) m.channel_caps.push_back(caps.u32());
  return m;
}

std::vector<uint8_t> build_link_reply(uint32_t error, std::span<const uint8_t> pub_key, const Caps& common,
                                      const Caps& channel) {
  WireWriter w;
  uint32_t size = uint32_t(kLinkReplyBytes + 4 * (common.size() + channel.size()));
  w.u32(SPICE_MAGIC).u32(SPICE_VERSION_MAJOR).u32(SPICE_VERSION_MINOR).u32(size);
  w.u32(error);
  if (pub_key.size() == SPICE_TICKET_PUBKEY_BYTES)
    w.bytes(pub_key);
  else
    w.zeros(SPICE_TICKET_PUBKEY_BYTES);
  w.u32(uint32_t(common.size())).u32(uint32_t(channel.size())).u32(uint32_t(kLinkReplyBytes));
  for (uint32_t c : common) w.u32(c);
  for (uint32_t c : channel) w.u32(c);
  return w.take();
}

std::vector<uint8_t> build_link_request(uint32_t connection_id, uint8_t channel_type, uint8_t channel_id,
                                        const Caps& common, const Caps& channel) {
  WireWriter w;
  uint32_t size = uint32_t(kLinkMessMinBytes + 4 * (common.size() + channel.size()));
  w.u32(SPICE_MAGIC).u32(SPICE_VERSION_MAJOR).u32(SPICE_VERSION_MINOR).u32(size);
  w.u32(connection_id).u8(channel_type).u8(channel_id);
  w.u32(uint32_t(common.size())).u32(uint32_t(channel.size())).u32(uint32_t(kLinkMessMinBytes));
  for (uint32_t c : common) w.u32(c);
  for (uint32_t c : channel) w.u32(c);
  return w.take();
}

const char* channel_name(uint8_t type) {
  switch (type) {
    case SPICE_CHANNEL_MAIN: return "main";
    case SPICE_CHANNEL_DISPLAY: return "display";
    case SPICE_CHANNEL_INPUTS: return "inputs";
    case SPICE_CHANNEL_CURSOR: return "cursor";
    case SPICE_CHANNEL_PLAYBACK: return "playback";
    case SPICE_CHANNEL_RECORD: return "record";
    case SPICE_CHANNEL_SMARTCARD: return "smartcard";
    case SPICE_CHANNEL_USBREDIR: return "usbredir";
    case SPICE_CHANNEL_PORT: return "port";
    case SPICE_CHANNEL_WEBDAV: return "webdav";
    default: return "unknown";
  }
}

const char* link_error_name(uint32_t code) {
  switch (code) {
    case SPICE_LINK_ERR_OK: return "OK";
    case SPICE_LINK_ERR_ERROR: return "ERROR";
    case SPICE_LINK_ERR_INVALID_MAGIC: return "INVALID_MAGIC";
    case SPICE_LINK_ERR_INVALID_DATA: return "INVALID_DATA";
    case SPICE_LINK_ERR_VERSION_MISMATCH: return "VERSION_MISMATCH";
    case SPICE_LINK_ERR_NEED_SECURED: return "NEED_SECURED";
    case SPICE_LINK_ERR_NEED_UNSECURED: return "NEED_UNSECURED";
    case SPICE_LINK_ERR_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case SPICE_LINK_ERR_BAD_CONNECTION_ID: return "BAD_CONNECTION_ID";
    case SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE: return "CHANNEL_NOT_AVAILABLE";
    default: return "unknown";
  }
}

}  // namespace tessera::spice
