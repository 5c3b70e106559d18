#include "transport/spice/messages.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessera::spice {

namespace {

// DisplayBase with clip NONE + DRAW_COPY fields up to the image, which follows at offset 57.
void draw_copy_head(WireWriter& w, const Rect& r) {
  w.u32(0).rect(r).u8(SPICE_CLIP_TYPE_NONE);
  w.u32(kDrawCopyFixedBytes);                      // src_bitmap: offset of the image in the body
  w.rect(Rect{0, 0, r.width, r.height});           // src_area within the image
  w.u16(SPICE_ROPD_OP_PUT).u8(SPICE_IMAGE_SCALE_MODE_NEAREST);
  w.u8(0).i32(0).i32(0).u32(0);                    // no mask
}

void image_descriptor(WireWriter& w, uint64_t id, uint8_t type, const Rect& r, uint8_t flags = 0) {
  w.u64(id).u8(type).u8(flags).u32(uint32_t(r.width)).u32(uint32_t(r.height));
}

void cursor_shape(WireWriter& w, const CursorState& c) {
  if (!c.image) {
    w.u16(SPICE_CURSOR_FLAGS_NONE);
    return;
  }
  const CursorImage& img = *c.image;
  w.u16(0);
  w.u64(img.serial).u8(SPICE_CURSOR_TYPE_ALPHA);
  w.u16(uint16_t(img.width)).u16(uint16_t(img.height));
  w.u16(uint16_t(std::clamp(img.hot_x, 0, std::max(0, img.width - 1))));
  w.u16(uint16_t(std::clamp(img.hot_y, 0, std::max(0, img.height - 1))));
  for (uint32_t px : img.argb) w.u32(px);  // 32-bit ARGB, little-endian (B, G, R, A in memory)
}

int16_t clamp16(int32_t v) { return int16_t(std::clamp(v, -32768, 32767)); }

}  // namespace

Body set_ack(uint32_t generation, uint32_t window) { return WireWriter().u32(generation).u32(window).take(); }
Body ping(uint32_t id, uint64_t timestamp) { return WireWriter().u32(id).u64(timestamp).take(); }

Body main_init(const MainInit& m) {
  return WireWriter()
      .u32(m.session_id)
      .u32(m.display_channels_hint)
      .u32(m.supported_mouse_modes)
      .u32(m.current_mouse_mode)
      .u32(m.agent_connected)
      .u32(m.agent_tokens)
      .u32(m.multi_media_time)
      .u32(m.ram_hint)
      .take();
}

Body main_channels_list(const std::vector<std::pair<uint8_t, uint8_t>>& channels) {
  WireWriter w;
  w.u32(uint32_t(channels.size()));
  for (auto [type, id] : channels) w.u8(type).u8(id);
  return w.take();
}

Body main_mouse_mode(uint16_t supported, uint16_t current) { return WireWriter().u16(supported).u16(current).take(); }
Body main_multi_media_time(uint32_t mm_time) { return WireWriter().u32(mm_time).take(); }

Body main_name(const std::string& name) {
  WireWriter w;
  w.u32(uint32_t(name.size() + 1));
  w.bytes({reinterpret_cast<const uint8_t*>(name.data()), name.size()}).u8(0);
  return w.take();
}

Body main_uuid(const std::array<uint8_t, 16>& uuid) { return WireWriter().bytes(uuid).take(); }

Body surface_create(uint32_t surface_id, uint32_t width, uint32_t height) {
  return WireWriter()
      .u32(surface_id)
      .u32(width)
      .u32(height)
      .u32(SPICE_SURFACE_FMT_32_xRGB)
      .u32(SPICE_SURFACE_FLAGS_PRIMARY)
      .take();
}

Body surface_destroy(uint32_t surface_id) { return WireWriter().u32(surface_id).take(); }

Body monitors_config(uint32_t width, uint32_t height) {
  WireWriter w;
  w.u16(1).u16(1);
  w.u32(0).u32(0).u32(width).u32(height).u32(0).u32(0).u32(0);
  return w.take();
}

Body copy_bits(const Move& m) {
  return WireWriter().u32(0).rect(m.dst).u8(SPICE_CLIP_TYPE_NONE).i32(m.src_x).i32(m.src_y).take();
}

