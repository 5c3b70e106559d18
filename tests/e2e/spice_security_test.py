#!/usr/bin/python3
"""End-to-end test: TLS, ticket and SASL authentication with stock spice-gtk.

Usage:  /usr/bin/python3 spice_security_test.py /path/to/tessera

Drives the spice-gtk client library (through GObject introspection, one
subprocess per client, see spice_clients_test.gi_client_main) against
`tessera serve --source image:PNG` and compares the picture the client shows
with the source PNG pixel for pixel. Scenarios, one server process each (so
that the server's per-address backoff after failed logins never spills from
one group into the next; no group has more than two failures before its last
good client):

  tls           TLS port only, ticket: right CA passes; a CA that did not sign
                the server's certificate fails (ERROR_TLS); the host-subject
                check passes with the certificate's subject and fails with
                another one.
  tls-ticket    TLS port only, a wrong password: ERROR_AUTH; then the right one.
  ticket-replay plain port, ticket: spice-gtk logs in through a relay that
                records every byte; the main channel's recorded link message,
                mechanism and encrypted ticket, sent unchanged on a fresh
                connection, get PERMISSION_DENIED (every link has its own RSA
                key), and the links the relay saw carried different keys.
  verify-everywhere  --tls-verify-client with a plain SPICE port left open
                (a ticket-only way in without a certificate) or VNC types
                that need none: the server refuses to start, saying why.
  client-cert   --tls-verify-client: spice-gtk, which has no client
                certificate, is refused; a raw TLS link with the test client
                certificate is still accepted afterwards.
  need-secured  plain + TLS ports, --secure-channels display: the client is
                given both ports and no secure-channels; the server answers
                NEED_SECURED to the display on the plain port and the client
                reconnects the display over TLS.
  sasl-digest   --sasl on the plain port with DIGEST-MD5/SCRAM/PLAIN in the
                mech_list: only DIGEST-MD5 is offered, it gets a security
                layer (SSF >= 56); a wrong password is refused.
  sasl-scram-tls  SCRAM-SHA-256 over TLS (no plain port); wrong password refused.
  sasl-scram-plain  the same SCRAM-only configuration on a plain port: refused.
  sasl-gssapi   a throwaway MIT KDC (realm TESSERA.TEST on 127.0.0.1), user
                alice and service spice/localhost: GSSAPI with a security
                layer on the plain port; a client with no credential cache is
                refused. The Cyrus configuration comes through SASL_CONF_PATH
                here (the other SASL servers use --sasl-config-dir).

Every refusal must leave a line in the server's log that says why, and the
server must keep serving. Fixtures (the PKI from tessera_test_pki next to the
tessera binary, the sasldb, the KDC) live in a temporary folder; the KDC is
stopped at the end whatever happens. Before the servers run, an in-process
Cyrus SASL client/server pair (this script with the hidden argument
--sasl-selftest) proves that the fixtures themselves work, so that a failure
later is the server's.

Prints one line per check and ends with "N passed, M failed"; exits non-zero
if any check failed, a missing tool included.

Needs: /usr/bin/python3 with python3-gi and gir1.2-spiceclientglib-2.0;
sasl2-bin, libsasl2-modules, libsasl2-modules-gssapi-mit (Cyrus tools and
plugins); krb5-kdc, krb5-admin-server, krb5-user (kdb5_util, kadmin.local,
krb5kdc, kinit, klist).
"""

import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spice_clients_test as base  # noqa: E402  (gi client, Server, Results, PNG)

WIDTH, HEIGHT = base.WIDTH, base.HEIGHT
PASSWORD = base.PASSWORD
WRONG_PASSWORD = base.WRONG_PASSWORD
SASL_APP = "tessera"               # Cyrus application name: tessera.conf
SASL_USER = "alice"
SASL_PASSWORD = "alice-Sasl-pw1"
KRB_REALM = "TESSERA.TEST"
KRB_SERVICE = "spice/localhost"    # service "spice" on the wire, host localhost
SERVER_SUBJECT = "C=XX,O=Tessera Test,CN=localhost"
WRONG_SUBJECT = "C=XX,O=Tessera Test,CN=not-this-host"
PKI_FILES = ("ca-cert.pem", "ca-key.pem", "server-cert.pem", "server-key.pem",
             "client-cert.pem", "client-key.pem", "other-ca-cert.pem")
TOOLS = ("saslpasswd2", "sasldblistusers2", "kdb5_util", "kadmin.local",
         "krb5kdc", "kinit", "klist")
TOOL_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
LOG_WAIT = 3.0                     # a refusal's log line may trail the client

# Log lines (matched loosely; see the contract in the brief of this test).
LINK_RE = re.compile(r"\bspice\s+(main|display|inputs|cursor)\b[^\n]*?"
                     r"\blinked over\s+(TLS|plain)\b([^\n]*)", re.I)
OFFERED_RE = re.compile(r"SASL mechanisms offered:?\s*([^\n]*)", re.I)
NEED_SECURED_RE = re.compile(r"[^\n]*NEED_SECURED[^\n]*")


def line_re(*alternatives):
    """A line holding one word of each alternative list, in any order."""
    return re.compile("^" + "".join(
        r"(?=[^\n]*(?:%s))" % "|".join(words) for words in alternatives) +
        r"[^\n]*$", re.I | re.M)


FAIL_WORDS = ("fail", "error", "alert", "refus", "denied", "abort", "closed",
              "closing", "reject")
TLS_FAIL_RE = line_re((r"\bTLS\b", r"\bSSL\b", "handshake"), FAIL_WORDS)
CLIENT_CERT_RE = line_re((r"\bTLS\b", r"\bSSL\b", "handshake"),
                         ("certificate",), FAIL_WORDS)
TICKET_FAIL_RE = line_re(("authentication failed", "wrong password",
                          "PERMISSION_DENIED"),)
SASL_FAIL_RE = line_re(("SASL", "GSSAPI", "DIGEST-MD5", "SCRAM",
                        "mechanism"),
                       FAIL_WORDS + ("no mechanism", "unavailable",
                                     "not available"))


# ---------------------------------------------------------------------------
# Cyrus SASL self-test (runs in a subprocess: --sasl-selftest)
# ---------------------------------------------------------------------------

