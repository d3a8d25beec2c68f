#include <doctest/doctest.h>

#include <atomic>
#include <ebm/device/cpu/device.hpp>
#include <stdexcept>
#include <vector>

TEST_CASE("cpu device: parallel_for covers the range exactly once") {
  ebm::cpu dev(3);
  CHECK(dev.threads() == 3);
  for (ebm::index_t n : {0, 1, 2, 5, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    dev.parallel_for(n, 1, [&](ebm::index_t b, ebm::index_t e) {
      for (ebm::index_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
    });
    for (auto& h : hits) CHECK(h.load() == 1);
  }
}

TEST_CASE("cpu device: exceptions propagate; nested calls run serially") {
  ebm::cpu dev(2);
  CHECK_THROWS_AS(dev.parallel_for(100, 1, [](ebm::index_t b, ebm::index_t) {
    if (b > 0) throw std::runtime_error("boom");
  }), std::runtime_error);
  std::atomic<int> total{0};
  dev.parallel_for(4, 1, [&](ebm::index_t b, ebm::index_t e) {
    dev.parallel_for(10, 1, [&](ebm::index_t bb, ebm::index_t ee) { total += int((ee - bb) * (e - b)); });
  });
  CHECK(total == 40);
}
