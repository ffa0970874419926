// Asynchronous handlers on standalone Asio: an AsyncEventMediator whose handlers are
// asio::awaitable<void> coroutines, published to through an AsyncEventPublisher and driven by
// one asio::io_context.
//
// Build (besides spakky::event): standalone Asio (Debian: libasio-dev) and
//   -DASIO_STANDALONE -DASIO_HAS_CO_AWAIT=1 -DASIO_HAS_STD_COROUTINE=1  (clang++ 14 needs the last two)
//
// Two rules to take away:
// - Asio's awaitable can only be awaited from Asio coroutines: start publishes with co_spawn,
//   or co_await them inside your own asio::awaitable coroutines.
// - An event passed by reference must outlive the publish. When you spawn a publish and move
//   on, pass a std::shared_ptr<const Event>: that overload keeps the event alive.

#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/publisher/async_event_publisher.hpp>

#include <asio.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <utility>

namespace ev = spakky::event;
using namespace std::chrono_literals;

using Awaitable = asio::awaitable<void>;

struct UserCreated final : ev::AbstractDomainEvent {
  UserCreated(std::string id, std::string name) : user_id(std::move(id)), username(std::move(name)) {}
  std::string user_id;
  std::string username;
};

/// Stands for real I/O (an SMTP call, an HTTP request): suspends on a timer.
Awaitable send_welcome_mail(const std::string& to) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
  co_await timer.async_wait(asio::use_awaitable);
  std::printf("mail: welcome mail sent to %s\n", to.c_str());
}

/// A coroutine that owns its event: publishing it by reference is fine here, because the
/// event lives in this frame until the publish has completed.
Awaitable sign_up(ev::IAsyncEventPublisher<Awaitable>& publisher, std::string id, std::string name) {
  const UserCreated event(std::move(id), std::move(name));
  co_await publisher.publish(event);
  std::printf("sign_up: %s done\n", event.username.c_str());
}

int main() {
  asio::io_context io;
  ev::AsyncEventMediator<Awaitable> mediator;
  ev::AsyncEventPublisher<Awaitable> publisher(mediator);

  int mails = 0;
  // Handlers are awaited one after another, in registration order, for each event; handlers
  // of different events (different publishes) interleave while suspended.
  auto audit = mediator.register_handler([](const UserCreated& e) -> Awaitable {
    std::printf("audit: user %s (%s) created\n", e.username.c_str(), e.user_id.c_str());
    co_return;
  });
  auto mail = mediator.register_handler([&mails](const UserCreated& e) -> Awaitable {
    std::printf("mail: sending a welcome mail to %s...\n", e.username.c_str());
    co_await send_welcome_mail(e.username);
    ++mails;
  });
  mediator.set_error_handler([](const ev::AbstractEvent& event, std::exception_ptr) {
    std::printf("a handler of %s failed\n", std::string(event.event_name()).c_str());
  });

  // Fire and forget: the shared_ptr overload keeps each event alive until its publish is done.
  asio::co_spawn(io, publisher.publish(std::make_shared<const UserCreated>("u-1", "alice")), asio::detached);
  asio::co_spawn(io, publisher.publish(std::make_shared<const UserCreated>("u-2", "bob")), asio::detached);
  // With a completion handler instead: it learns when the publish is over (or what it threw).
  asio::co_spawn(io, sign_up(publisher, "u-3", "carol"), [](std::exception_ptr error) {
    if (error) std::printf("sign_up failed\n");
  });

  io.run();  // returns when every publish has completed
  std::printf("%d welcome mails sent\n", mails);
  return mails == 3 ? 0 : 1;
}