def sasl_selftest_main(argv):
    """--sasl-selftest MECH HOST USER PASSWORD TLS(0|1)

    One Cyrus SASL client and one server in this process, set up as spice-gtk
    sets up its client (service "spice", SSF >= 56 and no plaintext or
    anonymous mechanisms unless TLS, whose strength goes in as external SSF)
    and the server as application "tessera" (SASL_CONF_PATH names the folder
    of tessera.conf). Prints one JSON object: offered, mech, ok, ssf, user,
    error.
    """
    import ctypes
    import ctypes.util

    mech, host, user, password, tls = argv[0], argv[1], argv[2], argv[3], \
        argv[4] == "1"
    out = {"offered": None, "mech": None, "ok": False, "ssf": None,
           "user": None, "error": None}
    lib = ctypes.CDLL(ctypes.util.find_library("sasl2") or "libsasl2.so.2")
    vp = ctypes.c_void_p
    lib.sasl_errdetail.restype = ctypes.c_char_p
    lib.sasl_errdetail.argtypes = [vp]

    class SecProps(ctypes.Structure):
        _fields_ = [("min_ssf", ctypes.c_uint), ("max_ssf", ctypes.c_uint),
                    ("maxbufsize", ctypes.c_uint),
                    ("security_flags", ctypes.c_uint),
                    ("property_names", vp), ("property_values", vp)]

    class Callback(ctypes.Structure):
        _fields_ = [("id", ctypes.c_ulong), ("proc", vp), ("context", vp)]

    simple_t = ctypes.CFUNCTYPE(ctypes.c_int, vp, ctypes.c_int,
                                ctypes.POINTER(ctypes.c_char_p),
                                ctypes.POINTER(ctypes.c_uint))
    secret_t = ctypes.CFUNCTYPE(ctypes.c_int, vp, vp, ctypes.c_int,
                                ctypes.POINTER(vp))
    user_b = ctypes.create_string_buffer(user.encode())
    pw = password.encode()
    ulong = ctypes.sizeof(ctypes.c_ulong)
    secret = ctypes.create_string_buffer(ulong + len(pw) + 1)
    ctypes.c_ulong.from_buffer(secret).value = len(pw)
    ctypes.memmove(ctypes.addressof(secret) + ulong, pw, len(pw))

    def simple(ctx, cid, result, length):
        result[0] = ctypes.cast(user_b, ctypes.c_char_p)
        if length:
            length[0] = len(user)
        return 0

    def get_secret(conn, ctx, cid, result):
        result[0] = ctypes.addressof(secret)
        return 0

    simple_cb, secret_cb = simple_t(simple), secret_t(get_secret)
    cbs = (Callback * 4)(
        Callback(0x4001, ctypes.cast(simple_cb, vp), None),   # SASL_CB_USER
        Callback(0x4002, ctypes.cast(simple_cb, vp), None),   # AUTHNAME
        Callback(0x4004, ctypes.cast(secret_cb, vp), None),   # PASS
        Callback(0, None, None))

    def fail(what, rc, conn=None):
        detail = lib.sasl_errdetail(conn) if conn else None
        out["error"] = "%s: %d %s" % (what, rc,
                                      detail.decode() if detail else "")
        print(json.dumps(out))
        return 1

    rc = lib.sasl_server_init(None, SASL_APP.encode())
    if rc != 0:
        return fail("sasl_server_init", rc)
    rc = lib.sasl_client_init(None)
    if rc != 0:
        return fail("sasl_client_init", rc)
    sconn, cconn = vp(), vp()
    rc = lib.sasl_server_new(b"spice", None, None, b"127.0.0.1;5900",
                             b"127.0.0.1;40000", None, 0, ctypes.byref(sconn))
    if rc != 0:
        return fail("sasl_server_new", rc)
    rc = lib.sasl_client_new(b"spice", host.encode(), b"127.0.0.1;40000",
                             b"127.0.0.1;5900", cbs, 0, ctypes.byref(cconn))
    if rc != 0:
        return fail("sasl_client_new", rc)
    if tls:
        ext = ctypes.c_uint(256)
        lib.sasl_setprop(sconn, 100, ctypes.byref(ext))   # SASL_SSF_EXTERNAL
        lib.sasl_setprop(cconn, 100, ctypes.byref(ext))
    flags = 0 if tls else 0x0001 | 0x0010   # NOPLAINTEXT | NOANONYMOUS
    sprops = SecProps(0 if tls else 56, 0 if tls else 100000, 8192, flags)
    cprops = SecProps(0 if tls else 56, 0 if tls else 100000, 100000, flags)
    lib.sasl_setprop(sconn, 101, ctypes.byref(sprops))    # SASL_SEC_PROPS
    lib.sasl_setprop(cconn, 101, ctypes.byref(cprops))
    mechs, mlen, mcount = ctypes.c_char_p(), ctypes.c_uint(), ctypes.c_int()
    rc = lib.sasl_listmech(sconn, None, b"", b",", b"", ctypes.byref(mechs),
                           ctypes.byref(mlen), ctypes.byref(mcount))
    out["offered"] = (mechs.value or b"").decode() if rc == 0 else ""
    cout, coutlen, chosen = ctypes.c_char_p(), ctypes.c_uint(), \
        ctypes.c_char_p()
    rc = lib.sasl_client_start(cconn, mech.encode(), None, ctypes.byref(cout),
                               ctypes.byref(coutlen), ctypes.byref(chosen))
    if rc not in (0, 1):
        return fail("sasl_client_start", rc, cconn)
    out["mech"] = chosen.value.decode()
    sout, soutlen = ctypes.c_char_p(), ctypes.c_uint()
    srv = lib.sasl_server_start(sconn, chosen.value, cout, coutlen,
                                ctypes.byref(sout), ctypes.byref(soutlen))
    for _ in range(10):
        if srv != 1:
            break
        rc = lib.sasl_client_step(cconn, sout, soutlen, None,
                                  ctypes.byref(cout), ctypes.byref(coutlen))
        if rc not in (0, 1):
            return fail("sasl_client_step", rc, cconn)
        srv = lib.sasl_server_step(sconn, cout, coutlen, ctypes.byref(sout),
                                   ctypes.byref(soutlen))
    if srv != 0:
        return fail("sasl_server_step", srv, sconn)
    ssf = ctypes.POINTER(ctypes.c_uint)()
    lib.sasl_getprop(sconn, 1, ctypes.byref(ssf))         # SASL_SSF
    name = ctypes.c_char_p()
    lib.sasl_getprop(sconn, 0, ctypes.byref(name))        # SASL_USERNAME
    out.update(ok=True, ssf=ssf.contents.value,
               user=(name.value or b"").decode())
    print(json.dumps(out))
    return 0


def sasl_selftest(conf_dir, mech, host, user, password, tls, env=None):
    child_env = dict(os.environ, SASL_CONF_PATH=conf_dir)
    child_env.update(env or {})
    cmd = [sys.executable, os.path.abspath(__file__), "--sasl-selftest",
           mech, host, user, password, "1" if tls else "0"]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           env=child_env, timeout=20)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timed out"}
    text = p.stdout.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"ok": False, "error": "rc=%s %s" % (p.returncode, text[-500:])}


# ---------------------------------------------------------------------------
# Fixtures: tools, PKI, Cyrus SASL, MIT KDC
# ---------------------------------------------------------------------------

def find_tool(name):
    path = shutil.which(name)
    if path:
        return path
    for d in TOOL_DIRS:
        cand = os.path.join(d, name)
        if os.access(cand, os.X_OK):
            return cand
    return None


