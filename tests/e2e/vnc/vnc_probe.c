/* vnc_probe: one stock libvncclient (0.9.14) connection, for the end-to-end tests.
 *
 * Connects to an RFB server with libvncclient, authenticates with whatever the
 * command line supplies (VNC password, VeNCrypt Plain user/password, X509 CA /
 * CRL / client certificate, SASL user/password), asks for the whole framebuffer
 * in a chosen pixel format and encoding list, waits until no update arrived for
 * --settle-ms, writes the picture as a binary PPM and prints ONE JSON line:
 *
 *   {"connected":bool,"error":"...","width":W,"height":H,"security_type":N,
 *    "security_subtype":N,"security_name":"...","encodings_seen":["zrle",...],
 *    "rects":{"zrle":N,...},"pseudo_rects":{"-258":N},"tight_jpeg_rects":N,"updates":N,"bytes":N,
 *    "complete":bool,"settled":bool,"sasl_mech":"DIGEST-MD5","sasl_ssf":N|null,
 *    "pixel_format":"...","server_format":"...","local_port":N,
 *    "protocol":"3.8","desktop_name":"...","ms":N,"exit":N,"log":[...last lines...]}
 *
 * With --hold-ms, --type, --pointer or --cursor it also reports
 *   "first_width":W,"first_height":H (the size at the first settled picture),
 *   "sizes":[[W,H],...] (every framebuffer (re)allocation: DesktopSize and
 *   ExtendedDesktopSize resizes show here), "keys_sent":N, "pointer_sent":N,
 *   "cursor":{"shapes":N,"width":W,"height":H,"hot_x":X,"hot_y":Y} or null,
 *   "desktop_size":[{"enc":-308,"x":X,"y":Y,"w":W,"h":H,"screen_ids":[ID,...]},...]
 *   (every DesktopSize -223 / ExtendedDesktopSize -308 rect header seen, with the
 *   ids of the screens that follow an ExtendedDesktopSize header: libvncclient
 *   0.9.14 ignores an ExtendedDesktopSize whose screen has id 0),
 * and prints an extra line {"event":"settled","width":W,"height":H,...} (flushed)
 * as soon as the first picture settled, before any input is sent: a test that
 * wants to change the server's screen under a connected client waits for it.
 * After that line the probe types --type, then sends the --pointer events (in
 * order, 20 ms apart: an xterm hides its pointer on a key and shows it on motion),
 * then stays connected for --hold-ms and until no update came for --settle-ms;
 * --out gets that final picture and "width"/"height" its size.
 *
 *   --type TEXT    KeyEvent keysyms (RFB KeyEvent, not QEMU scan codes): a
 *                  printable ASCII character is its own keysym, with XK_Shift_L
 *                  held around upper-case letters and shifted US symbols; \n is
 *                  XK_Return (the two characters backslash-n in TEXT as well).
 *   --pointer X,Y[,MASK]  a PointerEvent (repeatable, up to 16).
 *   --cursor       lists the Cursor/XCursor pseudo-encodings (useRemoteCursor)
 *                  and records the shapes (GotCursorShape).
 *   --cursor-out F the last cursor shape as width*height RGBA bytes (8 bits a
 *                  channel from the client pixel format; A = 255 where the mask
 *                  bit is set, else 0, with R = G = B = 0).
 *
 * With --update-log FILE it writes a line per finished update: "MONOTONIC_US BYTES RRGGBB",
 * the CLOCK_MONOTONIC time in microseconds (comparable across processes), the bytes read so far
 * and the pixel at --watch X,Y: scripts/compare-references turns these into update latency and
 * byte timelines.
 *
 * Exit status 0 if it connected and wrote a frame, 1 otherwise, 2 on bad usage.
 * It never hangs: an interval timer ends the process after --timeout-ms whatever
 * libvncclient is doing (the JSON line is still printed, with the error).
 *
 * Pixel formats (--pixel-format, --bgr = bgr565):
 *   default  32 bpp, depth 24, little endian, R shift 0, G 8, B 16 (libvncclient's own)
 *   bgrx     32 bpp, depth 24, little endian, R 16, G 8, B 0 (X servers' natural format)
 *   be32     32 bpp, depth 24, big endian, R 0, G 8, B 16
 *   bgr565   16 bpp, depth 16, little endian, R max 31 shift 0, G 63 << 5, B 31 << 11
 *   rgb565   16 bpp, depth 16, little endian, R 31 << 11, G 63 << 5, B 31 << 0
 *   bgr233    8 bpp, depth 8, R max 7 shift 0, G 7 << 3, B 3 << 6 (libvncclient's 8 bpp)
 * In the PPM a channel of n < 8 bits is written as value << (8 - n) (no bit
 * replication), so the test computes the expected picture from the server's
 * 8-to-n-bit rule: truncation (v >> (8 - n)) or rounding ((v * max + 127) / 255;
 * TigerVNC 1.12 measured as (v * max + 128) / 255). libvncclient's Tight and
 * ZRLE decoders get big-endian 32 bpp wrong (checked against Xvnc: raw and
 * hextile exact, tight and zrle not): use be32 with raw/hextile only.
 *
 * SASL: user from --user, password from --password; --sasl-mech picks one of the
 * server's mechanisms (else Cyrus picks). "sasl_mech"/"sasl_ssf" come from
 * libvncclient's log (SSF 0: inside TLS, no SASL layer).
 *
 * "encodings_seen"/"rects" count the rectangles of pixel data by encoding; they
 * are read from the rectangle headers, which libvncclient does not expose: this
 * program interposes ReadFromRFBServer (exported with -rdynamic; libvncclient
 * calls it through its PLT) and pairs the last 12-byte read with the
 * SoftCursorLockArea hook that libvncclient calls right after a rectangle
 * header. "bytes" is everything read from the server after TLS/SASL decoding.
 *
 * Security type selection is libvncclient's: the first type in the SERVER's
 * list that it supports (restricted to --auth-types if given, via
 * SetClientAuthSchemes; that filter applies to the top-level list only), and
 * inside VeNCrypt the first TLS/X509 sub-type in the server's order (a plain
 * 1/2/256 only if nothing encrypted is offered).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <rfb/rfbclient.h>

/* ------------------------------------------------------------------ state */

