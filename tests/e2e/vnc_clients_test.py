#!/usr/bin/python3
"""End-to-end test: libvncclient and gtk-vnc against Tessera's VNC server.

Usage:  /usr/bin/python3 vnc_clients_test.py /path/to/tessera [/path/to/tessera_vnc_probe]

Two stock client libraries connect to `tessera serve --source image:PNG
--vnc-port 0 --vnc-security ...` and the picture they decode is compared with
the source PNG pixel for pixel:

  libvncclient 0.9.14 through tessera_vnc_probe (tests/e2e/vnc/vnc_probe.c,
  built next to tessera; a second argument names it elsewhere). It covers
  every security type the server offers, and reports the security type it
  negotiated, the encodings of the rectangles it decoded, the SASL mechanism
  and layer, and its own TCP port (the server logs it as the peer). The probe
  never sends a JPEG quality level, so every picture must be lossless.

  gtk-vnc 1.3.1 through its GObject API (GVnc.Connection with a
  GVnc.BaseFramebuffer over memory this script owns; no GTK, no display),
  run as a subprocess of this script (hidden first argument --gvnc-client).
  gtk-vnc reads its CA and client certificate only from <home>/.pki, where
  <home> comes from the password database, not $HOME: the client runs under
  nss_wrapper (libnss-wrapper) with a passwd file that gives it a private home.

Server groups, one server each (at most three refusals before a good client,
so the server's per-address backoff never bites):

  none       --vnc-security none: probe with raw, copyrect+hextile, zlib, zrle,
             tight (no quality level) and libvncclient's default list; a 16-bpp
             5-6-5 pixel format (blue high) with zrle and with tight, and a
             big-endian 32-bpp format with raw; gtk-vnc. The server must use
             the encoding asked for first.
  vncauth    --vnc-security vnc (password file; VNC auth uses 8 characters):
             right password, wrong password (refused), right again.
  x509none   --vnc-security x509none --tls-verify-client --spice-port off: the test client
             certificate is accepted; no certificate, another CA's client
             certificate, and a client that trusts another CA are refused.
  x509vnc    right and wrong password with the probe; gtk-vnc with its CA
             and client certificate in ~/.pki (X509Vnc, VeNCrypt 261).
  x509plain  VeNCrypt Plain inside X509: right and wrong password.
  tlsvnc     anonymous TLS (opt-in): right password; the server warns.
  sasl       SASL (type 20) on plain TCP: DIGEST-MD5 with a security layer
             (SSF >= 56) from a private sasldb, right and wrong password.
  x509sasl   X509SASL with SCRAM-SHA-256 (no SASL layer inside TLS): right and
             wrong password.
  verify-sasl  --sasl --x509-dir --tls-verify-client with the default offer:
             libvncclient limited to SASL type 20 finds nothing it may use,
             X509SASL without a certificate is refused, with one it works;
             only X509 sub-types are offered.

Every refusal must leave a warning in the server's log that names the
client's address and port and says why, and a good client must work after it.
Every success must be logged (`vnc 127.0.0.1:PORT: authenticated with NAME`,
or the `client connected (RFB 3.8, NAME, ...)` line) for the probe's port.

Pixel formats with fewer than 8 bits a channel are compared after the
conversion a server may reasonably make: truncation (v >> (8-n), QEMU), or
rounding to nearest ((v*max+127)/255) or TigerVNC's (v*max+128)/255; one of
them must match every pixel (the one that matched is printed).

Prints one line per check and ends with "N passed, M failed"; exits non-zero
if any check failed, a missing tool included.

Needs: /usr/bin/python3 with python3-gi and gir1.2-gtk-vnc-2.0 (GVnc-1.0),
libnss-wrapper, sasl2-bin + libsasl2-modules (saslpasswd2, DIGEST-MD5, SCRAM),
and the probe (libvncserver-dev at build time).
"""

import ctypes
import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spice_clients_test as base  # noqa: E402  (image, PNG/PPM, Results, Server)
import spice_security_test as sec  # noqa: E402  (PKI, sasldb, tools)

WIDTH, HEIGHT = base.WIDTH, base.HEIGHT
PASSWORD = base.PASSWORD            # VNC auth uses "s3cret-T"
WRONG_PASSWORD = base.WRONG_PASSWORD
SASL_USER, SASL_PASSWORD = sec.SASL_USER, sec.SASL_PASSWORD
PLAIN_USER = "anyone"               # Plain without --sasl: any user name
PROBE_TIMEOUT_MS = 10000
SETTLE_MS = 300
CLIENT_TIMEOUT = 25.0               # bound on one client subprocess
GVNC_LOOP_TIMEOUT = 12.0            # bound on the GLib main loop in the gvnc client
GVNC_QUIET_MS = 300
LOG_WAIT = 3.0
GVNC_CLIENTNAME = "gvncviewer"      # gtk-vnc looks in ~/.pki/<clientname>/

VNC_READY_RE = re.compile(r"VNC clients connect to 127\.0\.0\.1:(\d+)")
SPICE_READY_RE = re.compile(r"spice://127\.0\.0\.1:(\d+)")
# Success: the contract's line, or the "client connected" line with the type.
AUTH_OK_RE = re.compile(
    r"^[^\n]*\bvnc\s+127\.0\.0\.1:(\d+):\s*(?:authenticated with\s+([^\n]*)|"
    r"client connected \(RFB [\d.]+,\s*([^\n]*)\))", re.M)
WARN_RE = re.compile(r"^[^\n]*\[(?:warn|warning|error|critical)\][^\n]*$", re.M | re.I)

# gtk-vnc: VncConnectionEncoding values (vncconnection.h) by name.
GVNC_ENCODINGS = {"raw": 0, "copyrect": 1, "rre": 2, "hextile": 5, "tight": 7,
                  "zrle": 16, "ext-key": -258, "desktop-resize": -223,
                  "ext-desktop-resize": -308, "rich-cursor": -239,
                  "xcursor": -240, "pointer-change": -257, "wmvi": 0x574D5669,
                  "last-rect": -224}
