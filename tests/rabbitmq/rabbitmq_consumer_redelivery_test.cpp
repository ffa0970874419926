// RabbitMqEventConsumer against the test broker, when the broker gives a message back
// unsettled: a handler longer than the heartbeat timeout keeps its connection; a message that
// kills its consumer process again and again is dead-lettered once its attempts are exhausted
// and takes no neighbour with it; a redelivery counts as an attempt on classic and quorum
// queues; a clean stop counts none.

#include "rabbitmq_consumer_fixtures.hpp"
#include "support/sync.hpp"

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ev = spakky::event;
using namespace std::chrono_literals;
using rabbitmq_test::Names;
using rabbitmq_test::OrderPlaced;
using rabbitmq_test::record;
using rabbitmq_test::Seen;
using test_support::eventually;
using test_support::rabbitmq::broker_url;
using test_support::rabbitmq::RawClient;

namespace {

/// Declares the consumer's queue (and its binding) the way the consumer would, without
/// consuming: a consumer started and stopped before anything is sent.
void declare_like_a_consumer(const ev::RabbitMqConsumerOptions& options) {
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, options);
  auto subscription = consumer.register_handler([](const OrderPlaced&) {});
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  consumer.stop();
}

/// Takes one message from `queue` and gives it back unsettled, as a consumer that dies
/// holding it: the client closes without acking.
void take_and_die(const std::string& queue) {
  RawClient taker;
  REQUIRE(taker.get_within(queue, 5s, /*ack=*/false).has_value());
}

