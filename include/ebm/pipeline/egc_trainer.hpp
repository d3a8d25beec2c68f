#pragma once
// Training an EGC model (Guo et al. 2023, Algorithm 1) on a labelled image
// data set, and the plain cross-entropy classifier of the same architecture
// the robustness comparison needs.
//
//   ebm::egc::train_options opt;           // network, steps, batch, lr, EGC loss weights
//   opt.out_dir = "egc_out";
//   ebm::egc::trainer<float> tr(opt, train_set);
//   tr.run(std::cout);                      // progress lines, train_log.csv, checkpoints, grids
//
// Per step: a shuffled batch (x0, y), one egc_loss evaluation with exact
// gradients (objective/egc.hpp), gradient-norm clipping, an Adam step and an
// exponential moving average of the parameters (used for sampling and
// evaluation, as diffusion models are).  mode::classifier instead trains the
// same network as an ordinary classifier: cross-entropy of the pooled logits of
// clean images at t = 0.
//
// Checkpoints hold the parameters, their average, Adam's moments, the step,
// the data order and the random state, written atomically (io/checkpoint.hpp);
// resume() continues bit-exactly.  A non-finite loss or gradient stops the
// run naming the step and the last good checkpoint.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>

#include "detail/progress.hpp"
#include "../data/dataset.hpp"
#include "../energy/egc_model.hpp"
#include "../io/checkpoint.hpp"
#include "../objective/cross_entropy.hpp"
#include "../objective/egc.hpp"
#include "../optim/adam.hpp"
#include "../optim/clip_grad_norm.hpp"
#include "../optim/ema.hpp"
#include "detail/device_ops.hpp"

namespace ebm::egc {

enum class mode { egc, unsupervised, classifier };

inline const char* to_string(mode m) {
  return m == mode::egc ? "egc" : m == mode::unsupervised ? "unsupervised" : "classifier";
}
inline mode mode_from_string(const std::string& s) {
  if (s == "egc") return mode::egc;
  if (s == "unsupervised") return mode::unsupervised;
  if (s == "classifier") return mode::classifier;
  throw error("unknown EGC training mode '" + s + "' (egc, unsupervised or classifier)");
}

struct train_options {
  config net;
  mode kind = mode::egc;
  objective::egc_options loss;       ///< γ, label smoothing, √ᾱ weights, label drop, Fisher target
  /// mode::egc only: also the cross-entropy of the clean batch (t = 0, the
  /// plain classifier's signal) with this weight, at the cost of one more
  /// forward and first-order backward per step.  Not in the paper (0: off).
  double clean_ce_weight = 0;
  noise_schedule::kind schedule = noise_schedule::kind::linear;
  int timesteps = 1000;
  std::int64_t steps = 2000;         ///< optimizer steps
  index_t batch = 64;
  double lr = 2e-4;
  int warmup = 100;                  ///< linear learning-rate warm-up (steps)
  double beta1 = 0.9, beta2 = 0.999;
  double clip = 1.0;                 ///< max global gradient norm (0: off)
  double ema_decay = 0.999;
  std::uint64_t seed = 1;
  int threads = 0;                   ///< CPU worker threads (0: the default device)
  int log_every = 20;
  int checkpoint_every = 250;        ///< steps between checkpoints (0: only at the end)
  std::filesystem::path out_dir = "egc_out";

  noise_schedule make_schedule() const { return {schedule, timesteps}; }
};

/// Writes the model's configuration into checkpoint metadata / reads it back.
inline void save_config(io::checkpoint& ck, const config& c) {
  ck.set_meta("egc.image_channels", c.image_channels);
  ck.set_meta("egc.resolution", c.resolution);
  ck.set_meta("egc.classes", c.classes);
  ck.set_meta("egc.channels", c.channels);
  std::string m;
  for (int v : c.multipliers) m += (m.empty() ? "" : ",") + std::to_string(v);
  ck.set_meta("egc.multipliers", m);
  ck.set_meta("egc.res_blocks", c.res_blocks);
  ck.set_meta("egc.groups", c.groups);
  ck.set_meta("egc.unet", c.unet);
  ck.set_meta("egc.label_input", c.label_input);
}
inline config load_config(const io::checkpoint& ck) {
  config c;
  c.image_channels = ck.meta_as<int>("egc.image_channels");
  c.resolution = ck.meta_as<int>("egc.resolution");
  c.classes = ck.meta_as<int>("egc.classes");
  c.channels = ck.meta_as<int>("egc.channels");
  c.multipliers.clear();
  std::stringstream ss(ck.meta("egc.multipliers"));
  for (std::string item; std::getline(ss, item, ',');) c.multipliers.push_back(std::stoi(item));
  c.res_blocks = ck.meta_as<int>("egc.res_blocks");
  c.groups = ck.meta_as<int>("egc.groups");
  c.unet = ck.meta_as<bool>("egc.unet");
  c.label_input = ck.meta_as<bool>("egc.label_input");
  c.validate();
  return c;
}

/// D = ebm::cuda trains on the GPU (include ebm/device/cuda/cuda.cuh in a .cu
/// file): network, loss, clipping, Adam and the average run there, batches
/// are copied over each step, checkpoints come back through the host.
template <class T = float, class D = cpu>
class trainer {
 public:
  using device_type = D;
  using tensor_type = tensor<T, D>;

