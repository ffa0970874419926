// The crash test of the transactional outbox and the idempotent inbox, against the real
// RabbitMQ node and (for --store postgres) the real PostgreSQL server of the CTest fixtures.
//
// A driver forks app processes (this program, re-executed in another role):
//   sqlite:   one process running units of work AND a relay thread (one relay per SQLite file)
//             on the asynchronous confirmed RabbitMQ transport
//   postgres: one writer process running units of work, and three relay processes (one on
//             the synchronous confirmed transport, two on the asynchronous one)
// Each unit of work bumps a per-key counter and records (event id, key, n) in `produced` in
// the same transaction as the outbox row of its ItemReserved(key, n); one in ten throws after
// its writes (rolled back). The driver SIGKILLs a random process at random moments and
// restarts it; the processes also kill themselves now and then at the dangerous points
// (before COMMIT, after COMMIT, before a send, after the broker's confirm before the row is
// marked sent). Once `target` units of work have committed and the outbox is empty the
// processes exit. A consumer in the driver (RabbitMqEventConsumer + SqliteInbox) applies each
// event to its own counters. Then it checks that:
//   - every committed event reached the consumer (at least once),
//   - no event of a rolled-back unit of work did (every received id is in `produced`),
//   - each key's events were applied in order (first delivery of n follows n - 1),
//   - with the inbox, each effect was applied exactly once (consumer counters == producer's),
// and prints the counts. Exit 0 on success.
//
//   outbox_crash_test sqlite|postgres [target]        (the driver; env from CTest)

#include "outbox/outbox_events.hpp"
#include "support/rabbitmq_broker.hpp"

#include <spakky/event/aggregate.hpp>
#include <spakky/event/inbox/sqlite_inbox.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/outbox/outbox_relay.hpp>
#include <spakky/event/outbox/postgres_outbox.hpp>
#include <spakky/event/outbox/postgres_transaction.hpp>
#include <spakky/event/outbox/sqlite_outbox.hpp>
#include <spakky/event/outbox/sqlite_transaction.hpp>
#include <spakky/event/outbox/transactional_outbox.hpp>
#include <spakky/event/publisher/event_publisher.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ev = spakky::event;
using namespace std::chrono_literals;
using outbox_test::ItemReserved;

namespace {

constexpr int keys = 16;
constexpr const char* consumer_name = "crash-consumer";

// ---------------------------------------------------------------------------------------------
// Shared by the roles
// ---------------------------------------------------------------------------------------------

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "outbox_crash_test[%d]: %s\n", static_cast<int>(::getpid()), message.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') die(std::string(name) + " is not set: run through ctest");
  return value;
}

/// Self-inflicted SIGKILL at a named point, with odds 1 in SPAKKY_CRASH_ODDS; logs the point
/// first (O_APPEND survives the kill) so that the driver can count them.
class CrashPoints {
public:
  CrashPoints() {
    const char* odds = std::getenv("SPAKKY_CRASH_ODDS");
    odds_ = odds != nullptr ? std::atoi(odds) : 0;
    const char* log = std::getenv("SPAKKY_CRASH_LOG");
    if (log != nullptr) fd_ = ::open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    rng_.seed(static_cast<unsigned>(::getpid()) * 7919u + static_cast<unsigned>(std::time(nullptr)));
  }
  void maybe(const char* point) {
    if (odds_ <= 0) return;
    std::lock_guard lock(mutex_);
    if (std::uniform_int_distribution<int>(1, odds_)(rng_) != 1) return;
    if (fd_ >= 0) {
      const std::string line = std::string(point) + "\n";
      [[maybe_unused]] const auto n = ::write(fd_, line.data(), line.size());
    }
    ::raise(SIGKILL);
  }

private:
  int odds_ = 0;
  int fd_ = -1;
  std::mutex mutex_;
  std::mt19937 rng_;
};

CrashPoints& crash_points() {
  static CrashPoints points;
  return points;
}

