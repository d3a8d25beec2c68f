// Shared pieces of the CF-EBM example: command-line options, data loading,
// presets, and the application commands (declared here, defined in apps.cpp).
#pragma once

#include <ebm/data/dataset.hpp>
#include <ebm/data/fashion_mnist.hpp>
#include <ebm/data/image_folder.hpp>
#include <ebm/pipeline/cf_ebm_trainer.hpp>

#include "../common/options.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace cfx {

namespace fs = std::filesystem;
using model_t = ebm::cf_ebm::model<float>;

using options = ebm::examples::options;

/// Training images: Fashion-MNIST (train or test split, optionally some
/// classes only), padded to 32×32, or a folder of PNG/JPEG images.
ebm::data::image_dataset<float> load_images(const options& o, bool train);

/// Parses "--classes 7,9" into labels (empty: all).
std::vector<int> parse_classes(const std::string& s);

/// Training options for a preset name ("demo", "quick", "hour", "wide", "paper").
ebm::cf_ebm::train_options preset(const std::string& name, int channels);

int cmd_train(const options& o);
int cmd_generate(const options& o);
int cmd_denoise(const options& o);
int cmd_inpaint(const options& o);
int cmd_ood(const options& o);
int cmd_translate(const options& o);

/// Loads a trained model from a checkpoint written by `train`, computing on
/// `threads` worker threads (0: all cores).
model_t load_model(const fs::path& checkpoint, int threads = 0);

}  // namespace cfx
