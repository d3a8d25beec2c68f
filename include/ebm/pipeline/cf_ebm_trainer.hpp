#pragma once
// CF-EBM training (Algorithm 1): coarse-to-fine expanding and sampling.
//
// For each stage s (resolution base·2^s), until N_s images were consumed:
//   1. draw a data batch at the stage's resolution (2×2 average-pooled data);
//   2. start the chains: while fading (s > 0, beta < 1) from the coarse
//      model's samples (sample/coarse_to_fine.hpp), otherwise from U(-1, 1)
//      (or always through the finished stages: chain_start::multistage);
//   3. run T_s Langevin steps on the expanded energy (step 1, noise variance
//      decaying to 0);
//   4. one Adam step (beta1 = 0.5) on  mean E(data) - mean E(samples), then
//      one spectral-norm power iteration (refresh);
//   5. m += batch, beta = min(1, m / (fade_fraction · N_s)).
// A stage change adds the next Expand block (the network already holds it)
// and starts a new Adam over the new stage's parameters; the finished stage's
// parameters are kept as its snapshot for multi-stage sampling.
//
// Every `checkpoint_every` steps and at every stage end the whole state
// (model, snapshots, Adam moments, stage, images, beta, data order, random
// stream) is written atomically to <out>/checkpoint.ebm; resume() continues
// bit-for-bit where it stopped.  Sample grids go to <out>/samples_*.png, the
// curves to <out>/train_log.csv.  A non-finite loss, an energy beyond
// `diverge_energy` or a NaN in a chain stops training with an error naming
// the step and the last good checkpoint (which is never overwritten by a
// diverged state).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "detail/progress.hpp"
#include "../data/dataset.hpp"
#include "../io/checkpoint.hpp"
#include "../io/png.hpp"
#include "../objective/maximum_likelihood.hpp"
#include "../optim/adam.hpp"
#include "../optim/ema.hpp"
#include "../sample/coarse_to_fine.hpp"
#include "cf_ebm_model.hpp"
#include "detail/device_ops.hpp"

namespace ebm::cf_ebm {

/// What one stage trains with.
struct stage_plan {
  int langevin_steps = 30;   ///< T_s
  double lr = 1e-3;          ///< Adam learning rate
  int batch = 64;            ///< n_s
  long long images = 50000;  ///< N_s, images consumed by the stage
  /// The learning rate at the stage's end as a share of lr: it stays at lr
  /// while the stage fades in, then falls linearly to lr · lr_end (1: constant,
  /// the paper's schedule).  The stage's last parameters become its snapshot,
  /// which the chains of every later stage run through.
  double lr_end = 1.0;
};

/// Appendix A.2 (extended down to the 4×4 base stage): T = 15 at 4 and 8,
/// 30 at 16, 50 at 32 and above; lr 1e-3; N = 50k, 50k, 75k, 100k, 125k...
inline std::vector<stage_plan> paper_schedule(const config& c, int batch = 64) {
  std::vector<stage_plan> plan;
  for (int l = 0; l < c.levels(); ++l) {
    const int r = c.resolution(l);
    stage_plan p;
    p.langevin_steps = r <= 8 ? 15 : r == 16 ? 30 : r <= 64 ? 50 : 60;
    p.lr = r >= 128 ? 1.5e-3 : r >= 64 ? 1.2e-3 : 1e-3;
    p.batch = batch;
    p.images = r <= 8 ? 50000 : r == 16 ? 75000 : r == 32 ? 100000 : r == 64 ? 125000 : 150000;
    plan.push_back(p);
  }
  return plan;
}

/// Where the training chains of stage s > 0 start.
enum class chain_start {
  /// Algorithm 1 of the paper: while fading, the coarse model's chain
  /// (T_{s-1}(1 - beta) steps) upsampled and mixed with noise by beta; from
  /// beta = 1 on, uniform noise at the stage's resolution.
  paper,
  /// The authors' released code (its from_beginning option): always the
  /// chain through the frozen snapshots of every finished stage, from noise
  /// at the base resolution (model::sample_multistage up to stage s - 1),
  /// upsampled (no mixing), then T_s steps of the current model.  Each stage
  /// learns to refine the upsampled samples of the stages below, which is far
  /// cheaper to learn than a chain from pixel noise; the trained model is then
  /// sampled with sample_multistage().
  multistage
};

struct train_options {
  config net;
  chain_start start = chain_start::paper;
  std::vector<stage_plan> stages;  ///< one per level, coarsest first
  langevin_options langevin;
  double beta1 = 0.5, beta2 = 0.999;
  double energy_l2 = 0;            ///< optional energy-magnitude regulariser
  /// 0: off.  Otherwise an exponential moving average of the parameters
  /// (optim::ema with this decay and warm-up) runs through each stage and
  /// replaces the parameters when the stage ends, so the stage's snapshot and
  /// the next stage start from the averaged weights.
  double ema_decay = 0;
  double fade_fraction = 0.5;      ///< beta reaches 1 after this share of N_s
  std::uint64_t seed = 1;
  std::filesystem::path out_dir = "cf_ebm_out";
  int log_every = 10;              ///< steps between progress lines
  int checkpoint_every = 200;      ///< steps between checkpoints (0: stage ends only)
  int grid_every = 100;            ///< steps between samples_latest.png (0: off)
  int grid_images = 64;
  double diverge_energy = 1e5;     ///< |mean energy| beyond this is divergence
  int threads = 0;                 ///< CPU worker threads (0: the default device)
};

/// D = ebm::cuda trains on the GPU (include ebm/device/cuda/cuda.cuh in a .cu
/// file): network, chains, loss and Adam run there, data batches are copied
/// over each step, sample grids and checkpoints are copied back.  The same
/// seed gives the same run as on the CPU up to float rounding.
template <class T = float, class D = cpu>
class trainer {
 public:
  using device_type = D;
  using tensor_type = tensor<T, D>;

