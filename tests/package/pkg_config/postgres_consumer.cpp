// A user of spakky-event-postgres built with pkg-config alone: compiles against the outbox
// and inbox headers and links libpq (no server needed: it only asks libpq its version).
#include <spakky/event/inbox/postgres_inbox.hpp>
#include <spakky/event/outbox/postgres_outbox.hpp>

#include <libpq-fe.h>

#include <cstdio>

int main() {
  const int version = PQlibVersion();
  if (version <= 0) return 1;
  std::printf("postgres consumer: libpq %d\n", version);
  return 0;
}
