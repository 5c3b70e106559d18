#!/usr/bin/python3
"""End-to-end test: the demo desktop's video window as SPICE video streams.

Usage:  /usr/bin/python3 spice_video_test.py /path/to/tessera

Serves the demo desktop (`tessera serve --source demo`) with one video codec
and encoder backend at a time and connects the stock spice-gtk client library
(through GObject introspection). While the demo's video plays, the client
takes snapshots of its primary surface. For each snapshot the test finds the
source frames it shows, rendered with `tessera snapshot`:

  - outside the live stream's rectangle everything travels losslessly, so the
    picture there must equal one source frame (tick k_lossless) exactly;
  - inside, the picture is lossy video: the video window's content must have
    a luma PSNR of at least 30 dB against the best-matching source frame
    (tick k_video, searched near k_lossless). RGB PSNR is printed too, but
    4:2:0 chroma caps it near 29.5 dB on this content (see video_case).

It also checks the server's log: the stream opened with the codec and the
backend asked for, and the connection's summary counts video frames and
client STREAM_REPORTs (which prove that the client decoded the stream).

Latency end to end: tick k is captured at T0 + k/fps (the server logs T0 in
CLOCK_MONOTONIC milliseconds, the clock of Python's time.monotonic()), so
snapshot time - capture time of the frame shown is the latency from capture
to the client's surface. The medians are printed for the video and for the
lossless part; they are only sanity-bounded here, never judged tightly: no
frame may be shown before its capture time, and video lags < 500 ms.

A start case waits for the demo's video to resume after its pause: the stream
must open within 3 frames of the video's first changed frame (by the server's
log), the stream closed during the pause, and the client shows it with the
picture around it exact.

A stop case serves with a small --repaint-budget: when the video pauses its
stream closes, the server logs the area's repaint in several updates within
that budget, and the client's whole picture is then exactly a source frame.

A drag case serves the bench's dragged text window (recorded as a trace)
with video on: every snapshot taken while it moves must equal a trace frame
exactly, no stream may open, and the server must have sent copy-bits.

A last case serves with --video-codec off: no stream may open and the picture
taken while the demo moves must equal one source frame everywhere.

Prints one line per check and ends with "N passed, M failed"; exits non-zero
if any check failed.

Needs: /usr/bin/python3 with python3-gi and gir1.2-spiceclientglib-2.0, and
GStreamer's decoders for spice-gtk (gstreamer1.0-libav, -plugins-good,
-plugins-bad). The gi client runs in a subprocess (this script with the
hidden first argument --gi-client) so that a hang inside GLib is bounded.
"""

import ctypes
import ctypes.util
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spice_clients_test as base  # noqa: E402  (helpers: Server, Results, PNG, ...)

WIDTH, HEIGHT = 640, 400
FPS = 30
PLAY_TICKS, PAUSE_TICKS = 8 * FPS, 2 * FPS   # demo video: plays 8 s, pauses 2 s
CYCLE_TICKS = PLAY_TICKS + PAUSE_TICKS
SNAP_WINDOW_S = (2.0, 7.5)   # snapshots only this far into a play period
SNAP_COUNT = 5
SNAP_GAP_MS = 300            # between snapshots
SNAP_QUIET_MS = 10           # no display-invalidate for this long before one
CLIENT_SETTLE_S = 1.0        # the first picture and the stream settle first
SNAP_DEADLINE_S = 14.0       # a whole play period plus a pause fits in here
CLIENT_TIMEOUT = 30.0        # bound on one client subprocess
# k_lossless is searched in (tick due at the snapshot's time) + this range. A
# picture cannot show a frame captured after the snapshot, so the upper end
# only lets the test name the tick shown when the server's clock is wrong.
LOSSLESS_SEARCH = (-15, 8)
VIDEO_SEARCH = (-6, 2)       # k_video searched in k_lossless + this range
MIN_EXACT = 3                # of SNAP_COUNT snapshots must match exactly (see below)
PSNR_MIN_DB = 30.0           # luma PSNR (see video_case)
VIDEO_LATENCY_MAX_MS = 500.0  # sanity bound only
CAUSALITY_SLACK_MS = 2.0     # T0 is truncated to whole ms
SPICE_SURFACE_FMT_32_xRGB = 32
U32 = 1 << 32


def demo_video_content(w, h):
    """The demo's video window content rectangle (capture/demo_source.cpp)."""
    vx, vy = int(w * 0.52), int(h * 0.14)
    vw, vh = int(w * 0.43), int(h * 0.46)
    title_bar = 20
    return (vx + 1, vy + title_bar, vw - 2, vh - title_bar - 1)


# ---------------------------------------------------------------------------
# gi client (runs in a subprocess)
# ---------------------------------------------------------------------------

