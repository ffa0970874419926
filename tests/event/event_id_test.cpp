// EventId: RFC 9562 version-4 ids, the canonical text form, ordering and hashing.
#include <spakky/event/event_id.hpp>

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

namespace ev = spakky::event;
using ev::EventId;

constexpr std::string_view sample_text = "0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f";

bool is_canonical_lower(const std::string& text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// Reads exactly `size` bytes from `fd`; false on EOF or error.
bool read_all(int fd, void* data, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(data);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t got = ::read(fd, bytes + done, size - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t put = ::write(fd, bytes + done, size - done);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    done += static_cast<std::size_t>(put);
  }
  return true;
}

// Parsing is constexpr: a malformed literal can be caught at compile time.
static_assert(EventId::try_parse("01234567-89ab-cdef-fedc-ba9876543210")->high() == 0x0123456789abcdefULL);
static_assert(EventId::try_parse("01234567-89ab-cdef-fedc-ba9876543210")->low() == 0xfedcba9876543210ULL);
static_assert(!EventId::try_parse("not a uuid").has_value());
static_assert(EventId{}.version() == 0 && !EventId{}.is_rfc_variant());

}  // namespace

TEST_CASE("EventId::generate makes version-4 ids with the RFC 9562 variant", "[event_id]") {
  for (int i = 0; i < 1000; ++i) {
    const EventId id = EventId::generate();
    INFO(id.to_string());
    REQUIRE(id.version() == 4);
    REQUIRE(id.is_rfc_variant());
    const std::string text = id.to_string();
    REQUIRE(text[14] == '4');                                  // version nibble
    REQUIRE(std::string_view("89ab").find(text[19]) != std::string_view::npos);  // variant 10xx
  }
}

TEST_CASE("EventId::generate leaves all 122 random bits random", "[event_id]") {
  // Every bit outside the version and variant fields is seen both set and clear.
  std::uint64_t high_or = 0, low_or = 0;
  std::uint64_t high_and = ~std::uint64_t{0}, low_and = ~std::uint64_t{0};
  for (int i = 0; i < 2000; ++i) {
    const EventId id = EventId::generate();
    high_or |= id.high();
    high_and &= id.high();
    low_or |= id.low();
    low_and &= id.low();
  }
  CHECK(high_or == ~std::uint64_t{0xB000});           // version 0100: bits 15, 13, 12 always clear
  CHECK(high_and == std::uint64_t{0x4000});           // ... bit 14 always set
  CHECK(low_or == ~(std::uint64_t{1} << 62));         // variant 10: bit 62 always clear
  CHECK(low_and == (std::uint64_t{1} << 63));         // ... bit 63 always set
}

TEST_CASE("EventId::generate gives 100k distinct ids across 4 threads", "[event_id][threads]") {
  constexpr int threads = 4;
  constexpr int per_thread = 25'000;
  // Catch2 assertions are not thread-safe: the workers only collect, the main thread checks.
  std::array<std::vector<EventId>, threads> collected;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&ids = collected[static_cast<std::size_t>(t)]] {
      ids.reserve(per_thread);
      for (int i = 0; i < per_thread; ++i) ids.push_back(EventId::generate());
    });
  }
  for (auto& worker : workers) worker.join();

  std::unordered_set<EventId> all;
  bool all_valid = true;
  for (const auto& ids : collected) {
    REQUIRE(ids.size() == per_thread);
    for (const auto& id : ids) {
      all_valid = all_valid && id.version() == 4 && id.is_rfc_variant();
      all.insert(id);
    }
  }
  CHECK(all_valid);
  CHECK(all.size() == std::size_t{threads} * per_thread);
}

TEST_CASE("EventId::to_string is lower-case 8-4-4-4-12 and parse reads it back", "[event_id]") {
  SECTION("known values") {
    CHECK(EventId{}.to_string() == "00000000-0000-0000-0000-000000000000");
    CHECK(EventId(0x0123456789abcdefULL, 0xfedcba9876543210ULL).to_string() ==
          "01234567-89ab-cdef-fedc-ba9876543210");
    CHECK(EventId(~std::uint64_t{0}, ~std::uint64_t{0}).to_string() == "ffffffff-ffff-ffff-ffff-ffffffffffff");
    CHECK(EventId::parse(sample_text).to_string() == sample_text);
  }
  SECTION("generated values round-trip") {
    for (int i = 0; i < 1000; ++i) {
      const EventId id = EventId::generate();
      const std::string text = id.to_string();
      INFO(text);
      REQUIRE(is_canonical_lower(text));
      REQUIRE(EventId::parse(text) == id);
      REQUIRE(EventId::try_parse(text) == std::optional<EventId>(id));
    }
  }
  SECTION("write() fills exactly 36 characters") {
    std::string buffer(40, '#');
    EventId::parse(sample_text).write(buffer.data());
    CHECK(buffer == std::string(sample_text) + "####");
  }
}

TEST_CASE("EventId::parse accepts upper and mixed case", "[event_id]") {
  const EventId lower = EventId::parse(sample_text);
  CHECK(EventId::parse("0B7C3F4E-9A51-4D2C-8F1E-2A6B5C7D8E9F") == lower);
  CHECK(EventId::parse("0b7C3f4E-9A51-4d2c-8F1e-2a6B5c7D8e9F") == lower);
  CHECK(EventId::parse("0B7C3F4E-9A51-4D2C-8F1E-2A6B5C7D8E9F").to_string() == sample_text);
}

