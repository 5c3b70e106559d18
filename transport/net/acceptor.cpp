#include "transport/net/acceptor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "core/log.h"

namespace tessera::net {

Acceptor::Acceptor(std::string protocol, std::shared_ptr<AuthGuard> guard, size_t max_connections, Serve serve)
    : protocol_(std::move(protocol)),
      guard_(std::move(guard)),
      max_connections_(max_connections),
      serve_(std::move(serve)),
      refusals_(protocol_) {}

Acceptor::~Acceptor() { stop(); }

void Acceptor::start(std::vector<int> listen_fds) {
  if (stopping_ || thread_.joinable()) {
    for (int fd : listen_fds)
      if (fd >= 0) ::close(fd);
    throw std::logic_error(protocol_ + ": the accept loop was started already, or stopped");
  }
  listen_fds_ = std::move(listen_fds);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed: " + std::string(std::strerror(errno)));
  thread_ = std::thread([this] { loop(); });
}

void Acceptor::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_pipe_[1] >= 0) (void)!::write(wake_pipe_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  {
    std::unique_lock lock(mu_);
    for (auto& [id, s] : sockets_) s->shutdown();
    idle_cv_.wait(lock, [&] { return threads_ == 0; });
  }
  for (int& fd : listen_fds_)
    if (fd >= 0) ::close(std::exchange(fd, -1));
  for (int& fd : wake_pipe_)
    if (fd >= 0) ::close(std::exchange(fd, -1));
}

void Acceptor::Lease::forget() {
  if (std::exchange(forgotten_, true)) return;
  std::lock_guard lock(acceptor_.mu_);
  acceptor_.sockets_.erase(id_);
}

size_t Acceptor::connection_count() const {
  std::lock_guard lock(mu_);
  return sockets_.size();
}

void Acceptor::loop() {
  std::vector<pollfd> p;
  p.push_back({wake_pipe_[0], POLLIN, 0});
  for (int fd : listen_fds_) p.push_back({fd, short(fd >= 0 ? POLLIN : 0), 0});
  while (!stopping_) {
    if (::poll(p.data(), p.size(), -1) < 0) continue;
    if (p[0].revents) break;
    for (size_t i = 1; i < p.size(); ++i)
      if (p[i].revents & POLLIN) accept_one(p[i].fd, i - 1);
  }
}

void Acceptor::accept_one(int listen_fd, size_t listener) {
  int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    // Out of descriptors or memory: the listening socket stays readable, so pause, not spin.
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      spdlog::warn("{}: cannot accept a connection: {}; retrying in 100 ms", protocol_, std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return;
  }
  auto sock = std::make_unique<Socket>(fd);
  std::string why, evicted;
  auto now = std::chrono::steady_clock::now();
  auto slot = guard_->admit(sock->peer_host(), now, &why, &evicted);
  if (!evicted.empty()) spdlog::warn("{}: {} for {}", protocol_, evicted, sock->peer());
  std::lock_guard lock(mu_);
  if (slot && sockets_.size() >= max_connections_) {
    slot.reset();
    why = fmt::format("{} connections open (limit)", sockets_.size());
  }
  if (!slot) {
    ++refused_;
    refusals_.note(fmt::format("refusing {}: {}", sock->peer(), why), now);
    return;
  }
  const uint64_t id = next_id_++;
  sockets_.emplace(id, sock.get());
  ++threads_;
  try {
    std::thread([this, id, listener, s = std::move(sock), sl = std::move(slot)]() mutable {
      Lease lease(*this, id);
      serve_(std::move(s), listener, std::move(sl), lease);
      lease.forget();
      std::lock_guard done(mu_);
      --threads_;
      idle_cv_.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    // Out of threads: this connection is dropped (the lambda's socket closes); the rest go on.
    sockets_.erase(id);
    --threads_;
    ++refused_;
    refusals_.note(fmt::format("cannot start a thread for a connection: {}", e.what()), now);
  }
}

}  // namespace tessera::net
