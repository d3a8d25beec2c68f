// The parts of the EGC example that run on either device, as templates:
// main.cpp instantiates them for ebm::cpu, cuda.cu (built when CUDA is
// present) for ebm::cuda.
#pragma once

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <vector>

#include <ebm/io/png.hpp>
#include <ebm/pipeline/egc_trainer.hpp>
#include <ebm/sample/diffusion.hpp>
#include <ebm/sample/interpolate.hpp>

#include "common.hpp"

namespace egcx {

/// Trains with the options of `train`, drawing a guided sample grid from the
/// averaged parameters at every checkpoint (grid_steps DDIM steps).
template <class D>
int train_on(const ebm::egc::train_options& t, const ebm::data::image_dataset<float>& data, bool resume,
             int grid_steps) {
  ebm::egc::trainer<float, D> tr(t, data);
  std::cout << "parameters: " << ebm::param_count(tr.trained_model()) << std::endl;
  if (resume) {
    tr.resume(tr.checkpoint_path());
    std::cout << "resumed at step " << tr.step_count() << std::endl;
  }
  const auto start = std::chrono::steady_clock::now();
  tr.run(std::cout, [&](ebm::egc::trainer<float, D>& trn) {
    if (t.kind == ebm::egc::mode::classifier) return;
    // A small guided grid from the averaged parameters: one row per class.
    auto guard = trn.average().swapped();
    ebm::egc::score_model<float, D> score(trn.trained_model(), t.make_schedule(), t.loss.target);
    ebm::ddim<float, D> sampler(t.make_schedule(), grid_steps, default_eta);
    sampler.clip_denoised(-1.f, 1.f);
    std::vector<int> labels;
    for (int k = 0; k < t.net.classes; ++k)
      for (int i = 0; i < 6; ++i) labels.push_back(k);
    ebm::philox rng(99, 1);
    const bool supervised = t.kind == ebm::egc::mode::egc;
    const auto x = sampler.sample(score, shape{index_t(labels.size()), 1, 32, 32}, rng,
                                  ebm::guidance{labels, supervised ? default_scale : 0.0});
    const tensor h = ebm::pipeline_detail::host_copy(x);
    ebm::io::save_grid<float>(t.out_dir / "samples_latest.png", h.view(), 6);
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "trained in " << std::fixed << std::setprecision(1) << secs / 60 << " min; checkpoint "
            << tr.checkpoint_path().string() << std::endl;
  return 0;
}

/// What `sample` computes: class-conditional samples (a row per class), how
/// many of them the network's own classifier assigns to their class, and a
/// DDIM path between two noises (on the host).
struct sample_result {
  tensor x, interpolation;
  std::vector<int> labels;
  double agree = 0;  ///< share of samples classified as the class they were guided to
  double seconds = 0;
};

template <class D>
sample_result sample_on(const fs::path& checkpoint, bool raw, D dev, int per_class, int steps, double scale,
                        float eta, ebm::philox& rng) {
  auto m = ebm::egc::load<float, D>(checkpoint, !raw, dev);
  const auto& c = m.net->cfg();
  sample_result r;
  for (int k = 0; k < c.classes; ++k)
    for (int i = 0; i < per_class; ++i) r.labels.push_back(k);
  const auto t0 = std::chrono::steady_clock::now();
  ebm::egc::score_model<float, D> score(*m.net, m.schedule, m.target);
  {
    ebm::ddim<float, D> sampler(m.schedule, steps, eta);
    sampler.clip_denoised(-1.f, 1.f);
    const auto x = sampler.sample(score, shape{index_t(r.labels.size()), c.image_channels, c.resolution, c.resolution},
                                  rng, ebm::guidance{r.labels, scale});
    r.x = ebm::pipeline_detail::host_copy(x);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const tensor z = ebm::pipeline_detail::host_copy(m.net->classify(x, 0));
    long long agree = 0;
    for (index_t i = 0; i < z.extent(0); ++i) {
      const float* zi = z.data() + i * z.extent(1);
      agree += int(std::max_element(zi, zi + z.extent(1)) - zi) == r.labels[std::size_t(i)];
    }
    r.agree = double(agree) / double(z.extent(0));
  }
  // Interpolation between two noises (DDIM is deterministic at eta = 0).
  tensor a(shape{1, c.image_channels, c.resolution, c.resolution}), b(a.shape());
  rng.fill_normal<float>(a.span());
  rng.fill_normal<float>(b.span());
  auto xi = ebm::pipeline_detail::empty_on<float>(dev);
  ebm::pipeline_detail::assign_from_host(ebm::slerp_path(a, b, 10), xi);
  ebm::ddim<float, D> sampler(m.schedule, steps, 0.f);
  sampler.clip_denoised(-1.f, 1.f);
  sampler.run(score, xi, rng);
  r.interpolation = ebm::pipeline_detail::host_copy(xi);
  return r;
}

#if defined(EBM_EXAMPLE_CUDA)
// cuda.cu
int train_cuda(const ebm::egc::train_options& t, const ebm::data::image_dataset<float>& data, bool resume,
               int grid_steps);
sample_result sample_cuda(const fs::path& checkpoint, bool raw, int per_class, int steps, double scale, float eta,
                          ebm::philox& rng);
#endif

}  // namespace egcx