Body draw_copy_bitmap(const Frame& f, const Rect& r, uint64_t image_id, uint8_t image_flags) {
  WireWriter w;
  size_t row_bytes = size_t(r.width) * 4;
  w.reserve(kDrawCopyFixedBytes + 18 + 18 + row_bytes * size_t(r.height));
  draw_copy_head(w, r);
  image_descriptor(w, image_id, SPICE_IMAGE_TYPE_BITMAP, r, image_flags);
  w.u8(SPICE_BITMAP_FMT_32BIT).u8(SPICE_BITMAP_FLAGS_TOP_DOWN);
  w.u32(uint32_t(r.width)).u32(uint32_t(r.height)).u32(uint32_t(row_bytes)).u32(0);
  auto& buf = w.buffer();
  size_t at = buf.size();
  buf.resize(at + row_bytes * size_t(r.height));
  for (int32_t y = 0; y < r.height; ++y)
    std::memcpy(buf.data() + at + size_t(y) * row_bytes, f.row(r.y + y) + r.x, row_bytes);
  return w.take();
}

Body draw_copy_palette(const Rect& r, uint64_t image_id, const PaletteImage& img, uint8_t image_flags) {
  WireWriter w;
  w.reserve(kDrawCopyFixedBytes + 18 + 18 + img.indices.size() + 10 + 4 * img.colours.size());
  draw_copy_head(w, r);
  image_descriptor(w, image_id, SPICE_IMAGE_TYPE_BITMAP, r, image_flags);
  uint8_t format = img.bits == 1 ? SPICE_BITMAP_FMT_1BIT_BE : img.bits == 4 ? SPICE_BITMAP_FMT_4BIT_BE : SPICE_BITMAP_FMT_8BIT;
  w.u8(format).u8(SPICE_BITMAP_FLAGS_TOP_DOWN);
  w.u32(uint32_t(r.width)).u32(uint32_t(r.height)).u32(img.stride);
  size_t palette_at = w.size();
  w.u32(0);  // the palette's offset, patched below
  w.bytes(img.indices);
  w.patch_u32(palette_at, uint32_t(w.size()));
  w.u64(0).u16(uint16_t(img.colours.size()));  // unique 0: not cached
  for (uint32_t c : img.colours) w.u32(c);
  return w.take();
}

Body draw_copy_glz(const Rect& r, uint64_t image_id, std::span<const uint8_t> glz, uint8_t image_flags) {
  WireWriter w;
  w.reserve(kDrawCopyFixedBytes + 18 + 4 + glz.size());
  draw_copy_head(w, r);
  image_descriptor(w, image_id, SPICE_IMAGE_TYPE_GLZ_RGB, r, image_flags);
  w.u32(uint32_t(glz.size())).bytes(glz);
  return w.take();
}

Body draw_copy_from_cache(const Rect& r, uint64_t image_id) {
  WireWriter w;
  draw_copy_head(w, r);
  image_descriptor(w, image_id, SPICE_IMAGE_TYPE_FROM_CACHE, r);
  return w.take();
}

Body inval_list(const std::vector<uint64_t>& image_ids) {
  WireWriter w;
  w.u16(uint16_t(image_ids.size()));
  for (uint64_t id : image_ids) w.u8(SPICE_RES_TYPE_PIXMAP).u64(id);
  return w.take();
}

Body inval_all_pixmaps() { return WireWriter().u8(0).take(); }  // no channels to wait for

Body draw_fill(const Rect& r, uint32_t colour) {
  WireWriter w;
  w.u32(0).rect(r).u8(SPICE_CLIP_TYPE_NONE);
  w.u8(SPICE_BRUSH_TYPE_SOLID).u32(colour & 0xFFFFFFu);
  w.u16(SPICE_ROPD_OP_PUT);
  w.u8(0).i32(0).i32(0).u32(0);  // no mask
  return w.take();
}

Body draw_copy_lz4(const Frame& f, const Rect& r, uint64_t image_id, Lz4ImageEncoder& enc, uint8_t image_flags,
                   size_t limit) {
  WireWriter w;
  draw_copy_head(w, r);
  image_descriptor(w, image_id, SPICE_IMAGE_TYPE_LZ4, r, image_flags);
  size_t size_at = w.size();
  w.u32(0);  // data size, patched below
  w.u8(1).u8(SPICE_BITMAP_FMT_32BIT);  // top-down, BGRX rows
  // The body is at least the head plus the compressed bytes: past `limit` less the head it loses.
  const size_t head = w.size();
  size_t compressed = enc.encode(
      f, r, [&](std::span<const uint8_t> block) { w.u32_be(uint32_t(block.size())).bytes(block); },
      limit > head ? limit - head : 0);
  size_t raw = size_t(r.width) * 4 * size_t(r.height);
  if (compressed + 64 >= raw) return {};  // incompressible: the bitmap is cheaper to decode
  if (w.size() >= limit) return {};
  w.patch_u32(size_at, uint32_t(w.size() - size_at - 4));
  return w.take();
}

