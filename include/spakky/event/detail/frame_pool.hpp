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
      Lists& lists = local();
      if (Block* block = lists.free[c]) {
        lists.free[c] = block->next;
        ++lists.room[c];
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
      Lists& lists = local();
      if (lists.room[c] != 0 || enrol(lists)) {
        --lists.room[c];
        lists.free[c] = new (frame) Block{lists.free[c]};
        return;
      }
    }
#endif
    ::operator delete(frame);
  }

private:
  struct Block {
    Block* next;
  };

  /// A thread's free lists. Trivial, so that reaching them costs no guard and no call; they
  /// take frames only once the thread has enrolled (registered the clean-up at its exit).
  struct Lists {
    Block* free[classes];
    unsigned char room[classes];  // how many more frames each class keeps; 0 until enrolled
    bool enrolled;  // stays set after the clean-up ran: frames freed later go to the heap
  };
  static_assert(kept_per_class <= 255);

  /// Frees a thread's kept frames when the thread ends.
  struct Cleanup {
    bool armed = false;
    Cleanup() = default;
    Cleanup(const Cleanup&) = delete;
    Cleanup& operator=(const Cleanup&) = delete;
    ~Cleanup() {
      Lists& lists = local();
      for (std::size_t c = 0; c < classes; ++c) {
        lists.room[c] = 0;
        while (Block* block = lists.free[c]) {
          lists.free[c] = block->next;
          ::operator delete(block);
        }
      }
    }
  };

  static constexpr std::size_t class_of(std::size_t size) noexcept { return (size + granule - 1) / granule - 1; }

  // NOTE: unsized ::operator delete: clang 14 has no sized deallocation by default.
  // NOTE: per shared library under hidden visibility, which is fine: every pool takes and gives
  // plain ::operator new blocks of the class size, so a frame may end in any library's pool.
  static Lists& local() noexcept {
    static constinit thread_local Lists lists{};
    return lists;
  }

  /// The first frame a thread frees arms its clean-up and opens every class; false if the
  /// class is full or the thread's clean-up already ran (a Task owned by a static object is
  /// freed after the main thread's thread_local objects: then there is only the heap).
  [[gnu::noinline]] static bool enrol(Lists& lists) noexcept {
    if (lists.enrolled) return false;
    lists.enrolled = true;
    thread_local Cleanup cleanup;  // constructed here, so destroyed at this thread's exit
    cleanup.armed = true;
    for (auto& room : lists.room) room = kept_per_class;
    return true;
  }
};

}  // namespace spakky::event::detail
