#include "transport/spice/cursor_channel.h"

#include "core/log.h"
#include "transport/spice/messages.h"

namespace tessera::spice {

void CursorChannel::on_message(uint16_t type, WireReader&) {
  spdlog::debug("{}: ignoring cursor message {}", tag(), type);
}

void CursorChannel::push_loop() {
  // INIT must come first and exactly once; without a source cursor it says "no shape".
  std::optional<CursorState> shown = sub_->take_cursor();
  CursorState initial = shown.value_or(CursorState{});
  send(SPICE_MSG_CURSOR_INIT, cursor_init(initial));
  shown = initial;
  while (!closed()) {
    if (!sub_->wait(std::chrono::milliseconds(500))) {
      if (sub_->closed()) break;
      continue;
    }
    auto c = sub_->take_cursor();
    if (!c || !wait_for_ack_window()) continue;
    bool shape_changed = c->image != shown->image || c->visible != shown->visible ||
                         (c->image && shown->image && c->image->serial != shown->image->serial);
    if (shape_changed) {
      send(c->visible ? SPICE_MSG_CURSOR_SET : SPICE_MSG_CURSOR_HIDE, c->visible ? cursor_set(*c) : Body{});
    } else if ((c->x != shown->x || c->y != shown->y) && session_->mouse_mode == SPICE_MOUSE_MODE_SERVER) {
      send(SPICE_MSG_CURSOR_MOVE, cursor_move(c->x, c->y));
    }
    shown = c;
  }
}

}  // namespace tessera::spice