struct options {
  const char* host;
  int port;
  uint32_t auth_types[32];
  int n_auth_types;
  const char* password;
  const char* user;
  const char* ca;
  const char* crl;
  const char* cert;
  const char* key;
  const char* encodings;
  int quality;  /* -1: no JPEG quality pseudo-encoding (lossless) */
  int compress; /* -2: libvncclient default (3); -1: none */
  const char* out;
  int settle_ms;
  int timeout_ms;
  const char* pixel_format;
  const char* sasl_mech; /* NULL: libvncclient/Cyrus choose from the server's list */
  int hold_ms;           /* stay connected this long after the first settled picture */
  const char* type;      /* keysyms to send after the first picture */
  int pointer[16][3];    /* x, y, button mask */
  int n_pointer;
  int cursor;            /* useRemoteCursor */
  const char* cursor_out;
  const char* update_log; /* a line per finished update: monotonic µs, bytes so far, watched pixel */
  int watch_x, watch_y;
};

static struct options opt = {
    .host = NULL, .port = -1, .n_auth_types = 0, .encodings = NULL, .quality = -1,
    .compress = -2, .out = NULL, .settle_ms = 400, .timeout_ms = 10000, .pixel_format = "default",
    .update_log = NULL, .watch_x = 0, .watch_y = 0,
};
static FILE* g_update_log;

#define N_LOG 12
#define LOG_LEN 300
static char g_log[N_LOG][LOG_LEN];
static int g_log_n; /* total lines seen */

static rfbClient* g_client;
static int g_connected;
static int g_updates;
static unsigned long long g_bytes;
static int g_settled;
static int g_complete;
static long long g_t0;

static unsigned char g_last12[12];
static int g_have12;
static int g_expect_tight_ctl;
static int g_tight_jpeg;

#define N_ENC 32
static struct {
  int32_t enc;
  int count;
} g_encs[N_ENC];
static int g_n_encs;

static unsigned char* g_covered; /* width*height bytes, 1 = some rect covered it */
static int g_cov_w, g_cov_h;

static char g_pf_desc[128] = "";
static char g_sasl_mech[64] = "";
static int g_sasl_ssf = -1;
static int g_local_port = -1; /* our end of the TCP connection: the server logs it as the peer */
static char g_server_pf[128] = "";

static int g_extended; /* report the hold/input/cursor fields */
static int g_first_w = -1, g_first_h = -1;
#define N_SIZES 16
static int g_sizes[N_SIZES][2];
static int g_n_sizes;
static int g_keys_sent, g_pointer_sent;
static int g_cursor_shapes, g_cursor_w, g_cursor_h, g_cursor_hx, g_cursor_hy;
static unsigned char* g_cursor_rgba; /* the last shape, w*h*4 */
#define N_DS 16
static struct {
  int32_t enc;
  int x, y, w, h, n_ids;
  uint32_t ids[4];
} g_ds[N_DS];
static int g_n_ds;
static int g_ds_state; /* 1: ExtendedDesktopSize header read, 2: reading its screens */
static int g_ds_screens_left;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ JSON */

struct buf {
  char* p;
  size_t len, cap;
};

static void b_put(struct buf* b, const char* s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    n = b->cap - b->len - 1; /* fixed buffer: truncate (signal-handler safe) */
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void b_str(struct buf* b, const char* s) { b_put(b, s, strlen(s)); }

static void b_fmt(struct buf* b, const char* fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) b_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void b_jstr(struct buf* b, const char* s) {
  b_str(b, "\"");
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      b_put(b, e, 2);
    } else if (c == '\n') {
      b_str(b, "\\n");
    } else if (c < 0x20 || c >= 0x7f) {
      b_fmt(b, "\\u%04x", c);
    } else {
      b_put(b, (const char*)&c, 1);
    }
  }
  b_str(b, "\"");
}

static const char* enc_name(int32_t e) {
  switch (e) {
    case 0: return "raw";
    case 1: return "copyrect";
    case 2: return "rre";
    case 4: return "corre";
    case 5: return "hextile";
    case 6: return "zlib";
    case 7: return "tight";
    case 8: return "zlibhex";
    case 9: return "ultra";
    case 10: return "ultrazip";
    case 15: return "trle";
    case 16: return "zrle";
    case 17: return "zywrle";
    default: return NULL;
  }
}

static const char* sec_name(uint32_t t, uint32_t sub) {
  switch (t) {
    case 1: return "None";
    case 2: return "VncAuth";
    case 18: return "TLS";
    case 20: return "SASL";
    case 19:
      switch (sub) {
        case 1: return "VeNCrypt None";
        case 2: return "VeNCrypt VncAuth";
        case 256: return "VeNCrypt Plain";
        case 257: return "VeNCrypt TLSNone";
        case 258: return "VeNCrypt TLSVnc";
        case 259: return "VeNCrypt TLSPlain";
        case 260: return "VeNCrypt X509None";
        case 261: return "VeNCrypt X509Vnc";
        case 262: return "VeNCrypt X509Plain";
        case 263: return "VeNCrypt X509SASL";
        case 264: return "VeNCrypt TLSSASL";
        default: return "VeNCrypt";
      }
    default: return "";
  }
}

/* The error text: the interesting lines of libvncclient's log, newest last. */
static int interesting(const char* l) {
  static const char* words[] = {"fail", "refus", "error", "unknown", "not ", "cannot", "unable",
                                "timed out", "closed", "invalid", "too ", "revoked", "expired",
                                "issuer", "trusted", "mismatch", "does not match", "zero", "no ca", "missing"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strcasestr(l, words[i])) return 1;
  return 0;
}

