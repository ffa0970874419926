#pragma once
/// @file
/// A per-thread pool of coroutine frames for Task: an asynchronous dispatch allocates one
/// frame per handler call, and malloc + free were half of its cost. Frames are recycled by
/// size class (multiples of 64 bytes up to 1 KiB) on the thread that frees them; a bounded
/// number is kept per class, the rest go back to the heap. Off under AddressSanitizer, whose
/// use-after-free checks a pool would hide.

#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define SPAKKY_EVENT_DETAIL_NO_FRAME_POOL 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPAKKY_EVENT_DETAIL_NO_FRAME_POOL 1
#endif
#endif

namespace spakky::event::detail {

class FramePool {
public:
  static constexpr std::size_t granule = 64;
  static constexpr std::size_t classes = 16;       // up to 16 * 64 = 1 KiB
  static constexpr unsigned kept_per_class = 64;

  static void* allocate(std::size_t size) {
#if !defined(SPAKKY_EVENT_DETAIL_NO_FRAME_POOL)
    const std::size_t c = class_of(size);
    if (c < classes) {
      FramePool* pool = local();
      if (pool != nullptr && pool->free_[c] != nullptr) {
        Block* block = pool->free_[c];
        pool->free_[c] = block->next;
        --pool->count_[c];
        return block;
      }
      return ::operator new((c + 1) * granule);
    }
#endif
    return ::operator new(size);
  }

  static void deallocate(void* frame, [[maybe_unused]] std::size_t size) noexcept {
#if !defined(SPAKKY_EVENT_DETAIL_NO_FRAME_POOL)
    const std::size_t c = class_of(size);
    if (c < classes) {
      FramePool* pool = local();
      if (pool != nullptr && pool->count_[c] < kept_per_class) {
        pool->free_[c] = new (frame) Block{pool->free_[c]};
        ++pool->count_[c];
        return;
      }
      ::operator delete(frame);
      return;
    }
#endif
    ::operator delete(frame);
  }

  FramePool() = default;
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;
  ~FramePool() {
    destroyed() = true;  // frames freed later on this thread (static objects at exit) skip us
    for (std::size_t c = 0; c < classes; ++c) {
      while (Block* block = free_[c]) {
        free_[c] = block->next;
        ::operator delete(block);
      }
    }
  }

private:
  struct Block {
    Block* next;
  };

  static constexpr std::size_t class_of(std::size_t size) noexcept { return (size + granule - 1) / granule - 1; }

  // NOTE: unsized ::operator delete: clang 14 has no sized deallocation by default.
  // NOTE: per shared library under hidden visibility, which is fine: every pool takes and gives
  // plain ::operator new blocks of the class size, so a frame may end in any library's pool.
  // NOTE: a Task owned by a static object is freed after this thread's pool was destroyed
  // (thread_local objects go before statics at exit): then there is no pool, only the heap.
  static FramePool* local() noexcept {
    if (destroyed()) return nullptr;
    thread_local FramePool pool;
    return &pool;
  }
  /// Trivially destructible, so still readable after the pool is gone.
  static bool& destroyed() noexcept {
    thread_local bool flag = false;
    return flag;
  }

  Block* free_[classes] = {};
  unsigned count_[classes] = {};
};

}  // namespace spakky::event::detail
