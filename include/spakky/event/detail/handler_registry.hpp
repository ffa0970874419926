#pragma once
/// @file
/// The registry behind every mediator, synchronous and asynchronous: which handlers an event
/// type has, in which order, published so that dispatch reads them without a lock.
///
/// Design, in short:
/// - Each event type has a Channel whose handler list (exact handlers in registration order,
///   then the matching catch-alls in registration order) is an immutable array published
///   through an atomic pointer. Writers (register, cancel) build a new array under one writer
///   mutex and swap it in; readers never lock.
/// - The registry is keyed by `std::type_index`: one Channel per type as `type_index ==` (by
///   name, across shared libraries) tells types apart, kept sorted by `type_index <`. Dispatch
///   finds channels through a cache in front of it: an open-addressing table keyed by the
///   address of the `std::type_info` object an event's `typeid` gave (a cheap hash that stays
///   put while the module is loaded). The same type seen through another shared library has
///   another type_info object: its first miss finds the channel by `std::type_index` and adds
///   an alias entry.
///   The synchronous dispatch reads the table through `dispatch_table_`, which is swapped for
///   an empty table while a metrics observer is installed: the observer test costs dispatch
///   nothing, since a miss at the first probe is what sends it to the observed path.
/// - Old arrays are reclaimed with hazard pointers: a dispatch claims a reader slot and
///   stores the array it reads there. Writers free only arrays no slot holds, so a writer never
///   waits for a reader (a handler blocked in one thread blocks no register or cancel).
/// - Arrays hold plain node pointers, no reference per node: every retired array gets the next
///   retire sequence number, and a cancelled node, once no published array names it, records
///   the number of the last array retired. It is freed once no array a reader still holds
///   names it: at once if every array retired up to its number is freed (one comparison),
///   else when the held arrays that name it are. Until then cancel() still finds it by id.
/// - A slot also names the handler it is calling (`current`), which is what cancel_and_wait
///   waits on; the slot's owner thread lets it skip the calling thread's own calls.
/// - All state lives in this object: header-only statics would be duplicated per shared
///   library under hidden visibility.

#include <spakky/event/detail/coroutine_chain.hpp>
#include <spakky/event/detail/handler_node.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/detail/module_ranges.hpp>
#include <spakky/event/detail/writer_lock.hpp>
#include <spakky/event/erased_handler.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/observability/metrics.hpp>
#include <spakky/event/subscription.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <time.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace spakky::event::detail {

/// An immutable array of handlers; `size` nodes follow the header in the same allocation, then
/// a null: the dispatch loop stops at it, so it needs no register for the end.
struct HandlerList {
  std::size_t size;
  std::size_t capacity;  // nodes the allocation holds besides the null: freed lists are recycled

  [[nodiscard]] HandlerNode* const* begin() const noexcept {
    return reinterpret_cast<HandlerNode* const*>(this + 1);
  }
  [[nodiscard]] HandlerNode* const* end() const noexcept { return begin() + size; }
};

/// Everything the registry knows about one event type.
struct Channel {
  const std::type_info* type;  // the registry's key is std::type_index(*type)
  EventKind kind;
  std::vector<HandlerNode*> exact;         // writer lock only
  std::atomic<HandlerList*> list{nullptr};  // what dispatch reads; null when empty
};

struct SlotBlock;
class HandlerRegistry;

/// A reader slot: one per dispatch in progress. Padded to a cache line so that threads
/// dispatching at once do not share one.
struct alignas(64) ReaderSlot {
  // `current` first: the handler loop stores it through the slot's own address, and g++
  // would otherwise keep a register for &current across every handler call.
  std::atomic<HandlerNode*> current{nullptr};  // the handler being called
  std::atomic<HandlerList*> hazard{nullptr};   // the list being read; null when the slot is free
  std::atomic<pthread_t> owner{};              // the thread holding the slot
  std::atomic<const void*> chain{nullptr};     // the Task chain of an async dispatch, else null
  SlotBlock* home = nullptr;                   // the block this slot belongs to
};

/// Reader slots come in blocks; more blocks are chained on when more dispatches are in flight
/// at once (suspended asynchronous ones, typically). Blocks live as long as their registry.
struct SlotBlock {
  static constexpr std::size_t size = 16;

  explicit SlotBlock(HandlerRegistry* owner) noexcept : registry(owner) {
    for (auto& slot : slots) slot.home = this;
  }
  SlotBlock(const SlotBlock&) = delete;
  SlotBlock& operator=(const SlotBlock&) = delete;

  ReaderSlot slots[size];
  std::atomic<SlotBlock*> next{nullptr};
  HandlerRegistry* registry;  // the owner: its spare-block hint, its failure context
};

/// Issues a full memory barrier on every running thread of this process. Lets dispatch
/// publish the handler it is about to call with a plain store: the rare cancel_and_wait pays
/// for the ordering instead of every handler call. Linux: membarrier(PRIVATE_EXPEDITED), or,
/// where the kernel refuses it (old kernels, seccomp), an mprotect round trip on a private
/// page, whose TLB shootdown interrupts every CPU running this process (the fallback .NET's
/// FlushProcessWriteBuffers uses). Elsewhere dispatch uses sequentially consistent stores.
class AsymmetricFence {
public:
#if defined(__linux__)
  static constexpr bool supported = true;
#else
  static constexpr bool supported = false;
#endif

  static void heavy() noexcept {
#if defined(__linux__)
    static const bool membarrier = register_membarrier();
    if (membarrier) {
      ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    } else {
      flush_by_mprotect();
    }
#endif
  }

private:
#if defined(__linux__)
  static bool register_membarrier() noexcept {
#if defined(SYS_membarrier)
    return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
    return false;
#endif
  }

  static void flush_by_mprotect() noexcept {
    static std::mutex mutex;
    static void* const page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const std::lock_guard lock(mutex);
    if (page == MAP_FAILED) {
      std::atomic_thread_fence(std::memory_order_seq_cst);  // not reached on a sane system
      return;
    }
    *static_cast<volatile char*>(page) = 1;  // mapped and in this CPU's TLB
    ::mprotect(page, 4096, PROT_READ);        // shrinking the rights flushes every CPU's TLB
    ::mprotect(page, 4096, PROT_READ | PROT_WRITE);
  }
#endif
};