static void emit_json(const char* error, int exit_code) {
  static char mem[16384];
  struct buf b = {mem, 0, sizeof mem};
  rfbClient* c = g_client;
  char errtext[1200] = "";
  if (error && *error) {
    snprintf(errtext, sizeof errtext, "%s", error);
  }
  /* Append libvncclient's own reasons (last few interesting lines). */
  int first = g_log_n > N_LOG ? g_log_n - N_LOG : 0;
  for (int i = first; i < g_log_n; i++) {
    const char* l = g_log[i % N_LOG];
    if (!interesting(l)) continue;
    size_t len = strlen(errtext);
    if (len + 4 >= sizeof errtext) break;
    snprintf(errtext + len, sizeof errtext - len, "%s%s", len ? "; " : "", l);
  }
  b_str(&b, "{\"connected\":");
  b_str(&b, g_connected ? "true" : "false");
  b_str(&b, ",\"error\":");
  b_jstr(&b, errtext);
  b_fmt(&b, ",\"width\":%d,\"height\":%d", c ? c->width : 0, c ? c->height : 0);
  uint32_t t = c ? c->authScheme : 0, sub = c ? c->subAuthScheme : 0;
  b_fmt(&b, ",\"security_type\":%u,\"security_subtype\":%u,\"security_name\":", t, sub);
  b_jstr(&b, sec_name(t, sub));
  /* Pixel-data encodings (>= 0) and, apart, pseudo-encoding rectangles. */
  for (int pseudo = 0; pseudo < 2; pseudo++) {
    b_str(&b, pseudo ? "},\"pseudo_rects\":{" : ",\"encodings_seen\":[");
    int k = 0;
    for (int i = 0; i < g_n_encs; i++) {
      if ((g_encs[i].enc < 0) != pseudo) continue;
      const char* n = enc_name(g_encs[i].enc);
      if (k++) b_str(&b, ",");
      if (n)
        b_jstr(&b, n);
      else
        b_fmt(&b, "\"%d\"", g_encs[i].enc);
      if (pseudo) b_fmt(&b, ":%d", g_encs[i].count);
    }
    if (!pseudo) {
      b_str(&b, "],\"rects\":{");
      k = 0;
      for (int i = 0; i < g_n_encs; i++) {
        if (g_encs[i].enc < 0) continue;
        if (k++) b_str(&b, ",");
        const char* n = enc_name(g_encs[i].enc);
        if (n)
          b_jstr(&b, n);
        else
          b_fmt(&b, "\"%d\"", g_encs[i].enc);
        b_fmt(&b, ":%d", g_encs[i].count);
      }
    }
  }
  b_fmt(&b, "},\"tight_jpeg_rects\":%d,\"updates\":%d,\"bytes\":%llu", g_tight_jpeg, g_updates, g_bytes);
  b_fmt(&b, ",\"complete\":%s,\"settled\":%s", g_complete ? "true" : "false",
        g_settled ? "true" : "false");
  b_str(&b, ",\"sasl_mech\":");
  b_jstr(&b, g_sasl_mech);
  if (g_sasl_ssf >= 0)
    b_fmt(&b, ",\"sasl_ssf\":%d", g_sasl_ssf);
  else
    b_str(&b, ",\"sasl_ssf\":null");
  b_str(&b, ",\"pixel_format\":");
  b_jstr(&b, g_pf_desc);
  b_str(&b, ",\"server_format\":");
  b_jstr(&b, g_server_pf);
  if (c && c->major)
    b_fmt(&b, ",\"protocol\":\"%d.%d\"", c->major, c->minor);
  else
    b_str(&b, ",\"protocol\":null");
  b_str(&b, ",\"desktop_name\":");
  b_jstr(&b, c && g_connected && c->desktopName ? c->desktopName : "");
  b_fmt(&b, ",\"local_port\":%d", g_local_port);
  if (g_extended) {
    b_fmt(&b, ",\"first_width\":%d,\"first_height\":%d,\"sizes\":[", g_first_w, g_first_h);
    for (int i = 0; i < g_n_sizes; i++) b_fmt(&b, "%s[%d,%d]", i ? "," : "", g_sizes[i][0], g_sizes[i][1]);
    b_fmt(&b, "],\"keys_sent\":%d,\"pointer_sent\":%d,\"cursor\":", g_keys_sent, g_pointer_sent);
    if (g_cursor_shapes)
      b_fmt(&b, "{\"shapes\":%d,\"width\":%d,\"height\":%d,\"hot_x\":%d,\"hot_y\":%d}", g_cursor_shapes,
            g_cursor_w, g_cursor_h, g_cursor_hx, g_cursor_hy);
    else
      b_str(&b, "null");
    b_str(&b, ",\"desktop_size\":[");
    for (int i = 0; i < g_n_ds; i++) {
      b_fmt(&b, "%s{\"enc\":%d,\"x\":%d,\"y\":%d,\"w\":%d,\"h\":%d,\"screen_ids\":[", i ? "," : "",
            (int)g_ds[i].enc, g_ds[i].x, g_ds[i].y, g_ds[i].w, g_ds[i].h);
      for (int k = 0; k < g_ds[i].n_ids; k++) b_fmt(&b, "%s%u", k ? "," : "", g_ds[i].ids[k]);
      b_str(&b, "]}");
    }
    b_str(&b, "]");
  }
  b_fmt(&b, ",\"ms\":%lld,\"exit\":%d,\"log\":[", now_ms() - g_t0, exit_code);
  for (int i = first; i < g_log_n; i++) {
    if (i > first) b_str(&b, ",");
    b_jstr(&b, g_log[i % N_LOG]);
  }
  b_str(&b, "]}\n");
  ssize_t off = 0;
  while ((size_t)off < b.len) {
    ssize_t w = write(1, b.p + off, b.len - (size_t)off);
    if (w <= 0) break;
    off += w;
  }
}

static void on_hard_timeout(int sig) {
  (void)sig;
  char e[96];
  snprintf(e, sizeof e, "hard timeout after %d ms", opt.timeout_ms);
  emit_json(e, 1);
  _exit(1);
}

/* ------------------------------------------------------------------ libvncclient hooks */

