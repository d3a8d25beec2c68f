# Detects the CUDA toolkit and cuDNN.  CUDA is never required: without them
# ebm::cuda simply does not exist and one status line says why.
#
# cuDNN hints, in order: -DCUDNN_ROOT=..., the environment variables
# CUDNN_ROOT / CUDNN_HOME, the toolkit's own directories, and (when
# -DEBM_CUDNN_FROM_PYTHON=ON, or =<path to a python interpreter>) the
# nvidia/cudnn directory of the pip wheel `nvidia-cudnn-cu12` / PyTorch's
# dependencies, located by asking that interpreter.
#
# GPU architectures: CMAKE_CUDA_ARCHITECTURES when given, else 80-real;90
# (SASS for A100 and H100/H200, plus PTX of sm_90 so that newer GPUs can JIT).
set(EBM_HAS_CUDA OFF)
if(NOT EBM_ENABLE_CUDA)
  message(STATUS "ebm: CUDA backend disabled (EBM_ENABLE_CUDA=OFF)")
  return()
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(STATUS "ebm: CUDA backend off (no CUDA compiler found)")
  return()
endif()
find_package(CUDAToolkit QUIET)
if(NOT CUDAToolkit_FOUND)
  message(STATUS "ebm: CUDA backend off (CUDA toolkit not found)")
  return()
endif()

set(EBM_CUDNN_FROM_PYTHON OFF CACHE STRING
    "Also look for cuDNN in the nvidia/cudnn package of a Python installation (ON or a python path)")
set(_cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT} $ENV{CUDNN_HOME} ${CUDAToolkit_LIBRARY_ROOT})
if(EBM_CUDNN_FROM_PYTHON)
  if(EBM_CUDNN_FROM_PYTHON STREQUAL "ON" OR EBM_CUDNN_FROM_PYTHON STREQUAL "TRUE")
    find_program(_ebm_python NAMES python3 python)
  else()
    set(_ebm_python ${EBM_CUDNN_FROM_PYTHON})
  endif()
  if(_ebm_python)
    execute_process(
      COMMAND ${_ebm_python} -c "import nvidia.cudnn as m; print(list(m.__path__)[0])"
      OUTPUT_VARIABLE _ebm_py_cudnn OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _ebm_py_rc ERROR_QUIET)
    if(_ebm_py_rc EQUAL 0 AND IS_DIRECTORY "${_ebm_py_cudnn}")
      list(PREPEND _cudnn_hints ${_ebm_py_cudnn})
      message(STATUS "ebm: looking for cuDNN in ${_ebm_py_cudnn}")
    else()
      message(STATUS "ebm: ${_ebm_python} has no nvidia.cudnn package")
    endif()
  endif()
endif()
find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${_cudnn_hints} ${CUDAToolkit_INCLUDE_DIRS}
          PATH_SUFFIXES include)
find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 libcudnn.so.8 HINTS ${_cudnn_hints}
             ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64 lib/x64)
if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
  message(STATUS "ebm: CUDA backend off (cuDNN not found; set CUDNN_ROOT or EBM_CUDNN_FROM_PYTHON)")
  return()
endif()
set(_cudnn_version_header ${CUDNN_INCLUDE_DIR}/cudnn_version.h)
if(NOT EXISTS ${_cudnn_version_header})
  set(_cudnn_version_header ${CUDNN_INCLUDE_DIR}/cudnn.h)
endif()
file(STRINGS ${_cudnn_version_header} _cudnn_major REGEX "^#define CUDNN_MAJOR +[0-9]+")
string(REGEX MATCH "[0-9]+" EBM_CUDNN_VERSION_MAJOR "${_cudnn_major}")
if(NOT EBM_CUDNN_VERSION_MAJOR OR EBM_CUDNN_VERSION_MAJOR LESS 8)
  message(STATUS "ebm: CUDA backend off (cuDNN ${EBM_CUDNN_VERSION_MAJOR} at ${CUDNN_INCLUDE_DIR}; need 8 or newer)")
  return()
endif()

# Must be set before enable_language, which otherwise picks the compiler's
# default architecture (sm_75 for CUDA 13); CUDAARCHS in the environment wins.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
  set(CMAKE_CUDA_ARCHITECTURES "80-real;90" CACHE STRING "GPU architectures of the CUDA code")
endif()
enable_language(CUDA)
if(DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_EXTENSIONS OFF)  # nvcc has no -std=gnu++20
  set(_ebm_cuda_std_flag "")
else()
  # CMake before 3.26 does not know nvcc's C++20 flag: pass it ourselves.
  set(_ebm_cuda_std_flag -std=c++20)
endif()

# One CUDA runtime per process: the shared one that CUDA::cudart (and so
# ebm::cuda) links, also for the device-link step of CUDA executables.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)

add_library(ebm_cuda INTERFACE)
add_library(ebm::cuda ALIAS ebm_cuda)
set_target_properties(ebm_cuda PROPERTIES EXPORT_NAME cuda)
target_link_libraries(ebm_cuda INTERFACE ebm CUDA::cudart CUDA::cublas ${CUDNN_LIBRARY})
target_include_directories(ebm_cuda INTERFACE $<BUILD_INTERFACE:${CUDNN_INCLUDE_DIR}>)
target_compile_definitions(ebm_cuda INTERFACE EBM_HAS_CUDA=1
  # Eigen is host-only in ebm: without this, nvcc compiles Eigen's
  # __host__ __device__ annotations (slower, and warnings from Eigen 3.4).
  $<$<COMPILE_LANGUAGE:CUDA>:EIGEN_NO_CUDA>)
# nvcc's front end warns (#554) that tensor_view<const T>'s conversion to
# tensor_view<const T> is never used; harmless, and silenced here so that
# every .cu file compiles cleanly.
target_compile_options(ebm_cuda INTERFACE
  $<$<COMPILE_LANGUAGE:CUDA>:${_ebm_cuda_std_flag} -Xcudafe=--diag_suppress=554>)
set(EBM_HAS_CUDA ON)
message(STATUS "ebm: CUDA backend on (CUDA ${CUDAToolkit_VERSION}, cuDNN ${EBM_CUDNN_VERSION_MAJOR} at "
               "${CUDNN_LIBRARY}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
