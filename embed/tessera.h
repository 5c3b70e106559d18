/*
 * Tessera embedding API, version 1 (C99, C ABI).
 *
 * A producer (a virtual machine's display, a compositor, a renderer) hands Tessera frames and
 * the rectangles that changed; Tessera serves them to SPICE and VNC viewers exactly as it serves
 * its own sources (damage tracking, scroll/move detection, several viewers at once, a slow viewer
 * holds up nobody) and hands the viewers' keyboard and pointer input back through a callback.
 *
 *     tessera_config cfg;
 *     tessera_config_init(&cfg);              // defaults, and struct_size
 *     cfg.spice_port = 5930;
 *     char err[256];
 *     tessera_server* srv = tessera_server_new(&cfg, err, sizeof err);
 *     if (!srv) { fprintf(stderr, "%s\n", err); return 1; }
 *     tessera_set_input_callback(srv, on_input, my_state);
 *     if (tessera_server_start(srv) != TESSERA_OK) { fprintf(stderr, "%s\n", tessera_last_error(srv)); ... }
 *     for (;;) {
 *       ... draw into pixels ...
 *       tessera_submit_frame(srv, pixels, w, h, stride, changed_rects, n_changed);
 *     }
 *     tessera_server_free(srv);
 *
 * Pixels are 32-bit BGRX: per pixel, in memory order, blue, green, red and one byte Tessera
 * ignores (a little-endian 0xXXRRGGBB). Rows are `stride` bytes apart.
 *
 * What version 1 does not do (each is a later version's job, through new functions and new
 * config fields at the end of tessera_config):
 *  - no TLS and no SASL: authentication is a password only (SPICE tickets; VNC authentication
 *    only on explicit request, see allow_vnc_auth_without_tls). Keep listen_address on loopback,
 *    or put a tunnel (SSH, a TLS proxy) in front, unless the network is trusted.
 *  - no video streams: SPICE viewers get everything losslessly (LZ4 or plain bitmaps); VNC
 *    viewers that ask for Tight JPEG may get JPEG in areas classified as motion.
 *  - no cursor shape from the producer: viewers get a plain arrow (or nothing, default_cursor 0).
 *  - one display (monitor) per server.
 *
 * Threads. Tessera runs its own threads (capture at cfg.fps, one accept thread per protocol,
 * threads per viewer connection). The rules for callers:
 *  - tessera_server_new, tessera_server_start and tessera_server_free: from one thread, the
 *    owner; nothing else may be running on the server while tessera_server_free runs (apart
 *    from Tessera's own threads, which it stops).
 *  - tessera_submit_frame: from any one thread at a time (it may be another thread than the
 *    owner's, e.g. a render thread; calls must not overlap). It may be called before
 *    tessera_server_start (the frame is what viewers see first) and from inside the input
 *    callback.
 *  - tessera_server_port: from any thread.
 *  - tessera_set_input_callback: from any thread, at any time, also from inside the callback.
 *  - tessera_last_error: per thread, like errno: the message of the last call this thread made
 *    on that server, or "" when it succeeded.
 *  - The input callback is called from Tessera's threads (one per viewer connection), never
 *    from two threads at once, and never after tessera_set_input_callback has returned with
 *    another callback or after tessera_server_free has returned. It should return quickly
 *    (other viewers' input waits for it) and must not call tessera_server_free.
 *
 * Errors: functions that return int give TESSERA_OK (0) or a negative TESSERA_E_* code, and
 * tessera_last_error says why. C++ exceptions never leave the library.
 *
 * Logging goes to spdlog's default logger, which the library never replaces (spdlog's own default
 * writes to standard output; install yours before tessera_server_new to send it elsewhere, and free
 * every server before spdlog::shutdown). Passwords never appear in it. A log_level other than TESSERA_LOG_UNCHANGED sets
 * spdlog's level for the whole process.
 *
 * Link with -ltessera (build/libtessera.so).
 */
#ifndef TESSERA_H
#define TESSERA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && __GNUC__ >= 4
#define TESSERA_API __attribute__((visibility("default")))
#else
#define TESSERA_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The API this header describes. tessera_api_version() says what the library implements. */
#define TESSERA_API_VERSION 1