# What gvncviewer (VncDisplay) sends, lossy off: its list less JPEG and audio.
GVNC_DEFAULT_ENCODINGS = ("tight,ext-key,desktop-resize,wmvi,rich-cursor,xcursor,"
                          "pointer-change,zrle,hextile,rre,copyrect,raw")
# VncDisplay's preference orders (vncdisplay.c, 1.3.1).
GVNC_AUTH_ORDER = (19, 18, 20, 113, 30, 2, 1)
GVNC_VENCRYPT_ORDER = (263, 262, 261, 260, 264, 259, 258, 257)
CRED_PASSWORD, CRED_USERNAME, CRED_CLIENTNAME = 0, 1, 2


# ---------------------------------------------------------------------------
# gtk-vnc client (runs in a subprocess: --gvnc-client)
# ---------------------------------------------------------------------------

def _gvalue_array_ints(arr):
    """Enum values of a GValueArray signal argument. PyGObject's get_nth()
    fails on values its enum type does not know (a VeNCrypt list may hold
    any number), so read the C structs: GValueArray {guint n_values;
    GValue *values;}, GValue {GType; data[2]} (24 bytes), enum in data[0]."""
    m = re.search(r"GValueArray at 0x([0-9a-fA-F]+)\)", repr(arr))
    if not m:
        raise RuntimeError("cannot find the GValueArray in %r" % (arr,))
    ptr = int(m.group(1), 16)
    n = ctypes.c_uint.from_address(ptr).value
    values = ctypes.c_void_p.from_address(ptr + ctypes.sizeof(ctypes.c_void_p)).value
    size = 8 + 16  # GType + two 8-byte unions
    return [ctypes.c_int.from_address(values + size * i + 8).value
            for i in range(n)]


GVNC_OPTIONS = ("--password", "--username", "--clientname", "--auth",
                "--subauth", "--encodings")


