#include "capture/x11_source.h"

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XInput2.h>
#include <X11/extensions/XShm.h>
#include <X11/extensions/XTest.h>
#include <X11/extensions/Xdamage.h>
#include <X11/extensions/Xfixes.h>
#include <X11/extensions/Xrandr.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <stdexcept>

#include "core/frame_pool.h"
#include "core/log.h"

namespace tessera {

namespace {

// The whole screen is read this often, for changes XDamage does not report (some direct-rendering
// paths).
constexpr std::chrono::seconds kFullReadPeriod{5};
// More damaged rectangles than this are read as their bounding box, in one request.
constexpr size_t kMaxRectReads = 16;
// Generations of damage kept for bringing pooled frames up to date.
constexpr size_t kHistory = 32;

// Xlib's default error handler exits the process; ours logs and carries on.
std::atomic<int> g_last_x_error{0};
int x_error_handler(Display* d, XErrorEvent* e) {
  char text[256] = {};
  XGetErrorText(d, e->error_code, text, sizeof text);
  spdlog::warn("x11: X error {} ({}) on request {}.{}", int(e->error_code), text, int(e->request_code),
               int(e->minor_code));
  g_last_x_error = e->error_code;
  return 0;
}

}  // namespace

struct X11Source::Impl {
  std::string name;
  Display* dpy = nullptr;
  Window root = 0;
  int screen = 0;
  Size size{};
  bool shm = false;
  XShmSegmentInfo shminfo{};
  XImage* image = nullptr;
  Damage damage = 0;
  XserverRegion parts = 0;
  int damage_event = 0, xfixes_event = 0, randr_event = 0;
  int xi_opcode = 0;          // XInput 2: raw motion says when the pointer moved
  bool pointer_moved = true;  // ask the server where the pointer is (always without XInput 2)
  bool full = true;  // next capture reads and reports the whole screen
  Region pending;
  FramePtr last;
  FramePool pool;
  uint64_t generation = 0;                             // of `last`
  std::deque<std::pair<uint64_t, Region>> history;     // what each generation changed
  std::shared_ptr<CursorImage> cursor_image;
  bool cursor_changed = true;
  uint64_t cursor_serial = 0;
  int pointer_x = 0, pointer_y = 0;
  bool restore_autorepeat = false;
  std::chrono::steady_clock::time_point last_full_read = std::chrono::steady_clock::now();

  void open(const std::string& display) {
    XInitThreads();
    XSetErrorHandler(x_error_handler);
    dpy = XOpenDisplay(display.empty() ? nullptr : display.c_str());
    name = display.empty() ? (std::getenv("DISPLAY") ? std::getenv("DISPLAY") : "") : display;
    if (!dpy) throw std::runtime_error("x11: cannot open display '" + name + "'");
    screen = DefaultScreen(dpy);
    root = RootWindow(dpy, screen);
    int err = 0, major = 0, minor = 0;
    if (!XDamageQueryExtension(dpy, &damage_event, &err))
      throw std::runtime_error("x11: display '" + name + "' has no DAMAGE extension");
    if (!XFixesQueryExtension(dpy, &xfixes_event, &err))
      throw std::runtime_error("x11: display '" + name + "' has no XFIXES extension");
    if (!XTestQueryExtension(dpy, &err, &err, &major, &minor))
      throw std::runtime_error("x11: display '" + name + "' has no XTEST extension (needed for input)");
    XRRQueryExtension(dpy, &randr_event, &err);
    Visual* v = DefaultVisual(dpy, screen);
    if (DefaultDepth(dpy, screen) != 24 || v->red_mask != 0xFF0000 || v->green_mask != 0xFF00 || v->blue_mask != 0xFF)
      throw std::runtime_error("x11: display '" + name + "' is not 24-bit true colour (depth " +
                               std::to_string(DefaultDepth(dpy, screen)) + ")");
    damage = XDamageCreate(dpy, root, XDamageReportNonEmpty);
    parts = XFixesCreateRegion(dpy, nullptr, 0);
    XFixesSelectCursorInput(dpy, root, XFixesDisplayCursorNotifyMask);
    if (randr_event) XRRSelectInput(dpy, root, RRScreenChangeNotifyMask);
    // Raw motion on the root: the pointer is asked for only after it moved, not on every tick
    // (a round trip 30 times a second costs the X server and us more than an idle desktop).
    int xi_event = 0, xi_error = 0, xi_major = 2, xi_minor = 0;
    if (XQueryExtension(dpy, "XInputExtension", &xi_opcode, &xi_event, &xi_error) &&
        XIQueryVersion(dpy, &xi_major, &xi_minor) == Success) {
      unsigned char mask[XIMaskLen(XI_LASTEVENT)] = {};
      XISetMask(mask, XI_RawMotion);
      XIEventMask em{XIAllMasterDevices, int(sizeof mask), mask};
      XISelectEvents(dpy, root, &em, 1);
    } else {
      xi_opcode = 0;
    }
    // Viewers send their own key repeats; the X server's would double them.
    XKeyboardState ks{};
    XGetKeyboardControl(dpy, &ks);
    if (ks.global_auto_repeat == AutoRepeatModeOn) {
      XAutoRepeatOff(dpy);
      restore_autorepeat = true;
    }
    shm = XShmQueryExtension(dpy);
    allocate();
    XSync(dpy, False);
  }