  trainer(const train_options& opt, const data::image_dataset<T>& data) : trainer(opt, data, make_device(opt)) {}
  trainer(train_options opt, const data::image_dataset<T>& data, D dev)
      : opt_(std::move(opt)), data_(&data), dev_(dev), model_(opt_.net, steps_of(opt_), dev_),
        rng_(opt_.seed, 0xcfeb), data_batch_(pipeline_detail::empty_on<T>(dev_)),
        samples_(pipeline_detail::empty_on<T>(dev_)), coarse_scratch_(pipeline_detail::empty_on<T>(dev_)) {
    opt_.net.validate();
    EBM_REQUIRE(static_cast<int>(opt_.stages.size()) == opt_.net.levels(), "cf_ebm::trainer: the schedule has ",
                opt_.stages.size(), " stages but the network has ", opt_.net.levels(), " levels (",
                opt_.net.base_resolution, " to ", opt_.net.max_resolution, ")");
    EBM_REQUIRE(data.channels() == opt_.net.image_channels && data.height() == opt_.net.max_resolution,
                "cf_ebm::trainer: the data are [", data.channels(), ", ", data.height(), ", ", data.width(),
                "] images but the network expects [", opt_.net.image_channels, ", ", opt_.net.max_resolution,
                ", ", opt_.net.max_resolution, "]");
    const auto res = data.resolutions();
    for (int l = 0; l < opt_.net.levels(); ++l)
      EBM_REQUIRE(std::find(res.begin(), res.end(), index_t(opt_.net.resolution(l))) != res.end(),
                  "cf_ebm::trainer: the data have no ", opt_.net.resolution(l), "x", opt_.net.resolution(l),
                  " level; call build_pyramid(", opt_.net.base_resolution, ") on the dataset first");
    EBM_REQUIRE(opt_.ema_decay >= 0 && opt_.ema_decay < 1, "cf_ebm::trainer: ema_decay must be in [0, 1), got ",
                opt_.ema_decay);
    for (const auto& s : opt_.stages)
      EBM_REQUIRE(s.batch > 0 && s.images > 0 && s.langevin_steps >= 0 && s.lr > 0 && s.lr_end >= 0,
                  "cf_ebm::trainer: a stage needs batch > 0, images > 0, steps >= 0, lr > 0, lr_end >= 0");
    model_.sampling() = opt_.langevin;
    nn::initialize(model_.net(), opt_.seed);
    std::filesystem::create_directories(opt_.out_dir);
    measure_pass_costs();
    begin_stage(0, 0, 0, 0);
  }

