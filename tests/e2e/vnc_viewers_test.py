#!/usr/bin/python3
"""End-to-end test: stock VNC viewers against Tessera's VNC server.

Usage:  /usr/bin/python3 vnc_viewers_test.py /path/to/tessera
        /usr/bin/python3 vnc_viewers_test.py --reference-xvnc /path/to/tessera

Two stock viewers show what `tessera serve ... --vnc-port 0` sends, and the
pictures they show are compared with the source:

  TigerVNC vncviewer 1.12 (Debian tigervnc-viewer), full screen under an Xvfb
  exactly the size of the picture; the screen is read with xwd every 50 ms
  until it equals the source PNG pixel for pixel. (TigerVNC lays its "Press
  F8" box over the middle of the picture from about 0.6 s to 4.6 s after it
  starts: a picture that is complete before then is caught before it, a
  later one after it.) Security None, VncAuth (-PasswordFile from `vncpasswd
  -f`), X509Vnc and X509None (-X509CA, our test CA) and TLSVnc (anonymous
  TLS), each checked in the viewer's log; lossless paths -NoJPEG with ZRLE and
  with Tight, and the viewer's default settings (Tight with JPEG quality 8
  allowed: a still picture must stay lossless all the same). A wrong
  password must be refused: the viewer (-AlertOnFatalError=0) exits by itself
  (with status 0: TigerVNC 1.12 does) and logs "Authentication failure", the
  server logs it and keeps serving.

  noVNC 1.7 (npm @novnc/novnc) in Debian's headless Chromium, driven by npm
  playwright-core (tests/e2e/novnc/driver.mjs, one browser for all
  sessions), through Debian's websockify; the page reads noVNC's canvas with
  getImageData. A still picture must be exact with everything noVNC offers
  (H.264, JPEG, quality level 6), with quality level 9, with JPEG and H.264
  taken out of its SetEncodings, with Tight (7) taken out (the server then
  picks TightPNG, -260: noVNC's TightPNG decoder, PNG sub-rects, no JPEG),
  with Raw alone, with Hextile + CopyRect alone and with ZRLE + CopyRect
  alone (the rects must be of the encodings left); VNC authentication right
  and wrong; X509Vnc (noVNC has no TLS sub-type) refused without harm to the
  server. The demo desktop (a scrolling terminal and a window of moving
  plasma) is then watched three times, with H.264 (encoding 50, decoded by
  WebCodecs), with H.264 taken out (Tight JPEG) and with H.264 and Tight
  taken out (TightPNG: JPEG for motion, PNG for the rest). While it plays,
  the picture outside every
  rect that was ever drawn lossy must equal a source frame (rendered with
  `tessera snapshot`) exactly, and the video window's luma PSNR against the
  best-matching source frame must be >= 30 dB (RGB >= 27 dB); once the demo
  stops (--frames N), the whole picture must equal its last frame exactly
  (the lossless repaint after motion). With H.264, every new decoder context
  must start with an IDR picture and every picture must be one slice (noVNC
  1.7's parser ends a WebCodecs chunk at each slice NAL: a picture in two
  slices decodes green). A start case watches the demo's video resume after
  its pause: no H.264 frame is decoded while it is still, the first one after
  the resume reaches noVNC's display within 3 frames of the capture of the
  first changed frame, and the picture around it stays exact.

The page counts rects per encoding (noVNC's decoders, wrapped from outside),
Tight's and TightPNG's sub-rects per kind (fill, JPEG, PNG, zlib), decoded
H.264 frames and the NAL units of each H.264 rect, and records every
SetEncodings list; encodings are forbidden by taking them out of that list
(noVNC has no option for it): H.264 = 50, JPEG = 21 and the quality levels
-32..-23, Tight = 7. noVNC offers 50 only where WebCodecs decodes its test
frame (headless Chromium does).

Keyboard and pointer input from the viewers is not checked here: the server
logs no input event at any level (transport/vnc/vnc_connection.cpp key() and
handle_pointer() only hand events to the source) and neither source (demo,
image) reacts to input, so nothing a test can see changes.

--reference-xvnc proves the harness itself against TigerVNC's Xvnc
(tigervnc-standalone-server) serving the same picture on its root window: the
TigerVNC and noVNC still-picture cases and the security types run against it
(tessera is still needed for tessera_test_pki); where Xvnc sends JPEG for a
still picture (it does with a quality level) the exactness checks become
notes, as does the TightPNG check (Xvnc has no TightPNG), and the demo
cases are replaced by a check that headless Chromium decodes H.264 through
WebCodecs and noVNC offers encoding 50.

npm packages: tests/e2e/novnc/package.json and package-lock.json (pinned) are
installed with `npm ci` into e2e-novnc/ next to the tessera binary (the build
folder) on the first run and reused while the lock file is unchanged; set
TESSERA_NOVNC_NODE_MODULES to a node_modules folder that holds @novnc/novnc
and playwright-core to skip npm (offline CI). Nothing is vendored.

Prints one line per check and ends with "N passed, M failed"; exits non-zero
if any check failed, a missing tool included.

Needs: Debian's /usr/bin/python3; xvfb, x11-apps (xwd), tigervnc-viewer,
tigervnc-tools (vncpasswd), websockify, chromium, nodejs + npm; with
--reference-xvnc also tigervnc-standalone-server and imagemagick (display).
"""

import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import spice_clients_test as base  # noqa: E402  (Results, Server, PNG, compare)
import spice_video_test as sv      # noqa: E402  (demo frames, PSNR, T0)

WIDTH, HEIGHT = 517, 301           # the still picture (odd: partial tiles)
PASSWORD = base.PASSWORD           # VNC authentication uses its first 8 chars
WRONG_PASSWORD = base.WRONG_PASSWORD
NOVNC_DIR = os.path.join(HERE, "novnc")
CHROMIUM = "/usr/bin/chromium"
VIEWER_PICTURE_TIMEOUT = 12.0      # TigerVNC: covers its ~3.5 s F8 overlay
VIEWER_EXIT_TIMEOUT = 10.0         # TigerVNC refused: it must exit by then
NOVNC_SESSION_TIMEOUT = 20.0
QUIET_MS = 500                     # noVNC still picture: no rect for this long

# The demo (the size and rate of spice_video_test, whose helpers render and
# compare its frames).
DEMO_W, DEMO_H, FPS = sv.WIDTH, sv.HEIGHT, sv.FPS
DEMO_FRAMES = 150                  # --frames: 5 s of playing video, then still
SNAP_TICKS = (60, 75, 90, 105, 120)  # video snapshots due at these ticks
SNAP_SETTLE_MS = 800               # ... but not before the connection is this old
SNAP_GAP_MS = 300                  # ... and this far apart
LOSSLESS_AFTER_MS = 300            # tessera serve's --lossless-after default
FINAL_MARGIN_MS = 700              # after end + lossless-after: final snapshot
MIN_EXACT = 3                      # of len(SNAP_TICKS) must match outside lossy
LOSSLESS_SEARCH = (-12, 3)         # k_lossless in due tick + this range
VIDEO_SEARCH = (-6, 2)             # k_video in k_lossless + this range
PSNR_MIN_DB = 30.0                 # luma (see spice_video_test.video_case)
PSNR_RGB_MIN_DB = 27.0

ENC_NAMES = {"0": "Raw", "1": "CopyRect", "2": "RRE", "5": "Hextile",
             "6": "Zlib", "7": "Tight", "16": "ZRLE", "21": "JPEG",
             "50": "H.264", "-260": "TightPNG"}
DROP_H264 = [50]
DROP_JPEG = [21] + list(range(-32, -22))   # JPEG encoding + quality levels
DROP_TIGHT = [7]                   # Tight out: Tessera picks TightPNG (-260)
# The real (not pseudo) encodings noVNC 1.7 can list.
NOVNC_ENCODINGS = [1, 50, 7, -260, 16, 21, 5, 2, 6, 0]


def drop_all_but(*keep):
    """A drop list that leaves only `keep` of noVNC's real encodings (its
    pseudo-encodings, quality level included, stay)."""
    return [e for e in NOVNC_ENCODINGS if e not in keep]

