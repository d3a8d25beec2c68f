#pragma once
// ebm/eval: scoring generated images and detectors (Fréchet distance of
// reference-classifier features, class histograms, nearest-neighbour
// memorisation, AUROC, accuracy under adversarial attack) and the baselines
// that make the numbers readable.
// Kept out of ebm/ebm.hpp: it pulls in Eigen's eigenvalue solvers.
#include "eval/adversarial.hpp"
#include "eval/auroc.hpp"
#include "eval/baselines.hpp"
#include "eval/classifier.hpp"
#include "eval/frechet.hpp"
#include "eval/image_score.hpp"
#include "eval/nearest.hpp"
#include "eval/pca_gaussian.hpp"
