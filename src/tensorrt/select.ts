/** Which TensorRT to use, and which of our modules serves it. */
import path from 'node:path';
import { TrtInt8Error } from '../core/errors.js';
import { inspectTensorRTDir, locateTensorRT, SUPPORTED_MAJORS, type TensorRTInstall } from '../native/index.js';
import type { TensorRTChoice } from './types.js';

const INSTALL_FIXES = [
  'Install TensorRT 10.x (implicit INT8 calibration) or 11.x: pip install tensorrt-cu13 (or tensorrt-cu12), or NVIDIA\'s tar/deb packages.',
  'Point TENSORRT_ROOT at a TensorRT folder (its lib/ holds libnvinfer.so.<major>), or add that lib folder to LD_LIBRARY_PATH.',
  'Pass the install explicitly: buildEngine(model, { tensorrt: { root: "/path/to/TensorRT/lib" } }).',
];

function isSupported(major: number): boolean {
  return (SUPPORTED_MAJORS as readonly number[]).includes(major);
}

/**
 * Picks the install to use from those found (in locateTensorRT's order): the first with a supported major.
 * None at all: ERR_TENSORRT_NOT_FOUND. Only unsupported majors: ERR_TENSORRT_UNSUPPORTED_VERSION.
 */
export function selectTensorRT(installs: readonly TensorRTInstall[], searched = 'TENSORRT_ROOT, LD_LIBRARY_PATH, pip installs, system folders and ldconfig'): TensorRTInstall {
  if (installs.length === 0) {
    throw new TrtInt8Error('ERR_TENSORRT_NOT_FOUND', 'No TensorRT installation was found.', {
      input: 'libnvinfer.so.<major>',
      expected: 'TensorRT 10.x or 11.x',
      actual: `nothing in ${searched}`,
      fixes: INSTALL_FIXES,
    });
  }
  const supported = installs.find((i) => isSupported(i.version.major));
  if (supported) return supported;
  const found = installs.map((i) => `${i.version.major}.${i.version.minor}.${i.version.patch} (${i.libnvinfer})`);
  throw new TrtInt8Error('ERR_TENSORRT_UNSUPPORTED_VERSION', `TensorRT ${found.join(', ')} ${installs.length > 1 ? 'are' : 'is'} not supported.`, {
    input: installs[0]!.libnvinfer,
    expected: `TensorRT major ${SUPPORTED_MAJORS.join(' or ')}`,
    actual: found,
    fixes: [
      'Install TensorRT 10.x (for calibrators) or 11.x (Q/DQ): pip install tensorrt-cu13',
      'If a supported TensorRT is installed too, put its lib folder first: TENSORRT_ROOT=/path/to/it',
    ],
  });
}

/** The install buildEngine / Engine.load use: the explicit choice, or what locateTensorRT finds. */
export function resolveTensorRT(choice: TensorRTChoice | undefined, env: NodeJS.ProcessEnv = process.env): TensorRTInstall {
  if (choice === undefined) return selectTensorRT(locateTensorRT({ env }));
  if ('libnvinfer' in choice) return selectTensorRT([choice]);
  if (typeof choice.root !== 'string' || choice.root.length === 0) {
    throw new TrtInt8Error('ERR_BAD_OPTION', 'tensorrt.root must be a folder path.', { input: 'tensorrt.root', expected: 'a folder holding libnvinfer.so.<major>', actual: choice.root });
  }
  // A TensorRT root keeps its libraries in lib/ (tar packages) or lib64/; a pip install is the folder itself.
  const install = ['.', 'lib', 'lib64'].map((sub) => inspectTensorRTDir(path.resolve(choice.root, sub), 'TENSORRT_ROOT')).find((i) => i !== undefined);
  return selectTensorRT(install ? [install] : [], `${choice.root} (and its lib/, lib64/)`);
}
