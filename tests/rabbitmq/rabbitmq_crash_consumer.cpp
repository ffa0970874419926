// A consumer process for the crash-loop test (rabbitmq_consumer_redelivery_test.cpp): it
// consumes OrderPlaced from a queue and appends the order id of every message its handler
// runs on to a file (one line per run, written before anything else happens); on the order
// "poison" the handler then kills its own process with SIGKILL, mid-handler, as a message
// that crashes its consumer would. It runs until it is killed, or stops cleanly on SIGTERM.
//
//   rabbitmq_crash_consumer <url> <exchange> <queue> <max_delivery_attempts> <record-file>

#include "rabbitmq_events.hpp"

#include <spakky/event/rabbitmq.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s <url> <exchange> <queue> <max_delivery_attempts> <record-file>\n", argv[0]);
    return 2;
  }
  const std::string record_file = argv[5];
  // SIGTERM is taken by sigwait below: blocked before any thread starts, so every thread
  // inherits the mask.
  sigset_t terminate;
  sigemptyset(&terminate);
  sigaddset(&terminate, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &terminate, nullptr);
  try {
    const auto serializer = rabbitmq_test::make_serializer();
    spakky::event::RabbitMqEventConsumer consumer(
        serializer, {.url = argv[1],
                     .exchange = argv[2],
                     .queue = argv[3],
                     .max_delivery_attempts = static_cast<std::uint32_t>(std::strtoul(argv[4], nullptr, 10)),
                     .reconnect_delay = std::chrono::milliseconds(50),
                     .connection_name = "crash-loop test consumer"});
    auto subscription = consumer.register_handler([&](const rabbitmq_test::OrderPlaced& e) {
      const std::string line = e.order_id + "\n";
      const int fd = ::open(record_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::abort();
      ::close(fd);
      if (e.order_id == "poison") ::kill(::getpid(), SIGKILL);
    });
    consumer.start();
    int signal = 0;
    sigwait(&terminate, &signal);
    consumer.stop();  // a clean stop: what it holds is put back
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rabbitmq_crash_consumer: %s\n", e.what());
    return 1;
  }
  return 0;
}
