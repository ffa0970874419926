// The transactional outbox's costs, ratios in one run (bench/outbox_bench.sh starts a private
// RabbitMQ node and PostgreSQL server, then runs this):
//
//  1. append: the outbox writer inside a transaction against the same INSERT written by hand
//     with the same bytes into a table of the same shape (SQLite, PostgreSQL); best of 5 runs.
//  2. relay throughput to RabbitMQ: a relay draining N pending rows (SQLite store, async
//     confirmed transport) against the async confirmed transport sending the same N messages
//     directly (all in flight, and one per key in flight as the relay may); and on
//     PostgreSQL, three relays against one (synchronous and asynchronous confirmed
//     transports, and a transport with no broker that takes 0.5 ms per send: what the
//     relays add when they share nothing but the database).
//  3. commit -> handler latency (p50/p99): one event per unit of work, a RabbitMQ consumer in
//     the same process, with the relay woken by notify()/NOTIFY and with polling only.
//
//   outbox_bench [events] [append,relay,latency] [keys]   (SPAKKY_RABBITMQ_URL,
//                                                  SPAKKY_POSTGRES_URL from the script)
//
// `keys` (default 256): how many partition keys the relay's rows spread over. A key has one
// row in flight at a time, so a relay has at most `keys` sends awaiting their confirms.

#include <spakky/event/outbox/outbox_event_bus.hpp>
#include <spakky/event/outbox/outbox_relay.hpp>
#include <spakky/event/outbox/postgres_outbox.hpp>
#include <spakky/event/outbox/sqlite_outbox.hpp>
#include <spakky/event/outbox/sqlite_transaction.hpp>
#include <spakky/event/rabbitmq.hpp>
#include <spakky/event/serializer.hpp>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ev = spakky::event;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Tick final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("bench.Tick")
  Tick(std::string k, int n) : key(std::move(k)), number(n) {}
  Tick(ev::EventId id, ev::Timestamp at, std::string k, int n)
      : AbstractIntegrationEvent(id, at), key(std::move(k)), number(n) {}
  std::string key;
  int number;
};

/// A ~200-byte JSON-like payload, as an order event would be.
class TickSerializer final : public ev::IEventSerializer {
public:
  [[nodiscard]] std::string serialize(const ev::AbstractIntegrationEvent& event) const override {
    const auto& t = static_cast<const Tick&>(event);
    return "{\"event_id\":\"" + t.event_id().to_string() + "\",\"key\":\"" + t.key + "\",\"number\":" +
           std::to_string(t.number) + ",\"note\":\"" + std::string(120, 'x') + "\"}";
  }
  [[nodiscard]] std::unique_ptr<ev::AbstractIntegrationEvent> deserialize(std::string_view,
                                                                          std::string_view payload) const override {
    const auto id_at = payload.find("\"event_id\":\"") + 12;
    const auto id = ev::EventId::try_parse(payload.substr(id_at, 36));
    const auto key_at = payload.find("\"key\":\"") + 7;
    const auto key_end = payload.find('"', key_at);
    const auto number_at = payload.find("\"number\":") + 9;
    return std::make_unique<Tick>(*id, ev::now(), std::string(payload.substr(key_at, key_end - key_at)),
                                  std::atoi(std::string(payload.substr(number_at, 12)).c_str()));
  }
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) throw std::runtime_error(std::string(name) + " is not set: run bench/outbox_bench.sh");
  return v;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void sq(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : "?";
    sqlite3_free(message);
    throw std::runtime_error(text);
  }
}

struct PgFinish {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using Pg = std::unique_ptr<PGconn, PgFinish>;
Pg pg_connect(const std::string& conninfo) {
  Pg c(PQconnectdb(conninfo.c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c.get()));
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
  return c;
}
void pg(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const auto s = PQresultStatus(r);
  std::string m = PQresultErrorMessage(r);
  PQclear(r);
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) throw std::runtime_error(m + " in " + sql);
}

