/** Where the package is installed: the folder the loaders look in for build/ and prebuilds/. */
import fs from 'node:fs';
import path from 'node:path';

/** The package root: the nearest folder upwards whose package.json names trt-int8. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'trt-int8') return dir;
      } catch {
        /* keep looking */
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(__dirname, '..', '..');
    dir = parent;
  }
}
