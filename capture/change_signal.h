#pragma once
// A level-triggered "something changed" flag a capture loop can poll: an eventfd that producers
// set from any thread and the source clears when it hands out the change.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace tessera {

class ChangeSignal {
 public:
  ChangeSignal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw std::runtime_error(std::string("eventfd failed: ") + std::strerror(errno));
  }
  ~ChangeSignal() { ::close(fd_); }
  ChangeSignal(const ChangeSignal&) = delete;
  ChangeSignal& operator=(const ChangeSignal&) = delete;

  void set() {
    uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);
  }
  void clear() {
    uint64_t n;
    (void)!::read(fd_, &n, sizeof n);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace tessera