static void store_log(const char* fmt, va_list ap) {
  char line[LOG_LEN];
  vsnprintf(line, sizeof line, fmt, ap);
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
  if (!n) return;
  fprintf(stderr, "libvncclient: %s\n", line);
  /* The SASL mechanism and SSF are only visible in libvncclient's log. */
  static const char mech_tag[] = "Server start negotiation with mech ";
  const char* m = strstr(line, mech_tag);
  if (m) {
    m += sizeof mech_tag - 1;
    size_t k = strcspn(m, ". ");
    if (k >= sizeof g_sasl_mech) k = sizeof g_sasl_mech - 1;
    memcpy(g_sasl_mech, m, k);
    g_sasl_mech[k] = 0;
  }
  if (sscanf(line, "SASL SSF value %d", &g_sasl_ssf) != 1 && strstr(line, "Setting external SSF"))
    g_sasl_ssf = 0; /* over TLS: no SASL layer (the TLS SSF is "external") */
  memcpy(g_log[g_log_n % N_LOG], line, n + 1);
  g_log_n++;
}

static void log_fn(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  store_log(fmt, ap);
  va_end(ap);
}

/* Interposed: libvncclient calls ReadFromRFBServer through its PLT. */
typedef rfbBool (*read_fn_t)(rfbClient*, char*, unsigned int);
rfbBool ReadFromRFBServer(rfbClient* client, char* out, unsigned int n) {
  static read_fn_t real;
  if (!real) {
    void* sym = dlsym(RTLD_NEXT, "ReadFromRFBServer");
    memcpy(&real, &sym, sizeof real); /* POSIX: object pointer to function pointer */
    if (!real) {
      fprintf(stderr, "vnc_probe: dlsym(ReadFromRFBServer): %s\n", dlerror());
      _exit(3);
    }
  }
  rfbBool ok = real(client, out, n);
  if (ok) {
    g_bytes += n;
    const unsigned char* u = (const unsigned char*)out;
    int ds_state = g_ds_state;
    g_ds_state = 0;
    if (n == 12) {
      memcpy(g_last12, out, 12);
      g_have12 = 1;
      int32_t enc = (int32_t)((uint32_t)u[8] << 24 | (uint32_t)u[9] << 16 | (uint32_t)u[10] << 8 | u[11]);
      if ((enc == (int32_t)rfbEncodingNewFBSize || enc == (int32_t)rfbEncodingExtDesktopSize) && g_n_ds < N_DS) {
        g_ds[g_n_ds].enc = enc;
        g_ds[g_n_ds].x = u[0] << 8 | u[1];
        g_ds[g_n_ds].y = u[2] << 8 | u[3];
        g_ds[g_n_ds].w = u[4] << 8 | u[5];
        g_ds[g_n_ds].h = u[6] << 8 | u[7];
        g_ds[g_n_ds].n_ids = 0;
        g_n_ds++;
        if (enc == (int32_t)rfbEncodingExtDesktopSize) g_ds_state = 1;
      }
    } else if (ds_state == 1 && n == 4) { /* number-of-screens, padding */
      g_ds_screens_left = u[0];
      if (g_ds_screens_left) g_ds_state = 2;
    } else if (ds_state == 2 && n == 16) { /* id, x, y, w, h, flags */
      if (g_n_ds > 0 && g_ds[g_n_ds - 1].n_ids < 4)
        g_ds[g_n_ds - 1].ids[g_ds[g_n_ds - 1].n_ids++] =
            (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
      if (--g_ds_screens_left > 0) g_ds_state = 2;
    } else if (n == 1 && g_expect_tight_ctl) {
      g_expect_tight_ctl = 0;
      if ((((unsigned char)out[0]) >> 4) == 9) g_tight_jpeg++;
    }
  }
  return ok;
}

static void count_encoding(int32_t enc) {
  for (int i = 0; i < g_n_encs; i++)
    if (g_encs[i].enc == enc) {
      g_encs[i].count++;
      return;
    }
  if (g_n_encs < N_ENC) {
    g_encs[g_n_encs].enc = enc;
    g_encs[g_n_encs].count = 1;
    g_n_encs++;
  }
}

static unsigned be16(const unsigned char* p) { return (unsigned)p[0] << 8 | p[1]; }

/* Called by libvncclient right after it read a pixel-data rectangle header. */
static void lock_area(rfbClient* c, int x, int y, int w, int h) {
  (void)c;
  if (g_have12 && (int)be16(g_last12) == x && (int)be16(g_last12 + 2) == y &&
      (int)be16(g_last12 + 4) == w && (int)be16(g_last12 + 6) == h) {
    int32_t enc = (int32_t)((uint32_t)g_last12[8] << 24 | (uint32_t)g_last12[9] << 16 |
                            (uint32_t)g_last12[10] << 8 | g_last12[11]);
    count_encoding(enc);
    g_expect_tight_ctl = enc == rfbEncodingTight;
  } else {
    count_encoding(-0x7fffffff); /* header not recognised */
  }
  g_have12 = 0;
}

static void unlock_screen(rfbClient* c) { (void)c; }

static void got_update(rfbClient* c, int x, int y, int w, int h) {
  if (!g_covered || c->width != g_cov_w || c->height != g_cov_h) return;
  for (int yy = y; yy < y + h && yy < g_cov_h; yy++)
    if (yy >= 0 && x >= 0 && x < g_cov_w)
      memset(g_covered + (size_t)yy * g_cov_w + x, 1, (size_t)(x + w <= g_cov_w ? w : g_cov_w - x));
}

/* The pixel at --watch as 0xRRGGBB (8 bits a channel, from the client pixel format). */
static unsigned watched_pixel(rfbClient* c) {
  if (!c->frameBuffer || opt.watch_x >= c->width || opt.watch_y >= c->height) return 0;
  int bpp = c->format.bitsPerPixel / 8;
  const uint8_t* p = c->frameBuffer + ((size_t)opt.watch_y * c->width + opt.watch_x) * bpp;
  uint32_t v = 0;
  for (int i = 0; i < bpp; i++)
    v |= (uint32_t)p[i] << (c->format.bigEndian ? 8 * (bpp - 1 - i) : 8 * i);
  unsigned out = 0;
  const unsigned shifts[3] = {c->format.redShift, c->format.greenShift, c->format.blueShift};
  const unsigned maxes[3] = {c->format.redMax, c->format.greenMax, c->format.blueMax};
  for (int k = 0; k < 3; k++) {
    unsigned ch = maxes[k] ? (v >> shifts[k]) & maxes[k] : 0;
    out = out << 8 | (maxes[k] ? ch * 255 / maxes[k] : 0);
  }
  return out;
}

static long long g_last_update;
static void finished_update(rfbClient* c) {
  g_updates++;
  g_last_update = now_ms();
  if (g_update_log) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(g_update_log, "%lld %llu %06x\n", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, g_bytes,
            watched_pixel(c));
    fflush(g_update_log);
  }
}