def run_tool(cmd, env=None, stdin_bytes=None, timeout=30):
    """(returncode, output text); returncode is None on timeout."""
    try:
        p = subprocess.run(cmd, input=stdin_bytes if stdin_bytes is not None
                           else b"", stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode("utf-8", "replace")


def make_pki(R, tessera, workdir):
    """Runs tessera_test_pki (next to the tessera binary). Returns the folder
    or None."""
    helper = os.path.join(os.path.dirname(tessera), "tessera_test_pki")
    pki = os.path.join(workdir, "pki")
    if not R.check("pki: tessera_test_pki is next to tessera",
                   os.access(helper, os.X_OK), helper):
        return None
    rc, out = run_tool([helper, pki])
    missing = [f for f in PKI_FILES
                if not os.path.isfile(os.path.join(pki, f))]
    if not R.check("pki: tessera_test_pki writes the test PKI",
                   rc == 0 and not missing,
                   "%s" % ", ".join(PKI_FILES) if rc == 0 and not missing
                   else "rc=%s missing %s\n%s" % (rc, missing,
                                                  base.tail(out))):
        return None
    # The subject and SAN that the host-subject and hostname checks rely on.
    try:
        info = ssl._ssl._test_decode_cert(os.path.join(pki, "server-cert.pem"))
        subject = ",".join("%s=%s" % (
            {"countryName": "C", "organizationName": "O",
             "commonName": "CN"}.get(k, k), v)
            for rdn in info["subject"] for (k, v) in rdn)
        san = sorted(info.get("subjectAltName", ()))
        R.check("pki: server certificate subject %s, SAN DNS:localhost and "
                "IP:127.0.0.1" % SERVER_SUBJECT,
                subject == SERVER_SUBJECT and ("DNS", "localhost") in san and
                ("IP Address", "127.0.0.1") in san,
                "subject %s, SAN %s" % (subject, san))
    except Exception as e:  # private helper missing: not the server's fault
        print("      (could not decode the server certificate: %s)" % e)
    return pki


def make_sasl_conf(workdir, name, mech_list, sasldb=None):
    conf_dir = os.path.join(workdir, name)
    os.makedirs(conf_dir, exist_ok=True)
    with open(os.path.join(conf_dir, SASL_APP + ".conf"), "w") as f:
        f.write("mech_list: %s\n" % mech_list)
        if sasldb:
            f.write("sasldb_path: %s\n" % sasldb)
    return conf_dir


def make_sasldb(R, workdir, tools):
    """sasldb with SASL_USER, in saslpasswd2's default realm (the host name,
    which is also what a Cyrus server uses when it is given no realm).
    Returns (path, realm) or (None, None)."""
    conf_dir = make_sasl_conf(workdir, "sasl-saslpasswd2", "digest-md5")
    db = os.path.join(workdir, "sasldb")
    env = dict(os.environ, SASL_CONF_PATH=conf_dir)
    rc, out = run_tool([tools["saslpasswd2"], "-p", "-c", "-f", db, "-a",
                        SASL_APP, SASL_USER], env=env,
                       stdin_bytes=SASL_PASSWORD.encode())
    if not R.check("sasl: saslpasswd2 creates the sasldb", rc == 0 and
                   os.path.exists(db), "" if rc == 0 else
                   "rc=%s\n%s" % (rc, base.tail(out))):
        return None, None
    rc, out = run_tool([tools["sasldblistusers2"], "-f", db], env=env)
    m = re.search(r"^%s@(\S+?):\s*userPassword" % re.escape(SASL_USER), out,
                  re.M)
    R.check("sasl: sasldblistusers2 lists %s" % SASL_USER,
            rc == 0 and m is not None,
            ("%s@%s (realm = this host's name %r)" % (
                SASL_USER, m.group(1), socket.gethostname())) if m else
            "rc=%s\n%s" % (rc, base.tail(out)))
    return (db, m.group(1)) if m else (None, None)


def free_port():
    """A port free for TCP and UDP on 127.0.0.1 (for the KDC)."""
    for _ in range(20):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port for the KDC")


class Kdc:
    """A throwaway MIT KDC for realm KRB_REALM on 127.0.0.1, all in one folder:
    its own krb5.conf (KRB5_CONFIG) and kdc.conf (KRB5_KDC_PROFILE), a
    database made with kdb5_util, principals SASL_USER (password
    SASL_PASSWORD) and KRB_SERVICE (random key, in a keytab for the server),
    and SASL_USER's ticket in a file credential cache."""

    def __init__(self, workdir, tools):
        self.dir = os.path.join(workdir, "krb5")
        os.makedirs(self.dir, exist_ok=True)
        self.tools = tools
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        self.keytab = os.path.join(self.dir, "spice.keytab")
        self.ccache = os.path.join(self.dir, "alice.ccache")
        self.empty_ccache = os.path.join(self.dir, "empty.ccache")  # never made
        self.proc = None
        self.port = None
        self.trace_n = 0

    def _write_conf(self, port):
        with open(self.krb5_conf, "w") as f:
            f.write("""[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    ignore_acceptor_hostname = true
    udp_preference_limit = 1
[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
    }}
[domain_realm]
    localhost = {realm}
""".format(realm=KRB_REALM, port=port))
        with open(self.kdc_conf, "w") as f:
            f.write("""[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}
[realms]
    {realm} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        kdc_listen = 127.0.0.1:{port}
        kdc_tcp_listen = 127.0.0.1:{port}
    }}
[logging]
    kdc = FILE:{d}/kdc.log
    admin_server = FILE:{d}/kadmin.log
    default = FILE:{d}/krb5lib.log
""".format(realm=KRB_REALM, port=port, d=self.dir))
        with open(os.path.join(self.dir, "kadm5.acl"), "w") as f:
            f.write("")

    def admin_env(self):
        return dict(os.environ, KRB5_CONFIG=self.krb5_conf,
                    KRB5_KDC_PROFILE=self.kdc_conf,
                    KRB5CCNAME="FILE:" + self.ccache,
                    KRB5RCACHEDIR=self.dir,
                    KRB5_TRACE=os.path.join(self.dir, "trace-tools.log"))

    def client_env(self, ccache):
        """For a gi client: this realm's krb5.conf and `ccache`; no client
        keytab (MIT could otherwise get a ticket from a default one)."""
        self.trace_n += 1
        return {"KRB5_CONFIG": self.krb5_conf,
                "KRB5CCNAME": "FILE:" + ccache,
                "KRB5_CLIENT_KTNAME": "FILE:" + os.path.join(
                    self.dir, "no-client.keytab"),
                "KRB5RCACHEDIR": self.dir,
                "KRB5_TRACE": os.path.join(
                    self.dir, "trace-client-%d.log" % self.trace_n)}

    def server_env(self):
        return {"KRB5_CONFIG": self.krb5_conf,
                "KRB5_KTNAME": "FILE:" + self.keytab,
                "KRB5CCNAME": "FILE:" + os.path.join(self.dir,
                                                     "server.ccache"),
                "KRB5RCACHEDIR": self.dir,
                "KRB5_TRACE": os.path.join(self.dir, "trace-server.log")}

    def setup(self, R):
        t = self.tools
        env = None
        for attempt in range(3):
            self.port = free_port()
            self._write_conf(self.port)
            env = self.admin_env()
            if attempt == 0:
                steps = [
                    ([t["kdb5_util"], "create", "-s", "-r", KRB_REALM, "-P",
                      "tessera-kdc-master-key"], None),
                    ([t["kadmin.local"], "-r", KRB_REALM, "-q",
                      "addprinc -pw %s %s" % (SASL_PASSWORD, SASL_USER)], None),
                    ([t["kadmin.local"], "-r", KRB_REALM, "-q",
                      "addprinc -randkey %s" % KRB_SERVICE], None),
                    ([t["kadmin.local"], "-r", KRB_REALM, "-q",
                      "ktadd -k %s %s" % (self.keytab, KRB_SERVICE)], None),
                ]
                log = []
                for cmd, inp in steps:
                    rc, out = run_tool(cmd, env=env, stdin_bytes=inp)
                    log.append("$ %s -> %s\n%s" % (" ".join(cmd[:3]), rc, out))
                    if rc != 0:
                        break
                if not R.check("kerberos: KDC database, principals %s and %s"
                               % (SASL_USER, KRB_SERVICE), rc == 0,
                               "realm %s" % KRB_REALM if rc == 0 else
                               base.tail("\n".join(log), 25)):
                    return False
            out_f = open(os.path.join(self.dir, "krb5kdc.out"), "wb")
            self.proc = subprocess.Popen(
                [t["krb5kdc"], "-n", "-r", KRB_REALM], env=env,
                stdout=out_f, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
            out_f.close()
            deadline = time.monotonic() + 10
            up = False
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port),
                                             0.5).close()
                    up = True
                    break
                except OSError:
                    time.sleep(0.05)
            if up:
                break
            self.stop()   # lost the port to someone else: try another
        if not R.check("kerberos: krb5kdc listens on 127.0.0.1",
                       up, "port %d" % self.port if up else
                       base.tail(self._file("krb5kdc.out") +
                                 self._file("kdc.log"))):
            return False
        rc, out = run_tool([t["kinit"], SASL_USER], env=env,
                           stdin_bytes=(SASL_PASSWORD + "\n").encode())
        rc2, out2 = run_tool([t["klist"], "-c", "FILE:" + self.ccache],
                             env=env)
        R.check("kerberos: kinit %s (password on stdin) fills a credential "
                "cache" % SASL_USER,
                rc == 0 and rc2 == 0 and "krbtgt/%s@%s" % (
                    KRB_REALM, KRB_REALM) in out2,
                "%s" % self.ccache if rc == 0 and rc2 == 0 else
                "kinit rc=%s klist rc=%s\n%s" % (rc, rc2,
                                                 base.tail(out + out2)))
        rc, out = run_tool([t["klist"], "-k", self.keytab], env=env)
        R.check("kerberos: the server's keytab holds %s@%s" % (KRB_SERVICE,
                                                             KRB_REALM),
                rc == 0 and "%s@%s" % (KRB_SERVICE, KRB_REALM) in out,
                self.keytab if rc == 0 else base.tail(out))
        return True

    def _file(self, name):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


