/*
 * A producer that uses Tessera's embedding API (embed/tessera.h): it draws a desktop of its own,
 * a still diagonal gradient with a moving gradient band and a bouncing square, hands each frame
 * to Tessera with the rectangles that changed, and prints the input viewers send.
 *
 *   build/tessera_embed_example [SECONDS]      (0 or nothing: until Ctrl-C)
 *   remote-viewer spice://127.0.0.1:5930        or any VNC viewer on 127.0.0.1:5900
 *
 * With TESSERA_PASSWORD set in the environment, SPICE asks for that password and VNC is off
 * (VNC authentication without TLS would have to be allowed explicitly, see
 * allow_vnc_auth_without_tls in tessera.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tessera.h"

enum { WIDTH = 800, HEIGHT = 600, SQUARE = 72, BAND_Y = 520, BAND_H = 40, FPS = 30 };

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static uint32_t rgb(uint32_t r, uint32_t g, uint32_t b) {
  /* BGRX in memory order is 0xXXRRGGBB as a little-endian 32-bit value. */
  return 0xFF000000u | (r & 0xFFu) << 16 | (g & 0xFFu) << 8 | (b & 0xFFu);
}

/* The still background: red grows to the right, green downwards. */
static uint32_t background(int x, int y) {
  return rgb((uint32_t)(x * 255 / (WIDTH - 1)), (uint32_t)(y * 255 / (HEIGHT - 1)), 96u);
}

static void fill_background(uint32_t* px, int x0, int y0, int w, int h) {
  int x, y;
  for (y = y0; y < y0 + h; ++y)
    for (x = x0; x < x0 + w; ++x) px[y * WIDTH + x] = background(x, y);
}

/* The band: a gradient that slides one step to the left per frame. */
static void draw_band(uint32_t* px, unsigned phase) {
  int x, y;
  for (y = BAND_Y; y < BAND_Y + BAND_H; ++y)
    for (x = 0; x < WIDTH; ++x) {
      uint32_t v = ((uint32_t)x * 2u + phase * 6u) & 0x1FFu;
      uint32_t level = v < 256u ? v : 511u - v; /* up and down again: no seam */
      px[y * WIDTH + x] = rgb(level, 255u - level, 255u);
    }
}

static void draw_square(uint32_t* px, int x0, int y0) {
  int x, y;
  for (y = y0; y < y0 + SQUARE; ++y)
    for (x = x0; x < x0 + SQUARE; ++x) {
      int edge = x - x0 < 4 || y - y0 < 4 || x0 + SQUARE - x <= 4 || y0 + SQUARE - y <= 4;
      px[y * WIDTH + x] = edge ? rgb(20u, 20u, 20u) : rgb(250u, 250u, 240u);
    }
}

static const char* kind_name(int32_t kind) {
  switch (kind) {
    case TESSERA_INPUT_KEY_DOWN: return "key down";
    case TESSERA_INPUT_KEY_UP: return "key up";
    case TESSERA_INPUT_POINTER_MOVE: return "pointer";
    case TESSERA_INPUT_POINTER_RELATIVE: return "pointer moved by";
    case TESSERA_INPUT_BUTTON_DOWN: return "button down";
    case TESSERA_INPUT_BUTTON_UP: return "button up";
    default: return "unknown";
  }
}

/* Called from Tessera's threads, one event at a time: print and return quickly. */
static void on_input(const tessera_input_event* e, void* user) {
  unsigned long* count = (unsigned long*)user;
  ++*count;
  switch (e->kind) {
    case TESSERA_INPUT_KEY_DOWN:
    case TESSERA_INPUT_KEY_UP:
      printf("input: %s, evdev code %u\n", kind_name(e->kind), (unsigned)e->key);
      break;
    case TESSERA_INPUT_BUTTON_DOWN:
    case TESSERA_INPUT_BUTTON_UP:
      printf("input: %s %u, buttons held 0x%02x\n", kind_name(e->kind), (unsigned)e->button, (unsigned)e->buttons);
      break;
    default:
      printf("input: %s %d,%d, buttons held 0x%02x\n", kind_name(e->kind), (int)e->x, (int)e->y, (unsigned)e->buttons);
      break;
  }
  fflush(stdout);
}