/// The chain of an asynchronous dispatch whose coroutine type does not tell us its chain.
inline constexpr char unknown_chain = 0;

/// pthread_self(), without the call where the ABI lets us read it directly.
inline pthread_t current_thread() noexcept {
#if defined(__x86_64__) && defined(__GLIBC__)
  // NOTE: glibc keeps the thread's pthread_t at %fs:0x10 (tcbhead_t::self); this is exactly
  // what pthread_self() returns, saving a call through the PLT on the dispatch path.
  pthread_t self;
  asm("mov %%fs:0x10, %0" : "=r"(self));
  return self;
#else
  return ::pthread_self();
#endif
}

/// The slot a thread tries first. glibc's pthread_t is the address of the thread's control
/// block at the top of its stack mapping, so threads' values lie a stack size apart: bits
/// 12..15 tell neighbouring threads apart, and a clash only sends one of them to claim_slot.
inline std::size_t first_slot_of(pthread_t self) noexcept {
#if defined(__x86_64__) && defined(__GLIBC__)
  return (static_cast<std::uintptr_t>(self) >> 12) & 15;
#else
  return static_cast<std::size_t>((static_cast<std::uintptr_t>(self) * 0x9E3779B97F4A7C15ULL) >> 60);
#endif
}
/// first_slot_of(self) * sizeof(ReaderSlot), in two instructions.
inline std::size_t first_slot_offset_of(pthread_t self) noexcept {
  static_assert(sizeof(ReaderSlot) == 64 && SlotBlock::size == 16);
#if defined(__x86_64__) && defined(__GLIBC__)
  return (static_cast<std::uintptr_t>(self) >> 6) & (15 << 6);
#else
  return first_slot_of(self) * sizeof(ReaderSlot);
#endif
}

/// The registered node with `id` in `nodes` (sorted by id), or nodes.end().
template <class Nodes>
auto find_registered(Nodes& nodes, std::uint64_t id) noexcept {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), id,
                             [](const HandlerNode* node, std::uint64_t key) { return node->id < key; });
  return (it != nodes.end() && (*it)->id == id) ? it : nodes.end();
}

class HandlerRegistry final : public SubscriptionTarget {
public:
  static constexpr std::size_t slots_per_block = SlotBlock::size;

  /// `cancelled` is the thunk a cancelled handler's invoke is replaced with; for synchronous
  /// handlers it is a no-op of the handler signature, so dispatch need not test a flag.
  explicit HandlerRegistry(ErasedFn cancelled) : cancelled_(cancelled) {
    TypeTable* table = new_table(16);
    table_.store(table, std::memory_order_relaxed);
    dispatch_table_.store(table, std::memory_order_relaxed);
  }

  HandlerRegistry(const HandlerRegistry&) = delete;
  HandlerRegistry& operator=(const HandlerRegistry&) = delete;

  ~HandlerRegistry() override {
    // The watch is in the list of the module whose code built us; this destructor is that
    // module's too (reached through the vtable: TargetLink deletes a SubscriptionTarget*).
    if (watch_.changed != nullptr) unwatch_observer(watch_);
    for (auto& channel : channels_) ::operator delete(channel->list.load(std::memory_order_relaxed));
    for (auto& retired : retired_) ::operator delete(retired.list);
    // Every node is registered (in by_id_), retired or pinned, and in only one of them.
    HandlerNode* dead = nullptr;
    for (auto* node : by_id_) {
      node->next = dead;
      dead = node;
    }
    for (HandlerNode* chain : {retired_nodes_, pinned_nodes_}) {
      while (HandlerNode* node = chain) {
        chain = node->next;
        node->next = dead;
        dead = node;
      }
    }
    destroy_all(dead);
    for (std::size_t i = 0; i < spare_lists_count_; ++i) ::operator delete(spare_lists_[i]);
    for (auto* channel : channels_) delete channel;
    for (auto* channel : forgotten_) delete channel;
    for (auto* table : old_tables_) ::operator delete(table);
    ::operator delete(table_.load(std::memory_order_relaxed));
    for (auto* block = first_block_.next.load(std::memory_order_relaxed); block != nullptr;) {
      auto* next = block->next.load(std::memory_order_relaxed);
      delete block;
      block = next;
    }
  }

  [[nodiscard]] ErasedFn cancelled_marker() const noexcept { return cancelled_; }

  /// What the front end's failure path needs (EventMediator: its FailureSink), found from a
  /// reader slot (`of(slot)`), so that the handler loop need not keep the front end in a register.
  void set_failure_context(void* context) noexcept { failure_context_ = context; }
  [[nodiscard]] static void* failure_context_of(const ReaderSlot& slot) noexcept {
    return slot.home->registry->failure_context_;
  }

  // ---- reading (any thread, no lock) -------------------------------------------------------

  /// The channel for a type seen before through this very type_info object, or null.
  [[nodiscard]] Channel* find(const std::type_info& type) const noexcept {
    const TypeTable* table = table_.load(std::memory_order_acquire);
    const char* entries = reinterpret_cast<const char*>(table->entries());
    std::size_t offset = table->offset_of(&type);
    // The first probe on its own: the common hit is straight-line code.
    const auto& first = *reinterpret_cast<const TableEntry*>(entries + offset);
    if (first.key.load(std::memory_order_acquire) == &type) [[likely]] {
      return first.channel.load(std::memory_order_relaxed);
    }
    return probe(type, entries, offset, table->offset_mask);
  }

  /// find() past its first probe.
  [[gnu::noinline]] static Channel* probe(const std::type_info& type, const char* entries, std::size_t offset,
                                          std::size_t offset_mask) noexcept {
    for (;;) {
      const auto& entry = *reinterpret_cast<const TableEntry*>(entries + offset);
      const std::type_info* key = entry.key.load(std::memory_order_acquire);
      if (key == &type) {
        Channel* channel = entry.channel.load(std::memory_order_relaxed);
        if (channel == nullptr) __builtin_unreachable();  // stored before its key
        return channel;
      }
      if (key == nullptr) return nullptr;
      offset = (offset + sizeof(TableEntry)) & offset_mask;
    }
  }

  /// Makes dispatch_table_ follow the installed metrics observer (find_first_probe finds
  /// nothing while one is installed), and metrics_observer() return it. Once, by the owner.
  void watch_metrics_observer() noexcept {
    watch_.changed = &observer_changed;
    watch_observer(watch_);
  }