Body inputs_init(uint16_t modifiers) { return WireWriter().u16(modifiers).take(); }
Body inputs_key_modifiers(uint16_t modifiers) { return WireWriter().u16(modifiers).take(); }

Body cursor_init(const CursorState& c) {
  WireWriter w;
  w.i16(clamp16(c.x)).i16(clamp16(c.y)).u16(0).u16(0).u8(c.visible ? 1 : 0);
  cursor_shape(w, c);
  return w.take();
}

Body cursor_set(const CursorState& c) {
  WireWriter w;
  w.i16(clamp16(c.x)).i16(clamp16(c.y)).u8(c.visible ? 1 : 0);
  cursor_shape(w, c);
  return w.take();
}

Body cursor_move(int32_t x, int32_t y) { return WireWriter().i16(clamp16(x)).i16(clamp16(y)).take(); }

Body stream_create(uint32_t id, uint8_t codec_type, const Rect& dest) {
  WireWriter w;
  w.u32(0).u32(id).u8(SPICE_STREAM_FLAGS_TOP_DOWN).u8(codec_type).u64(0);
  w.u32(uint32_t(dest.width)).u32(uint32_t(dest.height));  // stream size
  w.u32(uint32_t(dest.width)).u32(uint32_t(dest.height));  // source size
  w.rect(dest).u8(SPICE_CLIP_TYPE_NONE);
  return w.take();
}

Body stream_data(uint32_t id, uint32_t mm_time, std::span<const uint8_t> frame) {
  WireWriter w;
  w.u32(id).u32(mm_time).u32(uint32_t(frame.size()));
  Body b = w.take();
  b.insert(b.end(), frame.begin(), frame.end());
  return b;
}

Body stream_data_sized(uint32_t id, uint32_t mm_time, const Rect& dest, std::span<const uint8_t> frame) {
  WireWriter w;
  w.u32(id).u32(mm_time).u32(uint32_t(dest.width)).u32(uint32_t(dest.height)).rect(dest);
  w.u32(uint32_t(frame.size()));
  Body b = w.take();
  b.insert(b.end(), frame.begin(), frame.end());
  return b;
}

Body stream_destroy(uint32_t id) { return WireWriter().u32(id).take(); }

Body stream_activate_report(uint32_t id, uint32_t unique_id, uint32_t max_window, uint32_t timeout_ms) {
  return WireWriter().u32(id).u32(unique_id).u32(max_window).u32(timeout_ms).take();
}

StreamReport parse_stream_report(WireReader& r) {
  StreamReport s;
  s.stream_id = r.u32();
  s.unique_id = r.u32();
  s.start_frame_mm_time = r.u32();
  s.end_frame_mm_time = r.u32();
  s.num_frames = r.u32();
  s.num_drops = r.u32();
  s.last_frame_delay = r.i32();
  s.audio_delay = r.u32();
  return s;
}

std::vector<uint8_t> parse_preferred_video_codecs(WireReader& r) {
  uint8_t n = r.u8();
  auto b = r.bytes(n);
  return {b.begin(), b.end()};
}

DisplayInit parse_display_init(WireReader& r) {
  DisplayInit d;
  d.cache_id = r.u8();
  d.cache_pixels = int64_t(r.u64());
  d.glz_dictionary_id = r.u8();
  d.glz_window_pixels = int32_t(r.u32());
  return d;
}

MessageHeader parse_message_header(std::span<const uint8_t> bytes, bool mini, size_t max_body) {
  WireReader h(bytes, "message header");
  if (!mini) h.u64();  // serial
  MessageHeader m;
  m.type = h.u16();
  m.size = h.u32();
  if (m.size > max_body)
    throw ProtocolError(fmt::format("message type {} claims {} bytes (limit {})", m.type, m.size, max_body));
  return m;
}

}  // namespace tessera::spice
