#!/usr/bin/python3
"""End-to-end test: an X display (`--source x11:DISPLAY`) served to spice-gtk.

Usage:  /usr/bin/python3 x11_capture_test.py /path/to/tessera [/path/to/tessera_vnc_probe]

Starts a private Xvfb (24-bit, -noreset, -retro for the stippled root and the
X cursor) with an xterm running `tee FILE` (what is typed lands in FILE and
on the screen), serves it with `tessera serve --source x11::N` and connects
the stock spice-gtk client library (GObject introspection) to it; the server
also listens for VNC (`--vnc-port 0`, security None) and libvncclient
(tessera_vnc_probe, tests/e2e/vnc/vnc_probe.c, next to tessera unless a second
argument or $TESSERA_VNC_PROBE names it) connects to that. Checks:

  - pictures: once the screen is quiet the client's primary surface equals
    `xwd -root` of the X server pixel for pixel: at first, after the xterm
    window moves, after typing and after a drag selection; a quiet screen
    sends nothing (XDamage hints: no display-invalidate for a second), and a
    few typed characters update only part of the screen;
  - keys: PC XT set-1 scancodes sent with SpiceInputsChannel key_press /
    key_release (Shift held for a capital, Return) reach the xterm: FILE
    gets the line; a key held for 1 s gives exactly one character, since
    tessera turns the X server's autorepeat off while it runs (the X server
    repeats after 660 ms, so a shorter hold would prove nothing) and back on
    when it exits;
  - pointer: SpiceInputsChannel position (client mouse mode) moves the X
    pointer there (xdotool getmouselocation); button_press shows in
    XQueryPointer's button mask, and a drag with the button held selects
    text in the xterm (highlight seen in the picture, equal to xwd);
  - cursor: the cursor channel's cursor-set carries the X cursor that
    XFixesGetCursorImage reports, size, hotspot and pixels, over the root
    window (the X) and over the xterm (the I-beam);
  - resize: the test starts Xvfb at 800x600 and shrinks it to 640x400 with
    RandR (Xvfb can shrink below, and grow back up to, its start size; it
    cannot grow past it), then `xrandr -s 800x600`: the client gets a new
    800x600 primary surface, equal to xwd.

Over VNC (libvncclient, lossless: no JPEG quality level, default pixel format
R0 G8 B16):

  - vnc picture: with Tight and with ZRLE the probe's picture equals xwd -root
    pixel for pixel, and the server used the encoding asked for;
  - vnc cursor: with the Cursor pseudo-encoding the probe gets the X cursor's
    shape (XFixesGetCursorImage: size, hotspot, mask = alpha >= 128, colours),
    and a new shape while connected when its PointerEvent moves the pointer
    from the xterm (I-beam) to the root window (X) and back;
  - vnc pointer: a PointerEvent moves the X pointer there (xdotool);
  - vnc keys: RFB KeyEvents with X keysyms (XK_Shift_L held for capitals,
    XK_Return) reach the xterm's file; the picture then equals xwd;
  - vnc resize: a probe connected before `xrandr -s 800x600` ends with an
    800x600 framebuffer (DesktopSize / ExtendedDesktopSize), entirely
    repainted and equal to xwd; the same for `xrandr -s 640x400` back (and the
    spice-gtk client gets its 640x400 primary surface).

Prints one line per check and ends with "N passed, M failed"; exits non-zero
if any check failed. A missing tool (Xvfb, xterm, xdotool, xwd, xrandr,
xset, xdpyinfo) is a failure.

Needs: /usr/bin/python3 with python3-gi and gir1.2-spiceclientglib-2.0;
tessera_vnc_probe (built with tessera when libvncserver-dev is there);
xvfb, xterm, xfonts-base (the "fixed" font), xdotool, x11-apps (xwd),
x11-xserver-utils (xrandr, xset), x11-utils (xdpyinfo); libX11 and
libXfixes for ctypes.

The gi client runs in a subprocess (this script with the hidden first
argument --gi-client) that takes one JSON command per line on stdin and
answers each with one line "@@ JSON" on stdout, so that a hang inside GLib
is bounded by a timeout.
"""

import ctypes
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spice_clients_test as base  # noqa: E402  (Server, Results, gi_session, ...)

BIG = (800, 600)             # Xvfb's start size: the most RandR can give back
SMALL = (640, 400)           # the size the test serves first
XTERM_GEOMETRY = "80x24+10+10"
XTERM_FONT = "fixed"         # 6x13 from xfonts-base; text at border 2
XTERM_FG, XTERM_BG = "#203a5c", "#f4ecd8"  # unequal R and B: swaps show
CELL_W, CELL_H, BORDER = 6, 13, 2
WINDOW_MOVED_TO = (100, 60)
TYPED = "Tessera x11"
HOLD_S = 1.0                 # key hold for the autorepeat check (> 660 ms)
SNAP_QUIET_MS = 120          # no display-invalidate this long before a snapshot
PICTURE_TIMEOUT = 6.0        # for the client's picture to equal xwd
QUIET_CHECK_S = 1.0
CLIENT_TIMEOUT = 15.0        # one command to the gi client
SERVER_START_TIMEOUT = 10.0
TOOLS = ("Xvfb", "xterm", "xdotool", "xwd", "xrandr", "xset", "xdpyinfo")

# VNC (libvncclient through tessera_vnc_probe)
VNC_READY_RE = re.compile(r"VNC clients connect to 127\.0\.0\.1:(\d+)")
VNC_TYPED = "vnc VNC"        # keysyms; Shift_L held for the capitals
VNC_SETTLE_MS = 250          # the probe's picture: no update for this long
VNC_HOLD_MS = 300            # stay connected after sending input
VNC_RESIZE_HOLD_MS = 1000    # a probe waits this long for the resize
VNC_PROBE_TIMEOUT_MS = 8000

# PC XT scancode set 1, key-down codes (spice_inputs_channel_key_press).
SC_SHIFT_L, SC_RETURN, SC_SPACE = 0x2A, 0x1C, 0x39
SCANCODES = {
    "1": 0x02, "2": 0x03, "q": 0x10, "w": 0x11, "e": 0x12, "r": 0x13,
    "t": 0x14, "y": 0x15, "u": 0x16, "i": 0x17, "o": 0x18, "p": 0x19,
    "a": 0x1E, "s": 0x1F, "d": 0x20, "f": 0x21, "g": 0x22, "h": 0x23,
    "j": 0x24, "k": 0x25, "l": 0x26, "z": 0x2C, "x": 0x2D, "c": 0x2E,
    "v": 0x2F, "b": 0x30, "n": 0x31, "m": 0x32, " ": SC_SPACE,
}
SPICE_MOUSE_BUTTON_LEFT = 1
SPICE_MOUSE_BUTTON_MASK_LEFT = 1
SPICE_MOUSE_MODE_CLIENT = 2
X_BUTTON1_MASK = 1 << 8


def key_strokes(text):
    """[["down"|"up", scancode, pause_ms after], ...] typing `text`."""
    seq = []
    for ch in text:
        code = SCANCODES[ch.lower()]
        shifted = ch.isupper()
        if shifted:
            seq.append(["down", SC_SHIFT_L, 10])
        seq += [["down", code, 10], ["up", code, 10]]
        if shifted:
            seq.append(["up", SC_SHIFT_L, 10])
    return seq


# ---------------------------------------------------------------------------
# gi client (runs in a subprocess, driven over stdin)
# ---------------------------------------------------------------------------