  /// The observer installed (in the module that called watch_metrics_observer), or null.
  [[nodiscard]] MetricsObserver* metrics_observer() const noexcept {
    return const_cast<MetricsObserver*>(static_cast<const MetricsObserver*>(observer_.load(std::memory_order_acquire)));
  }

  /// find(), but only where the type's first probe lands (null otherwise): the hit path of
  /// dispatch stays free of calls, so it needs no stack frame. Null for every type while a
  /// metrics observer is installed (see watch_metrics_observer), so that the caller's miss
  /// path is also its observed path.
  [[nodiscard]] Channel* find_first_probe(const std::type_info& type) const noexcept {
    const TypeTable* table = dispatch_table_.load(std::memory_order_acquire);
    const auto& entry = *reinterpret_cast<const TableEntry*>(reinterpret_cast<const char*>(table->entries()) +
                                                              table->offset_of(&type));
    if (entry.key.load(std::memory_order_acquire) != &type) return nullptr;
    Channel* channel = entry.channel.load(std::memory_order_relaxed);
    if (channel == nullptr) __builtin_unreachable();  // stored before its key
    return channel;
  }

  /// The channel for an event's type, created on first sight (may lock and allocate).
  [[gnu::noinline]] Channel* channel_for(const AbstractEvent& event) {
    const std::type_info& type = typeid(event);
    if (auto* channel = find(type)) return channel;
    const std::lock_guard lock(writer_);
    return channel_locked(type, event.kind());
  }

  /// Holds a reader slot while a dispatch walks one handler list.
  class ReadGuard {
  public:
    /// Claims a slot and protects the channel's current list; `list()` is null if it is empty.
    ReadGuard(HandlerRegistry& registry, const Channel& channel, HandlerList* seen) noexcept {
      const pthread_t self = current_thread();
      slot_ = reinterpret_cast<ReaderSlot*>(reinterpret_cast<char*>(registry.first_block_.slots) +
                                            first_slot_offset_of(self));
      HandlerList* expected = nullptr;
      if (slot_->hazard.compare_exchange_strong(expected, seen, std::memory_order_seq_cst)) [[likely]] {
        slot_->owner.store(self, std::memory_order_relaxed);
        // Validate: the list may have been replaced (and retired) before our hazard showed.
        HandlerList* now = channel.list.load(std::memory_order_seq_cst);
        if (now != seen) [[unlikely]] now = revalidate(*slot_, channel, now);
        list_ = now;
      } else {
        // One call that returns both, so that nothing here has to outlive a call but the slot.
        const Protected claimed = registry.claim_and_protect(self, channel, seen);
        slot_ = claimed.slot;
        list_ = claimed.list;
      }
#if defined(__GNUC__)
      // NOTE: an empty asm that "changes" slot_: otherwise g++ keeps &slot_->hazard (used by
      // the CAS above and the release in the destructor) in a register of its own across
      // every handler call: a push, a pop and an lea per dispatch for nothing.
      asm("" : "+r"(slot_));
#endif
    }
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;
    ~ReadGuard() {
      // The owner may stay: a later claimer stores its own before its first enter(), and
      // cancel_and_wait reads owner only after seeing that enter().
      slot_->hazard.store(nullptr, std::memory_order_release);
    }

    [[nodiscard]] const HandlerList* list() const noexcept { return list_; }
    /// The slot, for a failure path kept out of line (see leave(ReaderSlot&)).
    [[nodiscard]] ReaderSlot& slot() const noexcept { return *slot_; }
    /// Announces the handler about to be called; read its invoke pointer only after this.
    /// Where AsymmetricFence is supported, cancel_and_wait's fence supplies the store-load
    /// ordering, so this is a plain store.
    void enter(HandlerNode* node) noexcept {
      if constexpr (AsymmetricFence::supported) {
        slot_->current.store(node, std::memory_order_release);
        std::atomic_signal_fence(std::memory_order_seq_cst);
      } else {
        slot_->current.store(node, std::memory_order_seq_cst);
      }
    }
    /// Announces that no handler is being called (before user code such as the error handler).
    void leave() noexcept { leave(*slot_); }
    /// leave() for the guard holding `slot`: lets an out-of-line callee take the slot by value,
    /// so that the guard itself stays in registers.
    static void leave(ReaderSlot& slot) noexcept { slot.current.store(nullptr, std::memory_order_release); }

  protected:
    ReaderSlot* slot_;
    HandlerList* list_;
  };

  /// A claimed slot and the list it protects (null: the channel is empty).
  struct Protected {
    ReaderSlot* slot;
    HandlerList* list;
  };

  /// ReadGuard's way when its first slot was taken: claims another, protects and validates.
  [[gnu::noinline]] Protected claim_and_protect(pthread_t self, const Channel& channel, HandlerList* seen) noexcept {
    ReaderSlot* slot = claim_slot(self, seen, first_slot_of(self));
    HandlerList* now = channel.list.load(std::memory_order_seq_cst);
    if (now != seen) now = revalidate(*slot, channel, now);
    return {slot, now};
  }

  /// ReadGuard's retry: protects `seen` until the channel's list stays what the slot holds.
  [[gnu::noinline]] static HandlerList* revalidate(ReaderSlot& slot, const Channel& channel, HandlerList* seen) noexcept {
    for (;;) {
      if (seen == nullptr) return nullptr;
      slot.hazard.store(seen, std::memory_order_seq_cst);
      HandlerList* now = channel.list.load(std::memory_order_seq_cst);
      if (now == seen) return seen;
      seen = now;
    }
  }

  /// The ReadGuard of an asynchronous dispatch (kept apart so that the synchronous hot path
  /// stays as it is). Its calls outlive the thread that started them (they suspend), so the
  /// slot names the Task chain running the dispatch instead: a Task handler cancelling itself,
  /// on whatever thread it resumed, is not waited for. A dispatch of another coroutine type has
  /// no chain we can see (`unknown_chain`): cancel_and_wait always waits for its calls.
  class AsyncReadGuard : public ReadGuard {
  public:
    using ReadGuard::ReadGuard;
    AsyncReadGuard(const AsyncReadGuard&) = delete;
    AsyncReadGuard& operator=(const AsyncReadGuard&) = delete;
    ~AsyncReadGuard() {
      // A synchronous claimer (the hot path) does not write the chain: clear it.
      slot_->chain.store(nullptr, std::memory_order_relaxed);
      // Suspended async dispatches can fill many blocks: point the next claim at this one.
      slot_->home->registry->spare_hint_.store(slot_->home, std::memory_order_release);
    }

