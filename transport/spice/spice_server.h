#pragma once
// The SPICE server: listens, runs the link stage and ticket authentication for every
// connection, and hands linked connections to their channel. Each connection has its own
// thread, so a slow, stuck or hostile client only ever holds up itself.
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "auth/ticket_key.h"
#include "auth/ticket_policy.h"
#include "transport/spice/channel.h"

namespace tessera::spice {

struct SpiceServerConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 5930;  // 0 picks a free port (tests)
  std::chrono::milliseconds link_timeout{10000};
  std::chrono::milliseconds send_timeout{30000};
  size_t max_connections = 256;
  ChannelSettings channel;
};

class SpiceServer {
 public:
  SpiceServer(SpiceServerConfig config, FrameHub& hub, TicketPolicy policy, InputSink input);
  ~SpiceServer();

  // Binds the port and starts accepting; throws std::runtime_error if it cannot listen.
  void start();
  // Closes every connection and waits for their threads.
  void stop();
  uint16_t port() const { return port_; }
  size_t connection_count() const;
  size_t session_count() const;

 private:
  void accept_loop();
  void serve(std::unique_ptr<Socket> socket);
  std::shared_ptr<Channel> link(std::unique_ptr<Socket>& socket);

  SpiceServerConfig config_;
  ChannelContext ctx_;
  TicketKey key_;
  TicketPolicy policy_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::set<Socket*> sockets_;
  size_t threads_ = 0;
  std::map<uint32_t, std::shared_ptr<Session>> sessions_;
};

}  // namespace tessera::spice
