#pragma once
// One linked SPICE channel connection: message framing (mini or full header), the common
// messages every channel shares, ACK-window flow control, and a precise log line whenever the
// connection ends for a reason other than the client leaving cleanly.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/frame_hub.h"
#include "core/input_event.h"
#include "transport/spice/link.h"
#include "transport/net/socket.h"
#include "transport/spice/display_update_writer.h"
#include "transport/spice/video_streams.h"

namespace tessera::spice {

using net::Socket;

class Channel;

// A client's set of channels, tied together by the session id the main channel hands out, and
// to the identity that authenticated the main channel: another account that learns the id
// cannot add its channels to this session.
class Session {
 public:
  Session(uint32_t id, std::string owner) : id_(id), owner_(std::move(owner)) {}
  uint32_t id() const { return id_; }
  const std::string& owner() const { return owner_; }
  std::atomic<uint32_t> mouse_mode{SPICE_MOUSE_MODE_CLIENT};
  // The client keeps one GLZ window per session, its ids counting from 0: only the first display
  // channel of a session may fill it (a reconnected one would reuse ids it still holds).
  bool claim_glz() { return !glz_claimed_.exchange(true); }
  // False when the session already ended.
  bool attach(const std::shared_ptr<Channel>& ch);
  void close_all();

 private:
  uint32_t id_;
  std::string owner_;
  std::atomic<bool> glz_claimed_{false};
  std::mutex mu_;
  std::vector<std::weak_ptr<Channel>> channels_;
  bool closed_ = false;
};

struct ChannelSettings {
  std::string server_name = "tessera";
  uint32_t ack_window = 20;
  size_t max_message_bytes = 1 << 20;
  std::chrono::milliseconds message_timeout{30000};  // for the rest of a message once it began
  std::chrono::milliseconds mm_time_interval{5000};
  std::chrono::milliseconds ping_interval{10000};  // a channel quiet this long gets a PING
  // A channel that hears nothing at all (not even a PONG) for this long is closed: its client
  // vanished without a FIN. 0: never.
  std::chrono::milliseconds peer_timeout{30000};
  ImageCodec image_codec = ImageCodec::Auto;  // the lossless image forms to choose from
  RepaintPacing repaint;  // how ended streams' areas are repainted
  VideoSettings video;  // motion as video streams; no encoders: everything lossless
};

// What every channel may use from the server.
struct ChannelContext {
  ChannelSettings settings;
  FrameHub* hub = nullptr;
  InputSink input;
};

class Channel : public std::enable_shared_from_this<Channel> {
 public:
  Channel(ChannelContext& ctx, std::shared_ptr<Session> session, std::unique_ptr<Socket> socket, LinkMessage link);
  virtual ~Channel();

  // Runs the channel until the connection ends; returns normally in every case.
  void run();
  // Ends the connection from any thread.
  void close();
  // Sends one message; throws ProtocolError if the connection is gone.
  void send(uint16_t type, std::span<const uint8_t> body);
  std::string tag() const;
  const LinkMessage& link() const { return link_; }
  // The connection's TLS or SASL layer, if any (for logs).
  SecureLayer* socket_layer() const { return socket_->layer(); }

  // Capabilities this server offers on a channel of the given type.
  static Caps server_channel_caps(uint8_t type);

 protected:
  virtual void on_start() {}
  virtual void on_message(uint16_t type, WireReader& body) = 0;
  // Called about once a second while the client is quiet.
  virtual void on_idle() {}
  // Called after a message when no further bytes are waiting: the client's burst is handled.
  virtual void on_drained() {}
  virtual void on_stop() {}
  // An ACK came back this long after the message that completed its window was sent.
  virtual void on_ack_round_trip(std::chrono::nanoseconds) {}

  bool client_has_cap(unsigned bit) const { return has_cap(link_.channel_caps, bit); }
  // Starts ACK-window flow control: SET_ACK now, then the sender waits for ACKs.
  void enable_ack_window();
  // Sender side: waits while more than two windows of messages are unacknowledged.
  // Returns false once the channel closed.
  bool wait_for_ack_window();
  bool closed() const { return closed_.load(); }

  ChannelContext& ctx_;
  std::shared_ptr<Session> session_;

 private:
  void handle_common(uint16_t type, WireReader& body);
  void read_loop();
  // While the client is quiet: PINGs every ping_interval, and the end after peer_timeout.
  void keep_alive();
  std::chrono::milliseconds ping_every() const;

  std::unique_ptr<Socket> socket_;
  LinkMessage link_;
  bool mini_header_;
  std::mutex send_mu_;
  uint64_t serial_ = 0;
  std::atomic<bool> closed_{false};
  bool client_left_ = false;  // the client closed between messages (read thread only)

  std::mutex ack_mu_;
  std::condition_variable ack_cv_;
  std::atomic<bool> ack_enabled_{false};  // also read by send() before it takes ack_mu_
  uint32_t ack_generation_ = 0;
  uint32_t client_generation_ = 0;
  uint64_t unacked_ = 0;
  std::deque<std::chrono::steady_clock::time_point> unacked_sent_;  // send times, oldest first
  std::chrono::steady_clock::time_point last_heard_{}, last_ping_{};
  uint32_t ping_id_ = 0;
};

}  // namespace tessera::spice
