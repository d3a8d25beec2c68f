// Shared pieces of the EGC example (main.cpp: train, classify, sample;
// apps.cpp: inpaint, attack).
#pragma once

#include <filesystem>
#include <string>

#include <ebm/data/fashion_mnist.hpp>

#include "../common/options.hpp"

namespace egcx {

namespace fs = std::filesystem;
using ebm::examples::options;
using ebm::index_t;
using ebm::shape;
using tensor = ebm::tensor<float>;

/// Fashion-MNIST's training or test split (padded to 32×32), from --data.
inline ebm::data::image_dataset<float> load_split(const options& o, bool train) {
  ebm::data::fashion_mnist_options fo;
  fo.dir = o.str("--data", ebm::data::fashion_mnist_default_dir.string());
  return ebm::data::load_fashion_mnist<float>(
      train ? ebm::data::fashion_mnist_split::train : ebm::data::fashion_mnist_split::test, fo);
}

/// --out, or the checkpoint's directory; created.
inline fs::path output_dir(const options& o, const fs::path& checkpoint) {
  fs::path out = o.str("--out", checkpoint.parent_path().empty() ? "." : checkpoint.parent_path().string());
  fs::create_directories(out);
  return out;
}

/// The CPU device with --threads workers (default: all cores).
inline ebm::cpu make_device(const options& o) {
  const int threads = static_cast<int>(o.integer("--threads", 0));
  return threads > 0 ? ebm::cpu(threads) : ebm::cpu();
}

/// --device: "cpu" (default) or "cuda".
inline std::string device_option(const options& o) {
  std::string d = o.str("--device", "cpu");
  if (d != "cpu" && d != "cuda") throw ebm::error("--device must be cpu or cuda, got '" + d + "'");
  return d;
}
/// Sampling defaults of `sample` and of the training grids: the paper's
/// guidance scale with stochastic DDIM (eta = 1), the lowest Fréchet distance
/// of the settings measured (docs/egc.md, "Sampler settings").
inline constexpr double default_scale = 6.0;
inline constexpr float default_eta = 1.0f;

inline constexpr const char* no_cuda =
    "--device cuda: this ebm_egc was built without CUDA (configure with the CUDA toolkit and cuDNN present; see "
    "docs/cuda.md)";

int cmd_inpaint(const options& o);
int cmd_attack(const options& o);

}  // namespace egcx
