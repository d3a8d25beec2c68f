// ebm_evaluate: scores generated Fashion-MNIST-like images (Fréchet distance
// of reference-classifier features to the test set, class histogram, nearest-
// neighbour memorisation check) and, with --baselines, simple baselines that
// need no model.  See docs/evaluation.md.
//
//   ebm_evaluate --samples samples.idx [--data DIR] [--cache DIR] [--baselines]
//
// Samples: an IDX file of unsigned bytes [N, 32, 32] or [N, 1, 32, 32]
// (0 = black, 255 = white, as data::write_idx_images writes them); 28 x 28
// images are padded to 32 x 32 with black, like the training data.
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ebm/data/fashion_mnist.hpp>
#include <ebm/data/idx.hpp>
#include <ebm/data/transform.hpp>
#include <ebm/eval.hpp>

namespace {

struct arguments {
  std::optional<std::filesystem::path> samples;
  std::filesystem::path data = ebm::data::fashion_mnist_default_dir;
  std::filesystem::path cache = ebm::eval::default_cache_dir();
  bool baselines = false;
  bool retrain = false;
  ebm::index_t baseline_count = 0;  // 0: as many as the samples, else 10000
  ebm::eval::evaluator_options eval;
};

void usage(std::ostream& os) {
  os << "usage: ebm_evaluate [--samples FILE.idx] [--baselines] [--data DIR] [--cache DIR]\n"
        "                    [--count N] [--nn-queries M] [--seed S] [--retrain]\n"
        "  --samples FILE   generated images: IDX u8 [N, 32, 32] or [N, 1, 32, 32] (28 x 28 is padded)\n"
        "  --baselines      also score baselines (training images, test + noise, PCA-50 Gaussian,\n"
        "                   uniform noise, blurred test images)\n"
        "  --data DIR       Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)\n"
        "  --cache DIR      where the reference classifier is cached (default $XDG_CACHE_HOME/ebm\n"
        "                   or ~/.cache/ebm)\n"
        "  --count N        images per baseline (default: the number of samples, else 10000)\n"
        "  --nn-queries M   images per set searched in the training set (default 1000)\n"
        "  --seed S         seed of subsets and baseline noise\n"
        "  --retrain        train the classifier again even when a cached one exists\n";
}

arguments parse(int argc, char** argv) {
  arguments a;
  auto value = [&](int& i, std::string_view flag) -> std::string {
    if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + " needs a value");
    return argv[++i];
  };
  auto integer = [&](int& i, std::string_view flag) -> long long {
    const std::string v = value(i, flag);
    std::size_t used = 0;
    long long n = 0;
    try {
      n = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || n < 0) throw std::invalid_argument(std::string(flag) + ": '" + v + "' is not a count");
    return n;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view f = argv[i];
    if (f == "--samples") a.samples = value(i, f);
    else if (f == "--data") a.data = value(i, f);
    else if (f == "--cache") a.cache = value(i, f);
    else if (f == "--baselines") a.baselines = true;
    else if (f == "--retrain") a.retrain = true;
    else if (f == "--count") a.baseline_count = integer(i, f);
    else if (f == "--nn-queries") a.eval.nn_queries = integer(i, f);
    else if (f == "--seed") a.eval.seed = static_cast<std::uint64_t>(integer(i, f));
    else if (f == "--help" || f == "-h") {
      usage(std::cout);
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown argument '" + std::string(f) + "'");
    }
  }
  if (!a.samples && !a.baselines) throw std::invalid_argument("nothing to score: give --samples FILE and/or --baselines");
  if (a.eval.nn_queries < 1) throw std::invalid_argument("--nn-queries must be at least 1");
  return a;
}

/// Samples as [N, 1, 32, 32] in [-1, 1].
ebm::tensor<float> read_samples(const std::filesystem::path& path) {
  ebm::tensor<float> x = ebm::data::read_idx_images<float>(path);
  const ebm::shape& s = x.shape();
  EBM_REQUIRE(s[1] == 1, "'", path.string(), "' holds ", s[1], "-channel images ", s,
              "; the Fashion-MNIST classifier reads 1 channel");
  if (s[2] == 28 && s[3] == 28) return ebm::data::pad_images<float>(x.view(), 32, 32, -1.0f);
  EBM_REQUIRE(s[2] == 32 && s[3] == 32, "'", path.string(), "' holds images of ", s[2], "x", s[3],
              "; expected 32 x 32 (or 28 x 28, padded like the data)");
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  arguments args;
  try {
    args = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ebm_evaluate: " << e.what() << "\n";
    usage(std::cerr);
    return 2;
  }
  try {
    namespace fm = ebm::data;
    std::optional<ebm::tensor<float>> samples;
    if (args.samples) samples = read_samples(*args.samples);  // fail early on a bad file

    std::cerr << "[evaluate] loading Fashion-MNIST from " << args.data.string() << std::endl;
    fm::fashion_mnist_options fo;
    fo.dir = args.data;
    const auto train = fm::load_fashion_mnist<float>(fm::fashion_mnist_split::train, fo);
    const auto test = fm::load_fashion_mnist<float>(fm::fashion_mnist_split::test, fo);

    ebm::eval::reference_options ro;
    ro.cache_dir = args.cache;
    ro.retrain = args.retrain;
    ebm::eval::reference_info info;
    auto clf = ebm::eval::reference_classifier<float>(train, test, ro, &std::cerr, &info);

    std::cerr << "[evaluate] preparing test-set statistics" << std::endl;
    ebm::eval::evaluator<float> ev(clf, train, test, args.eval);
    std::vector<ebm::eval::image_score> rows;
    if (samples) {
      std::cerr << "[evaluate] scoring " << args.samples->string() << std::endl;
      rows.push_back(ev.score(samples->view(), args.samples->filename().string()));
    }
    if (args.baselines) {
      const ebm::index_t n = args.baseline_count > 0 ? args.baseline_count : samples ? samples->extent(0) : 10000;
      for (auto& r : ev.score_baselines(n, &std::cerr)) rows.push_back(std::move(r));
    }

    std::cout << "Reference classifier: " << info.file.string() << (info.loaded ? " (cached)" : " (trained now)")
              << ", test accuracy " << ebm::eval::detail::fixed(100 * info.test_accuracy, 2) << "%, trained in "
              << ebm::eval::detail::fixed(info.train_seconds, 0) << " s (" << info.trained_on << ").\n"
              << "Test images' mean NN distance to the training set: "
              << ebm::eval::detail::fixed(ev.test_nearest().mean(), 3) << " (" << ev.test_nearest().size()
              << " images); copy threshold (" << 100 * args.eval.copy_quantile << "% quantile): "
              << ebm::eval::detail::fixed(ebm::eval::quantile(ev.test_nearest().distance, args.eval.copy_quantile), 3)
              << ".\n\n"
              << ebm::eval::markdown_table(rows) << "\nPredicted classes (% of images):\n\n"
              << ebm::eval::markdown_histogram(rows, fm::fashion_mnist_classes);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ebm_evaluate: " << e.what() << "\n";
    return 1;
  }
}
