// The lossless image side of the SPICE display channel, offline: uniform bands as DRAW_FILL,
// palette bitmaps, LZ4, and the client's pixmap cache under heavy churn, each played into the
// client model (ClientView), which must end exactly on the source and never be asked for an
// image it does not hold.
#include <gtest/gtest.h>

#include <random>

#include "encode/palette_image.h"
#include "encode/uniform_bands.h"
#include "transport/spice/client_view.h"
#include "transport/spice/display_update_writer.h"
#include "transport/spice/glz_encoder.h"
#include "transport/spice/image_cache.h"
#include "transport/spice/messages.h"

using namespace tessera;
using namespace tessera::spice;

namespace {

VideoSettings lossless_only() {
  VideoSettings v;
  v.codecs.clear();
  return v;
}

// A writer whose messages go straight into a client model.
struct Offline {
  ClientView view;
  std::vector<uint16_t> types;
  uint64_t bytes = 0;
  int64_t cache_capacity = 0;
  int64_t most_cached = 0;
  DisplayUpdateWriter writer{lossless_only(), ImageCodec::Auto,
                             [](unsigned cap) { return cap == SPICE_DISPLAY_CAP_LZ4_COMPRESSION; }, nullptr,
                             [this](uint16_t type, const Body& b) {
                               types.push_back(type);
                               bytes += b.size();
                               view.apply(type, b);
                               most_cached = std::max(most_cached, view.cached_pixels());
                             },
                             "test"};
  void send(const FramePtr& f, const Region& damage, bool first) {
    Subscription::FrameUpdate u;
    u.frame = f;
    u.damage = damage;
    u.resized = first;
    writer.update(u, DisplayUpdateWriter::Clock::now());
  }
};

size_t count(const std::vector<uint16_t>& v, uint16_t t) { return size_t(std::count(v.begin(), v.end(), t)); }

}  // namespace

TEST(UniformBands, SolidRunsBecomeBandsAndTheRestStaysWhole) {
  Frame f(40, 60);
  f.fill({0, 0, 40, 60}, bgrx(1, 2, 3));
  f.fill({0, 20, 40, 5}, bgrx(9, 9, 9));      // a short uniform run of another colour: stays inside an image
  f.set_pixel(7, 30, bgrx(200, 0, 0));         // text on row 30
  f.set_pixel(8, 41, bgrx(200, 0, 0));         // and row 41
  auto bands = uniform_bands(f, f.bounds(), 8);
  ASSERT_EQ(bands.size(), 5u);
  EXPECT_EQ(bands[0].rect, (Rect{0, 0, 40, 20}));
  EXPECT_EQ(bands[0].solid, std::optional<uint32_t>(0x010203u));
  EXPECT_EQ(bands[1].rect, (Rect{0, 20, 40, 11}));  // rows 20..30: the short run and the first text row
  EXPECT_FALSE(bands[1].solid);
  EXPECT_EQ(bands[2].rect, (Rect{0, 31, 40, 10}));  // ten rows of background between the text rows
  EXPECT_TRUE(bands[2].solid);
  EXPECT_EQ(bands[3].rect, (Rect{0, 41, 40, 1}));
  EXPECT_FALSE(bands[3].solid);
  EXPECT_EQ(bands[4].rect, (Rect{0, 42, 40, 18}));
  // A small rectangle that is all one colour is one fill, however few rows.
  auto one = uniform_bands(f, {0, 0, 3, 2}, 8);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_TRUE(one[0].solid);
}

TEST(PaletteImage, DepthFollowsTheColourCount) {
  Frame f(13, 3);
  f.fill(f.bounds(), bgrx(255, 255, 255));
  f.set_pixel(0, 0, bgrx(0, 0, 0));
  f.set_pixel(12, 2, bgrx(0, 0, 0));
  auto two = palette_image(f, f.bounds());
  ASSERT_TRUE(two);
  EXPECT_EQ(two->bits, 1);
  EXPECT_EQ(two->stride, 2u);
  EXPECT_EQ(two->indices[0] & 0x80, 0);      // leftmost pixel: most significant bit (index 0: first colour seen)
  EXPECT_EQ(two->indices[0] & 0x40, 0x40);   // the second pixel is the other colour
  for (int i = 0; i < 14; ++i) f.set_pixel(i % 13, 1, bgrx(uint8_t(i * 10), 1, 1));
  auto many = palette_image(f, f.bounds());
  ASSERT_TRUE(many);
  EXPECT_EQ(many->bits, 4);
  EXPECT_FALSE(palette_image(f, f.bounds(), 8));  // more than 8 colours
}

