#!/usr/bin/python3
"""End-to-end test: stock SPICE clients against a Tessera server.

Usage:  /usr/bin/python3 spice_clients_test.py /path/to/tessera

Runs Debian's stock SPICE clients (spicy-screenshot and the spice-gtk client
library through GObject introspection) against `tessera serve --source
image:PNG` and checks that the picture they show equals the source PNG pixel
for pixel, over the LZ4 and the uncompressed-bitmap paths, with and without a
password. Prints one line per check and ends with "N passed, M failed"; exits
non-zero if any check failed.

Needs: /usr/bin/python3 with python3-gi, gir1.2-spiceclientglib-2.0 and
spice-client-gtk (spicy-screenshot). Use Debian's python3, which sees the
system's gi module.

The gi client runs in a subprocess (this script with the hidden first
argument --gi-client) so that a hang or crash inside GLib is bounded by a
timeout.
"""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

WIDTH, HEIGHT = 333, 217
PASSWORD = "s3cret-Tessera"
WRONG_PASSWORD = "not-the-password"
SERVER_START_TIMEOUT = 10.0
CLIENT_TIMEOUT = 25.0        # bound on one client subprocess
GI_LOOP_TIMEOUT = 15.0       # bound on the GLib main loop inside the gi client
SPICE_SURFACE_FMT_32_xRGB = 32  # spice-protocol enums.h
QUIET_MS = 400               # no invalidate for this long -> picture is complete


# ---------------------------------------------------------------------------
# gi client (runs in a subprocess)
# ---------------------------------------------------------------------------

def gi_session(host, port, result, state, loop, on_invalidate=None):
    """A spice-gtk session (GObject introspection) that follows display 0.

    Records channel events in result["events"] and the first error in
    result["error"] (then quits `loop` shortly after, so other channels can
    report); the primary surface in result["primary"], its pixels' address in
    state["data_ptr"] and the channel in state["display"]; counts
    display-invalidates in result["invalidates"], stamps the last one in
    state["last_inv"] and calls on_invalidate(now). A port of None leaves
    the plain port unset (a TLS-only session sets "tls-port" itself). The
    channel's GError message, if any, goes to result["error_messages"].
    Call session.connect().
    """
    from gi.repository import GLib, GObject, SpiceClientGLib

    session = SpiceClientGLib.Session()
    session.set_property("host", host)
    if port is not None:
        session.set_property("port", str(port))

    def on_channel_event(ch, event):
        nick = event.value_nick if hasattr(event, "value_nick") else str(event)
        result["events"].append([type(ch).__name__, nick])
        try:
            err = ch.get_error()
        except Exception:  # spice_channel_get_error() missing: no detail
            err = None
        if err is not None:
            result.setdefault("error_messages", []).append(
                [type(ch).__name__, err.message])
        if event in (SpiceClientGLib.ChannelEvent.ERROR_AUTH,
                     SpiceClientGLib.ChannelEvent.ERROR_CONNECT,
                     SpiceClientGLib.ChannelEvent.ERROR_LINK,
                     SpiceClientGLib.ChannelEvent.ERROR_IO,
                     SpiceClientGLib.ChannelEvent.ERROR_TLS):
            if result["error"] is None:
                result["error"] = nick
            # Give other channels a moment to report, then stop.
            GLib.timeout_add(300, lambda: (loop.quit(), False)[1])

    def on_primary_create(ch, fmt, width, height, stride, shmid, imgdata):
        result["primary"] = {"format": int(fmt), "width": width,
                             "height": height, "stride": stride}
        state["data_ptr"] = imgdata

    def on_inv(ch, x, y, w, h):
        now = time.monotonic()
        result["invalidates"] += 1
        state["last_inv"] = now
        if on_invalidate is not None:
            on_invalidate(now)

    def on_channel_new(sess, ch):
        GObject.Object.connect(ch, "channel-event", on_channel_event)
        if isinstance(ch, SpiceClientGLib.DisplayChannel):
            if ch.get_property("channel-id") != 0:
                return
            state["display"] = ch
            GObject.Object.connect(ch, "display-primary-create",
                                   on_primary_create)
            GObject.Object.connect(ch, "display-invalidate", on_inv)
            SpiceClientGLib.Channel.connect(ch)

    GObject.Object.connect(session, "channel-new", on_channel_new)
    return session


