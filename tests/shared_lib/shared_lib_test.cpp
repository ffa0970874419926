// Type identity across shared libraries: handlers are
// matched on the event's dynamic type even when the std::type_info objects of
// that type live in different modules, because every module here is built
// with hidden visibility. Counts are exact: a handler reached twice per
// dispatch (or never) fails as surely as a missing one.
#include "shared_lib/shared_events.hpp"

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <array>
#include <functional>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#ifndef SPAKKY_SHARED_LIB_PLUGIN_PATH
#error "SPAKKY_SHARED_LIB_PLUGIN_PATH must name the module to dlopen"
#endif

namespace {

namespace ev = spakky::event;
using spakky_shared_lib_test::Counters;
using spakky_shared_lib_test::EventKind;
using spakky_shared_lib_test::FirstFromLinked;
using spakky_shared_lib_test::FirstFromPlugin;
using spakky_shared_lib_test::FirstFromProgram;
using spakky_shared_lib_test::LibApi;
using spakky_shared_lib_test::Ping;
using spakky_shared_lib_test::Pong;

struct Lib {
  const char* name;
  const LibApi* api;
};

const LibApi& linked() { return *spakky_shared_lib_linked_api(); }

// Loaded once, never unloaded: handlers registered by the plugin run code that
// lives in it, and a mediator may outlive a test case.
const LibApi& plugin() {
  static const LibApi* const api = [] {
    void* handle = dlopen(SPAKKY_SHARED_LIB_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = dlerror();
      FAIL("dlopen(" SPAKKY_SHARED_LIB_PLUGIN_PATH ") failed: " << (error != nullptr ? error : "?"));
    }
    void* symbol = dlsym(handle, SPAKKY_SHARED_LIB_PLUGIN_ENTRY);
    if (symbol == nullptr) {
      const char* error = dlerror();
      FAIL("dlsym(" SPAKKY_SHARED_LIB_PLUGIN_ENTRY ") failed: " << (error != nullptr ? error : "?"));
    }
    // NOTE: object-to-function pointer conversion is conditionally supported; POSIX guarantees it.
    auto entry = reinterpret_cast<spakky_shared_lib_entry_fn>(symbol);
    return entry();
  }();
  return *api;
}

std::array<Lib, 2> libraries() { return {Lib{"linked library", &linked()}, Lib{"dlopen'ed library", &plugin()}}; }

/// The program's own Ping handler and domain catch-all, mirroring what a library registers.
struct ProgramHandlers {
  Counters counters;
  ev::Subscription ping;
  ev::Subscription catch_all;

  void register_on(ev::IEventConsumer& consumer) {
    ping = consumer.register_handler([this](const Ping& event) {  // event type deduced
      ++counters.ping;
      counters.last_ping = event.value;
    });
    catch_all = consumer.register_handler<ev::AbstractDomainEvent>(
        [this](const ev::AbstractDomainEvent&) { ++counters.catch_all; });
  }
};

}  // namespace

TEST_CASE("precondition: the program and each library hold their own type_info for the same event") {
  // If this fails, the build no longer hides symbols and the other cases prove nothing.
  const std::type_info& in_program = typeid(Ping);
  const std::type_info& in_linked = linked().ping_type();
  const std::type_info& in_plugin = plugin().ping_type();

  CHECK(&in_linked != &in_program);
  CHECK(&in_plugin != &in_program);
  CHECK(&in_plugin != &in_linked);

  // ...and the standard still calls them the same type.
  CHECK(in_linked == in_program);
  CHECK(in_plugin == in_program);
  CHECK(std::type_index(in_linked) == std::type_index(in_program));
  CHECK(std::type_index(in_plugin) == std::type_index(in_program));
  CHECK(std::hash<std::type_index>{}(in_linked) == std::hash<std::type_index>{}(in_program));
  CHECK(std::hash<std::type_index>{}(in_plugin) == std::hash<std::type_index>{}(in_program));
}

TEST_CASE("handlers registered in a library are reached by a dispatch from the program") {
  for (const Lib& lib : libraries()) {
    INFO(lib.name);
    ev::EventMediator mediator;
    Counters counters;
    lib.api->register_handlers(&mediator, &counters, nullptr, nullptr);

    ev::IEventDispatcher& dispatcher = mediator;
    dispatcher.dispatch(Ping{1});
    dispatcher.dispatch(Ping{2});
    mediator.dispatch(Ping{3});
    CHECK(counters.ping == 3);
    CHECK(counters.catch_all == 3);
    CHECK(counters.last_ping == 3);

    // Another type reaches the catch-all only.
    mediator.dispatch(Pong{4});
    CHECK(counters.ping == 3);
    CHECK(counters.catch_all == 4);
    CHECK(counters.last_ping == 3);
  }
}

