#!/usr/bin/env node
// Fetches the real photos the PP-OCRv4 detector example calibrates and evaluates on: OpenCV's sample images
// (scene text and general photos) from the Debian package `opencv-doc` (BSD-3-Clause / Apache-2.0, see
// COPYRIGHT), into examples/ocr-dynamic/data/ (git-ignored). No root needed; idempotent (files already present
// with the pinned size and sha256 are kept). Usage: npm run setup:ocr [-- --force]
//
// Environment:
//   OPENCV_DOC_DEB=/path/to/opencv-doc_*.deb   use this package file instead of apt-get download
//   OCR_EXAMPLE_DATA_DIR=/some/dir             extract somewhere else (default examples/ocr-dynamic/data)
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DebianPackage, SetupError, copyIntoPlace, pinnedFileProblem, runSetup } from './lib/debian-package.mjs';

const PACKAGE = 'opencv-doc';
const PACKAGE_EXAMPLES = 'usr/share/doc/opencv-doc/examples';
const PACKAGE_COPYRIGHT = 'usr/share/doc/opencv-doc/copyright';

// Pinned from opencv-doc 4.6.0+dfsg-12 (Debian bookworm): [path under examples/, size, sha256].
// held-out: the six scene-text photos of OpenCV's text module and two more photos with text; never calibrated on.
const HELD_OUT = [
  ['text/scenetext01.jpg', 97100, '7f3041a7019ab4d33d2452bc757d8c4f38616bfde71431e12f7ec370d7b2018e'],
  ['text/scenetext02.jpg', 95135, 'd4295bff9f348012f91a2cf745753124f85041fe3c3717146c6759c4cd977211'],
  ['text/scenetext03.jpg', 60751, 'cadf4a3d29a7ba6fe976b53fa65f490cc2868375e8feb3d93f26029f05c662ca'],
  ['text/scenetext04.jpg', 99487, '28e08d142a04f92f96d01ff2674f7804321841cba95bd968980cdc85ef0af6df'],
  ['text/scenetext05.jpg', 113689, '63985ac1a9989a8320605d5be0ec285af0c6304a78cc9cc5de6c2c7c435f7c0b'],
  ['text/scenetext06.jpg', 70430, 'e4d64f10bbfb27b2c5980cb048fd0abe20dd74868ba5460298de473ced53b518'],
  ['data/imageTextR.png', 60920, '6a4adfe5e08abd805a9989e5cbe605074001a1566840b24189b0285c0246f700'],
  ['data/licenseplate_motion.jpg', 58364, 'ea6fa9cea75df91bec656d1d3b903111a9c0708c6a3b88f405a5156de38ff9d6'],
];
// calibration: word crops and text photos of many sizes, and general photos (a detector sees both).
const CALIBRATION = [
  ['text/scenetext_segmented_word01.jpg', 158993, 'b1524d1ae02ba1ee07bc32285df1083cceca851a28a2f34db63f7cf1169893b2'],
  ['text/scenetext_segmented_word02.jpg', 126812, '1c648c38ebf826968e5daacde0b6845ecfd824420de17a3132096056aa12a6c2'],
  ['text/scenetext_segmented_word03.jpg', 91586, '6f60d1b006b81d95dcbae0723c4135dfcfe37b87b472faf056c8a35d910a2a7c'],
  ['text/scenetext_segmented_word04.jpg', 103480, '43524ab83453638e1f4e1aae64c50ecee898cf687612ffec6937ff7e6fd30a35'],
  ['text/scenetext_segmented_word05.jpg', 58823, '3c805afc795596442fedaf3576b4c29d5fbad98e472cb6f30151ea62697115fa'],
  ['text/scenetext_word02.jpg', 24443, '73dfd0410033b674f419db18d70701572f5fd6c0e05c9d060a2ab9f603f1f8f2'],
  ['text/scenetext_word03.jpg', 17533, '6fdcbf406cd0710bc0f9390e1cb11d9f955d512ce7db3a0a84c87af5a6e9a89e'],
  ['text/scenetext_word04.jpg', 47475, '121c74707b905b98351f5b21c11195d062e1f9eca05732bd92707bbbb9966911'],
  ['data/imageTextN.png', 37913, '78e5141dea1ad97e7d3d903de47fe95e9031e8f559bf14179f7e1e539cb1f94f'],
  ['data/notes.png', 14650, 'b40d7e1f92df046f4853b006a0dd745bd3e55e48e57faa28c686a519fd062633'],
  ['data/text_defocus.jpg', 32176, 'ffea13e23e2bdce60e50e43e5950d76d542a61a820c03c28fbb8f11b26edfdb6'],
  ['data/text_motion.jpg', 26637, '85b43c44379fc4906c8feb0ba4ca701edce862c9aa6eb171d513929fbab19807'],
  ['data/aero1.jpg', 59918, 'd9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef'],
  ['data/aero3.jpg', 52974, '1c407146f8762b3b14a7953ff9bc4c01ed64c467d7277122e769bf7e816017a4'],
  ['data/apple.jpg', 51705, 'e86879de3d9a807dedc742a8f464f39e6b74bbb531a1fba3583155d94997d1cd'],
  ['data/baboon.jpg', 179920, '1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f'],
  ['data/board.jpg', 121597, '4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f'],
  ['data/building.jpg', 79718, '742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07'],
  ['data/butterfly.jpg', 44746, '34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8'],
  ['data/fruits.jpg', 82429, '9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1'],
  ['data/home.jpg', 32197, '23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2'],
  ['data/messi5.jpg', 72937, '1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9'],
  ['data/orange.jpg', 50036, '152c20d2f380ac985de25e474e1a5f06ed34b932191342099b8272a63a15a079'],
  ['data/squirrel_cls.jpg', 62311, '20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b'],
  ['data/starry_night.jpg', 302901, 'accda7a19a90f22a4a922fdc8c230167d7abf5f80882171e2cee125c5f12481d'],
  ['data/box_in_scene.png', 122490, '8b0225ff76244a42bd1400c0904f8b7afea7d97b7d8115495e42e98ad347bd51'],
  ['data/pca_test1.jpg', 33227, '9aae52b2bf730216f7e46c662f612a417ebd43642e742e7f867f33aa734293cd'],
  ['data/stuff.jpg', 29365, '21cd00afbdd0727f445dd91c0a09633e6345ed5b05a3d2355453a1f3c314c6c5'],
  ['data/left01.jpg', 27908, '9621899098adffa1440c8264606bb7be535ccfd9ad126ae8e0bd9b0c5a5b8676'],
  ['data/smarties.png', 90815, 'ad3f751c053fdcf432687c1bc0e56a61a9119d2bb2ae29365f8aa6534fc77417'],
];
const SETS = { 'held-out': HELD_OUT, calibration: CALIBRATION };

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = resolve(process.env.OCR_EXAMPLE_DATA_DIR ?? join(repoRoot, 'examples/ocr-dynamic/data'));
const force = process.argv.includes('--force');