  trainer(const train_options& opt, const data::image_dataset<T>& data) : trainer(opt, data, make_device(opt)) {}
  trainer(train_options opt, const data::image_dataset<T>& data, D dev)
      : opt_(std::move(opt)), data_(&data), dev_(dev),
        model_(opt_.net, dev_), loss_(opt_.make_schedule(), opt_.loss), ce_(T(opt_.loss.label_smoothing)),
        rng_(opt_.seed, 0xe9c), loader_(data, opt_.batch, opt_.seed + 17), x_(pipeline_detail::empty_on<T>(dev_)),
        gz_(pipeline_detail::empty_on<T>(dev_)) {
    EBM_REQUIRE(data.channels() == opt_.net.image_channels && data.height() == opt_.net.resolution &&
                    data.width() == opt_.net.resolution,
                "egc::trainer: the data are [", data.channels(), ", ", data.height(), ", ", data.width(),
                "] images but the network expects [", opt_.net.image_channels, ", ", opt_.net.resolution, ", ",
                opt_.net.resolution, "]");
    EBM_REQUIRE(opt_.kind == mode::unsupervised || data.has_labels(),
                "egc::trainer: mode '", to_string(opt_.kind), "' needs a labelled data set");
    EBM_REQUIRE(opt_.kind == mode::unsupervised || data.num_classes() <= opt_.net.classes, "egc::trainer: the data have ",
                data.num_classes(), " classes but the network ", opt_.net.classes);
    EBM_REQUIRE(opt_.steps > 0 && opt_.batch > 0 && opt_.lr > 0, "egc::trainer: need steps, batch and lr > 0");
    EBM_REQUIRE(opt_.clean_ce_weight >= 0, "egc::trainer: clean_ce_weight must be >= 0, got ", opt_.clean_ce_weight);
    nn::initialize(model_, opt_.seed);
    optim::adam_options ao;
    ao.lr = opt_.lr;
    ao.beta1 = opt_.beta1;
    ao.beta2 = opt_.beta2;
    params_ = collect_params(model_);
    adam_ = std::make_unique<optim::adam<T, D>>(params_, ao);
    ema_ = std::make_unique<optim::ema<T, D>>(params_, opt_.ema_decay, true);
    std::filesystem::create_directories(opt_.out_dir);
  }

  model<T, D>& trained_model() { return model_; }
  optim::ema<T, D>& average() { return *ema_; }
  const train_options& options() const { return opt_; }
  std::int64_t step_count() const { return step_; }
  bool finished() const { return step_ >= opt_.steps; }
  double last_loss() const { return last_loss_; }
  std::filesystem::path checkpoint_path() const { return opt_.out_dir / "checkpoint.ebm"; }

  /// One optimizer step.
  void step() {
    if constexpr (pipeline_detail::on_host<D>) {
      loader_.next(x_, 0, &labels_);
    } else {
      loader_.next(host_x_, 0, &labels_);
      pipeline_detail::assign_from_host(host_x_, x_);
    }
    zero_grad(model_);
    T loss;
    if (opt_.kind == mode::classifier) {
      const tensor_type& z = model_.classify(x_, 0);
      loss = ce_.loss_and_grad(z, labels_, &gz_);
      model_.logits_backward(gz_, grad::params);
      accuracy_ = ce_.accuracy();
      fisher_ = 0, ce_value_ = double(loss);
    } else {
      if (opt_.kind == mode::unsupervised) labels_.clear();
      loss = loss_(model_, x_, labels_, rng_);
      fisher_ = loss_.fisher(), ce_value_ = loss_.cross_entropy(), accuracy_ = loss_.accuracy();
      if (opt_.kind == mode::egc && opt_.clean_ce_weight > 0) {
        // Parameter gradients accumulate: this adds to the EGC loss's.
        const T w = T(opt_.clean_ce_weight);
        const T ce = ce_.loss_and_grad(model_.classify(x_, 0), labels_, &gz_, w);
        model_.logits_backward(gz_, grad::params);
        loss += w * ce;
      }
    }
    const double norm = opt_.clip > 0 ? optim::clip_grad_norm(params_, opt_.clip) : optim::grad_norm(params_);
    if (!std::isfinite(double(loss)) || !std::isfinite(norm))
      throw error(ebm::detail::concat("EGC training diverged at step ", step_, ": loss ", loss, ", gradient norm ",
                                      norm, "; last good checkpoint: ", last_good_checkpoint()));
    grad_norm_ = norm;
    // Linear warm-up of the learning rate.
    adam_->set_lr(opt_.lr * std::min(1.0, double(step_ + 1) / double(std::max(1, opt_.warmup))));
    adam_->step();
    ema_->update();
    last_loss_ = double(loss);
    ++step_;
  }

