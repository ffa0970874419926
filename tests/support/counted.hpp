#pragma once
// Objects that count their live instances: to show when a handler's closure is destroyed.

#include <atomic>

namespace test_support {

struct Counted {
  static inline std::atomic<int> alive{0};
  Counted() noexcept { ++alive; }
  Counted(const Counted&) noexcept { ++alive; }
  Counted(Counted&&) noexcept { ++alive; }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) = default;
  ~Counted() { --alive; }
};

}  // namespace test_support