    /// Names the thread and the chain now running the dispatch: call it before the first
    /// enter() and again after every resumption (which may be on another thread). Both are
    /// read by cancel_and_wait only after it has seen an enter() that follows this.
    void running_here(const void* chain) noexcept {
      slot_->owner.store(current_thread(), std::memory_order_relaxed);
      slot_->chain.store(chain != nullptr ? chain : &unknown_chain, std::memory_order_relaxed);
    }
    /// Announces the handler about to be called (after running_here()).
    void enter(HandlerNode* node) noexcept { slot_->current.store(node, std::memory_order_seq_cst); }
  };

  // ---- writing (any thread, writer lock) ---------------------------------------------------

  /// Takes over `node`, routes it, and returns its registration id. Strong guarantee: if an
  /// allocation throws, the registry is as it was (the caller still owns `node`).
  std::uint64_t add(HandlerNode* node, const std::type_info& type, EventKind kind, Route route) {
    HandlerNode* dead = nullptr;
    std::uint64_t id = 0;
    {
      const std::lock_guard lock(writer_);
      // Everything that can throw comes first; nothing visible changes until it has passed.
      by_id_.reserve(by_id_.size() + 1);
      Channel* exact_channel = route == Route::exact ? channel_locked(type, kind) : nullptr;
      std::vector<HandlerNode*>& route_list =
          exact_channel != nullptr ? exact_channel->exact : catch_alls_[static_cast<int>(route)];
      route_list.reserve(route_list.size() + 1);
      node->id = last_id_ + 1;
      route_list.push_back(node);  // cannot throw: reserved; rebuilt lists must see the node
      PendingLists fresh(*this);
      try {
        if (exact_channel != nullptr) {
          fresh.add(*exact_channel, build_list(*exact_channel));
        } else {
          for (auto& channel : channels_) {
            if (receives(*channel, route)) fresh.add(*channel, build_list(*channel));
          }
        }
        retired_.reserve(retired_.size() + fresh.size());
      } catch (...) {
        route_list.pop_back();
        throw;  // `fresh` frees the lists it holds
      }
      // Commit: nothing below throws.
      id = ++last_id_;
      by_id_.push_back(node);
      fresh.publish();
      // Freeing lists scans every reader slot: a registration leaves a few retired lists to
      // the next write, but not cancelled nodes (their closures go on the next write).
      if (retired_nodes_ != nullptr || pinned_nodes_ != nullptr || retired_.size() >= lists_left_by_add) {
        reclaim(dead);
      }
    }
    destroy_all(dead);
    return id;
  }

  void cancel(std::uint64_t id, bool wait) noexcept override {
    HandlerNode* dead = nullptr;
    HandlerNode* node = nullptr;
    bool may_run = false;
    {
      const std::lock_guard lock(writer_);
      if (auto found = find_registered(by_id_, id); found != by_id_.end()) {
        node = *found;
        by_id_.erase(found);
        // Stops calls at once, on this thread and in any dispatch that reads invoke later.
        node->invoke.store(cancelled_, std::memory_order_seq_cst);
        retire_node(node, unroute(node));
      } else {
        // Cancelled before: a retired node stays findable until it is freed, so that a
        // cancel_and_wait after cancel() still waits for its running calls.
        node = find_retired(id);
      }
      if (node != nullptr) {
        if (wait) ++node->waiters;  // holds the address while we wait on it
        reclaim(dead);
        may_run = wait && may_be_named(*node);  // a list a reader holds may name it
      }
    }
    destroy_all(dead);
    if (node == nullptr || !wait) return;
    if (may_run) {
      // After this, every dispatch either sees the cancelled marker or shows `node` as current.
      if constexpr (AsymmetricFence::supported) AsymmetricFence::heavy();
      wait_for_calls(node);
    }
    {
      const std::lock_guard lock(writer_);
      --node->waiters;
      reclaim(dead);
    }
    destroy_all(dead);
  }

  /// Forgets every event type whose type_info lies in `module` and waits until no handler
  /// whose code lies there is left, so that the module can be unloaded (see
  /// EventMediator::forget_module). Throws EventError, changing nothing, while such a handler
  /// is still registered, or while a handler of the program is registered for such a type.
  void forget_module(const ModuleRanges& module) {
    if (module.empty()) throw EventError("forget_module: the address lies in no loaded module");
    for (unsigned spins = 0;; ++spins) {
      HandlerNode* dead = nullptr;
      bool lingering = false;  // cancelled handlers of the module that a dispatch still reads
      {
        const std::lock_guard lock(writer_);
        for (const HandlerNode* node : by_id_) {
          if (module.contains(node->destroy)) {
            throw EventError("forget_module: a handler registered from this module is still registered; "
                             "cancel its subscriptions first");
          }
        }
        for (const HandlerNode* chain : {retired_nodes_, pinned_nodes_}) {
          for (const HandlerNode* node = chain; node != nullptr; node = node->next) {
            if (module.contains(node->destroy)) lingering = true;
          }
        }
        if (!lingering) forget_types_locked(module);
        reclaim(dead);
      }
      destroy_all(dead);
      if (!lingering) return;
      if (spins < 64) {
        ::sched_yield();
      } else {
        const timespec pause{0, 100'000};
        ::nanosleep(&pause, nullptr);
      }
    }
  }

  [[nodiscard]] bool is_active(std::uint64_t id) const noexcept override {
    const std::lock_guard lock(writer_);
    return find_registered(by_id_, id) != by_id_.end();
  }

private:
  struct TableEntry {
    std::atomic<const std::type_info*> key{nullptr};
    std::atomic<Channel*> channel{nullptr};
  };
  struct TypeTable {
    std::size_t offset_mask;  // (capacity - 1) * sizeof(TableEntry): probing works in bytes
    std::size_t used;

    [[nodiscard]] std::size_t capacity() const noexcept { return offset_mask / sizeof(TableEntry) + 1; }
    [[nodiscard]] TableEntry* entries() noexcept { return reinterpret_cast<TableEntry*>(this + 1); }
    [[nodiscard]] const TableEntry* entries() const noexcept {
      return reinterpret_cast<const TableEntry*>(this + 1);
    }
    /// Byte offset of the first slot to probe for `type`: type_info objects are 8-byte aligned
    /// and laid out apart, so the address bits above 3 spread well; (address >> 3) * 16,
    /// masked, is (address << 1) masked, which saves the dispatch path a shift.
    [[nodiscard]] std::size_t offset_of(const std::type_info* type) const noexcept {
      static_assert(sizeof(TableEntry) == 16);
      return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(type) << 1) & offset_mask;
    }
  };

