{
  # libtorch comes from Debian's libtorch-dev by default; LIBTORCH=/path/to/libtorch
  # (the unpacked PyTorch C++ distribution, e.g. a CUDA build) overrides it.
  "variables": {
    "libtorch%": "<!(node -p \"process.env.LIBTORCH || ''\")"
  },
  "targets": [{
    "target_name": "advexp_native",
    "sources": ["src/addon.cc", "src/tensor.cc", "src/ops.cc", "src/autograd.cc", "src/jit.cc", "src/distributed.cc", "src/fused.cc"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    # USE_C10D_GLOO: c10d's ProcessGroupGloo.hpp is empty without it (Gloo's headers: libgloo-dev).
    "defines": ["USE_C10D_GLOO", "NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GLIBCXX_USE_CXX11_ABI=1"],
    # libtorch reports errors as C++ exceptions and relies on RTTI; node-gyp disables both by default.
    "cflags!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-fopenmp-simd", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
    "conditions": [
      ["libtorch==''", {
        "include_dirs": ["/usr/include/torch/csrc/api/include"],
        "libraries": ["-ltorch", "-ltorch_cpu", "-lc10"]
      }, {
        "include_dirs": ["<(libtorch)/include", "<(libtorch)/include/torch/csrc/api/include"],
        # A CUDA build adds torch_cuda/c10_cuda; --no-as-needed keeps them linked although no symbol
        # of ours references them (they register the CUDA kernels at load time).
        # A CUDA libtorch ships c10d's NCCL process group: the nccl backend is compiled in when it is there.
        "defines": ["<!@(node -p \"require('fs').existsSync(process.env.LIBTORCH + '/lib/libtorch_cuda.so') && require('fs').existsSync(process.env.LIBTORCH + '/include/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp') ? 'USE_C10D_NCCL' : 'ADVEXP_NO_NCCL'\")"],
        "libraries": ["-L<(libtorch)/lib", "-Wl,-rpath,<(libtorch)/lib", "-Wl,--no-as-needed",
                      "<!@(node -p \"['torch','torch_cpu','c10','torch_cuda','c10_cuda'].filter(l => require('fs').existsSync(process.env.LIBTORCH + '/lib/lib' + l + '.so')).map(l => '-l' + l).join(' ')\")"]
      }]
    ]
  }]
}