  model<T, D>& trained_model() { return model_; }
  energy<T, D>& net() { return model_.net(); }
  int stage() const { return stage_; }
  long long images_in_stage() const { return images_; }
  T beta() const { return model_.net().beta(); }
  std::int64_t steps() const { return step_; }
  bool finished() const { return finished_; }
  const typename objective::maximum_likelihood<T, D>::statistics& last() const { return ml_.last(); }
  /// The samples of the last training step.
  const tensor_type& samples() const { return samples_; }
  std::filesystem::path checkpoint_path() const { return opt_.out_dir / "checkpoint.ebm"; }
  /// The learning rate of the next step: the stage's lr until its fade-in
  /// ends, then linearly down to lr · lr_end at its last step.
  double learning_rate() const {
    const stage_plan& plan = opt_.stages[static_cast<std::size_t>(stage_)];
    const double fade = stage_ == 0 ? 0.0 : opt_.fade_fraction * double(plan.images);
    const double at = double(images_ + plan.batch);  // images consumed once the step is done
    if (plan.lr_end == 1.0 || at <= fade) return plan.lr;
    const double t = std::min(1.0, (at - fade) / std::max(1.0, double(plan.images) - fade));
    return plan.lr * (1.0 + t * (plan.lr_end - 1.0));
  }

  /// One training iteration (steps 1-5 above).
  void step() {
    EBM_REQUIRE(!finished_, "cf_ebm::trainer: training already finished");
    const stage_plan& plan = opt_.stages[static_cast<std::size_t>(stage_)];
    energy<T, D>& net = model_.net();
    const index_t r = net.resolution();
    if constexpr (pipeline_detail::on_host<D>) {
      loader_->next(data_batch_, r);
    } else {
      loader_->next(host_batch_, r);
      pipeline_detail::assign_from_host(host_batch_, data_batch_);
    }

    const shape fine{plan.batch, opt_.net.image_channels, r, r};
    auto sampler = model_.sampling().template make<T>();
    if (stage_ > 0 && opt_.start == chain_start::multistage) {
      const tensor_type coarse = model_.sample_multistage(plan.batch, rng_, stage_ - 1);
      pipeline_detail::upsample_into(coarse, samples_, nn::upsample_mode::nearest, dev_);
    } else if (net.fading()) {
      const T beta = net.beta();
      model_.with_stage(stage_ - 1, [&] {
        auto coarse = energy_of(net);
        coarse_to_fine_init(samples_, fine, coarse, sampler,
                            opt_.stages[static_cast<std::size_t>(stage_ - 1)].langevin_steps, beta, rng_,
                            coarse_scratch_);
      });
    } else {
      samples_.resize(fine);
      pipeline_detail::fill_uniform_on(samples_, rng_, T(-1), T(1));
    }
    auto e = energy_of(net);
    sampler.run(e, samples_, plan.langevin_steps, rng_);

    adam_->zero_grad();
    const T loss = ml_(net, data_batch_, samples_);
    const auto& st = ml_.last();
    if (!std::isfinite(double(loss)) || std::abs(st.energy_data) > opt_.diverge_energy ||
        std::abs(st.energy_sample) > opt_.diverge_energy)
      throw error(ebm::detail::concat("training diverged at stage ", stage_, " (", r, "x", r, "), step ", step_,
                                      ": loss ", loss, ", mean energy of data ", st.energy_data, ", of samples ",
                                      st.energy_sample, "; last good checkpoint: ", last_good_checkpoint()));
    adam_->set_lr(learning_rate());
    adam_->step();
    if (ema_) ema_->update();
    net.refresh();

    ++step_;
    images_ += plan.batch;
    const double fade_images = opt_.fade_fraction * double(plan.images);
    if (net.fading()) net.set_beta(T(std::min(1.0, double(images_) / fade_images)));
    if (images_ >= plan.images && net.beta() >= T(1)) end_stage();
  }