// Every image form the writer picks decodes to the source pixels in the client model.
TEST(SpiceImages, FillsPalettesAndLz4ArriveExact) {
  Offline o;
  auto f = std::make_shared<Frame>(320, 200);
  f->fill(f->bounds(), bgrx(30, 40, 50));
  o.send(f, Region(f->bounds()), true);
  EXPECT_GE(count(o.types, SPICE_MSG_DISPLAY_DRAW_FILL), 1u);
  // Text-like: two colours; then photo-like noise; then a solid block.
  auto g = std::make_shared<Frame>(*f);
  std::mt19937 rng(3);
  for (int y = 10; y < 40; ++y)
    for (int x = 10; x < 200; ++x)
      if (rng() % 3 == 0) g->set_pixel(x, y, bgrx(250, 250, 250));
  for (int y = 60; y < 120; ++y)
    for (int x = 10; x < 120; ++x) g->set_pixel(x, y, bgrx(uint8_t(rng()), uint8_t(rng()), uint8_t(x + y)));
  g->fill({150, 100, 100, 80}, bgrx(200, 10, 10));
  o.types.clear();
  Region changed;
  changed.add(Rect{10, 10, 190, 30}).add(Rect{10, 60, 110, 60}).add(Rect{150, 100, 100, 80});
  o.send(g, changed, false);
  EXPECT_TRUE(o.view.surface().same_pixels(*g, g->bounds()));
  EXPECT_GE(o.view.counters().palette_draws, 1u);
  EXPECT_GE(o.view.counters().fills, 2u);
  EXPECT_GE(o.view.counters().draws, 2u);
}

// Thousands of images through a small cache: tiles come back often (hits), the budget forces
// evictions all along, and the client model is exact after every update and never holds more
// than it announced, nor meets an id it does not have (ClientView throws).
TEST(SpiceImages, ThePixmapCacheSurvivesThousandsOfImagesAndEvictions) {
  constexpr int kTile = 64, kCols = 6, kRows = 4, kPatterns = 30;
  Offline o;
  const int64_t capacity = 12 * kTile * kTile;
  o.writer.set_client_cache(capacity);
  auto pattern = [&](Frame& f, int col, int row, int p) {
    std::mt19937 rng(uint32_t(p * 7919 + 1));
    for (int y = 0; y < kTile; ++y)
      for (int x = 0; x < kTile; ++x)
        f.set_pixel(col * kTile + x, row * kTile + y,
                    bgrx(uint8_t(rng() % 256), uint8_t(p * 8), uint8_t((x * y + p) % 256)));
  };
  auto f = std::make_shared<Frame>(kCols * kTile, kRows * kTile);
  std::vector<int> shown(kCols * kRows, 0);
  for (int i = 0; i < kCols * kRows; ++i) pattern(*f, i % kCols, i / kCols, 0);
  o.send(f, Region(f->bounds()), true);
  std::mt19937 rng(11);
  size_t images = 0;
  for (int step = 0; step < 1600; ++step) {
    auto g = std::make_shared<Frame>(*f);
    Region changed;
    // A few tiles, never two neighbours (each goes as an image of its own).
    for (int i = (step % 2); i < kCols * kRows; i += 2) {
      if (rng() % 3) continue;
      int col = i % kCols, row = i / kCols;
      if ((col + row) % 2 != step % 2) continue;
      int p = int(rng() % 100 < 60 ? rng() % 6 : rng() % kPatterns);  // some favourites, many others
      if (p == shown[size_t(i)]) continue;
      shown[size_t(i)] = p;
      pattern(*g, col, row, p);
      changed.add(Rect{col * kTile, row * kTile, kTile, kTile});
      ++images;
    }
    o.send(g, changed, false);
    ASSERT_TRUE(o.view.surface().same_pixels(*g, g->bounds())) << "step " << step;
    f = g;
  }
  EXPECT_GT(images, 2000u);
  const auto& sent = o.writer.counters();
  EXPECT_GT(sent.cache_hits, 300u);
  EXPECT_GT(sent.cache_evictions, 500u);
  EXPECT_EQ(o.view.counters().cache_hits, sent.cache_hits);
  EXPECT_LE(o.most_cached, capacity);
  EXPECT_EQ(o.view.cached_pixels(), o.writer.cache().used());
  EXPECT_EQ(o.view.cached_images(), o.writer.cache().size());
  EXPECT_EQ(count(o.types, SPICE_MSG_DISPLAY_INVAL_ALL_PIXMAPS), 1u);
}