/// A transaction that may die just before or just after its COMMIT.
template <class Tx>
struct CrashingTransaction {
  Tx& inner;
  void begin() { inner.begin(); }
  void commit() {
    crash_points().maybe("before-commit");
    inner.commit();
    crash_points().maybe("after-commit");
  }
  void rollback() noexcept { inner.rollback(); }
};

/// A transport that may die just before a send, or after the broker confirmed it but before
/// the relay marks the row sent.
struct CrashingTransport final : ev::IEventTransport {
  explicit CrashingTransport(ev::IEventTransport& t) : inner(t) {}
  void send(std::string_view name, std::string_view payload, const ev::Headers& headers) override {
    crash_points().maybe("before-send");
    inner.send(name, payload, headers);
    crash_points().maybe("after-confirm");
  }
  ev::IEventTransport& inner;
};

/// CrashingTransport for the asynchronous transport (many confirms in flight).
struct CrashingAsyncTransport final : ev::IAsyncEventTransport<ev::Task<>> {
  explicit CrashingAsyncTransport(ev::IAsyncEventTransport<ev::Task<>>& t) : inner(t) {}
  ev::Task<> send(std::string_view name, std::string_view payload, const ev::Headers& headers) override {
    crash_points().maybe("before-send");
    co_await inner.send(name, payload, headers);
    crash_points().maybe("after-confirm");
  }
  ev::IAsyncEventTransport<ev::Task<>>& inner;
};

/// A relay over the synchronous or the asynchronous confirmed RabbitMQ transport.
class RabbitRelay {
public:
  RabbitRelay(ev::IOutboxRelayStore& store, const ev::RabbitMqTransportOptions& options, bool async,
              ev::OutboxRelayOptions relay_options) {
    if (async) {
      async_transport_ = std::make_unique<ev::AsyncRabbitMqEventTransport>(options);
      crashing_async_ = std::make_unique<CrashingAsyncTransport>(*async_transport_);
      relay_ = std::make_unique<ev::OutboxRelay>(store, *crashing_async_, std::move(relay_options));
    } else {
      sync_transport_ = std::make_unique<ev::RabbitMqEventTransport>(options);
      crashing_ = std::make_unique<CrashingTransport>(*sync_transport_);
      relay_ = std::make_unique<ev::OutboxRelay>(store, *crashing_, std::move(relay_options));
    }
  }
  ~RabbitRelay() { relay_.reset(); }
  ev::OutboxRelay& relay() { return *relay_; }

private:
  std::unique_ptr<ev::RabbitMqEventTransport> sync_transport_;
  std::unique_ptr<CrashingTransport> crashing_;
  std::unique_ptr<ev::AsyncRabbitMqEventTransport> async_transport_;
  std::unique_ptr<CrashingAsyncTransport> crashing_async_;
  std::unique_ptr<ev::OutboxRelay> relay_;
};

ev::RabbitMqTransportOptions transport_options(const std::string& exchange) {
  ev::RabbitMqTransportOptions options;
  options.url = env("SPAKKY_RABBITMQ_URL");
  options.exchange = exchange;
  options.connection_name = "outbox crash test relay";
  return options;
}

/// An aggregate: a counter per key, raising ItemReserved(key, n) per bump.
class Counter final : public ev::AbstractAggregateRoot, public ev::IntegrationEventSource {
public:
  explicit Counter(std::string key) : key_(std::move(key)) {}
  [[nodiscard]] std::string aggregate_id() const override { return key_; }
  void raise(int n) { add_integration_event(ItemReserved(key_, n)); }
  [[nodiscard]] const ItemReserved& last() const {
    return static_cast<const ItemReserved&>(*integration_events().back());
  }

private:
  std::string key_;
};

struct RolledBack : std::runtime_error {
  RolledBack() : std::runtime_error("declined on purpose") {}
};

// ---------------------------------------------------------------------------------------------
// SQLite roles
// ---------------------------------------------------------------------------------------------