  void release_image() {
    if (!image) return;
    if (shm) {
      XShmDetach(dpy, &shminfo);
      XSync(dpy, False);
      shmdt(shminfo.shmaddr);
    }
    XDestroyImage(image);  // with SHM the data pointer is ours, already detached
    image = nullptr;
  }

  void allocate() {
    release_image();
    size = {DisplayWidth(dpy, screen), DisplayHeight(dpy, screen)};
    if (!shm) return;
    image = XShmCreateImage(dpy, DefaultVisual(dpy, screen), 24, ZPixmap, nullptr, &shminfo, unsigned(size.width),
                            unsigned(size.height));
    if (!image) {
      shm = false;
      return;
    }
    shminfo.shmid = shmget(IPC_PRIVATE, size_t(image->bytes_per_line) * size_t(image->height), IPC_CREAT | 0600);
    if (shminfo.shmid < 0) {
      XDestroyImage(image);
      image = nullptr;
      shm = false;
      spdlog::warn("x11: no shared memory segment ({}); reading the screen with XGetImage", std::strerror(errno));
      return;
    }
    void* addr = shmat(shminfo.shmid, nullptr, 0);
    if (addr == reinterpret_cast<void*>(-1)) {
      spdlog::warn("x11: cannot map a shared memory segment ({}); reading the screen with XGetImage",
                   std::strerror(errno));
      shmctl(shminfo.shmid, IPC_RMID, nullptr);
      XDestroyImage(image);
      image = nullptr;
      shm = false;
      return;
    }
    shminfo.shmaddr = image->data = static_cast<char*>(addr);
    shminfo.readOnly = False;
    XSync(dpy, False);  // errors from earlier requests must not be blamed on the attach
    g_last_x_error = 0;
    bool attached = XShmAttach(dpy, &shminfo);
    XSync(dpy, False);
    shmctl(shminfo.shmid, IPC_RMID, nullptr);  // freed once both sides detach
    if (!attached || g_last_x_error) {
      // A display on another machine cannot see our memory.
      shmdt(shminfo.shmaddr);
      image->data = nullptr;
      XDestroyImage(image);
      image = nullptr;
      shm = false;
      spdlog::info("x11: MIT-SHM not usable on '{}'; reading the screen with XGetImage", name);
    }
  }

  void drain_events() {
    while (XPending(dpy)) {
      XEvent ev;
      XNextEvent(dpy, &ev);
      if (ev.type == damage_event + XDamageNotify) {
        XDamageSubtract(dpy, damage, None, parts);
        int n = 0;
        XRectangle* rects = XFixesFetchRegion(dpy, parts, &n);
        for (int i = 0; i < n; ++i) pending.add(Rect{rects[i].x, rects[i].y, rects[i].width, rects[i].height});
        if (rects) XFree(rects);
      } else if (ev.type == xfixes_event + XFixesCursorNotify) {
        cursor_changed = true;
      } else if (xi_opcode && ev.type == GenericEvent && ev.xcookie.extension == xi_opcode &&
                 ev.xcookie.evtype == XI_RawMotion) {
        pointer_moved = true;
      } else if (randr_event && ev.type == randr_event + RRScreenChangeNotify) {
        XRRUpdateConfiguration(&ev);
        Size now{DisplayWidth(dpy, screen), DisplayHeight(dpy, screen)};
        if (now != size) {
          spdlog::info("x11: display '{}' is now {}x{}", name, now.width, now.height);
          allocate();
          full = true;
        }
      }
    }
  }