def gvnc_client_main(argv):
    """--gvnc-client HOST PORT OUT_PREFIX [--password P] [--username U]
                     [--clientname NAME] [--auth N|auto] [--subauth N|auto]
                     [--encodings name,name,...]

    Writes OUT_PREFIX.json (what happened) and OUT_PREFIX.raw (the
    framebuffer: 32 bpp, bytes B,G,R,X, stride 4*width) once no update came
    for GVNC_QUIET_MS. The pixel format asked of the server is 32 bpp depth
    24 little endian R16 G8 B0, as gvncviewer asks on a 24-bit X visual."""
    import gi
    gi.require_version("GVnc", "1.0")
    from gi.repository import GLib, GObject, GVnc

    host, port, prefix = argv[0], argv[1], argv[2]
    rest, opts = argv[3:], {}
    while rest:
        if rest[0] in GVNC_OPTIONS and len(rest) >= 2:
            opts[rest[0][2:]] = rest[1]
            rest = rest[2:]
        else:
            raise SystemExit("gvnc client: unknown argument %r" % rest[0])
    result = {"events": [], "auth_types": None, "auth_subtypes": None,
              "auth_type": None, "auth_subtype": None, "creds_asked": [],
              "error": None, "auth_failure": None, "width": None,
              "height": None, "name": None, "updates": 0, "complete": False,
              "covered": 0, "timed_out": False, "server_format": None}
    loop = GLib.MainLoop()
    conn = GVnc.Connection.new()
    st = {"buf": None, "bufs": [], "fb": None, "last": None, "w": 0, "h": 0,
          "covered": None}
    capsule_new = ctypes.pythonapi.PyCapsule_New
    capsule_new.restype = ctypes.py_object
    capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]

    def event(name, *args):
        result["events"].append([name] + [str(a) for a in args])

    def pick(offered, order, forced):
        if forced not in (None, "auto"):
            return int(forced)
        for pref in order:
            if pref in offered:
                return pref
        return None

    def on_choose_type(c, types):
        offered = _gvalue_array_ints(types)
        result["auth_types"] = offered
        chosen = pick(offered, GVNC_AUTH_ORDER, opts.get("auth"))
        result["auth_type"] = chosen
        if chosen is None:
            result["error"] = "no acceptable security type in %s" % offered
            c.shutdown()
        else:
            c.set_auth_type(chosen)

    def on_choose_subtype(c, major, types):
        offered = _gvalue_array_ints(types)
        result["auth_subtypes"] = offered
        chosen = pick(offered, GVNC_VENCRYPT_ORDER if major == 19 else
                      GVNC_AUTH_ORDER, opts.get("subauth"))
        result["auth_subtype"] = chosen
        if chosen is None:
            result["error"] = "no acceptable sub-type in %s" % offered
            c.shutdown()
        else:
            c.set_auth_subtype(chosen)

    def on_credential(c, creds):
        asked = _gvalue_array_ints(creds)
        result["creds_asked"].append(asked)
        for cred in asked:
            if cred == CRED_PASSWORD:
                c.set_credential(cred, opts.get("password", ""))
            elif cred == CRED_USERNAME:
                c.set_credential(cred, opts.get("username", ""))
            elif cred == CRED_CLIENTNAME:
                c.set_credential(cred, opts.get("clientname", GVNC_CLIENTNAME))

    def new_framebuffer(c):
        w, h = c.get_width(), c.get_height()
        local = GVnc.PixelFormat.new()
        local.bits_per_pixel, local.depth = 32, 24
        local.byte_order = 1234           # G_LITTLE_ENDIAN
        local.true_color_flag = 1
        local.red_max = local.green_max = local.blue_max = 255
        local.red_shift, local.green_shift, local.blue_shift = 16, 8, 0
        remote = c.get_pixel_format()
        result["server_format"] = "%d bpp depth %d %s shifts %d/%d/%d" % (
            remote.bits_per_pixel, remote.depth,
            "LE" if remote.byte_order == 1234 else "BE",
            remote.red_shift, remote.green_shift, remote.blue_shift)
        buf = ctypes.create_string_buffer(max(1, w * h * 4))
        st["bufs"].append(buf)            # the framebuffer keeps a raw pointer
        cap = capsule_new(ctypes.addressof(buf), None, None)
        fb = GObject.new(GVnc.BaseFramebuffer, buffer=cap, width=w, height=h,
                         rowstride=w * 4, local_format=local,
                         remote_format=remote)
        st.update(buf=buf, fb=fb, w=w, h=h, covered=bytearray(w * h))
        c.set_framebuffer(fb)
        result["width"], result["height"] = w, h
        return local

    def on_initialized(c):
        event("initialized")
        result["name"] = c.get_name()
        local = GVnc.PixelFormat.new()
        local.bits_per_pixel, local.depth = 32, 24
        local.byte_order = 1234
        local.true_color_flag = 1
        local.red_max = local.green_max = local.blue_max = 255
        local.red_shift, local.green_shift, local.blue_shift = 16, 8, 0
        if not c.set_pixel_format(local):
            result["error"] = "set_pixel_format failed"
        new_framebuffer(c)
        names = opts.get("encodings", GVNC_DEFAULT_ENCODINGS).split(",")
        c.set_encodings([GVNC_ENCODINGS[n] for n in names if n])
        c.framebuffer_update_request(False, 0, 0, c.get_width(), c.get_height())

    def on_resize(c, w, h):
        event("desktop-resize", w, h)
        new_framebuffer(c)
        c.framebuffer_update_request(False, 0, 0, w, h)

    def on_pixel_format_changed(c, fmt):
        event("pixel-format-changed")
        new_framebuffer(c)

    def on_update(c, x, y, w, h):
        result["updates"] += 1
        st["last"] = time.monotonic()
        cov, W, H = st["covered"], st["w"], st["h"]
        if cov is not None:
            for yy in range(max(0, y), min(H, y + h)):
                x0, x1 = max(0, x), min(W, x + w)
                if x1 > x0:
                    cov[yy * W + x0:yy * W + x1] = b"\x01" * (x1 - x0)
        # As VncDisplay does after every update.
        c.framebuffer_update_request(True, 0, 0, c.get_width(), c.get_height())

    def on_error(c, msg):
        event("error", msg)
        if result["error"] is None:
            result["error"] = msg

    def on_auth_failure(c, reason):
        event("auth-failure", reason)
        result["auth_failure"] = reason

    def on_disconnected(c):
        event("disconnected")
        GLib.timeout_add(50, lambda: (loop.quit(), False)[1])

    for sig, cb in (("vnc-auth-choose-type", on_choose_type),
                    ("vnc-auth-choose-subtype", on_choose_subtype),
                    ("vnc-auth-credential", on_credential),
                    ("vnc-initialized", on_initialized),
                    ("vnc-desktop-resize", on_resize),
                    ("vnc-pixel-format-changed", on_pixel_format_changed),
                    ("vnc-framebuffer-update", on_update),
                    ("vnc-error", on_error),
                    ("vnc-auth-failure", on_auth_failure),
                    ("vnc-auth-unsupported",
                     lambda c, t: event("auth-unsupported", t)),
                    ("vnc-connected", lambda c: event("connected")),
                    ("vnc-disconnected", on_disconnected)):
        conn.connect(sig, cb)

    def tick():
        if st["last"] is not None and \
                (time.monotonic() - st["last"]) * 1000 >= GVNC_QUIET_MS:
            result["complete"] = True
            loop.quit()
            return False
        return True

    def overall_timeout():
        result["timed_out"] = True
        loop.quit()
        return False

    GLib.timeout_add(50, tick)
    GLib.timeout_add(int(GVNC_LOOP_TIMEOUT * 1000), overall_timeout)
    if not conn.open_host(host, port):
        result["error"] = "open_host returned FALSE"
    else:
        loop.run()
    if st["covered"] is not None:
        result["covered"] = sum(st["covered"])
    if st["buf"] is not None and result["updates"]:
        with open(prefix + ".raw", "wb") as f:
            f.write(st["buf"].raw)
    with open(prefix + ".json", "w") as f:
        json.dump(result, f)
    sys.stdout.flush()
    os._exit(0)   # skip GLib/GObject teardown: the coroutine may still run


def nss_wrapper_lib():
    for pattern in ("/usr/lib/*/libnss_wrapper.so", "/usr/lib/libnss_wrapper.so",
                    "/usr/lib64/libnss_wrapper.so"):
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def gvnc_home(workdir, name, pki, ca="ca-cert.pem", cert="client-cert.pem",
              key="client-key.pem"):
    """A private home for gtk-vnc: .pki/CA/cacert.pem and
    .pki/<clientname>/{clientcert.pem,private/clientkey.pem}, and the passwd
    and group files that nss_wrapper shows in place of the system's.
    Returns the environment to add."""
    home = os.path.join(workdir, name)
    os.makedirs(os.path.join(home, ".pki", "CA"), exist_ok=True)
    os.makedirs(os.path.join(home, ".pki", GVNC_CLIENTNAME, "private"),
                exist_ok=True)
    if ca:
        shutil.copy(os.path.join(pki, ca),
                    os.path.join(home, ".pki", "CA", "cacert.pem"))
    if cert:
        shutil.copy(os.path.join(pki, cert), os.path.join(
            home, ".pki", GVNC_CLIENTNAME, "clientcert.pem"))
        shutil.copy(os.path.join(pki, key), os.path.join(
            home, ".pki", GVNC_CLIENTNAME, "private", "clientkey.pem"))
    uid, gid = os.getuid(), os.getgid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = "tessera"
    with open(os.path.join(home, "passwd"), "w") as f:
        f.write("%s:x:%d:%d:%s:%s:/bin/sh\n" % (user, uid, gid, user, home))
    with open(os.path.join(home, "group"), "w") as f:
        f.write("%s:x:%d:\n" % (user, gid))
    return {"LD_PRELOAD": nss_wrapper_lib(), "HOME": home,
            "NSS_WRAPPER_PASSWD": os.path.join(home, "passwd"),
            "NSS_WRAPPER_GROUP": os.path.join(home, "group")}


