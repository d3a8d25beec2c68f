// The parts of the CF-EBM example that run on either device, as templates:
// train.cpp and apps.cpp instantiate them for ebm::cpu, cuda.cu (built when
// CUDA is present) for ebm::cuda.
#pragma once

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>

#include "common.hpp"

namespace cfx {

/// Trains with the options of `train` (a resumed run continues from
/// <out>/checkpoint.ebm).
template <class D>
int train_on(const ebm::cf_ebm::train_options& t, const ebm::data::image_dataset<float>& data, bool resume) {
  const auto start = std::chrono::steady_clock::now();
  ebm::cf_ebm::trainer<float, D> tr(t, data);
  if (resume) {
    tr.resume(tr.checkpoint_path());
    std::cout << "resumed from " << tr.checkpoint_path().string() << " at stage " << tr.stage() + 1 << ", step "
              << tr.steps() << std::endl;
  }
  tr.run(std::cout);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "training finished in " << secs / 60 << " min; checkpoint " << tr.checkpoint_path().string()
            << std::endl;
  return 0;
}

/// n samples of a trained model (mode "fine" or "chain"), in batches of 256
/// chains, reporting progress; returned on the host.
template <class D>
ebm::tensor<float> generate_on(const fs::path& checkpoint, ebm::index_t n, const std::string& mode,
                               ebm::philox& rng, D dev = {}) {
  if (checkpoint.empty()) throw ebm::error("--checkpoint FILE is required (written by `ebm_cf_ebm train`)");
  auto m = ebm::cf_ebm::model<float, D>::from_checkpoint(ebm::io::checkpoint::load(checkpoint), dev);
  const auto t0 = std::chrono::steady_clock::now();
  ebm::tensor<float> x;
  for (ebm::index_t done = 0; done < n; done += 256) {
    const ebm::index_t k = std::min<ebm::index_t>(256, n - done);
    const ebm::tensor<float> part = ebm::pipeline_detail::host_copy(
        mode == "fine" ? m.sample_fine(k, rng) : m.sample_multistage(k, rng));
    if (x.empty()) x = ebm::tensor<float>(part.shape().with(0, n));
    std::copy_n(part.data(), part.size(), x.data() + done * part.shape().sample_size());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "generated " << done + k << "/" << n << " (" << double(done + k) / s << " img/s)" << std::endl;
  }
  return x;
}

#if defined(EBM_EXAMPLE_CUDA)
// cuda.cu
int train_cuda(const ebm::cf_ebm::train_options& t, const ebm::data::image_dataset<float>& data, bool resume);
ebm::tensor<float> generate_cuda(const fs::path& checkpoint, ebm::index_t n, const std::string& mode,
                                 ebm::philox& rng);
#endif

}  // namespace cfx
