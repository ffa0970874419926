#pragma once
/// @file
/// EventId: a 128-bit RFC 9562 version-4 UUID identifying one event.

#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/error.hpp>

#include <array>
#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <pthread.h>
#include <sys/random.h>

namespace spakky::event {

namespace detail {

/// Per-thread xoshiro256** generator seeded from the OS's entropy (getrandom).
/// Thread-local so that generating ids never contends; reseeded in a forked child
/// so that parent and child never produce the same sequence.
class UuidRandom {
public:
  static UuidRandom& local() {
    thread_local UuidRandom rng;
    if (rng.generation_ != fork_generation().load(std::memory_order_relaxed)) rng.seed();
    return rng;
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

private:
  UuidRandom() { seed(); }

  static std::atomic<unsigned>& fork_generation() {
    static std::atomic<unsigned> generation{[] {
      ::pthread_atfork(nullptr, nullptr,
                       [] { fork_generation().fetch_add(1, std::memory_order_relaxed); });
      return 0u;
    }()};
    return generation;
  }

  void seed() {
    generation_ = fork_generation().load(std::memory_order_relaxed);
    std::size_t filled = 0;
    auto* bytes = reinterpret_cast<unsigned char*>(s_.data());
    while (filled < sizeof(s_)) {
      const auto got = ::getrandom(bytes + filled, sizeof(s_) - filled, 0);
      if (got > 0) filled += static_cast<std::size_t>(got);
      // EINTR: retry. getrandom blocks only until the kernel pool is initialised.
    }
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // the all-zero state is a fixed point
  }

  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }

  std::array<std::uint64_t, 4> s_{};
  unsigned generation_ = 0;
};

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace detail

/// A 128-bit UUID. `generate()` makes random (version 4) ids; `parse` reads any UUID.
class EventId {
public:
  /// The nil UUID (all zero).
  constexpr EventId() noexcept = default;
  /// The id whose first 64 bits are `high` and last 64 bits are `low` (as in the text form).
  constexpr EventId(std::uint64_t high, std::uint64_t low) noexcept : high_(high), low_(low) {}

  /// A fresh random RFC 9562 version-4 id.
  [[nodiscard]] static EventId generate() {
    auto& rng = detail::UuidRandom::local();
    std::uint64_t high = rng.next();
    std::uint64_t low = rng.next();
    high = (high & ~std::uint64_t{0xF000}) | std::uint64_t{0x4000};           // version 4
    low = (low & ~(std::uint64_t{0xC} << 60)) | (std::uint64_t{0x8} << 60);  // variant 10xx
    return EventId(high, low);
  }

  /// Reads the canonical 8-4-4-4-12 hex form (either case); nullopt if malformed.
  [[nodiscard]] static constexpr std::optional<EventId> try_parse(std::string_view text) noexcept {
    if (text.size() != 36) return std::nullopt;
    std::uint64_t parts[2] = {0, 0};
    int nibble = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        if (text[i] != '-') return std::nullopt;
        continue;
      }
      const int v = detail::hex_value(text[i]);
      if (v < 0) return std::nullopt;
      auto& part = parts[nibble / 16];
      part = (part << 4) | static_cast<std::uint64_t>(v);
      ++nibble;
    }
    return EventId(parts[0], parts[1]);
  }

  /// Reads the canonical form; throws InvalidMessageError if malformed.
  [[nodiscard]] static EventId parse(std::string_view text) {
    if (auto id = try_parse(text)) return *id;
    throw InvalidMessageError("EventId", "not a UUID: '" + std::string(text.substr(0, 64)) + "'");
  }

  /// Lower-case 8-4-4-4-12 form.
  [[nodiscard]] std::string to_string() const {
    std::string out(36, '\0');
    write(out.data());
    return out;
  }

  /// Writes the 36 characters of the canonical form to `out` (no terminator).
  void write(char* out) const noexcept {
    constexpr char digits[] = "0123456789abcdef";
    int nibble = 0;
    for (std::size_t i = 0; i < 36; ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        out[i] = '-';
        continue;
      }
      const std::uint64_t part = nibble < 16 ? high_ : low_;
      const int shift = 60 - 4 * (nibble % 16);
      out[i] = digits[(part >> shift) & 0xF];
      ++nibble;
    }
  }

  /// The first 64 bits (the first 16 hex digits of the text form).
  [[nodiscard]] constexpr std::uint64_t high() const noexcept { return high_; }
  /// The last 64 bits (the last 16 hex digits of the text form).
  [[nodiscard]] constexpr std::uint64_t low() const noexcept { return low_; }
  /// The version nibble (4 for generated ids).
  [[nodiscard]] constexpr unsigned version() const noexcept {
    return static_cast<unsigned>((high_ >> 12) & 0xF);
  }
  /// True if the variant bits are RFC 9562's `10xx`.
  [[nodiscard]] constexpr bool is_rfc_variant() const noexcept { return (low_ >> 62) == 0x2; }

  /// Same 128 bits.
  friend constexpr bool operator==(const EventId&, const EventId&) noexcept = default;
  /// Ordered as the 128-bit numbers (and as the text forms) are.
  friend constexpr std::strong_ordering operator<=>(const EventId&, const EventId&) noexcept = default;

private:
  std::uint64_t high_ = 0;
  std::uint64_t low_ = 0;
};

}  // namespace spakky::event

// A specialization in another library's namespace, which Doxygen cannot place: left out.
/// @cond
/// Hashes an EventId, so that it can key an unordered container.
template <>
struct std::hash<spakky::event::EventId> {
  /// Folds both halves of the id into one size_t.
  std::size_t operator()(const spakky::event::EventId& id) const noexcept {
    // The bits are random already; fold both halves so that parsed (non-random) ids spread too.
    const std::uint64_t x = id.high() ^ (id.low() * 0x9E3779B97F4A7C15ULL);
    return static_cast<std::size_t>(x ^ (x >> 32));
  }
};
/// @endcond