  /// What find_first_probe reads while an observer is installed: one empty entry, no key.
  struct ObservedTable {
    TypeTable header{0, 0};
    TableEntry entry;
  };
  static_assert(sizeof(TypeTable) == 16 && alignof(TableEntry) <= 16, "entry must follow the header directly");
  static const ObservedTable observed_table_;  // constant-initialized, below the class

  /// Swaps in `table` as the table; dispatch reads it too unless an observer is installed.
  void publish_table(TypeTable* table) noexcept {  // writer lock
    table_.store(table, std::memory_order_release);
    if (observer_.load(std::memory_order_relaxed) == nullptr) dispatch_table_.store(table, std::memory_order_release);
  }

  /// The watch's callback: set_metrics_observer (under its lock) installed `observer`.
  static void observer_changed(ObserverWatch& watch, const void* observer) noexcept {
    HandlerRegistry& self = *static_cast<Watch&>(watch).registry;
    const std::lock_guard lock(self.writer_);  // against publish_table
    // The observer first: a dispatch that sees the empty table (acquire) sees it too.
    self.observer_.store(observer, std::memory_order_relaxed);
    const TypeTable* table = observer != nullptr ? &observed_table_.header : self.table_.load(std::memory_order_relaxed);
    self.dispatch_table_.store(table, std::memory_order_release);
  }

  static TypeTable* new_table(std::size_t capacity) {
    void* memory = ::operator new(sizeof(TypeTable) + capacity * sizeof(TableEntry));
    auto* table = new (memory) TypeTable{(capacity - 1) * sizeof(TableEntry), 0};
    for (std::size_t i = 0; i < capacity; ++i) new (&table->entries()[i]) TableEntry{};
    return table;
  }

  /// Makes room for one more key: afterwards place() cannot fail. May throw.
  void reserve_table_slot() {
    TypeTable* table = table_.load(std::memory_order_relaxed);
    if ((table->used + 1) * 2 <= table->capacity()) return;
    old_tables_.reserve(old_tables_.size() + 1);
    TypeTable* bigger = new_table(table->capacity() * 2);
    for (std::size_t i = 0; i < table->capacity(); ++i) {
      const auto* key = table->entries()[i].key.load(std::memory_order_relaxed);
      if (key != nullptr) place(*bigger, key, table->entries()[i].channel.load(std::memory_order_relaxed));
    }
    // Readers may still be probing the old table: it is freed with the registry.
    old_tables_.push_back(table);
    publish_table(bigger);
  }

  static void place(TypeTable& table, const std::type_info* type, Channel* channel) noexcept {
    std::size_t i = table.offset_of(type) / sizeof(TableEntry);
    while (table.entries()[i].key.load(std::memory_order_relaxed) != nullptr) i = (i + 1) % table.capacity();
    table.entries()[i].channel.store(channel, std::memory_order_relaxed);
    table.entries()[i].key.store(type, std::memory_order_release);
    ++table.used;
  }

  /// The channel of `type`, created (or aliased) on first sight. Strong guarantee.
  Channel* channel_locked(const std::type_info& type, EventKind kind) {
    if (auto* channel = find(type)) return channel;
    reserve_table_slot();
    // The same type through another library's type_info: found by name, remembered as an alias.
    const auto at = channel_position(type);
    if (at != channels_.end() && std::type_index(*(*at)->type) == std::type_index(type)) {
      place(*table_.load(std::memory_order_relaxed), &type, *at);
      return *at;
    }
    const auto index = at - channels_.begin();
    channels_.reserve(channels_.size() + 1);
    retired_.reserve(retired_.size() + 1);
    Channel* raw = new Channel();
    raw->type = &type;
    raw->kind = kind;
    HandlerList* list = nullptr;
    try {
      list = build_list(*raw);  // its catch-alls
    } catch (...) {
      delete raw;
      throw;
    }
    // Commit: nothing below throws.
    channels_.insert(channels_.begin() + index, raw);  // reserved: pointers move, no allocation
    publish_list(*raw, list);
    place(*table_.load(std::memory_order_relaxed), &type, raw);
    return raw;
  }

  /// Where `type` is, or would be inserted, in channels_ (sorted by std::type_index).
  [[nodiscard]] std::vector<Channel*>::iterator channel_position(const std::type_info& type) noexcept {
    return std::lower_bound(channels_.begin(), channels_.end(), std::type_index(type),
                            [](const Channel* channel, std::type_index key) { return std::type_index(*channel->type) < key; });
  }

  /// Drops every table key in `module`; a channel whose own type_info lies there moves to
  /// another key of the same type, or is retired if it has none. Strong guarantee.
  void forget_types_locked(const ModuleRanges& module) {
    TypeTable* table = table_.load(std::memory_order_relaxed);
    std::vector<std::pair<Channel*, const std::type_info*>> moves;  // channel -> its new type
    std::vector<Channel*> gone;
    std::size_t keys_left = 0;
    for (auto& channel : channels_) {
      if (!module.contains(channel->type)) continue;
      const std::type_info* other = nullptr;
      for (std::size_t i = 0; i < table->capacity(); ++i) {
        const auto* key = table->entries()[i].key.load(std::memory_order_relaxed);
        if (key != nullptr && !module.contains(key) &&
            table->entries()[i].channel.load(std::memory_order_relaxed) == channel) {
          other = key;
        }
      }
      if (other != nullptr) {
        moves.emplace_back(channel, other);
      } else if (!channel->exact.empty()) {
        throw EventError("forget_module: handlers are still registered for event type '" +
                         escape_for_log(channel->type->name()) + "' of this module");
      } else {
        gone.push_back(channel);
      }
    }
    for (std::size_t i = 0; i < table->capacity(); ++i) {
      const auto* key = table->entries()[i].key.load(std::memory_order_relaxed);
      if (key != nullptr && !module.contains(key)) ++keys_left;
    }
    if (keys_left == table->used) return;  // nothing of the module was seen
    // Allocate everything first.
    TypeTable* fresh = new_table(table->capacity());
    try {
      old_tables_.reserve(old_tables_.size() + 1);
      retired_.reserve(retired_.size() + gone.size());
      forgotten_.reserve(forgotten_.size() + gone.size());
    } catch (...) {
      ::operator delete(fresh);
      throw;
    }
    for (std::size_t i = 0; i < table->capacity(); ++i) {
      const auto* key = table->entries()[i].key.load(std::memory_order_relaxed);
      if (key != nullptr && !module.contains(key)) {
        place(*fresh, key, table->entries()[i].channel.load(std::memory_order_relaxed));
      }
    }
    for (auto& [channel, type] : moves) channel->type = type;
    for (Channel* channel : gone) {
      publish_list(*channel, nullptr);  // its catch-alls; a late reader finds an empty channel
      auto it = std::find(channels_.begin(), channels_.end(), channel);
      forgotten_.push_back(*it);  // a reader may still hold the Channel*
      channels_.erase(it);
    }
    // Readers may still be probing the old table: it is freed with the registry.
    old_tables_.push_back(table);
    publish_table(fresh);
  }