def gi_client_main(argv):
    """--gi-client HOST PORT OUT_PREFIX PARAMS_JSON

    PARAMS_JSON: {"t0_ms": monotonic ms of tick 0 (unwrapped), "fps",
    "cycle_ticks", "window": [from_s, to_s] into the cycle, "count",
    "gap_ms", "quiet_ms", "settle_s", "deadline_s"}.

    Takes up to `count` snapshots of the primary surface while the cycle
    phase lies in `window`, each when no display-invalidate came for
    `quiet_ms`. Writes OUT_PREFIX.json and OUT_PREFIX-N.raw (stride*height
    bytes of surface each).
    """
    import gi
    gi.require_version("SpiceClientGLib", "2.0")
    from gi.repository import GLib

    host, port, prefix = argv[0], argv[1], argv[2]
    prm = json.loads(argv[3])

    result = {"events": [], "primary": None, "invalidates": 0,
              "snapshots": [], "timed_out": False, "error": None,
              "display_read_bytes": None}
    loop = GLib.MainLoop()
    st = {"last_inv": None, "first_inv": None, "display": None,
          "data_ptr": None}
    raws = []

    def on_invalidate(now):
        if st["first_inv"] is None:
            st["first_inv"] = now

    session = base.gi_session(host, port, result, st, loop, on_invalidate)

    t0 = prm["t0_ms"]
    fps = prm["fps"]

    def poll():
        now = time.monotonic()
        p = result["primary"]
        if p is None or not st["data_ptr"] or st["first_inv"] is None:
            return True
        if now - st["first_inv"] < prm["settle_s"]:
            return True
        if (now - st["last_inv"]) * 1000 < prm["quiet_ms"]:
            return True   # mid-update, perhaps
        snaps = result["snapshots"]
        if snaps and (now * 1000 - snaps[-1]["t_ms"]) < prm["gap_ms"]:
            return True
        tick = (now * 1000 - t0) * fps / 1000.0
        phase_s = (tick % prm["cycle_ticks"]) / fps
        if not prm["window"][0] <= phase_s <= prm["window"][1]:
            return True
        # Drawing (lossless draws and decoded video frames alike) happens in
        # this main loop, so the surface cannot change during the copy.
        raw = ctypes.string_at(st["data_ptr"], p["stride"] * p["height"])
        snaps.append({"t_ms": now * 1000,
                      "since_invalidate_ms": (now - st["last_inv"]) * 1000,
                      "invalidates": result["invalidates"]})
        raws.append(raw)
        if len(snaps) >= prm["count"]:
            loop.quit()
            return False
        return True

    def overall_timeout():
        result["timed_out"] = True
        loop.quit()
        return False

    GLib.timeout_add(2, poll)
    GLib.timeout_add(int(prm["deadline_s"] * 1000), overall_timeout)
    if not session.connect():
        result["error"] = "session.connect() returned FALSE"
    else:
        loop.run()
    if st["display"] is not None:
        try:
            result["display_read_bytes"] = int(
                st["display"].get_property("total-read-bytes"))
        except Exception:
            pass
    for i, raw in enumerate(raws):
        with open("%s-%d.raw" % (prefix, i), "wb") as f:
            f.write(raw)
    with open(prefix + ".json", "w") as f:
        json.dump(result, f)
    try:
        session.disconnect()
    except Exception:
        pass
    sys.stdout.flush()
    os._exit(0)


def run_gi_client(workdir, name, port, params):
    prefix = os.path.join(workdir, name)
    cmd = [sys.executable, os.path.abspath(__file__), "--gi-client",
           "127.0.0.1", str(port), prefix, json.dumps(params)]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=CLIENT_TIMEOUT)
        out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return None, [], "gi client timed out after %ss\n%s" % (
            CLIENT_TIMEOUT, base.tail(out))
    try:
        with open(prefix + ".json") as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None, [], "gi client rc=%s wrote no result\n%s" % (
            rc, base.tail(out))
    raws = []
    for i in range(len(res["snapshots"])):
        with open("%s-%d.raw" % (prefix, i), "rb") as f:
            raws.append(f.read())
    return res, raws, out


# ---------------------------------------------------------------------------
# Source frames: `tessera snapshot`, decoded with libpng when it can be loaded
# ---------------------------------------------------------------------------