# Server log, matched loosely: the per-client summary "... N H.264 frames"
# when there is one, else a line like "vnc ...: H.264 stream ...".
H264_FRAMES_LOG_RE = re.compile(r"(?i)^.*\bvnc\b.*?(\d+) H\.?264 frames.*$",
                                re.M)
H264_STREAM_LOG_RE = re.compile(r"(?i)^.*\bvnc\b.*H\.?264 stream.*$", re.M)
H264_WARN_RE = re.compile(r"Missing key frame|Cannot config decoder|"
                          r"Failed to decode|does not cover its full")
AUTH_FAIL_LOG_RE = re.compile(
    r"(?i)^.*\bvnc\b.*(auth|password).*(fail|wrong|refus|denied|reject).*$",
    re.M)

R = None          # base.Results, set in main
TIMES = []        # (case, seconds)


def note(text):
    print("NOTE  " + text)
    sys.stdout.flush()


def tail(text, n=12):
    return base.tail(text, n)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_proc(proc, timeout=5):
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc is not None else None
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        return "killed"


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


class Timer:
    """with Timer("case"): ... records the case's wall time in TIMES."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        TIMES.append((self.name, time.monotonic() - self.t0))
        return False


# ---------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------

def read_xwd_rows(data):
    """(w, h, rows of 3*w RGB bytes) of an xwd ZPixmap dump at 32 bits per
    pixel (what xwd writes for a 24-bit TrueColor screen)."""
    hdr = [int.from_bytes(data[i:i + 4], "big") for i in range(0, 100, 4)]
    (hsize, version, fmt, _depth, w, h, _xoff, byte_order, _unit, _bit_order,
     _pad, bpp, bpl, _vclass, rmask, gmask, bmask, _bits, _centries,
     ncolors) = hdr[:20]
    if version != 7 or fmt != 2 or bpp != 32:
        raise ValueError("xwd: version %d format %d bpp %d not handled" % (
            version, fmt, bpp))
    off = hsize + 12 * ncolors

    def byte_index(mask):
        shift = (mask & -mask).bit_length() - 1
        if shift % 8 or mask >> shift != 0xFF:
            raise ValueError("xwd: mask %#x not an 8-bit channel" % mask)
        return shift // 8 if byte_order == 0 else 3 - shift // 8

    ri, gi, bi = byte_index(rmask), byte_index(gmask), byte_index(bmask)
    rows = []
    for y in range(h):
        line = data[off + y * bpl:off + y * bpl + 4 * w]
        row = bytearray(3 * w)
        row[0::3] = line[ri::4]
        row[1::3] = line[gi::4]
        row[2::3] = line[bi::4]
        rows.append(bytes(row))
    return w, h, rows


def rgba_rows(data, w, h):
    rows = []
    for y in range(h):
        line = data[y * 4 * w:(y + 1) * 4 * w]
        row = bytearray(3 * w)
        row[0::3] = line[0::4]
        row[1::3] = line[1::4]
        row[2::3] = line[2::4]
        rows.append(bytes(row))
    return rows


def diff_bbox(src, got, w, h):
    """(count, (x0, y0, x1, y1) or None) of differing pixels."""
    count, bbox = 0, None
    for y in range(h):
        if src[y] == got[y]:
            continue
        a, b = src[y], got[y]
        for x in range(w):
            if a[3 * x:3 * x + 3] != b[3 * x:3 * x + 3]:
                count += 1
                bbox = ((x, y, x, y) if bbox is None else
                        (min(bbox[0], x), min(bbox[1], y),
                         max(bbox[2], x), max(bbox[3], y)))
    return count, bbox


def equal_outside_mask(src, got, mask, w, h):
    """True if got == src wherever mask (w*h bytes) is 0."""
    for y in range(h):
        a, b = src[y], got[y]
        if a == b:
            continue
        m = mask[y * w:(y + 1) * w]
        for x in range(w):
            if not m[x] and a[3 * x:3 * x + 3] != b[3 * x:3 * x + 3]:
                return False
    return True


def mask_bbox(mask, w, h):
    ys = [y for y in range(h) if any(mask[y * w:(y + 1) * w])]
    if not ys:
        return None
    xs = [x for x in range(w) if any(mask[y * w + x] for y in ys)]
    return (min(xs), min(ys), max(xs), max(ys))


# ---------------------------------------------------------------------------
# Tools, fixtures
# ---------------------------------------------------------------------------

def check_tools(reference):
    tools = [("Xvfb", "xvfb"), ("xwd", "x11-apps"),
             ("vncviewer", "tigervnc-viewer"), ("vncpasswd", "tigervnc-tools"),
             ("websockify", "websockify"), ("node", "nodejs"),
             ("npm", "npm"), (CHROMIUM, "chromium")]
    if reference:
        tools += [("Xvnc", "tigervnc-standalone-server"),
                  ("display", "imagemagick")]
    ok = True
    for name, pkg in tools:
        path = name if os.path.isabs(name) else shutil.which(name)
        have = path is not None and os.access(path, os.X_OK)
        ok &= R.check("tool %s is installed" % name, have,
                      path if have else "missing: install Debian package " + pkg)
    return ok


def vnc_password_file(workdir, name, password):
    """A TigerVNC password file (`vncpasswd -f`: first 8 chars, DES)."""
    path = os.path.join(workdir, name)
    p = subprocess.run(["vncpasswd", "-f"], input=(password + "\n").encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    if p.returncode != 0 or len(p.stdout) != 8:
        raise RuntimeError("vncpasswd -f failed: rc=%s %r" % (
            p.returncode, p.stderr))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(p.stdout)
    return path


def plain_password_file(workdir, name, password):
    path = os.path.join(workdir, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return path


def make_pki(binary, workdir):
    helper = os.path.join(os.path.dirname(binary), "tessera_test_pki")
    pki = os.path.join(workdir, "pki")
    if not R.check("tessera_test_pki is next to tessera",
                   os.access(helper, os.X_OK), helper):
        return None
    p = subprocess.run([helper, pki], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    need = ("ca-cert.pem", "server-cert.pem", "server-key.pem")
    missing = [f for f in need if not os.path.exists(os.path.join(pki, f))]
    if not R.check("tessera_test_pki writes the test PKI",
                   p.returncode == 0 and not missing,
                   "" if not missing else "rc=%s missing %s\n%s" % (
                       p.returncode, missing,
                       tail(p.stdout.decode("utf-8", "replace")))):
        return None
    return pki


def ensure_node_modules(binary):
    """node_modules with @novnc/novnc and playwright-core: the one named by
    TESSERA_NOVNC_NODE_MODULES, else `npm ci` of tests/e2e/novnc into
    e2e-novnc/ next to the binary (reused while the lock file is the same).
    Returns the folder or None (checked)."""
    def complete(nm):
        return (os.path.exists(os.path.join(nm, "@novnc", "novnc", "core",
                                            "rfb.js")) and
                os.path.exists(os.path.join(nm, "playwright-core",
                                            "index.mjs")))

    given = os.environ.get("TESSERA_NOVNC_NODE_MODULES")
    if given:
        ok = complete(given)
        R.check("npm packages from TESSERA_NOVNC_NODE_MODULES", ok,
                given if ok else "%s lacks @novnc/novnc or playwright-core"
                % given)
        return given if ok else None
    files = ("package.json", "package-lock.json")
    h = hashlib.sha256()
    for f in files:
        with open(os.path.join(NOVNC_DIR, f), "rb") as fh:
            h.update(fh.read())
    stamp = h.hexdigest()
    build = os.path.dirname(os.path.abspath(binary))
    dest = os.path.join(build, "e2e-novnc")
    nm = os.path.join(dest, "node_modules")
    stamp_file = os.path.join(dest, "installed-lock.sha256")
    if read_text(stamp_file).strip() == stamp and complete(nm):
        R.check("npm packages (noVNC, playwright-core) installed", True,
                "%s (reused)" % nm)
        return nm
    tmp = tempfile.mkdtemp(prefix="e2e-novnc.", dir=build)
    for f in files:
        shutil.copy(os.path.join(NOVNC_DIR, f), tmp)
    t0 = time.monotonic()
    try:
        p = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit",
                            "--no-fund", "--prefer-offline"], cwd=tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=180)
        rc, out = p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        rc, out = "timeout", (e.stdout or b"").decode("utf-8", "replace")
    ok = rc == 0 and complete(os.path.join(tmp, "node_modules"))
    if not R.check("npm ci installs noVNC and playwright-core "
                   "(tests/e2e/novnc/package-lock.json)", ok,
                   "%.1f s into %s" % (time.monotonic() - t0, nm) if ok else
                   "rc=%s (offline? set TESSERA_NOVNC_NODE_MODULES)\n%s" % (
                       rc, tail(out))):
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    with open(os.path.join(tmp, "installed-lock.sha256"), "w") as f:
        f.write(stamp + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    try:
        os.rename(tmp, dest)
    except OSError:   # another run won the race: use its copy
        shutil.rmtree(tmp, ignore_errors=True)
    return nm if complete(nm) else None


# ---------------------------------------------------------------------------
# X servers: Xvfb for the viewer, Xvnc as the reference VNC server
# ---------------------------------------------------------------------------

def start_x(cmd, log_path, timeout=10.0):
    """Starts an X server with -displayfd; returns (proc, ":N") or
    (proc, None)."""
    r, w = os.pipe()
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd + ["-displayfd", str(w)], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            pass_fds=(w,))
    os.close(w)
    log.close()
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\n" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([r], [], [], 0.2)
            if ready:
                chunk = os.read(r, 64)
                if not chunk:
                    break
                buf += chunk
            elif proc.poll() is not None:
                break
    finally:
        os.close(r)
    text = buf.decode().strip()
    return proc, (":" + text) if text.isdigit() else None


def xwd_root(display):
    """(w, h, rows) of the root window, or None if xwd failed (the error
    text is kept in xwd_root.error)."""
    try:
        p = subprocess.run(["xwd", "-root", "-silent", "-display", display],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        if p.returncode == 0:
            return read_xwd_rows(p.stdout)
        xwd_root.error = "xwd rc=%d: %s" % (
            p.returncode, p.stderr.decode("utf-8", "replace").strip())
    except (subprocess.TimeoutExpired, ValueError) as e:
        xwd_root.error = "xwd: %s" % e
    return None


xwd_root.error = None


class Xvfb:
    def __init__(self, workdir, w, h):
        self.log_path = os.path.join(workdir, "xvfb-%dx%d.log" % (w, h))
        self.proc, self.display = start_x(
            ["Xvfb", "-screen", "0", "%dx%dx24" % (w, h), "-nolisten", "tcp",
             "-noreset"], self.log_path)

    def screenshot(self):
        return xwd_root(self.display)

    def stop(self):
        stop_proc(self.proc)


# ---------------------------------------------------------------------------
# Servers under test
# ---------------------------------------------------------------------------

class TesseraVnc(base.Server):
    """`tessera serve --vnc-port 0`; the port from its 'VNC clients connect
    to' line."""

    READY_RE = re.compile(rb"VNC clients connect to 127\.0\.0\.1:(\d+)")

    def __init__(self, binary, workdir, name, source, extra):
        super().__init__(binary, workdir, name, source,
                         ["--vnc-port", "0"] + extra)


