#pragma once
// Small synchronisation helpers for tests that must never hang: every wait has a deadline.

#include <atomic>
#include <chrono>
#include <thread>

namespace test_support {

using namespace std::chrono_literals;

/// Polls `predicate` until it holds or `timeout` passes; returns its last value.
template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// A one-shot gate: threads wait until it is opened (or give up after a deadline).
class Gate {
public:
  void open() noexcept { open_.store(true); }
  bool wait(std::chrono::milliseconds timeout = 10s) const {
    return eventually([&] { return open_.load(); }, timeout);
  }
  [[nodiscard]] bool is_open() const noexcept { return open_.load(); }

private:
  std::atomic<bool> open_{false};
};

/// Joins a thread on scope exit, after running `release` so that a failed check never
/// leaves a thread blocked.
template <class Release>
class JoinGuard {
public:
  JoinGuard(std::thread& thread, Release release) : thread_(thread), release_(release) {}
  ~JoinGuard() {
    release_();
    if (thread_.joinable()) thread_.join();
  }

private:
  std::thread& thread_;
  Release release_;
};

}  // namespace test_support