  /// Trains to the end of the schedule, logging progress to `log`.
  void run(std::ostream& log) {
    std::ofstream csv(opt_.out_dir / "train_log.csv", std::ios::app);
    if (csv.tellp() == 0) csv << "step,stage,resolution,beta,images,loss,energy_data,energy_sample,images_per_s\n";
    auto t_last = clock::now();
    long long img_last = total_images();
    while (!finished_) {
      const int s = stage_;
      try {
        step();
      } catch (const error& ex) {
        const std::string what = ex.what();
        if (what.find("last good checkpoint") != std::string::npos) throw;
        throw error(ebm::detail::concat("training failed at stage ", s, ", step ", step_, ": ", what,
                                        "; last good checkpoint: ", last_good_checkpoint()));
      }
      const auto& st = ml_.last();
      const double dt = std::chrono::duration<double>(clock::now() - t_last).count();
      if (step_ % opt_.log_every == 0 || finished_ || s != stage_) {
        const double rate = double(total_images() - img_last) / std::max(dt, 1e-9);
        rate_ = rate_ == 0 ? rate : 0.7 * rate_ + 0.3 * rate;
        t_last = clock::now();
        img_last = total_images();
        log << progress_line(s) << std::endl;
      }
      csv << step_ << ',' << s << ',' << opt_.net.resolution(s) << ',' << double(beta()) << ',' << images_ << ','
          << st.loss << ',' << st.energy_data << ',' << st.energy_sample << ',' << rate_ << '\n';
      if (opt_.grid_every > 0 && step_ % opt_.grid_every == 0 && !finished_) write_grid("samples_latest.png");
      if (opt_.checkpoint_every > 0 && step_ % opt_.checkpoint_every == 0 && !finished_) save_checkpoint();
    }
    csv.flush();
  }

