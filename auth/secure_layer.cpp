#include "auth/secure_layer.h"

#include <cerrno>
#include <cstring>

namespace tessera {

IoResult io_result_from_errno(ssize_t r, bool reading) {
  IoResult res;
  if (r > 0) {
    res.bytes = size_t(r);
  } else if (r == 0) {
    res.closed = true;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    res.wait = reading ? IoWait::Read : IoWait::Write;
  } else if (reading && errno == ECONNRESET) {
    res.closed = true;  // some clients hang up with a reset
  } else {
    throw SecureLayerError(std::string(reading ? "read error: " : "write error: ") + std::strerror(errno));
  }
  return res;
}

}  // namespace tessera