def tessera_security_args(security, pwfile, pki):
    return {
        "none": ["--disable-ticketing", "--vnc-security", "none"],
        "vnc": ["--password-file", pwfile, "--vnc-security", "vnc"],
        "x509vnc": ["--password-file", pwfile, "--x509-dir", pki,
                    "--vnc-security", "x509vnc"],
        "x509none": ["--disable-ticketing", "--x509-dir", pki,
                     "--vnc-security", "x509none"],
        "tlsvnc": ["--password-file", pwfile, "--vnc-security", "tlsvnc"],
    }[security]


class XvncServer:
    """Reference: TigerVNC's Xvnc showing the picture on its root window."""

    TYPES = {"none": "None", "vnc": "VncAuth", "x509vnc": "X509Vnc",
             "x509none": "X509None", "tlsvnc": "TLSVnc"}

    def __init__(self, workdir, name, image, w, h, security, vncpw, pki):
        self.err_path = os.path.join(workdir, name + ".xvnc.log")
        self.port = free_port()
        cmd = ["Xvnc", "-geometry", "%dx%d" % (w, h), "-depth", "24",
               "-rfbport", str(self.port), "-localhost", "-interface",
               "127.0.0.1", "-AlwaysShared", "-desktop", "tessera-reference",
               "-SecurityTypes", self.TYPES[security]]
        if security in ("vnc", "x509vnc", "tlsvnc"):
            cmd += ["-PasswordFile", vncpw]
        if security.startswith("x509"):
            cmd += ["-X509Cert", os.path.join(pki, "server-cert.pem"),
                    "-X509Key", os.path.join(pki, "server-key.pem")]
        self.proc, self.display = start_x(cmd, self.err_path)
        self.exit_code = None
        if self.display:
            # `display -window root` sets the root background (its exit
            # status is 1 even so); Xvfb-style servers keep it exactly.
            subprocess.run(["display", "-display", self.display, "-window",
                            "root", image], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)

    def wait_ready(self):
        return self.port if self.display and wait_port(self.port) else None

    def root_rows(self):
        for _ in range(3):
            shot = xwd_root(self.display)
            if shot is not None:
                return shot
            time.sleep(0.2)
        return 0, 0, None

    def log(self):
        return read_text(self.err_path)

    def stop(self):
        self.exit_code = stop_proc(self.proc)
        return 0   # Xvnc's exit status on SIGTERM is not under test


class Env:
    """What every case needs."""

    def __init__(self, binary, workdir, reference, src_rows, image, pki):
        self.binary = binary
        self.workdir = workdir
        self.reference = reference
        self.src = src_rows
        self.image = image
        self.pki = pki
        self.pw_plain = plain_password_file(workdir, "password", PASSWORD)
        self.pw_vnc = vnc_password_file(workdir, "password.vnc", PASSWORD)
        self.pw_wrong_vnc = vnc_password_file(workdir, "wrong.vnc",
                                              WRONG_PASSWORD)
        self.servers = []
        self.homes = 0

    def home(self):
        """A fresh HOME for one viewer run (TigerVNC keeps state there)."""
        self.homes += 1
        path = os.path.join(self.workdir, "home-%d" % self.homes)
        os.makedirs(path)
        return path

    def start_server(self, label, source, security, extra=()):
        if self.reference:
            s = XvncServer(self.workdir, label, self.image, WIDTH, HEIGHT,
                           security, self.pw_vnc, self.pki)
        else:
            s = TesseraVnc(self.binary, self.workdir, label, source,
                           tessera_security_args(security, self.pw_plain,
                                                 self.pki) + list(extra))
        self.servers.append(s)
        port = s.wait_ready()
        R.check("%s: server starts and prints its VNC port" % label,
                port is not None, "port %s" % port if port else
                "no 'VNC clients connect to 127.0.0.1:PORT' line\n" +
                tail(s.log()))
        if port and self.reference:
            w, h, rows = s.root_rows()
            R.check("%s: Xvnc's screen shows the source picture exactly "
                    "(reference fixture)" % label,
                    (w, h) == (WIDTH, HEIGHT) and rows == self.src)
        return s if port else None

    def stop_server(self, label, s):
        code = s.stop()
        R.check("%s: server exits 0 on SIGTERM" % label, code == 0,
                "" if code == 0 else "exit %s\n%s" % (code, tail(s.log())))


# ---------------------------------------------------------------------------
# TigerVNC vncviewer
# ---------------------------------------------------------------------------

