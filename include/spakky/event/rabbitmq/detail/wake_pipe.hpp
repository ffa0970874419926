#pragma once
/// @file
/// WakePipe: wakes a worker thread blocked in poll() from any thread.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace spakky::event::detail::rabbitmq {

/// A non-blocking, close-on-exec pipe: wake() from any thread makes read_fd() readable for
/// the worker's poll(); the worker drain()s it before looking at what it was woken for.
class WakePipe {
public:
  WakePipe() {
    if (::pipe(fds_) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    for (const int fd : fds_) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  WakePipe(const WakePipe&) = delete;
  WakePipe& operator=(const WakePipe&) = delete;
  ~WakePipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }

  [[nodiscard]] int read_fd() const noexcept { return fds_[0]; }

  void wake() noexcept {
    const char byte = 1;
    [[maybe_unused]] const auto written = ::write(fds_[1], &byte, 1);  // full pipe: a wake-up is pending anyway
  }

  void drain() noexcept {
    char buffer[64];
    while (::read(fds_[0], buffer, sizeof buffer) > 0) {
    }
  }

private:
  int fds_[2] = {-1, -1};
};

}  // namespace spakky::event::detail::rabbitmq
