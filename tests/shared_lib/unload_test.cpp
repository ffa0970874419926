// Unloading a plugin (hardening issue, item 4): a dlopen'ed module (hidden visibility) that
// dispatched its own event type through the program's mediator, had its handlers cancelled
// and was dlclose'd used to leave a dangling type_info key behind: the program's next
// register_handler crashed in type_info::operator== on it, and a type of a module mapped
// later at the same address could be taken for the old one. EventMediator::forget_module,
// called before dlclose, drops the module's types.
#include <spakky/event.hpp>

#include "unload_plugin.hpp"

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <string>

namespace ev = spakky::event;
using spakky_unload_test::PluginApi;

#ifndef SPAKKY_UNLOAD_PLUGIN_A
#error "SPAKKY_UNLOAD_PLUGIN_A and SPAKKY_UNLOAD_PLUGIN_B must name the plugins to dlopen"
#endif

namespace {

struct HostEvent final : ev::AbstractDomainEvent {};
struct LaterHostEvent final : ev::AbstractDomainEvent {};

class Plugin {
public:
  explicit Plugin(const char* path) : handle_(dlopen(path, RTLD_NOW | RTLD_LOCAL)) {
    if (handle_ == nullptr) FAIL("dlopen(" << path << "): " << dlerror());
    auto entry = reinterpret_cast<const PluginApi* (*)()>(dlsym(handle_, "spakky_unload_plugin_api"));
    REQUIRE(entry != nullptr);
    api_ = entry();
    address_ = reinterpret_cast<const void*>(entry);
  }
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;
  ~Plugin() { unload(); }
  void unload() {
    if (handle_ != nullptr) dlclose(std::exchange(handle_, nullptr));
  }
  const PluginApi& api() const { return *api_; }
  /// Any address inside the plugin: what forget_module takes.
  const void* address() const { return address_; }

private:
  void* handle_;
  const PluginApi* api_ = nullptr;
  const void* address_ = nullptr;
};

/// Loads `path`, registers its handler, dispatches its event, cancels, forgets and unloads it.
const void* use_and_unload(ev::EventMediator& mediator, const char* path, int& calls) {
  Plugin plugin(path);
  ev::Subscription* sub = plugin.api().register_own(&mediator, &calls);
  plugin.api().dispatch_own(&mediator);
  plugin.api().cancel_and_wait(sub);
  plugin.api().release(sub);
  mediator.forget_module(plugin.address());
  const void* type = plugin.api().own_type();
  plugin.unload();
  return type;
}

}  // namespace

TEST_CASE("after a plugin is forgotten and unloaded, new types register and dispatch safely", "[shared_lib][unload]") {
  ev::EventMediator mediator;
  int all = 0;
  ev::ScopedSubscription catch_all = mediator.register_handler([&](const ev::AbstractEvent&) { ++all; });
  int plugin_calls = 0;
  use_and_unload(mediator, SPAKKY_UNLOAD_PLUGIN_A, plugin_calls);
  CHECK(plugin_calls == 1);
  CHECK(all == 1);

  // Before the fix this compared HostEvent's type_info with the unloaded plugin's: SIGSEGV.
  int host_calls = 0;
  ev::ScopedSubscription host = mediator.register_handler([&](const HostEvent&) { ++host_calls; });
  mediator.dispatch(HostEvent{});
  mediator.dispatch(LaterHostEvent{});
  CHECK(host_calls == 1);
  CHECK(all == 3);
}

TEST_CASE("a type of a plugin loaded later, maybe at the same address, is a new type", "[shared_lib][unload]") {
  ev::EventMediator mediator;
  int domain = 0, integration = 0;
  ev::ScopedSubscription d = mediator.register_handler([&](const ev::AbstractDomainEvent&) { ++domain; });
  ev::ScopedSubscription i = mediator.register_handler([&](const ev::AbstractIntegrationEvent&) { ++integration; });
  int a_calls = 0, b_calls = 0;
  const void* a_type = use_and_unload(mediator, SPAKKY_UNLOAD_PLUGIN_A, a_calls);  // a domain event
  CHECK(a_calls == 1);
  CHECK(domain == 1);

  Plugin b(SPAKKY_UNLOAD_PLUGIN_B);  // its own event is an integration event
  INFO("plugin A's event type was at " << a_type << ", plugin B's is at " << b.api().own_type());
  if (a_type != b.api().own_type()) WARN("plugin B was not mapped where A was: the address clash is not exercised");
  ev::Subscription* sub = b.api().register_own(&mediator, &b_calls);
  b.api().dispatch_own(&mediator);
  CHECK(b_calls == 1);
  CHECK(integration == 1);  // routed as B's own (integration) type, not as A's old channel
  CHECK(domain == 1);
  CHECK(a_calls == 1);
  b.api().cancel_and_wait(sub);
  b.api().release(sub);
  mediator.forget_module(b.address());
}

TEST_CASE("forget_module refuses, changing nothing, while the plugin's handlers are registered", "[shared_lib][unload]") {
  ev::EventMediator mediator;
  Plugin plugin(SPAKKY_UNLOAD_PLUGIN_A);
  int calls = 0;
  ev::Subscription* sub = plugin.api().register_own(&mediator, &calls);
  CHECK_THROWS_AS(mediator.forget_module(plugin.address()), ev::EventError);
  plugin.api().dispatch_own(&mediator);
  CHECK(calls == 1);  // still registered and routed
  plugin.api().cancel_and_wait(sub);
  plugin.api().release(sub);
  CHECK_NOTHROW(mediator.forget_module(plugin.address()));
}

TEST_CASE("forget_module of an address in no module is an error", "[shared_lib][unload]") {
  ev::EventMediator mediator;
  auto heap = std::make_unique<int>(0);
  CHECK_THROWS_AS(mediator.forget_module(heap.get()), ev::EventError);
}

TEST_CASE("AsyncEventMediator forgets a module the same way", "[shared_lib][unload]") {
  ev::AsyncEventMediator<> mediator;
  auto sub = mediator.register_handler([](const HostEvent&) -> ev::Task<> { co_return; });
  // The program's own module: its handler is registered, so it refuses.
  CHECK_THROWS_AS(mediator.forget_module(reinterpret_cast<const void*>(&use_and_unload)), ev::EventError);
  sub.cancel_and_wait();
  CHECK_NOTHROW(mediator.forget_module(reinterpret_cast<const void*>(&use_and_unload)));
}
