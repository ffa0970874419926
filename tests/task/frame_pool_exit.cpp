// A Task owned by a static object is destroyed at exit, after the main thread's frame pool
// (thread_local objects are destroyed before static ones). Its frame must go back to the
// heap, not into the destroyed pool (undefined behaviour; the frame was lost).
// Not a Catch2 program: the check runs in a static destructor; exit status 0 means it held.

#include <spakky/event/task.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>

#include <unistd.h>

// NOTE: g++ 12 sees our malloc/free pairs through inlining and misreads them as mismatched.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<long> frees{0};
}

void* operator new(std::size_t size) {
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  if (p != nullptr) ++frees;
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
  // Use the pool first, so that the main thread's pool exists (and is destroyed at exit).
  if (spakky::event::sync_wait(answer()) != 42) return 2;
  owner.task.emplace(answer());  // lazy: its frame lives until the owner goes
  return 0;
}
