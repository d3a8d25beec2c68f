// The EGC case shared by bench_egc.cpp (CPU) and cuda_compare.cu (GPU): the
// UNet at 32x32, 1 image channel, 10 classes, channels 32, multipliers
// {1, 2, 2}, one residual block per level, 8 groups, and one fixed training
// batch of 64 on a linear schedule of 1000 steps.
#pragma once

#include <vector>

#include <ebm/core/philox.hpp>
#include <ebm/core/tensor.hpp>
#include <ebm/energy/egc_model.hpp>
#include <ebm/objective/egc.hpp>

namespace ebm::bench {

inline constexpr int egc_batch = 64;
inline constexpr int egc_steps = 1000;  // linear noise schedule

inline egc::config egc_config() {
  egc::config c;
  c.image_channels = 1;
  c.resolution = 32;
  c.classes = 10;
  c.channels = 32;
  c.multipliers = {1, 2, 2};
  c.res_blocks = 1;
  c.groups = 8;
  c.unet = true;
  c.label_input = false;
  return c;
}

/// The fixed data of every case: clean batch x0 in [-1, 1], noise eps,
/// per-sample timesteps uniform over the schedule, labels with about 10%
/// null (dropped) labels, as the objective's label dropout would leave them.
struct egc_data {
  tensor<float> x0{shape{egc_batch, 1, 32, 32}}, eps{shape{egc_batch, 1, 32, 32}};
  std::vector<int> t, labels;
  egc_data() {
    philox(2).fill_uniform<float>(x0.span(), -1.0f, 1.0f);
    philox(3).fill_normal<float>(eps.span());
    philox rt(4), ry(5);
    for (int i = 0; i < egc_batch; ++i) {
      t.push_back(int(rt.uniform_int(egc_steps)));
      const int y = int(ry.uniform_int(10));
      labels.push_back(ry.uniform() < 0.1 ? objective::egc_loss<float>::null_label : y);
    }
  }
};

}  // namespace ebm::bench