static rfbBool malloc_fb(rfbClient* c) {
  if (g_n_sizes < N_SIZES) {
    g_sizes[g_n_sizes][0] = c->width;
    g_sizes[g_n_sizes][1] = c->height;
    g_n_sizes++;
  }
  free(c->frameBuffer);
  size_t size = (size_t)c->width * c->height * (c->format.bitsPerPixel / 8);
  c->frameBuffer = calloc(size ? size : 1, 1);
  free(g_covered);
  g_cov_w = c->width;
  g_cov_h = c->height;
  g_covered = calloc((size_t)c->width * c->height + 1, 1);
  return c->frameBuffer && g_covered;
}

static char* get_password(rfbClient* c) {
  (void)c;
  return opt.password ? strdup(opt.password) : NULL; /* freed by libvncclient */
}

static char* get_user(rfbClient* c) {
  (void)c;
  return (char*)(opt.user ? opt.user : ""); /* SASL: not freed by libvncclient */
}

static char* get_sasl_mech(rfbClient* c, char* mechlist) {
  (void)c;
  log_fn("vnc_probe: server offers SASL mechanisms %s\n", mechlist);
  return opt.sasl_mech ? strdup(opt.sasl_mech) : NULL; /* freed by libvncclient */
}

static char* dup_or_null(const char* s) { return s ? strdup(s) : NULL; }

static rfbCredential* get_credential(rfbClient* c, int type) {
  (void)c;
  rfbCredential* cred = calloc(1, sizeof *cred);
  if (!cred) return NULL;
  if (type == rfbCredentialTypeX509) {
    cred->x509Credential.x509CACertFile = dup_or_null(opt.ca);
    cred->x509Credential.x509CACrlFile = dup_or_null(opt.crl);
    cred->x509Credential.x509ClientCertFile = dup_or_null(opt.cert);
    cred->x509Credential.x509ClientKeyFile = dup_or_null(opt.key);
    cred->x509Credential.x509CrlVerifyMode = opt.crl ? rfbX509CrlVerifyAll : rfbX509CrlVerifyNone;
    log_fn("vnc_probe: X509 credential asked for (CA %s, client cert %s)\n", opt.ca ? opt.ca : "none",
           opt.cert ? opt.cert : "none");
  } else if (type == rfbCredentialTypeUser) {
    cred->userCredential.username = strdup(opt.user ? opt.user : "");
    cred->userCredential.password = strdup(opt.password ? opt.password : "");
    log_fn("vnc_probe: user credential asked for\n");
  } else {
    free(cred);
    return NULL;
  }
  return cred;
}

static int bits_of(unsigned max);
static unsigned scale8(unsigned v, unsigned max);

static uint32_t load_pixel(const rfbPixelFormat* f, const unsigned char* p, int bpp) {
  uint32_t v = 0;
  for (int i = 0; i < bpp; i++) {
    if (f->bigEndian)
      v = v << 8 | p[i];
    else
      v |= (uint32_t)p[i] << (8 * i);
  }
  return v;
}

/* Rich cursor (or XCursor): libvncclient leaves the pixels in client->rcSource (client
   format) and the mask in client->rcMask (one byte a pixel). */
static void got_cursor_shape(rfbClient* c, int xhot, int yhot, int w, int h, int bpp) {
  g_cursor_shapes++;
  g_cursor_w = w, g_cursor_h = h, g_cursor_hx = xhot, g_cursor_hy = yhot;
  free(g_cursor_rgba);
  g_cursor_rgba = calloc((size_t)w * h * 4 + 1, 1);
  if (!g_cursor_rgba || !c->rcSource || !c->rcMask) return;
  const rfbPixelFormat* f = &c->format;
  for (int i = 0; i < w * h; i++) {
    if (!c->rcMask[i]) continue;
    uint32_t v = load_pixel(f, c->rcSource + (size_t)i * bpp, bpp);
    unsigned char* o = g_cursor_rgba + (size_t)i * 4;
    o[0] = (unsigned char)scale8((v >> f->redShift) & f->redMax, f->redMax);
    o[1] = (unsigned char)scale8((v >> f->greenShift) & f->greenMax, f->greenMax);
    o[2] = (unsigned char)scale8((v >> f->blueShift) & f->blueMax, f->blueMax);
    o[3] = 255;
  }
}

/* ------------------------------------------------------------------ helpers */

static int local_port_of(rfbSocket sock) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(sock, (struct sockaddr*)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in*)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
  return -1;
}

static int pending_input(rfbClient* c) {
  typedef size_t (*pending_fn)(void*);
  static pending_fn tls_pending;
  static int looked;
  if (c->buffered > 0) return 1;
  if (c->tlsSession) {
    if (!looked) {
      void* sym = dlsym(RTLD_DEFAULT, "gnutls_record_check_pending");
      memcpy(&tls_pending, &sym, sizeof tls_pending);
      looked = 1;
    }
    if (tls_pending && tls_pending(c->tlsSession) > 0) return 1;
  }
  if (c->saslconn && c->saslDecoded && c->saslDecodedOffset < c->saslDecodedLength) return 1;
  return 0;
}

