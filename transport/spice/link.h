#pragma once
// The SPICE link stage: the client's link header and message, and our reply.
#include <spice/enums.h>
#include <spice/protocol.h>

#include <cstdint>
#include <span>
#include <vector>

#include "transport/spice/wire.h"

namespace tessera::spice {

using Caps = std::vector<uint32_t>;
bool has_cap(const Caps& caps, unsigned bit);
void set_cap(Caps& caps, unsigned bit);

constexpr size_t kLinkHeaderBytes = 16;
constexpr size_t kLinkMessMinBytes = 18;
constexpr size_t kLinkMessMaxBytes = 4096;
constexpr size_t kLinkMaxCapWords = 1024;
constexpr size_t kLinkReplyBytes = 178;

// A link failure carries the SPICE_LINK_ERR_* code to answer with.
struct LinkError : ProtocolError {
  LinkError(uint32_t c, const std::string& why) : ProtocolError(why), code(c) {}
  uint32_t code;
};

struct LinkHeader {
  uint32_t major = 0;
  uint32_t minor = 0;
  uint32_t size = 0;
};

struct LinkMessage {
  uint32_t connection_id = 0;
  uint8_t channel_type = 0;
  uint8_t channel_id = 0;
  Caps common_caps;
  Caps channel_caps;
};

// Both throw LinkError with the code to answer and a reason for the log.
LinkHeader parse_link_header(std::span<const uint8_t> bytes);
LinkMessage parse_link_message(std::span<const uint8_t> body);

// Link header + SpiceLinkReply + caps. `pub_key` is 162 bytes, or empty for an error reply.
std::vector<uint8_t> build_link_reply(uint32_t error, std::span<const uint8_t> pub_key, const Caps& common,
                                      const Caps& channel);
// What a client sends (used by tests and the test client).
std::vector<uint8_t> build_link_request(uint32_t connection_id, uint8_t channel_type, uint8_t channel_id,
                                        const Caps& common, const Caps& channel);

const char* channel_name(uint8_t type);
const char* link_error_name(uint32_t code);

}  // namespace tessera::spice
