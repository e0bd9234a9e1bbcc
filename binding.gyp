{
  # The core addon: statistics, the calibrator bridge and dynamically loaded CUDA.
  # It links against neither CUDA nor TensorRT, so it loads on any machine.
  "targets": [
    {
      "target_name": "trt_int8_core",
      "sources": [ "<!@(node -p \"require('fs').readdirSync('cpp/core').filter(f => f.endsWith('.cc')).map(f => 'cpp/core/' + f).join(' ')\")" ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")", "cpp/core" ],
      "defines": [ "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS" ],
      "cflags!": [ "-fno-exceptions" ],
      "cflags_cc!": [ "-fno-exceptions", "-fno-rtti" ],
      "cflags_cc": [ "-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread" ],
      "ldflags": [ "-pthread" ],
      "libraries": [ "-ldl" ]
    }
  ]
}
