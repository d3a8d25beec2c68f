#pragma once
// The reference classifier of the evaluation tool: a small convolutional
// network built from ebm's own layers, trained with ebm's cross-entropy and
// Adam, whose penultimate layer supplies the features of the Fréchet
// distance and whose predictions give the class histogram of generated
// images.
//
// Architecture for images [N, C, S, S] (S divisible by 8; Fashion-MNIST at
// 32 x 32, 1 channel, values in [−1, 1], padded as data/fashion_mnist.hpp does):
//
//   conv3x3(C → w) swish, avgpool2     S   → S/2
//   conv3x3(w → 2w) swish, avgpool2    S/2 → S/4
//   conv3x3(2w → 4w) swish, avgpool2   S/4 → S/8
//   flatten, linear(4w S²/64 → f) swish          ← features() ([N, f])
//   linear(f → classes)                          ← logits()
//
// The class follows the derivative contract (forward/backward/tangents over
// the logits), so the library's objectives take it like any network.  Its
// checkpoint stores the options as metadata, so load() rebuilds the same
// architecture from the file alone.
//
// reference_classifier() is the cached Fashion-MNIST instance of the tool:
// trained once (a few minutes on two cores) and reloaded from the cache
// directory afterwards.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <numeric>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "../data/dataset.hpp"
#include "../io/checkpoint.hpp"
#include "../nn/activation.hpp"
#include "../nn/conv2d.hpp"
#include "../nn/elementwise.hpp"
#include "../nn/flatten.hpp"
#include "../nn/linear.hpp"
#include "../nn/pool.hpp"
#include "../nn/sequential.hpp"
#include "../objective/cross_entropy.hpp"
#include "../optim/adam.hpp"

namespace ebm::eval {

struct classifier_options {
  index_t channels = 1;     ///< image channels
  index_t image_size = 32;  ///< image side (divisible by 8)
  index_t width = 16;       ///< channels of the first convolution (doubled per stage)
  index_t features = 128;   ///< dimension of the feature layer
  index_t classes = 10;

  bool operator==(const classifier_options&) const = default;
};

template <class T = float>
class classifier {
  using conv = nn::conv2d<T, cpu, act::swish>;
  using pool = nn::avg_pool2d<T>;
  using body_type = nn::sequential<conv, pool, conv, pool, conv, pool, nn::flatten<T>, nn::linear<T>, nn::swish<T>>;
  using head_type = nn::linear<T>;

 public:
  using value_type = T;
  using device_type = cpu;
  using tensor_type = tensor<T>;

  explicit classifier(const classifier_options& opt = {}, std::uint64_t seed = 0, cpu dev = cpu{})
      : opt_(checked(opt)), body_(make_body(opt_, dev)), head_(opt_.features, opt_.classes, true, dev) {
    nn::initialize(*this, seed);
  }

  const classifier_options& options() const { return opt_; }

  // ------------------------------------------------ derivative contract --
  /// Logits [N, classes] of images [N, C, S, S].
  const tensor_type& forward(const tensor_type& x) {
    check_images(x.shape(), "classifier::forward");
    return head_.forward(body_.forward(x));
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    return body_.backward(head_.backward(gy, g | grad::input), g);
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    return head_.forward_tangent(body_.forward_tangent(dx));
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    return body_.backward_tangent(head_.backward_tangent(dgy, g | grad::input), g);
  }
  template <class F>
  void visit_params(F&& f) {
    ebm::visit_params(body_, ebm::detail::prefixed("body", f));
    ebm::visit_params(head_, ebm::detail::prefixed("head", f));
  }
  void init(philox& rng) {
    nn::initialize(body_, rng);
    nn::initialize(head_, rng);
  }

  // ---------------------------------------------------------- inference --
  /// Feature-layer activations [N, features] of images [N, C, S, S], in
  /// batches of `batch` images; with `predicted`, also the most likely class
  /// of every image (one pass through the network for both).
  tensor<T> features(tensor_view<const T> images, index_t batch = 500, std::vector<int>* predicted = nullptr) {
    if (predicted) predicted->clear();
    return batched(images, opt_.features, batch, [&](const tensor_type& x) -> const tensor_type& {
      const tensor_type& f = body_.forward(x);
      if (predicted) append_argmax(head_.forward(f), *predicted);
      return f;
    });
  }
  /// Logits [N, classes].
  tensor<T> logits(tensor_view<const T> images, index_t batch = 500) {
    return batched(images, opt_.classes, batch, [&](const tensor_type& x) -> const tensor_type& {
      return head_.forward(body_.forward(x));
    });
  }
  /// The most likely class of each image.
  std::vector<int> predict(tensor_view<const T> images, index_t batch = 500) {
    std::vector<int> out;
    append_argmax(logits(images, batch), out);
    return out;
  }
  /// Fraction of images whose prediction equals the label.
  double accuracy(tensor_view<const T> images, std::span<const int> labels, index_t batch = 500) {
    EBM_REQUIRE(index_t(labels.size()) == images.extent(0), "classifier::accuracy: ", labels.size(),
                " labels for ", images.extent(0), " images");
    const std::vector<int> p = predict(images, batch);
    index_t right = 0;
    for (std::size_t i = 0; i < p.size(); ++i) right += p[i] == labels[i];
    return p.empty() ? 0.0 : double(right) / double(p.size());
  }