GI_CLIENT_OPTIONS = ("--password", "--compression", "--tls-port", "--ca-file",
                     "--cert-subject", "--verify", "--username",
                     "--secure-channels", "--cache-size", "--glz-window-size")


def gi_client_main(argv):
    """--gi-client HOST PORT OUT_PREFIX [--password P] [--compression NAME]
                   [--tls-port N] [--ca-file F] [--cert-subject S]
                   [--verify FLAGS] [--username U] [--secure-channels LIST]

    PORT "-" means no plain port. --verify takes a comma list of
    SpiceSessionVerify nicks (pubkey, hostname, subject) and replaces the
    session's flags (setting cert-subject alone adds "subject" to the default
    "hostname"; a wrong subject then fails even where the host name
    matches). --secure-channels takes a comma list of channel names (or
    "all").

    Writes OUT_PREFIX.json (what happened) and, if a primary surface was
    created and drawn, OUT_PREFIX.raw (stride*height bytes of the surface).
    """
    import ctypes
    import gi
    gi.require_version("SpiceClientGLib", "2.0")
    from gi.repository import GLib, SpiceClientGLib

    host, port, prefix = argv[0], argv[1], argv[2]
    if port == "-":
        port = None
    rest = argv[3:]
    opts = {}
    while rest:
        if rest[0] in GI_CLIENT_OPTIONS and len(rest) >= 2:
            opts[rest[0][2:]] = rest[1]
            rest = rest[2:]
        else:
            raise SystemExit("gi client: unknown argument %r" % rest[0])
    password = opts.get("password")
    compression = opts.get("compression")

    result = {
        "events": [],            # [channel type name, event nick]
        "primary": None,         # dict from display-primary-create
        "invalidates": 0,
        "complete": False,       # quiet period reached after >=1 invalidate
        "timed_out": False,
        "error": None,
        "display_read_bytes": None,
    }
    loop = GLib.MainLoop()
    state = {"last_inv": None, "display": None, "data_ptr": None, "raw": None}

    session = gi_session(host, port, result, state, loop)
    if password is not None:
        session.set_property("password", password)
    for name in ("tls-port", "ca-file", "cert-subject", "username"):
        if name in opts:
            session.set_property(name, opts[name])
    for name in ("cache-size", "glz-window-size"):
        if name in opts:
            session.set_property(name, int(opts[name]))
    if "verify" in opts:
        flags = 0
        for nick in filter(None, opts["verify"].split(",")):
            flags |= getattr(SpiceClientGLib.SessionVerify, nick.upper())
        session.set_property("verify", SpiceClientGLib.SessionVerify(flags))
    if "secure-channels" in opts:
        session.set_property("secure-channels",
                             opts["secure-channels"].split(","))
    if compression is not None:
        # SpiceImageCompress is not in the typelib: reach it through the
        # property's GParamSpec and pick the value by its nick.
        pspec = session.find_property("preferred-compression")
        cls = type(pspec.default_value)
        values = {v.value_nick: v for v in cls.__enum_values__.values()}
        if compression not in values:
            raise SystemExit("gi client: compression must be one of %s"
                             % sorted(values))
        session.set_property("preferred-compression", values[compression])

    def tick():
        li = state["last_inv"]
        if li is not None and (time.monotonic() - li) * 1000 >= QUIET_MS:
            p = result["primary"]
            if p is not None and state["data_ptr"]:
                state["raw"] = ctypes.string_at(state["data_ptr"],
                                                p["stride"] * p["height"])
            result["complete"] = True
            loop.quit()
            return False
        return True

    def overall_timeout():
        result["timed_out"] = True
        loop.quit()
        return False

    GLib.timeout_add(50, tick)
    GLib.timeout_add(int(GI_LOOP_TIMEOUT * 1000), overall_timeout)
    if not session.connect():
        result["error"] = "session.connect() returned FALSE"
    else:
        loop.run()
    if state["display"] is not None:
        try:
            result["display_read_bytes"] = int(
                state["display"].get_property("total-read-bytes"))
        except Exception:  # property missing on old spice-gtk
            result["display_read_bytes"] = None
    if state["raw"] is not None:
        with open(prefix + ".raw", "wb") as f:
            f.write(state["raw"])
    with open(prefix + ".json", "w") as f:
        json.dump(result, f)
    try:
        session.disconnect()
    except Exception:
        pass
    sys.stdout.flush()
    # Skip GLib teardown: we have what we need.
    os._exit(0)