def gi_client_main(argv):
    """--gi-client HOST PORT WORKDIR

    Commands (one JSON object per line on stdin), each answered by one line
    "@@ JSON" on stdout:
      {"cmd": "status"}  channels, primaries, invalidates, mouse mode, cursors
      {"cmd": "mark"}    resets the invalidate count and area
      {"cmd": "snap", "quiet_ms": N, "path": P, "timeout": S}
                         waits for N ms without display-invalidate, writes
                         the primary surface (stride*height bytes) to P
      {"cmd": "keys", "seq": [[down|up, scancode, pause_ms], ...]}
      {"cmd": "position", "x": X, "y": Y, "buttons": MASK}
      {"cmd": "press"|"release", "button": B, "buttons": MASK}
      {"cmd": "quit"}
    cursor-set signals are recorded (rgba data to WORKDIR/cursor-N.raw) and
    reported by status.
    """
    import gi
    gi.require_version("SpiceClientGLib", "2.0")
    from gi.repository import GLib, GObject, SpiceClientGLib

    host, port, workdir = argv[0], argv[1], argv[2]
    result = {"events": [], "primary": None, "invalidates": 0,
              "error": None}
    st = {"last_inv": None, "display": None, "data_ptr": None,
          "inputs": None, "main": None, "cursor": None, "busy": False}
    extra = {"primaries": [], "cursors": [], "inv_area": 0, "inv_bbox": None,
             "inv_count": 0, "ready": []}
    loop = GLib.MainLoop()

    def on_invalidate(now):
        pass

    session = base.gi_session(host, port, result, st, loop, on_invalidate)

    def reply(obj):
        sys.stdout.write("@@ " + json.dumps(obj) + "\n")
        sys.stdout.flush()

    def on_inv(ch, x, y, w, h):
        extra["inv_count"] += 1
        extra["inv_area"] += w * h
        b = extra["inv_bbox"]
        extra["inv_bbox"] = ([x, y, x + w, y + h] if b is None else
                             [min(b[0], x), min(b[1], y),
                              max(b[2], x + w), max(b[3], y + h)])

    def on_primary_create(ch, fmt, width, height, stride, shmid, imgdata):
        extra["primaries"].append([width, height, stride, int(fmt)])

    def on_primary_destroy(ch):
        st["data_ptr"] = None

    def on_cursor_set(ch, width, height, hot_x, hot_y, rgba):
        n = len(extra["cursors"])
        path = None
        if rgba and width > 0 and height > 0:
            path = os.path.join(workdir, "cursor-%d.raw" % n)
            with open(path, "wb") as f:
                f.write(ctypes.string_at(rgba, width * height * 4))
        extra["cursors"].append({"w": width, "h": height, "hot_x": hot_x,
                                 "hot_y": hot_y, "file": path,
                                 "t": time.monotonic()})

    def on_channel_event(ch, event):
        if event == SpiceClientGLib.ChannelEvent.OPENED:
            extra["ready"].append(type(ch).__name__)

    def on_channel_new(sess, ch):
        GObject.Object.connect(ch, "channel-event", on_channel_event)
        if isinstance(ch, SpiceClientGLib.MainChannel):
            st["main"] = ch
        elif isinstance(ch, SpiceClientGLib.DisplayChannel):
            if ch.get_property("channel-id") == 0:
                GObject.Object.connect(ch, "display-invalidate", on_inv)
                GObject.Object.connect(ch, "display-primary-create",
                                       on_primary_create)
                GObject.Object.connect(ch, "display-primary-destroy",
                                       on_primary_destroy)
        elif isinstance(ch, SpiceClientGLib.InputsChannel):
            st["inputs"] = ch
            SpiceClientGLib.Channel.connect(ch)
        elif isinstance(ch, SpiceClientGLib.CursorChannel):
            st["cursor"] = ch
            GObject.Object.connect(ch, "cursor-set", on_cursor_set)
            SpiceClientGLib.Channel.connect(ch)

    GObject.Object.connect(session, "channel-new", on_channel_new)

    def status():
        mode = None
        if st["main"] is not None:
            try:
                mode = int(st["main"].get_property("mouse-mode"))
            except Exception:
                mode = None
        return {"primary": result["primary"], "primaries": extra["primaries"],
                "invalidates": result["invalidates"],
                "inv_count": extra["inv_count"], "inv_area": extra["inv_area"],
                "inv_bbox": extra["inv_bbox"], "ready": extra["ready"],
                "events": result["events"], "error": result["error"],
                "mouse_mode": mode, "cursors": extra["cursors"],
                "surface": st["data_ptr"] is not None}

    def snap(cmd):
        deadline = time.monotonic() + cmd.get("timeout", 5.0)

        def poll():
            now = time.monotonic()
            li = st["last_inv"]
            p = result["primary"]
            quiet = li is not None and (now - li) * 1000 >= cmd["quiet_ms"]
            if quiet and p is not None and st["data_ptr"]:
                raw = ctypes.string_at(st["data_ptr"], p["stride"] * p["height"])
                with open(cmd["path"], "wb") as f:
                    f.write(raw)
                reply({"ok": True, "primary": p,
                       "invalidates": result["invalidates"]})
                return False
            if now > deadline:
                reply({"ok": False, "why": "no quiet picture (primary %s, "
                       "surface %s, last invalidate %s)" % (
                           p, st["data_ptr"] is not None,
                           None if li is None else "%.0f ms ago" %
                           ((now - li) * 1000))})
                return False
            return True
        GLib.timeout_add(10, poll)

    def keys(cmd):
        seq = list(cmd["seq"])
        ch = st["inputs"]

        def step():
            if not seq:
                reply({"ok": True})
                return False
            action, code, pause = seq.pop(0)
            if action == "down":
                ch.key_press(code)
            else:
                ch.key_release(code)
            GLib.timeout_add(max(1, pause), step)
            return False
        step()

    def on_command(cmd):
        name = cmd.get("cmd")
        ch = st["inputs"]
        if name == "status":
            reply(status())
        elif name == "mark":
            extra["inv_count"], extra["inv_area"] = 0, 0
            extra["inv_bbox"] = None
            reply({"ok": True})
        elif name == "snap":
            snap(cmd)
        elif name in ("keys", "position", "press", "release") and ch is None:
            reply({"ok": False, "why": "no inputs channel"})
        elif name == "keys":
            keys(cmd)
        elif name == "position":
            ch.position(cmd["x"], cmd["y"], 0, cmd.get("buttons", 0))
            reply({"ok": True})
        elif name == "press":
            ch.button_press(cmd["button"], cmd.get("buttons", 0))
            reply({"ok": True})
        elif name == "release":
            ch.button_release(cmd["button"], cmd.get("buttons", 0))
            reply({"ok": True})
        elif name == "quit":
            reply({"ok": True})
            loop.quit()
        else:
            reply({"ok": False, "why": "unknown command %r" % name})

    pending = {"buf": b""}

    def on_stdin(channel, cond):
        data = os.read(0, 65536)
        if not data:
            loop.quit()
            return False
        pending["buf"] += data
        while b"\n" in pending["buf"]:
            line, pending["buf"] = pending["buf"].split(b"\n", 1)
            if line.strip():
                try:
                    on_command(json.loads(line))
                except Exception as e:  # report, keep serving
                    reply({"ok": False, "why": "exception: %r" % e})
        return True

    GLib.io_add_watch(GLib.IOChannel.unix_new(0), GLib.PRIORITY_DEFAULT,
                      GLib.IOCondition.IN | GLib.IOCondition.HUP, on_stdin)
    if not session.connect():
        reply({"ok": False, "why": "session.connect() returned FALSE"})
    else:
        loop.run()
    try:
        session.disconnect()
    except Exception:
        pass
    sys.stdout.flush()
    os._exit(0)


