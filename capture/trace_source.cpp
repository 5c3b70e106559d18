#include "capture/trace_source.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "core/png_file.h"

namespace tessera {

namespace fs = std::filesystem;

TraceSource::TraceSource(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error("trace '" + dir + "' is not a directory");
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".png") files_.push_back(e.path().string());
  if (ec) throw std::runtime_error("trace '" + dir + "': " + ec.message());
  if (files_.empty()) throw std::runtime_error("trace '" + dir + "' holds no .png frames");
  std::sort(files_.begin(), files_.end());
  last_frame_ = std::make_shared<Frame>(read_png(files_.front()));
  last_ = 0;
  size_ = last_frame_->size();
}

std::string TraceSource::description() const { return fmt::format("trace {} ({} frames)", dir_, files_.size()); }

CapturedFrame TraceSource::capture(uint64_t index) {
  size_t i = size_t(std::min<uint64_t>(index, files_.size() - 1));
  CapturedFrame c;
  if (last_ && *last_ == i) {
    c.frame = last_frame_;
    return c;  // nothing changed
  }
  auto f = std::make_shared<Frame>(read_png(files_[i]));
  if (f->size() != size_)
    throw std::runtime_error(fmt::format("trace frame {} is {}x{}, the trace is {}x{}", files_[i], f->width(),
                                         f->height(), size_.width, size_.height));
  c.frame = f;
  c.damage = Region(f->bounds());  // a trace carries no damage hints: the tracker finds them
  last_ = i;
  last_frame_ = f;
  return c;
}

void record_trace(FrameSource& source, uint64_t first, uint64_t count, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create '" + dir + "': " + ec.message());
  for (uint64_t i = 0; i < count; ++i) {
    CapturedFrame c = source.capture(first + i);
    write_png(*c.frame, fmt::format("{}/frame-{:06}.png", dir, i));
  }
}

}  // namespace tessera