/// A fresh schema for one measurement; the conninfo selects it.
struct PgSchema {
  explicit PgSchema(const std::string& name) : name(name), admin(pg_connect(env("SPAKKY_POSTGRES_URL"))) {
    pg(admin.get(), "DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name);
    const std::string url = env("SPAKKY_POSTGRES_URL");
    conninfo = url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + name;
  }
  ~PgSchema() {
    try {
      pg(admin.get(), "DROP SCHEMA " + name + " CASCADE");
    } catch (...) {
    }
  }
  std::string name;
  Pg admin;
  std::string conninfo;
};

/// Prepared messages: the same bytes for both sides of the append comparison.
struct Prepared {
  std::string id, name, payload, headers, key;
};
std::vector<Prepared> prepare(int count, int keys) {
  TickSerializer serializer;
  std::vector<Prepared> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    const Tick t("key-" + std::to_string(i % keys), i);
    out.push_back({t.event_id().to_string(), "bench.Tick", serializer.serialize(t),
                   "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n", t.key});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. append
// ---------------------------------------------------------------------------------------------

/// Seconds to write `messages` in transactions of `per_tx` rows, by the writer or by hand.
double sqlite_append(const std::vector<Prepared>& messages, int per_tx, bool by_hand) {
  const auto path = std::filesystem::temp_directory_path() / ("outbox-bench-" + ev::EventId::generate().to_string() + ".db");
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sq(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  ev::create_sqlite_outbox_schema(db);
  // The hand-written side: a table of the same shape and indexes, the same INSERT.
  sq(db,
     "CREATE TABLE hand (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, event_name TEXT NOT NULL,"
     " payload BLOB NOT NULL, headers TEXT NOT NULL, partition_key TEXT NOT NULL, created_at INTEGER NOT NULL,"
     " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
     " state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'parked', 'sent')), sent_at INTEGER);"
     "CREATE INDEX hand_unsent ON hand (partition_key, id) WHERE state <> 'sent';"
     "CREATE INDEX hand_sent ON hand (sent_at) WHERE state = 'sent';");
  ev::SqliteOutboxWriter writer(db);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v3(db,
                     "INSERT INTO hand (event_id, event_name, payload, headers, partition_key, created_at)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                     -1, SQLITE_PREPARE_PERSISTENT, &insert, nullptr);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (i % static_cast<std::size_t>(per_tx) == 0) sq(db, "BEGIN");
    const Prepared& m = messages[i];
    if (by_hand) {
      sqlite3_reset(insert);
      sqlite3_bind_text(insert, 1, m.id.data(), static_cast<int>(m.id.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 2, m.name.data(), static_cast<int>(m.name.size()), SQLITE_STATIC);
      sqlite3_bind_blob(insert, 3, m.payload.data(), static_cast<int>(m.payload.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 4, m.headers.data(), static_cast<int>(m.headers.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 5, m.key.data(), static_cast<int>(m.key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 6, ev::detail::sqlite::now_micros());
      if (sqlite3_step(insert) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
    } else {
      writer.append(ev::OutboxMessage{m.id, m.name, m.payload, m.headers, m.key});
    }
    if ((i + 1) % static_cast<std::size_t>(per_tx) == 0 || i + 1 == messages.size()) sq(db, "COMMIT");
  }
  const double took = seconds_since(start);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  std::error_code ignored;
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + s, ignored);
  return took;
}

double postgres_append(const std::vector<Prepared>& messages, int per_tx, bool by_hand, bool notify = true) {
  PgSchema schema("outbox_bench_append");
  Pg c = pg_connect(schema.conninfo);
  ev::create_postgres_outbox_schema(c.get());
  pg(c.get(),
     "CREATE TABLE hand (id bigserial PRIMARY KEY, event_id uuid NOT NULL, event_name text NOT NULL,"
     " payload bytea NOT NULL, headers text NOT NULL, partition_key text NOT NULL, seq bigint NOT NULL DEFAULT 0,"
     " created_at timestamptz NOT NULL DEFAULT now(), attempts integer NOT NULL DEFAULT 0,"
     " next_attempt_at timestamptz NOT NULL DEFAULT '-infinity', last_error text,"
     " state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'parked', 'sent')), sent_at timestamptz);"
     "CREATE INDEX hand_unsent ON hand (partition_key, seq) WHERE state <> 'sent';"
     "CREATE INDEX hand_sent ON hand (sent_at) WHERE state = 'sent';");
  PGresult* prepared = PQprepare(c.get(), "hand_insert",
                                 "INSERT INTO hand (event_id, event_name, payload, headers, partition_key)"
                                 " VALUES ($1::uuid, $2, $3::bytea, $4, $5)",
                                 5, nullptr);
  PQclear(prepared);
  ev::PostgresOutboxWriter writer(c.get(), notify);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (i % static_cast<std::size_t>(per_tx) == 0) pg(c.get(), "BEGIN");
    const Prepared& m = messages[i];
    if (by_hand) {
      const char* values[5] = {m.id.c_str(), m.name.c_str(), m.payload.data(), m.headers.c_str(), m.key.c_str()};
      const int lengths[5] = {0, 0, static_cast<int>(m.payload.size()), 0, 0};
      const int formats[5] = {0, 0, 1, 0, 0};
      PGresult* r = PQexecPrepared(c.get(), "hand_insert", 5, values, lengths, formats, 0);
      if (PQresultStatus(r) != PGRES_COMMAND_OK) throw std::runtime_error(PQresultErrorMessage(r));
      PQclear(r);
    } else {
      writer.append(ev::OutboxMessage{m.id, m.name, m.payload, m.headers, m.key});
    }
    if ((i + 1) % static_cast<std::size_t>(per_tx) == 0 || i + 1 == messages.size()) pg(c.get(), "COMMIT");
  }
  return seconds_since(start);
}

template <class F>
double best_of(int runs, F f) {
  double best = 1e9;
  for (int i = 0; i < runs; ++i) best = std::min(best, f());
  return best;
}

void bench_append(int count) {
  const auto messages = prepare(count, 64);
  std::printf("\n1. append inside a transaction: %d rows of %zu payload bytes, best of 5\n", count,
              messages.front().payload.size());
  std::printf("%-10s %-12s %14s %14s %8s\n", "store", "rows/tx", "outbox rows/s", "by hand rows/s", "ratio");
  for (const int per_tx : {1, 100}) {
    const double outbox = best_of(5, [&] { return sqlite_append(messages, per_tx, false); });
    const double hand = best_of(5, [&] { return sqlite_append(messages, per_tx, true); });
    std::printf("%-10s %-12d %14.0f %14.0f %8.2fx\n", "sqlite", per_tx, count / outbox, count / hand, outbox / hand);
  }
  for (const int per_tx : {1, 100}) {
    const double outbox = best_of(5, [&] { return postgres_append(messages, per_tx, false); });
    const double hand = best_of(5, [&] { return postgres_append(messages, per_tx, true); });
    std::printf("%-10s %-12d %14.0f %14.0f %8.2fx\n", "postgres", per_tx, count / outbox, count / hand, outbox / hand);
    const double quiet = best_of(5, [&] { return postgres_append(messages, per_tx, false, /*notify=*/false); });
    std::printf("%-10s %-12d %14.0f %14.0f %8.2fx   (writer without NOTIFY)\n", "postgres", per_tx, count / quiet,
                count / hand, quiet / hand);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. relay throughput
// ---------------------------------------------------------------------------------------------

ev::RabbitMqTransportOptions rabbit(const std::string& exchange) {
  ev::RabbitMqTransportOptions options;
  options.url = env("SPAKKY_RABBITMQ_URL");
  options.exchange = exchange;
  options.persistent = true;
  return options;
}

/// A queue bound to everything on `exchange`, so that the broker keeps (and confirms) each message.
void declare(const std::string& exchange) {
  ev::detail::rabbitmq::Connection connection(ev::detail::rabbitmq::connect_settings(rabbit(exchange)));
  connection.declare_exchange(exchange, "topic");
  connection.declare_queue(exchange + ".q");
  connection.bind_queue(exchange + ".q", exchange, "#");
}
void purge(const std::string& exchange) {
  ev::detail::rabbitmq::Connection connection(ev::detail::rabbitmq::connect_settings(rabbit(exchange)));
  amqp_queue_delete(connection.state(), ev::detail::rabbitmq::Connection::channel,
                    ev::detail::rabbitmq::bytes(exchange + ".q"), 0, 0);
  amqp_get_rpc_reply(connection.state());
}

// Each direct send below is a detached coroutine, counted down when its send completed: the
// relay's own helpers for its batches (notifying under the lock, so that the waiter may
// destroy the countdown as soon as wait() returns).
using ev::detail::DetachedSend;
using ev::detail::SendCountdown;

const ev::Headers direct_headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};

/// The async confirmed transport sending `messages` directly, all in flight at once.
double direct_async(const std::vector<Prepared>& messages, const std::string& exchange) {
  ev::AsyncRabbitMqEventTransport transport(rabbit(exchange));
  ev::sync_wait(transport.send("warm.up", "x", direct_headers));
  SendCountdown sent(static_cast<std::ptrdiff_t>(messages.size()));
  auto one = [&](const Prepared& m) -> DetachedSend {
    co_await transport.send(m.name, m.payload, direct_headers);
    sent.count_down();
  };
  const auto start = Clock::now();
  for (const auto& m : messages) one(m);
  sent.wait();
  return seconds_since(start);
}

/// The async confirmed transport sending `messages` directly under the relay's order rule:
/// each key's messages in order, the next only after the previous one was confirmed (so at
/// most one message per key in flight), all keys at once. No database: what the rule costs.
double direct_async_per_key(const std::vector<Prepared>& messages, const std::string& exchange) {
  ev::AsyncRabbitMqEventTransport transport(rabbit(exchange));
  ev::sync_wait(transport.send("warm.up", "x", direct_headers));
  std::map<std::string, std::vector<const Prepared*>> by_key;
  for (const auto& m : messages) by_key[m.key].push_back(&m);
  SendCountdown keys_sent(static_cast<std::ptrdiff_t>(by_key.size()));
  auto one_key = [&](const std::vector<const Prepared*>& in_order) -> DetachedSend {
    for (const Prepared* m : in_order) co_await transport.send(m->name, m->payload, direct_headers);
    keys_sent.count_down();
  };
  const auto start = Clock::now();
  for (const auto& [key, in_order] : by_key) one_key(in_order);
  keys_sent.wait();
  return seconds_since(start);
}

double sqlite_relay(const std::vector<Prepared>& messages, const std::string& exchange, int keys) {
  const auto path = std::filesystem::temp_directory_path() / ("outbox-bench-" + ev::EventId::generate().to_string() + ".db");
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sq(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  {
    ev::SqliteOutboxWriter writer(db);
    sq(db, "BEGIN");
    for (const auto& m : messages) writer.append(ev::OutboxMessage{m.id, m.name, m.payload, m.headers, m.key});
    sq(db, "COMMIT");
  }
  ev::AsyncRabbitMqEventTransport transport(rabbit(exchange));
  ev::sync_wait(transport.send("warm.up", "x", {}));
  ev::SqliteOutboxRelayStore store(path.string());
  ev::OutboxRelay relay(store, transport, {.batch_size = static_cast<std::size_t>(std::max(512, keys))});
  const auto start = Clock::now();
  const auto sent = relay.drain();
  const double took = seconds_since(start);
  if (sent != messages.size()) throw std::runtime_error("the relay sent " + std::to_string(sent));
  sqlite3_close(db);
  std::error_code ignored;
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + s, ignored);
  return took;
}

/// A synchronous transport with no broker behind it: each send takes `latency` (a confirm's
/// round trip) and nothing else, so relays sending through it share nothing but PostgreSQL.
class FixedLatencyTransport final : public ev::IEventTransport {
public:
  explicit FixedLatencyTransport(std::chrono::microseconds latency) : latency_(latency) {}
  void send(std::string_view, std::string_view, const ev::Headers&) override { std::this_thread::sleep_for(latency_); }

private:
  std::chrono::microseconds latency_;
};

enum class RelayTransport { sync, async, fixed_latency };

/// `relays` relays (threads, each with its own connection and transport) on one PostgreSQL
/// outbox holding `messages`, sending through `kind`; seconds until it is empty.
double postgres_relays(const std::vector<Prepared>& messages, const std::string& exchange, int relays,
                       RelayTransport kind) {
  PgSchema schema("outbox_bench_relay");
  {
    Pg c = pg_connect(schema.conninfo);
    ev::PostgresOutboxWriter writer(c.get());
    pg(c.get(), "BEGIN");
    for (const auto& m : messages) writer.append(ev::OutboxMessage{m.id, m.name, m.payload, m.headers, m.key});
    pg(c.get(), "COMMIT");
  }
  struct One {
    std::unique_ptr<ev::PostgresOutboxRelayStore> store;
    std::unique_ptr<ev::RabbitMqEventTransport> sync;
    std::unique_ptr<ev::AsyncRabbitMqEventTransport> async;
    std::unique_ptr<FixedLatencyTransport> fixed;
    std::unique_ptr<ev::OutboxRelay> relay;
  };
  std::vector<One> all(static_cast<std::size_t>(relays));
  for (auto& one : all) {
    one.store = std::make_unique<ev::PostgresOutboxRelayStore>(schema.conninfo, ev::PostgresRelayStoreOptions{.listen = false});
    const ev::OutboxRelayOptions options{.batch_size = 64};
    if (kind == RelayTransport::async) {
      one.async = std::make_unique<ev::AsyncRabbitMqEventTransport>(rabbit(exchange));
      ev::sync_wait(one.async->send("warm.up", "x", {}));
      one.relay = std::make_unique<ev::OutboxRelay>(*one.store, *one.async, options);
    } else if (kind == RelayTransport::sync) {
      one.sync = std::make_unique<ev::RabbitMqEventTransport>(rabbit(exchange));
      one.sync->send("warm.up", "x", {});
      one.relay = std::make_unique<ev::OutboxRelay>(*one.store, *one.sync, options);
    } else {
      one.fixed = std::make_unique<FixedLatencyTransport>(500us);
      one.relay = std::make_unique<ev::OutboxRelay>(*one.store, *one.fixed, options);
    }
  }
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  for (auto& one : all) {
    threads.emplace_back([&one, &stop] {
      while (!stop.load()) {
        if (one.relay->run_once() == 0) std::this_thread::sleep_for(1ms);
      }
    });
  }
  // Done when the relays recorded every row: asked of the relays, not of the database (a
  // count(*) every 2 ms would take a CPU from the relays and PostgreSQL on a 2-core machine).
  const auto recorded = [&] {
    std::uint64_t sent = 0;
    for (const auto& one : all) sent += one.relay->stats().sent;
    return sent;
  };
  while (recorded() < messages.size()) std::this_thread::sleep_for(2ms);
  const double took = seconds_since(start);
  stop = true;
  for (auto& t : threads) t.join();
  return took;
}

void bench_relay(int count, int keys) {
  const std::string exchange = "outbox.bench." + ev::EventId::generate().to_string().substr(0, 8);
  declare(exchange);
  const auto messages = prepare(count, keys);
  std::printf("\n2. relay throughput to RabbitMQ (confirmed, persistent, one durable queue): %d messages, %d keys, best of 3\n",
              count, keys);
  const double direct = best_of(3, [&] { return direct_async(messages, exchange); });
  const double per_key = best_of(3, [&] { return direct_async_per_key(messages, exchange); });
  const double relay = best_of(3, [&] { return sqlite_relay(messages, exchange, keys); });
  std::printf("  async transport directly          %9.0f msg/s\n", count / direct);
  std::printf("  the same, one message per key in flight (the relay's rule, no database) %9.0f msg/s   %.2fx of direct\n",
              count / per_key, direct / per_key);
  std::printf("  relay, SQLite store, async        %9.0f msg/s   %.2fx of direct, %.2fx of one per key\n", count / relay,
              direct / relay, per_key / relay);
  const std::pair<RelayTransport, const char*> kinds[] = {
      {RelayTransport::sync, "sync  transport"},
      {RelayTransport::async, "async transport"},
      {RelayTransport::fixed_latency, "no broker, 0.5 ms per send"}};
  for (const auto& [kind, label] : kinds) {
    const double one = best_of(3, [&] { return postgres_relays(messages, exchange, 1, kind); });
    const double three = best_of(3, [&] { return postgres_relays(messages, exchange, 3, kind); });
    std::printf("  PostgreSQL, %s: 1 relay %9.0f msg/s, 3 relays %9.0f msg/s   %.2fx\n", label, count / one,
                count / three, one / three);
  }
  purge(exchange);
}

// ---------------------------------------------------------------------------------------------
// 3. commit -> handler latency
// ---------------------------------------------------------------------------------------------

struct Latencies {
  double p50_ms, p99_ms;
};

Latencies latency(bool postgres, bool notify, int count) {
  const std::string exchange = "outbox.latency." + ev::EventId::generate().to_string().substr(0, 8);
  TickSerializer serializer;
  std::mutex mutex;
  std::map<std::string, Clock::time_point> committed_at;
  std::vector<double> samples;
  ev::RabbitMqConsumerOptions consumer_options;
  consumer_options.url = env("SPAKKY_RABBITMQ_URL");
  consumer_options.exchange = exchange;
  consumer_options.queue = exchange + ".q";
  consumer_options.poll_interval = 5ms;
  ev::RabbitMqEventConsumer consumer(serializer, consumer_options);
  auto sub = consumer.register_handler([&](const Tick& t) {
    const auto now = Clock::now();
    const std::lock_guard lock(mutex);
    const auto found = committed_at.find(t.event_id().to_string());
    if (found != committed_at.end()) samples.push_back(std::chrono::duration<double, std::milli>(now - found->second).count());
  });
  declare(exchange);
  consumer.start();

  ev::AsyncRabbitMqEventTransport transport(rabbit(exchange));
  const ev::OutboxRelayOptions relay_options{.poll_interval = 100ms};
  std::unique_ptr<PgSchema> schema;
  Pg app;
  sqlite3* db = nullptr;
  std::filesystem::path path;
  std::unique_ptr<ev::IOutboxRelayStore> store;
  std::unique_ptr<ev::IOutboxWriter> writer;
  if (postgres) {
    schema = std::make_unique<PgSchema>("outbox_bench_latency");
    app = pg_connect(schema->conninfo);
    writer = std::make_unique<ev::PostgresOutboxWriter>(app.get());
    store = std::make_unique<ev::PostgresOutboxRelayStore>(schema->conninfo, ev::PostgresRelayStoreOptions{.listen = notify});
  } else {
    path = std::filesystem::temp_directory_path() / ("outbox-bench-" + ev::EventId::generate().to_string() + ".db");
    sqlite3_open(path.c_str(), &db);
    ev::set_sqlite_busy_wait(db, 5s);  // the relay writes to the same file
    sq(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
    writer = std::make_unique<ev::SqliteOutboxWriter>(db);
    store = std::make_unique<ev::SqliteOutboxRelayStore>(path.string());
  }
  ev::OutboxRelay relay(*store, transport, relay_options);
  relay.start();
  ev::OutboxEventBus bus(*writer, serializer);
  for (int i = 0; i < count; ++i) {
    const Tick t("key-" + std::to_string(i % 8), i);
    if (postgres) pg(app.get(), "BEGIN"); else sq(db, "BEGIN");
    bus.send(t);
    {
      const std::lock_guard lock(mutex);
      committed_at[t.event_id().to_string()] = Clock::now();  // just before COMMIT returns
    }
    if (postgres) pg(app.get(), "COMMIT"); else sq(db, "COMMIT");
    if (notify && !postgres) relay.notify();  // PostgreSQL: the NOTIFY wakes it
    std::this_thread::sleep_for(std::chrono::milliseconds(7 + i % 5));  // spread over the poll period
  }
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    {
      const std::lock_guard lock(mutex);
      if (samples.size() >= static_cast<std::size_t>(count)) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  relay.stop();
  consumer.stop();
  if (db != nullptr) {
    sqlite3_close(db);
    std::error_code ignored;
    for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + s, ignored);
  }
  purge(exchange);
  std::sort(samples.begin(), samples.end());
  if (samples.empty()) return {0, 0};
  return {samples[samples.size() / 2], samples[std::min(samples.size() - 1, samples.size() * 99 / 100)]};
}

void bench_latency(int count) {
  std::printf("\n3. commit -> handler latency (RabbitMQ consumer in process, %d units of work, one event each)\n", count);
  for (const bool postgres : {false, true}) {
    for (const bool notify : {true, false}) {
      const Latencies l = latency(postgres, notify, count);
      std::printf("  %-9s %-38s p50 %7.2f ms   p99 %7.2f ms\n", postgres ? "postgres" : "sqlite",
                  notify ? (postgres ? "LISTEN/NOTIFY" : "notify() after COMMIT") : "polling only (every 100 ms)", l.p50_ms,
                  l.p99_ms);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line as it is measured
  try {
    const int events = argc > 1 ? std::atoi(argv[1]) : 20000;
    const std::string sections = argc > 2 ? argv[2] : "append,relay,latency";
    const int keys = argc > 3 ? std::max(1, std::atoi(argv[3])) : 256;
    if (sections.find("append") != std::string::npos) bench_append(std::min(events, 5000));
    if (sections.find("relay") != std::string::npos) bench_relay(events, keys);
    if (sections.find("latency") != std::string::npos) bench_latency(300);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "outbox_bench: %s\n", e.what());
    return 1;
  }
}