static int set_pixel_format(rfbClient* c, const char* name) {
  rfbPixelFormat* f = &c->format;
  f->trueColour = 1;
  if (!strcmp(name, "default")) {
    /* as rfbGetClient(8, 3, 4) left it */
  } else if (!strcmp(name, "bgrx")) {
    f->bitsPerPixel = 32, f->depth = 24, f->bigEndian = 0;
    f->redMax = f->greenMax = f->blueMax = 255;
    f->redShift = 16, f->greenShift = 8, f->blueShift = 0;
  } else if (!strcmp(name, "be32")) {
    f->bitsPerPixel = 32, f->depth = 24, f->bigEndian = 1;
    f->redMax = f->greenMax = f->blueMax = 255;
    f->redShift = 0, f->greenShift = 8, f->blueShift = 16;
  } else if (!strcmp(name, "bgr565")) {
    f->bitsPerPixel = 16, f->depth = 16, f->bigEndian = 0;
    f->redMax = 31, f->greenMax = 63, f->blueMax = 31;
    f->redShift = 0, f->greenShift = 5, f->blueShift = 11;
  } else if (!strcmp(name, "rgb565")) {
    f->bitsPerPixel = 16, f->depth = 16, f->bigEndian = 0;
    f->redMax = 31, f->greenMax = 63, f->blueMax = 31;
    f->redShift = 11, f->greenShift = 5, f->blueShift = 0;
  } else if (!strcmp(name, "bgr233")) {
    f->bitsPerPixel = 8, f->depth = 8, f->bigEndian = 0;
    f->redMax = 7, f->greenMax = 7, f->blueMax = 3;
    f->redShift = 0, f->greenShift = 3, f->blueShift = 6;
  } else {
    return 0;
  }
  c->appData.requestedDepth = f->depth;
  return 1;
}

static void describe_pf(char* out, size_t n, const rfbPixelFormat* f) {
  snprintf(out, n, "%dbpp depth %d %s%s max %d/%d/%d shift %d/%d/%d", f->bitsPerPixel, f->depth,
           f->bigEndian ? "BE" : "LE", f->trueColour ? "" : " colour-map", f->redMax, f->greenMax,
           f->blueMax, f->redShift, f->greenShift, f->blueShift);
}

static int bits_of(unsigned max) {
  int n = 0;
  while (max & 1) n++, max >>= 1;
  return n;
}

static unsigned scale8(unsigned v, unsigned max) {
  int bits = bits_of(max);
  if (bits >= 8) return (v >> (bits - 8)) & 255;
  return (v << (8 - bits)) & 255;
}

static int write_ppm(rfbClient* c, const char* path) {
  const rfbPixelFormat* f = &c->format;
  int bpp = f->bitsPerPixel / 8;
  FILE* fp = fopen(path, "wb");
  if (!fp) return 0;
  fprintf(fp, "P6\n%d %d\n255\n", c->width, c->height);
  unsigned char* row = malloc((size_t)c->width * 3 + 1);
  if (!row) {
    fclose(fp);
    return 0;
  }
  for (int y = 0; y < c->height; y++) {
    const unsigned char* p = c->frameBuffer + (size_t)y * c->width * bpp;
    for (int x = 0; x < c->width; x++, p += bpp) {
      uint32_t v = load_pixel(f, p, bpp);
      row[3 * x + 0] = (unsigned char)scale8((v >> f->redShift) & f->redMax, f->redMax);
      row[3 * x + 1] = (unsigned char)scale8((v >> f->greenShift) & f->greenMax, f->greenMax);
      row[3 * x + 2] = (unsigned char)scale8((v >> f->blueShift) & f->blueMax, f->blueMax);
    }
    fwrite(row, 3, (size_t)c->width, fp);
  }
  free(row);
  return fclose(fp) == 0;
}

static void usage(FILE* to) {
  fprintf(to,
          "usage: vnc_probe --host H --port P [--auth-types 1,2,19,20,...] [--password PW]\n"
          "                 [--user U] [--ca FILE] [--crl FILE] [--cert FILE --key FILE]\n"
          "                 [--encodings \"tight zrle copyrect hextile zlib raw\"] [--quality N]\n"
          "                 [--compress N] [--out FILE.ppm] [--settle-ms N] [--timeout-ms N]\n"
          "                 [--bgr | --pixel-format default|bgrx|be32|bgr565|rgb565|bgr233]\n"
          "                 [--sasl-mech MECH] [--hold-ms N] [--type TEXT]\n"
          "                 [--pointer X,Y[,MASK]]... [--cursor] [--cursor-out FILE.rgba]\n"
          "                 [--update-log FILE [--watch X,Y]]\n"
          "Connects with libvncclient, writes the framebuffer as a PPM once no update came for\n"
          "--settle-ms (default 400), prints one JSON line. No --quality: no JPEG (lossless).\n"
          "Exit 0: connected and a frame written; 1: not; 2: usage. Hard limit --timeout-ms\n"
          "(default 10000). --hold-ms/--type/--pointer/--cursor: see the source's header.\n"
          "--update-log: one line per finished update, \"MONOTONIC_US BYTES RRGGBB\", the pixel at\n"
          "--watch (default 0,0): for latency and byte timelines (scripts/compare-references).\n");
}

static int parse_int(const char* s, int* out) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < -1000000000L || v > 1000000000L) return 0;
  *out = (int)v;
  return 1;
}

