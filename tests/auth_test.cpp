#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <mutex>
#include <set>

#include "auth/ticket_key.h"
#include "auth/ticket_key_pool.h"
#include "auth/ticket_policy.h"

using namespace tessera;

namespace {
std::vector<uint8_t> ticket_for(const TicketKey& key, const std::string& password) {
  std::vector<uint8_t> plain(password.begin(), password.end());
  plain.push_back(0);  // spice-gtk sends the terminating NUL
  return TicketKey::encrypt_for(key.public_der(), plain);
}
const TicketKey& key() {
  static const TicketKey k = TicketKey::generate();
  return k;
}
}  // namespace

TEST(TicketKey, PublicKeyIsSpiceShapedDer) {
  const auto& der = key().public_der();
  EXPECT_EQ(der.size(), 162u);
  EXPECT_EQ(der[0], 0x30);
  EXPECT_EQ(der[1], 0x81);
  EXPECT_EQ(der[2], 0x9f);
}

TEST(TicketKey, OaepRoundTripAndRejects) {
  auto ct = ticket_for(key(), "secret");
  EXPECT_EQ(ct.size(), 128u);
  auto pt = key().decrypt(ct);
  ASSERT_TRUE(pt);
  EXPECT_EQ(std::string(pt->begin(), pt->end()), std::string("secret\0", 7));
  ct[5] ^= 1;
  EXPECT_FALSE(key().decrypt(ct));
  EXPECT_FALSE(key().decrypt(std::vector<uint8_t>(127, 1)));
  EXPECT_FALSE(key().decrypt(std::vector<uint8_t>(128, 0xFF)));
  // A ticket for another key does not open this one.
  TicketKey other = TicketKey::generate();
  EXPECT_FALSE(key().decrypt(ticket_for(other, "secret")));
}

TEST(TicketPolicy, Verdicts) {
  auto p = TicketPolicy::with_password("s3cret", std::nullopt);
  EXPECT_EQ(p.check(key(), ticket_for(key(), "s3cret")), TicketPolicy::Verdict::Accepted);
  EXPECT_EQ(p.check(key(), ticket_for(key(), "s3cre")), TicketPolicy::Verdict::WrongPassword);
  EXPECT_EQ(p.check(key(), ticket_for(key(), "s3cret!")), TicketPolicy::Verdict::WrongPassword);
  EXPECT_EQ(p.check(key(), ticket_for(key(), "")), TicketPolicy::Verdict::WrongPassword);
  EXPECT_EQ(p.check(key(), std::vector<uint8_t>(128, 7)), TicketPolicy::Verdict::Undecryptable);
  auto open = TicketPolicy::disabled();
  EXPECT_FALSE(open.enabled());
  EXPECT_EQ(open.check(key(), std::vector<uint8_t>(128, 7)), TicketPolicy::Verdict::Accepted);
}

TEST(TicketPolicy, Expiry) {
  auto p = TicketPolicy::with_password("pw", std::chrono::seconds(0));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(p.check(key(), ticket_for(key(), "pw")), TicketPolicy::Verdict::Expired);
  // A wrong password is reported as wrong, not as expired.
  EXPECT_EQ(p.check(key(), ticket_for(key(), "nope")), TicketPolicy::Verdict::WrongPassword);
  auto later = TicketPolicy::with_password("pw", std::chrono::seconds(3600));
  EXPECT_EQ(later.check(key(), ticket_for(key(), "pw")), TicketPolicy::Verdict::Accepted);
}

TEST(TicketPolicy, RejectsPasswordsClientsCannotSend) {
  EXPECT_THROW(TicketPolicy::with_password(std::string(61, 'a'), std::nullopt), std::invalid_argument);
  EXPECT_NO_THROW(TicketPolicy::with_password(std::string(60, 'a'), std::nullopt));
}

TEST(PasswordFile, ReadsFirstLineAndRejectsBadFiles) {
  auto dir = std::filesystem::temp_directory_path();
  auto write = [&](const std::string& name, const std::string& text) {
    auto p = dir / name;
    std::ofstream(p, std::ios::binary) << text;
    std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return p.string();
  };
  EXPECT_EQ(read_password_file(write("tessera_pw1", "hunter2\n")), "hunter2");
  EXPECT_EQ(read_password_file(write("tessera_pw2", "crlf\r\nsecond line")), "crlf");
  EXPECT_THROW(read_password_file(write("tessera_pw3", "")), std::runtime_error);
  EXPECT_THROW(read_password_file(write("tessera_pw4", std::string(61, 'x'))), std::runtime_error);
  EXPECT_THROW(read_password_file((dir / "tessera_no_such_file").string()), std::runtime_error);
  for (auto n : {"tessera_pw1", "tessera_pw2", "tessera_pw3", "tessera_pw4"}) std::filesystem::remove(dir / n);
}

TEST(TicketKeyPool, EveryTakeIsAKeyOfItsOwn) {
  TicketKeyPool pool(2);
  std::set<std::vector<uint8_t>> seen;
  auto soon = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(10); };
  // More than the pool holds, faster than it refills: callers then make their own.
  for (int i = 0; i < 6; ++i) {
    TicketKey k = *pool.take(soon());
    EXPECT_TRUE(seen.insert({k.public_der().begin(), k.public_der().end()}).second) << "a key was handed out twice";
    auto ct = ticket_for(k, "pw");
    EXPECT_TRUE(k.decrypt(ct));
  }
  // The background thread fills it again.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pool.ready() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(pool.ready(), 2u);
  TicketKey k = *pool.take(soon());
  EXPECT_TRUE(seen.insert({k.public_der().begin(), k.public_der().end()}).second);
}

// A burst of links at an empty pool: one caller at a time makes its own key, the rest wait for
// the next one; every caller gets a different key.
TEST(TicketKeyPool, ABurstWaitsRatherThanGeneratingAKeyEach) {
  TicketKeyPool pool(1);
  std::mutex mu;
  std::set<std::vector<uint8_t>> seen;
  std::vector<std::thread> takers;
  for (int i = 0; i < 12; ++i)
    takers.emplace_back([&] {
      auto k = pool.take(std::chrono::steady_clock::now() + std::chrono::seconds(30));
      ASSERT_TRUE(k);
      std::lock_guard lock(mu);
      EXPECT_TRUE(seen.insert({k->public_der().begin(), k->public_der().end()}).second);
    });
  for (auto& t : takers) t.join();
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_LT(pool.made_inline(), 12u);
  // A deadline already past with nothing ready gives nothing only while another caller is busy
  // making one; alone, a caller makes its own.
  EXPECT_TRUE(pool.take(std::chrono::steady_clock::now() - std::chrono::seconds(1)));
}