/* Return codes. */
#define TESSERA_OK 0
#define TESSERA_E_INVALID (-1)     /* a bad argument: NULL, out of range, inconsistent */
#define TESSERA_E_STATE (-2)       /* not now: started twice, a port asked for before start */
#define TESSERA_E_NOMEM (-3)       /* out of memory */
#define TESSERA_E_IO (-4)          /* the system refused: cannot listen on a port, ... */
#define TESSERA_E_UNSUPPORTED (-5) /* asks for something this library version does not have */
#define TESSERA_E_INTERNAL (-6)    /* a bug in Tessera; the message says what */

/* Which port tessera_server_port reports. */
#define TESSERA_PORT_SPICE 1
#define TESSERA_PORT_VNC 2

/* Largest frame width or height. */
#define TESSERA_MAX_DIMENSION 16384

/* cfg.log_level */
#define TESSERA_LOG_UNCHANGED 0 /* leave spdlog's level as the process set it */
#define TESSERA_LOG_TRACE 1
#define TESSERA_LOG_DEBUG 2
#define TESSERA_LOG_INFO 3
#define TESSERA_LOG_WARN 4
#define TESSERA_LOG_ERROR 5
#define TESSERA_LOG_OFF 6

typedef struct tessera_server tessera_server; /* opaque */

/*
 * Server settings. Always start from tessera_config_init(): it zeroes the struct, sets
 * struct_size to the size this header knows, and fills in the defaults. Later API versions only
 * append fields, so a program built against this header keeps working with a newer library
 * (fields it does not know take their defaults); a newer program's larger struct is accepted by
 * an older library as long as the fields the library does not know are left zero.
 * Strings are copied by tessera_server_new; the caller may free them afterwards.
 */
typedef struct tessera_config {
  size_t struct_size;             /* sizeof(tessera_config), set by tessera_config_init */
  const char* listen_address;     /* numeric address or host name; NULL: "127.0.0.1" */
  int spice_port;                 /* -1: no SPICE; 0: a free port (see tessera_server_port); default 5930 */
  int vnc_port;                   /* -1: no VNC (default); 0: a free port; 5900 by convention */
  const char* password;           /* NULL: no authentication; at most 60 characters; copied, never logged */
  int allow_vnc_auth_without_tls; /* with a password and a VNC port: nonzero offers VNC authentication
                                     (DES challenge, first 8 characters of the password, the session not
                                     encrypted: an eavesdropper can guess the password offline). Zero
                                     (default): tessera_server_new refuses that combination */
  int width;                      /* the desktop until the first frame arrives (black); default 1024 */
  int height;                     /* default 768 */
  double fps;                     /* how often Tessera looks for a new frame, 1..240; default 30 */
  int log_level;                  /* TESSERA_LOG_*; default TESSERA_LOG_UNCHANGED */
  int default_cursor;             /* nonzero (default): viewers get a plain arrow that follows their
                                     pointer; 0: no pointer shape (the producer draws its own) */
  const char* desktop_name;       /* what viewers show as the title; NULL: "tessera" */
} tessera_config;

static inline void tessera_config_init(tessera_config* config) {
  memset(config, 0, sizeof *config);
  config->struct_size = sizeof *config;
  config->listen_address = NULL;
  config->spice_port = 5930;
  config->vnc_port = -1;
  config->password = NULL;
  config->allow_vnc_auth_without_tls = 0;
  config->width = 1024;
  config->height = 768;
  config->fps = 30.0;
  config->log_level = TESSERA_LOG_UNCHANGED;
  config->default_cursor = 1;
  config->desktop_name = NULL;
}

/* A rectangle of pixels: origin and size; the far edges are exclusive. */
typedef struct tessera_rect {
  int32_t x;
  int32_t y;
  int32_t width;
  int32_t height;
} tessera_rect;

/* tessera_input_event.kind */
#define TESSERA_INPUT_KEY_DOWN 0
#define TESSERA_INPUT_KEY_UP 1
#define TESSERA_INPUT_POINTER_MOVE 2     /* x, y: absolute position in frame pixels */
#define TESSERA_INPUT_POINTER_RELATIVE 3 /* x, y: movement since the last event (relative mouse mode) */
#define TESSERA_INPUT_BUTTON_DOWN 4
#define TESSERA_INPUT_BUTTON_UP 5

/* Buttons as X numbers them: 1 left, 2 middle, 3 right, 4/5 wheel up/down, 6/7 wheel left/right,
 * 8/9 back/forward; in `buttons` as bits 0..8 (button N is bit N-1). */