TEST_CASE("handlers registered in the program are reached by a dispatch made inside a library") {
  for (const Lib& lib : libraries()) {
    INFO(lib.name);
    ev::EventMediator mediator;
    ProgramHandlers program;
    program.register_on(mediator);

    for (int value = 1; value <= 3; ++value) {
      lib.api->dispatch(&mediator, EventKind::ping, value);
    }
    CHECK(program.counters.ping == 3);
    CHECK(program.counters.catch_all == 3);
    CHECK(program.counters.last_ping == 3);

    lib.api->dispatch(&mediator, EventKind::pong, 4);
    CHECK(program.counters.ping == 3);
    CHECK(program.counters.catch_all == 4);
  }
}

TEST_CASE("handlers registered in one library are reached by a dispatch made inside the other") {
  const std::array<std::array<Lib, 2>, 2> pairs{{
      {Lib{"linked registers", &linked()}, Lib{"plugin dispatches", &plugin()}},
      {Lib{"plugin registers", &plugin()}, Lib{"linked dispatches", &linked()}},
  }};
  for (const auto& [registering, dispatching] : pairs) {
    INFO(registering.name << ", " << dispatching.name);
    ev::EventMediator mediator;
    Counters counters;
    registering.api->register_handlers(&mediator, &counters, nullptr, nullptr);

    for (int value = 1; value <= 3; ++value) {
      dispatching.api->dispatch(&mediator, EventKind::ping, value);
    }
    CHECK(counters.ping == 3);
    CHECK(counters.catch_all == 3);
    CHECK(counters.last_ping == 3);
  }
}

TEST_CASE("handlers registered on every side for one type are each called once per dispatch, whoever dispatches") {
  ev::EventMediator mediator;
  ProgramHandlers program;
  Counters in_linked;
  Counters in_plugin;

  SECTION("libraries register first") {
    linked().register_handlers(&mediator, &in_linked, nullptr, nullptr);
    plugin().register_handlers(&mediator, &in_plugin, nullptr, nullptr);
    program.register_on(mediator);
  }
  SECTION("program registers first") {
    program.register_on(mediator);
    plugin().register_handlers(&mediator, &in_plugin, nullptr, nullptr);
    linked().register_handlers(&mediator, &in_linked, nullptr, nullptr);
  }

  mediator.dispatch(Ping{1});
  linked().dispatch(&mediator, EventKind::ping, 2);
  plugin().dispatch(&mediator, EventKind::ping, 3);

  for (const Counters* counters : {&program.counters, &in_linked, &in_plugin}) {
    CHECK(counters->ping == 3);
    CHECK(counters->catch_all == 3);
    CHECK(counters->last_ping == 3);
  }
}

TEST_CASE("the first dispatch of an event type may come from any module") {
  // Each type is dispatched by exactly this test case, so "first" holds for
  // the whole process, not just this mediator.
  ev::EventMediator mediator;
  int program_first = 0;
  int linked_first = 0;
  int plugin_first = 0;
  auto a = mediator.register_handler([&](const FirstFromProgram&) { ++program_first; });
  auto b = mediator.register_handler([&](const FirstFromLinked&) { ++linked_first; });
  auto c = mediator.register_handler([&](const FirstFromPlugin&) { ++plugin_first; });

  // program first, then the libraries
  mediator.dispatch(FirstFromProgram{1});
  linked().dispatch(&mediator, EventKind::first_from_program, 2);
  plugin().dispatch(&mediator, EventKind::first_from_program, 3);
  mediator.dispatch(FirstFromProgram{4});
  CHECK(program_first == 4);

  // linked library first, then the program
  linked().dispatch(&mediator, EventKind::first_from_linked, 1);
  mediator.dispatch(FirstFromLinked{2});
  plugin().dispatch(&mediator, EventKind::first_from_linked, 3);
  linked().dispatch(&mediator, EventKind::first_from_linked, 4);
  CHECK(linked_first == 4);

  // dlopen'ed library first, then the program
  plugin().dispatch(&mediator, EventKind::first_from_plugin, 1);
  mediator.dispatch(FirstFromPlugin{2});
  linked().dispatch(&mediator, EventKind::first_from_plugin, 3);
  plugin().dispatch(&mediator, EventKind::first_from_plugin, 4);
  CHECK(plugin_first == 4);

  // no cross-talk between the types
  CHECK(program_first == 4);
  CHECK(linked_first == 4);
}

