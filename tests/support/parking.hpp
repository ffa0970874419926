#pragma once
// Parking: coroutines that handlers park (co_await parking.park(tag)), resumed by the test one
// by one (by tag) or all at once, on the test's thread.

#include <coroutine>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace test_support {

/// Coroutines parked by handlers, resumed by the test one by one or all at once.
class Parking {
public:
  struct Awaiter {
    Parking* parking;
    std::string tag;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) {
      Parking* owner = parking;  // nothing of this awaiter is touched once it is parked
      const std::lock_guard lock(owner->mutex_);
      owner->parked_.push_back({std::move(tag), handle});
    }
    void await_resume() const noexcept {}
  };
  Awaiter park(std::string tag) { return Awaiter{this, std::move(tag)}; }

  [[nodiscard]] std::vector<std::string> tags() const {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& p : parked_) out.push_back(p.tag);
    return out;
  }
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return parked_.size();
  }
  /// Resumes the one parked with `tag` (on this thread); false if none is.
  bool resume(const std::string& tag) {
    std::coroutine_handle<> handle;
    {
      const std::lock_guard lock(mutex_);
      for (auto it = parked_.begin(); it != parked_.end(); ++it) {
        if (it->tag == tag) {
          handle = it->handle;
          parked_.erase(it);
          break;
        }
      }
    }
    if (!handle) return false;
    handle.resume();
    return true;
  }
  void resume_all() {
    for (;;) {
      std::coroutine_handle<> handle;
      {
        const std::lock_guard lock(mutex_);
        if (parked_.empty()) return;
        handle = parked_.front().handle;
        parked_.pop_front();
      }
      handle.resume();
    }
  }

private:
  struct Parked {
    std::string tag;
    std::coroutine_handle<> handle;
  };
  mutable std::mutex mutex_;
  std::deque<Parked> parked_;
};

}  // namespace test_support