  static bool receives(const Channel& channel, Route route) noexcept {
    switch (route) {
      case Route::all_events: return true;
      case Route::all_domain: return channel.kind == EventKind::domain;
      case Route::all_integration: return channel.kind == EventKind::integration;
      case Route::exact: return false;
    }
    return false;
  }

  /// A new list for `channel` (its exact handlers, then the catch-alls it receives in
  /// registration order), not yet published; null when it would be empty. May throw.
  HandlerList* build_list(const Channel& channel) {
    const std::size_t exact = channel.exact.size();
    if (catch_alls_[1].empty() && catch_alls_[2].empty() && catch_alls_[3].empty()) [[likely]] {
      if (exact == 0) return nullptr;
      HandlerList* list = allocate_list(exact);
      std::memcpy(reinterpret_cast<HandlerNode**>(list + 1), channel.exact.data(), exact * sizeof(HandlerNode*));
      return list;
    }
    return build_list_with_catch_alls(channel);
  }

  /// build_list() where catch-alls are registered.
  [[gnu::noinline]] HandlerList* build_list_with_catch_alls(const Channel& channel) {
    // The catch-all routes this channel receives, each already in registration order.
    const std::vector<HandlerNode*>* routes[3];
    std::size_t route_count = 0;
    std::size_t size = channel.exact.size();
    for (int r = 1; r <= 3; ++r) {
      if (receives(channel, static_cast<Route>(r)) && !catch_alls_[r].empty()) {
        routes[route_count++] = &catch_alls_[r];
        size += catch_alls_[r].size();
      }
    }
    if (size == 0) return nullptr;
    HandlerList* list = allocate_list(size);
    auto** out = reinterpret_cast<HandlerNode**>(list + 1);
    if (!channel.exact.empty()) std::memcpy(out, channel.exact.data(), channel.exact.size() * sizeof(HandlerNode*));
    out += channel.exact.size();
    // Merge the routes by registration id (ids only grow, so each route is sorted).
    std::size_t at[3] = {0, 0, 0};
    for (;;) {
      std::size_t best = route_count;
      for (std::size_t i = 0; i < route_count; ++i) {
        if (at[i] < routes[i]->size() &&
            (best == route_count || (*routes[i])[at[i]]->id < (*routes[best])[at[best]]->id)) {
          best = i;
        }
      }
      if (best == route_count) break;
      *out++ = (*routes[best])[at[best]++];
    }
    return list;
  }

  /// Memory for a list of `size` handlers, null-terminated: a recycled block if one fits. May throw.
  HandlerList* allocate_list(std::size_t size) {
    // Newest first: the list freed by the last write is usually the size of the next one.
    for (std::size_t i = spare_lists_count_; i-- > 0;) {
      HandlerList* spare = spare_lists_[i];
      if (spare->capacity >= size && spare->capacity <= 2 * size + 4) {
        spare_lists_[i] = spare_lists_[--spare_lists_count_];
        spare->size = size;
        reinterpret_cast<HandlerNode**>(spare + 1)[size] = nullptr;
        return spare;
      }
    }
    void* memory = ::operator new(sizeof(HandlerList) + (size + 1) * sizeof(HandlerNode*));
    auto* list = new (memory) HandlerList{size, size};
    reinterpret_cast<HandlerNode**>(list + 1)[size] = nullptr;
    return list;
  }

  /// Gives a list's memory back for reuse; when the spares are full the oldest goes, so they
  /// follow the sizes in use.
  void free_list(HandlerList* list) noexcept {
    if (list == nullptr) return;
    if (spare_lists_count_ < max_spare_lists) {
      spare_lists_[spare_lists_count_++] = list;
      return;
    }
    const std::size_t victim = evict_next_++ % max_spare_lists;
    ::operator delete(spare_lists_[victim]);
    spare_lists_[victim] = list;
  }

  /// Swaps `list` in as what dispatch reads; the old one waits in retired_ for its readers.
  /// Needs one free place in retired_ (reserved by the caller).
  void publish_list(Channel& channel, HandlerList* list) noexcept {
    if (HandlerList* old = channel.list.exchange(list, std::memory_order_seq_cst)) {
      retired_.push_back({old, ++retire_seq_});
    }
  }

  /// Lists built for several channels, published together or (if one cannot be built) freed.
  class PendingLists {
  public:
    explicit PendingLists(HandlerRegistry& registry) noexcept : registry_(registry) {}
    PendingLists(const PendingLists&) = delete;
    PendingLists& operator=(const PendingLists&) = delete;
    ~PendingLists() {
      if (first_.list != nullptr) registry_.free_list(first_.list);
      for (auto& [channel, list] : more_) registry_.free_list(list);
    }
    void add(Channel& channel, HandlerList* list) {
      if (first_.channel == nullptr) {
        first_ = {&channel, list};  // the common case (an exact route): no allocation
        return;
      }
      try {
        more_.push_back({&channel, list});
      } catch (...) {
        registry_.free_list(list);
        throw;
      }
    }
    [[nodiscard]] std::size_t size() const noexcept { return (first_.channel != nullptr ? 1 : 0) + more_.size(); }
    void publish() noexcept {
      if (first_.channel != nullptr) registry_.publish_list(*first_.channel, std::exchange(first_.list, nullptr));
      for (auto& [channel, list] : more_) registry_.publish_list(*channel, std::exchange(list, nullptr));
    }

