#pragma once
// A small fork-join thread pool: parallel_for splits [0, n) into one
// contiguous chunk per thread and the calling thread runs the first chunk.
// Static partitioning keeps results deterministic (each index always runs
// the same code on the same data) and the overhead to one wake-up per call.
#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "../../core/config.hpp"

namespace ebm::detail {

class thread_pool {
 public:
  explicit thread_pool(int threads) : nthreads_(std::max(1, threads)) {
    for (int t = 1; t < nthreads_; ++t) workers_.emplace_back([this, t] { worker(t); });
  }
  ~thread_pool() {
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  int size() const { return nthreads_; }

  /// Calls fn(begin, end) on disjoint chunks covering [0, n); at most one
  /// chunk per thread, none smaller than `grain` unless n is.  Blocks until
  /// all chunks are done; rethrows the first exception.  Nested calls (from
  /// inside fn) run serially.
  void parallel_for(index_t n, index_t grain, const std::function<void(index_t, index_t)>& fn) {
    if (n <= 0) return;
    const index_t max_chunks = std::max<index_t>(1, n / std::max<index_t>(1, grain));
    const int chunks = static_cast<int>(std::min<index_t>(nthreads_, max_chunks));
    if (chunks <= 1 || in_parallel_) {
      fn(0, n);
      return;
    }
    std::unique_lock call_lock(call_m_);  // one parallel region at a time
    {
      std::lock_guard lk(m_);
      fn_ = &fn;
      n_ = n;
      chunks_ = chunks;
      pending_ = chunks - 1;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    run_chunk(0);
    std::unique_lock lk(m_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_chunk(int c) {
    const index_t b = n_ * c / chunks_, e = n_ * (c + 1) / chunks_;
    in_parallel_ = true;
    try {
      if (b < e) (*fn_)(b, e);
    } catch (...) {
      std::lock_guard lk(m_);
      if (!error_) error_ = std::current_exception();
    }
    in_parallel_ = false;
  }
  void worker(int t) {
    std::size_t seen = 0;
    for (;;) {
      {
        std::unique_lock lk(m_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (t >= chunks_) continue;
      }
      run_chunk(t);
      std::lock_guard lk(m_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  int nthreads_;
  std::vector<std::thread> workers_;
  std::mutex m_, call_m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(index_t, index_t)>* fn_ = nullptr;
  index_t n_ = 0;
  int chunks_ = 0, pending_ = 0;
  std::size_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  static inline thread_local bool in_parallel_ = false;
};

}  // namespace ebm::detail