/// The lines of a file (empty if it does not exist).
std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("a handler that runs longer than the heartbeat timeout keeps its connection: run once, acked once",
          "[rabbitmq][consumer][redelivery]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  auto options = names.consumer_options();
  options.heartbeat_seconds = 2;  // the broker drops a silent peer after about two intervals
  ev::RabbitMqEventConsumer consumer(serializer, options);
  std::atomic<int> runs{0};
  auto subscription = consumer.register_handler([&](const OrderPlaced&) {
    ++runs;
    std::this_thread::sleep_for(6s);  // three heartbeat intervals without the run loop reading
  });
  std::mutex mutex;
  std::vector<std::string> errors;
  consumer.set_connection_error_handler([&](const std::string& reason) {
    const std::lock_guard lock(mutex);
    errors.push_back(reason);
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  ev::DirectEventBus bus(transport, serializer);
  bus.send(OrderPlaced("o-slow", 1));

  REQUIRE(eventually([&] { return consumer.stats().acked == 1; }, 40s));
  consumer.stop();
  CHECK(runs.load() == 1);
  CHECK(consumer.stats().connections == 1);
  CHECK(consumer.stats().redelivered == 0);
  {
    const std::lock_guard lock(mutex);
    CHECK(errors.empty());
  }
  RawClient client;
  CHECK(client.message_count(names.queue) == 0);  // the ack reached the broker
  CHECK(client.message_count(names.dead_letter) == 0);
}

TEST_CASE("a message that kills its consumer is dead-lettered when its attempts are exhausted; its neighbours are handled",
          "[rabbitmq][consumer][redelivery]") {
  Names names;
  constexpr int max_attempts = 3;
  declare_like_a_consumer(names.consumer_options());
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  ev::DirectEventBus bus(transport, serializer);
  const OrderPlaced poison("poison", 1);
  bus.send(poison);  // first in the queue: its neighbours are held (prefetched) when it kills
  const std::vector<std::string> neighbours{"n-1", "n-2", "n-3", "n-4", "n-5"};
  for (const auto& id : neighbours) bus.send(OrderPlaced(id, 2));

  char path[] = "/tmp/spakky-crash-loop-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  const std::string record_file = path;
  struct Remove {
    std::string path;
    ~Remove() { std::remove(path.c_str()); }
  } remove{record_file};
  const auto runs_of = [&](const std::string& id) {
    int runs = 0;
    for (const auto& line : lines_of(record_file)) runs += line == id ? 1 : 0;
    return runs;
  };

  RawClient client;
  const auto settled = [&] {
    if (client.message_count(names.dead_letter) < 1) return false;
    for (const auto& id : neighbours) {
      if (runs_of(id) == 0) return false;
    }
    return true;
  };

  // Start the consumer process again after every crash, as a supervisor would.
  const std::string url = broker_url();
  const std::string attempts = std::to_string(max_attempts);
  int crashes = 0;
  int starts = 0;
  for (; starts < 4 * max_attempts && !settled(); ++starts) {
    std::vector<char*> argv{const_cast<char*>(SPAKKY_RABBITMQ_CRASH_CONSUMER), const_cast<char*>(url.c_str()),
                            const_cast<char*>(names.exchange.c_str()), const_cast<char*>(names.queue.c_str()),
                            const_cast<char*>(attempts.c_str()), const_cast<char*>(record_file.c_str()), nullptr};
    pid_t pid = 0;
    REQUIRE(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) == 0);
    int status = 0;
    bool exited = false;
    eventually(
        [&] {
          exited = ::waitpid(pid, &status, WNOHANG) == pid;
          return exited || settled();
        },
        30s);
    if (!exited) {
      ::kill(pid, SIGTERM);  // a clean stop (it puts back what it holds)
      REQUIRE(::waitpid(pid, &status, 0) == pid);
      CHECK(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 0);
      if (!settled()) break;  // it stayed up, and yet not everything was settled: it never will be
    } else {
      INFO("the consumer process ended other than by its own SIGKILL");
      REQUIRE(WIFSIGNALED(status));
      CHECK(WTERMSIG(status) == SIGKILL);
      ++crashes;
    }
  }
  INFO(starts << " consumer process(es) started, " << crashes << " crashed");
  REQUIRE(settled());

  // The poison ran at most max_delivery_attempts times (each run one crash), then was
  // dead-lettered by a consumer that did not run it again.
  CHECK(runs_of("poison") == max_attempts);
  CHECK(crashes == max_attempts);
  const auto dead = client.get(names.dead_letter);
  REQUIRE(dead.has_value());
  CHECK(dead->body == serializer.serialize(poison));
  CHECK_THAT(dead->headers.at("x-spakky-death-reason"), Catch::Contains("delivery attempts exhausted"));
  CHECK(dead->headers.at("x-spakky-delivery-attempt") == std::to_string(max_attempts));
  CHECK(dead->headers.at("x-spakky-redeliveries") == std::to_string(max_attempts));
  CHECK_FALSE(client.get(names.dead_letter).has_value());  // nothing else was dead-lettered

  // Its neighbours, held at every crash, were handled (once each, as they ran alone after).
  for (const auto& id : neighbours) CHECK(runs_of(id) == 1);
  CHECK(client.message_count(names.queue) == 0);
}

TEST_CASE("a message the broker gives back unsettled counts as an attempt before any handler runs",
          "[rabbitmq][consumer][redelivery]") {
  Names names;
  auto options = names.consumer_options();
  declare_like_a_consumer(options);
  const auto serializer = rabbitmq_test::make_serializer();
  RawClient client;
  const std::string payload = serializer.serialize(OrderPlaced("o-1", 1));
  client.publish(names.exchange, "OrderPlaced", payload, std::string("OrderPlaced"), {{"tenant", "acme"}});
  take_and_die(names.queue);  // a consumer died holding it

  Seen seen;
  SECTION("within the limit: the handler sees the second attempt") {
    ev::RabbitMqEventConsumer consumer(serializer, options);
    auto subscription = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
    consumer.start();
    REQUIRE(eventually([&] { return consumer.stats().acked == 1; }, 15s));
    REQUIRE(seen.size() == 1);
    CHECK(seen.snapshot().at(0).attempt == 2);
    CHECK(seen.snapshot().at(0).headers == ev::Headers{{"tenant", "acme"}});
    CHECK(consumer.stats().redelivered == 1);
  }
  SECTION("past the limit: dead-lettered, the attempts exhausted, without running the handler") {
    options.max_delivery_attempts = 1;
    ev::RabbitMqEventConsumer consumer(serializer, options);
    auto subscription = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
    consumer.start();
    REQUIRE(eventually([&] { return consumer.stats().dead_lettered == 1; }, 15s));
    CHECK(seen.size() == 0);
    const auto dead = client.get_within(names.dead_letter, 5s);
    REQUIRE(dead.has_value());
    CHECK(dead->body == payload);
    CHECK(dead->headers.at("tenant") == "acme");
    CHECK_THAT(dead->headers.at("x-spakky-death-reason"), Catch::Contains("delivery attempts exhausted"));
  }
}

TEST_CASE("on a quorum queue the broker's x-delivery-count counts toward the limit", "[rabbitmq][consumer][redelivery]") {
  Names names;
  auto options = names.consumer_options();
  options.queue_type = "quorum";
  declare_like_a_consumer(options);
  const auto serializer = rabbitmq_test::make_serializer();
  RawClient client;
  const std::string payload = serializer.serialize(OrderPlaced("o-q", 1));
  client.publish(names.exchange, "OrderPlaced", payload, std::string("OrderPlaced"));
  take_and_die(names.queue);
  take_and_die(names.queue);  // given back twice: x-delivery-count 2

  Seen seen;
  SECTION("within the limit: the handler sees the third attempt") {
    options.max_delivery_attempts = 3;
    ev::RabbitMqEventConsumer consumer(serializer, options);
    auto subscription = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
    consumer.start();
    REQUIRE(eventually([&] { return consumer.stats().acked == 1; }, 15s));
    REQUIRE(seen.size() == 1);
    CHECK(seen.snapshot().at(0).attempt == 3);
  }
  SECTION("past the limit: dead-lettered without running the handler") {
    options.max_delivery_attempts = 2;
    ev::RabbitMqEventConsumer consumer(serializer, options);
    auto subscription = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
    consumer.start();
    REQUIRE(eventually([&] { return consumer.stats().dead_lettered == 1; }, 15s));
    CHECK(seen.size() == 0);
    const auto dead = client.get_within(names.dead_letter, 5s);
    REQUIRE(dead.has_value());
    CHECK(dead->body == payload);
    CHECK_THAT(dead->headers.at("x-spakky-death-reason"), Catch::Contains("delivery attempts exhausted"));
    CHECK(dead->headers.count("x-delivery-count") == 0);  // the broker's count of the original
  }
}

TEST_CASE("a clean stop gives back the messages it held but had not started, counting no attempt",
          "[rabbitmq][consumer][redelivery]") {
  Names names;
  auto options = names.consumer_options();
  declare_like_a_consumer(options);
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  ev::DirectEventBus bus(transport, serializer);
  constexpr int count = 20;
  for (int i = 0; i < count; ++i) bus.send(OrderPlaced("o-" + std::to_string(i), i));

  ev::RabbitMqEventConsumer first(serializer, options);
  Seen seen_first;
  auto sub_first = first.register_handler([&](const OrderPlaced& e) {
    seen_first.add(record(first, e));
    first.stop();  // the others wait in its prefetch buffer
  });
  first.start();
  REQUIRE(eventually([&] { return seen_first.size() == 1; }, 15s));
  first.stop();
  CHECK(first.stats().acked == 1);
  RawClient client;
  CHECK(eventually([&] { return client.message_count(names.queue) == count - 1; }, 5s));

  ev::RabbitMqEventConsumer second(serializer, options);
  Seen seen_second;
  auto sub_second = second.register_handler([&](const OrderPlaced& e) { seen_second.add(record(second, e)); });
  second.start();
  REQUIRE(eventually([&] { return seen_second.size() == count - 1; }, 15s));
  for (const auto& call : seen_second.snapshot()) CHECK(call.attempt == 1);
  CHECK(second.stats().redelivered == 0);
}