int main(int argc, char** argv) {
  long seconds = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  const char* password = getenv("TESSERA_PASSWORD");
  static uint32_t pixels[WIDTH * HEIGHT];
  unsigned long inputs = 0;
  char err[256];
  tessera_config cfg;
  tessera_server* srv;
  int sx = 100, sy = 80, dx = 5, dy = 3;
  unsigned frame = 0;
  struct timespec tick = {0, 1000000000L / FPS};
  int spice_port, vnc_port;

  if (tessera_api_version() != TESSERA_API_VERSION) {
    fprintf(stderr, "libtessera implements API version %d, this program was built for %d\n", tessera_api_version(),
            TESSERA_API_VERSION);
    return 1;
  }

  tessera_config_init(&cfg);
  cfg.spice_port = 5930;
  cfg.vnc_port = password ? -1 : 5900;
  cfg.password = password; /* NULL: anyone on this machine may connect (listen_address is 127.0.0.1) */
  cfg.width = WIDTH;
  cfg.height = HEIGHT;
  cfg.fps = FPS;
  cfg.log_level = TESSERA_LOG_INFO;
  cfg.desktop_name = "tessera embedding example";

  srv = tessera_server_new(&cfg, err, sizeof err);
  if (!srv) {
    fprintf(stderr, "embed_example: %s\n", err);
    return 1;
  }
  tessera_set_input_callback(srv, on_input, &inputs);

  /* The first frame, before start: the whole picture (damage NULL). */
  fill_background(pixels, 0, 0, WIDTH, HEIGHT);
  draw_band(pixels, frame);
  draw_square(pixels, sx, sy);
  if (tessera_submit_frame(srv, (const uint8_t*)pixels, WIDTH, HEIGHT, WIDTH * 4, NULL, 0) != TESSERA_OK) {
    fprintf(stderr, "embed_example: %s\n", tessera_last_error(srv));
    tessera_server_free(srv);
    return 1;
  }
  if (tessera_server_start(srv) != TESSERA_OK) {
    fprintf(stderr, "embed_example: %s\n", tessera_last_error(srv));
    tessera_server_free(srv);
    return 1;
  }
  spice_port = tessera_server_port(srv, TESSERA_PORT_SPICE);
  vnc_port = tessera_server_port(srv, TESSERA_PORT_VNC);
  if (spice_port > 0)
    printf("embed_example: SPICE on port %d: remote-viewer spice://127.0.0.1:%d\n", spice_port, spice_port);
  if (vnc_port > 0) printf("embed_example: VNC on port %d: any VNC viewer to 127.0.0.1:%d\n", vnc_port, vnc_port);
  printf("embed_example: press Ctrl-C to stop\n");
  fflush(stdout);

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  while (!stop_requested && (seconds <= 0 || (long)frame < seconds * FPS)) {
    tessera_rect damage[3];
    int nx, ny;
    nanosleep(&tick, NULL);
    ++frame;

    /* Bounce the square off the edges (and off the band). */
    nx = sx + dx;
    ny = sy + dy;
    if (nx < 0 || nx + SQUARE > WIDTH) {
      dx = -dx;
      nx = sx + dx;
    }
    if (ny < 0 || ny + SQUARE > BAND_Y) {
      dy = -dy;
      ny = sy + dy;
    }

    /* What changed: where the square was, where it is now, and the band. */
    fill_background(pixels, sx, sy, SQUARE, SQUARE);
    draw_band(pixels, frame);
    draw_square(pixels, nx, ny);
    damage[0].x = sx;
    damage[0].y = sy;
    damage[0].width = SQUARE;
    damage[0].height = SQUARE;
    damage[1].x = nx;
    damage[1].y = ny;
    damage[1].width = SQUARE;
    damage[1].height = SQUARE;
    damage[2].x = 0;
    damage[2].y = BAND_Y;
    damage[2].width = WIDTH;
    damage[2].height = BAND_H;
    sx = nx;
    sy = ny;

    if (tessera_submit_frame(srv, (const uint8_t*)pixels, WIDTH, HEIGHT, WIDTH * 4, damage, 3) != TESSERA_OK) {
      fprintf(stderr, "embed_example: %s\n", tessera_last_error(srv));
      break;
    }
  }

  tessera_server_free(srv);
  printf("embed_example: %u frames submitted, %lu input events received\n", frame, inputs);
  return 0;
}
