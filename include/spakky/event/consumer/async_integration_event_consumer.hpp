#pragma once
/// @file
/// AsyncIntegrationEventConsumer<A>: the coroutine counterpart of IntegrationEventConsumer,
/// shared by the coroutine broker consumers (AsyncInMemoryEventConsumer,
/// AsyncRabbitMqEventConsumer). Handlers return the awaitable `A` (Task<> by default, or e.g.
/// asio::awaitable<void>); many messages are handled at once. Also what those consumers share
/// around it: how they start a handling coroutine (HandlingLauncher) and how they keep the
/// messages of one partition key in order (PartitionKey).

#include <spakky/event/async_event_consumer.hpp>
#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/mediator/error_handler.hpp>
#include <spakky/event/task.hpp>

#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace spakky::event {

/// The partition key of a message, for a consumer that keeps the messages of one key in order
/// (one at a time, in the order they came) while messages of different keys run concurrently.
/// An empty key: no order kept for that message.
using PartitionKey = std::function<std::string(const IncomingMessage&)>;

/// A PartitionKey that reads header `name` (a message without it has no key).
[[nodiscard]] inline PartitionKey partition_by_header(std::string name) {
  return [name = std::move(name)](const IncomingMessage& message) {
    const auto found = message.headers.find(name);
    return found != message.headers.end() ? found->second : std::string();
  };
}

/// How a coroutine consumer starts the coroutine that handles one message:
/// `launch(handling, done)` starts `handling` (on an executor of the caller's choice) and calls
/// `done(error, result)` when it completed (error: an exception it ended with). For Task<> the
/// consumers have a default (inline_task_launcher()); for asio::awaitable<void> pass
/// `[ex](auto handling, auto done) { asio::co_spawn(ex, std::move(handling), std::move(done)); }`.
template <class Awaitable>
using HandlingLauncher = std::function<void(rebind_awaitable_t<Awaitable, HandlingResult>,
                                            std::function<void(std::exception_ptr, HandlingResult)>)>;

namespace detail {

/// A coroutine nobody awaits: starts at once and frees itself at its end.
struct DetachedCoroutine {
  struct promise_type {
    DetachedCoroutine get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }  // run_task catches everything
  };
};

inline DetachedCoroutine run_task(Task<HandlingResult> task,
                                  std::function<void(std::exception_ptr, HandlingResult)> done) {
  std::exception_ptr error;
  HandlingResult result;
  try {
    result = co_await std::move(task);
  } catch (...) {
    error = std::current_exception();
  }
  done(error, std::move(result));
}

}  // namespace detail

/// The default launcher of Task<> handlers: the task starts on the calling thread (the
/// consumer's) and runs there until it first suspends; it goes on on whichever thread resumes
/// it, and `done` is called there.
[[nodiscard]] inline HandlingLauncher<Task<>> inline_task_launcher() {
  return [](Task<HandlingResult> handling, std::function<void(std::exception_ptr, HandlingResult)> done) {
    detail::run_task(std::move(handling), std::move(done));
  };
}

namespace detail {

/// The launcher a consumer of `Awaitable` uses when none is given (none but for Task<>).
template <class Awaitable>
HandlingLauncher<Awaitable> default_launcher() {
  if constexpr (std::is_same_v<Awaitable, Task<>>) {
    return inline_task_launcher();
  } else {
    return {};
  }
}

/// The partition keys that have a message in flight: a consumer starts a message only while
/// its key is free, so one key's messages run one at a time, in order.
class PartitionLocks {
public:
  /// True if a message of `key` may start now (always, for the empty key).
  [[nodiscard]] bool free(const std::string& key) const { return key.empty() || busy_.count(key) == 0; }
  void take(const std::string& key) {
    if (!key.empty()) busy_.insert(key);
  }
  void release(const std::string& key) {
    if (!key.empty()) busy_.erase(key);
  }

private:
  std::unordered_set<std::string> busy_;
};

}  // namespace detail

/// Base of coroutine broker consumers: registration (IAsyncEventConsumer<Awaitable>) and the
/// decode-and-dispatch step as a coroutine, many at once. Names, the unhandled-message policy
/// and the results are BrokerConsumerBase's, as for IntegrationEventConsumer.
template <class Awaitable = Task<>>
class AsyncIntegrationEventConsumer : public IAsyncEventConsumer<Awaitable>, public BrokerConsumerBase {
public:
  /// The coroutine type of handle(): Task<HandlingResult>, asio::awaitable<HandlingResult>, ...
  using HandlingAwaitable = rebind_awaitable_t<Awaitable, HandlingResult>;

  /// A consumer decoding with `serializer`, which must outlive it.
  explicit AsyncIntegrationEventConsumer(const IEventSerializer& serializer) : BrokerConsumerBase(serializer) {}

  /// Registers a type-erased coroutine handler (integration events only; EventError otherwise).
  Subscription subscribe(BasicErasedHandler<Awaitable> handler) override {
    return add_route(std::move(handler),
                     [this](BasicErasedHandler<Awaitable> h) { return mediator_.subscribe(std::move(h)); });
  }

  /// Where handler failures are reported (besides the retry they cause).
  void set_error_handler(ErrorHandler handler) { mediator_.set_error_handler(std::move(handler)); }

  /// The message `event` was decoded from, while its handlers run (from a handler's first line
  /// to its end, across suspensions, on any thread); null for any other event. Handlers of
  /// concurrent messages each find their own.
  [[nodiscard]] const IncomingMessage* message_of(const AbstractEvent& event) const {
    const std::lock_guard lock(messages_mutex_);
    const auto found = messages_.find(&event);
    return found != messages_.end() ? found->second : nullptr;
  }

  /// Decodes `message` and dispatches it to the handlers, one after another; completes with
  /// what the broker should do (as IntegrationEventConsumer::handle, never failing for a bad
  /// message or a failing handler). Many may run at once.
  HandlingAwaitable handle(std::shared_ptr<const IncomingMessage> message) {
    HandlingResult result;
    std::unique_ptr<AbstractIntegrationEvent> event = decode(*message, result);
    if (!event) co_return result;
    const std::uint64_t generation = this->generation();
    const MessageScope scope(*this, *event, *message);
    result.outcome = co_await mediator_.dispatch_with_outcome(*event);
    conclude(result, event->event_name(), generation);
    co_return result;
  }

private:
  /// Makes message_of(event) find `message` while it lives.
  class MessageScope {
  public:
    MessageScope(const AsyncIntegrationEventConsumer& owner, const AbstractEvent& event, const IncomingMessage& message)
        : owner_(owner), event_(event) {
      const std::lock_guard lock(owner_.messages_mutex_);
      owner_.messages_[&event_] = &message;
    }
    ~MessageScope() {
      const std::lock_guard lock(owner_.messages_mutex_);
      owner_.messages_.erase(&event_);
    }
    MessageScope(const MessageScope&) = delete;
    MessageScope& operator=(const MessageScope&) = delete;

  private:
    const AsyncIntegrationEventConsumer& owner_;
    const AbstractEvent& event_;
  };

  AsyncEventMediator<Awaitable> mediator_;
  mutable std::mutex messages_mutex_;
  mutable std::unordered_map<const AbstractEvent*, const IncomingMessage*> messages_;  // guarded by messages_mutex_
};

}  // namespace spakky::event