def run_tigervnc(env, xvfb, port, args, name, picture=True):
    """Runs vncviewer full screen on xvfb against 127.0.0.1::port. With
    picture=True it polls the screen until it equals the source picture (or
    VIEWER_PICTURE_TIMEOUT), then ends the viewer; otherwise it waits for
    the viewer to exit by itself. Returns a dict."""
    log_path = os.path.join(env.workdir, name + ".viewer.log")
    cmd = ["vncviewer", "-FullScreen", "-AlertOnFatalError=0",
           "-ReconnectOnError=0", "-Shared",
           # Level 30: connection, security type and pixel format lines.
           # (Level 100 also draws TigerVNC's statistics graph over the
           # picture.)
           "-Log", "*:stderr:30"] + args + ["127.0.0.1::%d" % port]
    child_env = dict(os.environ, DISPLAY=xvfb.display, HOME=env.home())
    child_env.pop("VNC_USERNAME", None)
    child_env.pop("VNC_PASSWORD", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=child_env)
    t0 = time.monotonic()
    res = {"exact_s": None, "rc": None, "shots": 0, "last": None,
           "first_nonblack_s": None}
    deadline = t0 + (VIEWER_PICTURE_TIMEOUT if picture else
                     VIEWER_EXIT_TIMEOUT)
    black = bytes(3 * WIDTH)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            res["rc"] = proc.returncode
            break
        if picture:
            shot = xvfb.screenshot()
            if shot is None:      # xwd failed: note it, keep polling
                res["xwd_errors"] = res.get("xwd_errors", 0) + 1
                res["xwd_error"] = xwd_root.error
                time.sleep(0.05)
                continue
            w, h, rows = shot
            res["shots"] += 1
            res["last"] = rows
            now = time.monotonic() - t0
            if res["first_nonblack_s"] is None and any(r != black
                                                       for r in rows):
                res["first_nonblack_s"] = now
            if (w, h) == (WIDTH, HEIGHT) and rows == env.src:
                res["exact_s"] = now
                break
            time.sleep(0.05)
        else:
            time.sleep(0.1)
    if res["rc"] is None:
        res["rc"] = proc.poll()
    res["still_running"] = proc.poll() is None
    stop_proc(proc)
    res["log"] = read_text(log_path)
    m = re.search(r"Using pixel format (.*)", res["log"])
    res["pixel_format"] = m.group(1).strip() if m else None
    return res


def tiger_picture_case(env, xvfb, s, label, args, subtype_re=None,
                       lossless_promised=True):
    with Timer("TigerVNC " + label):
        res = run_tigervnc(env, xvfb, s.port, args,
                           re.sub(r"\W+", "-", label))
        name = "TigerVNC %s: shows the picture exactly (full screen %dx%d)" % (
            label, WIDTH, HEIGHT)
        ok = res["exact_s"] is not None
        if ok:
            detail = ("after %.2f s (first picture at %.2f s, %d screenshots)"
                      "; pixel format %s" % (
                          res["exact_s"], res["first_nonblack_s"] or -1,
                          res["shots"], res["pixel_format"]))
        else:
            detail = "viewer rc=%s" % res["rc"]
            if res.get("xwd_errors"):
                detail += ", %d failed screenshots (%s)" % (
                    res["xwd_errors"], res["xwd_error"])
            if res["last"] is not None:
                n, bbox = diff_bbox(env.src, res["last"], WIDTH, HEIGHT)
                detail += ", last screenshot: %d pixels differ within %s" % (
                    n, bbox)
            detail += "\n" + tail(res["log"])
        if lossless_promised:
            R.check(name, ok, detail)
        else:
            note("%s: %s (reference server: not judged)" % (
                name, ("exact " + detail) if ok else
                "not exact: " + detail.splitlines()[0]))
        if subtype_re is not None:
            m = re.search(subtype_re, res["log"])
            R.check("TigerVNC %s: viewer log names the security type" % label,
                    m is not None, m.group(0).strip() if m else
                    "no /%s/ in\n%s" % (subtype_re, tail(res["log"])))
        return res


def tiger_refused_case(env, xvfb, s, label, args, server_log_check=True):
    with Timer("TigerVNC " + label):
        before = len(s.log())
        res = run_tigervnc(env, xvfb, s.port, args,
                           re.sub(r"\W+", "-", label), picture=False)
        m = re.search(r"Authentication fail\w*(:.*)?", res["log"])
        R.check("TigerVNC %s: viewer is refused and exits by itself" % label,
                not res["still_running"] and m is not None,
                "rc=%s, log: %s (TigerVNC 1.12 exits 0 with "
                "-AlertOnFatalError=0)" % (res["rc"], m.group(0).strip())
                if m and not res["still_running"] else
                "still running=%s rc=%s\n%s" % (res["still_running"],
                                                 res["rc"], tail(res["log"])))
        # The viewer never showed the picture (there is no screenshot: the
        # screen is black, which no source pixel row is).
        time.sleep(0.2)
        if server_log_check:
            new = s.log()[before:]
            m2 = AUTH_FAIL_LOG_RE.search(new)
            R.check("TigerVNC %s: server logs the failed authentication"
                    % label, m2 is not None, m2.group(0).strip() if m2 else
                    "no line matching /%s/ in\n%s" % (AUTH_FAIL_LOG_RE.pattern,
                                                      tail(new)))
        R.check("TigerVNC %s: server still running" % label,
                s.proc.poll() is None, "" if s.proc.poll() is None else
                "exit %s" % s.proc.poll())


# ---------------------------------------------------------------------------
# noVNC
# ---------------------------------------------------------------------------