TEST(ImageCache, LeastRecentlyUsedGoesFirst) {
  ImageCache c;
  c.set_capacity(40000);
  ImageCache::Key a{1, 1, 100, 100}, b{2, 2, 100, 100}, d{3, 3, 100, 100};
  EXPECT_TRUE(c.insert(a, 10, 10000).empty());
  EXPECT_TRUE(c.insert(b, 11, 10000).empty());
  EXPECT_EQ(c.find(a), std::optional<uint64_t>(10));  // a used again: b is the oldest now
  auto out = c.insert(d, 12, 25000);
  EXPECT_EQ(out, std::vector<uint64_t>{11});
  EXPECT_FALSE(c.find(b));
  EXPECT_EQ(c.used(), 35000);
  EXPECT_FALSE(c.worth_caching(100));      // tiny
  EXPECT_FALSE(c.worth_caching(20000));    // half the cache
  EXPECT_TRUE(c.worth_caching(8000));
}

// GLZ against the client model: content seen before costs a fraction of its first sending, the
// window keeps dropping its oldest images, and no match ever reaches past it (ClientView throws
// on a reference to an image it no longer holds, as spice-gtk would stall).
TEST(SpiceImages, GlzMatchesEarlierImagesWithinItsWindow) {
  constexpr int kTile = 64, kCols = 6, kRows = 4, kPatterns = 20;
  Offline glz;
  // No pixmap cache: GLZ alone; a window of eight tiles.
  Offline* runs[] = {&glz};
  glz.writer.set_client_cache(0, 8 * kTile * kTile);
  auto pattern = [&](Frame& f, int col, int row, int p) {
    std::mt19937 rng(uint32_t(p * 31 + 7));
    for (int y = 0; y < kTile; ++y)
      for (int x = 0; x < kTile; ++x)
        f.set_pixel(col * kTile + x, row * kTile + y, bgrx(uint8_t(rng()), uint8_t(rng()), uint8_t(rng())));
  };
  auto f = std::make_shared<Frame>(kCols * kTile, kRows * kTile);
  for (int i = 0; i < kCols * kRows; ++i) pattern(*f, i % kCols, i / kCols, i % kPatterns);
  for (Offline* r : runs) r->send(f, Region(f->bounds()), true);
  std::mt19937 rng(2);
  std::vector<int> shown(kCols * kRows);
  for (int i = 0; i < kCols * kRows; ++i) shown[size_t(i)] = i % kPatterns;
  uint64_t changes = 0;
  for (int step = 0; step < 400; ++step) {
    auto g = std::make_shared<Frame>(*f);
    Region changed;
    for (int i = 0; i < kCols * kRows; ++i) {
      int col = i % kCols, row = i / kCols;
      if ((col + row) % 2 != step % 2 || rng() % 3) continue;
      int p = int(rng() % 100 < 70 ? rng() % 4 : rng() % kPatterns);  // a few recent favourites
      if (p == shown[size_t(i)]) continue;
      shown[size_t(i)] = p;
      pattern(*g, col, row, p);
      changed.add(Rect{col * kTile, row * kTile, kTile, kTile});
      ++changes;
    }
    for (Offline* r : runs) {
      r->send(g, changed, false);
      ASSERT_TRUE(r->view.surface().same_pixels(*g, g->bounds())) << "step " << step;
    }
    f = g;
  }
  const auto& sent = glz.writer.counters();
  EXPECT_GT(sent.glz_draws, 500u);
  EXPECT_EQ(glz.view.counters().glz_draws, sent.glz_draws);
  // Noise has nothing to match within itself: every byte saved came from an earlier image.
  EXPECT_LT(glz.bytes, changes * kTile * kTile * 3 / 2) << changes << " tile changes";
  EXPECT_LE(glz.writer.counters().cache_hits, 0u);
}