#define TESSERA_BUTTON_MASK_LEFT 0x01u
#define TESSERA_BUTTON_MASK_MIDDLE 0x02u
#define TESSERA_BUTTON_MASK_RIGHT 0x04u
#define TESSERA_BUTTON_MASK_WHEEL_UP 0x08u
#define TESSERA_BUTTON_MASK_WHEEL_DOWN 0x10u

/*
 * One input event from a viewer. Valid only during the callback. Later versions may append
 * fields (the library allocates the event; a callback reads only the fields it knows).
 */
typedef struct tessera_input_event {
  int32_t kind;     /* TESSERA_INPUT_* */
  uint32_t key;     /* key events: Linux evdev code (linux/input-event-codes.h: KEY_A is 30) */
  int32_t x;        /* pointer events: position, or movement for TESSERA_INPUT_POINTER_RELATIVE */
  int32_t y;
  uint32_t button;  /* button events: which button, 1..9 as above */
  uint32_t buttons; /* pointer and button events: TESSERA_BUTTON_MASK_* held after the event */
} tessera_input_event;

typedef void (*tessera_input_callback)(const tessera_input_event* event, void* user);

/* TESSERA_API_VERSION of the library this program runs with. */
TESSERA_API int tessera_api_version(void);

/* A fixed English name for a TESSERA_OK / TESSERA_E_* code ("invalid argument", ...). */
TESSERA_API const char* tessera_strerror(int code);

/*
 * Checks the configuration and builds a server (nothing listens yet). On error returns NULL and
 * writes a NUL-terminated reason to err (when err is not NULL and err_len > 0; truncated to
 * err_len - 1 characters). The reason is also tessera_last_error(NULL) on this thread.
 */
TESSERA_API tessera_server* tessera_server_new(const tessera_config* config, char* err, size_t err_len);

/*
 * Starts capturing and listening. The frame submitted last (or the black initial desktop) is
 * what the first viewer sees. Once only: a second call, or a call after a failed one, gives
 * TESSERA_E_STATE. TESSERA_E_IO when a port cannot be listened on (in use, bad address): the
 * server is then stopped and can only be freed.
 */
TESSERA_API int tessera_server_start(tessera_server* srv);

/*
 * The port a protocol listens on (`which`: TESSERA_PORT_SPICE or TESSERA_PORT_VNC): the real
 * port also when the config asked for 0. 0 when that protocol is off; TESSERA_E_STATE before
 * tessera_server_start succeeded; TESSERA_E_INVALID for a NULL server or an unknown `which`.
 */
TESSERA_API int tessera_server_port(const tessera_server* srv, int which);

/*
 * Hands Tessera a new frame: width x height BGRX pixels, rows `stride` bytes apart
 * (stride >= width * 4; padding is not read). The pixels are copied before the call returns.
 * `damage` lists the rectangles that differ from the previously submitted frame (clipped to the
 * frame; empty ones are ignored; more than 256 count as their bounding box); damage NULL (with
 * n_damage 0) means the whole frame changed. Damage is a hint that saves Tessera work: what it
 * leaves out is still found, by a full comparison every 30 capture ticks (a second at 30 fps).
 * A frame of another size than the last one resizes the desktop (viewers get the whole new frame).
 * Frames submitted faster than cfg.fps are coalesced: viewers get the newest, and the damage of
 * all of them. 1 <= width, height <= TESSERA_MAX_DIMENSION.
 */
TESSERA_API int tessera_submit_frame(tessera_server* srv, const uint8_t* bgrx, int width, int height, int stride,
                                     const tessera_rect* damage, size_t n_damage);

/*
 * Sets (or, with cb NULL, removes) the function that receives viewers' input, with `user` passed
 * through. When this returns, the previous callback is not running (unless this is called from
 * inside it) and will not be called again.
 */
TESSERA_API int tessera_set_input_callback(tessera_server* srv, tessera_input_callback cb, void* user);

/*
 * Why the last call this thread made on `srv` failed: "" if it succeeded. For calls that were
 * given a NULL server (and for tessera_server_new), pass NULL. The text stays valid until this
 * thread's next call into Tessera.
 */
TESSERA_API const char* tessera_last_error(const tessera_server* srv);

/*
 * Disconnects every viewer, stops Tessera's threads and frees the server. NULL is ignored.
 * Must not be called from inside the input callback.
 */
TESSERA_API void tessera_server_free(tessera_server* srv);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TESSERA_H */