  // Reads `r` of the root window into `f`; false when the X server refused.
  bool read_rect(const Rect& r, Frame& f) {
    XImage* img = nullptr;
    bool shared = shm && image;
    if (shared) {
      // A header of the rectangle's size over the same segment.
      img = XShmCreateImage(dpy, DefaultVisual(dpy, screen), 24, ZPixmap, shminfo.shmaddr, &shminfo,
                            unsigned(r.width), unsigned(r.height));
      if (img && !XShmGetImage(dpy, root, img, r.x, r.y, AllPlanes)) {
        XDestroyImage(img);
        return false;
      }
    } else {
      img = XGetImage(dpy, root, r.x, r.y, unsigned(r.width), unsigned(r.height), AllPlanes, ZPixmap);
    }
    if (!img) return false;
    if (img->bits_per_pixel == 32 && img->byte_order == LSBFirst) {
      for (int32_t y = 0; y < r.height; ++y)
        std::memcpy(f.row(r.y + y) + r.x, img->data + size_t(y) * size_t(img->bytes_per_line), size_t(r.width) * 4);
    } else {
      for (int32_t y = 0; y < r.height; ++y)
        for (int32_t x = 0; x < r.width; ++x) f.row(r.y + y)[r.x + x] = uint32_t(XGetPixel(img, x, y)) & 0xFFFFFFu;
    }
    XDestroyImage(img);  // a shared image's header only; the segment stays
    return true;
  }

  // The last frame with only the damaged rectangles read again: far less for the X server to
  // copy than the whole screen when a few characters changed. The buffer comes from the pool
  // and is brought up to the last frame by copying what changed since it last served. Null
  // when a read failed.
  FramePtr read_damage(const Region& changed) {
    std::vector<Rect> rects = changed.rects();
    if (rects.size() > kMaxRectReads) rects = {changed.bounds()};
    FramePool::Lease lease = pool.acquire(last->size());
    Frame& f = *lease.frame;
    pool.stamp(&f, 0);  // being rewritten
    Region stale;
    bool patch = lease.held && lease.held < generation && !history.empty() && history.front().first <= lease.held + 1;
    if (patch) {
      for (const auto& [g, r] : history)
        if (g > lease.held) stale.add(r);
      patch = stale.area() * 2 < int64_t(f.width()) * f.height();
    }
    if (patch) {
      for (const Rect& r : stale.rects()) f.copy_from(*last, r);
    } else if (lease.held != generation) {
      std::memcpy(f.data(), last->data(), last->byte_size());
    }
    for (const Rect& r : rects)
      if (!read_rect(r, f)) return nullptr;
    remember(Region(changed), &f);
    return lease.frame;
  }

  // Records what the newest frame changed, for bringing pooled buffers up to date.
  void remember(Region changed, const Frame* f) {
    ++generation;
    history.emplace_back(generation, std::move(changed));
    while (history.size() > kHistory) history.pop_front();
    pool.stamp(f, generation);
  }