# ---------------------------------------------------------------------------
# Server and log helpers
# ---------------------------------------------------------------------------

class SecServer(base.Server):
    """`tessera serve` with the ports and security options given in full
    (no implied --spice-port 0) and extra environment. Reads the plain and
    the TLS port from the "connect with" line."""

    def __init__(self, binary, workdir, name, image, extra, env=None):
        self.out_path = os.path.join(workdir, name + ".stdout")
        self.err_path = os.path.join(workdir, name + ".stderr")
        self.out_f = open(self.out_path, "wb")
        self.err_f = open(self.err_path, "wb")
        cmd = [binary, "--log-level", "debug", "serve",
               "--source", "image:" + image, "--listen", "127.0.0.1"] + extra
        child_env = dict(os.environ)
        child_env.update(env or {})
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self.out_f,
                                     stderr=self.err_f,
                                     stdin=subprocess.DEVNULL, env=child_env)
        self.port = None
        self.tls_port = None
        self.exit_code = None

    def wait_ready(self, timeout=base.SERVER_START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            for line in text.splitlines(True):
                if "spice://" not in line or not line.endswith("\n"):
                    continue
                m = re.search(r"spice://127\.0\.0\.1:(\d+)", line) or \
                    re.search(r"[?&]port=(\d+)", line)
                t = re.search(r"tls-port=(\d+)", line)
                self.port = int(m.group(1)) if m else None
                self.tls_port = int(t.group(1)) if t else None
                if self.port or self.tls_port:
                    return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def err_text(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def start(R, label, binary, workdir, image, extra, servers, plain, tls,
          env=None):
    s = SecServer(binary, workdir, label, image, extra, env)
    servers.append(s)
    ok = s.wait_ready()
    want = "%s%s%s" % ("plain port" if plain else "",
                       " and " if plain and tls else "",
                       "TLS port" if tls else "")
    good = ok and (s.port is not None) == plain and \
        (s.tls_port is not None) == tls
    R.check("%s: server starts and prints its %s" % (label, want), good,
            "port %s, tls-port %s" % (s.port, s.tls_port) if good else
            "ready=%s port=%s tls-port=%s\n      $ %s\n%s" % (
                ok, s.port, s.tls_port, " ".join(s.cmd), base.tail(s.log())))
    if not good and s.proc.poll() is None:
        s.proc.kill()     # its ports must not trouble the next scenario
        s.proc.wait(timeout=5)
    return s if good else None


def links(text):
    """[(channel, "tls"|"plain", rest of the line)] for 'linked over' lines."""
    return [(m.group(1).lower(), "tls" if m.group(2).upper() == "TLS"
             else "plain", m.group(3)) for m in LINK_RE.finditer(text)]


def sasl_auth(rest):
    """(mech, user, ssf) from the auth part of a 'linked over' line."""
    mech = re.search(r"\bSASL\s+([A-Za-z0-9_-]+)", rest)
    user = re.search(r"\bas\s+([^\s,;()]+)", rest)
    ssf = re.search(r"\bSSF\s*[=:]?\s*(\d+)", rest)
    if ssf:
        ssf_v = int(ssf.group(1))
    elif re.search(r"no security layer", rest, re.I):
        ssf_v = 0
    else:
        ssf_v = None
    return (mech.group(1).upper() if mech else None,
            user.group(1) if user else None, ssf_v)


def offered_lists(text):
    return [[t.upper() for t in re.findall(r"[A-Za-z0-9_-]+", m.group(1))]
            for m in OFFERED_RE.finditer(text)]


def wait_log(s, mark, regex, timeout=LOG_WAIT):
    """First match of `regex` in the server's stderr after offset `mark`,
    waiting up to `timeout` s for it."""
    deadline = time.monotonic() + timeout
    while True:
        m = regex.search(s.err_text()[mark:])
        if m or time.monotonic() >= deadline:
            return m
        time.sleep(0.1)


def check_reason(R, label, s, mark, regex, what):
    m = wait_log(s, mark, regex)
    return R.check("%s: server log says why (%s)" % (label, what),
                   m is not None,
                   ("'%s'" % m.group(0).strip()[:200]) if m else
                   "no such line after the client ran\n" +
                   base.tail(s.err_text()[mark:]))


def check_refused(R, label, res, raw, out, want):
    """The client got no picture and one of the `want` channel events (or
    any error event if `want` is None)."""
    if res is None:
        return R.check(label + ": refused", False, out)
    errs = [e for e in res["events"] if e[1].startswith("error-")]
    hit = [e for e in errs if want is None or e[1] in want]
    ok = bool(hit) and res["primary"] is None and raw is None
    return R.check(label + ": refused%s" % (
        "" if want is None else " with " + "/".join(want)), ok,
        "events %s%s" % (res["events"], (
            ", %s" % res["error_messages"]) if res.get("error_messages")
            else "") if ok else
        "events %s, primary %s, invalidates %d, timed_out %s\n%s" % (
            res["events"], res["primary"], res["invalidates"],
            res["timed_out"], base.tail(out)))


def check_alive(R, label, s):
    alive = s.proc.poll() is None
    return R.check("%s: server still running" % label, alive,
                   "" if alive else "exit %s\n%s" % (
                       s.proc.poll(), base.tail(s.log())))


def check_links(R, label, text, want):
    """`want`: {channel: "tls"|"plain"}; each must have a 'linked over' line
    of that kind in `text`. Returns the matching lines' auth parts."""
    found = links(text)
    got = {}
    for ch, tr, rest in found:
        got.setdefault(ch, []).append((tr, rest))
    ok = all(any(tr == t for tr, _ in got.get(ch, ())) for ch, t in
             want.items())
    R.check("%s: server log shows %s" % (label, ", ".join(
        "%s linked over %s" % (ch, "TLS" if t == "tls" else "plain TCP")
        for ch, t in sorted(want.items()))), ok,
        "; ".join("%s/%s%s" % (ch, tr, rest) for ch, tr, rest in found
                  if ch in want)[:400] if ok else
        "linked lines: %s\n%s" % (found, base.tail(text)))
    return {ch: [rest for tr, rest in got.get(ch, ()) if tr == t]
            for ch, t in want.items()}


def tls_link_probe(port, pki, with_cert=True):
    """A raw SPICE main-channel link over TLS (as a client that has the test
    client certificate). Returns (link reply error code or None, detail)."""
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca-cert.pem"))
    if with_cert:
        ctx.load_cert_chain(os.path.join(pki, "client-cert.pem"),
                            os.path.join(pki, "client-key.pem"))
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as t:
                t.settimeout(5)
                # SpiceLinkMess: connection 0, main channel 1 id 0, one common
                # caps word (AUTH_SELECTION | AUTH_SPICE | MINI_HEADER).
                mess = struct.pack("<IBBIII", 0, 1, 0, 1, 0, 18) + \
                    struct.pack("<I", 0x0B)
                t.sendall(struct.pack("<IIII", 0x51444552, 2, 2, len(mess)) +
                          mess)
                buf = b""
                while len(buf) < 20:
                    chunk = t.recv(20 - len(buf))
                    if not chunk:
                        break
                    buf += chunk
                if len(buf) < 20:
                    return None, "connection closed after %d bytes" % len(buf)
                magic, major, _minor, _size, err = struct.unpack("<IIIII",
                                                                 buf)
                if magic != 0x51444552 or major != 2:
                    return None, "bad reply header %r" % buf[:16]
                return err, "%s, link reply error %d" % (t.version(), err)
    except (OSError, ssl.SSLError) as e:
        return None, "%s: %s" % (type(e).__name__, e)


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

class Ctx:
    def __init__(self, R, binary, workdir, image, src, servers):
        self.R, self.binary, self.workdir = R, binary, workdir
        self.image, self.src, self.servers = image, src, servers

    def client(self, name, port, **kw):
        return base.run_gi_client(self.workdir, name, port, **kw)

    def picture(self, label, res, raw, out):
        return base.check_gi_picture(self.R, label, self.src, res, raw, out)

    def start(self, label, extra, plain, tls, env=None):
        return start(self.R, label, self.binary, self.workdir, self.image,
                     extra, self.servers, plain, tls, env)

    def stop(self, label, s):
        base.stop_server(self.R, label, s)


def write_password_file(workdir):
    path = os.path.join(workdir, "password")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(PASSWORD + "\n")
    return path


def scenario_tls(c, pki, pwfile):
    """Cases 1-3: TLS only, ticket; CA and host-subject checks."""
    R, label = c.R, "tls"
    ca = os.path.join(pki, "ca-cert.pem")
    s = c.start(label, ["--spice-port", "off", "--spice-tls-port", "0",
                        "--x509-dir", pki, "--password-file", pwfile],
                plain=False, tls=True)
    if not s:
        return
    mark = len(s.err_text())
    res, raw, out = c.client("tls-good", None, password=PASSWORD,
                             tls_port=s.tls_port, ca_file=ca)
    if c.picture("tls (TLS port only, ca-cert.pem, ticket)", res, raw, out):
        auth = check_links(R, label, s.err_text()[mark:],
                           {"main": "tls", "display": "tls"})
        main_auth = " ".join(auth["main"])
        R.check("tls: main channel authenticated by ticket",
                re.search(r"\bticket\b", main_auth, re.I) is not None,
                main_auth.strip()[:200])

    mark = len(s.err_text())
    res, raw, out = c.client("tls-other-ca", None, password=PASSWORD,
                             tls_port=s.tls_port,
                             ca_file=os.path.join(pki, "other-ca-cert.pem"))
    check_refused(R, "tls: client trusting another CA", res, raw, out,
                  ("error-tls",))
    check_reason(R, "tls: client trusting another CA", s, mark, TLS_FAIL_RE,
                 "TLS handshake failure")
    check_alive(R, "tls: after the wrong CA", s)

    # spice-gtk: setting cert-subject adds SUBJECT to the default HOSTNAME
    # verification; --verify subject leaves the subject check alone.
    mark = len(s.err_text())
    res, raw, out = c.client("tls-wrong-subject", None, password=PASSWORD,
                             tls_port=s.tls_port, ca_file=ca,
                             cert_subject=WRONG_SUBJECT, verify="subject")
    check_refused(R, "tls: host-subject %s" % WRONG_SUBJECT, res, raw, out,
                  ("error-tls",))
    check_reason(R, "tls: host-subject mismatch", s, mark, TLS_FAIL_RE,
                 "TLS handshake failure")

    res, raw, out = c.client("tls-subject", None, password=PASSWORD,
                             tls_port=s.tls_port, ca_file=ca,
                             cert_subject=SERVER_SUBJECT, verify="subject")
    c.picture("tls: host-subject %s (after 2 refusals)" % SERVER_SUBJECT,
              res, raw, out)
    c.stop(label, s)


def scenario_tls_ticket(c, pki, pwfile):
    """Case 6: wrong ticket over TLS, then the right one."""
    R, label = c.R, "tls-ticket"
    ca = os.path.join(pki, "ca-cert.pem")
    s = c.start(label, ["--spice-port", "off", "--spice-tls-port", "0",
                        "--x509-dir", pki, "--password-file", pwfile],
                plain=False, tls=True)
    if not s:
        return
    mark = len(s.err_text())
    res, raw, out = c.client("tls-wrong-password", None,
                             password=WRONG_PASSWORD, tls_port=s.tls_port,
                             ca_file=ca)
    check_refused(R, "tls-ticket: wrong password over TLS", res, raw, out,
                  ("error-auth",))
    check_reason(R, "tls-ticket: wrong password", s, mark, TICKET_FAIL_RE,
                 "wrong ticket")
    check_alive(R, label, s)
    res, raw, out = c.client("tls-right-password", None, password=PASSWORD,
                             tls_port=s.tls_port, ca_file=ca)
    c.picture("tls-ticket: right password after a wrong one", res, raw, out)
    c.stop(label, s)



class Relay:
    """Forwards a local port to the server and records, per connection, the
    bytes each side sent: what someone on the path sees and could replay."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.lsock.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.target))
            rec = {"client": bytearray(), "server": bytearray()}
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._pump, args=(a, b, rec, "client"),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(b, a, rec, "server"),
                             daemon=True).start()

    def _pump(self, src, dst, rec, side):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    rec[side] += data
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.lsock.close()

    def recorded(self):
        with self.lock:
            return [{"client": bytes(r["client"]), "server": bytes(r["server"])}
                    for r in self.conns]


def link_ticket_bytes(client):
    """The link message, mechanism word and 128-byte ticket at the start of
    what a spice-gtk connection sent, and its channel type; None if short."""
    if len(client) < 16:
        return None, None
    magic, major, minor, size = struct.unpack("<IIII", client[:16])
    need = 16 + size + 4 + 128
    if magic != 0x51444552 or len(client) < need:
        return None, None
    return client[:need], client[16 + 4]


def recv_exact(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def scenario_ticket_replay(c, pwfile):
    """A ticket recorded on the plain port must not open another connection."""
    R, label = c.R, "ticket-replay"
    s = c.start(label, ["--spice-port", "0", "--password-file", pwfile],
                plain=True, tls=False)
    if not s:
        return
    relay = Relay(s.port)
    try:
        res, raw, out = c.client("replay-recorded", relay.port,
                                 password=PASSWORD)
        c.picture("ticket-replay: spice-gtk through a recording relay", res,
                  raw, out)
        conns = relay.recorded()
    finally:
        relay.close()
    mains = []
    keys = set()
    for rec in conns:
        msg, channel = link_ticket_bytes(rec["client"])
        if msg is not None and channel == 1:  # SPICE_CHANNEL_MAIN
            mains.append(msg)
        if len(rec["server"]) >= 16 + 4 + 162:
            keys.add(rec["server"][20:20 + 162])
    R.check("ticket-replay: the relay recorded the main channel's link and "
            "ticket", bool(mains), "%d connections recorded" % len(conns))
    R.check("ticket-replay: every link got its own RSA key",
            len(keys) == len(conns) and len(conns) >= 2,
            "%d distinct keys in %d link replies" % (len(keys), len(conns)))
    if not mains:
        c.stop(label, s)
        return
    mark = len(s.err_text())
    result = None
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            sock.sendall(mains[0])
            head = recv_exact(sock, 16)
            size = struct.unpack("<I", head[12:16])[0] if len(head) == 16 else 0
            reply = recv_exact(sock, size)
            link_ok = len(reply) >= 4 and struct.unpack("<I", reply[:4])[0] == 0
            word = recv_exact(sock, 4)
            result = struct.unpack("<I", word)[0] if len(word) == 4 else None
    except OSError as e:
        link_ok = False
        result = "socket error: %s" % e
    R.check("ticket-replay: the recorded bytes, replayed unchanged on a new "
            "connection, get PERMISSION_DENIED (7)", link_ok and result == 7,
            "link reply ok %s, result %s" % (link_ok, result))
    check_reason(R, "ticket-replay", s, mark,
                 re.compile(r"ticket does not decrypt", re.I),
                 "the replayed ticket is not for this link's key")
    check_alive(R, label, s)
    res, raw, out = c.client("replay-after", s.port, password=PASSWORD)
    c.picture("ticket-replay: the real client still logs in", res, raw, out)
    c.stop(label, s)


def refuses_to_start(binary, workdir, name, image, extra):
    """(exit code, stderr) of a server that must stop at once; the code is
    None if it was still running after 15 s (then it is killed)."""
    err_path = os.path.join(workdir, name + ".stderr")
    with open(err_path, "wb") as err:
        p = subprocess.Popen([binary, "serve", "--source", "image:" + image,
                              "--listen", "127.0.0.1"] + extra,
                             stdout=subprocess.DEVNULL, stderr=err,
                             stdin=subprocess.DEVNULL)
        try:
            rc = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
    with open(err_path, "rb") as f:
        return rc, f.read().decode("utf-8", "replace")


def scenario_verify_everywhere(c, pki, pwfile):
    """--tls-verify-client must cover every listener and every method."""
    R = c.R
    cases = [
        ("plain SPICE port beside VNC (tickets without a certificate)",
         ["--spice-port", "0", "--vnc-port", "0", "--password-file", pwfile,
          "--x509-dir", pki, "--tls-verify-client"],
         "simply uses the plain SPICE port"),
        ("plain SPICE port beside the TLS port",
         ["--spice-port", "0", "--spice-tls-port", "0", "--password-file",
          pwfile, "--x509-dir", pki, "--tls-verify-client"],
         "simply uses the plain SPICE port"),
        ("VNC authentication offered beside X509Vnc",
         ["--spice-port", "off", "--vnc-port", "0", "--vnc-security",
          "x509vnc,vnc", "--password-file", pwfile, "--x509-dir", pki,
          "--tls-verify-client"],
         "vnc does not check a client certificate"),
    ]
    for i, (what, extra, needle) in enumerate(cases):
        rc, err = refuses_to_start(c.binary, c.workdir, "verify-%d" % i,
                                   c.image, extra)
        R.check("verify-everywhere: %s: the server refuses to start" % what,
                rc not in (None, 0) and needle in err,
                "exit %s: %s" % (rc, base.tail(err, 4)))


def scenario_client_cert(c, pki):
    """Case 4: --tls-verify-client refuses spice-gtk (no client cert)."""
    R, label = c.R, "client-cert"
    s = c.start(label, ["--spice-port", "off", "--spice-tls-port", "0",
                        "--x509-dir", pki, "--disable-ticketing",
                        "--tls-verify-client"], plain=False, tls=True)
    if not s:
        return
    mark = len(s.err_text())
    res, raw, out = c.client("client-cert-none", None, tls_port=s.tls_port,
                             ca_file=os.path.join(pki, "ca-cert.pem"))
    # TLS 1.3: the client's handshake is done before the server checks its
    # (absent) certificate, so spice-gtk may report a link or I/O error.
    check_refused(R, "client-cert: spice-gtk without a client certificate",
                  res, raw, out, None)
    check_reason(R, "client-cert: no client certificate", s, mark,
                 CLIENT_CERT_RE, "TLS handshake failure: no certificate")
    check_alive(R, label, s)
    err, detail = tls_link_probe(s.tls_port, pki, with_cert=True)
    R.check("client-cert: a link with the test client certificate is still "
            "accepted", err == 0, detail)
    c.stop(label, s)


def scenario_need_secured(c, pki, pwfile):
    """Case 5: --secure-channels display; client knows both ports."""
    R, label = c.R, "need-secured"
    s = c.start(label, ["--spice-port", "0", "--spice-tls-port", "0",
                        "--x509-dir", pki, "--password-file", pwfile,
                        "--secure-channels", "display"], plain=True, tls=True)
    if not s:
        return
    mark = len(s.err_text())
    res, raw, out = c.client("need-secured", s.port, password=PASSWORD,
                             tls_port=s.tls_port,
                             ca_file=os.path.join(pki, "ca-cert.pem"))
    c.picture("need-secured: display switched to TLS", res, raw, out)
    text = s.err_text()[mark:]
    ns = [m for m in NEED_SECURED_RE.finditer(text)
          if re.search(r"display", m.group(0), re.I)]
    R.check("need-secured: server refuses the display on the plain port "
            "with NEED_SECURED", bool(ns),
            "'%s'" % ns[0].group(0).strip()[:200] if ns else
            "no NEED_SECURED line naming the display\n" + base.tail(text))
    check_links(R, label, text, {"main": "plain", "display": "tls"})
    if ns:
        tls_after = [m for m in LINK_RE.finditer(text)
                     if m.group(1).lower() == "display" and
                     m.group(2).upper() == "TLS" and m.start() > ns[0].start()]
        R.check("need-secured: the display links over TLS after the "
                "refusal", bool(tls_after))
    plain_main_refused = [m for m in NEED_SECURED_RE.finditer(text)
                          if re.search(r"\bmain\b", m.group(0))]
    R.check("need-secured: main is not refused", not plain_main_refused,
            "" if not plain_main_refused else plain_main_refused[0].group(0))
    c.stop(label, s)


def check_sasl_link(R, label, text, transport, mech, min_ssf, max_ssf=None):
    auth = check_links(R, label, text, {"main": transport,
                                        "display": transport})
    parsed = [sasl_auth(rest) for rest in auth["main"] + auth["display"]]
    ok = bool(parsed) and all(
        m == mech and u is not None and u.split("@")[0] == SASL_USER and
        s is not None and s >= min_ssf and (max_ssf is None or s <= max_ssf)
        for m, u, s in parsed)
    want = "SSF >= %d" % min_ssf if max_ssf is None else \
        "SSF %d (no security layer)" % max_ssf if max_ssf == min_ssf else \
        "SSF %d..%d" % (min_ssf, max_ssf)
    R.check("%s: log shows SASL %s as %s, %s" % (label, mech, SASL_USER, want),
            ok, "(mech, user, ssf) per channel: %s" % parsed)


def scenario_sasl_digest(c, conf_dir):
    """Case 7: DIGEST-MD5 on the plain port."""
    R, label = c.R, "sasl-digest"
    s = c.start(label, ["--spice-port", "0", "--sasl", "--sasl-config-dir",
                        conf_dir], plain=True, tls=False)
    if not s:
        return
    mark = len(s.err_text())
    res, raw, out = c.client("sasl-digest", s.port, username=SASL_USER,
                             password=SASL_PASSWORD)
    if c.picture("sasl-digest: DIGEST-MD5 on the plain port", res, raw, out):
        text = s.err_text()[mark:]
        check_sasl_link(R, label, text, "plain", "DIGEST-MD5", 56)
        offered = offered_lists(text)
        R.check("sasl-digest: only DIGEST-MD5 offered on the plain port "
                "(no SCRAM, no PLAIN)",
                bool(offered) and all(o == ["DIGEST-MD5"] for o in offered),
                "offered per connection: %s" % offered)
    mark = len(s.err_text())
    res, raw, out = c.client("sasl-digest-wrong", s.port, username=SASL_USER,
                             password=WRONG_PASSWORD)
    check_refused(R, "sasl-digest: wrong password", res, raw, out,
                  ("error-auth",))
    check_reason(R, "sasl-digest: wrong password", s, mark, SASL_FAIL_RE,
                 "SASL failure")
    check_alive(R, label, s)
    res, raw, out = c.client("sasl-digest-again", s.port, username=SASL_USER,
                             password=SASL_PASSWORD)
    c.picture("sasl-digest: right password after a wrong one", res, raw, out)
    c.stop(label, s)


def scenario_sasl_scram(c, pki, conf_dir):
    """Case 8: SCRAM-SHA-256 over TLS; the same on a plain port fails."""
    R, label = c.R, "sasl-scram-tls"
    ca = os.path.join(pki, "ca-cert.pem")
    s = c.start(label, ["--spice-port", "off", "--spice-tls-port", "0",
                        "--x509-dir", pki, "--sasl", "--sasl-config-dir",
                        conf_dir], plain=False, tls=True)
    if s:
        mark = len(s.err_text())
        res, raw, out = c.client("sasl-scram-tls", None, username=SASL_USER,
                                 password=SASL_PASSWORD, tls_port=s.tls_port,
                                 ca_file=ca)
        if c.picture("sasl-scram-tls: SCRAM-SHA-256 over TLS", res, raw, out):
            check_sasl_link(R, label, s.err_text()[mark:], "tls",
                            "SCRAM-SHA-256", 0, 0)
        mark = len(s.err_text())
        res, raw, out = c.client("sasl-scram-tls-wrong", None,
                                 username=SASL_USER, password=WRONG_PASSWORD,
                                 tls_port=s.tls_port, ca_file=ca)
        check_refused(R, "sasl-scram-tls: wrong password", res, raw, out,
                      ("error-auth",))
        check_reason(R, "sasl-scram-tls: wrong password", s, mark,
                     SASL_FAIL_RE, "SASL failure")
        check_alive(R, label, s)
        res, raw, out = c.client("sasl-scram-tls-again", None,
                                 username=SASL_USER, password=SASL_PASSWORD,
                                 tls_port=s.tls_port, ca_file=ca)
        c.picture("sasl-scram-tls: right password after a wrong one", res,
                  raw, out)
        c.stop(label, s)

    label = "sasl-scram-plain"
    s = c.start(label, ["--spice-port", "0", "--sasl", "--sasl-config-dir",
                        conf_dir], plain=True, tls=False)
    if s:
        mark = len(s.err_text())
        res, raw, out = c.client("sasl-scram-plain", s.port,
                                 username=SASL_USER, password=SASL_PASSWORD)
        check_refused(R, "sasl-scram-plain: SCRAM-only SASL on a plain port",
                      res, raw, out, ("error-auth",))
        check_reason(R, "sasl-scram-plain", s, mark, SASL_FAIL_RE,
                     "no usable mechanism")
        check_alive(R, label, s)
        c.stop(label, s)


def scenario_sasl_gssapi(c, conf_dir, kdc):
    """Case 9: GSSAPI with the throwaway KDC, on the plain port."""
    R, label = c.R, "sasl-gssapi"
    env = kdc.server_env()
    env["SASL_CONF_PATH"] = conf_dir    # the other way to name the config
    s = c.start(label, ["--spice-port", "0", "--sasl"], plain=True,
                tls=False, env=env)
    if not s:
        return
    mark = len(s.err_text())
    res, raw, out = c.client("sasl-gssapi", s.port, host="localhost",
                             username=SASL_USER,
                             env=kdc.client_env(kdc.ccache))
    if c.picture("sasl-gssapi: GSSAPI (Kerberos) on the plain port", res, raw,
                 out):
        check_sasl_link(R, label, s.err_text()[mark:], "plain", "GSSAPI", 56)
    mark = len(s.err_text())
    res, raw, out = c.client("sasl-gssapi-nocreds", s.port, host="localhost",
                             username=SASL_USER,
                             env=kdc.client_env(kdc.empty_ccache))
    check_refused(R, "sasl-gssapi: client with no Kerberos credentials", res,
                  raw, out, ("error-auth",))
    check_reason(R, "sasl-gssapi: client with no credentials", s, mark,
                 SASL_FAIL_RE, "SASL failure")
    check_alive(R, label, s)
    res, raw, out = c.client("sasl-gssapi-again", s.port, host="localhost",
                             username=SASL_USER,
                             env=kdc.client_env(kdc.ccache))
    c.picture("sasl-gssapi: a good client after the refusal", res, raw, out)
    c.stop(label, s)


def preflight(R):
    """Tools and spice-gtk's introspection data. Returns {tool: path}."""
    tools = {}
    for name in TOOLS:
        path = find_tool(name)
        tools[name] = path
        R.check("tool %s present" % name, path is not None,
                path or "missing: install sasl2-bin, krb5-kdc, "
                "krb5-admin-server and krb5-user")
    try:
        import gi
        gi.require_version("SpiceClientGLib", "2.0")
        from gi.repository import SpiceClientGLib
        props = {p.name for p in SpiceClientGLib.Session.list_properties()}
        need = {"host", "port", "tls-port", "password", "username", "ca-file",
                "cert-subject", "verify", "secure-channels"}
        missing = sorted(need - props)
        R.check("spice-gtk session has the properties used",
                not missing and hasattr(SpiceClientGLib, "SessionVerify"),
                ", ".join(sorted(need)) if not missing else
                "missing %s" % missing)
    except Exception as e:
        R.check("spice-gtk GObject introspection (gir1.2-spiceclientglib-2.0)",
                False, str(e))
    return tools


def main(argv):
    if len(argv) >= 2 and argv[1] == "--sasl-selftest":
        return sasl_selftest_main(argv[2:])
    binary = base.binary_from_argv(argv)
    if binary is None:
        return 2

    R = base.Results()
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="tessera-e2e-sec-")
    servers = []
    kdc = None
    try:
        tools = preflight(R)
        have_sasl = tools["saslpasswd2"] and tools["sasldblistusers2"]
        have_krb = all(tools[t] for t in ("kdb5_util", "kadmin.local",
                                          "krb5kdc", "kinit", "klist"))

        src = base.make_image(WIDTH, HEIGHT)
        image = os.path.join(workdir, "source.png")
        base.write_png(image, WIDTH, HEIGHT, src)
        c = Ctx(R, binary, workdir, image, src, servers)
        pwfile = write_password_file(workdir)

        # Fixtures first, all proven before any server runs.
        pki = make_pki(R, binary, workdir)
        digest_conf = scram_conf = gss_conf = None
        if have_sasl:
            db, realm = make_sasldb(R, workdir, tools)
            if db:
                digest_conf = make_sasl_conf(
                    workdir, "sasl-digest", "digest-md5 scram-sha-256 plain",
                    db)
                scram_conf = make_sasl_conf(workdir, "sasl-scram",
                                            "scram-sha-256", db)
                st = sasl_selftest(digest_conf, "DIGEST-MD5 SCRAM-SHA-256 "
                                   "PLAIN", "localhost", SASL_USER,
                                   SASL_PASSWORD, tls=False)
                R.check("fixture: Cyrus SASL loopback on a plain link picks "
                        "DIGEST-MD5 with a security layer",
                        st.get("ok") and st.get("mech") == "DIGEST-MD5" and
                        st.get("ssf", 0) >= 56, json.dumps(st))
                st = sasl_selftest(scram_conf, "SCRAM-SHA-256", "localhost",
                                   SASL_USER, SASL_PASSWORD, tls=True)
                R.check("fixture: Cyrus SASL loopback, SCRAM-SHA-256 with "
                        "TLS as external SSF", st.get("ok") and
                        st.get("mech") == "SCRAM-SHA-256", json.dumps(st))
        if have_krb and have_sasl:
            kdc = Kdc(workdir, tools)
            if kdc.setup(R):
                gss_conf = make_sasl_conf(workdir, "sasl-gssapi", "gssapi")
                env = kdc.server_env()
                env.update(kdc.client_env(kdc.ccache))
                env["KRB5_TRACE"] = os.path.join(kdc.dir, "trace-selftest.log")
                st = sasl_selftest(gss_conf, "GSSAPI", "localhost", SASL_USER,
                                   "unused", tls=False, env=env)
                R.check("fixture: Cyrus SASL loopback, GSSAPI as %s to "
                        "spice@localhost with a security layer" % SASL_USER,
                        st.get("ok") and st.get("mech") == "GSSAPI" and
                        st.get("ssf", 0) >= 56, json.dumps(st))
            else:
                gss_conf = None

        if pki:
            scenario_tls(c, pki, pwfile)
            scenario_tls_ticket(c, pki, pwfile)
            scenario_client_cert(c, pki)
            scenario_verify_everywhere(c, pki, pwfile)
            scenario_need_secured(c, pki, pwfile)
        scenario_ticket_replay(c, pwfile)
        if digest_conf:
            scenario_sasl_digest(c, digest_conf)
        if scram_conf and pki:
            scenario_sasl_scram(c, pki, scram_conf)
        if gss_conf:
            scenario_sasl_gssapi(c, gss_conf, kdc)
    except Exception as e:  # a bug in this script is a failure too
        base.script_error(R, e)
    finally:
        if kdc is not None:
            kdc.stop()
        base.kill_servers(servers)
        base.keep_if_failed(R, workdir)

    return base.tally(R, t0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