  private:
    struct Entry {
      Channel* channel = nullptr;
      HandlerList* list = nullptr;
    };
    HandlerRegistry& registry_;
    Entry first_;
    std::vector<Entry> more_;
  };

  /// Rebuilds `channel`'s list after a handler left it; false if it ran out of memory. Never
  /// throws: without memory the old list stays published; the handler that left is cancelled
  /// (its thunk is the no-op marker), and the next rebuild of the channel drops it.
  bool rebuild_after_removal(Channel& channel) noexcept {
    try {
      retired_.reserve(retired_.size() + 1);
      publish_list(channel, build_list(channel));
      return true;
    } catch (...) {
      return false;
    }
  }

  /// Takes `node` out of its route and rebuilds the lists that named it; false if one of them
  /// could not be rebuilt (and still names it).
  bool unroute(HandlerNode* node) noexcept {
    for (auto& channel : channels_) {
      auto& exact = channel->exact;
      if (auto it = std::find(exact.begin(), exact.end(), node); it != exact.end()) {
        exact.erase(it);
        return rebuild_after_removal(*channel);
      }
    }
    bool rebuilt = true;
    for (int r = 1; r <= 3; ++r) {
      auto& list = catch_alls_[r];
      if (auto it = std::find(list.begin(), list.end(), node); it != list.end()) {
        list.erase(it);
        for (auto& channel : channels_) {
          if (receives(*channel, static_cast<Route>(r)) && !rebuild_after_removal(*channel)) rebuilt = false;
        }
        break;
      }
    }
    return rebuilt;
  }

  /// Puts a cancelled, unrouted node where it waits to be freed: the retired chain if no
  /// published list names it any more, else the pinned chain.
  void retire_node(HandlerNode* node, bool unnamed) noexcept {
    if (unnamed) {
      append_retired(node);
    } else {
      node->pinned = true;
      node->next = pinned_nodes_;
      pinned_nodes_ = node;
    }
  }

  /// Appends `node` to the retired chain, marked with the newest retire sequence number (every
  /// list that named it has been retired by now).
  void append_retired(HandlerNode* node) noexcept {
    node->last_list = retire_seq_;
    node->next = nullptr;
    *retired_tail_ = node;
    retired_tail_ = &node->next;
  }

  /// The cancelled node with `id` not freed yet, or null.
  HandlerNode* find_retired(std::uint64_t id) const noexcept {
    for (HandlerNode* chain : {retired_nodes_, pinned_nodes_}) {
      for (HandlerNode* node = chain; node != nullptr; node = node->next) {
        if (node->id == id) return node;
      }
    }
    return nullptr;
  }

  /// Whether a list that a reader may still hold names the retired `node` (as of the last reclaim).
  bool may_be_named(const HandlerNode& node) const noexcept { return node.pinned || named_by_a_held_list(node); }

  /// Whether a retired list a reader held at the last reclaim names the retired `node`.
  bool named_by_a_held_list(const HandlerNode& node) const noexcept {
    if (node.last_list < oldest_held_) [[likely]] return false;  // every list that may name it is freed
    return named_by_a_held_list_slow(node);
  }

  /// named_by_a_held_list() while readers hold lists retired up to `node`'s last one: looks,
  /// so that a long dispatch (a suspended one, say) keeps only the nodes its list names.
  [[gnu::noinline]] bool named_by_a_held_list_slow(const HandlerNode& node) const noexcept {
    for (const RetiredList& retired : retired_) {
      if (retired.seq > node.last_list) break;  // retired after the node left every list
      if (std::find(retired.list->begin(), retired.list->end(), &node) != retired.list->end()) return true;
    }
    return false;
  }

  /// Frees the retired lists no reader holds, and collects into `dead` the retired nodes no
  /// list left can name (and no cancel_and_wait holds). Never throws, never allocates.
  void reclaim(HandlerNode*& dead) noexcept {
    std::size_t kept = 0;
    if (!any_reader()) [[likely]] {  // one pass over the slots frees them all
      for (const RetiredList& retired : retired_) free_list(retired.list);
    } else {
      for (std::size_t i = 0; i < retired_.size(); ++i) {
        const RetiredList retired = retired_[i];
        if (held_by_a_reader(retired.list)) {
          retired_[kept++] = retired;
        } else {
          free_list(retired.list);
        }
      }
    }
    retired_.erase(retired_.begin() + static_cast<std::ptrdiff_t>(kept), retired_.end());
    // retired_ is in retire order: its first list is the oldest one still held.
    oldest_held_ = kept != 0 ? retired_.front().seq : ~std::uint64_t{0};
    if (pinned_nodes_ != nullptr) [[unlikely]] unpin_unnamed();
    HandlerNode** link = &retired_nodes_;
    while (HandlerNode* node = *link) {
      if (node->waiters != 0 || named_by_a_held_list(*node)) {
        link = &node->next;
        continue;
      }
      *link = node->next;
      node->next = dead;
      dead = node;
    }
    retired_tail_ = link;
  }

  /// Moves the pinned nodes no published list names any more to the retired chain.
  [[gnu::noinline]] void unpin_unnamed() noexcept {
    HandlerNode** link = &pinned_nodes_;
    while (HandlerNode* node = *link) {
      if (named_by_a_published_list(node)) {
        link = &node->next;
        continue;
      }
      *link = node->next;
      node->pinned = false;
      append_retired(node);
    }
  }

  bool named_by_a_published_list(const HandlerNode* node) const noexcept {
    for (const Channel* channel : channels_) {
      if (const HandlerList* list = channel->list.load(std::memory_order_relaxed)) {
        if (std::find(list->begin(), list->end(), node) != list->end()) return true;
      }
    }
    return false;
  }

  /// Whether any dispatch is reading a list (of any channel) right now.
  bool any_reader() const noexcept {
    for (const SlotBlock* block = &first_block_; block; block = block->next.load(std::memory_order_acquire)) {
#pragma GCC unroll 16
      for (const auto& slot : block->slots) {
        if (slot.hazard.load(std::memory_order_seq_cst) != nullptr) return true;
      }
    }
    return false;
  }