  FramePtr read_screen() {
    XImage* img = image;
    XImage* owned = nullptr;
    if (shm && img) {
      if (!XShmGetImage(dpy, root, img, 0, 0, AllPlanes)) return nullptr;
    } else {
      owned = XGetImage(dpy, root, 0, 0, unsigned(size.width), unsigned(size.height), AllPlanes, ZPixmap);
      if (!owned) return nullptr;
      img = owned;
    }
    FramePool::Lease lease = pool.acquire(size);
    auto f = lease.frame;
    pool.stamp(f.get(), 0);
    const size_t row = size_t(size.width) * 4;
    if (img->bits_per_pixel == 32 && img->byte_order == LSBFirst) {
      for (int y = 0; y < size.height; ++y)
        std::memcpy(f->row(y), img->data + size_t(y) * size_t(img->bytes_per_line), row);
    } else {
      for (int y = 0; y < size.height; ++y)
        for (int x = 0; x < size.width; ++x) f->row(y)[x] = uint32_t(XGetPixel(img, x, y)) & 0xFFFFFFu;
    }
    if (owned) XDestroyImage(owned);
    remember(Region(Rect{0, 0, size.width, size.height}), f.get());
    return f;
  }
};

X11Source::X11Source(const std::string& display) : impl_(std::make_unique<Impl>()) {
  try {
    impl_->open(display);
  } catch (...) {
    if (impl_->dpy) XCloseDisplay(impl_->dpy);
    impl_->dpy = nullptr;
    throw;
  }
  spdlog::info("x11: capturing '{}' at {}x{} ({})", impl_->name, impl_->size.width, impl_->size.height,
               impl_->shm ? "MIT-SHM" : "XGetImage");
}

X11Source::~X11Source() {
  if (!impl_->dpy) return;
  if (impl_->restore_autorepeat) XAutoRepeatOn(impl_->dpy);
  impl_->release_image();
  if (impl_->damage) XDamageDestroy(impl_->dpy, impl_->damage);
  if (impl_->parts) XFixesDestroyRegion(impl_->dpy, impl_->parts);
  XCloseDisplay(impl_->dpy);
}

std::string X11Source::description() const {
  return "X11 display " + impl_->name + " " + std::to_string(impl_->size.width) + "x" +
         std::to_string(impl_->size.height);
}

Size X11Source::size() const { return impl_->size; }

CapturedFrame X11Source::capture(uint64_t) {
  Impl& d = *impl_;
  d.drain_events();
  Rect all{0, 0, d.size.width, d.size.height};
  // Quiet: read nothing, except a full read now and then for changes XDamage does not report
  // (some direct-rendering paths).
  if (std::chrono::steady_clock::now() - d.last_full_read >= kFullReadPeriod) d.full = true;
  if (!d.full && d.pending.empty() && d.last) return {d.last, Region()};
  Region partial = d.pending;
  partial.intersect(Region(all));
  FramePtr f;
  // Most of the screen changed: one read of all of it is cheaper than many of parts.
  if (!d.full && d.last && d.last->size() == d.size && partial.area() * 2 < int64_t(all.area()))
    f = d.read_damage(partial);
  if (!f) f = d.read_screen();
  if (!f && !d.last) throw std::runtime_error("x11: cannot read the screen of '" + d.name + "'");
  if (!f) return {d.last, Region()};
  if (d.full) d.last_full_read = std::chrono::steady_clock::now();
  CapturedFrame out;
  out.frame = f;
  if (d.full || !d.last || d.last->size() != f->size()) {
    out.damage = Region(all);
  } else {
    out.damage = d.pending;
    out.damage.intersect(Region(all));
  }
  d.pending = Region();
  d.full = false;
  d.last = f;
  return out;
}

int X11Source::change_fd() const { return ConnectionNumber(impl_->dpy); }

bool X11Source::change_queued() {
  Impl& d = *impl_;
  // Events Xlib already read off the socket (while answering another request) leave the
  // descriptor quiet.
  return !d.pending.empty() || XEventsQueued(d.dpy, QueuedAlready) > 0;
}

std::optional<CursorState> X11Source::cursor(uint64_t) {
  Impl& d = *impl_;
  if (d.cursor_changed || !d.cursor_image) {
    if (XFixesCursorImage* ci = XFixesGetCursorImage(d.dpy)) {
      auto img = std::make_shared<CursorImage>();
      img->width = ci->width;
      img->height = ci->height;
      img->hot_x = ci->xhot;
      img->hot_y = ci->yhot;
      img->argb.resize(size_t(ci->width) * size_t(ci->height));
      for (size_t i = 0; i < img->argb.size(); ++i) {
        // XFixes gives premultiplied ARGB in longs; ours is straight.
        uint32_t p = uint32_t(ci->pixels[i]);
        uint32_t a = p >> 24;
        auto un = [&](uint32_t c) { return a ? std::min<uint32_t>(255, c * 255 / a) : 0; };
        img->argb[i] = a << 24 | un(p >> 16 & 0xFF) << 16 | un(p >> 8 & 0xFF) << 8 | un(p & 0xFF);
      }
      img->serial = ++d.cursor_serial;
      d.pointer_x = ci->x;
      d.pointer_y = ci->y;
      d.cursor_image = std::move(img);
      XFree(ci);
    }
    d.cursor_changed = false;
  } else if (d.pointer_moved || !d.xi_opcode) {
    Window r, c;
    int rx = 0, ry = 0, wx = 0, wy = 0;
    unsigned mask = 0;
    if (XQueryPointer(d.dpy, d.root, &r, &c, &rx, &ry, &wx, &wy, &mask)) {
      d.pointer_x = rx;
      d.pointer_y = ry;
    }
  }
  d.pointer_moved = false;
  if (!d.cursor_image) return std::nullopt;
  return CursorState{d.cursor_image, d.pointer_x, d.pointer_y, true};
}

void X11Source::handle_input(const InputEvent& e) {
  Impl& d = *impl_;
  switch (e.kind) {
    case InputEvent::Kind::KeyDown:
    case InputEvent::Kind::KeyUp:
      if (e.key == 0 || e.key > 247) return;  // X keycodes stop at 255
      XTestFakeKeyEvent(d.dpy, e.key + 8, e.kind == InputEvent::Kind::KeyDown, CurrentTime);
      break;
    case InputEvent::Kind::PointerMove:
      XTestFakeMotionEvent(d.dpy, d.screen, std::clamp(e.x, 0, d.size.width - 1), std::clamp(e.y, 0, d.size.height - 1),
                           CurrentTime);
      break;
    case InputEvent::Kind::PointerRelative:
      XTestFakeRelativeMotionEvent(d.dpy, e.x, e.y, CurrentTime);
      break;
    case InputEvent::Kind::ButtonDown:
    case InputEvent::Kind::ButtonUp:
      if (e.button == 0 || e.button > 9) return;
      XTestFakeButtonEvent(d.dpy, e.button, e.kind == InputEvent::Kind::ButtonDown, CurrentTime);
      break;
  }
  XFlush(d.dpy);
}

}  // namespace tessera