  /// Trains to opt.steps, logging progress to `log`; `on_checkpoint` (if set)
  /// runs after each checkpoint (e.g. to draw a sample grid).
  void run(std::ostream& log, const std::function<void(trainer&)>& on_checkpoint = {}) {
    std::ofstream csv(opt_.out_dir / "train_log.csv", std::ios::app);
    if (csv.tellp() == 0) csv << "step,loss,fisher,cross_entropy,accuracy,grad_norm,images_per_s\n";
    auto t_last = clock::now();
    std::int64_t step_last = step_;
    while (!finished()) {
      step();
      if (step_ % opt_.log_every == 0 || finished()) {
        const double dt = std::chrono::duration<double>(clock::now() - t_last).count();
        const double rate = double((step_ - step_last) * opt_.batch) / std::max(dt, 1e-9);
        rate_ = rate_ == 0 ? rate : 0.7 * rate_ + 0.3 * rate;
        t_last = clock::now();
        step_last = step_;
        log << progress_line() << std::endl;
      }
      csv << step_ << ',' << last_loss_ << ',' << fisher_ << ',' << ce_value_ << ',' << accuracy_ << ','
          << grad_norm_ << ',' << rate_ << '\n';
      if ((opt_.checkpoint_every > 0 && step_ % opt_.checkpoint_every == 0) || finished()) {
        csv.flush();
        save_checkpoint();
        if (on_checkpoint) on_checkpoint(*this);
      }
    }
  }

  // --------------------------------------------------------- checkpoints --
  void save_checkpoint() { save_checkpoint(checkpoint_path()); }
  void save_checkpoint(const std::filesystem::path& path) {
    io::checkpoint ck;
    ck.set_meta("format", "egc.trainer");
    ck.set_meta("egc.mode", to_string(opt_.kind));
    ck.set_meta("egc.schedule", opt_.schedule == noise_schedule::kind::linear ? "linear" : "cosine");
    ck.set_meta("egc.timesteps", opt_.timesteps);
    ck.set_meta("egc.target", static_cast<int>(opt_.loss.target));
    ck.set_meta("egc.gamma", opt_.loss.gamma);  // the loss's settings, for the record (not checked on resume)
    ck.set_meta("egc.low_t_fraction", opt_.loss.low_t_fraction);
    ck.set_meta("egc.low_t_steps", opt_.loss.low_t_steps);
    ck.set_meta("egc.clean_ce_weight", opt_.clean_ce_weight);
    save_config(ck, opt_.net);
    io::save_params(ck, model_, "model");
    io::save_state(ck, *ema_, "ema");
    io::save_state(ck, *adam_, "adam.state");
    ck.set_meta("trainer.step", step_);
    ck.set_meta("trainer.seed", opt_.seed);
    ck.set_meta("trainer.data.epoch", loader_.sampler().epoch());
    ck.set_meta("trainer.data.position", loader_.sampler().position());
    ck.put_rng("trainer.rng", rng_);
    ck.save(path);
    last_checkpoint_ = path;
  }
  /// Continues from a checkpoint of the same configuration.
  void resume(const std::filesystem::path& path) {
    const io::checkpoint ck = io::checkpoint::load(path);
    EBM_REQUIRE(ck.has_meta("format") && ck.meta("format") == "egc.trainer", "'", path.string(),
                "' is not an EGC training checkpoint");
    const config c = load_config(ck);
    EBM_REQUIRE(c.channels == opt_.net.channels && c.multipliers == opt_.net.multipliers &&
                    c.resolution == opt_.net.resolution && c.classes == opt_.net.classes && c.unet == opt_.net.unet &&
                    c.res_blocks == opt_.net.res_blocks && c.label_input == opt_.net.label_input,
                "checkpoint '", path.string(), "' holds a different architecture (channels ", c.channels,
                ", multipliers ", ck.meta("egc.multipliers"), ") than the one configured (channels ",
                opt_.net.channels, ")");
    EBM_REQUIRE(ck.meta("egc.mode") == to_string(opt_.kind), "checkpoint '", path.string(), "' was trained in mode '",
                ck.meta("egc.mode"), "', not '", to_string(opt_.kind), "'");
    io::load_params(ck, model_, "model");
    io::load_state(ck, *ema_, "ema");
    io::load_state(ck, *adam_, "adam.state");
    step_ = ck.meta_as<std::int64_t>("trainer.step");
    loader_.sampler().restore(ck.meta_as<std::uint64_t>("trainer.data.epoch"),
                              ck.meta_as<index_t>("trainer.data.position"));
    rng_ = ck.get_rng("trainer.rng");
    last_checkpoint_ = path;
  }