class GiClient:
    """The driver's end of gi_client_main."""

    def __init__(self, workdir, port):
        self.log_path = os.path.join(workdir, "gi-client.log")
        self.log_f = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--gi-client",
             "127.0.0.1", str(port), workdir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log_f)
        self.buf = b""

    def call(self, cmd, timeout=CLIENT_TIMEOUT):
        """Sends one command; returns its answer, or {"ok": False, "why"}."""
        if self.proc.poll() is not None:
            return {"ok": False, "why": "gi client exited with %s\n%s" % (
                self.proc.returncode, self.log())}
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            return {"ok": False, "why": "gi client stdin: %s" % e}
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.startswith(b"@@ "):
                    return json.loads(line[3:])
            left = deadline - time.monotonic()
            if left <= 0:
                return {"ok": False, "why": "gi client: no answer to %s in "
                        "%.0f s\n%s" % (cmd.get("cmd"), timeout, self.log())}
            r, _, _ = select.select([fd], [], [], left)
            if r:
                data = os.read(fd, 65536)
                if not data:
                    return {"ok": False, "why": "gi client closed stdout "
                            "(exit %s)\n%s" % (self.proc.poll(), self.log())}
                self.buf += data

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return base.tail(f.read().decode("utf-8", "replace"))
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            self.call({"cmd": "quit"}, timeout=3)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log_f.close()


# ---------------------------------------------------------------------------
# X side: processes, xwd, ctypes Xlib/XFixes
# ---------------------------------------------------------------------------

class XServer:
    """A private Xvfb on the first free display number from 90 on."""

    def __init__(self, workdir):
        self.proc = None
        self.number = None
        self.log_path = os.path.join(workdir, "xvfb.log")
        for n in range(90, 120):
            if os.path.exists("/tmp/.X%d-lock" % n) or \
                    os.path.exists("/tmp/.X11-unix/X%d" % n):
                continue
            rfd, wfd = os.pipe()
            with open(self.log_path, "ab") as log:
                proc = subprocess.Popen(
                    ["Xvfb", ":%d" % n, "-screen", "0", "%dx%dx24" % BIG,
                     "-nolisten", "tcp", "-noreset", "-retro",
                     "-displayfd", str(wfd)],
                    stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                    pass_fds=(wfd,))
            os.close(wfd)
            got = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and b"\n" not in got:
                r, _, _ = select.select([rfd], [], [], 0.2)
                if r:
                    chunk = os.read(rfd, 64)
                    if not chunk:
                        break
                    got += chunk
                elif proc.poll() is not None:
                    break
            os.close(rfd)
            if got.strip().isdigit() and proc.poll() is None:
                self.proc, self.number = proc, int(got.strip())
                return
            proc.kill()
            proc.wait()

    @property
    def display(self):
        return ":%d" % self.number

    def log(self):
        with open(self.log_path, "rb") as f:
            return base.tail(f.read().decode("utf-8", "replace"))