  // --------------------------------------------------------- checkpoints --
  /// Stores the parameters under "classifier.*" and the options as metadata.
  void save(io::checkpoint& ck) {
    ck.set_meta("classifier.format", format_tag);
    ck.set_meta("classifier.channels", opt_.channels);
    ck.set_meta("classifier.image_size", opt_.image_size);
    ck.set_meta("classifier.width", opt_.width);
    ck.set_meta("classifier.features", opt_.features);
    ck.set_meta("classifier.classes", opt_.classes);
    io::save_params(ck, *this, "classifier");
  }
  /// A classifier of the stored architecture with the stored parameters.
  static classifier load(const io::checkpoint& ck) {
    EBM_REQUIRE(ck.has_meta("classifier.format") && ck.meta("classifier.format") == format_tag, "checkpoint '",
                ck.source(), "' holds no ebm evaluation classifier (metadata classifier.format != ", format_tag, ")");
    classifier_options o;
    o.channels = ck.meta_as<index_t>("classifier.channels");
    o.image_size = ck.meta_as<index_t>("classifier.image_size");
    o.width = ck.meta_as<index_t>("classifier.width");
    o.features = ck.meta_as<index_t>("classifier.features");
    o.classes = ck.meta_as<index_t>("classifier.classes");
    classifier c(o);
    io::load_params(ck, c, "classifier");
    return c;
  }

  static constexpr const char* format_tag = "ebm.eval.classifier.v1";

 private:
  static classifier_options checked(const classifier_options& o) {
    EBM_REQUIRE(o.channels > 0 && o.width > 0 && o.features > 0 && o.classes > 1,
                "classifier: need positive channels, width and features and at least 2 classes");
    EBM_REQUIRE(o.image_size >= 8 && o.image_size % 8 == 0, "classifier: the image side ", o.image_size,
                " must be a positive multiple of 8 (three 2x2 poolings)");
    return o;
  }
  static body_type make_body(const classifier_options& o, cpu dev) {
    const index_t w = o.width, s = o.image_size / 8;
    return body_type(conv(o.channels, w, 3, 1, 1, true, dev), pool(dev), conv(w, 2 * w, 3, 1, 1, true, dev),
                     pool(dev), conv(2 * w, 4 * w, 3, 1, 1, true, dev), pool(dev), nn::flatten<T>{},
                     nn::linear<T>(4 * w * s * s, o.features, true, dev), nn::swish<T>(act::swish{}, dev));
  }
  void check_images(const shape& s, const char* where) const {
    EBM_REQUIRE(s.rank() == 4 && s[1] == opt_.channels && s[2] == opt_.image_size && s[3] == opt_.image_size,
                where, ": expected images [N, ", opt_.channels, ", ", opt_.image_size, ", ", opt_.image_size,
                "], got ", s);
  }
  static void append_argmax(const tensor_type& z, std::vector<int>& out) {
    const index_t n = z.extent(0), c = z.extent(1);
    for (index_t i = 0; i < n; ++i) {
      const T* row = z.data() + i * c;
      out.push_back(static_cast<int>(std::max_element(row, row + c) - row));
    }
  }
  template <class Pass>
  tensor<T> batched(tensor_view<const T> images, index_t width, index_t batch, Pass&& pass) {
    check_images(images.shape(), "classifier (inference)");
    EBM_REQUIRE(batch > 0, "classifier: batch size must be positive, got ", batch);
    const index_t n = images.extent(0);
    tensor<T> out(shape{n, width});
    tensor_type x;
    for (index_t b = 0; b < n; b += batch) {
      const index_t m = std::min(batch, n - b);
      x.resize(images.shape().with(0, m));
      std::copy_n(images.data() + b * images.shape().sample_size(), x.size(), x.data());
      const tensor_type& y = pass(x);
      std::copy_n(y.data(), y.size(), out.data() + b * width);
    }
    return out;
  }

