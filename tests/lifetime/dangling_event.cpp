// The event-lifetime rule, shown under AddressSanitizer: an asynchronous operation
// that takes an event by reference needs the event to live until the returned awaitable has
// completed. A dispatch is a coroutine: it holds the reference, not a copy, across every
// suspension of every handler, and a handler reads the event when it resumes.
//
//   dangling_event by-reference   dispatches a local by reference, lets the local's scope end
//                                 while a handler is suspended, then resumes the handler, which
//                                 reads the event: ASan reports stack-use-after-scope (CTest
//                                 expects that report and a non-zero exit; asan-ubsan build only)
//   dangling_event shared-ptr     the same through dispatch(std::shared_ptr<const AbstractEvent>):
//                                 that overload's coroutine frame owns a reference to the event,
//                                 so the event outlives the dispatch although the caller dropped
//                                 its pointer at once; runs clean and prints "read 42" (every build)
//
// The fire-and-forget start below (`spawn`) stands for what asio::co_spawn(..., asio::detached)
// or any executor's spawn does: the caller goes on while the dispatch is suspended, which is
// exactly when a by-reference event can die first. Task<> is used instead of Asio so that the
// handler suspends and resumes at points the program chooses (no timer, no race).

#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/task.hpp>

#include <coroutine>
#include <cstdio>
#include <exception>
#include <memory>
#include <string_view>

namespace ev = spakky::event;

namespace {

struct Ping final : ev::AbstractDomainEvent {
  explicit Ping(int v) : value(v) {}
  int value;
};

/// Suspends the awaiting coroutine and parks its handle here; main resumes it later.
std::coroutine_handle<> parked;
struct Park {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> handle) const noexcept { parked = handle; }
  void await_resume() const noexcept {}
};

/// An eager, self-destroying coroutine: starts `task` now and lets it finish whenever it does.
struct Detached {
  struct promise_type {
    Detached get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
};

Detached spawn(ev::Task<> task, bool& done) {
  co_await std::move(task);
  done = true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode != "by-reference" && mode != "shared-ptr") {
    std::fprintf(stderr, "usage: %s by-reference|shared-ptr\n", argv[0]);
    return 2;
  }

  ev::AsyncEventMediator<> mediator;
  int read = 0;
  auto subscription = mediator.register_handler([&read](const Ping& event) -> ev::Task<> {
    co_await Park{};     // suspended here while main goes on
    read = event.value;  // reads the event after resuming
  });

  bool done = false;
  if (mode == "by-reference") {
    {
      const Ping event(42);                     // a local...
      spawn(mediator.dispatch(event), done);    // ...dispatched by reference: the handler parks
    }                                           // ...and its scope ends here: WRONG
  } else {
    auto event = std::make_shared<const Ping>(42);
    spawn(mediator.dispatch(event), done);      // the overload's frame holds its own reference
    event.reset();                              // ours is gone; the event lives on: RIGHT
  }

  std::printf("resuming the suspended handler (%s)\n", mode.data());
  std::fflush(stdout);
  parked.resume();  // the handler reads the event; the dispatch then completes
  std::printf("read %d, dispatch %s\n", read, done ? "completed" : "still suspended");
  return done && read == 42 ? 0 : 1;
}