def run_x(env, *cmd, timeout=10):
    """Runs an X tool; returns (rc, stdout+stderr text)."""
    try:
        p = subprocess.run(list(cmd), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return "timeout", (e.stdout or b"").decode("utf-8", "replace")


def xwd_root(env):
    """The root window as (w, h, rows of 3*w RGB bytes), from xwd."""
    p = subprocess.run(["xwd", "-root", "-silent"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    data = p.stdout
    if p.returncode != 0 or len(data) < 100:
        raise RuntimeError("xwd failed: %s" % p.stderr.decode("utf-8", "replace"))
    h = struct.unpack(">25I", data[:100])
    header_size, fmt, w, hgt = h[0], h[2], h[4], h[5]
    byte_order, bpp, bpl = h[7], h[11], h[12]
    masks, ncolors = (h[14], h[15], h[16]), h[19]
    if fmt != 2 or bpp != 32 or masks != (0xFF0000, 0xFF00, 0xFF):
        raise RuntimeError("xwd: format %d, %d bpp, masks %s: expected "
                           "ZPixmap 32 bpp xRGB" % (fmt, bpp, masks))
    off = header_size + 12 * ncolors
    if len(data) < off + bpl * hgt:
        raise RuntimeError("xwd: %d bytes, expected %d" % (
            len(data), off + bpl * hgt))
    rows = []
    for y in range(hgt):
        line = data[off + y * bpl:off + y * bpl + 4 * w]
        row = bytearray(3 * w)
        if byte_order == 0:      # LSBFirst: B G R x
            row[0::3], row[1::3], row[2::3] = line[2::4], line[1::4], line[0::4]
        else:                    # MSBFirst: x R G B
            row[0::3], row[1::3], row[2::3] = line[1::4], line[2::4], line[3::4]
        rows.append(bytes(row))
    return w, hgt, rows


def write_ppm(path, w, h, rows):
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(b"".join(rows))


def diff_summary(a, b, w, h):
    """(count, bbox (x0, y0, x1, y1) or None, first mismatch text)."""
    count, bbox, first = 0, None, None
    for y in range(h):
        if a[y] == b[y]:
            continue
        for x in range(w):
            if a[y][3 * x:3 * x + 3] != b[y][3 * x:3 * x + 3]:
                count += 1
                bbox = ((x, y, x, y) if bbox is None else
                        (min(bbox[0], x), min(bbox[1], y),
                         max(bbox[2], x), max(bbox[3], y)))
                if first is None:
                    first = "(%d,%d) X rgb%s, client rgb%s" % (
                        x, y, tuple(a[y][3 * x:3 * x + 3]),
                        tuple(b[y][3 * x:3 * x + 3]))
    return count, bbox, first


class XLib:
    """Just what the test asks the X server itself: pointer and cursor."""

    class _CursorImage(ctypes.Structure):
        _fields_ = [("x", ctypes.c_short), ("y", ctypes.c_short),
                    ("width", ctypes.c_ushort), ("height", ctypes.c_ushort),
                    ("xhot", ctypes.c_ushort), ("yhot", ctypes.c_ushort),
                    ("cursor_serial", ctypes.c_ulong),
                    ("pixels", ctypes.POINTER(ctypes.c_ulong)),
                    ("atom", ctypes.c_ulong), ("name", ctypes.c_char_p)]

    def __init__(self, display):
        self.x = ctypes.CDLL("libX11.so.6")
        self.xf = ctypes.CDLL("libXfixes.so.3")
        self.x.XOpenDisplay.restype = ctypes.c_void_p
        self.x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x.XDefaultRootWindow.restype = ctypes.c_ulong
        self.x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.x.XQueryPointer.argtypes = [ctypes.c_void_p, ctypes.c_ulong] + \
            [ctypes.POINTER(ctypes.c_ulong)] * 2 + \
            [ctypes.POINTER(ctypes.c_int)] * 4 + [ctypes.POINTER(ctypes.c_uint)]
        self.x.XFree.argtypes = [ctypes.c_void_p]
        self.x.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.xf.XFixesQueryExtension.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int)]
        self.xf.XFixesQueryVersion.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int)]
        self.xf.XFixesGetCursorImage.restype = ctypes.POINTER(self._CursorImage)
        self.xf.XFixesGetCursorImage.argtypes = [ctypes.c_void_p]
        self.dpy = self.x.XOpenDisplay(display.encode())
        if not self.dpy:
            raise RuntimeError("XOpenDisplay(%s) failed" % display)
        self.root = self.x.XDefaultRootWindow(self.dpy)
        ev, err = ctypes.c_int(), ctypes.c_int()
        if not self.xf.XFixesQueryExtension(self.dpy, ctypes.byref(ev),
                                            ctypes.byref(err)):
            raise RuntimeError("no XFIXES on %s" % display)
        major, minor = ctypes.c_int(5), ctypes.c_int(0)
        self.xf.XFixesQueryVersion(self.dpy, ctypes.byref(major),
                                   ctypes.byref(minor))

    def pointer(self):
        """(x, y, button/modifier mask) from XQueryPointer."""
        r, c = ctypes.c_ulong(), ctypes.c_ulong()
        rx, ry, wx, wy = (ctypes.c_int() for _ in range(4))
        mask = ctypes.c_uint()
        self.x.XQueryPointer(self.dpy, self.root, ctypes.byref(r),
                             ctypes.byref(c), ctypes.byref(rx),
                             ctypes.byref(ry), ctypes.byref(wx),
                             ctypes.byref(wy), ctypes.byref(mask))
        return rx.value, ry.value, mask.value

    def cursor(self):
        """{w, h, hot_x, hot_y, argb: [straight ARGB ints]} of the X cursor."""
        p = self.xf.XFixesGetCursorImage(self.dpy)
        if not p:
            return None
        ci = p.contents
        argb = []
        for i in range(ci.width * ci.height):
            v = ci.pixels[i] & 0xFFFFFFFF
            a = v >> 24

            def un(c):
                return min(255, c * 255 // a) if a else 0
            argb.append(a << 24 | un(v >> 16 & 255) << 16 |
                        un(v >> 8 & 255) << 8 | un(v & 255))
        out = {"w": ci.width, "h": ci.height, "hot_x": ci.xhot,
               "hot_y": ci.yhot, "argb": argb}
        self.x.XFree(p)
        return out

    def close(self):
        if self.dpy:
            self.x.XCloseDisplay(self.dpy)
            self.dpy = None


def cursor_matches(xc, ev):
    """Compares a cursor-set record with XFixes' image. (ok, detail)."""
    if (ev["w"], ev["h"], ev["hot_x"], ev["hot_y"]) != \
            (xc["w"], xc["h"], xc["hot_x"], xc["hot_y"]):
        return False, "client %dx%d hot (%d,%d), X %dx%d hot (%d,%d)" % (
            ev["w"], ev["h"], ev["hot_x"], ev["hot_y"],
            xc["w"], xc["h"], xc["hot_x"], xc["hot_y"])
    if not ev["file"]:
        return False, "cursor-set without image data"
    with open(ev["file"], "rb") as f:
        data = f.read()
    # spice-gtk's set_cursor() swaps bytes 0 and 2 of the wire's ALPHA
    # pixels (native-endian ARGB): what cursor-set hands on is R, G, B, A.
    got = [data[i + 3] << 24 | data[i] << 16 | data[i + 1] << 8 | data[i + 2]
           for i in range(0, len(data), 4)]
    bad = [i for i, (g, x) in enumerate(zip(got, xc["argb"]))
           if (g >> 24) != (x >> 24) or ((x >> 24) and g != x)]
    if bad:
        i = bad[0]
        return False, "%d of %d pixels differ, first (%d,%d) X %08x client " \
            "%08x" % (len(bad), len(got), i % xc["w"], i // xc["w"],
                      xc["argb"][i], got[i])
    return True, "%dx%d hot (%d,%d), %d opaque pixels" % (
        xc["w"], xc["h"], xc["hot_x"], xc["hot_y"],
        sum(1 for v in got if v >> 24))


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

class Ctx:
    pass


def picture_equals_x(R, c, label, size):
    """Polls until the client's surface equals xwd -root (both `size`).

    Returns the client's rows on success, else None (after a FAIL)."""
    t0 = time.monotonic()
    deadline = t0 + PICTURE_TIMEOUT
    path = os.path.join(c.workdir, "snap.raw")
    last = "no snapshot"
    pictures = None
    tries = 0
    while True:
        tries += 1
        xw, xh, xrows = xwd_root(c.env)
        ans = c.client.call({"cmd": "snap", "quiet_ms": SNAP_QUIET_MS,
                             "path": path, "timeout": 3.0})
        # The X screen must be still over the snapshot (xterm redraws after
        # an expose, for instance, come a little later than the event).
        stable = xwd_root(c.env)[2] == xrows
        if not stable:
            last = "the X screen was still changing"
        elif ans.get("ok"):
            p = ans["primary"]
            with open(path, "rb") as f:
                raw = f.read()
            if (p["width"], p["height"]) != (xw, xh) or (xw, xh) != size:
                last = "client %dx%d, X %dx%d, expected %dx%d" % (
                    p["width"], p["height"], xw, xh, size[0], size[1])
            else:
                got = base.bgrx_to_rows(raw, xw, xh, p["stride"])
                if got == xrows:
                    R.check(label, True, "%dx%d after %.2f s (%d snapshot%s)"
                            % (xw, xh, time.monotonic() - t0, tries,
                               "" if tries == 1 else "s"))
                    return got
                n, bbox, first = diff_summary(xrows, got, xw, xh)
                last = "%d of %d pixels differ, box %s, first %s" % (
                    n, xw * xh, bbox, first)
                pictures = (xw, xh, got, xrows)
        else:
            last = ans.get("why", "?")
        if time.monotonic() > deadline:
            if pictures:
                stem = re.sub(r"[^a-z0-9]+", "-", label.lower())[:40]
                w, h, got, xrows = pictures
                write_ppm(os.path.join(c.workdir, stem + "-client.ppm"),
                          w, h, got)
                write_ppm(os.path.join(c.workdir, stem + "-xwd.ppm"),
                          w, h, xrows)
                last += " (pictures: %s-{client,xwd}.ppm)" % stem
            R.check(label, False, "after %.1f s: %s" % (PICTURE_TIMEOUT, last))
            return None
        time.sleep(0.1)


def differs_in(a, b, rect):
    """True if rows a and b differ somewhere inside rect (x, y, w, h)."""
    x, y, w, h = rect
    return any(a[yy][3 * x:3 * (x + w)] != b[yy][3 * x:3 * (x + w)]
               for yy in range(y, y + h))


def wait_file(path, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    text = ""
    while True:
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        if text == want or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def wait_for(fn, timeout):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def autorepeat(env):
    rc, out = run_x(env, "xset", "q")
    m = re.search(r"auto repeat:\s+(on|off)", out)
    return m.group(1) if m else "unknown (xset rc=%s)" % rc


def xterm_rect(c):
    rc, out = run_x(c.env, "xdotool", "getwindowgeometry", "--shell", c.wid)
    vals = dict(l.split("=", 1) for l in out.split() if "=" in l)
    return (int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]),
            int(vals["HEIGHT"]))


def mouse_location(env):
    rc, out = run_x(env, "xdotool", "getmouselocation", "--shell")
    vals = dict(l.split("=", 1) for l in out.split() if "=" in l)
    try:
        return int(vals["X"]), int(vals["Y"])
    except (KeyError, ValueError):
        return None


def check_pointer_and_cursor(R, c, label, x, y):
    """Moves the pointer with the inputs channel; checks X and the cursor."""
    n_before = len(c.client.call({"cmd": "status"}).get("cursors", []))
    ans = c.client.call({"cmd": "position", "x": x, "y": y, "buttons": 0})
    if not ans.get("ok"):
        R.check("pointer: %s: position message sent" % label, False,
                ans.get("why", ""))
        return
    loc = wait_for(lambda: mouse_location(c.env) == (x, y) and (x, y), 3.0)
    R.check("pointer: position (%d,%d) %s moves the X pointer there" % (
        x, y, label), loc == (x, y),
        "xdotool getmouselocation %s" % (mouse_location(c.env),))
    xc = c.xlib.cursor()
    if xc is None:
        R.check("cursor: %s: XFixesGetCursorImage" % label, False)
        return
    # The shape the X server now shows must arrive as a cursor-set (the
    # server sends one only when the shape changes, so it may be the last
    # one already received if the shape did not change).
    detail = "no cursor-set"

    def matched():
        nonlocal detail
        st = c.client.call({"cmd": "status"})
        evs = st.get("cursors", [])
        if not evs:
            return False
        ok, detail = cursor_matches(xc, evs[-1])
        detail += " (%d cursor-set, %d new)" % (len(evs), len(evs) - n_before)
        return ok
    ok = wait_for(matched, 3.0)
    R.check("cursor: %s: client's cursor-set equals XFixesGetCursorImage"
            % label, ok and xc["w"] > 0 and xc["h"] > 0 and
            0 <= xc["hot_x"] < xc["w"] and 0 <= xc["hot_y"] < xc["h"], detail)
    return xc


# ---------------------------------------------------------------------------
# VNC: tessera_vnc_probe (libvncclient)
# ---------------------------------------------------------------------------