static int parse_args(int argc, char** argv) {
  enum { O_HOST = 1000, O_PORT, O_AUTH, O_PW, O_USER, O_CA, O_CRL, O_CERT, O_KEY, O_ENC, O_Q,
         O_C, O_OUT, O_SETTLE, O_TIMEOUT, O_BGR, O_PF, O_MECH, O_HOLD, O_TYPE, O_POINTER,
         O_CURSOR, O_CURSOR_OUT, O_UPDATE_LOG, O_WATCH, O_HELP };
  static const struct option lo[] = {
      {"host", required_argument, 0, O_HOST},      {"port", required_argument, 0, O_PORT},
      {"auth-types", required_argument, 0, O_AUTH}, {"password", required_argument, 0, O_PW},
      {"user", required_argument, 0, O_USER},      {"ca", required_argument, 0, O_CA},
      {"crl", required_argument, 0, O_CRL},        {"cert", required_argument, 0, O_CERT},
      {"key", required_argument, 0, O_KEY},        {"encodings", required_argument, 0, O_ENC},
      {"quality", required_argument, 0, O_Q},      {"compress", required_argument, 0, O_C},
      {"out", required_argument, 0, O_OUT},        {"settle-ms", required_argument, 0, O_SETTLE},
      {"timeout-ms", required_argument, 0, O_TIMEOUT}, {"bgr", no_argument, 0, O_BGR},
      {"pixel-format", required_argument, 0, O_PF}, {"sasl-mech", required_argument, 0, O_MECH},
      {"hold-ms", required_argument, 0, O_HOLD},   {"type", required_argument, 0, O_TYPE},
      {"pointer", required_argument, 0, O_POINTER}, {"cursor", no_argument, 0, O_CURSOR},
      {"cursor-out", required_argument, 0, O_CURSOR_OUT},
      {"update-log", required_argument, 0, O_UPDATE_LOG}, {"watch", required_argument, 0, O_WATCH},
      {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
      case O_HOST: opt.host = optarg; break;
      case O_PORT:
        if (!parse_int(optarg, &opt.port) || opt.port < 1 || opt.port > 65535) return 0;
        break;
      case O_AUTH: {
        char* copy = strdup(optarg);
        char* save = NULL;
        for (char* t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
          int v;
          if (!parse_int(t, &v) || v < 1 || v > 255 || opt.n_auth_types >= 31) {
            free(copy);
            return 0;
          }
          opt.auth_types[opt.n_auth_types++] = (uint32_t)v;
        }
        free(copy);
        break;
      }
      case O_PW: opt.password = optarg; break;
      case O_USER: opt.user = optarg; break;
      case O_CA: opt.ca = optarg; break;
      case O_CRL: opt.crl = optarg; break;
      case O_CERT: opt.cert = optarg; break;
      case O_KEY: opt.key = optarg; break;
      case O_ENC: opt.encodings = optarg; break;
      case O_Q:
        if (!parse_int(optarg, &opt.quality) || opt.quality < 0 || opt.quality > 9) return 0;
        break;
      case O_C:
        if (!parse_int(optarg, &opt.compress) || opt.compress < -1 || opt.compress > 9) return 0;
        break;
      case O_OUT: opt.out = optarg; break;
      case O_SETTLE:
        if (!parse_int(optarg, &opt.settle_ms) || opt.settle_ms < 0) return 0;
        break;
      case O_TIMEOUT:
        if (!parse_int(optarg, &opt.timeout_ms) || opt.timeout_ms < 100) return 0;
        break;
      case O_BGR: opt.pixel_format = "bgr565"; break;
      case O_PF: opt.pixel_format = optarg; break;
      case O_MECH: opt.sasl_mech = optarg; break;
      case O_HOLD:
        if (!parse_int(optarg, &opt.hold_ms) || opt.hold_ms < 0) return 0;
        break;
      case O_TYPE: opt.type = optarg; break;
      case O_POINTER: {
        int x, y, m = 0, n;
        char tail;
        n = sscanf(optarg, "%d,%d,%d%c", &x, &y, &m, &tail);
        if ((n != 2 && n != 3) || x < 0 || y < 0 || x > 65535 || y > 65535 || m < 0 || m > 255 ||
            opt.n_pointer >= 16)
          return 0;
        opt.pointer[opt.n_pointer][0] = x;
        opt.pointer[opt.n_pointer][1] = y;
        opt.pointer[opt.n_pointer][2] = m;
        opt.n_pointer++;
        break;
      }
      case O_CURSOR: opt.cursor = 1; break;
      case O_CURSOR_OUT: opt.cursor_out = optarg; opt.cursor = 1; break;
      case O_UPDATE_LOG: opt.update_log = optarg; break;
      case O_WATCH: {
        int x, y;
        char tail;
        if (sscanf(optarg, "%d,%d%c", &x, &y, &tail) != 2 || x < 0 || y < 0 || x > 65535 || y > 65535) return 0;
        opt.watch_x = x;
        opt.watch_y = y;
        break;
      }
      case O_HELP: usage(stdout); exit(0);
      default: return 0;
    }
  }
  if (optind != argc || !opt.host || opt.port < 0) return 0;
  if ((opt.cert == NULL) != (opt.key == NULL)) return 0;
  return 1;
}

/* ------------------------------------------------------------------ main loop */

/* Handles server messages until an update came and then none for --settle-ms (and not
   before `not_before`). Returns NULL, or why it stopped. */
static const char* run_until_settled(rfbClient* c, long long not_before, long long deadline) {
  g_settled = 0;
  for (;;) {
    long long t = now_ms();
    if (g_updates > 0 && t >= not_before && t - g_last_update >= opt.settle_ms && !pending_input(c)) {
      g_settled = 1;
      return NULL;
    }
    if (t >= deadline)
      return g_updates ? "updates kept arriving until the deadline (not settled)"
                       : "no framebuffer update before the deadline";
    int r = pending_input(c) ? 1 : WaitForMessage(c, 20000);
    if (r < 0) return "waiting for the server failed";
    if (r > 0 && !HandleRFBServerMessage(c)) return "connection lost while receiving updates";
  }
}

static void print_settled_event(rfbClient* c) {
  char line[256];
  int n = snprintf(line, sizeof line,
                   "{\"event\":\"settled\",\"width\":%d,\"height\":%d,\"updates\":%d,\"cursor_shapes\":%d,"
                   "\"ms\":%lld}\n",
                   c->width, c->height, g_updates, g_cursor_shapes, now_ms() - g_t0);
  if (n > 0 && write(1, line, (size_t)n) != n) { /* stdout gone: the final line fails too */
  }
}

/* Sends `text` as RFB KeyEvents (keysyms), Shift_L around what needs Shift on a US
   keyboard. Returns NULL or why not. */