  // --------------------------------------------------------- checkpoints --
  void save_checkpoint() { save_checkpoint(checkpoint_path()); }
  void save_checkpoint(const std::filesystem::path& path) {
    io::checkpoint ck;
    ck.set_meta("format", "cf_ebm.trainer");
    model_.save(ck);
    ck.set_meta("trainer.stage", stage_);
    ck.set_meta("trainer.images", images_);
    ck.set_meta("trainer.step", step_);
    ck.set_meta("trainer.finished", finished_);
    ck.set_meta("trainer.seed", opt_.seed);
    ck.set_meta("trainer.data.epoch", loader_->sampler().epoch());
    ck.set_meta("trainer.data.position", loader_->sampler().position());
    ck.put_rng("trainer.rng", rng_);
    io::save_state(ck, *adam_, "adam.state");
    if (ema_) io::save_state(ck, *ema_, "ema.state");
    ck.save(path);
    last_checkpoint_ = path;
  }
  /// Continues from a checkpoint written by save_checkpoint with the same
  /// options; the next step() is exactly the one the saved run would take.
  void resume(const std::filesystem::path& path) {
    const io::checkpoint ck = io::checkpoint::load(path);
    EBM_REQUIRE(ck.has_meta("format") && ck.meta("format") == "cf_ebm.trainer", "'", path.string(),
                "' is not a CF-EBM training checkpoint");
    const config& c = opt_.net;
    EBM_REQUIRE(ck.meta_as<int>("cf_ebm.c") == c.c && ck.meta_as<int>("cf_ebm.image_channels") == c.image_channels &&
                    ck.meta_as<int>("cf_ebm.max_resolution") == c.max_resolution,
                "checkpoint '", path.string(), "' holds a different architecture (c = ", ck.meta("cf_ebm.c"),
                ", channels = ", ck.meta("cf_ebm.image_channels"), ", resolution ", ck.meta("cf_ebm.max_resolution"),
                ") than the one configured (c = ", c.c, ", channels = ", c.image_channels, ", resolution ",
                c.max_resolution, ")");
    model_.load(ck);
    const T beta = model_.net().beta();
    begin_stage(ck.meta_as<int>("trainer.stage"), ck.meta_as<long long>("trainer.images"),
                ck.meta_as<std::uint64_t>("trainer.data.epoch"), ck.meta_as<index_t>("trainer.data.position"));
    model_.net().set_stage(stage_, beta);
    step_ = ck.meta_as<std::int64_t>("trainer.step");
    finished_ = ck.meta_as<bool>("trainer.finished");
    rng_ = ck.get_rng("trainer.rng");
    io::load_state(ck, *adam_, "adam.state");
    if (ema_) io::load_state(ck, *ema_, "ema.state");
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
  static std::vector<int> steps_of(const train_options& o) {
    std::vector<int> s;
    for (const auto& p : o.stages) s.push_back(p.langevin_steps);
    return s;
  }
  long long total_images() const {
    long long n = images_;
    for (int l = 0; l < stage_; ++l) n += opt_.stages[static_cast<std::size_t>(l)].images;
    return n;
  }
  std::string last_good_checkpoint() const {
    return last_checkpoint_.empty() ? std::string("none written yet") : last_checkpoint_.string();
  }

  /// Seconds per image of one forward + input-gradient pass of every
  /// level's energy, timed once on host devices (a second or less): the ETA
  /// weighs the stages by them.  Multiply-adds alone underrate the small
  /// levels, whose passes are mostly per-layer overhead: by them the `hour`
  /// preset's first ETA read 52 minutes for a 29-minute run.  The input
  /// comes from a stream of its own and the passes change no parameter or
  /// buffer, so training is the same with or without them.
  void measure_pass_costs() {
    if constexpr (pipeline_detail::on_host<D>) {
      energy<T, D>& net = model_.net();
      philox rng(opt_.seed, 0x7157);
      for (int l = 0; l < opt_.net.levels(); ++l) {
        const index_t r = opt_.net.resolution(l), b = opt_.stages[static_cast<std::size_t>(l)].batch;
        tensor_type x(shape{b, opt_.net.image_channels, r, r}), ones(shape{b, 1}, T(1));
        rng.fill_uniform<T>(x.span(), T(-1), T(1));
        net.set_stage(l, T(1));
        double best = 0;
        for (int rep = 0; rep < 2; ++rep) {  // the first pass also allocates
          const auto t0 = clock::now();
          net.forward(x);
          net.backward(ones, grad::input);
          const double sec = std::chrono::duration<double>(clock::now() - t0).count();
          best = rep == 0 ? sec : std::min(best, sec);
        }
        pass_cost_.push_back(best / double(b));
      }
    }
  }

  void begin_stage(int s, long long images, std::uint64_t epoch, index_t position) {
    stage_ = s;
    images_ = images;
    const stage_plan& plan = opt_.stages[static_cast<std::size_t>(s)];
    model_.net().set_stage(s, s == 0 ? T(1) : T(std::min(1.0, double(images) / (opt_.fade_fraction * double(plan.images)))));
    loader_ = std::make_unique<data::batch_loader<T>>(*data_, plan.batch, opt_.seed + 7919 * std::uint64_t(s));
    loader_->sampler().restore(epoch, position);
    optim::adam_options ao;
    ao.lr = plan.lr;
    ao.beta1 = opt_.beta1;
    ao.beta2 = opt_.beta2;
    adam_ = std::make_unique<optim::adam<T, D>>(collect_params(model_.net()), ao);
    if (opt_.ema_decay > 0) ema_ = std::make_unique<optim::ema<T, D>>(collect_params(model_.net()), opt_.ema_decay, true);
    ml_.set_energy_l2(T(opt_.energy_l2));
    stage_start_ = clock::now();
  }

  void end_stage() {
    if (ema_) {
      ema_->copy_to_params();
      model_.net().refresh();
    }
    model_.snapshot(stage_);
    const int r = opt_.net.resolution(stage_);
    write_grid("samples_stage" + std::to_string(stage_) + "_" + std::to_string(r) + "x" + std::to_string(r) + ".png");
    if (stage_ + 1 < opt_.net.levels()) {
      begin_stage(stage_ + 1, 0, 0, 0);
    } else {
      finished_ = true;
    }
    save_checkpoint();
  }

  void write_grid(const std::string& name) {
    if (samples_.empty()) return;
    const index_t n = std::min<index_t>(samples_.extent(0), opt_.grid_images);
    const int cols = static_cast<int>(std::ceil(std::sqrt(double(n))));
    if constexpr (pipeline_detail::on_host<D>) {
      io::save_grid<T>(opt_.out_dir / name, samples_.samples(0, n), cols);
    } else {
      const tensor<T> h = pipeline_detail::host_copy(samples_);
      io::save_grid<T>(opt_.out_dir / name, h.samples(0, n), cols);
    }
  }

  std::string progress_line(int s) const {
    const stage_plan& plan = opt_.stages[static_cast<std::size_t>(s)];
    const auto& st = ml_.last();
    // ETA: the remaining images of every stage, weighted by their cost
    // relative to the current one: the cost of a pass of the stage's energy
    // (measured, or its multiply-adds on a device) times its Langevin steps
    // plus the update (about three passes), and with multistage chains the
    // steps of every earlier stage's snapshot.  The measured rate of the
    // current stage turns it into time.
    auto cost = [&](int l) {
      auto steps = [&](int k) { return double(opt_.stages[static_cast<std::size_t>(k)].langevin_steps); };
      auto pass = [&](int k) { return pass_cost_.empty() ? opt_.net.macs(k) : pass_cost_[static_cast<std::size_t>(k)]; };
      double c = pass(l) * (steps(l) + 3);
      if (opt_.start == chain_start::multistage)
        for (int k = 0; k < l; ++k) c += pass(k) * steps(k);
      return c;
    };
    double remaining = 0;
    const int cur = finished_ ? opt_.net.levels() - 1 : stage_;
    for (int l = cur; l < opt_.net.levels(); ++l) {
      const double left = double(opt_.stages[static_cast<std::size_t>(l)].images) - (l == stage_ && !finished_ ? double(images_) : 0.0);
      remaining += std::max(0.0, left) * cost(l) / cost(cur);
    }
    if (finished_) remaining = 0;
    const double eta = rate_ > 0 ? remaining / rate_ : 0;
    const int r = opt_.net.resolution(s);
    std::ostringstream os;
    os << "[stage " << s + 1 << "/" << opt_.net.levels() << " " << r << "x" << r << "] beta " << std::fixed
       << std::setprecision(2) << double(s == stage_ ? beta() : T(1)) << " | images " << std::min<long long>(s == stage_ ? images_ : plan.images, plan.images)
       << "/" << plan.images << " | step " << step_ << " | loss " << std::setprecision(4) << st.loss
       << " | E(data) " << st.energy_data << " E(samples) " << st.energy_sample << " | "
       << std::setprecision(1) << rate_ << " img/s | ETA " << pipeline_detail::format_duration(eta);
    if (finished_) os << " | done";
    return os.str();
  }

  train_options opt_;
  const data::image_dataset<T>* data_;
  D dev_;
  model<T, D> model_;
  philox rng_;
  std::unique_ptr<data::batch_loader<T>> loader_;
  std::unique_ptr<optim::adam<T, D>> adam_;
  std::unique_ptr<optim::ema<T, D>> ema_;  ///< null unless ema_decay > 0
  objective::maximum_likelihood<T, D> ml_;
  tensor_type data_batch_, samples_, coarse_scratch_;
  tensor<T> host_batch_;  // the loader's batch before its copy to the device
  int stage_ = 0;
  long long images_ = 0;
  std::int64_t step_ = 0;
  bool finished_ = false;
  double rate_ = 0;
  std::vector<double> pass_cost_;  ///< seconds per image and pass, per level (host only)
  clock::time_point stage_start_;
  std::filesystem::path last_checkpoint_;
};

}  // namespace ebm::cf_ebm