class Probe:
    """One tessera_vnc_probe run (tests/e2e/vnc/vnc_probe.c). With --hold-ms
    it prints {"event": "settled", ...} once its first picture settled and
    stays connected; its last line is the JSON result."""

    def __init__(self, c, name, args, timeout_ms=VNC_PROBE_TIMEOUT_MS):
        c.vnc_runs = getattr(c, "vnc_runs", 0) + 1
        stem = os.path.join(c.workdir, "vnc-%02d-%s" % (c.vnc_runs, name))
        self.ppm, self.cursor_path = stem + ".ppm", stem + ".cursor.rgba"
        self.err_path = stem + ".probe.log"
        self.timeout_ms = timeout_ms
        for path in (self.ppm, self.cursor_path):
            if os.path.exists(path):
                os.unlink(path)
        cmd = [c.probe, "--host", "127.0.0.1", "--port", str(c.vnc_port),
               "--out", self.ppm, "--settle-ms", str(VNC_SETTLE_MS),
               "--timeout-ms", str(timeout_ms)] + list(args)
        if "--cursor" in args:
            cmd += ["--cursor-out", self.cursor_path]
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                         stderr=err, stdin=subprocess.DEVNULL)
        c.probes.append(self)  # killed at the end if still running
        self.lines = []
        self.buf = b""

    def _read(self, until):
        """Reads stdout lines until `until(line)` or EOF or the deadline."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout_ms / 1000.0 + 5
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").strip()
                if text:
                    self.lines.append(text)
                    if until(text):
                        return text
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if r:
                data = os.read(fd, 65536)
                if not data:
                    return None
                self.buf += data

    def settled(self):
        """The "settled" event as a dict, or None (the probe ended first)."""
        line = self._read(lambda t: t.startswith('{"event":"settled"'))
        return json.loads(line) if line else None

    def finish(self):
        """(result dict or None, picture rows or None, text for failures)."""
        self._read(lambda t: False)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            return None, None, "probe did not exit (its hard timeout failed)"
        with open(self.err_path, "rb") as f:
            err = f.read().decode("utf-8", "replace")
        try:
            res = json.loads(self.lines[-1])
        except (ValueError, IndexError):
            return None, None, "probe rc=%s printed no JSON\n%s" % (
                self.proc.returncode, base.tail(err))
        res["rc"] = self.proc.returncode
        rows = None
        if os.path.exists(self.ppm):
            try:
                w, h, rows = base.read_ppm(self.ppm)
                if (w, h) != (res.get("width"), res.get("height")):
                    rows = None
            except ValueError as e:
                res["error"] = "%s; bad PPM: %s" % (res.get("error"), e)
        res["cursor_file"] = self.cursor_path if os.path.exists(
            self.cursor_path) else None
        return res, rows, "error %r, %s" % (res.get("error"), probe_summary(res))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def probe_summary(res):
    keys = ("width", "height", "encodings_seen", "rects", "pseudo_rects",
            "tight_jpeg_rects", "updates", "complete", "sizes",
            "desktop_size", "cursor", "keys_sent", "pointer_sent", "ms")
    return ", ".join("%s=%s" % (k, json.dumps(res.get(k))) for k in keys
                     if res.get(k) not in (None, "", [], {}))


def vnc_picture_equals_x(R, c, label, size, args=(), encoding=None):
    """Runs the probe until its picture equals xwd -root (the X screen still
    over the run). Returns (rows, result) on success, else (None, result)."""
    t0 = time.monotonic()
    deadline = t0 + PICTURE_TIMEOUT
    last, res, tries, pictures = "no run", None, 0, None
    while True:
        tries += 1
        xw, xh, xrows = xwd_root(c.env)
        res, rows, text = Probe(c, "picture", args).finish()
        stable = xwd_root(c.env)[2] == xrows
        if res is None or res.get("rc") != 0 or rows is None:
            last = text
        elif not stable:
            last = "the X screen was still changing"
        elif (res["width"], res["height"]) != (xw, xh) or (xw, xh) != size:
            last = "probe %sx%s, X %dx%d, expected %dx%d" % (
                res["width"], res["height"], xw, xh, size[0], size[1])
        elif rows == xrows:
            R.check(label, True, "%dx%d after %.2f s (%d run%s), %s" % (
                xw, xh, time.monotonic() - t0, tries, "" if tries == 1 else
                "s", probe_summary({k: res.get(k) for k in (
                    "encodings_seen", "rects", "tight_jpeg_rects", "ms")})))
            if encoding is not None:
                R.check(label + ": only %s rects, no JPEG" % encoding,
                        res.get("encodings_seen") == [encoding] and
                        not res.get("tight_jpeg_rects"), probe_summary(res))
            return rows, res
        else:
            n, bbox, first = diff_summary(xrows, rows, xw, xh)
            last = "%d of %d pixels differ, box %s, first %s (%s)" % (
                n, xw * xh, bbox, first, probe_summary(res))
            pictures = (xw, xh, rows, xrows)
        if time.monotonic() > deadline:
            if pictures:
                stem = re.sub(r"[^a-z0-9]+", "-", label.lower())[:40]
                w, h, got, xr = pictures
                write_ppm(os.path.join(c.workdir, stem + "-probe.ppm"), w, h,
                          got)
                write_ppm(os.path.join(c.workdir, stem + "-xwd.ppm"), w, h,
                          xr)
                last += " (pictures: %s-{probe,xwd}.ppm)" % stem
            R.check(label, False, "after %.1f s: %s" % (PICTURE_TIMEOUT, last))
            return None, res
        time.sleep(0.1)


def vnc_cursor_matches(xc, res):
    """The probe's last cursor shape (--cursor-out RGBA, A from the 1-bit
    mask) against XFixes' image: size, hotspot, mask = alpha >= 128 and the
    colours of the pixels in the mask. (ok, detail)."""
    cur = res.get("cursor")
    if not cur:
        return False, "no cursor shape received (%s)" % probe_summary(res)
    if (cur["width"], cur["height"], cur["hot_x"], cur["hot_y"]) != \
            (xc["w"], xc["h"], xc["hot_x"], xc["hot_y"]):
        return False, "probe %dx%d hot (%d,%d), X %dx%d hot (%d,%d)" % (
            cur["width"], cur["height"], cur["hot_x"], cur["hot_y"],
            xc["w"], xc["h"], xc["hot_x"], xc["hot_y"])
    if not res.get("cursor_file"):
        return False, "no --cursor-out file"
    with open(res["cursor_file"], "rb") as f:
        data = f.read()
    if len(data) != 4 * xc["w"] * xc["h"]:
        return False, "cursor file has %d bytes, expected %d" % (
            len(data), 4 * xc["w"] * xc["h"])
    bad = []
    for i, x in enumerate(xc["argb"]):
        r, g, b, a = data[4 * i:4 * i + 4]
        want_mask = (x >> 24) >= 128
        if (a == 255) != want_mask or \
                (want_mask and (r, g, b) != (x >> 16 & 255, x >> 8 & 255,
                                             x & 255)):
            bad.append((i, x, (r, g, b, a)))
    if bad:
        i, x, got = bad[0]
        return False, "%d of %d pixels differ, first (%d,%d) X %08x probe " \
            "rgba%s" % (len(bad), len(xc["argb"]), i % xc["w"], i // xc["w"],
                        x, got)
    return True, "%dx%d hot (%d,%d), %d pixels in the mask, %d shape%s" % (
        xc["w"], xc["h"], xc["hot_x"], xc["hot_y"],
        sum(1 for v in xc["argb"] if v >> 24 >= 128), cur["shapes"],
        "" if cur["shapes"] == 1 else "s")


def vnc_pointer_cursor_keys(R, c, label, x, y, text=None):
    """One probe run: connects with the Cursor pseudo-encoding, sends a
    PointerEvent to (x, y) (and `text` as keysyms), holds. Checks the X
    pointer and that the probe's last cursor shape equals XFixes' (a second
    shape: the pointer starts elsewhere with another shape). Returns the
    XFixes cursor, or None."""
    args = ["--cursor", "--pointer", "%d,%d" % (x, y),
            "--hold-ms", str(VNC_HOLD_MS)]
    if text is not None:
        args += ["--type", text]
    probe = Probe(c, "input", args)
    first = probe.settled()
    res, rows, detail = probe.finish()
    if res is None or first is None or res.get("error"):
        R.check("vnc %s: probe connects, sends input, holds" % label, False,
                detail)
        if res is None:
            return None
    loc = wait_for(lambda: mouse_location(c.env) == (x, y) and (x, y), 2.0)
    R.check("vnc pointer: PointerEvent (%d,%d) %s moves the X pointer there"
            % (x, y, label), loc == (x, y) and res.get("pointer_sent") == 1,
            "xdotool getmouselocation %s, %s PointerEvent sent" % (
                mouse_location(c.env), res.get("pointer_sent")))
    xc = c.xlib.cursor()
    if xc is None:
        R.check("vnc cursor: %s: XFixesGetCursorImage" % label, False)
        return None
    ok, why = vnc_cursor_matches(xc, res)
    shapes = (res.get("cursor") or {}).get("shapes", 0)
    at_first = (first or {}).get("cursor_shapes")
    visible = sum(1 for v in xc["argb"] if v >> 24 >= 128)
    R.check("vnc cursor: %s: the probe's last cursor shape equals "
            "XFixesGetCursorImage (a visible one)" % label, ok and visible,
            why)
    R.check("vnc cursor: %s: a shape on connect, a new one after the move"
            % label, bool(at_first) and shapes > at_first,
            "%s shape(s) when the first picture settled, %d in all"
            % (at_first, shapes))
    return xc


def check_vnc(R, c):
    """VNC checks at SMALL, after the SPICE input checks."""
    vnc_picture_equals_x(R, c, "vnc picture: libvncclient Tight (no quality "
                         "level) equals xwd -root", SMALL,
                         ["--encodings", "tight"], "tight")
    vnc_picture_equals_x(R, c, "vnc picture: libvncclient ZRLE equals xwd "
                         "-root", SMALL, ["--encodings", "zrle"], "zrle")
    # The pointer is over the xterm (where the drag ended): to the root
    # window (the X cursor), then back over the xterm (the I-beam) typing.
    wx, wy, ww, wh = c.xterm_rect
    root_pt = (SMALL[0] - 30, SMALL[1] - 20)
    if wx <= root_pt[0] < wx + ww and wy <= root_pt[1] < wy + wh:
        root_pt = (7, 7)
    root_c = vnc_pointer_cursor_keys(R, c, "over the root window", *root_pt)
    before = read_text(c.out_file)
    term_c = vnc_pointer_cursor_keys(R, c, "over the xterm", wx + ww // 3,
                                     wy + wh // 3, VNC_TYPED + "\n")
    if root_c and term_c:
        R.check("vnc cursor: the xterm's shape differs from the root's",
                (root_c["w"], root_c["h"], root_c["hot_x"], root_c["hot_y"],
                 root_c["argb"]) != (term_c["w"], term_c["h"],
                                     term_c["hot_x"], term_c["hot_y"],
                                     term_c["argb"]))
    want = before + VNC_TYPED + "\n"
    text = wait_file(c.out_file, want)
    R.check("vnc keys: KeyEvent keysyms reach the xterm: %r (Shift_L for "
            "the capitals, Return)" % (VNC_TYPED + "\n"), text == want,
            "file ends %r" % text[-40:])
    vnc_picture_equals_x(R, c, "vnc picture: after typing over VNC, equals "
                         "xwd -root", SMALL, ["--encodings", "tight"])


def start_vnc_resize_probe(R, c, size):
    """A probe connected at `size` that stays for the coming resize."""
    probe = Probe(c, "resize", ["--encodings", "tight", "--hold-ms",
                                str(VNC_RESIZE_HOLD_MS)])
    first = probe.settled()
    if first is None or (first["width"], first["height"]) != size:
        res, _, detail = probe.finish()
        R.check("vnc resize: a probe connected at %dx%d before the resize"
                % size, False, "settled at %s; %s" % (first, detail))
        return None
    return probe


def finish_vnc_resize_probe(R, c, probe, old, new):
    """The probe connected at `old` ended at `new`, repainted, equal to xwd."""
    res, rows, detail = probe.finish()
    if res is None:
        R.check("vnc resize: the probe follows %dx%d -> %dx%d" % (old + new),
                False, detail)
        return
    sizes = [tuple(s) for s in res.get("sizes", [])]
    followed = not res.get("error") and sizes[:1] == [old] and \
        new in sizes[1:] and (res.get("width"), res.get("height")) == new
    if not followed and any(
            d.get("enc") == -308 and (d.get("w"), d.get("h")) == new and
            0 in d.get("screen_ids", []) for d in res.get("desktop_size", [])):
        detail += " -- the server's ExtendedDesktopSize names screen id 0, " \
            "a layout libvncclient 0.9.14 drops (rfbproto.c: \"screen.id != " \
            "0\"), so it never resizes"
    R.check("vnc resize: libvncclient connected at %dx%d follows the screen "
            "to %dx%d (DesktopSize/ExtendedDesktopSize)" % (old + new),
            followed, detail)
    if not followed or rows is None:
        return
    R.check("vnc resize: the whole %dx%d framebuffer was repainted" % new,
            res.get("complete") is True, "%d updates, %s" % (
                res.get("updates"), json.dumps(res.get("rects"))))
    xw, xh, xrows = xwd_root(c.env)
    stable = xwd_root(c.env)[2] == xrows
    if rows == xrows:
        R.check("vnc picture: after the resize to %dx%d, the probe's picture "
                "equals xwd -root" % new, True, "%dx%d" % (xw, xh))
    else:
        n, bbox, first = diff_summary(xrows, rows, xw, xh) \
            if (xw, xh) == new else (None, None, None)
        R.check("vnc picture: after the resize to %dx%d, the probe's picture "
                "equals xwd -root" % new, False,
                "X %dx%d%s: %s of %d pixels differ, box %s, first %s" % (
                    xw, xh, "" if stable else " (still changing)", n,
                    xw * xh, bbox, first))


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""



def run_checks(R, c):
    env = c.env
    # -- Initial picture ----------------------------------------------------
    channels = ("MainChannel", "DisplayChannel", "InputsChannel",
                "CursorChannel")

    def all_open():
        s = c.client.call({"cmd": "status"})
        return s if all(n in s.get("ready", []) for n in channels) else None
    ready = wait_for(all_open, 8.0)
    st = ready or c.client.call({"cmd": "status"})
    R.check("client opens main, display, inputs and cursor channels",
            ready is not None, "opened %s, events %s, error %s" % (
                st.get("ready"), st.get("events"), st.get("error")))
    R.check("client runs in client mouse mode",
            st.get("mouse_mode") == SPICE_MOUSE_MODE_CLIENT,
            "mouse-mode %s" % st.get("mouse_mode"))
    first = picture_equals_x(R, c, "picture: first picture equals xwd -root",
                             SMALL)
    if first is not None:
        # A quiet X screen sends nothing: capture follows XDamage.
        n0 = c.client.call({"cmd": "status"}).get("invalidates")
        time.sleep(QUIET_CHECK_S)
        n1 = c.client.call({"cmd": "status"}).get("invalidates")
        R.check("picture: a quiet screen sends no updates for %.1f s"
                % QUIET_CHECK_S, n0 is not None and n0 == n1,
                "%s -> %s display-invalidates" % (n0, n1))

    # -- The xterm moves ----------------------------------------------------
    before = c.xterm_rect
    rc, out = run_x(env, "xdotool", "windowmove", "--sync", c.wid,
                    str(WINDOW_MOVED_TO[0]), str(WINDOW_MOVED_TO[1]))
    c.xterm_rect = xterm_rect(c)
    R.check("xdotool windowmove moves the xterm",
            rc == 0 and c.xterm_rect[:2] == WINDOW_MOVED_TO,
            "%s -> %s %s" % (before, c.xterm_rect, out.strip()))
    moved = picture_equals_x(R, c, "picture: after the xterm moved, "
                             "equals xwd -root", SMALL)
    if first is not None and moved is not None:
        R.check("picture: the move changed the picture", moved != first)

    # -- Typing ------------------------------------------------------------
    wx, wy, ww, wh = c.xterm_rect
    text_rect = (wx + BORDER, wy + BORDER, CELL_W * (len(TYPED) + 1),
                 CELL_H * 2)
    c.client.call({"cmd": "mark"})
    ans = c.client.call({"cmd": "keys", "seq": key_strokes(TYPED) +
                         [["down", SC_RETURN, 10], ["up", SC_RETURN, 10]]},
                        timeout=10)
    R.check("keys: sent through the inputs channel", ans.get("ok"),
            ans.get("why", "%d key events" % (4 * len(TYPED))))
    text = wait_file(c.out_file, TYPED + "\n")
    R.check("keys: the xterm got %r (Shift for the capital, Return)"
            % (TYPED + "\n"), text == TYPED + "\n", "file has %r" % text)
    typed = picture_equals_x(R, c, "picture: after typing, equals xwd -root",
                             SMALL)
    if typed is not None and moved is not None:
        R.check("picture: the typed text shows in the xterm's first lines",
                differs_in(moved, typed, text_rect),
                "text area %s" % (text_rect,))
    st = c.client.call({"cmd": "status"})
    area, bbox = st.get("inv_area", 0), st.get("inv_bbox")
    full = SMALL[0] * SMALL[1]
    R.check("picture: typing updates only part of the screen (damage)",
            0 < area < full // 4,
            "%d display-invalidates, %d pixels in all (screen %d), box %s"
            % (st.get("inv_count", 0), area, full, bbox))

    # -- Key held: no X server autorepeat ------------------------------------
    R.check("keys: tessera turned the X server's autorepeat off",
            autorepeat(env) == "off", "xset q: auto repeat %s"
            % autorepeat(env))
    ans = c.client.call({"cmd": "keys", "seq": [
        ["down", SCANCODES["z"], int(HOLD_S * 1000)],
        ["up", SCANCODES["z"], 10],
        ["down", SC_RETURN, 10], ["up", SC_RETURN, 10]]}, timeout=10)
    want = TYPED + "\nz\n"
    text = wait_file(c.out_file, want)
    R.check("keys: a key held %.1f s gives one character" % HOLD_S,
            ans.get("ok") and text == want, "file has %r%s" % (
                text, "" if ans.get("ok") else " (%s)" % ans.get("why")))

    # -- Pointer and cursor --------------------------------------------------
    wx, wy, ww, wh = c.xterm_rect
    root_pt = (SMALL[0] - 20, SMALL[1] - 10)
    if wx <= root_pt[0] < wx + ww and wy <= root_pt[1] < wy + wh:
        root_pt = (5, 5)
    root_c = check_pointer_and_cursor(R, c, "over the root window", *root_pt)
    term_c = check_pointer_and_cursor(R, c, "over the xterm",
                                      wx + ww // 2, wy + wh // 2)
    if root_c and term_c:
        R.check("cursor: the xterm's cursor differs from the root's",
                (root_c["w"], root_c["h"], root_c["hot_x"], root_c["hot_y"],
                 root_c["argb"]) !=
                (term_c["w"], term_c["h"], term_c["hot_x"], term_c["hot_y"],
                 term_c["argb"]),
                "root %dx%d, xterm %dx%d" % (root_c["w"], root_c["h"],
                                             term_c["w"], term_c["h"]))

    # -- Buttons: drag-select the first typed word ---------------------------
    before = picture_equals_x(R, c, "picture: before the drag, equals xwd "
                              "-root", SMALL)
    y = wy + BORDER + CELL_H // 2
    x0, x1 = wx + BORDER + 1, wx + BORDER + CELL_W * 7 - 2
    c.client.call({"cmd": "position", "x": x0, "y": y, "buttons": 0})
    wait_for(lambda: mouse_location(env) == (x0, y), 2.0)
    ans = c.client.call({"cmd": "press", "button": SPICE_MOUSE_BUTTON_LEFT,
                         "buttons": SPICE_MOUSE_BUTTON_MASK_LEFT})
    held = wait_for(lambda: c.xlib.pointer()[2] & X_BUTTON1_MASK, 3.0)
    R.check("pointer: button_press holds X button 1 (XQueryPointer)",
            ans.get("ok") and bool(held),
            "mask 0x%x" % c.xlib.pointer()[2])
    for i in range(1, 5):
        c.client.call({"cmd": "position", "x": x0 + (x1 - x0) * i // 4,
                       "y": y, "buttons": SPICE_MOUSE_BUTTON_MASK_LEFT})
        time.sleep(0.03)
    wait_for(lambda: mouse_location(env) == (x1, y), 2.0)
    c.client.call({"cmd": "release", "button": SPICE_MOUSE_BUTTON_LEFT,
                   "buttons": 0})
    free = wait_for(lambda: not (c.xlib.pointer()[2] & X_BUTTON1_MASK), 3.0)
    R.check("pointer: button_release lets X button 1 go", bool(free),
            "mask 0x%x" % c.xlib.pointer()[2])
    selected = picture_equals_x(R, c, "picture: after a drag selection, "
                                "equals xwd -root", SMALL)
    if before is not None and selected is not None:
        R.check("pointer: the drag highlighted text in the xterm",
                differs_in(before, selected,
                           (x0 - 1, wy + BORDER, x1 - x0 + 2, CELL_H)))

    # -- VNC: pictures, pointer, cursor, keys ---------------------------------
    if c.vnc_port is not None:
        check_vnc(R, c)

    # -- Resize --------------------------------------------------------------
    if not c.can_resize:
        print("NOTE  resize skipped: %s" % c.resize_note)
        return
    n_prim = len(c.client.call({"cmd": "status"}).get("primaries", []))
    vnc_probe = start_vnc_resize_probe(R, c, SMALL) \
        if c.vnc_port is not None else None
    rc, out = run_x(env, "xrandr", "-s", "%dx%d" % BIG)
    R.check("resize: xrandr -s %dx%d" % BIG, rc == 0, out.strip())

    def new_primary():
        p = c.client.call({"cmd": "status"}).get("primaries", [])
        return [q for q in p[n_prim:] if (q[0], q[1]) == BIG]
    got = wait_for(new_primary, 5.0)
    R.check("resize: the client gets a new %dx%d primary surface" % BIG,
            bool(got), "primaries %s" % c.client.call(
                {"cmd": "status"}).get("primaries"))
    if got:
        picture_equals_x(R, c, "picture: after the resize, equals xwd -root",
                         BIG)
    R.check("resize: the server logs the new size",
            wait_for(lambda: ("is now %dx%d" % BIG) in c.server.log(), 2.0),
            "" if ("is now %dx%d" % BIG) in c.server.log() else
            "\n" + base.tail(c.server.log()))
    if vnc_probe is not None:
        finish_vnc_resize_probe(R, c, vnc_probe, SMALL, BIG)

    # -- VNC: and back to SMALL ------------------------------------------------
    if c.vnc_port is None:
        return
    n_prim = len(c.client.call({"cmd": "status"}).get("primaries", []))
    vnc_probe = start_vnc_resize_probe(R, c, BIG)
    rc, out = run_x(env, "xrandr", "-s", "%dx%d" % SMALL)
    R.check("resize: xrandr -s %dx%d" % SMALL, rc == 0, out.strip())
    got = wait_for(lambda: [q for q in c.client.call({"cmd": "status"}).get(
        "primaries", [])[n_prim:] if (q[0], q[1]) == SMALL], 5.0)
    R.check("resize: the spice-gtk client gets a new %dx%d primary surface"
            % SMALL, bool(got), "primaries %s" % c.client.call(
                {"cmd": "status"}).get("primaries"))
    if vnc_probe is not None:
        finish_vnc_resize_probe(R, c, vnc_probe, BIG, SMALL)


class X11Server(base.Server):
    """`tessera serve --source x11:DISPLAY`."""

    def __init__(self, binary, workdir, display, extra):
        self.out_path = os.path.join(workdir, "tessera.stdout")
        self.err_path = os.path.join(workdir, "tessera.stderr")
        self.out_f = open(self.out_path, "wb")
        self.err_f = open(self.err_path, "wb")
        cmd = [binary, "--log-level", "debug", "serve",
               "--source", "x11:" + display,
               "--spice-port", "0", "--listen", "127.0.0.1"] + extra
        self.proc = subprocess.Popen(cmd, stdout=self.out_f,
                                     stderr=self.err_f,
                                     stdin=subprocess.DEVNULL)
        self.port = None
        self.exit_code = None


def setup_small_screen(env):
    """Shrinks the BIG Xvfb screen to SMALL with RandR. Returns None or why
    not. A mode made with --newmode lives as long as the server does
    (-noreset)."""
    name = "%dx%d" % SMALL
    w, h = SMALL
    for cmd in (["xrandr", "--newmode", name, "0", str(w), str(w), str(w),
                 str(w), str(h), str(h), str(h), str(h)],
                ["xrandr", "--addmode", "screen", name],
                ["xrandr", "-s", name]):
        rc, out = run_x(env, *cmd)
        if rc != 0:
            return "%s: rc %s %s" % (" ".join(cmd), rc, out.strip())
    rc, out = run_x(env, "xdpyinfo")
    m = re.search(r"dimensions:\s+(\d+)x(\d+) pixels", out)
    if not m or (int(m.group(1)), int(m.group(2))) != SMALL:
        return "xrandr -s %s left the screen at %s" % (
            name, m.group(0) if m else "?")
    return None


def stop_proc(p):
    if p is not None and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def main(argv):
    if len(argv) >= 2 and argv[1] == "--gi-client":
        gi_client_main(argv[2:])
        return 0
    binary = base.binary_from_argv(argv, ("/path/to/tessera_vnc_probe",))
    if binary is None:
        return 2
    probe = base.vnc_probe_path(argv, binary)

    R = base.Results()
    t0 = time.monotonic()
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        R.check("tools present (%s)" % ", ".join(TOOLS), False,
                "missing: %s" % ", ".join(missing))
        print("%d passed, %d failed" % (R.passed, R.failed))
        return 1

    workdir = tempfile.mkdtemp(prefix="tessera-x11-")
    c = Ctx()
    c.workdir = workdir
    c.client = c.server = c.xlib = None
    c.probe, c.vnc_port, c.probes = probe, None, []
    xserver = xterm = None
    try:
        xserver = XServer(workdir)
        if not R.check("Xvfb starts", xserver.proc is not None,
                       ":%s %dx%d" % (xserver.number, BIG[0], BIG[1])
                       if xserver.proc else xserver.log()):
            return 1
        env = dict(os.environ, DISPLAY=xserver.display, LC_ALL="C",
                   HOME=workdir)
        env.pop("XENVIRONMENT", None)
        env.pop("XAUTHORITY", None)
        c.env = env
        why = setup_small_screen(env)
        c.can_resize = why is None
        c.resize_note = why
        size = SMALL
        if why is not None:
            print("NOTE  RandR cannot change this Xvfb's size (%s); serving "
                  "%dx%d and skipping the resize check" % (why, BIG[0], BIG[1]))
            size = BIG
        if size != SMALL:
            R.check("screen is %dx%d" % SMALL, False, why)
            return 1

        c.out_file = os.path.join(workdir, "typed.txt")
        xterm = subprocess.Popen(
            ["xterm", "-name", "tesseraterm", "-fn", XTERM_FONT,
             "-geometry", XTERM_GEOMETRY, "-fg", XTERM_FG, "-bg", XTERM_BG,
             "+sb", "-xrm", "*cursorBlink: false",
             "-xrm", "*pointerShape: xterm", "-e", "tee", c.out_file],
            env=env, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(workdir, "xterm.log"), "wb"),
            stdin=subprocess.DEVNULL)
        rc, out = run_x(env, "xdotool", "search", "--sync", "--classname",
                        "tesseraterm", timeout=10)
        wids = out.split()
        if not R.check("xterm maps its window", rc == 0 and wids and
                       wait_for(lambda: os.path.exists(c.out_file), 5.0),
                       "rc %s %s" % (rc, out.strip())):
            return 1
        c.wid = wids[0]
        rc, out = run_x(env, "xdotool", "windowfocus", "--sync", c.wid)
        R.check("xterm gets the keyboard focus", rc == 0, out.strip())
        c.xterm_rect = xterm_rect(c)
        c.xlib = XLib(xserver.display)
        repeat_before = autorepeat(env)

        c.server = X11Server(binary, workdir, xserver.display,
                             ["--disable-ticketing", "--vnc-port", "0"])
        port = c.server.wait_ready(SERVER_START_TIMEOUT)
        if not R.check("server starts on %s and prints its port"
                       % xserver.display, port is not None,
                       "port %s" % port if port else
                       "\n" + base.tail(c.server.log())):
            return 1
        m = re.search(r"x11: capturing '([^']*)' at (\d+)x(\d+) \(([^)]*)\)",
                      c.server.log())
        R.check("server captures %s at %dx%d with MIT-SHM"
                % ((xserver.display,) + SMALL),
                m is not None and (int(m.group(2)), int(m.group(3))) == SMALL
                and m.group(4) == "MIT-SHM",
                m.group(0) if m else "\n" + base.tail(c.server.log()))
        vnc = wait_for(lambda: VNC_READY_RE.search(c.server.log()), 3.0)
        if R.check("server prints its VNC port (--vnc-port 0)", vnc,
                   vnc.group(0) if vnc else "\n" + base.tail(c.server.log())):
            c.vnc_port = int(vnc.group(1))
        if not R.check("tessera_vnc_probe (libvncclient) is there",
                       os.access(probe, os.X_OK), probe if os.access(
                           probe, os.X_OK) else "missing: %s (build target "
                       "tessera_vnc_probe; needs libvncserver-dev)" % probe):
            c.vnc_port = None
        c.client = GiClient(workdir, port)
        run_checks(R, c)

        c.client.close()
        c.client = None
        code = c.server.stop()
        R.check("server exits 0 on SIGTERM", code == 0,
                "" if code == 0 else "exit %s\n%s" % (
                    code, base.tail(c.server.log())))
        R.check("the X server's autorepeat is back %s after tessera exits"
                % repeat_before, autorepeat(env) == repeat_before,
                "xset q: auto repeat %s" % autorepeat(env))
    except Exception as e:  # a bug in this script is a failure too
        base.script_error(R, e)
    finally:
        if c.client is not None:
            try:
                c.client.close()
            except Exception:
                c.client.proc.kill()
        if c.server is not None and c.server.proc.poll() is None:
            c.server.proc.kill()
            c.server.proc.wait(timeout=5)
        for p in c.probes:
            p.kill()
        if c.xlib is not None:
            c.xlib.close()
        stop_proc(xterm)
        if xserver is not None:
            stop_proc(xserver.proc)
        print("(%.1f s)" % (time.monotonic() - t0))
        print("%d passed, %d failed" % (R.passed, R.failed))
        base.keep_if_failed(R, workdir)
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