def run_gvnc_client(workdir, name, port, env=None, **kw):
    """Returns (result dict or None, raw BGRX bytes or None, output text)."""
    prefix = os.path.join(workdir, name)
    for ext in (".json", ".raw"):
        if os.path.exists(prefix + ext):
            os.unlink(prefix + ext)
    cmd = [sys.executable, os.path.abspath(__file__), "--gvnc-client",
           "127.0.0.1", str(port), prefix]
    for key, value in kw.items():
        opt = "--" + key
        if opt not in GVNC_OPTIONS:
            raise TypeError("run_gvnc_client: unknown option %r" % key)
        if value is not None:
            cmd += [opt, str(value)]
    child_env = dict(os.environ)
    child_env.update(env or {})
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=CLIENT_TIMEOUT,
                           env=child_env)
        out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        return None, None, "gvnc client timed out after %ss\n%s" % (
            CLIENT_TIMEOUT, base.tail((e.stdout or b"").decode("utf-8", "replace")))
    try:
        with open(prefix + ".json") as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None, None, "gvnc client rc=%s wrote no result\n%s" % (
            rc, base.tail(out))
    raw = None
    if os.path.exists(prefix + ".raw"):
        with open(prefix + ".raw", "rb") as f:
            raw = f.read()
    return res, raw, out


# ---------------------------------------------------------------------------
# libvncclient probe
# ---------------------------------------------------------------------------

def run_probe(probe, workdir, name, port, args):
    """Runs tessera_vnc_probe. Returns (JSON dict or None, rows or None,
    text for failure messages)."""
    out_ppm = os.path.join(workdir, name + ".ppm")
    if os.path.exists(out_ppm):
        os.unlink(out_ppm)
    cmd = [probe, "--host", "127.0.0.1", "--port", str(port), "--out", out_ppm,
           "--settle-ms", str(SETTLE_MS), "--timeout-ms", str(PROBE_TIMEOUT_MS)]
    cmd += list(args)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL,
                           timeout=PROBE_TIMEOUT_MS / 1000.0 + 10)
    except subprocess.TimeoutExpired:
        return None, None, "probe did not exit (its hard timeout failed)"
    with open(os.path.join(workdir, name + ".probe.log"), "wb") as f:
        f.write(p.stderr)
    text = p.stdout.decode("utf-8", "replace").strip()
    try:
        res = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        return None, None, "probe rc=%s printed no JSON:\n%s\n%s" % (
            p.returncode, base.tail(text),
            base.tail(p.stderr.decode("utf-8", "replace")))
    res["rc"] = p.returncode
    rows = None
    if p.returncode == 0 and os.path.exists(out_ppm):
        try:
            w, h, rows = base.read_ppm(out_ppm)
            if (w, h) != (res.get("width"), res.get("height")):
                rows = None
        except ValueError as e:
            res["error"] = "%s; bad PPM: %s" % (res.get("error", ""), e)
    return res, rows, text


def summary(res):
    keys = ("security_name", "security_type", "security_subtype",
            "encodings_seen", "sasl_mech", "sasl_ssf", "updates", "bytes",
            "ms")
    return ", ".join("%s=%s" % (k, res.get(k)) for k in keys
                     if res.get(k) not in (None, "", []))