  bool held_by_a_reader(const HandlerList* list) const noexcept {
    for (const SlotBlock* block = &first_block_; block; block = block->next.load(std::memory_order_acquire)) {
#pragma GCC unroll 16
      for (const auto& slot : block->slots) {
        if (slot.hazard.load(std::memory_order_seq_cst) == list) return true;
      }
    }
    return false;
  }

  static void destroy_all(HandlerNode*& dead) noexcept {
    // Outside the writer lock: a callable's destructor may cancel other subscriptions.
    while (HandlerNode* node = dead) {
      dead = node->next;
      node->destroy(node);
    }
  }

  void wait_for_calls(const HandlerNode* node) const noexcept {
    const pthread_t self = current_thread();
    const void* chain = current_coroutine_chain();
    for (const SlotBlock* block = &first_block_; block; block = block->next.load(std::memory_order_acquire)) {
      for (const auto& slot : block->slots) {
        for (unsigned spins = 0;; ++spins) {
          if (slot.current.load(std::memory_order_seq_cst) != node) break;
          if (slot.hazard.load(std::memory_order_seq_cst) == nullptr) break;
          // A synchronous call runs on its owner thread; an asynchronous one on its chain.
          const void* slot_chain = slot.chain.load(std::memory_order_acquire);
          if (slot_chain == nullptr ? ::pthread_equal(slot.owner.load(std::memory_order_acquire), self) != 0
                                    : slot_chain == chain) {
            break;
          }
          if (spins < 64) {
            ::sched_yield();
          } else {
            const timespec pause{0, 50'000};
            ::nanosleep(&pause, nullptr);
          }
        }
      }
    }
  }

  // Threads start at different slots (by a hash of their id) so that two dispatching threads
  // rarely meet; this is the way on when the first slot was taken.
  [[gnu::noinline]] ReaderSlot* claim_slot(pthread_t self, HandlerList* list, std::size_t start) noexcept {
    auto claim_in = [&](SlotBlock& block) -> ReaderSlot* {
      for (std::size_t k = 0; k < slots_per_block; ++k) {
        ReaderSlot& slot = block.slots[(start + k) % slots_per_block];
        HandlerList* expected = nullptr;
        if (slot.hazard.load(std::memory_order_relaxed) == nullptr &&
            slot.hazard.compare_exchange_strong(expected, list, std::memory_order_seq_cst)) {
          slot.owner.store(self, std::memory_order_relaxed);
          return &slot;
        }
      }
      return nullptr;
    };
    // With thousands of suspended dispatches a scan from the first block would cost O(n) per
    // claim: try the block a slot was last freed in (or last added) first.
    // Acquire: the hint may name a block another thread has just built.
    if (SlotBlock* hint = spare_hint_.load(std::memory_order_acquire)) {
      if (ReaderSlot* slot = claim_in(*hint)) return slot;
    }
    for (SlotBlock* block = &first_block_;;) {
      if (ReaderSlot* slot = claim_in(*block)) return slot;
      SlotBlock* next = block->next.load(std::memory_order_acquire);
      if (next == nullptr) {
        // More dispatches in flight than slots: grow (blocks live as long as we do).
        auto* fresh = new SlotBlock(this);
        if (block->next.compare_exchange_strong(next, fresh, std::memory_order_acq_rel)) {
          next = fresh;
          spare_hint_.store(fresh, std::memory_order_release);
        } else {
          delete fresh;
        }
      }
      block = next;
    }
  }

  std::atomic<SlotBlock*> spare_hint_{nullptr};
  SlotBlock first_block_{this};
  void* failure_context_ = nullptr;
  std::atomic<TypeTable*> table_{nullptr};  // writers' and find()'s
  std::atomic<const TypeTable*> dispatch_table_{nullptr};  // table_, or observed_table_ while observed
  std::atomic<const void*> observer_{nullptr};  // the installed MetricsObserver, as the watch last heard
  struct Watch : ObserverWatch {
    HandlerRegistry* registry;
  };
  Watch watch_{{}, this};
  const ErasedFn cancelled_;

  mutable WriterLock writer_;
  std::uint64_t last_id_ = 0;
  std::vector<Channel*> channels_;   // owned; sorted by std::type_index(*type), one per type
  std::vector<Channel*> forgotten_;  // owned: channels of unloaded modules' types
  std::vector<HandlerNode*> catch_alls_[4];  // by Route; [0] unused
  std::vector<HandlerNode*> by_id_;  // registered nodes, sorted by id (ids only grow)
  struct RetiredList {
    HandlerList* list;
    std::uint64_t seq;  // retire sequence number
  };
  std::vector<RetiredList> retired_;  // in retire order
  static constexpr std::size_t lists_left_by_add = 4;  // retired lists a registration may leave unfreed
  std::uint64_t retire_seq_ = 0;      // lists retired so far
  std::uint64_t oldest_held_ = ~std::uint64_t{0};  // of the oldest list in retired_ at the last reclaim
  HandlerNode* retired_nodes_ = nullptr;  // cancelled, named by no published list
  HandlerNode** retired_tail_ = &retired_nodes_;
  HandlerNode* pinned_nodes_ = nullptr;  // cancelled, still named by a published list
  static constexpr std::size_t max_spare_lists = 8;
  HandlerList* spare_lists_[max_spare_lists] = {};  // freed lists kept for reuse
  std::size_t spare_lists_count_ = 0;
  std::size_t evict_next_ = 0;
  std::vector<TypeTable*> old_tables_;
};

inline constexpr HandlerRegistry::ObservedTable HandlerRegistry::observed_table_{};

/// Hands `handler` to `registry` and returns its Subscription: the subscribe() of every
/// mediator, synchronous or not.
template <class R>
Subscription subscribe(const OwnedTarget<HandlerRegistry>& registry, BasicErasedHandler<R> handler) {
  const std::type_info& type = handler.event_type();
  const auto route = handler.route();
  const auto kind = handler.kind();
  HandlerNode* node = handler.release_node();
  std::uint64_t id = 0;
  try {
    id = registry->add(node, type, kind, route);
  } catch (...) {
    node->destroy(node);
    throw;
  }
  return Subscription(registry.link(), id);
}

}  // namespace spakky::event::detail