const debian = new DebianPackage(PACKAGE, 'OPENCV_DOC_DEB');
const problemWith = pinnedFileProblem;

/** The destination of a pinned file: <dataDir>/<set>/<file name> (names are unique across data/ and text/). */
function destination(set, path) {
  return join(dataDir, set, basename(path));
}

function main() {
  const wanted = Object.entries(SETS).flatMap(([set, files]) => files.map(([path, size, sha256]) => ({ set, path, size, sha256 })));
  const missing = wanted.filter((f) => force || problemWith(destination(f.set, f.path), f.size, f.sha256) !== null);
  if (missing.length === 0) {
    console.log(`OCR example images already present in ${dataDir} (${wanted.length} files, sizes and sha256 verified).`);
    return;
  }
  mkdirSync(dataDir, { recursive: true });
  // Work inside dataDir so that the final renames stay on one file system (atomic).
  const workDir = mkdtempSync(join(dataDir, '.setup-'));
  try {
    const deb = debian.fetch(workDir); // about 96 MB
    const extractDir = join(workDir, 'root');
    debian.extract(deb, extractDir);
    for (const f of missing) {
      const problem = problemWith(join(extractDir, PACKAGE_EXAMPLES, f.path), f.size, f.sha256);
      if (problem) {
        throw new SetupError(`${f.path} from ${deb} does not match the pinned file: ${problem}.`, [
          'The package version may differ from the one pinned here (4.6.0+dfsg-12); update the lists in scripts/setup-ocr-example.mjs after checking the images.',
        ]);
      }
    }
    for (const f of missing) {
      mkdirSync(join(dataDir, f.set), { recursive: true });
      renameSync(join(extractDir, PACKAGE_EXAMPLES, f.path), destination(f.set, f.path));
    }
    copyIntoPlace(join(extractDir, PACKAGE_COPYRIGHT), join(dataDir, 'COPYRIGHT'), workDir);
    writeFileSync(join(workDir, 'SOURCE'), `${basename(deb)}: usr/share/doc/opencv-doc/examples/{data,text}\n`);
    renameSync(join(workDir, 'SOURCE'), join(dataDir, 'SOURCE'));
    console.log(`OCR example images extracted into ${dataDir}: ${HELD_OUT.length} held-out, ${CALIBRATION.length} calibration (sha256 verified).`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

runSetup(main);
