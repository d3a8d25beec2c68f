#pragma once
// ebm: energy-based models in header-only C++20.  This umbrella header
// includes the CPU part of the library.  Not included (include explicitly):
// the CUDA backend (ebm/device/cuda/, from .cu translation units), the
// evaluation tools (ebm/eval.hpp, Eigen's eigen-solvers), the CF-EBM pipeline
// (ebm/energy/cf_ebm.hpp, ebm/pipeline/), and the test helpers (ebm/testing/).

// core
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/philox.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "device/cpu/device.hpp"

// layers
#include "nn/activation.hpp"
#include "nn/attention_pool.hpp"
#include "nn/branch.hpp"
#include "nn/concat.hpp"
#include "nn/conv2d.hpp"
#include "nn/elementwise.hpp"
#include "nn/embedding.hpp"
#include "nn/first_order.hpp"
#include "nn/flatten.hpp"
#include "nn/group_norm.hpp"
#include "nn/init.hpp"
#include "nn/layer.hpp"
#include "nn/linear.hpp"
#include "nn/logsumexp.hpp"
#include "nn/pool.hpp"
#include "nn/sequential.hpp"
#include "nn/spectral_norm.hpp"
#include "nn/upsample.hpp"

// energies
#include "energy/banana.hpp"
#include "energy/concept.hpp"
#include "energy/diffused_gaussian.hpp"
#include "energy/egc.hpp"
#include "energy/egc_model.hpp"
#include "energy/gaussian.hpp"
#include "energy/gaussian_mixture.hpp"
#include "energy/network.hpp"
#include "energy/posterior.hpp"

// samplers
#include "sample/chain_stats.hpp"
#include "sample/coarse_to_fine.hpp"
#include "sample/diagnostics.hpp"
#include "sample/diffusion.hpp"
#include "sample/hmc.hpp"
#include "sample/initializers.hpp"
#include "sample/interpolate.hpp"
#include "sample/langevin.hpp"
#include "sample/mala.hpp"
#include "sample/repaint.hpp"
#include "sample/replay_buffer.hpp"
#include "sample/schedules.hpp"
#include "sample/score_model.hpp"
#include "sample/short_run.hpp"

// objectives and optimizers
#include "objective/cross_entropy.hpp"
#include "objective/denoising_fisher.hpp"
#include "objective/egc.hpp"
#include "objective/maximum_likelihood.hpp"
#include "objective/noise_schedule.hpp"
#include "objective/time_conditioning.hpp"
#include "objective/weighted_sum.hpp"
#include "optim/adam.hpp"
#include "optim/clip_grad_norm.hpp"
#include "optim/ema.hpp"
#include "optim/sgd.hpp"

// data and files
#include "data/dataset.hpp"
#include "data/digits.hpp"
#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
#include "data/image_folder.hpp"
#include "data/transform.hpp"
#include "io/atomic_file.hpp"
#include "io/checkpoint.hpp"
#include "io/npy.hpp"
#include "io/plot.hpp"
#include "io/png.hpp"
