#pragma once
// ebm::cpu: the host device policy.  A cheap handle to a shared thread pool;
// copies share the pool.  cpu{} uses the process-wide default pool, whose
// size is EBM_NUM_THREADS or the number of hardware threads.
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "../../core/fwd.hpp"
#include "thread_pool.hpp"

namespace ebm {

struct cpu {
  /// The default device (shared process-wide pool).
  cpu() : pool_(default_pool()) {}
  /// A device with its own pool of `threads` threads (1 = no threads spawned).
  explicit cpu(int threads) : pool_(std::make_shared<detail::thread_pool>(threads)) {}

  int threads() const { return pool_->size(); }

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
  std::shared_ptr<detail::thread_pool> pool_;
};

}  // namespace ebm