  classifier_options opt_;
  body_type body_;
  head_type head_;
};

// ------------------------------------------------------------- training --

struct classifier_training {
  int epochs = 8;
  index_t batch_size = 64;
  double lr = 2e-3;             ///< Adam's initial rate, cosine-decayed to 0 over the run
  index_t max_steps = 0;        ///< stop after this many steps (0: run all epochs)
  std::uint64_t seed = 1;       ///< batch order
  double log_interval_s = 10;   ///< seconds between progress lines
  bool flip = true;             ///< mirror a random half of each batch left-right (augmentation)
  double label_smoothing = 0;
  index_t test_every = 0;       ///< test-set accuracy every this many epochs (0: only at the end)
};

struct classifier_training_report {
  index_t steps = 0;
  double seconds = 0;
  std::vector<double> losses;      ///< cross-entropy of every step
  double train_accuracy = 0;       ///< over the last epoch's batches (running)
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();  ///< NaN without a test set
};

namespace detail {
inline std::string format_seconds(double s) {
  const long long t = static_cast<long long>(std::max(0.0, s) + 0.5);
  std::ostringstream os;
  if (t >= 3600) os << t / 3600 << "h" << std::setw(2) << std::setfill('0') << (t % 3600) / 60 << "m";
  else if (t >= 60) os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  else os << t << "s";
  return os.str();
}
/// Mirrors each image of x [N, C, H, W] left-right with probability 1/2.
template <class T>
void flip_random_half(tensor<T>& x, philox& rng) {
  const index_t n = x.extent(0), rows = x.extent(1) * x.extent(2), w = x.extent(3);
  for (index_t i = 0; i < n; ++i) {
    if (rng.uniform() < 0.5) continue;
    T* img = x.data() + i * rows * w;
    for (index_t r = 0; r < rows; ++r) std::reverse(img + r * w, img + (r + 1) * w);
  }
}
}  // namespace detail

/// Trains `net` on a labelled image set with cross-entropy and Adam (cosine
/// learning-rate decay), printing progress (epoch, step, loss, accuracy,
/// images/s, ETA) to *log when given; measures the accuracy on `test` (when
/// given) at the end and every opt.test_every epochs.
template <class T>
classifier_training_report train_classifier(classifier<T>& net, const data::image_dataset<T>& train,
                                            const std::type_identity_t<data::image_dataset<T>>* test,
                                            const classifier_training& opt,
                                            std::ostream* log = nullptr) {
  EBM_REQUIRE(train.has_labels(), "train_classifier: the training set has no labels");
  EBM_REQUIRE(train.num_classes() <= net.options().classes, "train_classifier: labels up to ",
              train.num_classes() - 1, " for a classifier of ", net.options().classes, " classes");
  EBM_REQUIRE(opt.epochs > 0 && opt.batch_size > 0 && opt.lr > 0, "train_classifier: need epochs > 0, "
              "batch_size > 0 and lr > 0");
  using clock = std::chrono::steady_clock;
  data::batch_loader<T> loader(train, std::min(opt.batch_size, train.size()), opt.seed);
  const index_t per_epoch = loader.sampler().batches_per_epoch();
  index_t total = per_epoch * opt.epochs;
  if (opt.max_steps > 0) total = std::min(total, opt.max_steps);
  optim::adam<T> adam(collect_params(net), {.lr = opt.lr});
  objective::cross_entropy<T> ce(static_cast<T>(opt.label_smoothing));
  philox flips(opt.seed, 0xf11b);

  classifier_training_report rep;
  rep.losses.reserve(static_cast<std::size_t>(total));
  tensor<T> x;
  std::vector<int> y;
  const auto start = clock::now();
  auto last_log = start;
  double win_loss = 0, win_acc = 0, epoch_acc = 0;
  index_t win_steps = 0, epoch_steps = 0;
  constexpr double pi = 3.141592653589793;
  for (index_t step = 0; step < total; ++step) {
    adam.set_lr(opt.lr * 0.5 * (1 + std::cos(pi * double(step) / double(total))));
    loader.next(x, 0, &y);
    if (opt.flip) detail::flip_random_half(x, flips);
    zero_grad(net);
    const double loss = ce(net, x, y);
    EBM_REQUIRE(std::isfinite(loss), "train_classifier: the loss became ", loss, " at step ", step);
    adam.step();
    rep.losses.push_back(loss);
    win_loss += loss;
    win_acc += ce.accuracy();
    epoch_acc += ce.accuracy();
    ++win_steps;
    ++epoch_steps;
    const bool epoch_end = (step + 1) % per_epoch == 0 || step + 1 == total;
    const auto now = clock::now();
    const double since = std::chrono::duration<double>(now - last_log).count();
    if (log && (since >= opt.log_interval_s || epoch_end)) {
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const double rate = double((step + 1) * opt.batch_size) / std::max(elapsed, 1e-9);
      const double eta = double((total - step - 1) * opt.batch_size) / std::max(rate, 1e-9);
      *log << "[classifier] epoch " << step / per_epoch + 1 << "/" << opt.epochs << " | step " << step + 1 << "/"
           << total << " | loss " << std::fixed << std::setprecision(4) << win_loss / double(win_steps) << " | acc "
           << std::setprecision(3) << win_acc / double(win_steps) << " | " << std::setprecision(0) << rate
           << " img/s | ETA " << detail::format_seconds(eta) << std::defaultfloat << std::endl;
      win_loss = win_acc = 0;
      win_steps = 0;
      last_log = now;
    }
    if (epoch_end) {
      rep.train_accuracy = epoch_acc / double(epoch_steps);
      epoch_acc = 0;
      epoch_steps = 0;
      const index_t epoch = step / per_epoch + 1;
      const bool last = step + 1 == total;
      if (test && (last || (opt.test_every > 0 && epoch % opt.test_every == 0))) {
        rep.test_accuracy = net.accuracy(test->images().view(), test->labels());
        if (log)
          *log << "[classifier] epoch " << epoch << (last ? " (end)" : "") << ": test accuracy " << std::fixed
               << std::setprecision(4) << rep.test_accuracy << std::defaultfloat << std::endl;
      }
    }
  }
  rep.steps = total;
  rep.seconds = std::chrono::duration<double>(clock::now() - start).count();
  return rep;
}

// ---------------------------------------------------- cached reference --

/// $XDG_CACHE_HOME/ebm, else $HOME/.cache/ebm, else <temp>/ebm-cache.
inline std::filesystem::path default_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "ebm";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "ebm";
  return std::filesystem::temp_directory_path() / "ebm-cache";
}

