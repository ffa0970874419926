#pragma once
/// @file
/// WriterLock: the mutex of the handler registry's writers (register, cancel). Its critical
/// sections are short and run no user code, so an uncontended lock or unlock is one atomic
/// instruction, and a contended one sleeps on a futex.

#include <atomic>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <spakky/event/detail/lean_std.hpp>  // std::mutex
#endif

namespace spakky::event::detail {

#if defined(__linux__)
/// A futex mutex (U. Drepper, "Futexes Are Tricky", mutex 2): 0 free, 1 locked, 2 locked with
/// sleepers. Satisfies Lockable's lock()/unlock() for std::lock_guard.
class WriterLock {
public:
  WriterLock() noexcept = default;
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  void lock() noexcept {
    int expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_contended();
  }

  void unlock() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) [[unlikely]] wake_one();
  }

private:
  [[gnu::noinline]] void lock_contended() noexcept {
    // The holder is about to leave (no user code runs under this lock): spin a little first.
    for (int spins = 0; spins < 100; ++spins) {
      int expected = 0;
      if (state_.load(std::memory_order_relaxed) == 0 &&
          state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) {
        return;
      }
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    // Marked 2 while anyone may sleep, so that the unlock wakes one.
    while (state_.exchange(2, std::memory_order_acquire) != 0) {
      ::syscall(SYS_futex, reinterpret_cast<int*>(&state_), FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr, 0);
    }
  }

  [[gnu::noinline]] void wake_one() noexcept {
    ::syscall(SYS_futex, reinterpret_cast<int*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

  std::atomic<int> state_{0};
  static_assert(sizeof(std::atomic<int>) == sizeof(int) && std::atomic<int>::is_always_lock_free);
};
#else
using WriterLock = std::mutex;
#endif

}  // namespace spakky::event::detail
