#pragma once
// Captures what the code under test writes to stderr (fd 2): the default error handler.

#include <cstdio>
#include <string>

#include <unistd.h>

namespace test_support {

class StderrCapture {
public:
  StderrCapture() {
    std::fflush(stderr);
    file_ = std::tmpfile();
    saved_ = ::dup(2);
    ::dup2(::fileno(file_), 2);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture() {
    restore();
    std::fclose(file_);
  }
  /// Everything written so far; stops the capture.
  std::string text() {
    restore();
    std::rewind(file_);
    std::string out;
    char buf[256];
    while (auto n = std::fread(buf, 1, sizeof buf, file_)) out.append(buf, n);
    return out;
  }

private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_;
};

}  // namespace test_support