class NoVnc:
    """driver.mjs: one headless Chromium for all sessions, JSON lines."""

    def __init__(self, node_modules, workdir):
        self.err_path = os.path.join(workdir, "novnc-driver.log")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            ["node", os.path.join(NOVNC_DIR, "driver.mjs"), node_modules,
             CHROMIUM], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.err)
        self.buf = b""
        self.browser = None
        self.error = None
        first = self._readline(60.0)
        if first is None:
            self.error = "driver said nothing within 60 s\n" + tail(
                read_text(self.err_path))
        elif first.get("ready"):
            self.browser = first.get("browser")
        else:
            self.error = "%s\n%s" % (first.get("fatal", first),
                                     tail(read_text(self.err_path)))

    def _readline(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None
                self.buf += chunk
            elif self.proc.poll() is not None:
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return {"fatal": "bad line from driver: %r" % line[:200]}

    def session(self, prm, timeout):
        if self.proc.poll() is not None:
            return {"driverError": "driver exited (%s)\n%s" % (
                self.proc.returncode, tail(read_text(self.err_path)))}
        msg = dict(prm, cmd="session")
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        line = self._readline(timeout)
        if line is None:
            return {"driverError": "no answer within %.0f s\n%s" % (
                timeout, tail(read_text(self.err_path)))}
        return line.get("result", {"driverError": str(line)})

    def close(self):
        try:
            self.proc.stdin.write(b'{"cmd": "quit"}\n')
            self.proc.stdin.flush()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop_proc(self.proc)
        self.err.close()


class Websockify:
    def __init__(self, workdir, name, vnc_port):
        self.port = free_port()
        self.log_path = os.path.join(workdir, name + ".websockify.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["websockify", "127.0.0.1:%d" % self.port,
                 "127.0.0.1:%d" % vnc_port], stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while ("proxying from" not in read_text(self.log_path) and
               time.monotonic() < deadline and self.proc.poll() is None):
            time.sleep(0.05)
        self.ok = self.proc.poll() is None and wait_port(self.port, 5.0)

    @property
    def url(self):
        return "ws://127.0.0.1:%d" % self.port

    def stop(self):
        stop_proc(self.proc)


def tight_sub(res, enc):
    """Sub-rects per kind (fill, jpeg, png, basic) that noVNC's Tight (7) or
    TightPNG (-260) decoder finished."""
    return (res.get("tightSub") or {}).get(str(enc)) or {}


def session_summary(res):
    rects = ", ".join("%s %d" % (ENC_NAMES.get(k, k), v)
                      for k, v in sorted(res.get("rects", {}).items(),
                                         key=lambda kv: -kv[1]))
    subs = ""
    for enc in ("7", "-260"):
        sub = tight_sub(res, enc)
        if res.get("rects", {}).get(enc):
            subs += "; %s sub-rects: fill %d, %s %d, JPEG %d" % (
                ENC_NAMES[enc], sub.get("fill", 0),
                "zlib" if enc == "7" else "PNG",
                sub.get("basic" if enc == "7" else "png", 0),
                sub.get("jpeg", 0))
    return "rects: %s; Tight JPEG %d%s; H.264 frames %d; connect %s ms" % (
        rects or "none", res.get("tightJpegRects", 0), subs,
        res.get("videoFrames", 0), res.get("connectMs"))


def session_failure(res):
    return "events %s, error %s, driver %s, page errors %s\n%s" % (
        res.get("events"), res.get("error"), res.get("driverError"),
        res.get("pageErrors"), "\n".join(
            "      | " + l for l in (res.get("console") or [])[-8:]))


def check_rect_encodings(res, label, main, allowed, judged=True):
    """The rects noVNC decoded are of `main` (at least one) and of `allowed`
    only; for TightPNG also: PNG sub-rects, no JPEG (a still picture)."""
    rects = res.get("rects") or {}
    got = set(k for k, v in rects.items() if v)
    ok = rects.get(str(main), 0) > 0 and got <= set(str(e) for e in allowed)
    what = "%s only" % " and ".join(ENC_NAMES.get(str(e), str(e))
                                    for e in allowed)
    if main == -260:
        sub = tight_sub(res, -260)
        ok = ok and sub.get("png", 0) > 0 and sub.get("jpeg", 0) == 0
        what += ", PNG sub-rects and no JPEG (noVNC's TightPNG decoder)"
    name = "noVNC %s: rects are %s" % (label, what)
    detail = "%s; SetEncodings %s" % (session_summary(res), (
        res.get("encodingsSent") or [None])[-1])
    if judged:
        R.check(name, ok, detail)
    else:
        note("%s: %s (reference server: not judged)" % (
            name, "yes" if ok else "no, " + detail))


def novnc_static_case(env, nv, ws, label, drop=(), quality=None,
                      password=None, lossless_promised=True, expect=None,
                      expect_judged=True):
    """One snapshot once nothing arrived for QUIET_MS: must be exact.
    expect=(main, allowed): the rects must be of these encodings
    (check_rect_encodings)."""
    with Timer("noVNC " + label):
        now = time.time() * 1000
        prm = {"url": ws.url, "password": password, "qualityLevel": quality,
               "drop": list(drop),
               "shots": [{"afterConnectMs": 0, "quietMs": QUIET_MS,
                          "deadline": now + NOVNC_SESSION_TIMEOUT * 1000 - 3000}],
               "sessionTimeoutMs": NOVNC_SESSION_TIMEOUT * 1000,
               "out": os.path.join(env.workdir, "novnc-" +
                                   re.sub(r"\W+", "-", label))}
        res = nv.session(prm, NOVNC_SESSION_TIMEOUT + 15)
        name = "noVNC %s: canvas shows the picture exactly" % label
        snaps = res.get("snapshots") or []
        if not snaps or "connect" not in (res.get("events") or []):
            R.check(name, False, session_failure(res))
            return res
        sn = snaps[0]
        with open(sn["rgba"], "rb") as f:
            data = f.read()
        w, h = sn["width"], sn["height"]
        if (w, h) != (WIDTH, HEIGHT):
            R.check(name, False, "framebuffer %dx%d, expected %dx%d" % (
                w, h, WIDTH, HEIGHT))
            return res
        rows = rgba_rows(data, w, h)
        n, bbox = diff_bbox(env.src, rows, w, h)
        detail = ("%s; SetEncodings %s" % (session_summary(res),
                                           (res.get("encodingsSent") or
                                            [None])[-1]))
        if n:
            detail = "%d pixels differ within %s%s; %s" % (
                n, bbox, " (timed out waiting for quiet)"
                if sn.get("timedOut") else "", detail)
        if lossless_promised:
            R.check(name, n == 0, detail)
        else:
            note("%s: %s (reference server: not judged)" % (
                name, "exact" if n == 0 else "not exact, " + detail))
        if expect is not None:
            check_rect_encodings(res, label, expect[0], expect[1],
                                 expect_judged)
        R.check("noVNC %s: no errors in the page" % label,
                not res.get("pageErrors") and not res.get("driverError"),
                session_failure(res) if res.get("pageErrors") or
                res.get("driverError") else "")
        return res


def novnc_refused_case(env, nv, ws, s, label, password, expect_event):
    with Timer("noVNC " + label):
        now = time.time() * 1000
        prm = {"url": ws.url, "password": password, "drop": [],
               "shots": [{"quietMs": QUIET_MS, "deadline": now + 8000}],
               "sessionTimeoutMs": 10000,
               "out": os.path.join(env.workdir, "novnc-" +
                                   re.sub(r"\W+", "-", label))}
        res = nv.session(prm, 25)
        events = res.get("events") or []
        R.check("noVNC %s: refused, never connected" % label,
                "connect" not in events and
                any(e.startswith(expect_event) for e in events) and
                not res.get("timedOut"),
                "events %s" % events if "connect" not in events else
                session_failure(res))
        time.sleep(0.2)
        R.check("noVNC %s: server still running" % label,
                s.proc.poll() is None, "" if s.proc.poll() is None else
                "exit %s" % s.proc.poll())
        return res


def check_webcodecs(res, label):
    """noVNC offers H.264 (50) only when WebCodecs decodes a real frame."""
    wc = res.get("webcodecs") or {}
    offered = (res.get("encodingsOffered") or [[]])[0]
    R.check("%s: headless Chromium decodes H.264 through WebCodecs" % label,
            wc.get("supportsWebCodecsH264Decode") is True,
            "noVNC's probe (decodes one frame): %s; isConfigSupported %s; "
            "secure context %s" % (wc.get("supportsWebCodecsH264Decode"),
                                   wc.get("configs"), wc.get("secureContext")))
    R.check("%s: noVNC offers H.264 (encoding 50) in SetEncodings" % label,
            50 in offered, "noVNC's list: %s" % offered)


# ---------------------------------------------------------------------------
# noVNC and the demo: video
# ---------------------------------------------------------------------------

def video_window(w, h):
    """The demo's video window, title bar and frame included
    (capture/demo_source.cpp layout_.video)."""
    return (int(w * 0.52), int(h * 0.14), int(w * 0.43), int(h * 0.46))


def start_demo_vnc(env, label, extra):
    """Serves the demo over VNC (None) with websockify in front; returns
    (server, websockify, t0_mono, offset_ms) or None (checked and cleaned
    up). t0_mono is tick 0 in monotonic ms; offset_ms is epoch - monotonic."""
    s = env.start_server(label, "demo", "none",
                         ["--size", "%dx%d" % (DEMO_W, DEMO_H), "--fps",
                          str(FPS)] + list(extra))
    if not s:
        return None
    m = sv.wait_for(s, sv.T0_RE)
    if not R.check(label + ": server logs the time of tick 0", m is not None,
                   "" if m else tail(s.log())):
        env.stop_server(label, s)
        return None
    t0_mono = sv.unwrap_t0(int(m.group(1)))
    offset_ms = (time.time() - time.monotonic()) * 1000.0
    ws = Websockify(env.workdir, label, s.port)
    if not R.check(label + ": websockify listens", ws.ok,
                   read_text(ws.log_path)[-500:]):
        ws.stop()
        env.stop_server(label, s)
        return None
    return s, ws, t0_mono, offset_ms


START_FRAMES_MAX = 3              # a video that starts: H.264 within 3 frames
START_SLACK_MS = 15.0              # decoding and the page's 4 ms poll


def novnc_start_case(env, nv, frames):
    """The demo's video resumes after its pause (ticks 240..299: still): the
    first H.264 frame noVNC decodes after the resume reaches its display
    within START_FRAMES_MAX frames of the capture of the first changed
    frame, none was decoded during the pause, and 700 ms after the resume
    the picture outside the lossy rects equals a source frame exactly."""
    label = "start-h264"
    t_case = time.monotonic()
    started = start_demo_vnc(env, label, [])
    if not started:
        return
    s, ws, t0_mono, offset_ms = started
    t0_epoch = t0_mono + offset_ms
    tick_ms = 1000.0 / FPS
    pause_epoch = t0_epoch + sv.PLAY_TICKS * tick_ms
    resume_epoch = t0_epoch + sv.CYCLE_TICKS * tick_ms
    shot_at = resume_epoch + 700
    prm = {"url": ws.url, "drop": [], "shots": [
               {"notBefore": shot_at, "deadline": shot_at + 3000}],
           "sessionTimeoutMs": shot_at + 6000 - time.time() * 1000,
           "out": os.path.join(env.workdir, "novnc-" + label)}
    res = nv.session(prm, prm["sessionTimeoutMs"] / 1000.0 + 15)
    ws.stop()
    env.stop_server(label, s)
    snaps = res.get("snapshots") or []
    if not R.check(label + ": noVNC connects, decodes H.264 and takes a "
                   "snapshot after the video resumed",
                   "connect" in (res.get("events") or []) and
                   len(snaps) == 1 and res.get("videoFrames", 0) > 0,
                   session_summary(res) + "; " + session_failure(res)):
        TIMES.append(("noVNC " + label, time.monotonic() - t_case))
        return
    times = res.get("videoFrameTimes") or []
    before = [t for t in times if t < pause_epoch]
    still_from = pause_epoch + LOSSLESS_AFTER_MS + 200
    during = [t for t in times if still_from <= t < resume_epoch]
    after = [t for t in times if t >= resume_epoch]
    R.check(label + ": H.264 frames before the pause, none while the video "
            "is still", bool(before) and not during,
            "%d before, %d during the pause (from %.0f ms after it began)" % (
                len(before), len(during), still_from - pause_epoch))
    limit = START_FRAMES_MAX * tick_ms + START_SLACK_MS
    delay = after[0] - resume_epoch if after else None
    R.check(label + ": the first H.264 frame after the resume is shown "
            "within %d frames of the first changed frame's capture"
            % START_FRAMES_MAX, delay is not None and delay <= limit,
            "shown %.0f ms after tick %d was captured (limit %.0f ms)" % (
                delay, sv.CYCLE_TICKS, limit) if delay is not None else
            "no H.264 frame after the resume")
    sn = snaps[0]
    with open(sn["rgba"], "rb") as f:
        got = rgba_rows(f.read(), DEMO_W, DEMO_H)
    with open(sn["mask"], "rb") as f:
        mask = f.read()
    due = int((sn["t"] - t0_epoch) * FPS / 1000.0)
    order = [k for k in range(due + LOSSLESS_SEARCH[0], due + LOSSLESS_SEARCH[1] + 1)
             if k >= 0]
    frames.prefetch(order)
    match = [k for k in order
             if equal_outside_mask(frames.get(k), got, mask, DEMO_W, DEMO_H)]
    R.check(label + ": outside the lossy rects the picture equals a source "
            "frame exactly", bool(match), "tick %d due; lossy area %s; "
            "exact at %s" % (due, mask_bbox(mask, DEMO_W, DEMO_H),
                             match or "none"))
    if delay is not None:
        note("%s: first H.264 frame %.0f ms after the resume's capture" % (
            label, delay))
    TIMES.append(("noVNC " + label, time.monotonic() - t_case))


def novnc_video_case(env, nv, frames, label, drop, want_h264, tightpng=False):
    """Demo desktop, --frames DEMO_FRAMES; five snapshots while the video
    plays and one after it stopped. Without H.264, motion comes as Tight
    JPEG, or with tightpng=True (Tight taken out) as TightPNG JPEG."""
    t_case = time.monotonic()
    started = start_demo_vnc(env, label, ["--frames", str(DEMO_FRAMES)])
    if not started:
        return
    s, ws, t0_mono, offset_ms = started
    t0_epoch = t0_mono + offset_ms
    end_epoch = t0_epoch + (DEMO_FRAMES - 1) * 1000.0 / FPS
    final_at = end_epoch + LOSSLESS_AFTER_MS + FINAL_MARGIN_MS
    # Video snapshots when their tick is due (later if the connection is
    # young, then SNAP_GAP_MS apart), the last one once the demo stopped and
    # its lossless repaint is due.
    shots = [{"notBefore": t0_epoch + k * 1000.0 / FPS,
              "afterConnectMs": SNAP_SETTLE_MS, "minGapMs": SNAP_GAP_MS}
             for k in SNAP_TICKS]
    shots.append({"notBefore": final_at, "quietMs": QUIET_MS,
                  "deadline": final_at + 8000})
    prm = {"url": ws.url, "drop": list(drop), "shots": shots,
           "sessionTimeoutMs": final_at + 12000 - time.time() * 1000,
           "out": os.path.join(env.workdir, "novnc-" + label)}
    res = nv.session(prm, prm["sessionTimeoutMs"] / 1000.0 + 15)
    ws.stop()
    time.sleep(0.3)
    log = s.log()
    env.stop_server(label, s)

    snaps = res.get("snapshots") or []
    n_video = len(SNAP_TICKS)
    if not R.check(label + ": noVNC connects and takes %d snapshots while "
                   "the video plays and one after it stopped" % n_video,
                   "connect" in (res.get("events") or []) and
                   len(snaps) == n_video + 1 and
                   all((sn["width"], sn["height"]) == (DEMO_W, DEMO_H)
                       for sn in snaps),
                   session_summary(res) if len(snaps) == n_video + 1 else
                   "%d snapshots; %s" % (len(snaps), session_failure(res))):
        TIMES.append(("noVNC " + label, time.monotonic() - t_case))
        return
    dues = [int((sn["t"] - t0_epoch) * FPS / 1000.0) for sn in snaps[:n_video]]
    playing = all(d < DEMO_FRAMES - 1 for d in dues)
    R.check(label + ": the video snapshots fall while the demo plays", playing,
            "ticks due %s (noVNC connected in %s ms)" % (dues, res.get("connectMs"))
            if playing else "ticks due %s, the demo stops at tick %d: the "
            "client came too late" % (dues, DEMO_FRAMES - 1))
    sent = (res.get("encodingsSent") or [[]])[-1]
    rects = res.get("rects") or {}
    if want_h264:
        R.check(label + ": SetEncodings lists H.264 (50)", 50 in sent,
                "%s" % sent)
        R.check(label + ": H.264 rects arrive and WebCodecs decodes them",
                rects.get("50", 0) > 0 and res.get("videoFrames", 0) > 0,
                session_summary(res))
        h = res.get("h264") or {}
        R.check(label + ": every new H.264 context starts with an IDR "
                "picture (noVNC drops frames until one comes)",
                h.get("rects", 0) > 0 and h.get("withoutIdr", 1) == 0,
                "%d rects, %d contexts, %d reset flags, NAL unit types %s" % (
                    h.get("rects", 0), h.get("contexts", 0),
                    h.get("resets", 0), h.get("nalTypes"))
                if h.get("withoutIdr", 1) == 0 else
                "%s of %s rects started or continued a context that had no "
                "IDR yet; first %s; %d contexts, %d reset flags, NAL unit "
                "types %s" % (h.get("withoutIdr"), h.get("rects"),
                              h.get("firstWithoutIdr"), h.get("contexts", 0),
                              h.get("resets", 0), h.get("nalTypes")))
        R.check(label + ": every H.264 picture is one slice (noVNC 1.7 "
                "hands each slice NAL to WebCodecs as a picture of its own)",
                h.get("pictures", 0) > 0 and
                h.get("continuationSlices", 1) == 0,
                "%d pictures, %d slices that continue a picture" % (
                    h.get("pictures", 0), h.get("continuationSlices", -1)))
        unhandled = [l for l in res.get("console") or []
                     if "Unhandled unit type" in l]
        if unhandled:
            note(label + ": noVNC warns about NAL units it does not know "
                 "(harmless, one console line each): " + "; ".join(unhandled))
        warn = [l for l in res.get("console") or []
                if H264_WARN_RE.search(l)]
        R.check(label + ": noVNC's H.264 decoder warns about nothing",
                not warn, "" if not warn else "%d warnings, first: %s" % (
                    len(warn), warn[0]))
        m = H264_FRAMES_LOG_RE.search(log)
        m2 = H264_STREAM_LOG_RE.search(log)
        R.check(label + ": server log counts H.264 frames sent",
                (m is not None and int(m.group(1)) > 0) or
                (m is None and m2 is not None),
                (m or m2).group(0).strip() if (m or m2) else
                "no line matching /%s/ or /%s/\n%s" % (
                    H264_FRAMES_LOG_RE.pattern, H264_STREAM_LOG_RE.pattern,
                    tail(log)))
    else:
        R.check(label + ": SetEncodings lists no H.264 but a JPEG quality "
                "level", 50 not in sent and
                any(-32 <= e <= -23 for e in sent), "%s" % sent)
        if tightpng:
            sub = tight_sub(res, -260)
            R.check(label + ": SetEncodings lists no Tight (7)",
                    7 not in sent and -260 in sent, "%s" % sent)
            R.check(label + ": TightPNG rects arrive, JPEG for motion and "
                    "PNG; no Tight, no H.264",
                    rects.get("-260", 0) > 0 and sub.get("jpeg", 0) > 0 and
                    sub.get("png", 0) > 0 and rects.get("7", 0) == 0 and
                    rects.get("50", 0) == 0, session_summary(res))
        else:
            R.check(label + ": Tight JPEG rects arrive, no H.264",
                    (res.get("tightJpegRects", 0) > 0 or
                     rects.get("21", 0) > 0) and rects.get("50", 0) == 0,
                    session_summary(res))
        m = H264_FRAMES_LOG_RE.search(log)
        if m is not None:
            R.check(label + ": server log counts no H.264 frames",
                    int(m.group(1)) == 0, m.group(0).strip())
    R.check(label + ": no errors in the page (decoders included)",
            not res.get("pageErrors") and not res.get("driverError"),
            session_failure(res) if res.get("pageErrors") or
            res.get("driverError") else "")
    lossy = sorted((res.get("lossyRects") or {}).items(),
                   key=lambda kv: -kv[1])
    note("%s: lossy rects (kind x,y,w,h: count): %s" % (
        label, ", ".join("%s: %d" % kv for kv in lossy[:6]) +
        (" (+%d more)" % (len(lossy) - 6) if len(lossy) > 6 else "")
        if lossy else "none"))

    # Video snapshots.
    content = sv.demo_video_content(DEMO_W, DEMO_H)
    window = video_window(DEMO_W, DEMO_H)
    rows_by_snap, masks = [], []
    for sn in snaps:
        with open(sn["rgba"], "rb") as f:
            rows_by_snap.append(rgba_rows(f.read(), DEMO_W, DEMO_H))
        with open(sn["mask"], "rb") as f:
            masks.append(f.read())
    scored, lines = [], []
    for i in range(n_video):
        sn, got, mask = snaps[i], rows_by_snap[i], masks[i]
        t_mono = sn["t"] - offset_ms
        due = int((t_mono - t0_mono) * FPS / 1000.0)
        order = ([due - d for d in range(0, -LOSSLESS_SEARCH[0] + 1)] +
                 [due + d for d in range(1, LOSSLESS_SEARCH[1] + 1)])
        order = [k for k in order if 0 <= k < DEMO_FRAMES]
        frames.prefetch(order[:3])
        k_lossless = None
        for k in order:
            if equal_outside_mask(frames.get(k), got, mask, DEMO_W, DEMO_H):
                k_lossless = k
                break
        r = {"i": i, "due": due, "k": k_lossless, "mask": mask_bbox(
            mask, DEMO_W, DEMO_H), "video_frames": sn.get("videoFrames"),
             "jpeg": sn.get("tightJpegRects")}
        if k_lossless is not None:
            frames.prefetch(range(max(0, k_lossless + VIDEO_SEARCH[0]),
                                  min(DEMO_FRAMES,
                                      k_lossless + VIDEO_SEARCH[1] + 1)))
            got_luma = sv.luma(got, content)
            best = None
            for k in range(max(0, k_lossless + VIDEO_SEARCH[0]),
                           min(DEMO_FRAMES, k_lossless + VIDEO_SEARCH[1] + 1)):
                v = sv.psnr_luma(sv.luma(frames.get(k), content), got_luma)
                if best is None or v > best[1]:
                    best = (k, v)
            r["k_video"], r["psnr"] = best
            r["psnr_rgb"] = sv.psnr_rgb(frames.get(best[0]), got, content)
            r["lat_ms"] = t_mono - (t0_mono + best[0] * 1000.0 / FPS)
            scored.append(r)
        lines.append(r)

    def db(v):
        return "inf" if v == float("inf") else "%.1f" % v

    for r in lines:
        if r["k"] is None:
            print("      snapshot %d (tick %d due): no source frame in %d..%d "
                  "equals it outside the lossy area %s" % (
                      r["i"], r["due"], r["due"] + LOSSLESS_SEARCH[0],
                      r["due"] + LOSSLESS_SEARCH[1], r["mask"]))
        else:
            print("      snapshot %d (tick %d due): k_lossless %d, k_video %d,"
                  " PSNR luma %s dB, RGB %s dB, video latency %.0f ms, "
                  "lossy area %s" % (r["i"], r["due"], r["k"], r["k_video"],
                                     db(r["psnr"]), db(r["psnr_rgb"]),
                                     r["lat_ms"], r["mask"]))
    # Where lossy rects went beyond the video window (wallpaper, the
    # terminal, the window's title bar): not judged, but worth seeing.
    final_mask = masks[n_video]
    outside = [(i % DEMO_W, i // DEMO_W) for i in range(len(final_mask))
               if final_mask[i] and not (
                   window[0] <= i % DEMO_W < window[0] + window[2] and
                   window[1] <= i // DEMO_W < window[1] + window[3])]
    if outside:
        xs, ys = [p[0] for p in outside], [p[1] for p in outside]
        note("%s: %d pixels outside the video window %s were drawn lossy at "
             "some time, within (%d, %d)-(%d, %d)" % (
                 label, len(outside), window, min(xs), min(ys), max(xs),
                 max(ys)))
    R.check(label + ": outside the lossy rects the picture equals a source "
            "frame exactly", len(scored) >= MIN_EXACT,
            "%d of %d snapshots" % (len(scored), n_video))
    R.check(label + ": video window PSNR >= %.0f dB (luma) in every matched "
            "snapshot" % PSNR_MIN_DB,
            bool(scored) and all(r["psnr"] >= PSNR_MIN_DB for r in scored),
            "luma %s dB (RGB %s dB) over %s" % (
                ", ".join(db(r["psnr"]) for r in scored),
                ", ".join(db(r["psnr_rgb"]) for r in scored), content))
    R.check(label + ": video window RGB PSNR >= %.0f dB (colour matrix, "
            "range, channel order)" % PSNR_RGB_MIN_DB,
            bool(scored) and all(r["psnr_rgb"] >= PSNR_RGB_MIN_DB
                                 for r in scored),
            ", ".join(db(r["psnr_rgb"]) for r in scored))

    # After the demo stopped: everything lossless, exactly the last frame.
    last = frames.get(DEMO_FRAMES - 1)
    fin = snaps[n_video]
    n, bbox = diff_bbox(last, rows_by_snap[n_video], DEMO_W, DEMO_H)
    R.check(label + ": after the demo stops the picture equals its last "
            "frame (tick %d) exactly" % (DEMO_FRAMES - 1), n == 0,
            "%.0f ms after the last tick" % (fin["t"] - end_epoch) if n == 0
            else "%d pixels differ within %s (%.0f ms after the last tick%s)"
            % (n, bbox, fin["t"] - end_epoch,
               ", timed out waiting for quiet" if fin.get("timedOut") else ""))
    TIMES.append(("noVNC " + label, time.monotonic() - t_case))


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def static_cases(env, xvfb, nv):
    ref = env.reference
    promised = not ref   # Xvnc sends JPEG for a still picture when allowed

    # 1. No security: encodings.
    label = "none"
    s = env.start_server(label, env.image, "none")
    if s:
        if xvfb:
            tiger_picture_case(env, xvfb, s, "None, ZRLE", [
                "-SecurityTypes", "None", "-NoJPEG", "-AutoSelect=0",
                "-PreferredEncoding=ZRLE"], r"Choosing security type None\(1\)")
            tiger_picture_case(env, xvfb, s, "None, Tight", [
                "-SecurityTypes", "None", "-NoJPEG", "-AutoSelect=0",
                "-PreferredEncoding=Tight"])
            tiger_picture_case(env, xvfb, s, "None, default settings "
                               "(Tight, JPEG quality 8 allowed)",
                               ["-SecurityTypes", "None"],
                               lossless_promised=promised)
        if nv:
            ws = Websockify(env.workdir, label, s.port)
            if R.check("none: websockify listens", ws.ok,
                       read_text(ws.log_path)[-500:]):
                res = novnc_static_case(
                    env, nv, ws, "None, everything offered (H.264, JPEG, "
                    "quality 6)", lossless_promised=promised)
                if res.get("encodingsOffered"):
                    check_webcodecs(res, "noVNC")
                    note("noVNC 1.7 SetEncodings: %s" %
                         res["encodingsOffered"][0])
                novnc_static_case(env, nv, ws, "None, quality level 9",
                                  quality=9, lossless_promised=promised)
                novnc_static_case(env, nv, ws, "None, no JPEG, no quality "
                                  "level, no H.264",
                                  drop=DROP_JPEG + DROP_H264)
                # Tight taken out: TightPNG (-260) with JPEG and H.264 still
                # offered (Xvnc has no TightPNG: it picks ZRLE, not judged).
                novnc_static_case(env, nv, ws, "None, Tight taken out "
                                  "(TightPNG; H.264, JPEG, quality 6 "
                                  "offered)", drop=DROP_TIGHT,
                                  lossless_promised=promised,
                                  expect=(-260, [-260]), expect_judged=not ref)
                novnc_static_case(env, nv, ws, "None, Raw only",
                                  drop=drop_all_but(0), expect=(0, [0]))
                novnc_static_case(env, nv, ws, "None, Hextile and CopyRect "
                                  "only", drop=drop_all_but(5, 1),
                                  expect=(5, [5, 1]))
                novnc_static_case(env, nv, ws, "None, ZRLE and CopyRect only",
                                  drop=drop_all_but(16, 1),
                                  expect=(16, [16, 1]))
            ws.stop()
        env.stop_server(label, s)

    # 2. VNC authentication.
    label = "vncauth"
    s = env.start_server(label, env.image, "vnc")
    if s:
        if xvfb:
            tiger_picture_case(env, xvfb, s, "VncAuth", [
                "-SecurityTypes", "VncAuth", "-PasswordFile", env.pw_vnc,
                "-NoJPEG", "-AutoSelect=0", "-PreferredEncoding=ZRLE"],
                r"Choosing security type VncAuth\(2\)")
        ws = None
        if nv:
            ws = Websockify(env.workdir, label, s.port)
            if R.check("vncauth: websockify listens", ws.ok,
                       read_text(ws.log_path)[-500:]):
                novnc_static_case(env, nv, ws, "VncAuth",
                                  drop=DROP_JPEG + DROP_H264,
                                  password=PASSWORD)
        # Wrong passwords last: a server may slow down an address that
        # failed.
        if xvfb:
            tiger_refused_case(env, xvfb, s, "VncAuth, wrong password", [
                "-SecurityTypes", "VncAuth", "-PasswordFile",
                env.pw_wrong_vnc], server_log_check=not ref)
        if nv and ws is not None and ws.ok:
            novnc_refused_case(env, nv, ws, s, "VncAuth, wrong password",
                               WRONG_PASSWORD, "securityfailure")
        if ws is not None:
            ws.stop()
        env.stop_server(label, s)

    # 3. VeNCrypt X509Vnc / X509None (our CA) and anonymous TLSVnc.
    if env.pki and xvfb:
        ca = os.path.join(env.pki, "ca-cert.pem")
        label = "x509vnc"
        s = env.start_server(label, env.image, "x509vnc")
        if s:
            tiger_picture_case(env, xvfb, s, "X509Vnc", [
                "-SecurityTypes", "X509Vnc", "-X509CA", ca, "-PasswordFile",
                env.pw_vnc, "-NoJPEG", "-AutoSelect=0",
                "-PreferredEncoding=Tight"],
                r"CVeNCrypt: +Choosing security type X509Vnc \(261\)")
            if nv:
                ws = Websockify(env.workdir, label, s.port)
                if ws.ok:
                    # noVNC speaks no VeNCrypt TLS sub-type: it must be
                    # turned away without harm to the server.
                    novnc_refused_case(env, nv, ws, s, "X509Vnc (no TLS in "
                                       "noVNC)", PASSWORD, "disconnect")
                ws.stop()
            env.stop_server(label, s)
        label = "x509none"
        s = env.start_server(label, env.image, "x509none")
        if s:
            tiger_picture_case(env, xvfb, s, "X509None", [
                "-SecurityTypes", "X509None", "-X509CA", ca, "-NoJPEG",
                "-AutoSelect=0", "-PreferredEncoding=ZRLE"],
                r"CVeNCrypt: +Choosing security type X509None \(260\)")
            env.stop_server(label, s)
    if xvfb:
        label = "tlsvnc"
        s = env.start_server(label, env.image, "tlsvnc")
        if s:
            tiger_picture_case(env, xvfb, s, "TLSVnc (anonymous TLS)", [
                "-SecurityTypes", "TLSVnc", "-PasswordFile", env.pw_vnc,
                "-NoJPEG", "-AutoSelect=0", "-PreferredEncoding=ZRLE"],
                r"CVeNCrypt: +Choosing security type TLSVnc \(258\)")
            env.stop_server(label, s)


def main(argv):
    global R
    args = argv[1:]
    reference = False
    if args and args[0] == "--reference-xvnc":
        reference, args = True, args[1:]
    if len(args) != 1:
        print("usage: %s [--reference-xvnc] /path/to/tessera" % argv[0],
              file=sys.stderr)
        return 2
    binary = os.path.abspath(args[0])
    if not os.access(binary, os.X_OK):
        print("not an executable: %s" % binary, file=sys.stderr)
        return 2

    R = base.Results()
    t_start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="tessera-e2e-vnc-")
    env = None
    xvfb = nv = None
    try:
        tools_ok = check_tools(reference)
        with Timer("setup (picture, PKI, npm, Xvfb, Chromium)"):
            src = base.make_image(WIDTH, HEIGHT)
            image = os.path.join(workdir, "source.png")
            base.write_png(image, WIDTH, HEIGHT, src)
            pki = make_pki(binary, workdir)
            node_modules = None
            if shutil.which("npm") and shutil.which("node"):
                node_modules = ensure_node_modules(binary)
            if tools_ok or shutil.which("vncpasswd"):
                env = Env(binary, workdir, reference, src, image, pki)
            if shutil.which("Xvfb") and shutil.which("vncviewer") and \
                    shutil.which("xwd"):
                xvfb = Xvfb(workdir, WIDTH, HEIGHT)
                if not R.check("Xvfb %dx%dx24 starts" % (WIDTH, HEIGHT),
                               xvfb.display is not None,
                               xvfb.display or read_text(xvfb.log_path)):
                    xvfb = None
            if node_modules and os.access(CHROMIUM, os.X_OK) and \
                    shutil.which("websockify"):
                with Timer("Chromium start"):
                    nv = NoVnc(node_modules, workdir)
                if not R.check("headless Chromium starts under playwright-core",
                               nv.browser is not None,
                               "Chromium %s" % nv.browser if nv.browser
                               else nv.error):
                    nv.close()
                    nv = None
        if env is None:
            R.check("fixtures ready", False, "vncpasswd missing")
        else:
            static_cases(env, xvfb, nv)
            if nv and not reference:
                frames = sv.SourceFrames(binary, workdir)
                novnc_video_case(env, nv, frames, "demo-h264", [], True)
                novnc_video_case(env, nv, frames, "demo-jpeg", DROP_H264,
                                 False)
                novnc_video_case(env, nv, frames, "demo-tightpng",
                                 DROP_H264 + DROP_TIGHT, False, tightpng=True)
                novnc_start_case(env, nv, frames)
            elif reference:
                note("--reference-xvnc: demo video cases need tessera's VNC "
                     "server; H.264 decoding in headless Chromium is checked "
                     "above")
    except Exception as e:  # a bug in this script is a failure too
        base.script_error(R, e)
    finally:
        if nv:
            nv.close()
        if xvfb:
            xvfb.stop()
        base.kill_servers((env.servers if env else []))
        base.keep_if_failed(R, workdir)

    print("time per case:")
    for name, secs in TIMES:
        print("  %6.1f s  %s" % (secs, name))
    print("(%.1f s)" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (R.passed, R.failed))
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
