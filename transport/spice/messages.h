#pragma once
// Bodies of the messages the server sends, laid out as spice.proto marshals them.
#include <spice/enums.h>
#include <spice/protocol.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "core/cursor.h"
#include "core/frame.h"
#include "core/frame_change.h"
#include "encode/lz4_image_encoder.h"
#include "encode/palette_image.h"
#include "transport/spice/wire.h"

namespace tessera::spice {

using Body = std::vector<uint8_t>;

// Common to every channel.
Body set_ack(uint32_t generation, uint32_t window);
Body ping(uint32_t id, uint64_t timestamp);

// Main channel.
struct MainInit {
  uint32_t session_id = 0;
  uint32_t display_channels_hint = 1;
  uint32_t supported_mouse_modes = SPICE_MOUSE_MODE_SERVER | SPICE_MOUSE_MODE_CLIENT;
  uint32_t current_mouse_mode = SPICE_MOUSE_MODE_CLIENT;
  uint32_t agent_connected = 0;
  uint32_t agent_tokens = 10;
  uint32_t multi_media_time = 0;
  uint32_t ram_hint = 16 * 1024 * 1024;
};
Body main_init(const MainInit& m);
Body main_channels_list(const std::vector<std::pair<uint8_t, uint8_t>>& channels);
Body main_mouse_mode(uint16_t supported, uint16_t current);
Body main_multi_media_time(uint32_t mm_time);
Body main_name(const std::string& name);
Body main_uuid(const std::array<uint8_t, 16>& uuid);

// Display channel.
Body surface_create(uint32_t surface_id, uint32_t width, uint32_t height);
Body surface_destroy(uint32_t surface_id);
Body monitors_config(uint32_t width, uint32_t height);
// COPY_BITS: the client copies its own pixels at the move's source to its destination.
Body copy_bits(const Move& m);
// DRAW_COPY of `r` from `f` to the same place on surface 0: uncompressed top-down 32-bit bitmap.
// `image_flags` go in the image descriptor (SPICE_IMAGE_FLAGS_CACHE_ME: the client keeps the
// image under `image_id`).
Body draw_copy_bitmap(const Frame& f, const Rect& r, uint64_t image_id, uint8_t image_flags = 0);
// The same with an LZ4 image; falls back to nothing (empty body) if LZ4 does not pay off.
// Empty when LZ4 does not pay (incompressible), or when it would be `limit` bytes or more.
Body draw_copy_lz4(const Frame& f, const Rect& r, uint64_t image_id, Lz4ImageEncoder& enc, uint8_t image_flags = 0,
                   size_t limit = SIZE_MAX);
// The same as a palette bitmap (1BIT_BE, 4BIT_BE or 8BIT), its palette inline after the indices.
Body draw_copy_palette(const Rect& r, uint64_t image_id, const PaletteImage& img, uint8_t image_flags = 0);
// The same as a GLZ image (GlzEncoder's stream).
Body draw_copy_glz(const Rect& r, uint64_t image_id, std::span<const uint8_t> glz, uint8_t image_flags = 0);
// DRAW_COPY of an image the client holds in its cache under `image_id`.
Body draw_copy_from_cache(const Rect& r, uint64_t image_id);
// INVAL_LIST: the client drops these cached images. INVAL_ALL_PIXMAPS: it drops all of them.
Body inval_list(const std::vector<uint64_t>& image_ids);
Body inval_all_pixmaps();
// DRAW_FILL: `r` on surface 0 in one solid colour (BGRX; the X byte is ignored).
Body draw_fill(const Rect& r, uint32_t colour);
constexpr size_t kDrawFillBytes = 41;
constexpr size_t kDrawCopyFixedBytes = 57;  // up to the image descriptor

// Video streams. Frames are top-down; clip NONE (streams never overlap anything we draw).
Body stream_create(uint32_t id, uint8_t codec_type, const Rect& dest);
Body stream_data(uint32_t id, uint32_t mm_time, std::span<const uint8_t> frame);
Body stream_data_sized(uint32_t id, uint32_t mm_time, const Rect& dest, std::span<const uint8_t> frame);
Body stream_destroy(uint32_t id);
Body stream_activate_report(uint32_t id, uint32_t unique_id, uint32_t max_window, uint32_t timeout_ms);
constexpr size_t kStreamDataHeaderBytes = 12, kStreamDataSizedHeaderBytes = 36;

// What a client reports about a stream (SPICE_MSGC_DISPLAY_STREAM_REPORT).
struct StreamReport {
  uint32_t stream_id = 0;
  uint32_t unique_id = 0;
  uint32_t start_frame_mm_time = 0;
  uint32_t end_frame_mm_time = 0;
  uint32_t num_frames = 0;
  uint32_t num_drops = 0;
  int32_t last_frame_delay = 0;  // the last frame's mm_time minus the client's clock on arrival
  uint32_t audio_delay = 0;
  // The client could not decode the stream at all.
  bool unsupported() const { return num_frames == 0 && num_drops == 0xFFFFFFFFu; }
};
StreamReport parse_stream_report(WireReader& r);
// PREFERRED_VIDEO_CODEC_TYPE: the client's codec types, most wanted first.
std::vector<uint8_t> parse_preferred_video_codecs(WireReader& r);

// SPICE_MSGC_DISPLAY_INIT: the client's pixmap cache and GLZ dictionary sizes, in pixels, as the
// client sent them (the channel bounds them).
struct DisplayInit {
  uint8_t cache_id = 0, glz_dictionary_id = 0;
  int64_t cache_pixels = 0, glz_window_pixels = 0;
};
DisplayInit parse_display_init(WireReader& r);

// What precedes every message body after the link: type and size, in the mini header (6 bytes)
// or the full one (18: a serial first, and a sub-list offset after). Throws ProtocolError for a
// size over `max_body`, before anything is allocated.
struct MessageHeader {
  uint16_t type = 0;
  uint32_t size = 0;
};
constexpr size_t kMiniHeaderBytes = 6, kFullHeaderBytes = 18;
MessageHeader parse_message_header(std::span<const uint8_t> bytes, bool mini, size_t max_body);

// Inputs channel.
Body inputs_init(uint16_t modifiers);
Body inputs_key_modifiers(uint16_t modifiers);

// Cursor channel. `c.image` null means no cursor shape (flags NONE).
Body cursor_init(const CursorState& c);
Body cursor_set(const CursorState& c);
Body cursor_move(int32_t x, int32_t y);

}  // namespace tessera::spice