TEST_CASE("EventId::parse rejects malformed text with InvalidMessageError", "[event_id]") {
  const std::string malformed = GENERATE(as<std::string>{},
      "",                                             // empty
      "0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9",          // 35 characters
      "0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f0",        // 37 characters
      "0b7c3f4e9a514d2c8f1e2a6b5c7d8e9f",             // no hyphens
      "{0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f}",       // braces
      "urn:uuid:0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f",
      "0b7c3f4e9-a51-4d2c-8f1e-2a6b5c7d8e9f",         // first hyphen one place late
      "0b7c3f4-e9a51-4d2c-8f1e-2a6b5c7d8e9f",         // first hyphen one place early
      "0b7c3f4e-9a51-4d2c-8f1e2-a6b5c7d8e9f",         // last hyphen misplaced
      "0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e-f",         // hyphen in a hex position
      "0b7c3f4e 9a51 4d2c 8f1e 2a6b5c7d8e9f",         // spaces for hyphens
      "0b7c3f4g-9a51-4d2c-8f1e-2a6b5c7d8e9f",         // 'g'
      "0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9 ",         // trailing space
      " 0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9",         // leading space
      "0x7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f",         // 'x'
      "+b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f",         // sign
      "0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9\xc3",      // non-ASCII byte
      std::string("0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9\0", 36));  // embedded NUL
  INFO('"' << malformed << '"');
  CHECK_FALSE(EventId::try_parse(malformed).has_value());
  CHECK_THROWS_AS(EventId::parse(malformed), ev::InvalidMessageError);
  CHECK_THROWS_AS(EventId::parse(malformed), ev::EventError);
  CHECK_THROWS_WITH(EventId::parse(malformed), Catch::Contains("not a UUID"));
}

TEST_CASE("EventId is totally ordered by its 128 bits, like its text", "[event_id]") {
  STATIC_REQUIRE(std::is_same_v<decltype(EventId{} <=> EventId{}), std::strong_ordering>);
  CHECK(EventId(0, 1) < EventId(0, 2));
  CHECK(EventId(0, ~std::uint64_t{0}) < EventId(1, 0));
  CHECK((EventId(7, 7) <=> EventId(7, 7)) == std::strong_ordering::equal);
  CHECK(EventId(2, 0) > EventId(1, ~std::uint64_t{0}));
  CHECK(EventId(1, 2) != EventId(2, 1));

  std::vector<EventId> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(EventId::generate());
  std::sort(ids.begin(), ids.end());
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  bool text_sorted = true;
  for (std::size_t i = 1; i < ids.size(); ++i) text_sorted = text_sorted && ids[i - 1].to_string() < ids[i].to_string();
  CHECK(text_sorted);
}

TEST_CASE("EventId hashes: equal ids hash equal and it works in unordered containers", "[event_id]") {
  const EventId a = EventId::parse(sample_text);
  const EventId b = EventId::parse("0B7C3F4E-9A51-4D2C-8F1E-2A6B5C7D8E9F");
  CHECK(std::hash<EventId>{}(a) == std::hash<EventId>{}(b));

  std::unordered_set<EventId> set;
  CHECK(set.insert(a).second);
  CHECK_FALSE(set.insert(b).second);
  CHECK(set.insert(EventId::generate()).second);
  CHECK(set.size() == 2);
  CHECK(set.count(a) == 1);
  CHECK(set.count(EventId{}) == 0);

  SECTION("non-random (parsed) ids spread too") {
    std::unordered_set<std::size_t> hashes;
    for (std::uint64_t i = 0; i < 1000; ++i) {
      hashes.insert(std::hash<EventId>{}(EventId(i, 0)));
      hashes.insert(std::hash<EventId>{}(EventId(0, i)));
      hashes.insert(std::hash<EventId>{}(EventId(i, i)));
    }
    CHECK(hashes.size() >= 2990);
  }
}

TEST_CASE("a forked child generates ids different from its parent's", "[event_id][fork]") {
  constexpr int count = 1000;
  // Seed this thread's generator before forking, so that the child inherits its state.
  std::unordered_set<EventId> parent_ids;
  parent_ids.insert(EventId::generate());

  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: no Catch2 here; generate, write, leave without running destructors or atexit.
    ::close(fds[0]);
    bool ok = true;
    for (int i = 0; i < count && ok; ++i) {
      const EventId id = EventId::generate();
      const std::uint64_t words[2] = {id.high(), id.low()};
      ok = write_all(fds[1], words, sizeof words);
    }
    ::close(fds[1]);
    ::_exit(ok ? 0 : 1);
  }
  ::close(fds[1]);
  for (int i = 0; i < count; ++i) parent_ids.insert(EventId::generate());

  std::vector<EventId> child_ids;
  bool read_ok = true;
  for (int i = 0; i < count && read_ok; ++i) {
    std::uint64_t words[2];
    read_ok = read_all(fds[0], words, sizeof words);
    if (read_ok) child_ids.emplace_back(words[0], words[1]);
  }
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(read_ok);
  REQUIRE(child_ids.size() == std::size_t{count});

  REQUIRE(parent_ids.size() == std::size_t{count} + 1);
  std::size_t shared = 0;
  for (const auto& id : child_ids) shared += parent_ids.count(id);
  CHECK(shared == 0);
  CHECK(std::unordered_set<EventId>(child_ids.begin(), child_ids.end()).size() == std::size_t{count});
}
