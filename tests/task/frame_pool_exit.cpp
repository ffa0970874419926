// A Task owned by a static object is destroyed at exit, after the main thread's frame pool
// (thread_local objects are destroyed before static ones). Its frame must go back to the
// heap, not into the destroyed pool (undefined behaviour; the frame was lost).
// Also: the frames a thread's pool keeps go back to the heap when the thread ends.
// Not a Catch2 program: the check runs in a static destructor; exit status 0 means it held.

#include <spakky/event/task.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <thread>

#include <unistd.h>

// NOTE: g++ 12 sees our malloc/free pairs through inlining and misreads them as mismatched.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<long> frees{0};
// While `watching` (one thread), operator new records its blocks and operator delete clears
// them: what is left in `watched` was never freed.
std::atomic<bool> watching{false};
std::atomic<void*> watched[64];
}

void* operator new(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  if (watching.load()) {
    for (auto& slot : watched) {
      void* expected = nullptr;
      if (slot.compare_exchange_strong(expected, p)) break;
    }
  }
  return p;
}
void operator delete(void* p) noexcept {
  if (p != nullptr) ++frees;
  for (auto& slot : watched) {
    void* expected = p;
    if (p != nullptr && slot.compare_exchange_strong(expected, nullptr)) break;
  }
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept { ::operator delete(p); }

namespace {

spakky::event::Task<int> answer() { co_return 42; }

struct TaskOwner {
  std::optional<spakky::event::Task<int>> task;
  ~TaskOwner() {
    if (!task) return;
    const long before = frees.load();
    task.reset();  // frees the frame: must reach ::operator delete
    if (frees.load() == before) {
      std::fputs("frame_pool_exit: the frame of a Task destroyed at exit was not returned to the heap\n", stderr);
      ::_exit(1);
    }
    std::fputs("frame_pool_exit: ok\n", stderr);
  }
};

TaskOwner owner;  // a static object, destroyed after main's thread_local frame pool

}  // namespace

int main() {
  // A thread whose pool keeps frames: once it has ended, every frame it allocated is freed.
  std::thread worker([] {
    watching.store(true);
    for (int i = 0; i < 3; ++i) {
      if (spakky::event::sync_wait(answer()) != 42) std::_Exit(2);
    }
    watching.store(false);
  });
  worker.join();
  for (auto& slot : watched) {
    if (slot.load() != nullptr) {
      std::fputs("frame_pool_exit: a frame kept by a thread's pool was not freed when the thread ended\n", stderr);
      return 1;
    }
  }

  // Use the pool first, so that the main thread's pool exists (and is destroyed at exit).
  if (spakky::event::sync_wait(answer()) != 42) return 2;
  owner.task.emplace(answer());  // lazy: its frame lives until the owner goes
  return 0;
}
