#pragma once
/// @file
/// Events: the polymorphic bases, the Event / DomainEvent / IntegrationEvent concepts and
/// event names.
///
/// **Example**
/// @code
/// struct UserCreated final : spakky::event::AbstractDomainEvent {
///   UserCreated(std::string id, std::string name) : user_id(std::move(id)), username(std::move(name)) {}
///   std::string user_id;
///   std::string username;
/// };
/// struct OrderPlaced final : spakky::event::AbstractIntegrationEvent {
///   SPAKKY_EVENT_NAME("orders.placed")   // optional: the name on the wire and in event_name()
///   std::string order_id;
/// };
/// @endcode

#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/detail/type_name.hpp>
#include <spakky/event/event_id.hpp>

#include <concepts>
#include <string_view>
#include <type_traits>
#include <typeinfo>

namespace spakky::event {

/// When an event occurred: UTC, microsecond resolution (what Python's datetime carries).
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

/// The current time as a Timestamp.
[[nodiscard]] inline Timestamp now() noexcept {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

/// Which of the two event families an event belongs to.
enum class EventKind : unsigned char { other, domain, integration };

/// Polymorphic base of every event: an id and a timestamp fixed at construction.
class AbstractEvent {
public:
  virtual ~AbstractEvent() = default;

  /// Unique per event, generated at construction (or restored from a message).
  [[nodiscard]] const EventId& event_id() const noexcept { return id_; }
  /// When the event occurred (UTC).
  [[nodiscard]] Timestamp timestamp() const noexcept { return at_; }
  /// Domain, integration or neither; fixed by the base class the event derives from.
  [[nodiscard]] EventKind kind() const noexcept { return kind_; }
  /// The concrete type's unqualified class name (template arguments dropped), or the name set
  /// with SPAKKY_EVENT_NAME.
  [[nodiscard]] virtual std::string_view event_name() const {
    return detail::unqualified_runtime_name(typeid(*this));
  }

  /// Same dynamic type, same id and same timestamp.
  friend bool operator==(const AbstractEvent& a, const AbstractEvent& b) noexcept {
    return a.id_ == b.id_ && a.at_ == b.at_ && typeid(a) == typeid(b);
  }
  // Ordered by timestamp only; there is deliberately no <=>: it would disagree with ==.
  /// Earlier timestamp (only the timestamps are compared).
  friend bool operator<(const AbstractEvent& a, const AbstractEvent& b) noexcept { return a.at_ < b.at_; }
  /// Later timestamp (only the timestamps are compared).
  friend bool operator>(const AbstractEvent& a, const AbstractEvent& b) noexcept { return a.at_ > b.at_; }
  /// Earlier or equal timestamp (only the timestamps are compared).
  friend bool operator<=(const AbstractEvent& a, const AbstractEvent& b) noexcept { return a.at_ <= b.at_; }
  /// Later or equal timestamp (only the timestamps are compared).
  friend bool operator>=(const AbstractEvent& a, const AbstractEvent& b) noexcept { return a.at_ >= b.at_; }

protected:
  /// A fresh id, stamped now.
  AbstractEvent() : AbstractEvent(EventId::generate(), now()) {}
  /// Rebuilds an event read from a message.
  AbstractEvent(EventId id, Timestamp at) noexcept : AbstractEvent(EventKind::other, id, at) {}
  /// Copies id, timestamp and kind: a copy is the same event.
  AbstractEvent(const AbstractEvent&) = default;
  /// Moves id, timestamp and kind.
  AbstractEvent(AbstractEvent&&) = default;
  /// Copies id, timestamp and kind.
  AbstractEvent& operator=(const AbstractEvent&) = default;
  /// Moves id, timestamp and kind.
  AbstractEvent& operator=(AbstractEvent&&) = default;

private:
  friend class AbstractDomainEvent;
  friend class AbstractIntegrationEvent;
  AbstractEvent(EventKind kind, EventId id, Timestamp at) noexcept : id_(id), at_(at), kind_(kind) {}

  EventId id_;
  Timestamp at_;
  EventKind kind_;
};

/// Base of events that stay inside the bounded context: dispatched in process.
class AbstractDomainEvent : public AbstractEvent {
protected:
  /// A fresh id, stamped now.
  AbstractDomainEvent() : AbstractDomainEvent(EventId::generate(), now()) {}
  /// Rebuilds an event with a known id and timestamp.
  AbstractDomainEvent(EventId id, Timestamp at) noexcept : AbstractEvent(EventKind::domain, id, at) {}
};

/// Base of events that cross service boundaries: serialized and sent through a bus.
class AbstractIntegrationEvent : public AbstractEvent {
protected:
  /// A fresh id, stamped now.
  AbstractIntegrationEvent() : AbstractIntegrationEvent(EventId::generate(), now()) {}
  /// Rebuilds an event read from a message, with its original id and timestamp.
  AbstractIntegrationEvent(EventId id, Timestamp at) noexcept
      : AbstractEvent(EventKind::integration, id, at) {}
};

/// Any event type.
template <class E>
concept Event = std::derived_from<E, AbstractEvent>;
/// An event dispatched in process.
template <class E>
concept DomainEvent = Event<E> && std::derived_from<E, AbstractDomainEvent>;
/// An event that goes through a bus.
template <class E>
concept IntegrationEvent = Event<E> && std::derived_from<E, AbstractIntegrationEvent>;

namespace detail {

/// True if E (not just a base of E) declared its own name with SPAKKY_EVENT_NAME.
template <class E>
constexpr bool names_itself() noexcept {
  if constexpr (requires(const E& e) { e.spakky_event_name_owner(); }) {
    using Owner = std::remove_cvref_t<std::remove_pointer_t<decltype(std::declval<const E&>().spakky_event_name_owner())>>;
    return std::is_same_v<Owner, E>;
  } else {
    return false;
  }
}

}  // namespace detail

/// The name of event type E, known at compile time; equal to `event_name()` of every E.
template <Event E>
[[nodiscard]] constexpr std::string_view event_name_of() noexcept {
  if constexpr (detail::names_itself<E>()) {
    return E::spakky_event_name();
  } else {
    static_assert(!IntegrationEvent<E> || detail::has_portable_name<E>(),
                  "this integration event's class name is spelled differently by different "
                  "compilers (a template, a local type or one in an anonymous namespace): "
                  "give it a wire name with SPAKKY_EVENT_NAME(\"...\") in its class body");
    return detail::default_event_name(detail::qualified_type_name<E>());
  }
}

/// The name of event type E as a variable.
template <Event E>
inline constexpr std::string_view event_name_v = event_name_of<E>();

namespace detail {
/// The virtual event_name() behind SPAKKY_EVENT_NAME: a subclass that does not name itself
/// gets its own default name, the same one event_name_of<Subclass>() gives.
template <class Self>
std::string_view declared_event_name(const Self& self, std::string_view declared) {
  if (typeid(self) == typeid(Self)) return declared;
  return self.AbstractEvent::event_name();
}
}  // namespace detail

}  // namespace spakky::event

/// Gives the enclosing event class its name, used by event_name(), event_name_of<E>() and the
/// wire alike. Write it inside the class body: `SPAKKY_EVENT_NAME("orders.placed")`.
// NOTE: a static function, not a static data member: local classes may not have the latter.
#define SPAKKY_EVENT_NAME(...)                                                           \
  static constexpr ::std::string_view spakky_event_name() noexcept { return __VA_ARGS__; } \
  auto spakky_event_name_owner() const noexcept -> decltype(this) { return this; }      \
  [[nodiscard]] ::std::string_view event_name() const override {                        \
    return ::spakky::event::detail::declared_event_name(*this, spakky_event_name());     \
  }