TEST_CASE("cancelling in the program a subscription made in a library stops the library's handler") {
  for (const Lib& lib : libraries()) {
    INFO(lib.name);
    ev::EventMediator mediator;
    Counters counters;
    ev::Subscription ping;
    ev::Subscription catch_all;
    lib.api->register_handlers(&mediator, &counters, &ping, &catch_all);
    REQUIRE(ping.active());
    REQUIRE(catch_all.active());

    mediator.dispatch(Ping{1});
    CHECK(counters.ping == 1);
    CHECK(counters.catch_all == 1);

    ping.cancel();
    CHECK_FALSE(ping.active());
    CHECK(catch_all.active());
    mediator.dispatch(Ping{2});
    lib.api->dispatch(&mediator, EventKind::ping, 3);
    CHECK(counters.ping == 1);
    CHECK(counters.last_ping == 1);
    CHECK(counters.catch_all == 3);

    catch_all.cancel_and_wait();
    ping.cancel();  // idempotent
    CHECK_FALSE(catch_all.active());
    mediator.dispatch(Ping{4});
    lib.api->dispatch(&mediator, EventKind::ping, 5);
    CHECK(counters.ping == 1);
    CHECK(counters.catch_all == 3);
  }
}

TEST_CASE("cancelling in a library a subscription made in the program stops the program's handler") {
  for (const Lib& lib : libraries()) {
    INFO(lib.name);
    ev::EventMediator mediator;
    ProgramHandlers program;
    program.register_on(mediator);

    lib.api->dispatch(&mediator, EventKind::ping, 1);
    CHECK(program.counters.ping == 1);

    lib.api->cancel(&program.ping);
    CHECK_FALSE(program.ping.active());
    mediator.dispatch(Ping{2});
    lib.api->dispatch(&mediator, EventKind::ping, 3);
    CHECK(program.counters.ping == 1);
    CHECK(program.counters.catch_all == 3);
  }
}

namespace {
template <int... I>
void dispatch_numbered_if(ev::IEventDispatcher& dispatcher, bool (*wanted)(int), std::integer_sequence<int, I...>) {
  ((wanted(I) ? dispatcher.dispatch(spakky_shared_lib_test::Numbered<I>{}) : void()), ...);
}
}  // namespace

TEST_CASE("among many event types, each library's handlers join the program's channel for their type") {
  // The program sees every third type first and creates their channels; then each library
  // registers a handler for every type through its own type_info objects. A library's type
  // must find the program's channel for it among all the others (by std::type_index), or
  // the program's dispatch would never reach the library's handler.
  using spakky_shared_lib_test::numbered_count;
  constexpr auto all_types = std::make_integer_sequence<int, numbered_count>{};
  ev::EventMediator mediator;
  dispatch_numbered_if(mediator, [](int i) { return i % 3 == 0; }, all_types);

  std::array<int, numbered_count> linked_calls{};
  std::array<int, numbered_count> plugin_calls{};
  std::vector<ev::Subscription> subscriptions;
  linked().register_numbered(&mediator, linked_calls.data(), &subscriptions);
  plugin().register_numbered(&mediator, plugin_calls.data(), &subscriptions);
  REQUIRE(subscriptions.size() == 2 * numbered_count);

  dispatch_numbered_if(mediator, [](int) { return true; }, all_types);
  for (int i = 0; i < numbered_count; ++i) {
    INFO("Numbered<" << i << ">");
    CHECK(linked_calls[static_cast<std::size_t>(i)] == 1);
    CHECK(plugin_calls[static_cast<std::size_t>(i)] == 1);
  }
}

TEST_CASE("a mediator created inside a library serves every module") {
  for (const Lib& owner : libraries()) {
    INFO("mediator made by the " << owner.name);
    ev::EventMediator* mediator = owner.api->create_mediator();
    REQUIRE(mediator != nullptr);

    ProgramHandlers program;
    program.register_on(*mediator);
    Counters in_linked;
    Counters in_plugin;
    ev::Subscription plugin_ping;
    linked().register_handlers(mediator, &in_linked, nullptr, nullptr);
    plugin().register_handlers(mediator, &in_plugin, &plugin_ping, nullptr);

    mediator->dispatch(Ping{1});
    linked().dispatch(mediator, EventKind::ping, 2);
    plugin().dispatch(mediator, EventKind::ping, 3);
    for (const Counters* counters : {&program.counters, &in_linked, &in_plugin}) {
      CHECK(counters->ping == 3);
      CHECK(counters->catch_all == 3);
    }

    owner.api->destroy_mediator(mediator);
    // Subscriptions outlive their mediator safely, whichever module made them.
    CHECK_FALSE(program.ping.active());
    CHECK_FALSE(plugin_ping.active());
    program.ping.cancel();
    plugin_ping.cancel_and_wait();
  }
}
