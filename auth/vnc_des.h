#pragma once
// VNC authentication's DES challenge-response: the password's first 8 bytes, each bit-reversed,
// as a DES key that encrypts the 16-byte challenge as two ECB blocks. DES lives in OpenSSL 3's
// legacy provider, which is loaded into a private library context so the rest of the process
// keeps the default one.
#include <array>
#include <cstdint>
#include <string>

namespace tessera {

using VncChallenge = std::array<uint8_t, 16>;

VncChallenge vnc_random_challenge();
// What a client with `password` answers; throws std::runtime_error when DES is unavailable.
VncChallenge vnc_auth_response(const std::string& password, const VncChallenge& challenge);
// Constant-time check of a client's answer.
bool vnc_auth_check(const std::string& password, const VncChallenge& challenge, const VncChallenge& response);

}  // namespace tessera
