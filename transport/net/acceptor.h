#pragma once
// The accept loop both protocols share: it waits on the listening sockets, admits each new
// connection through the AuthGuard (which may close the silent-longest pending one to make room)
// and the connection cap, and runs each admitted one on a thread of its own. Refusals are logged
// through one RefusalLog; running out of descriptors, memory or threads drops that connection and
// keeps accepting. stop() wakes the loop, shuts every live connection's socket down and waits for
// their threads.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "auth/auth_guard.h"
#include "transport/net/refusal_log.h"
#include "transport/net/socket.h"

namespace tessera::net {

class Acceptor {
 public:
  // A live connection's place in stop()'s list. Serve calls forget() before the socket is
  // destroyed, so that stop() never shuts down a socket that is gone.
  class Lease {
   public:
    void forget();

   private:
    friend class Acceptor;
    Lease(Acceptor& a, uint64_t id) : acceptor_(a), id_(id) {}
    Acceptor& acceptor_;
    uint64_t id_;  // not the socket's address: a new socket may be given the same one
    bool forgotten_ = false;
  };
  // Runs one connection on its own thread. `listener` is the index of the listening socket it
  // came in on.
  using Serve = std::function<void(std::unique_ptr<Socket> socket, size_t listener,
                                   std::unique_ptr<AuthGuard::Slot> slot, Lease& lease)>;

  Acceptor(std::string protocol, std::shared_ptr<AuthGuard> guard, size_t max_connections, Serve serve);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Takes the listening sockets (closed by stop()) and starts the loop. -1 entries are skipped
  // but keep their index. Once only, and never after stop().
  void start(std::vector<int> listen_fds);
  void stop();
  size_t connection_count() const;
  size_t refused() const { return refused_; }

 private:
  void loop();
  void accept_one(int fd, size_t listener);

  const std::string protocol_;
  std::shared_ptr<AuthGuard> guard_;
  const size_t max_connections_;
  Serve serve_;
  std::vector<int> listen_fds_;
  int wake_pipe_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  RefusalLog refusals_;  // the loop's thread only
  std::atomic<size_t> refused_{0};
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::map<uint64_t, Socket*> sockets_;  // live connections' sockets by connection, for stop()
  uint64_t next_id_ = 0;
  size_t threads_ = 0;
};

}  // namespace tessera::net
