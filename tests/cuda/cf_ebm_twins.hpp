#pragma once
// A small CF-EBM energy on the host and its device twin with the same
// parameters and spectral-norm vectors of every stage, shared by the CUDA
// tests that compare the two (cf_ebm_test, training_test).
#include <doctest/doctest.h>

#include <ebm/energy/cf_ebm.hpp>
#include <string_view>
#include <vector>

#include "network_check.hpp"

namespace ebm::cuda_test {

inline cf_ebm::config small_config() {
  cf_ebm::config cfg;
  cfg.c = 4;                // channels 16, 8, 4 at 4x4, 8x8, 16x16
  cfg.max_resolution = 16;  // three stages
  return cfg;
}

template <class T>
struct twins {
  cf_ebm::energy<T> host{small_config()};
  cf_ebm::energy<T, cuda> dev{small_config()};
  twins() {
    philox rng(3);
    host.init(rng);
    std::vector<tensor<T>*> h;
    std::vector<tensor<T, cuda>*> d;
    host.visit_all_params([&](std::string_view, tensor<T>& v, tensor<T>&) { h.push_back(&v); });
    dev.visit_all_params([&](std::string_view, tensor<T, cuda>& v, tensor<T, cuda>&) { d.push_back(&v); });
    REQUIRE(h.size() == d.size());
    for (std::size_t i = 0; i < h.size(); ++i) copy(*h[i], *d[i]);
    copy_buffers<T>(host, dev);
  }
  void set_stage(int stage, T beta) {
    host.set_stage(stage, beta);
    dev.set_stage(stage, beta);
  }
};

}  // namespace ebm::cuda_test