class _PngImage(ctypes.Structure):
    # png_image of libpng's simplified API (png.h, PNG_IMAGE_VERSION 1).
    _fields_ = [("opaque", ctypes.c_void_p), ("version", ctypes.c_uint32),
                ("width", ctypes.c_uint32), ("height", ctypes.c_uint32),
                ("format", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("colormap_entries", ctypes.c_uint32),
                ("warning_or_error", ctypes.c_uint32),
                ("message", ctypes.c_char * 64)]


_libpng = None


def _load_libpng():
    global _libpng
    if _libpng is None:
        _libpng = False
        for name in (ctypes.util.find_library("png16"), "libpng16.so.16"):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
                lib.png_image_begin_read_from_file.argtypes = [
                    ctypes.POINTER(_PngImage), ctypes.c_char_p]
                lib.png_image_finish_read.argtypes = [
                    ctypes.POINTER(_PngImage), ctypes.c_void_p,
                    ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p]
                lib.png_image_free.argtypes = [ctypes.POINTER(_PngImage)]
                _libpng = lib
                break
            except (OSError, AttributeError):
                continue
    return _libpng


def read_png_rows(path):
    """(w, h, rows of 3*w RGB bytes). libpng in C if present: the pure
    Python reader takes about a second per 640x400 frame."""
    lib = _load_libpng()
    if not lib:
        return base.read_any_png_rgb(path)
    img = _PngImage()
    img.version = 1                      # PNG_IMAGE_VERSION
    if not lib.png_image_begin_read_from_file(ctypes.byref(img),
                                              path.encode()):
        raise ValueError("libpng: %s: %s" % (path, img.message.decode()))
    img.format = 2                       # PNG_FORMAT_RGB
    w, h = img.width, img.height
    buf = ctypes.create_string_buffer(3 * w * h)
    if not lib.png_image_finish_read(ctypes.byref(img), None, buf, 3 * w,
                                     None):
        msg = img.message.decode()
        lib.png_image_free(ctypes.byref(img))
        raise ValueError("libpng: %s: %s" % (path, msg))
    data = buf.raw
    return w, h, [data[y * 3 * w:(y + 1) * 3 * w] for y in range(h)]


class SourceFrames:
    """Demo frames by tick, rendered with `tessera snapshot` and cached."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.dir = os.path.join(workdir, "frames")
        os.makedirs(self.dir, exist_ok=True)
        self.rows = {}

    def _path(self, k):
        return os.path.join(self.dir, "demo-%06d.png" % k)

    def prefetch(self, ticks, jobs=2):
        pending = sorted(k for k in set(ticks)
                         if k >= 0 and k not in self.rows and
                         not os.path.exists(self._path(k)))
        running = []
        while pending or running:
            while pending and len(running) < jobs:
                k = pending.pop(0)
                running.append((k, subprocess.Popen(
                    [self.binary, "snapshot", "--source", "demo", "--size",
                     "%dx%d" % (WIDTH, HEIGHT), "--fps", str(FPS),
                     "--frame", str(k), "--out", self._path(k)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
            k, p = running.pop(0)
            _, err = p.communicate(timeout=30)
            if p.returncode != 0:
                raise RuntimeError("tessera snapshot --frame %d failed: %s"
                                   % (k, err.decode("utf-8", "replace")))

    def get(self, k):
        if k not in self.rows:
            self.prefetch([k])
            w, h, rows = read_png_rows(self._path(k))
            if (w, h) != (WIDTH, HEIGHT):
                raise RuntimeError("snapshot of tick %d is %dx%d" % (k, w, h))
            self.rows[k] = rows
        return self.rows[k]


# ---------------------------------------------------------------------------
# Picture comparison
# ---------------------------------------------------------------------------

def exact_outside(src, got, rects):
    """True if got == src at every pixel outside all `rects` (x, y, w, h)."""
    for y in range(HEIGHT):
        a, b = src[y], got[y]
        if a == b:
            continue
        spans = sorted((r[0], r[0] + r[2]) for r in rects
                       if r[1] <= y < r[1] + r[3])
        x = 0
        for x0, x1 in spans:
            if a[3 * x:3 * max(x, x0)] != b[3 * x:3 * max(x, x0)]:
                return False
            x = max(x, x1)
        if a[3 * x:] != b[3 * x:]:
            return False
    return True


def diff_outside(src, got, rects, limit=5):
    """(count, bounding box, first few pixels) of differences outside rects."""
    count, bbox, first = 0, None, []
    for y in range(HEIGHT):
        a, b = src[y], got[y]
        if a == b:
            continue
        for x in range(WIDTH):
            if any(r[0] <= x < r[0] + r[2] and r[1] <= y < r[1] + r[3]
                   for r in rects):
                continue
            pa, pb = a[3 * x:3 * x + 3], b[3 * x:3 * x + 3]
            if pa != pb:
                count += 1
                bbox = ((x, y, x, y) if bbox is None else
                        (min(bbox[0], x), min(bbox[1], y),
                         max(bbox[2], x), max(bbox[3], y)))
                if len(first) < limit:
                    first.append("(%d,%d) rgb%s != rgb%s" % (
                        x, y, tuple(pb), tuple(pa)))
    return count, bbox, first


_SQ = [(d - 255) ** 2 for d in range(511)]


def psnr_rgb(src, got, rect):
    """PSNR over R, G and B of `rect` (x, y, w, h)."""
    x, y, w, h = rect
    sq = _SQ
    total = 0
    for yy in range(y, y + h):
        a = src[yy][3 * x:3 * (x + w)]
        b = got[yy][3 * x:3 * (x + w)]
        if a != b:
            total += sum(sq[p - q + 255] for p, q in zip(a, b))
    if total == 0:
        return float("inf")
    return 10.0 * math.log10(255.0 ** 2 * 3 * w * h / total)


def luma(rows, rect):
    """BT.601 luma of `rect`, 256 x (0.299 R + 0.587 G + 0.114 B), row-major."""
    x, y, w, h = rect
    out = []
    for yy in range(y, y + h):
        seg = rows[yy][3 * x:3 * (x + w)]
        out.extend(map(lambda r, g, b: 77 * r + 150 * g + 29 * b,
                       seg[0::3], seg[1::3], seg[2::3]))
    return out


def psnr_luma(a, b):
    total = sum((p - q) * (p - q) for p, q in zip(a, b))
    if total == 0:
        return float("inf")
    return 10.0 * math.log10((255.0 * 256) ** 2 * len(a) / total)


def intersect(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        return None
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


# ---------------------------------------------------------------------------
# Server log
# ---------------------------------------------------------------------------

LOG_TIME_RE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]")
OPENED_RE = re.compile(r"stream (\d+) opened: (\S+) through (\S+) at "
                       r"(\d+),(\d+) (\d+)x(\d+)")
CLOSED_RE = re.compile(r"stream (\d+) closed after")
T0_RE = re.compile(r"capture: tick 0 at monotonic (\d+) ms")
SUMMARY_RE = re.compile(
    r"sent (\d+) updates: .*?(\d+) video streams, (\d+) frames \((\d+) "
    r"keyframes; (\d+) held back by --video-fps-max, \d+ dropped by "
    r"encoders\), (\d+) bytes; (?:client wait before "
    r"display \(report margin\) p50 (-?\d+) ms, min (-?\d+) ms, max (-?\d+) "
    r"ms over (\d+) reports|no client reports); (\d+) late frames")


def wall_to_monotonic_ms(stamp, offset_s):
    """spdlog's local wall-clock stamp -> time.monotonic() milliseconds."""
    dt = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
    return (time.mktime(dt.timetuple()) + dt.microsecond / 1e6 -
            offset_s) * 1000.0


def stream_events(log, offset_s):
    """[(t_ms, 'open'|'close', id, codec, element, rect)] from the log."""
    events = []
    for line in log.splitlines():
        m = LOG_TIME_RE.match(line)
        if not m:
            continue
        t = wall_to_monotonic_ms(m.group(1), offset_s)
        o = OPENED_RE.search(line)
        if o:
            events.append((t, "open", int(o.group(1)), o.group(2), o.group(3),
                           tuple(int(o.group(i)) for i in range(4, 8))))
            continue
        c = CLOSED_RE.search(line)
        if c:
            events.append((t, "close", int(c.group(1)), None, None, None))
    return events


def live_streams(events, t_ms):
    """Rects of the streams live at t_ms. The log stamps have 1 ms steps, and
    the last 'opened' before the snapshot wins for a stream id."""
    live = {}
    for t, kind, sid, _, _, rect in events:
        if t > t_ms:
            break
        if kind == "open":
            live[sid] = rect
        else:
            live.pop(sid, None)
    return list(live.values())


def wait_for(s, regex, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        m = regex.search(s.log())
        if m or time.monotonic() > deadline:
            return m
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# One case
# ---------------------------------------------------------------------------

def unwrap_t0(t0_u32):
    now_ms = int(time.monotonic() * 1000)
    return now_ms - ((now_ms - t0_u32) % U32)


def snapshot_params(t0_ms, count=SNAP_COUNT):
    return {"t0_ms": t0_ms, "fps": FPS, "cycle_ticks": CYCLE_TICKS,
            "window": list(SNAP_WINDOW_S), "count": count,
            "gap_ms": SNAP_GAP_MS, "quiet_ms": SNAP_QUIET_MS,
            "settle_s": CLIENT_SETTLE_S, "deadline_s": SNAP_DEADLINE_S}


def check_client_result(R, label, res, raws, out, count=SNAP_COUNT):
    if res is None:
        R.check(label + ": gi client took snapshots", False, out)
        return False
    p = res["primary"]
    ok = (p is not None and len(raws) == count and
          (p["width"], p["height"]) == (WIDTH, HEIGHT) and
          p["format"] == SPICE_SURFACE_FMT_32_xRGB and
          all(len(r) >= p["stride"] * HEIGHT for r in raws))
    return R.check(
        label + ": gi client took %d snapshots of a %dx%d xRGB surface"
        % (count, WIDTH, HEIGHT), ok,
        "%d invalidates, %s display bytes" % (res["invalidates"],
                                              res["display_read_bytes"])
        if ok else
        "primary=%s snapshots=%d invalidates=%d timed_out=%s error=%s "
        "events=%s\n%s" % (p, len(raws), res["invalidates"], res["timed_out"],
                           res["error"], res["events"], base.tail(out)))


def start_demo(R, binary, workdir, servers, label, video_args, source="demo"):
    """Serves the demo desktop (or `source`, a trace:DIR of the same size);
    returns (server, t0_ms) or None (checked)."""
    size = ["--size", "%dx%d" % (WIDTH, HEIGHT)] if source == "demo" else []
    s = base.start_server(R, label, binary, workdir, source,
                          ["--disable-ticketing", "--fps", str(FPS)] + size +
                          video_args, servers)
    if not s:
        return None
    m = wait_for(s, T0_RE)
    if not R.check(label + ": server logs the time of tick 0", m is not None,
                   "" if m else base.tail(s.log())):
        base.stop_server(R, label, s)
        return None
    return s, unwrap_t0(int(m.group(1)))


def video_case(R, binary, workdir, frames, servers, label, codec, backend,
               figures):
    started = start_demo(R, binary, workdir, servers, label,
                         ["--video-codec", codec, "--encoder-backend", backend])
    if not started:
        return
    s, t0_ms = started
    offset_s = time.time() - time.monotonic()
    res, raws, out = run_gi_client(workdir, "gi-" + label, s.port,
                                   snapshot_params(t0_ms))
    client_ok = check_client_result(R, label, res, raws, out)
    summary = wait_for(s, SUMMARY_RE)
    log = s.log()
    base.stop_server(R, label, s)

    # The log: stream opened with the codec and backend asked for; the
    # client decoded it (STREAM_REPORTs come back).
    events = stream_events(log, offset_s)
    opened = [e for e in events if e[1] == "open"]
    want = [e for e in opened
            if e[3] == codec and e[4].startswith(backend + ":")]
    R.check(label + ": a %s stream opens through %s" % (codec, backend),
            bool(opened) and len(want) == len(opened),
            "; ".join("stream %d: %s through %s at %d,%d %dx%d" %
                      ((e[2], e[3], e[4]) + e[5]) for e in opened)
            if opened else "no 'stream N opened' line\n" + base.tail(log))
    if summary:
        frames_sent, reports = int(summary.group(3)), summary.group(10)
        R.check(label + ": video frames sent and the client reports on them",
                frames_sent > 0 and reports is not None and int(reports) > 0,
                summary.group(0))
    else:
        R.check(label + ": video summary when the client leaves", False,
                "no 'sent N updates: ... video streams' line\n" +
                base.tail(log))
    if not client_ok or not opened:
        return

    content = demo_video_content(WIDTH, HEIGHT)
    stride = res["primary"]["stride"]
    pics = [base.bgrx_to_rows(raw, WIDTH, HEIGHT, stride) for raw in raws]
    snaps = res["snapshots"]
    # The tick due when each snapshot was taken, by the server's word.
    due = [int((sn["t_ms"] - t0_ms) * FPS / 1000.0) for sn in snaps]

    def search(e):
        return range(max(0, e + LOSSLESS_SEARCH[0]), e + LOSSLESS_SEARCH[1] + 1)

    def capture_ms(k):
        return t0_ms + k * 1000.0 / FPS

    frames.prefetch(k for e in due for k in search(e))
    luma_cache = {}

    def source_luma(k, area):
        if (k, area) not in luma_cache:
            luma_cache[(k, area)] = luma(frames.get(k), area)
        return luma_cache[(k, area)]

    rows = []   # per snapshot
    for i, (sn, got, e) in enumerate(zip(snaps, pics, due)):
        t = sn["t_ms"]
        rects = live_streams(events, t)
        r = {"i": i, "due": e, "rects": rects, "matches": [], "k_video": None}
        rows.append(r)
        if not rects:
            continue
        r["matches"] = [k for k in search(e)
                        if exact_outside(frames.get(k), got, rects)]
        if not r["matches"]:
            continue
        # Judged as video: the video window's content inside the stream
        # that covers most of it (the rest of a stream rect is window frame
        # and wallpaper).
        area = max((intersect(content, rc) for rc in rects),
                   key=lambda a: a[2] * a[3] if a else 0)
        if area is None:
            continue
        got_luma = luma(got, area)
        best = None
        for k in range(max(0, min(r["matches"]) + VIDEO_SEARCH[0]),
                       max(r["matches"]) + VIDEO_SEARCH[1] + 1):
            v = psnr_luma(source_luma(k, area), got_luma)
            if best is None or v > best[1]:
                best = (k, v)
        r["area"] = area
        r["k_video"], r["psnr"] = best
        r["psnr_rgb"] = psnr_rgb(frames.get(best[0]), got, area)
        r["lat_video"] = t - capture_ms(best[0])
        # The picture outside the stream equals ticks min..max(matches): the
        # oldest of them bounds how early it may be shown, and the latency
        # figure is only taken where a single tick matches.
        r["lat_oldest_match"] = t - capture_ms(min(r["matches"]))
        r["lat_lossless"] = (t - capture_ms(r["matches"][0])
                             if len(r["matches"]) == 1 else None)

    def db(v):
        return "inf" if v == float("inf") else "%.1f" % v

    for r in rows:
        head = "      snapshot %d (tick %d due):" % (r["i"], r["due"])
        if not r["rects"]:
            print(head, "no stream live at that time")
        elif not r["matches"]:
            print(head, "no source frame in ticks %d..%d equals it outside "
                  "the stream %s" % (search(r["due"])[0], search(r["due"])[-1],
                                     r["rects"]))
        elif r["k_video"] is None:
            print(head, "k_lossless %s; the stream %s misses the video "
                  "window" % (r["matches"], r["rects"]))
        else:
            m = r["matches"]
            print(head, "k_lossless %s, k_video %d, PSNR %s dB (luma; RGB "
                  "%s dB), latency video %.0f ms, lossless %s" % (
                      m[0] if len(m) == 1 else "%d..%d (equal outside the "
                      "stream)" % (m[0], m[-1]), r["k_video"], db(r["psnr"]),
                      db(r["psnr_rgb"]), r["lat_video"],
                      "%.0f ms" % r["lat_lossless"]
                      if r["lat_lossless"] is not None else "-"))

    live = [r for r in rows if r["rects"]]
    R.check(label + ": a stream is live at every snapshot",
            len(live) == len(rows), "%d of %d" % (len(live), len(rows)))

    # A snapshot can catch the client between two draws of one update (the
    # server sends an update as several messages and the client's main loop
    # may run our timeout between them); then no single source frame matches.
    # So at least MIN_EXACT of SNAP_COUNT snapshots must equal a source frame
    # exactly outside the stream, and every one that does must show the video
    # at >= PSNR_MIN_DB.
    matched = [r for r in rows if r["matches"]]
    detail = "%d of %d snapshots equal a source frame outside the stream" % (
        len(matched), len(rows))
    if len(matched) < MIN_EXACT:
        for r in rows:
            if r["rects"] and not r["matches"]:
                best = None   # where does the closest candidate differ?
                for k in search(r["due"]):
                    c, bbox, first = diff_outside(frames.get(k),
                                                  pics[r["i"]], r["rects"])
                    if best is None or c < best[1]:
                        best = (k, c, bbox, first)
                detail += ("\n      snapshot %d: closest tick %d differs at "
                           "%d pixels outside the stream %s, within %s: %s" %
                           ((r["i"],) + best[:2] + (r["rects"], best[2],
                                                    "; ".join(best[3]))))
    R.check(label + ": the picture outside the stream is exact",
            len(matched) >= MIN_EXACT, detail)

    # PSNR is luma PSNR (BT.601 weights), the codecs' usual measure. Over R,
    # G and B it cannot reach 30 dB on this plasma through any 4:2:0 stream:
    # its colours change faster than 2x2 chroma can follow, and a perfect
    # BT.601 I420 picture of the video content, turned into BGRx by
    # GStreamer's videoconvert (spice-gtk decodes through playbin into a BGRx
    # appsink), is 29.5 dB from the source. RGB PSNR gets a floor of 27 dB
    # instead, against gross colour errors (a wrong range or channel order).
    scored = [r for r in matched if r["k_video"] is not None]
    R.check(label + ": video window RGB PSNR >= 27 dB (colour matrix and "
            "range right)",
            bool(scored) and all(r["psnr_rgb"] >= 27.0 for r in scored),
            ", ".join(db(r["psnr_rgb"]) for r in scored))
    R.check(label + ": video window PSNR >= %.0f dB in every matched "
            "snapshot" % PSNR_MIN_DB,
            bool(scored) and len(scored) == len(matched) and
            all(r["psnr"] >= PSNR_MIN_DB for r in scored),
            ("luma PSNR %s dB (RGB %s dB) over %s" % (
                ", ".join(db(r["psnr"]) for r in scored),
                ", ".join(db(r["psnr_rgb"]) for r in scored),
                scored[0]["area"])) if scored else "no PSNR measured")

    # Latency: only sanity bounds. No picture may show a frame before its
    # capture time (tick k is captured at T0 + k/fps, says the server), and
    # video must not lag absurdly.
    early = ["snapshot %d shows tick %d %.0f ms before it is due" % (
        r["i"], k, -lat) for r in scored
        for k, lat in ((min(r["matches"]), r["lat_oldest_match"]),
                       (r["k_video"], r["lat_video"]))
        if lat < -CAUSALITY_SLACK_MS]
    if scored:
        R.check(label + ": no frame is shown before T0 + tick/fps",
                not early, "; ".join(early) + " (the server's ticks count "
                "from before the T0 it logs)" if early else
                "lossless latency %s ms, video %s ms" % (
                    ", ".join("%.0f" % r["lat_oldest_match"] for r in scored),
                    ", ".join("%.0f" % r["lat_video"] for r in scored)))
        lat_v = [r["lat_video"] for r in scored]
        R.check(label + ": video latency < %.0f ms" % VIDEO_LATENCY_MAX_MS,
                max(lat_v) < VIDEO_LATENCY_MAX_MS,
                ", ".join("%.0f" % v for v in lat_v) + " ms")
    figures.append({
        "label": label, "exact": "%d/%d" % (len(matched), len(rows)),
        "psnr_median": median([r["psnr"] for r in scored]),
        "psnr_min": min([r["psnr"] for r in scored]) if scored else None,
        "psnr_rgb_median": median([r["psnr_rgb"] for r in scored]),
        "lat_video_median": median([r["lat_video"] for r in scored]),
        "lat_lossless_median": median([r["lat_lossless"] for r in matched
                                       if r.get("lat_lossless") is not None]),
        "summary": summary.group(0) if summary else None})


def off_case(R, binary, workdir, frames, servers, figures):
    """--video-codec off: no stream; the moving picture is exact everywhere."""
    label = "off"
    started = start_demo(R, binary, workdir, servers, label,
                         ["--video-codec", "off"])
    if not started:
        return
    s, t0_ms = started
    prm = snapshot_params(t0_ms, count=3)
    prm["settle_s"] = 0.5
    res, raws, out = run_gi_client(workdir, "gi-" + label, s.port, prm)
    wait_for(s, SUMMARY_RE)
    log = s.log()
    base.stop_server(R, label, s)
    R.check(label + ": no stream opens", OPENED_RE.search(log) is None,
            "" if OPENED_RE.search(log) is None else
            OPENED_RE.search(log).group(0))
    if res is None or not raws or res["primary"] is None:
        R.check(label + ": gi client took snapshots", False,
                out if res is None else "primary=%s events=%s" % (
                    res["primary"], res["events"]))
        return
    stride = res["primary"]["stride"]
    found = []   # (tick due, ticks equal to the whole picture, snapshot ms)
    for sn, raw in zip(res["snapshots"], raws):
        got = base.bgrx_to_rows(raw, WIDTH, HEIGHT, stride)
        e = int((sn["t_ms"] - t0_ms) * FPS / 1000.0)
        ks = range(max(0, e + LOSSLESS_SEARCH[0]), e + LOSSLESS_SEARCH[1] + 1)
        frames.prefetch(ks)
        found.append((e, [k for k in ks if frames.get(k) == got], sn["t_ms"]))
    good = [f for f in found if f[1]]
    # Same rule as with video: a snapshot may fall between two draws.
    R.check(label + ": the whole picture equals a source frame while the "
            "video plays", len(good) >= 2,
            "%d of %d snapshots exact; ticks %s" % (
                len(good), len(found),
                ", ".join("%s (%d due)" % (f[1] or "none", f[0])
                          for f in found)))
    lat = [(f[2] - (t0_ms + min(f[1]) * 1000.0 / FPS)) for f in good]
    if lat:
        R.check(label + ": no frame is shown before T0 + tick/fps",
                min(lat) >= -CAUSALITY_SLACK_MS,
                "latency %s ms" % ", ".join("%.0f" % v for v in lat))
    figures.append({"label": label, "exact": "%d/%d" % (len(good), len(found)),
                    "psnr_median": None, "psnr_min": None,
                    "psnr_rgb_median": None, "lat_video_median": None,
                    "lat_lossless_median": median(
                        [f[2] - (t0_ms + f[1][0] * 1000.0 / FPS)
                         for f in good if len(f[1]) == 1]),
                                "summary": None})


START_WINDOW_S = (0.15, 1.0)   # snapshots this far into a play period
START_FRAMES_MAX = 3            # the stream opens within this many frames


def start_case(R, binary, workdir, frames, servers, figures):
    """The demo's video resumes after its pause (a video that starts): the
    stream opens within START_FRAMES_MAX frames of the first changed frame
    (by the server's log), and the client shows it, with the picture around
    it exact, from 150 ms after the change on."""
    label = "start"
    started = start_demo(R, binary, workdir, servers, label,
                         ["--video-codec", "h264", "--encoder-backend",
                          "ffmpeg"])
    if not started:
        return
    s, t0_ms = started
    offset_s = time.time() - time.monotonic()
    prm = snapshot_params(t0_ms, count=3)
    prm["window"] = list(START_WINDOW_S)
    # Past the settle time the first play period's window is over: the
    # snapshots wait for the video to resume after its pause.
    prm["settle_s"] = START_WINDOW_S[1] + 0.5
    res, raws, out = run_gi_client(workdir, "gi-" + label, s.port, prm)
    client_ok = check_client_result(R, label, res, raws, out, count=3)
    log = s.log()
    base.stop_server(R, label, s)
    if not client_ok:
        return
    snaps = res["snapshots"]
    k_start = int((snaps[0]["t_ms"] - t0_ms) * FPS / 1000.0)
    k_start -= k_start % CYCLE_TICKS   # the tick the video resumed at
    change_ms = t0_ms + k_start * 1000.0 / FPS
    events = stream_events(log, offset_s)
    closed = [e for e in events if e[1] == "close" and
              change_ms - PAUSE_TICKS * 1000.0 / FPS < e[0] < change_ms]
    opened = [e for e in events if e[1] == "open" and e[0] >= change_ms - 5]
    R.check(label + ": the stream closed while the video was paused",
            k_start > 0 and bool(closed),
            "resume at tick %d; events %s" % (k_start, events))
    limit = START_FRAMES_MAX * 1000.0 / FPS
    delay = opened[0][0] - change_ms if opened else None
    R.check(label + ": the stream opens within %d frames of the video's "
            "first changed frame" % START_FRAMES_MAX,
            delay is not None and delay <= limit + CAUSALITY_SLACK_MS,
            "opened %.0f ms after tick %d was captured (limit %.0f ms)" % (
                delay, k_start, limit) if delay is not None else
            "no stream opened after tick %d: %s" % (k_start, events))
    stride = res["primary"]["stride"]
    exact = 0
    detail = []
    for sn, raw in zip(snaps, raws):
        got = base.bgrx_to_rows(raw, WIDTH, HEIGHT, stride)
        rects = live_streams(events, sn["t_ms"])
        e = int((sn["t_ms"] - t0_ms) * FPS / 1000.0)
        ks = list(range(max(0, e + LOSSLESS_SEARCH[0]),
                        e + LOSSLESS_SEARCH[1] + 1))
        frames.prefetch(ks)
        match = [k for k in ks if rects and exact_outside(frames.get(k), got,
                                                            rects)]
        exact += bool(match)
        detail.append("%.0f ms after the change: streams %s, exact outside "
                      "at ticks %s" % (sn["t_ms"] - change_ms, rects,
                                       match or "none"))
    R.check(label + ": the client shows the stream, the picture around it "
            "exact", exact >= 2, "; ".join(detail))
    figures.append({"label": label, "exact": "%d/%d" % (exact, len(snaps)),
                    "psnr_median": None, "psnr_min": None,
                    "psnr_rgb_median": None, "lat_video_median": None,
                    "lat_lossless_median": None,
                    "summary": "stream opened %s ms after the video's first "
                    "changed frame was captured" % (
                        "%.0f" % delay if delay is not None else "-")})


STOP_BUDGET_KB = 16   # small enough that the repaint takes several updates
STOP_WINDOW_S = (PLAY_TICKS / FPS + 1.0, PLAY_TICKS / FPS + 1.9)  # in a pause
REPAINT_RE = re.compile(r"repainted what ended streams left in (\d+) "
                        r"updates, (\d+) bytes \(budget (\d+) bytes")


def stop_case(R, binary, workdir, frames, servers, figures):
    """The demo's video pauses (a video that stops): the stream closes, the
    area it leaves is repainted in parts within --repaint-budget (by the
    server's log), and once the parts are in, the client's whole picture is
    exactly the paused source frame."""
    label = "stop"
    started = start_demo(R, binary, workdir, servers, label,
                         ["--video-codec", "h264", "--encoder-backend",
                          "ffmpeg", "--repaint-budget", str(STOP_BUDGET_KB)])
    if not started:
        return
    s, t0_ms = started
    offset_s = time.time() - time.monotonic()
    prm = snapshot_params(t0_ms, count=2)
    prm["window"] = list(STOP_WINDOW_S)
    res, raws, out = run_gi_client(workdir, "gi-" + label, s.port, prm)
    client_ok = check_client_result(R, label, res, raws, out, count=2)
    log = s.log()
    base.stop_server(R, label, s)
    if not client_ok:
        return
    snaps = res["snapshots"]
    events = stream_events(log, offset_s)
    closed = [e for e in events if e[1] == "close" and e[0] < snaps[0]["t_ms"]]
    repaints = [(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                for m in REPAINT_RE.finditer(log)]
    R.check(label + ": the stream closed when the video paused, and its area "
            "was repainted in several updates within the budget",
            bool(closed) and bool(repaints) and repaints[0][0] >= 2 and
            repaints[0][2] == STOP_BUDGET_KB * 1024,
            "closed %s; repaints (updates, bytes, budget) %s" % (
                closed, repaints))
    stride = res["primary"]["stride"]
    exact = 0
    detail = []
    for sn, raw in zip(snaps, raws):
        got = base.bgrx_to_rows(raw, WIDTH, HEIGHT, stride)
        e = int((sn["t_ms"] - t0_ms) * FPS / 1000.0)
        ks = list(range(max(0, e + LOSSLESS_SEARCH[0]),
                        e + LOSSLESS_SEARCH[1] + 1))
        frames.prefetch(ks)
        match = [k for k in ks if exact_outside(frames.get(k), got, [])]
        exact += bool(match)
        detail.append("%.1f s into the cycle: streams %s, exact at ticks %s"
                      % (((sn["t_ms"] - t0_ms) / 1000.0) %
                         (CYCLE_TICKS / FPS), live_streams(events, sn["t_ms"]),
                         match or "none"))
    R.check(label + ": after the repaint the whole picture is exact",
            exact == len(snaps), "; ".join(detail))
    figures.append({"label": label, "exact": "%d/%d" % (exact, len(snaps)),
                    "psnr_median": None, "psnr_min": None,
                    "psnr_rgb_median": None, "lat_video_median": None,
                    "lat_lossless_median": None,
                    "summary": "repaint of the stream's area in %s updates, "
                    "%s bytes" % ((repaints[0][0], repaints[0][1]) if repaints
                                  else ("-", "-"))})


DRAG_FRAMES = 150              # the bench's drag: 2 s dragged, 1 s still, 2 s dragged
DRAG_WINDOW_S = (3.1, 4.9)     # snapshots while it is dragged the second time
DRAG_SNAPS = 6
COPY_BITS_RE = re.compile(r"display.*sent \d+ updates:.*?(\d+) copy-bits")


def drag_case(R, binary, workdir, servers, figures):
    """A text window dragged across the desktop (the bench's drag workload,
    recorded as a trace and served with video on): spice-gtk shows exactly
    a source frame in every snapshot taken while it moves, no stream opens
    (the drag is no video), and the server sent it as copy-bits."""
    label = "drag"
    trace = os.path.join(workdir, "drag-trace")
    rec = subprocess.run([binary, "record", "--source", "drag", "--size",
                          "%dx%d" % (WIDTH, HEIGHT), "--fps", str(FPS),
                          "--frames", str(DRAG_FRAMES), "--out", trace],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=120)
    if not R.check(label + ": the drag workload is recorded as a trace",
                   rec.returncode == 0,
                   rec.stdout.decode("utf-8", "replace")[-2000:]):
        return
    started = start_demo(R, binary, workdir, servers, label,
                         ["--video-codec", "h264", "--encoder-backend",
                          "ffmpeg"], source="trace:" + trace)
    if not started:
        return
    s, t0_ms = started
    prm = snapshot_params(t0_ms, count=DRAG_SNAPS)
    prm["cycle_ticks"] = 10 ** 9   # one pass: the trace then holds its last frame
    prm["window"] = list(DRAG_WINDOW_S)
    prm["settle_s"] = 0.5
    prm["gap_ms"] = 250
    res, raws, out = run_gi_client(workdir, "gi-" + label, s.port, prm)
    client_ok = check_client_result(R, label, res, raws, out,
                                    count=DRAG_SNAPS)
    base.stop_server(R, label, s)
    log = s.log()
    if not client_ok:
        return
    R.check(label + ": no stream opens for a dragged window",
            OPENED_RE.search(log) is None,
            "" if OPENED_RE.search(log) is None else
            OPENED_RE.search(log).group(0))
    copies = [int(c) for c in COPY_BITS_RE.findall(log)]
    # The window moves in each of the 60 frames of the second drag at least.
    R.check(label + ": the drag went as copy-bits", bool(copies) and
            max(copies) >= 60, "copy-bits per display channel: %s" % copies)
    frames = {}

    def trace_frame(k):
        if k not in frames:
            w, h, rows = read_png_rows(os.path.join(
                trace, "frame-%06d.png" % k))
            frames[k] = rows
        return frames[k]

    stride = res["primary"]["stride"]
    exact = 0
    detail = []
    for sn, raw in zip(res["snapshots"], raws):
        got = base.bgrx_to_rows(raw, WIDTH, HEIGHT, stride)
        e = int((sn["t_ms"] - t0_ms) * FPS / 1000.0)
        ks = [k for k in range(e + LOSSLESS_SEARCH[0], e + LOSSLESS_SEARCH[1] + 1)
              if 0 <= k < DRAG_FRAMES]
        match = [k for k in ks if exact_outside(trace_frame(k), got, [])]
        exact += bool(match)
        detail.append("tick %d: exact at %s" % (e, match or "none"))
    R.check(label + ": every snapshot of the dragged window is exact",
            exact == len(raws), "; ".join(detail))
    figures.append({"label": label, "exact": "%d/%d" % (exact, len(raws)),
                    "psnr_median": None, "psnr_min": None,
                    "psnr_rgb_median": None, "lat_video_median": None,
                    "lat_lossless_median": None,
                    "summary": "%s copy-bits" % (max(copies) if copies
                                                 else "no")})


CASES = [
    ("h264-ffmpeg", "h264", "ffmpeg"),
    ("vp9-gstreamer", "vp9", "gstreamer"),
    ("h264-gstreamer", "h264", "gstreamer"),
]


def main(argv):
    if len(argv) >= 2 and argv[1] == "--gi-client":
        gi_client_main(argv[2:])
        return 0
    binary = base.binary_from_argv(argv)
    if binary is None:
        return 2

    R = base.Results()
    t_start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="tessera-e2e-video-")
    servers = []
    figures = []
    try:
        frames = SourceFrames(binary, workdir)
        for label, codec, backend in CASES:
            video_case(R, binary, workdir, frames, servers, label, codec,
                       backend, figures)
        start_case(R, binary, workdir, frames, servers, figures)
        stop_case(R, binary, workdir, frames, servers, figures)
        drag_case(R, binary, workdir, servers, figures)
        off_case(R, binary, workdir, frames, servers, figures)
    except Exception as e:  # a bug in this script is a failure too
        base.script_error(R, e)
    finally:
        base.kill_servers(servers)
        base.keep_if_failed(R, workdir)

    def fig(v, fmt):
        return fmt % v if v is not None else "-"

    print("figures (medians over the snapshots that matched exactly; latency "
          "= snapshot time - (T0 + tick/fps) of the frame shown):")
    for f in figures:
        print("  %-15s exact %s  PSNR luma %s dB (min %s), RGB %s dB  "
              "latency video %s ms, lossless %s ms" % (
                  f["label"], f["exact"], fig(f["psnr_median"], "%.1f"),
                  fig(f["psnr_min"], "%.1f"), fig(f["psnr_rgb_median"], "%.1f"),
                  fig(f["lat_video_median"], "%.0f"),
                  fig(f["lat_lossless_median"], "%.0f")))
        if f["summary"]:
            print("  %-15s server: %s" % ("", f["summary"]))
    print("(%.1f s)" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (R.passed, R.failed))
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