 private:
  using clock = std::chrono::steady_clock;

  static D make_device(const train_options& o) {
    if constexpr (pipeline_detail::on_host<D>)
      return o.threads > 0 ? cpu(o.threads) : cpu();
    else
      return D();
  }
  std::string last_good_checkpoint() const {
    return last_checkpoint_.empty() ? std::string("none written yet") : last_checkpoint_.string();
  }
  std::string progress_line() const {
    const double left = double(opt_.steps - step_) * double(opt_.batch);
    const double eta = rate_ > 0 ? left / rate_ : 0;
    std::ostringstream os;
    os << "[" << to_string(opt_.kind) << "] step " << step_ << "/" << opt_.steps << " | loss " << std::fixed
       << std::setprecision(4) << last_loss_;
    if (opt_.kind != mode::classifier) os << " (fisher " << fisher_ << ", ce " << ce_value_ << ")";
    if (opt_.kind != mode::unsupervised) os << " | acc " << std::setprecision(3) << accuracy_;
    os << " | |g| " << std::setprecision(2) << grad_norm_ << " | " << std::setprecision(1) << rate_
       << " img/s | ETA " << pipeline_detail::format_duration(eta);
    if (finished()) os << " | done";
    return os.str();
  }

  train_options opt_;
  const data::image_dataset<T>* data_;
  D dev_;
  model<T, D> model_;
  objective::egc_loss<T, D> loss_;
  objective::cross_entropy<T, D> ce_;
  philox rng_;
  data::batch_loader<T> loader_;
  std::vector<param_ref<T, D>> params_;
  std::unique_ptr<optim::adam<T, D>> adam_;
  std::unique_ptr<optim::ema<T, D>> ema_;
  tensor_type x_, gz_;
  tensor<T> host_x_;  // the loader's batch before its copy to the device
  std::vector<int> labels_;
  std::int64_t step_ = 0;
  double last_loss_ = 0, fisher_ = 0, ce_value_ = 0, accuracy_ = 0, grad_norm_ = 0, rate_ = 0;
  std::filesystem::path last_checkpoint_;
};

/// Loads a trained model from a trainer checkpoint; with `average` the EMA
/// parameters (what sampling and evaluation use) replace the raw ones.
template <class T = float, class D = cpu>
struct loaded_model {
  std::unique_ptr<model<T, D>> net;
  mode kind;
  noise_schedule schedule;
  objective::fisher_target target;
};
template <class T = float, class D = cpu>
loaded_model<T, D> load(const std::filesystem::path& path, bool average = true, D dev = {}) {
  const io::checkpoint ck = io::checkpoint::load(path);
  EBM_REQUIRE(ck.has_meta("format") && ck.meta("format") == "egc.trainer", "'", path.string(),
              "' is not an EGC checkpoint (format '", ck.has_meta("format") ? ck.meta("format") : "none", "')");
  auto m = std::make_unique<model<T, D>>(load_config(ck), dev);
  io::load_params(ck, *m, "model");
  if (average) {
    optim::ema<T, D> e(collect_params(*m), 0.999);
    io::load_state(ck, e, "ema");
    e.copy_to_params();
  }
  const noise_schedule::kind k = ck.meta("egc.schedule") == "cosine" ? noise_schedule::kind::cosine
                                                                      : noise_schedule::kind::linear;
  return {std::move(m), mode_from_string(ck.meta("egc.mode")), noise_schedule(k, ck.meta_as<int>("egc.timesteps")),
          static_cast<objective::fisher_target>(ck.meta_as<int>("egc.target"))};
}

}  // namespace ebm::egc
