{
  # The core addon: statistics, the calibrator bridge and dynamically loaded CUDA.
  # It links against neither CUDA nor TensorRT, so it loads on any machine.
  # This file lives in cpp/, not at the package root, so that `npm rebuild` and installers never run node-gyp:
  # build with `npm run build:native` (scripts/build-native.cjs), which runs node-gyp here.
  "targets": [
    {
      "target_name": "trt_int8_core",
      "sources": [ "<!@(node -p \"require('fs').readdirSync('core').filter(f => f.endsWith('.cc')).map(f => 'core/' + f).join(' ')\")" ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")", "core" ],
      "defines": [ "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS" ],
      "cflags!": [ "-fno-exceptions" ],
      "cflags_cc!": [ "-fno-exceptions", "-fno-rtti" ],
      "cflags_cc": [ "-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread" ],
      "ldflags": [ "-pthread" ],
      "libraries": [ "-ldl" ]
    }
  ]
}
