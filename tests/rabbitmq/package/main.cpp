// The smallest user of spakky::event_rabbitmq: compiles against the installed headers, links
// librabbitmq-c, and sees a send to a port nothing listens on fail with TransportError.
#include <spakky/event/rabbitmq.hpp>

#include <chrono>
#include <cstdio>

int main() {
  spakky::event::RabbitMqEventTransport transport(
      {.url = "amqp://guest:guest@127.0.0.1:1/", .connect_timeout = std::chrono::milliseconds(2000)});
  try {
    transport.send("Probe", "{}", {});
  } catch (const spakky::event::TransportError& e) {
    std::printf("rabbitmq consumer: TransportError as expected: %s\n", e.what());
    return 0;
  }
  std::fprintf(stderr, "rabbitmq consumer: the send to a closed port did not fail\n");
  return 1;
}