def channel_models(bits):
    """{name: per-channel 256-entry tables} for a channel of `bits` bits; each
    entry is what the probe writes to the PPM (value << (8 - bits))."""
    mx = (1 << bits) - 1
    sh = 8 - bits
    return {"truncate": [(v >> sh) << sh for v in range(256)],
            "nearest": [((v * mx + 127) // 255) << sh for v in range(256)],
            "tigervnc": [((v * mx + 128) // 255) << sh for v in range(256)]}


def expected_rows(src, bits, model):
    if bits == (8, 8, 8):
        return src
    tables = [channel_models(b)[model] for b in bits]
    out = []
    for row in src:
        r = bytearray(row)
        for c in range(3):
            r[c::3] = bytes(tables[c][v] for v in row[c::3])
        out.append(bytes(r))
    return out


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------

class VncServer(base.Server):
    """`tessera serve` with a VNC port (and its SPICE port as always)."""

    def __init__(self, binary, workdir, name, image, extra, env=None):
        self.out_path = os.path.join(workdir, name + ".stdout")
        self.err_path = os.path.join(workdir, name + ".stderr")
        self.out_f = open(self.out_path, "wb")
        self.err_f = open(self.err_path, "wb")
        spice = [] if "--spice-port" in extra else ["--spice-port", "0"]
        self.cmd = [binary, "--log-level", "debug", "serve", "--source",
                    "image:" + image, "--listen", "127.0.0.1"] + spice + \
            ["--vnc-port", "0"] + list(extra)
        child_env = dict(os.environ)
        child_env.update(env or {})
        self.proc = subprocess.Popen(self.cmd, stdout=self.out_f,
                                     stderr=self.err_f,
                                     stdin=subprocess.DEVNULL, env=child_env)
        self.port = None
        self.spice_port = None
        self.exit_code = None

    def wait_ready(self, timeout=base.SERVER_START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            m = VNC_READY_RE.search(text)
            if m:
                self.port = int(m.group(1))
                s = SPICE_READY_RE.search(text)
                self.spice_port = int(s.group(1)) if s else None
                return self.port
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def err_text(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Ctx:
    def __init__(self, R, binary, probe, workdir, image, src, servers):
        self.R, self.binary, self.probe = R, binary, probe
        self.workdir, self.image, self.src = workdir, image, src
        self.servers = servers
        self.n = 0

    def start(self, label, extra, env=None):
        s = VncServer(self.binary, self.workdir, label, self.image, extra, env)
        self.servers.append(s)
        port = s.wait_ready()
        self.R.check("%s: server starts and prints its VNC port" % label,
                     port is not None,
                     "VNC port %s, SPICE port %s" % (port, s.spice_port)
                     if port else "no 'VNC clients connect to 127.0.0.1:PORT' "
                     "line\n      $ %s\n%s" % (" ".join(s.cmd), base.tail(s.log())))
        if port is None and s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(timeout=5)
        return s if port else None

    def stop(self, label, s):
        base.stop_server(self.R, label, s)

    def probe_run(self, s, label, args):
        self.n += 1
        name = "probe-%02d-%s" % (self.n, re.sub(r"[^A-Za-z0-9]+", "-", label)[:40])
        mark = len(s.err_text())
        res, rows, text = run_probe(self.probe, self.workdir, name, s.port, args)
        return res, rows, text, mark

    # --- checks -----------------------------------------------------------

    def picture(self, label, res, rows, text, bits=(8, 8, 8)):
        """The probe connected and its picture equals the source (through
        one of the conversion models when a channel has fewer than 8 bits)."""
        R = self.R
        if res is None:
            return R.check(label + ": probe picture", False, text)
        if res["rc"] != 0 or rows is None:
            return R.check(label + ": probe picture", False,
                           "rc=%s connected=%s error=%r\n%s" % (
                               res["rc"], res.get("connected"),
                               res.get("error"), base.tail(
                                   "\n".join(res.get("log", [])))))
        if (res["width"], res["height"]) != (WIDTH, HEIGHT):
            return R.check(label + ": probe picture", False,
                           "%dx%d, expected %dx%d" % (res["width"],
                                                      res["height"], WIDTH,
                                                      HEIGHT))
        models = ["exact"] if bits == (8, 8, 8) else \
            ["truncate", "nearest", "tigervnc"]
        best = None
        for model in models:
            exp = expected_rows(self.src, bits, model)
            diff, first = base.compare_rows(exp, rows, WIDTH, HEIGHT)
            if best is None or diff < best[1]:
                best = (model, diff, first)
            if diff == 0:
                break
        model, diff, first = best
        what = "is exact" if bits == (8, 8, 8) else \
            "is the source converted to %d/%d/%d bits" % bits
        return R.check("%s: probe picture %s" % (label, what), diff == 0,
                       ("%s%s" % ("" if model == "exact" else
                                  "conversion: %s; " % model, summary(res)))
                       if diff == 0 else
                       "%d of %d pixels differ (closest model %s), first %s; %s" % (
                           diff, WIDTH * HEIGHT, model, first, summary(res)))

    def refused(self, label, res, text):
        R = self.R
        if res is None:
            return R.check(label + ": refused", False, text)
        ok = res["rc"] != 0 and not res.get("connected") and \
            not res.get("updates")
        return R.check(label + ": refused", ok,
                       "client says: %s" % res.get("error", "")[:300] if ok else
                       "rc=%s connected=%s updates=%s (%s)" % (
                           res["rc"], res.get("connected"), res.get("updates"),
                           summary(res)))

    def security(self, label, res, sec_type, subtype=0):
        if res is None or res.get("rc") != 0:
            return False
        got = (res.get("security_type"), res.get("security_subtype"))
        return self.R.check(
            "%s: libvncclient negotiated security type %d%s" % (
                label, sec_type, "/%d" % subtype if subtype else ""),
            got == (sec_type, subtype),
            "%s (%d/%d)" % (res.get("security_name"), got[0], got[1]))

    def log_ok(self, label, s, mark, res, words):
        """The server logged the success for the probe's port, naming the
        security type (each of `words`, any case, must be in the name)."""
        port = res.get("local_port") if res else None
        deadline = time.monotonic() + LOG_WAIT
        while True:
            found = [(m.group(0).strip(), (m.group(2) or m.group(3) or ""))
                     for m in AUTH_OK_RE.finditer(s.err_text()[mark:])
                     if port is None or int(m.group(1)) == port]
            hit = [f for f in found
                   if all(w.lower() in f[1].lower() for w in words)]
            if hit or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        return self.R.check(
            "%s: server logs the success for 127.0.0.1:%s (%s)" % (
                label, port, " ".join(words)), bool(hit),
            "'%s'" % hit[0][0][:200] if hit else
            "lines for that port: %s\n%s" % (
                [f[0][:160] for f in found],
                base.tail(s.err_text()[mark:])))

    def log_refusal(self, label, s, mark, res, reason_words):
        """A warning after `mark` that names the client (127.0.0.1:PORT when
        the probe knows its port) and one of `reason_words`."""
        port = res.get("local_port") if res else None
        peer = "127.0.0.1:%d" % port if port and port > 0 else "127.0.0.1"
        deadline = time.monotonic() + LOG_WAIT
        while True:
            lines = [m.group(0) for m in WARN_RE.finditer(s.err_text()[mark:])]
            hit = [l for l in lines if peer in l and any(
                w.lower() in l.lower() for w in reason_words)]
            if hit or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        return self.R.check(
            "%s: server warns about %s and says why" % (label, peer), bool(hit),
            "'%s'" % hit[0].strip()[:220] if hit else
            "no warning naming %s with any of %s\n%s" % (
                peer, list(reason_words), base.tail(s.err_text()[mark:])))

    def alive(self, label, s):
        ok = s.proc.poll() is None
        return self.R.check("%s: server still running" % label, ok,
                            "" if ok else "exit %s\n%s" % (
                                s.proc.poll(), base.tail(s.log())))

    # --- composite cases -------------------------------------------------

    def good(self, s, label, args, sec_type, subtype=0, words=(), bits=(8, 8, 8),
             want_encoding=None):
        res, rows, text, mark = self.probe_run(s, label, args)
        if self.picture(label, res, rows, text, bits):
            self.security(label, res, sec_type, subtype)
            if words:
                self.log_ok(label, s, mark, res, words)
            if want_encoding:
                seen = res.get("encodings_seen", [])
                self.R.check("%s: the server used %s" % (label, want_encoding),
                             want_encoding in seen and
                             res.get("tight_jpeg_rects", 0) == 0,
                             "rects %s, pseudo %s, Tight JPEG rects %s" % (
                                 res.get("rects"), res.get("pseudo_rects"),
                                 res.get("tight_jpeg_rects")))
        return res

    def bad(self, s, label, args, reason_words):
        res, rows, text, mark = self.probe_run(s, label, args)
        self.refused(label, res, text)
        self.log_refusal(label, s, mark, res, reason_words)
        self.alive(label, s)
        return res

    def gvnc_picture(self, label, res, raw, out):
        R = self.R
        if res is None:
            return R.check(label + ": gtk-vnc picture", False, out)
        if raw is None or not res["complete"] or \
                (res["width"], res["height"]) != (WIDTH, HEIGHT):
            return R.check(label + ": gtk-vnc picture", False,
                           "no complete picture: size %sx%s, updates %d, "
                           "complete %s, timed_out %s, error %r, auth failure "
                           "%r, events %s\n%s" % (
                               res["width"], res["height"], res["updates"],
                               res["complete"], res["timed_out"], res["error"],
                               res["auth_failure"], res["events"][-6:],
                               base.tail(out)))
        got = base.bgrx_to_rows(raw, WIDTH, HEIGHT, 4 * WIDTH)
        diff, first = base.compare_rows(self.src, got, WIDTH, HEIGHT)
        detail = "types %s -> %s, sub-types %s -> %s, credentials asked %s, " \
                 "%d update rects, %d/%d pixels covered" % (
                     res["auth_types"], res["auth_type"], res["auth_subtypes"],
                     res["auth_subtype"], res["creds_asked"], res["updates"],
                     res["covered"], WIDTH * HEIGHT)
        return R.check(label + ": gtk-vnc picture is exact", diff == 0,
                       detail if diff == 0 else
                       "%d of %d pixels differ, first %s; %s" % (
                           diff, WIDTH * HEIGHT, first, detail))


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

FAIL_WORDS = ("fail", "refus", "denied", "wrong", "reject", "invalid", "bad",
              "error", "alert", "closed", "abort")
PASSWORD_WORDS = ("password", "authentication", "vncauth", "vnc auth",
                  "challenge", "response") + FAIL_WORDS
CERT_WORDS = ("certificate", "cert", "tls", "handshake", "alert", "verify",
              "unknown ca", "peer")
SASL_WORDS = ("sasl", "digest", "scram", "authentication", "password")


def scenario_none(c, have_gvnc):
    label = "none"
    s = c.start(label, ["--vnc-security", "none", "--disable-ticketing"])
    if not s:
        return
    for encs, want in (("raw", "raw"), ("copyrect hextile", "hextile"),
                       ("zlib raw", "zlib"), ("zrle raw", "zrle"),
                       ("tight raw", "tight")):
        c.good(s, "none [%s]" % encs, ["--encodings", encs], 1,
               words=("none",) if encs == "raw" else (), want_encoding=want)
    c.good(s, "none [libvncclient default list]", [], 1, want_encoding="tight")
    for encs, want in (("zrle raw", "zrle"), ("tight raw", "tight")):
        c.good(s, "none [%s, 16 bpp 5-6-5 blue high]" % encs,
               ["--encodings", encs, "--pixel-format", "bgr565"], 1,
               bits=(5, 6, 5), want_encoding=want)
    c.good(s, "none [raw, 32 bpp big endian]",
           ["--encodings", "raw", "--pixel-format", "be32"], 1,
           want_encoding="raw")
    if have_gvnc:
        res, raw, out = run_gvnc_client(c.workdir, "gvnc-none", s.port)
        if c.gvnc_picture("none (gtk-vnc, gvncviewer's encodings)", res, raw,
                          out):
            c.R.check("none (gtk-vnc): security type None chosen",
                      res["auth_type"] == 1, "offered %s" % res["auth_types"])
    c.stop(label, s)


def scenario_vncauth(c, pwfile):
    label = "vncauth"
    s = c.start(label, ["--vnc-security", "vnc", "--password-file", pwfile])
    if not s:
        return
    c.good(s, "vncauth: right password", ["--password", PASSWORD], 2,
           words=("vnc",))
    c.bad(s, "vncauth: wrong password", ["--password", WRONG_PASSWORD],
          PASSWORD_WORDS)
    c.good(s, "vncauth: right password after a wrong one",
           ["--password", PASSWORD, "--encodings", "zrle"], 2)
    c.stop(label, s)


def scenario_x509none(c, pki):
    label = "x509none"
    # --tls-verify-client leaves no way in without a certificate: no plain SPICE port.
    s = c.start(label, ["--vnc-security", "x509none", "--disable-ticketing",
                        "--x509-dir", pki, "--tls-verify-client",
                        "--spice-port", "off"])
    if not s:
        return
    ca = ["--ca", os.path.join(pki, "ca-cert.pem")]
    cert = ["--cert", os.path.join(pki, "client-cert.pem"),
            "--key", os.path.join(pki, "client-key.pem")]
    other = ["--cert", os.path.join(pki, "other-client-cert.pem"),
             "--key", os.path.join(pki, "other-client-key.pem")]
    c.good(s, "x509none: client certificate from our CA", ca + cert, 19, 260,
           words=("x509none",))
    c.bad(s, "x509none: no client certificate", ca, CERT_WORDS)
    c.bad(s, "x509none: client certificate from another CA", ca + other,
          CERT_WORDS)
    c.bad(s, "x509none: client trusts another CA",
          ["--ca", os.path.join(pki, "other-ca-cert.pem")] + cert, CERT_WORDS)
    c.good(s, "x509none: a good client after three refusals",
           ca + cert + ["--encodings", "zrle"], 19, 260)
    c.stop(label, s)


def scenario_x509vnc(c, pki, pwfile, have_gvnc):
    label = "x509vnc"
    s = c.start(label, ["--vnc-security", "x509vnc", "--password-file", pwfile,
                        "--x509-dir", pki])
    if not s:
        return
    ca = ["--ca", os.path.join(pki, "ca-cert.pem")]
    c.good(s, "x509vnc: right password", ca + ["--password", PASSWORD], 19, 261,
           words=("x509vnc",))
    c.bad(s, "x509vnc: wrong password", ca + ["--password", WRONG_PASSWORD],
          PASSWORD_WORDS)
    if have_gvnc:
        env = gvnc_home(c.workdir, "gvnc-home", pki)
        res, raw, out = run_gvnc_client(c.workdir, "gvnc-x509vnc", s.port,
                                        env=env, password=PASSWORD)
        if c.gvnc_picture("x509vnc (gtk-vnc, CA and client certificate in "
                          "~/.pki)", res, raw, out):
            c.R.check("x509vnc (gtk-vnc): VeNCrypt X509Vnc chosen, client name "
                      "and password asked for",
                      res["auth_type"] == 19 and res["auth_subtype"] == 261 and
                      [CRED_CLIENTNAME] in res["creds_asked"] and
                      [CRED_PASSWORD] in res["creds_asked"],
                      "types %s -> %s, sub-types %s -> %s, asked %s" % (
                          res["auth_types"], res["auth_type"],
                          res["auth_subtypes"], res["auth_subtype"],
                          res["creds_asked"]))
    else:
        c.good(s, "x509vnc: right password after a wrong one",
               ca + ["--password", PASSWORD], 19, 261)
    c.stop(label, s)


def scenario_x509plain(c, pki, pwfile):
    label = "x509plain"
    s = c.start(label, ["--vnc-security", "x509plain", "--password-file",
                        pwfile, "--x509-dir", pki])
    if not s:
        return
    ca = ["--ca", os.path.join(pki, "ca-cert.pem")]
    c.good(s, "x509plain: right password",
           ca + ["--user", PLAIN_USER, "--password", PASSWORD], 19, 262,
           words=("x509plain",))
    c.bad(s, "x509plain: wrong password",
          ca + ["--user", PLAIN_USER, "--password", WRONG_PASSWORD],
          PASSWORD_WORDS)
    c.good(s, "x509plain: right password after a wrong one",
           ca + ["--user", PLAIN_USER, "--password", PASSWORD], 19, 262)
    c.stop(label, s)


def scenario_tlsvnc(c, pwfile):
    label = "tlsvnc"
    s = c.start(label, ["--vnc-security", "tlsvnc", "--password-file", pwfile])
    if not s:
        return
    c.good(s, "tlsvnc (anonymous TLS): right password",
           ["--password", PASSWORD], 19, 258, words=("tlsvnc",))
    text = s.err_text()
    warn = [l for l in WARN_RE.findall(text) if re.search(r"anonymous", l, re.I)]
    c.R.check("tlsvnc: server warns that anonymous TLS is open to a man in "
              "the middle", bool(warn),
              "'%s'" % warn[0].strip()[:200] if warn else base.tail(text))
    c.stop(label, s)


def scenario_anon_tls_rest(c, pwfile, scram_conf):
    """The other anonymous-TLS sub-types, one server each (libvncclient takes the server's
    first TLS sub-type): TLSNone, TLSPlain, and TLSSASL with SCRAM (TLS is the layer)."""
    cases = [("tlsnone", 257, ["--disable-ticketing"], [], ()),
             ("tlsplain", 259, ["--password-file", pwfile],
              ["--user", "anyone", "--password", PASSWORD], ())]
    if scram_conf:
        cases.append(("tlssasl", 264, ["--sasl", "--sasl-config-dir", scram_conf],
                      ["--user", SASL_USER, "--password", SASL_PASSWORD],
                      ("scram-sha-256", SASL_USER)))
    for label, sub, server_args, client_args, words in cases:
        s = c.start(label, ["--vnc-security", label] + server_args)
        if not s:
            continue
        c.good(s, "%s (anonymous TLS)" % label, client_args, 19, sub,
               words=(label,) + words)
        if label == "tlsplain":
            c.bad(s, "tlsplain: wrong password",
                  ["--user", "anyone", "--password", WRONG_PASSWORD], FAIL_WORDS)
        c.stop(label, s)


def scenario_sasl(c, conf_dir):
    label = "sasl"
    s = c.start(label, ["--vnc-security", "sasl", "--sasl",
                        "--sasl-config-dir", conf_dir])
    if not s:
        return
    user = ["--user", SASL_USER]
    res = c.good(s, "sasl: DIGEST-MD5 on plain TCP",
                 user + ["--password", SASL_PASSWORD], 20,
                 words=("sasl", "digest-md5", SASL_USER))
    if res and res.get("rc") == 0:
        c.R.check("sasl: DIGEST-MD5 with a security layer (SSF >= 56)",
                  res.get("sasl_mech") == "DIGEST-MD5" and
                  (res.get("sasl_ssf") or 0) >= 56,
                  "mech %s, SSF %s" % (res.get("sasl_mech"),
                                       res.get("sasl_ssf")))
    c.bad(s, "sasl: wrong password", user + ["--password", WRONG_PASSWORD],
          SASL_WORDS + FAIL_WORDS)
    c.good(s, "sasl: right password after a wrong one",
           user + ["--password", SASL_PASSWORD, "--encodings", "zrle"], 20)
    c.stop(label, s)


def scenario_verify_client_sasl(c, pki, conf_dir):
    """--sasl with certificates and --tls-verify-client, default offer: plain
    SASL (type 20) is not offered beside the X509 sub-types, so a client
    without a certificate cannot pick it (nor can a man in the middle who
    strips VeNCrypt from the clear-text list)."""
    label = "verify-sasl"
    s = c.start(label, ["--sasl", "--sasl-config-dir", conf_dir, "--x509-dir",
                        pki, "--tls-verify-client", "--spice-port", "off"])
    if not s:
        return
    user = ["--user", SASL_USER, "--password", SASL_PASSWORD]
    ca = ["--ca", os.path.join(pki, "ca-cert.pem")]
    cert = ["--cert", os.path.join(pki, "client-cert.pem"),
            "--key", os.path.join(pki, "client-key.pem")]
    c.bad(s, "verify-sasl: SASL type 20 without a certificate",
          ["--auth-types", "20"] + user, FAIL_WORDS + ("security type",))
    c.bad(s, "verify-sasl: X509SASL without a certificate", ca + user,
          CERT_WORDS)
    c.good(s, "verify-sasl: X509SASL with a client certificate", ca + cert + user,
           19, 263, words=("x509sasl", SASL_USER))
    text = s.err_text()
    m = re.search(r"vnc: listening on [^\n]*\(security: ([^)]*)\)", text)
    offered = m.group(1) if m else ""
    c.R.check("verify-sasl: only X509 sub-types are offered",
              bool(m) and "VeNCrypt X509SASL" in offered and
              all(t.strip().startswith("VeNCrypt X509")
                  for t in offered.split(",")), offered or base.tail(text))
    c.stop(label, s)


def scenario_x509sasl(c, pki, conf_dir):
    label = "x509sasl"
    s = c.start(label, ["--vnc-security", "x509sasl", "--sasl",
                        "--sasl-config-dir", conf_dir, "--x509-dir", pki])
    if not s:
        return
    base_args = ["--ca", os.path.join(pki, "ca-cert.pem"), "--user", SASL_USER]
    res = c.good(s, "x509sasl: SCRAM-SHA-256 inside TLS",
                 base_args + ["--password", SASL_PASSWORD], 19, 263,
                 words=("x509sasl", "scram-sha-256", SASL_USER))
    if res and res.get("rc") == 0:
        c.R.check("x509sasl: SCRAM-SHA-256, no SASL layer inside TLS",
                  res.get("sasl_mech") == "SCRAM-SHA-256" and
                  res.get("sasl_ssf") == 0,
                  "mech %s, SSF %s" % (res.get("sasl_mech"),
                                       res.get("sasl_ssf")))
    c.bad(s, "x509sasl: wrong password",
          base_args + ["--password", WRONG_PASSWORD], SASL_WORDS + FAIL_WORDS)
    c.good(s, "x509sasl: right password after a wrong one",
           base_args + ["--password", SASL_PASSWORD], 19, 263)
    c.stop(label, s)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def preflight(R, binary, probe):
    """Tools the cases need. Returns {name: path or True/None}."""
    have = {}
    ok = probe is not None and os.access(probe, os.X_OK)
    R.check("tessera_vnc_probe (libvncclient) is built", ok,
            probe if ok else "missing: %s (build target tessera_vnc_probe; "
            "needs libvncserver-dev)" % probe)
    have["probe"] = ok
    for name in ("saslpasswd2", "sasldblistusers2"):
        path = sec.find_tool(name)
        have[name] = path
        R.check("tool %s present" % name, path is not None,
                path or "missing: install sasl2-bin")
    lib = nss_wrapper_lib()
    have["nss_wrapper"] = lib
    R.check("nss_wrapper present (gtk-vnc's private home)", lib is not None,
            lib or "missing: install libnss-wrapper")
    try:
        import gi
        gi.require_version("GVnc", "1.0")
        from gi.repository import GVnc
        need = ("set_framebuffer", "set_credential", "set_auth_type",
                "set_auth_subtype", "set_pixel_format", "set_encodings")
        missing = [n for n in need if not hasattr(GVnc.Connection, n)]
        R.check("gtk-vnc GObject API (GVnc-1.0) %s" % GVnc.util_get_version_string(),
                not missing, "missing %s" % missing if missing else
                "GVnc.Connection + GVnc.BaseFramebuffer")
        have["gvnc"] = not missing
    except Exception as e:  # typelib or python3-gi missing
        R.check("gtk-vnc GObject API (gir1.2-gtk-vnc-2.0, python3-gi)", False,
                str(e))
        have["gvnc"] = False
    return have


def main(argv):
    if len(argv) >= 2 and argv[1] == "--gvnc-client":
        gvnc_client_main(argv[2:])
        return 0
    binary = base.binary_from_argv(argv, ("/path/to/tessera_vnc_probe",))
    if binary is None:
        return 2
    probe = base.vnc_probe_path(argv, binary)

    R = base.Results()
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="tessera-e2e-vncclients-")
    servers = []
    try:
        have = preflight(R, binary, probe)
        src = base.make_image(WIDTH, HEIGHT)
        image = os.path.join(workdir, "source.png")
        base.write_png(image, WIDTH, HEIGHT, src)
        pwfile = sec.write_password_file(workdir)
        pki = sec.make_pki(R, binary, workdir)
        digest_conf = scram_conf = None
        if have["saslpasswd2"] and have["sasldblistusers2"]:
            db, _realm = sec.make_sasldb(R, workdir, have)
            if db:
                digest_conf = sec.make_sasl_conf(
                    workdir, "sasl-digest", "digest-md5 scram-sha-256", db)
                scram_conf = sec.make_sasl_conf(workdir, "sasl-scram",
                                                "scram-sha-256", db)
        c = Ctx(R, binary, probe, workdir, image, src, servers)
        if have["probe"]:
            gv = bool(have["gvnc"] and have["nss_wrapper"])
            scenario_none(c, have["gvnc"])
            scenario_vncauth(c, pwfile)
            if pki:
                scenario_x509none(c, pki)
                scenario_x509vnc(c, pki, pwfile, gv)
                scenario_x509plain(c, pki, pwfile)
            scenario_tlsvnc(c, pwfile)
            scenario_anon_tls_rest(c, pwfile, scram_conf)
            if digest_conf:
                scenario_sasl(c, digest_conf)
            if scram_conf and pki:
                scenario_x509sasl(c, pki, scram_conf)
                scenario_verify_client_sasl(c, pki, scram_conf)
    except Exception as e:  # a bug in this script is a failure too
        base.script_error(R, e)
    finally:
        base.kill_servers(servers)
        base.keep_if_failed(R, workdir)

    return base.tally(R, t0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