static const char* type_text(rfbClient* c, const char* text) {
  static const char shifted[] = "~!@#$%^&*()_+{}|:\"<>?";
  for (const char* p = text; *p; p++) {
    uint32_t sym;
    unsigned char ch = (unsigned char)*p;
    if (ch == '\n' || (ch == '\\' && p[1] == 'n')) {
      sym = 0xff0d; /* XK_Return */
      if (ch == '\\') p++;
    } else if (ch >= 0x20 && ch < 0x7f) {
      sym = ch; /* Latin-1 keysyms are the character codes */
    } else {
      return "--type: only printable ASCII and \\n";
    }
    int shift = (ch >= 'A' && ch <= 'Z') || (ch != 0 && strchr(shifted, ch) != NULL);
    if (shift && !SendKeyEvent(c, 0xffe1, TRUE)) return "sending a KeyEvent failed"; /* XK_Shift_L */
    if (!SendKeyEvent(c, sym, TRUE) || !SendKeyEvent(c, sym, FALSE)) return "sending a KeyEvent failed";
    if (shift && !SendKeyEvent(c, 0xffe1, FALSE)) return "sending a KeyEvent failed";
    g_keys_sent += shift ? 4 : 2;
    usleep(5000);
  }
  return NULL;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char** argv) {
  g_t0 = now_ms();
  if (!parse_args(argc, argv)) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_hard_timeout);
  struct itimerval it = {{0, 0}, {opt.timeout_ms / 1000, (opt.timeout_ms % 1000) * 1000}};
  setitimer(ITIMER_REAL, &it, NULL);

  rfbClientLog = log_fn;
  rfbClientErr = log_fn;

  rfbClient* c = rfbGetClient(8, 3, 4);
  if (!c) {
    emit_json("rfbGetClient failed", 1);
    return 1;
  }
  g_client = c;
  if (!set_pixel_format(c, opt.pixel_format)) {
    fprintf(stderr, "vnc_probe: unknown --pixel-format %s\n", opt.pixel_format);
    usage(stderr);
    return 2;
  }
  describe_pf(g_pf_desc, sizeof g_pf_desc, &c->format);

  free(c->serverHost);
  c->serverHost = strdup(opt.host);
  c->serverPort = opt.port;
  c->programName = "vnc_probe";
  int secs = (opt.timeout_ms + 999) / 1000;
  c->connectTimeout = (unsigned)secs;
  c->readTimeout = (unsigned)secs;
  c->canHandleNewFBSize = TRUE;
  if (opt.encodings) c->appData.encodingsString = opt.encodings;
  if (opt.quality >= 0) {
    c->appData.enableJPEG = TRUE;
    c->appData.qualityLevel = opt.quality;
  } else {
    c->appData.enableJPEG = FALSE; /* lossless: no JPEG quality pseudo-encoding */
  }
  if (opt.compress != -2) c->appData.compressLevel = opt.compress;
  c->appData.useRemoteCursor = opt.cursor ? TRUE : FALSE;
  if (opt.cursor) c->GotCursorShape = got_cursor_shape;
  g_extended = opt.hold_ms > 0 || opt.type || opt.n_pointer || opt.cursor;
  if (opt.update_log && !(g_update_log = fopen(opt.update_log, "w"))) {
    fprintf(stderr, "vnc_probe: cannot write %s\n", opt.update_log);
    return 2;
  }
  c->GetPassword = get_password;
  c->GetCredential = get_credential;
  c->GetUser = get_user;
  c->GetSASLMechanism = get_sasl_mech;
  c->MallocFrameBuffer = malloc_fb;
  c->GotFrameBufferUpdate = got_update;
  c->FinishedFrameBufferUpdate = finished_update;
  c->SoftCursorLockArea = lock_area;
  c->SoftCursorUnlockScreen = unlock_screen;
  if (opt.n_auth_types) SetClientAuthSchemes(c, opt.auth_types, opt.n_auth_types);

  /* rfbInitClient's steps, done here: on failure it frees the client, and we
     still want to report what was negotiated (security type, protocol). */
  const char* fail = NULL;
  if (!ConnectToRFBServer(c, c->serverHost, c->serverPort))
    fail = "TCP connect failed";
  else if ((g_local_port = local_port_of(c->sock)), !InitialiseRFBConnection(c))
    fail = "RFB handshake or authentication failed";
  else {
    c->width = c->si.framebufferWidth;
    c->height = c->si.framebufferHeight;
    if (!c->MallocFrameBuffer(c))
      fail = "out of memory";
    else if ((c->updateRect.x = 0, c->updateRect.y = 0, c->updateRect.w = c->width,
              c->updateRect.h = c->height, !SetFormatAndEncodings(c)))
      fail = "sending SetPixelFormat/SetEncodings failed";
    else if (!SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, FALSE))
      fail = "sending the first FramebufferUpdateRequest failed";
  }
  if (fail) {
    struct itimerval off0 = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off0, NULL);
    emit_json(fail, 1);
    rfbClientCleanup(c);
    return 1;
  }
  g_connected = 1;
  describe_pf(g_server_pf, sizeof g_server_pf, &c->si.format);

  const char* error = NULL;
  int soft_budget = opt.timeout_ms - (opt.timeout_ms / 4 < 500 ? opt.timeout_ms / 4 : 500);
  long long deadline = g_t0 + soft_budget;
  error = run_until_settled(c, 0, deadline);
  if (!error && g_extended) {
    g_first_w = c->width;
    g_first_h = c->height;
    print_settled_event(c);
    if (opt.type) error = type_text(c, opt.type);
    for (int i = 0; i < opt.n_pointer && !error; i++) {
      usleep(20000);
      if (!SendPointerEvent(c, opt.pointer[i][0], opt.pointer[i][1], opt.pointer[i][2]))
        error = "sending a PointerEvent failed";
      else
        g_pointer_sent++;
    }
    if (!error) error = run_until_settled(c, now_ms() + opt.hold_ms, deadline);
  }

  int wrote = 0;
  if (g_updates > 0 && c->frameBuffer) {
    g_complete = 1;
    for (size_t i = 0; i < (size_t)g_cov_w * g_cov_h; i++)
      if (!g_covered[i]) {
        g_complete = 0;
        break;
      }
    if (opt.out) {
      wrote = write_ppm(c, opt.out);
      if (!wrote && !error) error = "could not write the PPM";
    } else {
      wrote = 1;
    }
  }
  if (opt.cursor_out && g_cursor_rgba) {
    FILE* fp = fopen(opt.cursor_out, "wb");
    if (!fp || fwrite(g_cursor_rgba, 4, (size_t)g_cursor_w * g_cursor_h, fp) != (size_t)g_cursor_w * g_cursor_h) {
      if (!error) error = "could not write --cursor-out";
    }
    if (fp) fclose(fp);
  }
  /* Stop the timer before the (quick) cleanup so it cannot fire mid-print. */
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  int code = wrote ? 0 : 1;
  emit_json(error, code);
  rfbClientCleanup(c);
  return code;
}
