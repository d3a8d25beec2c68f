// Shared pieces of the CF-EBM example: command-line options, data loading,
// presets, and the application commands (declared here, defined in apps.cpp).
#pragma once

#include <ebm/data/dataset.hpp>
#include <ebm/data/fashion_mnist.hpp>
#include <ebm/data/image_folder.hpp>
#include <ebm/pipeline/cf_ebm_trainer.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace cfx {

namespace fs = std::filesystem;
using model_t = ebm::cf_ebm::model<float>;

/// --key value and --flag options after the command word.
class options {
 public:
  options(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) throw ebm::error("unexpected argument '" + a + "' (options start with --)");
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) values_[a] = argv[++i];
      else values_[a] = "";
    }
  }
  bool has(const std::string& k) const { return values_.count(k) != 0; }
  std::string str(const std::string& k, const std::string& def) const {
    used_.insert(k);
    auto it = values_.find(k);
    return it == values_.end() ? def : it->second;
  }
  long long integer(const std::string& k, long long def) const {
    const std::string s = str(k, std::to_string(def));
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end) throw ebm::error("option " + k + " expects an integer, got '" + s + "'");
    return v;
  }
  double real(const std::string& k, double def) const {
    const std::string s = str(k, std::to_string(def));
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end) throw ebm::error("option " + k + " expects a number, got '" + s + "'");
    return v;
  }
  bool flag(const std::string& k) const {
    used_.insert(k);
    return has(k);
  }
  /// Throws on options nobody asked for (typos).
  void reject_unknown() const {
    for (const auto& [k, v] : values_)
      if (!used_.count(k)) throw ebm::error("unknown option " + k + " (see --help)");
  }

 private:
  std::map<std::string, std::string> values_;
  mutable std::set<std::string> used_;
};

/// Training images: Fashion-MNIST (train or test split, optionally some
/// classes only), padded to 32×32, or a folder of PNG/JPEG images.
ebm::data::image_dataset<float> load_images(const options& o, bool train);

/// Parses "--classes 7,9" into labels (empty: all).
std::vector<int> parse_classes(const std::string& s);

/// Training options for a preset name ("demo", "hour", "paper").
ebm::cf_ebm::train_options preset(const std::string& name, int channels);

int cmd_train(const options& o);
int cmd_generate(const options& o);
int cmd_denoise(const options& o);
int cmd_inpaint(const options& o);
int cmd_ood(const options& o);
int cmd_translate(const options& o);

/// Loads a trained model from a checkpoint written by `train`.
model_t load_model(const fs::path& checkpoint);

}  // namespace cfx