TEST(GlzEncoder, LongMatchesOffsetsAndRunsRoundTrip) {
  // One image larger than 4096 pixels with repeats far back (the long offset form), long runs
  // (length bytes past 255) and a second image referring into the first.
  Offline o;
  o.writer.set_client_cache(0, 1 << 20);
  auto f = std::make_shared<Frame>(600, 300);
  std::mt19937 rng(9);
  for (int y = 0; y < 300; ++y)
    for (int x = 0; x < 600; ++x) {
      // Noise, a repeating ramp (long matches, 256 back), then the noise again 144000 pixels on
  // (past 2^17: the longest offset form).
      // (The middle rows are no solid band, so that it all stays one image.)
      uint32_t v = y < 60 ? uint32_t(rng()) : y < 240 ? bgrx(uint8_t(x), 0, 30) : f->pixel(x, y - 240);
      f->set_pixel(x, y, v | 0xFF000000u);
    }
  o.send(f, Region(f->bounds()), true);
  ASSERT_TRUE(o.view.surface().same_pixels(*f, f->bounds()));
  auto g = std::make_shared<Frame>(*f);
  for (int y = 0; y < 60; ++y)
    for (int x = 0; x < 300; ++x) g->set_pixel(x + 300, y + 130, f->pixel(x, y));
  o.send(g, Region(Rect{300, 130, 300, 60}), false);
  ASSERT_TRUE(o.view.surface().same_pixels(*g, g->bounds()));
  EXPECT_EQ(o.view.counters().glz_draws, 2u);  // both beat LZ4 (its window is 64 KiB)
  EXPECT_LT(o.bytes, 60u * 600 * 3 + 20000);   // the noise once, everything else as matches
}

// A candidate that cannot beat the best image so far gives up early, and an abandoned GLZ
// image never joins the window (the client never saw it).
TEST(SpiceImages, CandidatesGiveUpAtTheBestSizeSoFar) {
  auto f = std::make_shared<Frame>(256, 128);
  std::mt19937 rng(4);
  for (int y = 0; y < 128; ++y)
    for (int x = 0; x < 256; ++x) f->set_pixel(x, y, uint32_t(rng()) | 0xFF000000u);
  GlzEncoder glz(1 << 20);
  auto whole = glz.encode(*f, f->bounds());
  ASSERT_TRUE(whole);
  EXPECT_FALSE(glz.encode(*f, f->bounds(), whole->size()));
  EXPECT_FALSE(glz.encode(*f, f->bounds(), 4096));
  EXPECT_EQ(glz.window_images(), 0u);
  auto again = glz.encode(*f, f->bounds(), whole->size() + 1);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *whole);

  // A ramp LZ4 compresses: cut off at its own size it loses, one byte more and it is whole.
  Frame ramp(256, 128);
  for (int y = 0; y < 128; ++y)
    for (int x = 0; x < 256; ++x) ramp.set_pixel(x, y, bgrx(uint8_t(x * y), uint8_t(y), 7));
  Lz4ImageEncoder enc;
  Body full = draw_copy_lz4(ramp, ramp.bounds(), 1, enc);
  ASSERT_FALSE(full.empty());
  EXPECT_TRUE(draw_copy_lz4(ramp, ramp.bounds(), 1, enc, 0, full.size()).empty());
  EXPECT_TRUE(draw_copy_lz4(ramp, ramp.bounds(), 1, enc, 0, 100).empty());
  EXPECT_EQ(draw_copy_lz4(ramp, ramp.bounds(), 1, enc, 0, full.size() + 1), full);
}

// The client model refuses malformed GLZ as spice-gtk would fail on it.
TEST(ClientViewGlz, RefusesBrokenStreams) {
  ClientView v;
  v.apply(SPICE_MSG_DISPLAY_SURFACE_CREATE, surface_create(0, 16, 16));
  auto f = std::make_shared<Frame>(4, 2);
  f->fill(f->bounds(), bgrx(1, 2, 3));
  GlzEncoder enc(1000);
  auto good = *enc.encode(*f, f->bounds());
  enc.commit();
  Rect r{0, 0, 4, 2};
  EXPECT_NO_THROW(v.apply(SPICE_MSG_DISPLAY_DRAW_COPY, draw_copy_glz(r, 1, good)));
  auto truncated = good;
  truncated.resize(truncated.size() - 2);
  EXPECT_THROW(v.apply(SPICE_MSG_DISPLAY_DRAW_COPY, draw_copy_glz(r, 2, truncated)), std::runtime_error);
  auto bad_magic = good;
  bad_magic[0] ^= 1;
  EXPECT_THROW(v.apply(SPICE_MSG_DISPLAY_DRAW_COPY, draw_copy_glz(r, 3, bad_magic)), std::runtime_error);
  // A match one image back from an image whose id says there is none before it.
  std::vector<uint8_t> stream(good.begin(), good.begin() + 33);  // the header
  stream[25] = 0, stream[26] = 0, stream[27] = 0, stream[28] = 9;  // id 9 (low word)
  stream.insert(stream.end(), {uint8_t(7 << 5 | 0), 1, 0, 0x01});  // 8 pixels, 7 + 1; offset 0; one image back
  EXPECT_THROW(v.apply(SPICE_MSG_DISPLAY_DRAW_COPY, draw_copy_glz(r, 4, stream)), std::runtime_error);
}
