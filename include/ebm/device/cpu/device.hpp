#pragma once
// ebm::cpu: the host device policy.  A cheap handle to a shared thread pool;
// copies share the pool.  cpu{} uses the process-wide default pool, whose
// size is EBM_NUM_THREADS or the number of hardware threads.
//
// Copies also share the convolution settings: set_winograd_block(b) bounds
// the Winograd block of float 3x3 convolutions (4: F(4x4, 3x3) where the
// plane allows, the default; 2: F(2x2, 3x3) only; 0: none).  F(4x4) is the
// fastest and rounds the most: float results within about 1e-5 of double
// (relative to the largest value) at 32-128 channels, against 4e-7 for
// F(2x2) and the direct kernel.  The environment variable EBM_WINOGRAD_BLOCK
// sets the initial value of every device.
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <memory>
#include <string>
#include <thread>

#include "../../core/fwd.hpp"
#include "thread_pool.hpp"

namespace ebm {

struct cpu {
  /// The default device (shared process-wide pool).
  cpu() : pool_(default_pool()), settings_(default_settings()) {}
  /// A device with its own pool of `threads` threads (1 = no threads spawned).
  explicit cpu(int threads)
      : pool_(std::make_shared<detail::thread_pool>(threads)), settings_(std::make_shared<settings>()) {}

  int threads() const { return pool_->size(); }

  /// The largest Winograd block the float convolutions of this device (and
  /// of every copy of it) use: 4, 2 or 0 (see the header comment).
  int winograd_block() const { return settings_->winograd_block.load(std::memory_order_relaxed); }
  void set_winograd_block(int block) {
    if (block != 0 && block != 2 && block != 4)
      throw std::invalid_argument("ebm::cpu::set_winograd_block: expected 0, 2 or 4, got " + std::to_string(block));
    settings_->winograd_block.store(block, std::memory_order_relaxed);
  }

  /// Runs fn(begin, end) over chunks of [0, n) on the pool's threads.
  template <class F>
  void parallel_for(index_t n, index_t grain, F&& fn) const {
    pool_->parallel_for(n, grain, std::function<void(index_t, index_t)>(std::forward<F>(fn)));
  }

  static std::shared_ptr<detail::thread_pool> default_pool() {
    static std::shared_ptr<detail::thread_pool> p = std::make_shared<detail::thread_pool>([] {
      if (const char* s = std::getenv("EBM_NUM_THREADS")) {
        const int n = std::atoi(s);
        if (n > 0) return n;
      }
      const unsigned hw = std::thread::hardware_concurrency();
      return hw ? static_cast<int>(hw) : 1;
    }());
    return p;
  }

 private:
  struct settings {
    std::atomic<int> winograd_block{initial_winograd_block()};
  };
  /// EBM_WINOGRAD_BLOCK (0, 2 or 4) if set, else 4.
  static int initial_winograd_block() {
    if (const char* s = std::getenv("EBM_WINOGRAD_BLOCK")) {
      const std::string v(s);
      if (v == "0" || v == "2" || v == "4") return std::stoi(v);
      throw std::invalid_argument("EBM_WINOGRAD_BLOCK: expected 0, 2 or 4, got '" + v + "'");
    }
    return 4;
  }
  static std::shared_ptr<settings> default_settings() {
    static std::shared_ptr<settings> s = std::make_shared<settings>();
    return s;
  }

  std::shared_ptr<detail::thread_pool> pool_;
  std::shared_ptr<settings> settings_;
};

}  // namespace ebm
