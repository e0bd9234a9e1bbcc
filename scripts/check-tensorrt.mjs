#!/usr/bin/env node
// `npm run check:tensorrt`: compiles every TensorRT source (cpp/tensorrt/*.cc) syntax-only against each
// TensorRT include folder in TENSORRT_INCLUDE (':'-separated), so one change is known to build for both
// 10.x and 11.x. Needs the headers (see docs/tensorrt.md); not part of CI, which has none.
//   TENSORRT_INCLUDE=third_party/tensorrt-10.16/include:third_party/tensorrt-11.1/include npm run check:tensorrt
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const r = spawnSync(process.execPath, [path.join(here, 'build-tensorrt.mjs'), '--check', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