void sqlite_exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message != nullptr ? message : "?";
    sqlite3_free(message);
    throw std::runtime_error(text + " in: " + sql);
  }
}

std::int64_t sqlite_int(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
  std::int64_t v = 0;
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

sqlite3* sqlite_open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die("cannot open " + path);
  ev::set_sqlite_busy_wait(db, 10s);
  sqlite_exec(db, "PRAGMA journal_mode=WAL");
  sqlite_exec(db, "PRAGMA synchronous=NORMAL");
  return db;
}

void sqlite_producer_schema(sqlite3* db) {
  sqlite_exec(db,
              "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL);"
              "CREATE TABLE IF NOT EXISTS produced (event_id TEXT PRIMARY KEY, key TEXT NOT NULL, n INTEGER NOT NULL)");
}

/// Units of work until `target` have committed, with a relay thread; then drains and exits 0.
int sqlite_app(const std::string& path, const std::string& exchange, std::int64_t target) {
  sqlite3* db = sqlite_open(path);
  sqlite_producer_schema(db);
  const auto serializer = outbox_test::make_serializer();
  ev::SqliteOutboxWriter writer(db);
  ev::OutboxEventBus bus(writer, serializer);
  ev::EventMediator mediator;
  ev::EventPublisher publisher(mediator);
  ev::AggregateCollector collector;

  ev::SqliteOutboxRelayStore store(path);
  RabbitRelay rabbit_relay(store, transport_options(exchange), /*async=*/true,
                           {.batch_size = 64, .initial_backoff = 20ms, .poll_interval = 100ms});
  ev::OutboxRelay& relay = rabbit_relay.relay();
  relay.start();

  ev::TransactionalOutbox uow(collector, publisher, bus, [&] { relay.notify(); });
  ev::SqliteTransaction plain(db);
  CrashingTransaction<ev::SqliteTransaction> transaction{plain};
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  sqlite3_stmt* bump = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO counters VALUES (?1, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1 RETURNING n", -1,
                     &bump, nullptr);
  sqlite3_stmt* record = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO produced VALUES (?1, ?2, ?3)", -1, &record, nullptr);

  std::int64_t committed = sqlite_int(db, "SELECT count(*) FROM produced");
  while (committed < target) {
    Counter counter("key-" + std::to_string(std::uniform_int_distribution<int>(0, keys - 1)(rng)));
    const bool decline = std::uniform_int_distribution<int>(0, 9)(rng) == 0;
    try {
      uow.run(transaction, [&] {
        collector.collect(counter);
        const std::string key = counter.aggregate_id();
        sqlite3_reset(bump);
        sqlite3_bind_text(bump, 1, key.c_str(), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(bump) != SQLITE_ROW) throw std::runtime_error(sqlite3_errmsg(db));
        const int n = sqlite3_column_int(bump, 0);
        sqlite3_reset(bump);
        counter.raise(n);
        const std::string id = counter.last().event_id().to_string();
        sqlite3_reset(record);
        sqlite3_bind_text(record, 1, id.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(record, 2, key.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(record, 3, n);
        if (sqlite3_step(record) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
        sqlite3_reset(record);
        if (decline) throw RolledBack();
      });
      ++committed;
    } catch (const RolledBack&) {
    }
  }
  // Done producing: wait until the relay has sent everything.
  while (sqlite_int(db, "SELECT count(*) FROM spakky_outbox") > 0) {
    relay.notify();
    std::this_thread::sleep_for(20ms);
  }
  relay.stop();
  sqlite3_finalize(bump);
  sqlite3_finalize(record);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL roles
// ---------------------------------------------------------------------------------------------

struct PgFinish {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using PgConnection = std::unique_ptr<PGconn, PgFinish>;

PgConnection pg_connect(const std::string& conninfo) {
  PgConnection c(PQconnectdb(conninfo.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) die("cannot connect: " + std::string(c ? PQerrorMessage(c.get()) : ""));
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
  return c;
}

void pg_exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const auto status = PQresultStatus(r);
  const std::string message = PQresultErrorMessage(r);
  PQclear(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw std::runtime_error(message + " in: " + sql);
}

std::int64_t pg_int(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    const std::string message = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error(message + " in: " + sql);
  }
  const std::int64_t v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? std::stoll(PQgetvalue(r, 0, 0)) : 0;
  PQclear(r);
  return v;
}

std::string schema_conninfo(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
}

/// The PostgreSQL writer: units of work until `target` have committed, then marks `done`.
int pg_writer(const std::string& conninfo, std::int64_t target) {
  PgConnection connection = pg_connect(conninfo);
  PGconn* c = connection.get();
  const auto serializer = outbox_test::make_serializer();
  ev::PostgresOutboxWriter writer(c);
  ev::OutboxEventBus bus(writer, serializer);
  ev::EventMediator mediator;
  ev::EventPublisher publisher(mediator);
  ev::AggregateCollector collector;
  ev::TransactionalOutbox uow(collector, publisher, bus);
  ev::PostgresTransaction plain(c);
  CrashingTransaction<ev::PostgresTransaction> transaction{plain};
  std::mt19937 rng(static_cast<unsigned>(::getpid()));

  std::int64_t committed = pg_int(c, "SELECT count(*) FROM produced");
  while (committed < target) {
    Counter counter("key-" + std::to_string(std::uniform_int_distribution<int>(0, keys - 1)(rng)));
    const bool decline = std::uniform_int_distribution<int>(0, 9)(rng) == 0;
    try {
      uow.run(transaction, [&] {
        collector.collect(counter);
        const std::string key = counter.aggregate_id();
        const int n = static_cast<int>(pg_int(
            c, "INSERT INTO counters VALUES ('" + key + "', 1) ON CONFLICT (key) DO UPDATE SET n = counters.n + 1 RETURNING n"));
        counter.raise(n);
        pg_exec(c, "INSERT INTO produced VALUES ('" + counter.last().event_id().to_string() + "', '" + key + "', " +
                       std::to_string(n) + ")");
        if (decline) throw RolledBack();
      });
      ++committed;
    } catch (const RolledBack&) {
    }
  }
  pg_exec(c, "INSERT INTO done VALUES (1) ON CONFLICT DO NOTHING");
  return 0;
}

/// A PostgreSQL relay process: relays until the writer is done and the outbox is empty.
int pg_relay(const std::string& conninfo, const std::string& exchange, bool async) {
  ev::PostgresOutboxRelayStore store(conninfo, {.lease = 10s});
  RabbitRelay rabbit_relay(store, transport_options(exchange), async,
                           {.batch_size = 16, .initial_backoff = 20ms, .poll_interval = 100ms});
  ev::OutboxRelay& relay = rabbit_relay.relay();
  relay.start();
  PgConnection watch = pg_connect(conninfo);
  for (;;) {
    std::this_thread::sleep_for(50ms);
    if (pg_int(watch.get(), "SELECT count(*) FROM done") > 0 &&
        pg_int(watch.get(), "SELECT count(*) FROM spakky_outbox") == 0) {
      break;
    }
  }
  relay.stop();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------------

/// What the consumer saw.
struct ConsumerState {
  std::mutex mutex;
  std::uint64_t deliveries = 0;
  std::uint64_t applied = 0;
  std::uint64_t duplicates = 0;
  std::vector<std::string> order_violations;
};

struct Role {
  std::vector<std::string> args;
  pid_t pid = 0;
  bool done = false;
};

pid_t spawn(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    std::vector<char*> argv;
    static std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    argv.push_back(self.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(self.c_str(), argv.data());
    std::_Exit(127);
  }
  return pid;
}

int driver(const std::string& store_kind, std::int64_t target) {
  const bool postgres = store_kind == "postgres";
  const std::string exchange = test_support::rabbitmq::unique_name("outbox.crash");
  const std::string queue = exchange + ".consumer";
  const auto work = std::filesystem::temp_directory_path() /
                    ("spakky-outbox-crash-" + ev::EventId::generate().to_string().substr(0, 8));
  std::filesystem::create_directories(work);
  const std::string crash_log = (work / "crash-points.log").string();
  ::setenv("SPAKKY_CRASH_LOG", crash_log.c_str(), 1);
  if (std::getenv("SPAKKY_CRASH_ODDS") == nullptr) ::setenv("SPAKKY_CRASH_ODDS", "1500", 1);

  // The queue exists, bound, before anything is sent: nothing is dropped as unroutable.
  {
    test_support::rabbitmq::RawClient client;
    client.declare_exchange(exchange);
    client.declare_queue(queue);
    client.bind(queue, exchange, "ItemReserved");
  }

  // The producer's database.
  std::string producer_db;
  std::string conninfo;
  std::string schema;
  PgConnection admin;
  if (postgres) {
    schema = "crash_" + ev::EventId::generate().to_string().substr(0, 8);
    admin = pg_connect(env("SPAKKY_POSTGRES_URL"));
    pg_exec(admin.get(), "CREATE SCHEMA " + schema);
    conninfo = schema_conninfo(env("SPAKKY_POSTGRES_URL"), schema);
    PgConnection c = pg_connect(conninfo);
    pg_exec(c.get(),
            "CREATE TABLE counters (key text PRIMARY KEY, n integer NOT NULL);"
            "CREATE TABLE produced (event_id uuid PRIMARY KEY, key text NOT NULL, n integer NOT NULL);"
            "CREATE TABLE done (one integer PRIMARY KEY)");
    ev::create_postgres_outbox_schema(c.get());
  } else {
    producer_db = (work / "producer.db").string();
    sqlite3* db = sqlite_open(producer_db);
    sqlite_producer_schema(db);
    ev::create_sqlite_outbox_schema(db);
    sqlite3_close(db);
  }

  // The consumer: its own SQLite database with an inbox and its counters.
  const std::string consumer_db = (work / "consumer.db").string();
  sqlite3* cdb = sqlite_open(consumer_db);
  sqlite_exec(cdb,
              "CREATE TABLE applied_counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL);"
              "CREATE TABLE received (event_id TEXT PRIMARY KEY, key TEXT NOT NULL, n INTEGER NOT NULL)");
  ev::SqliteInbox inbox(cdb);
  ConsumerState state;
  const auto serializer = outbox_test::make_serializer();
  ev::RabbitMqConsumerOptions consumer_options;
  consumer_options.url = env("SPAKKY_RABBITMQ_URL");
  consumer_options.exchange = exchange;
  consumer_options.queue = queue;
  consumer_options.prefetch = 64;
  ev::RabbitMqEventConsumer consumer(serializer, consumer_options);
  auto subscription = consumer.register_handler([&](const ItemReserved& e) {
    const std::lock_guard lock(state.mutex);
    ++state.deliveries;
    const bool ran = inbox.handle(consumer_name, e, [&] {
      const std::int64_t before =
          sqlite_int(cdb, "SELECT coalesce((SELECT n FROM applied_counters WHERE key = '" + e.aggregate_id + "'), 0)");
      if (e.number != before + 1) {
        state.order_violations.push_back(e.aggregate_id + ": applied " + std::to_string(e.number) + " after " +
                                         std::to_string(before));
      }
      sqlite_exec(cdb, ("INSERT INTO applied_counters VALUES ('" + e.aggregate_id + "', " + std::to_string(e.number) +
                        ") ON CONFLICT (key) DO UPDATE SET n = excluded.n")
                           .c_str());
      sqlite_exec(cdb, ("INSERT INTO received VALUES ('" + e.event_id().to_string() + "', '" + e.aggregate_id + "', " +
                        std::to_string(e.number) + ")")
                           .c_str());
    });
    if (ran) {
      ++state.applied;
    } else {
      ++state.duplicates;
    }
  });
  consumer.start();

  // The processes.
  std::vector<Role> roles;
  const std::string target_text = std::to_string(target);
  if (postgres) {
    roles.push_back({{"pg-writer", conninfo, target_text}});
    // One relay on the synchronous confirmed transport, two on the asynchronous one.
    for (const char* mode : {"sync", "async", "async"}) roles.push_back({{"pg-relay", conninfo, exchange, mode}});
  } else {
    roles.push_back({{"sqlite-app", producer_db, exchange, target_text}});
  }
  auto committed = [&]() -> std::int64_t {
    if (postgres) return pg_int(admin.get(), "SELECT count(*) FROM " + schema + ".produced");
    sqlite3* db = sqlite_open(producer_db);
    const auto n = sqlite_int(db, "SELECT count(*) FROM produced");
    sqlite3_close(db);
    return n;
  };

  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  int kills = 0;
  int restarts = 0;
  int self_kills_reaped_late = 0;  // died by itself just before the driver chose it
  const auto started = std::chrono::steady_clock::now();
  for (auto& role : roles) role.pid = spawn(role.args);
  for (;;) {
    // Reap: a clean exit is done; a death by signal (a self-inflicted kill) is restarted.
    for (auto& role : roles) {
      if (role.done || role.pid == 0) continue;
      int status = 0;
      if (::waitpid(role.pid, &status, WNOHANG) != role.pid) continue;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        role.done = true;
        role.pid = 0;
      } else if (WIFSIGNALED(status)) {
        ++restarts;
        role.pid = spawn(role.args);
      } else {
        die("a " + role.args[0] + " process failed (exit " + std::to_string(WEXITSTATUS(status)) + ")");
      }
    }
    bool all_done = true;
    for (const auto& role : roles) all_done = all_done && role.done;
    if (all_done) break;
    if (std::chrono::steady_clock::now() - started > 240s) die("the processes did not finish within 240 s");

    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 250)(rng)));
    if (committed() >= target) continue;  // producing is over: let them drain
    std::vector<Role*> running;
    for (auto& role : roles) {
      if (!role.done && role.pid != 0) running.push_back(&role);
    }
    if (running.empty()) continue;
    Role* victim = running[std::uniform_int_distribution<std::size_t>(0, running.size() - 1)(rng)];
    if (::waitpid(victim->pid, nullptr, WNOHANG) == 0) {  // alive (a dead one is reaped above next time)
      ::kill(victim->pid, SIGKILL);
      ::waitpid(victim->pid, nullptr, 0);
      ++kills;
    } else {
      ++self_kills_reaped_late;
    }
    ++restarts;
    victim->pid = spawn(victim->args);
  }

  const std::int64_t produced = committed();
  // Everything is in the broker now; wait for the consumer to apply it.
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  for (;;) {
    {
      const std::lock_guard lock(state.mutex);
      if (static_cast<std::int64_t>(state.applied) >= produced) break;
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(50ms);
  }
  // A little more for late duplicates is not needed for the checks: they are absorbed.
  consumer.stop();

  // The checks.
  std::vector<std::string> failures;
  std::map<std::string, std::int64_t> producer_counters;
  std::set<std::string> produced_ids;
  if (postgres) {
    PGresult* r = PQexec(admin.get(), ("SELECT key, n FROM " + schema + ".counters").c_str());
    for (int i = 0; i < PQntuples(r); ++i) producer_counters[PQgetvalue(r, i, 0)] = std::stoll(PQgetvalue(r, i, 1));
    PQclear(r);
    r = PQexec(admin.get(), ("SELECT event_id::text FROM " + schema + ".produced").c_str());
    for (int i = 0; i < PQntuples(r); ++i) produced_ids.insert(PQgetvalue(r, i, 0));
    PQclear(r);
  } else {
    sqlite3* db = sqlite_open(producer_db);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT key, n FROM counters", -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) {
      producer_counters[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db, "SELECT event_id FROM produced", -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) produced_ids.insert(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
  std::map<std::string, std::int64_t> consumer_counters;
  std::set<std::string> received_ids;
  {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(cdb, "SELECT key, n FROM applied_counters", -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) {
      consumer_counters[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    sqlite3_prepare_v2(cdb, "SELECT event_id FROM received", -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) received_ids.insert(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    sqlite3_finalize(s);
  }
  std::size_t missing = 0;
  for (const auto& id : produced_ids) missing += received_ids.count(id) == 0 ? 1 : 0;
  std::size_t foreign = 0;
  for (const auto& id : received_ids) foreign += produced_ids.count(id) == 0 ? 1 : 0;
  std::map<std::string, int> points;
  {
    std::FILE* log = std::fopen(crash_log.c_str(), "r");
    char line[64];
    while (log != nullptr && std::fgets(line, sizeof line, log) != nullptr) {
      std::string point(line);
      while (!point.empty() && point.back() == '\n') point.pop_back();
      ++points[point];
    }
    if (log != nullptr) std::fclose(log);
  }

  if (produced < target) failures.push_back("only " + std::to_string(produced) + " units of work committed");
  if (missing > 0) failures.push_back(std::to_string(missing) + " committed events never reached the consumer");
  if (foreign > 0) failures.push_back(std::to_string(foreign) + " received events were never committed (rolled back?)");
  if (!state.order_violations.empty()) {
    failures.push_back(std::to_string(state.order_violations.size()) + " out-of-order events, first: " +
                       state.order_violations.front());
  }
  if (producer_counters != consumer_counters) failures.push_back("the consumer's counters differ from the producer's");
  if (state.applied != static_cast<std::uint64_t>(produced)) {
    failures.push_back("applied " + std::to_string(state.applied) + " effects for " + std::to_string(produced) +
                       " events");
  }
  int self_kills = 0;
  for (const auto& [point, count] : points) self_kills += count;
  (void)self_kills_reaped_late;
  if (kills + self_kills < 24) failures.push_back("only " + std::to_string(kills + self_kills) + " kills (want dozens)");

  std::printf("outbox crash test (%s%s): %lld units of work committed, %d kills by the driver, %d self-kills"
              " (before-commit %d, after-commit %d, before-send %d, after-confirm %d), %d restarts,"
              " %llu deliveries, %llu applied, %llu duplicates absorbed by the inbox, %zu keys, %.1f s\n",
              store_kind.c_str(), postgres ? ", 1 writer + 3 relay processes" : ", app with a relay thread",
              static_cast<long long>(produced), kills, self_kills, points["before-commit"], points["after-commit"],
              points["before-send"], points["after-confirm"], restarts,
              static_cast<unsigned long long>(state.deliveries), static_cast<unsigned long long>(state.applied),
              static_cast<unsigned long long>(state.duplicates), producer_counters.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  for (const auto& f : failures) std::printf("FAILED: %s\n", f.c_str());
  std::fflush(stdout);

  sqlite3_close(cdb);
  if (postgres) pg_exec(admin.get(), "DROP SCHEMA " + schema + " CASCADE");
  std::error_code ignored;
  std::filesystem::remove_all(work, ignored);
  try {
    test_support::rabbitmq::RawClient client;
    client.delete_queue(queue);
    client.delete_queue(queue + ".dead-letter");
    client.delete_exchange(exchange);
  } catch (...) {
  }
  return failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) die("usage: outbox_crash_test sqlite|postgres [target]");
    const std::string& role = args[0];
    if (role == "sqlite-app" && args.size() == 4) return sqlite_app(args[1], args[2], std::stoll(args[3]));
    if (role == "pg-writer" && args.size() == 3) return pg_writer(args[1], std::stoll(args[2]));
    if (role == "pg-relay" && args.size() == 4) return pg_relay(args[1], args[2], args[3] == "async");
    if (role == "sqlite" || role == "postgres") return driver(role, args.size() > 1 ? std::stoll(args[1]) : 10000);
    die("unknown role " + role);
  } catch (const std::exception& e) {
    die(std::string("failed: ") + e.what());
  }
}