# ---------------------------------------------------------------------------
# Image generation and file formats
# ---------------------------------------------------------------------------

def make_image(w, h):
    """Deterministic RGB picture: flat blocks, gradients, and LCG noise.

    Returns a list of rows, each a bytes object of 3*w (R,G,B)."""
    rows = []
    seed = 0x1234567
    for y in range(h):
        row = bytearray(3 * w)
        for x in range(w):
            if y < h // 3:
                # Flat coloured bands (compress well).
                band = (x * 5) // w
                r, g, b = [(255, 0, 0), (0, 255, 0), (0, 0, 255),
                           (255, 255, 255), (17, 34, 51)][band]
            elif y < (2 * h) // 3 and x < w // 2:
                # Noise (does not compress).
                seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
                r = (seed >> 16) & 0xFF
                seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
                g = (seed >> 16) & 0xFF
                seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
                b = (seed >> 16) & 0xFF
            elif y < (2 * h) // 3:
                # Gradient with a checker.
                r = (x * 255) // (w - 1)
                g = (y * 255) // (h - 1)
                b = 200 if ((x // 7) + (y // 5)) % 2 else 40
            else:
                # Flat grey with a diagonal noisy stripe.
                if abs((x - (y - 2 * h // 3) * 3) % 97) < 9:
                    seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
                    v = (seed >> 8) & 0xFFFFFF
                    r, g, b = v >> 16, (v >> 8) & 0xFF, v & 0xFF
                else:
                    r, g, b = 128, 128, 128
            row[3 * x:3 * x + 3] = bytes((r, g, b))
        rows.append(bytes(row))
    # Single-pixel markers at the corners (catch off-by-one / flips).
    for (x, y, c) in ((0, 0, (1, 2, 3)), (w - 1, 0, (250, 4, 5)),
                      (0, h - 1, (6, 251, 7)), (w - 1, h - 1, (8, 9, 252))):
        row = bytearray(rows[y])
        row[3 * x:3 * x + 3] = bytes(c)
        rows[y] = bytes(row)
    return rows


def write_png(path, w, h, rows):
    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data +
                struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + r for r in rows)
    png = (b"\x89PNG\r\n\x1a\n" +
           chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(raw, 9)) +
           chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def read_png_rgb(path):
    """Minimal reader for what write_png writes (8-bit RGB, filter 0)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    w = h = None
    while pos < len(data):
        n, = struct.unpack(">I", data[pos:pos + 4])
        tag = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = 1 + 3 * w
    return w, h, [raw[y * stride + 1:(y + 1) * stride] for y in range(h)]


def read_any_png_rgb(path):
    """8-bit RGB PNG with any row filters (what libpng writes)."""
    with open(path, "rb") as f:
        data = f.read()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype == 2, "expected 8-bit RGB"
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    bpp, stride = 3, 3 * w
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows


def read_ppm(path):
    """Parse a binary P6 PPM with maxval 255. Returns (w, h, rows)."""
    with open(path, "rb") as f:
        data = f.read()
    tokens = []
    pos = 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            while pos < len(data) and data[pos:pos + 1] != b"\n":
                pos += 1
            continue
        start = pos
        while pos < len(data) and not data[pos:pos + 1].isspace():
            pos += 1
        tokens.append(data[start:pos])
    pos += 1  # single whitespace after maxval
    if tokens[0] != b"P6":
        raise ValueError("not a P6 PPM: %r" % tokens[0])
    w, h, maxval = int(tokens[1]), int(tokens[2]), int(tokens[3])
    if maxval != 255:
        raise ValueError("unsupported maxval %d" % maxval)
    pix = data[pos:pos + 3 * w * h]
    if len(pix) != 3 * w * h:
        raise ValueError("truncated PPM: %d of %d bytes" % (len(pix), 3 * w * h))
    return w, h, [pix[y * 3 * w:(y + 1) * 3 * w] for y in range(h)]


def bgrx_to_rows(raw, w, h, stride):
    rows = []
    for y in range(h):
        line = raw[y * stride:y * stride + 4 * w]
        row = bytearray(3 * w)
        row[0::3] = line[2::4]
        row[1::3] = line[1::4]
        row[2::3] = line[0::4]
        rows.append(bytes(row))
    return rows


def compare_rows(src, got, w, h):
    """Returns (differing pixel count, first mismatch description or None)."""
    diff = 0
    first = None
    for y in range(h):
        a, b = src[y], got[y]
        if a == b:
            continue
        for x in range(w):
            pa, pb = a[3 * x:3 * x + 3], b[3 * x:3 * x + 3]
            if pa != pb:
                diff += 1
                if first is None:
                    first = "(%d,%d) expected rgb%s got rgb%s" % (
                        x, y, tuple(pa), tuple(pb))
    return diff, first


# ---------------------------------------------------------------------------
# Test harness
# ---------------------------------------------------------------------------

class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS  %s%s" % (name, (": " + detail) if detail else ""))
        else:
            self.failed += 1
            print("FAIL  %s%s" % (name, (": " + detail) if detail else ""))
        sys.stdout.flush()
        return ok


class Server:
    """A `tessera serve` process; stdout and stderr go to files."""

    READY_RE = re.compile(rb"spice://127\.0\.0\.1:(\d+)")

    def __init__(self, binary, workdir, name, image, extra):
        self.out_path = os.path.join(workdir, name + ".stdout")
        self.err_path = os.path.join(workdir, name + ".stderr")
        self.out_f = open(self.out_path, "wb")
        self.err_f = open(self.err_path, "wb")
        source = image if image == "demo" or image.startswith("trace:") else "image:" + image
        cmd = [binary, "--log-level", "debug", "serve",
               "--source", source,
               "--spice-port", "0", "--listen", "127.0.0.1"] + extra
        self.proc = subprocess.Popen(cmd, stdout=self.out_f,
                                     stderr=self.err_f,
                                     stdin=subprocess.DEVNULL)
        self.port = None
        self.exit_code = None

    def wait_ready(self, timeout=SERVER_START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out_path, "rb") as f:
                m = self.READY_RE.search(f.read())
            if m:
                self.port = int(m.group(1))
                return self.port
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def log(self):
        with open(self.err_path, "rb") as f:
            err = f.read()
        with open(self.out_path, "rb") as f:
            out = f.read()
        return (out + err).decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                self.exit_code = "killed (no exit within 5 s of SIGTERM)"
        elif self.exit_code is None:
            self.exit_code = self.proc.returncode
        self.out_f.close()
        self.err_f.close()
        return self.exit_code


def tail(text, n=15):
    lines = text.rstrip().splitlines()
    return "\n".join("      | " + l for l in lines[-n:])


def run_gi_client(workdir, name, port, password=None, compression=None,
                  host="127.0.0.1", env=None, **session):
    """Runs the gi client (gi_client_main) in a subprocess.

    port None: no plain port. `session` takes the other gi_client_main
    options by keyword, "-" as "_" (tls_port, ca_file, cert_subject,
    verify, username, secure_channels). `env` entries are added to (or, with
    the value None, removed from) this process's environment for the client.
    Returns (result dict or None, raw surface bytes or None, client output).
    """
    prefix = os.path.join(workdir, name)
    cmd = [sys.executable, os.path.abspath(__file__), "--gi-client",
           host, "-" if port is None else str(port), prefix]
    if password is not None:
        cmd += ["--password", password]
    if compression is not None:
        cmd += ["--compression", compression]
    for key, value in session.items():
        opt = "--" + key.replace("_", "-")
        if opt not in GI_CLIENT_OPTIONS:
            raise TypeError("run_gi_client: unknown option %r" % key)
        if value is not None:
            cmd += [opt, str(value)]
    child_env = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    env = child_env
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=CLIENT_TIMEOUT, env=env)
        out = p.stdout.decode("utf-8", "replace")
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return None, None, "gi client timed out after %ss\n%s" % (
            CLIENT_TIMEOUT, tail(out))
    try:
        with open(prefix + ".json") as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None, None, "gi client rc=%s wrote no result\n%s" % (rc, tail(out))
    raw = None
    if os.path.exists(prefix + ".raw"):
        with open(prefix + ".raw", "rb") as f:
            raw = f.read()
    return res, raw, out


def check_gi_picture(R, label, src, res, raw, out, size=None):
    """Checks that a gi client run produced exactly the source picture
    (WIDTH x HEIGHT unless `size` says otherwise)."""
    width, height = size or (WIDTH, HEIGHT)
    if res is None:
        R.check(label + ": gi client picture", False, out)
        return False
    p = res["primary"]
    if p is None or raw is None or not res["complete"]:
        R.check(label + ": gi client picture", False,
                "no complete picture (primary=%s invalidates=%d complete=%s "
                "timed_out=%s error=%s events=%s)\n%s" % (
                    p, res["invalidates"], res["complete"], res["timed_out"],
                    res["error"], res["events"], tail(out)))
        return False
    if (p["width"], p["height"]) != (width, height):
        R.check(label + ": gi client picture", False,
                "surface %dx%d, expected %dx%d" % (
                    p["width"], p["height"], width, height))
        return False
    if p["format"] != SPICE_SURFACE_FMT_32_xRGB:
        R.check(label + ": gi client picture", False,
                "surface format %d, expected %d (32_xRGB)" % (
                    p["format"], SPICE_SURFACE_FMT_32_xRGB))
        return False
    if p["stride"] < 4 * width or len(raw) < p["stride"] * height:
        R.check(label + ": gi client picture", False,
                "bad stride %d / %d bytes" % (p["stride"], len(raw)))
        return False
    got = bgrx_to_rows(raw, width, height, p["stride"])
    diff, first = compare_rows(src, got, width, height)
    return R.check(label + ": gi client picture is exact", diff == 0,
                   "%dx%d, %d invalidate(s), %s display bytes" % (
                       width, height, res["invalidates"],
                       res["display_read_bytes"]) if diff == 0 else
                   "%d of %d pixels differ, first %s" % (
                       diff, WIDTH * height, first))


def run_spicy_screenshot(out_path, port, password=None, timeout=15):
    if os.path.exists(out_path):
        os.unlink(out_path)
    cmd = ["spicy-screenshot", "-h", "127.0.0.1", "-p", str(port),
           "-o", out_path]
    if password is not None:
        cmd += ["-w", password]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return "timeout", (e.stdout or b"").decode("utf-8", "replace")


def cache_trace(workdir, frames=600, cols=6, rows=4, tile=64, patterns=24):
    """Writes a trace (frame-NNNNNN.png) whose tiles change to one of `patterns`
    noise patterns, a few at a time and never two neighbours at once; returns
    (directory, last frame rows, number of tile changes)."""
    import random
    rng = random.Random(5)
    pats = []
    for p in range(patterns):
        prng = random.Random(1000 + p)
        pats.append([bytes(prng.randrange(256) for _ in range(3 * tile))
                     for _ in range(tile)])
    w, h = cols * tile, rows * tile
    shown = [0] * (cols * rows)
    d = os.path.join(workdir, "cache-trace")
    os.makedirs(d, exist_ok=True)
    changes = 0
    for n in range(frames):
        if n:
            for i in range(cols * rows):
                c, r = i % cols, i // cols
                if (c + r) % 2 != n % 2 or rng.random() < 0.5:
                    continue
                p = rng.randrange(6) if rng.random() < 0.6 else rng.randrange(patterns)
                if p != shown[i]:
                    shown[i] = p
                    changes += 1
        rows_out = []
        for y in range(h):
            r, ty = y // tile, y % tile
            rows_out.append(b"".join(pats[shown[r * cols + c]][ty] for c in range(cols)))
        write_png(os.path.join(d, "frame-%06d.png" % n), w, h, rows_out)
    return d, rows_out, changes


def cache_scenario(R, binary, workdir, servers):
    label = "cache"
    d, last, changes = cache_trace(workdir)
    s = start_server(R, label, binary, workdir, "trace:" + d,
                     ["--disable-ticketing", "--fps", "60", "--frames", "600",
                      "--video-codec", "off"], servers)
    if not s:
        return
    res, raw, out = run_gi_client(workdir, "gi-cache", s.port,
                                  cache_size=12 * 64 * 64 * 4)
    check_gi_picture(R, "cache: the last of 600 frames (%d tile changes), "
                     "through a 12-tile client cache" % changes, last, res,
                     raw, out, size=(6 * 64, 4 * 64))
    stop_server(R, label, s)
    m = re.search(r"(\d+) from the client's cache\), .*? (\d+) cached images dropped",
                  s.log())
    R.check("cache: images came from the client's cache and were evicted "
            "from it", m is not None and int(m.group(1)) > 200 and
            int(m.group(2)) > 200,
            m.group(0) if m else "no display statistics\n" + tail(s.log()))

    # The same trace as GLZ only, no pixmap cache, and a GLZ window of ten tiles: matches
    # into earlier images all along while the window keeps dropping the oldest. A reference
    # past the window would stall spice-gtk's decoder (the picture would not arrive).
    label = "glz"
    s = start_server(R, label, binary, workdir, "trace:" + d,
                     ["--disable-ticketing", "--fps", "60", "--frames", "600",
                      "--video-codec", "off", "--image-codec", "glz"], servers)
    if not s:
        return
    res, raw, out = run_gi_client(workdir, "gi-glz", s.port, cache_size=4,
                                  glz_window_size=10 * 64 * 64 * 4)
    check_gi_picture(R, "glz: the last of 600 frames through a ten-tile GLZ "
                     "window", last, res, raw, out, size=(6 * 64, 4 * 64))
    stop_server(R, label, s)
    m = re.search(r"\((\d+) LZ4, (\d+) palette, (\d+) GLZ, (\d+) from the client's cache\)",
                  s.log())
    R.check("glz: the images went as GLZ", m is not None and int(m.group(3)) > 1000 and
            int(m.group(4)) == 0, m.group(0) if m else "no display statistics\n" + tail(s.log()))
    if res:
        # Noise tiles have nothing to match within themselves: as literals they would cost
        # 3 bytes a pixel; a quarter less can only come from matches into earlier images.
        R.check("glz: matches into earlier images (a quarter below 3 bytes a pixel)",
                (res.get("display_read_bytes") or 1e12) < changes * 64 * 64 * 3 * 3 // 4,
                "%s display bytes for %d tile changes of %d pixels" % (
                    res.get("display_read_bytes"), changes, 64 * 64))


def start_server(R, label, binary, workdir, image, extra, servers):
    s = Server(binary, workdir, label, image, extra)
    servers.append(s)
    port = s.wait_ready()
    R.check("%s: server starts and prints its port" % label, port is not None,
            "port %s" % port if port else
            "no 'spice://127.0.0.1:PORT' line\n" + tail(s.log()))
    return s if port else None


def stop_server(R, label, s):
    code = s.stop()
    R.check("%s: server exits 0 on SIGTERM" % label, code == 0,
            "" if code == 0 else "exit %s\n%s" % (code, tail(s.log())))



# ---------------------------------------------------------------------------
# The end of every e2e script: what a failed script, its servers and its work
# folder need, whatever else it started.
# ---------------------------------------------------------------------------

def script_error(R, e):
    """A bug in a test script is a failure too."""
    import traceback
    R.check("test script ran without an exception", False,
            "%s\n%s" % (e, traceback.format_exc()))


def kill_servers(servers):
    """Kills every server still running and closes its log files."""
    for s in servers:
        if s.proc.poll() is None:
            s.proc.kill()
            try:
                s.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for f in (getattr(s, "out_f", None), getattr(s, "err_f", None)):
            if f is not None and not f.closed:
                f.close()


def keep_if_failed(R, workdir):
    """Removes the work folder, or keeps it (and says where) when a check failed."""
    if R.failed == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print("(kept %s for inspection)" % workdir)


def tally(R, t0):
    """Prints the time and the count; returns the exit status."""
    print("(%.1f s)" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (R.passed, R.failed))
    return 1 if R.failed else 0



def binary_from_argv(argv, extra_args=()):
    """The tessera binary named first on the command line (optional `extra_args` may follow);
    None, after a usage line, when the arguments are wrong or it is not an executable."""
    if not 2 <= len(argv) <= 2 + len(extra_args):
        print("usage: %s /path/to/tessera%s"
              % (argv[0], "".join(" [%s]" % a for a in extra_args)), file=sys.stderr)
        return None
    binary = os.path.abspath(argv[1])
    if not os.access(binary, os.X_OK):
        print("not an executable: %s" % binary, file=sys.stderr)
        return None
    return binary


def vnc_probe_path(argv, binary):
    """The libvncclient probe: the second argument, $TESSERA_VNC_PROBE, or next to tessera."""
    if len(argv) == 3:
        return os.path.abspath(argv[2])
    return os.environ.get("TESSERA_VNC_PROBE") or \
        os.path.join(os.path.dirname(binary), "tessera_vnc_probe")


def main(argv):
    if len(argv) >= 2 and argv[1] == "--gi-client":
        gi_client_main(argv[2:])
        return 0
    binary = binary_from_argv(argv)
    if binary is None:
        return 2

    R = Results()
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="tessera-e2e-")
    servers = []
    try:
        # 1. Source image.
        src = make_image(WIDTH, HEIGHT)
        image = os.path.join(workdir, "source.png")
        write_png(image, WIDTH, HEIGHT, src)
        w, h, back = read_png_rgb(image)
        R.check("source PNG %dx%d written and reads back" % (WIDTH, HEIGHT),
                (w, h) == (WIDTH, HEIGHT) and back == src)
        flat = sum(1 for r in src for i in range(0, len(r), 3)
                   if r[i:i + 3] == b"\x80\x80\x80")
        R.check("source has flat and noisy areas",
                len(zlib.compress(b"".join(src[:HEIGHT // 3]))) <
                len(b"".join(src[:HEIGHT // 3])) // 10 and
                len(zlib.compress(b"".join(
                    r[:3 * (WIDTH // 2)] for r in
                    src[HEIGHT // 3:2 * HEIGHT // 3]))) >
                0.9 * (3 * (WIDTH // 2) * (2 * HEIGHT // 3 - HEIGHT // 3)),
                "%d flat grey pixels" % flat)

        # 2 + 3. No password: spicy-screenshot, gi (LZ4), gi with
        # preferred-compression.
        label = "open"
        s = start_server(R, label, binary, workdir, image,
                         ["--disable-ticketing"], servers)
        lz4_bytes = None
        if s:
            ppm = os.path.join(workdir, "shot.ppm")
            rc, out = run_spicy_screenshot(ppm, s.port)
            if R.check("open: spicy-screenshot writes a picture",
                       os.path.exists(ppm),
                       "" if os.path.exists(ppm) else
                       "rc=%s\n%s" % (rc, tail(out))):
                try:
                    pw, ph, prow = read_ppm(ppm)
                    if (pw, ph) != (WIDTH, HEIGHT):
                        R.check("open: spicy-screenshot picture is exact",
                                False, "size %dx%d, expected %dx%d" % (
                                    pw, ph, WIDTH, HEIGHT))
                    else:
                        diff, first = compare_rows(src, prow, WIDTH, HEIGHT)
                        R.check("open: spicy-screenshot picture is exact",
                                diff == 0,
                                "%dx%d" % (WIDTH, HEIGHT) if diff == 0 else
                                "%d of %d pixels differ, first %s" % (
                                    diff, WIDTH * HEIGHT, first))
                except ValueError as e:
                    R.check("open: spicy-screenshot picture is exact", False,
                            "bad PPM: %s" % e)

            res, raw, out = run_gi_client(workdir, "gi-open", s.port)
            if check_gi_picture(R, "open (LZ4 advertised)", src, res, raw,
                                out):
                lz4_bytes = res["display_read_bytes"]

            for comp in ("off", "lz4", "quic"):
                res, raw, out = run_gi_client(workdir, "gi-open-" + comp,
                                              s.port, compression=comp)
                check_gi_picture(R, "open (preferred-compression=%s)" % comp,
                                 src, res, raw, out)
            stop_server(R, label, s)

        # 3b. --no-lz4: uncompressed bitmap path.
        label = "no-lz4"
        s = start_server(R, label, binary, workdir, image,
                         ["--disable-ticketing", "--no-lz4"], servers)
        if s:
            res, raw, out = run_gi_client(workdir, "gi-nolz4", s.port)
            if check_gi_picture(R, "no-lz4", src, res, raw, out):
                plain = res["display_read_bytes"]
                if lz4_bytes is not None and plain is not None:
                    R.check("LZ4 path sends fewer display bytes than "
                            "--no-lz4", lz4_bytes < plain,
                            "%d vs %d bytes" % (lz4_bytes, plain))
            stop_server(R, label, s)

        # 4 + 5. Password.
        label = "password"
        pwfile = os.path.join(workdir, "password")
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(PASSWORD + "\n")
        s = start_server(R, label, binary, workdir, image,
                         ["--password-file", pwfile], servers)
        if s:
            # (b) wrong password with the gi client.
            res, raw, out = run_gi_client(workdir, "gi-wrongpw", s.port,
                                          password=WRONG_PASSWORD)
            if res is None:
                R.check("password: gi client with a wrong password is "
                        "refused", False, out)
            else:
                R.check("password: gi client with a wrong password gets "
                        "ERROR_AUTH on the main channel",
                        ["MainChannel", "error-auth"] in res["events"],
                        "events %s, timed_out=%s" % (res["events"],
                                                     res["timed_out"]))
                R.check("password: no display surface with a wrong "
                        "password", res["primary"] is None and raw is None,
                        "primary=%s invalidates=%d" % (
                            res["primary"], res["invalidates"]))
            time.sleep(0.2)
            R.check("password: server logs the wrong password",
                    "authentication failed: wrong password" in s.log(),
                    "" if "authentication failed: wrong password" in s.log()
                    else "\n" + tail(s.log()))
            # (c) wrong password with spicy-screenshot.
            ppm = os.path.join(workdir, "shot-wrongpw.ppm")
            rc, out = run_spicy_screenshot(ppm, s.port,
                                           password=WRONG_PASSWORD,
                                           timeout=10)
            R.check("password: spicy-screenshot with a wrong password "
                    "writes nothing", not os.path.exists(ppm),
                    "rc=%s" % rc if not os.path.exists(ppm) else
                    "it wrote %s\n%s" % (ppm, tail(out)))
            # (a)/5 right password afterwards: server still serving.
            R.check("password: server still running after wrong passwords",
                    s.proc.poll() is None,
                    "" if s.proc.poll() is None else
                    "exit %s\n%s" % (s.proc.poll(), tail(s.log())))
            res, raw, out = run_gi_client(workdir, "gi-rightpw", s.port,
                                          password=PASSWORD)
            check_gi_picture(R, "password (right password after wrong "
                             "ones)", src, res, raw, out)
            ppm = os.path.join(workdir, "shot-rightpw.ppm")
            rc, out = run_spicy_screenshot(ppm, s.port, password=PASSWORD)
            ok = os.path.exists(ppm)
            detail = "rc=%s\n%s" % (rc, tail(out))
            if ok:
                pw, ph, prow = read_ppm(ppm)
                diff, first = (compare_rows(src, prow, WIDTH, HEIGHT)
                               if (pw, ph) == (WIDTH, HEIGHT)
                               else (WIDTH * HEIGHT, "size %dx%d" % (pw, ph)))
                ok = diff == 0
                detail = "%dx%d" % (WIDTH, HEIGHT) if ok else \
                    "%d pixels differ, first %s" % (diff, first)
            R.check("password: spicy-screenshot with the right password "
                    "is exact", ok, detail)
            stop_server(R, label, s)
        # 7. The client's pixmap cache: a recorded trace whose 64x64 tiles keep coming back
        # (photo-like noise, so only the cache can spare sending them again), through a
        # cache of 12 tiles that the client announces: thousands of images, hits and
        # evictions all along, and the last frame exact.
        cache_scenario(R, binary, workdir, servers)

        # 6. The live demo desktop: 60 frames of scrolling text, video and pointer, then still.
        # The client must show frame 59 exactly, having applied our COPY_BITS (scrolls),
        # LZ4 and bitmap draws in order.
        label = "demo"
        ref = os.path.join(workdir, "demo-59.png")
        subprocess.run([binary, "snapshot", "--source", "demo", "--size", "480x320",
                        "--frame", "59", "--out", ref], check=True,
                       stdout=subprocess.DEVNULL, timeout=30)
        dw, dh, drows = read_any_png_rgb(ref)
        s = start_server(R, label, binary, workdir, "demo",
                         ["--disable-ticketing", "--size", "480x320", "--fps", "30",
                          "--frames", "60"], servers)
        if s:
            res, raw, out = run_gi_client(workdir, "gi-demo", s.port)
            p = res and res["primary"]
            if not p or raw is None:
                R.check("demo: gi client picture", False, out)
            else:
                got = bgrx_to_rows(raw, dw, dh, p["stride"])
                diff, first = compare_rows(drows, got, dw, dh)
                R.check("demo: after 60 live frames the client shows frame 59 exactly",
                        (p["width"], p["height"]) == (dw, dh) and diff == 0,
                        "%d invalidates" % res["invalidates"] if diff == 0 else
                        "%d of %d pixels differ, first %s" % (diff, dw * dh, first))
            time.sleep(0.3)
            m = re.search(r"sent \d+ updates: .*? (\d+) copy-bits", s.log())
            R.check("demo: scrolls went as COPY_BITS", m is not None and int(m.group(1)) > 0,
                    m.group(0) if m else "no display statistics in the log\n" + tail(s.log()))
            stop_server(R, label, s)
    except Exception as e:  # a bug in this script is a failure too
        script_error(R, e)
    finally:
        kill_servers(servers)
        keep_if_failed(R, workdir)

    return tally(R, t0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
