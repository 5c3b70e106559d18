#include "transport/net/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <tuple>


namespace tessera::net {

namespace {

// "host:port" ("[v6]:port") for logs, and the bare host for per-address limits.
std::pair<std::string, std::string> describe_peer(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {"?", "?"};
  char host[NI_MAXHOST] = {}, serv[NI_MAXSERV] = {};
  if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return {"?", "?"};
  std::string full = ss.ss_family == AF_INET6 ? "[" + std::string(host) + "]:" + serv : std::string(host) + ":" + serv;
  return {full, host};
}

// poll() for one direction; false on timeout (timeout 0: wait as long as it takes).
bool poll_fd(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  int r;
  do r = ::poll(&p, 1, timeout.count() > 0 ? int(timeout.count()) : -1);
  while (r < 0 && errno == EINTR);
  return r > 0;
}

}  // namespace

Socket::Socket(int fd) : fd_(fd) {
  std::tie(peer_, peer_host_) = describe_peer(fd);
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A peer that vanished without a FIN (a cable pulled, a VM paused) is noticed by the kernel:
  // keepalive probes after 15 s of silence, 3 of them 5 s apart; and data it leaves unacknowledged
  // for 30 s ends the connection whatever the layer above (TLS too) is doing. Not TCP: ignored.
  setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  int idle = kKeepAliveIdleS, interval = kKeepAliveIntervalS, count = kKeepAliveProbes;
  unsigned user_timeout = kUnackedTimeoutMs;
  setsockopt(fd_, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd_, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd_, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt(fd_, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
  int flags = fcntl(fd_, F_GETFL);
  fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

Socket::~Socket() {
  layer_.reset();  // TLS may still send its close_notify
  ::close(fd_);
}

bool Socket::wait_readable(std::chrono::milliseconds timeout) {
  if (layer_ && layer_->pending()) return true;
  pollfd p{fd_, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, int(timeout.count()));
  while (r < 0 && errno == EINTR);
  return r > 0;
}

void Socket::read_exact(void* buf, size_t n, std::chrono::milliseconds timeout, const char* what) {
  auto* p = static_cast<uint8_t*>(buf);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t got = 0;
  while (got < n) {
    IoResult r;
    try {
      r = layer_ ? layer_->read(p + got, n - got) : io_result_from_errno(::recv(fd_, p + got, n - got, 0), true);
    } catch (const SecureLayerError& e) {
      throw ProtocolError(std::string(e.what()) + " (during " + what + ")");
    }
    if (r.bytes) {
      got += r.bytes;
      continue;
    }
    if (r.closed)
      throw PeerClosedError(std::string("client closed the connection ") +
                                (got ? "in the middle of " : "while waiting for ") + what + " (" +
                                std::to_string(got) + " of " + std::to_string(n) + " bytes)",
                            got);
    std::chrono::milliseconds left{0};
    if (timeout.count() > 0) {
      left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) left = std::chrono::milliseconds(-1);
    }
    if (left.count() < 0 || !poll_fd(fd_, r.wait == IoWait::Write ? POLLOUT : POLLIN, left))
      throw TimeoutError(std::string("timed out waiting for ") + what + " (" + std::to_string(got) + " of " +
                          std::to_string(n) + " bytes arrived)");
  }
}

bool Socket::try_read_byte(uint8_t* b, std::chrono::milliseconds wait, const char* what) {
  try {
    read_exact(b, 1, wait, what);
    return true;
  } catch (const TimeoutError&) {
    return false;
  }
}

void Socket::wait_writable(IoWait w) {
  if (!poll_fd(fd_, w == IoWait::Read ? POLLIN : POLLOUT, send_timeout_))
    throw ProtocolError("client stopped reading: send timed out");
}

void Socket::write_locked(std::span<const uint8_t> data) {
  size_t sent = 0;
  try {
    while (sent < data.size()) {
      IoResult r = layer_ ? layer_->write(data.data() + sent, data.size() - sent)
                          : io_result_from_errno(::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL),
                                                 false);
      sent += r.bytes;
      if (r.wait != IoWait::None) wait_writable(r.wait);
    }
    for (IoWait w = layer_ ? layer_->flush() : IoWait::None; w != IoWait::None; w = layer_->flush())
      wait_writable(w);
  } catch (const SecureLayerError& e) {
    throw ProtocolError(e.what());
  }
}

void Socket::write_all(std::span<const uint8_t> data) {
  std::lock_guard lock(write_mu_);
  write_locked(data);
}

void Socket::write_all(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  std::lock_guard lock(write_mu_);
  write_locked(a);
  write_locked(b);
}

void Socket::shutdown() { ::shutdown(fd_, SHUT_RDWR); }

std::chrono::milliseconds Socket::silent_for() const {
  if (busy_.load() > 0) return std::chrono::milliseconds(0);
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(info.tcpi_last_data_recv);
}

int listen_tcp(const std::string& address, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string svc = std::to_string(port);
  int rc = getaddrinfo(address.empty() ? nullptr : address.c_str(), svc.c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error("cannot resolve listen address '" + address + "': " + gai_strerror(rc));
  std::string err = "no usable address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 64) == 0) {
      freeaddrinfo(res);
      return fd;
    }
    err = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  throw std::runtime_error("cannot listen on " + address + ":" + svc + ": " + err);
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

std::chrono::milliseconds time_left(Deadline d) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d - std::chrono::steady_clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds(1);
}

}  // namespace tessera::net