/// What reference_classifier() did.
struct reference_info {
  std::filesystem::path file;
  bool loaded = false;          ///< read from the cache (else trained now)
  double test_accuracy = 0;     ///< measured on `test` now
  double train_seconds = 0;     ///< training time (as recorded when trained)
  std::string trained_on;       ///< threads and steps of the training run
};

struct reference_options {
  std::filesystem::path cache_dir = default_cache_dir();
  classifier_options arch;
  classifier_training training;
  bool retrain = false;  ///< train (and overwrite the cache) even when a cached file exists
};

/// The Fashion-MNIST reference classifier: loaded from
/// <cache_dir>/fashion_mnist_classifier_<arch>.ckpt when that file exists and
/// holds this architecture, otherwise trained on `train` (progress on *log)
/// and saved there.  A cache file that cannot be read is reported on *log
/// and replaced.
template <class T = float>
classifier<T> reference_classifier(const data::image_dataset<T>& train, const data::image_dataset<T>& test,
                                   const reference_options& opt = {}, std::ostream* log = nullptr,
                                   reference_info* info = nullptr) {
  const classifier_options& arch = opt.arch;
  std::ostringstream name;
  name << "fashion_mnist_classifier_v1_w" << arch.width << "_f" << arch.features << "_s" << arch.image_size << "_e"
       << opt.training.epochs << ".ckpt";
  const std::filesystem::path file = opt.cache_dir / name.str();
  reference_info ri;
  ri.file = file;
  if (!opt.retrain && std::filesystem::exists(file)) {
    try {
      const io::checkpoint ck = io::checkpoint::load(file);
      classifier<T> c = classifier<T>::load(ck);
      EBM_REQUIRE(c.options() == arch, "cached classifier '", file.string(), "' has another architecture");
      ri.loaded = true;
      ri.train_seconds = ck.meta_as<double>("train.seconds");
      ri.trained_on = ck.meta("train.description");
      ri.test_accuracy = c.accuracy(test.images().view(), test.labels());
      if (log)
        *log << "[classifier] loaded " << file.string() << " (test accuracy " << ri.test_accuracy << ")" << std::endl;
      if (info) *info = ri;
      return c;
    } catch (const error& e) {
      if (log) *log << "[classifier] ignoring unusable cache file: " << e.what() << std::endl;
    }
  }
  if (log) *log << "[classifier] training the reference classifier (cached as " << file.string() << ")" << std::endl;
  classifier<T> c(arch);
  const classifier_training_report rep = train_classifier(c, train, &test, opt.training, log);
  ri.test_accuracy = rep.test_accuracy;
  ri.train_seconds = rep.seconds;
  std::ostringstream desc;
  desc << rep.steps << " steps of " << opt.training.batch_size << " images, " << cpu{}.threads() << " threads";
  ri.trained_on = desc.str();
  io::checkpoint ck;
  c.save(ck);
  ck.set_meta("train.seconds", rep.seconds);
  ck.set_meta("train.test_accuracy", rep.test_accuracy);
  ck.set_meta("train.description", ri.trained_on);
  std::filesystem::create_directories(opt.cache_dir);
  ck.save(file);
  if (info) *info = ri;
  return c;
}

}  // namespace ebm::eval
