/**
 * Can this TensorRT build engines on this GPU? Running an engine needs libnvinfer alone; building one also needs
 * the builder resource for the GPU's SM, which TensorRT dlopens by file name when the builder starts:
 *   - libnvinfer_builder_resource.so.<ver>          every GPU (10.6 and the pip wheels ship this one);
 *   - libnvinfer_builder_resource_sm<NN>.so.<ver>   one SM (newer 10.x split it per SM);
 *   - libnvinfer_builder_resource_ptx.so.<ver>      PTX only: not enough, the per-SM file is still loaded.
 * TensorRT 10.15.1 and 11.2 from Maven Central carry only the _ptx file and fail on an H200 (sm_90) with
 * "Unable to load library: libnvinfer_builder_resource_sm90.so.10.15.1". Decided from file names alone: nothing
 * here loads TensorRT.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TensorRTInstall } from './tensorrt-locator.js';

export interface BuilderResourceCheck {
  /** The install's folder that was searched. */
  readonly root: string;
  /** The GPU's compute capability, [major, minor]. */
  readonly computeCapability: readonly [number, number];
  /** True when a builder resource covering this GPU is there. */
  readonly canBuild: boolean;
  /** The file that covers this GPU, when one does. */
  readonly file?: string;
  /** The per-SM file TensorRT will look for and not find, when none does. */
  readonly missing?: string;
  /** Every builder resource file in the folder. */
  readonly present: readonly string[];
  readonly reason: string;
  /** How to get a TensorRT that can build here; present whenever canBuild is false. */
  readonly fix?: string;
}

const RESOURCE_FILE = /^libnvinfer_builder_resource(?:_(sm\d+|ptx))?\.so\.(\d+(?:\.\d+)*)$/;

interface ResourceFile {
  readonly name: string;
  /** 'all' for the file covering every GPU, else 'sm90', 'ptx', ... */
  readonly covers: string;
  readonly version: string;
}

function resourceFiles(dir: string): ResourceFile[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return entries
    .map((name) => ({ name, match: RESOURCE_FILE.exec(name) }))
    .filter((e): e is { name: string; match: RegExpExecArray } => e.match !== null)
    .map(({ name, match }) => ({ name, covers: match[1] ?? 'all', version: match[2]! }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** sm_90 for [9, 0], sm_120 for [12, 0]: TensorRT's per-SM file names use major * 10 + minor. */
export function smName(computeCapability: readonly [number, number]): string {
  return `sm${computeCapability[0] * 10 + computeCapability[1]}`;
}

/**
 * The version TensorRT appends to the resource's name: the install's exact version, else the version its
 * resource files carry (the longest, e.g. 10.15.1 over 10), else the major.
 */
function resourceVersion(install: TensorRTInstall, files: readonly ResourceFile[]): string {
  const v = install.version;
  if (install.versionExact) return `${v.major}.${v.minor}.${v.patch}`;
  const named = files.map((f) => f.version).filter((version) => version.split('.')[0] === String(v.major));
  return named.sort((a, b) => b.length - a.length)[0] ?? String(v.major);
}

function cannotBuildFix(missing: string, all: string): string {
  return (
    `Point TENSORRT_ROOT at a TensorRT whose lib folder also holds ${missing} or ${all}: NVIDIA's full tar or pip ` +
    'packages carry the per-SM files, and the TensorRT 10.6.0 libraries from Maven Central carry the all-GPU one. ' +
    'Engines built elsewhere with the same TensorRT version for this GPU still load and run with this one (Engine.load).'
  );
}

/** Whether `install` has the builder resource a GPU of `computeCapability` needs (see the file's comment). */
export function checkBuilderResource(install: TensorRTInstall, computeCapability: readonly [number, number]): BuilderResourceCheck {
  const files = resourceFiles(install.root);
  const version = resourceVersion(install, files);
  const sm = smName(computeCapability);
  const ofVersion = files.filter((f) => f.version === version || (!install.versionExact && f.version.startsWith(`${version}.`)));
  const base = { root: install.root, computeCapability, present: files.map((f) => f.name) };
  const covering = ofVersion.find((f) => f.covers === 'all') ?? ofVersion.find((f) => f.covers === sm);
  if (covering) {
    return { ...base, canBuild: true, file: path.join(install.root, covering.name), reason: `${covering.name} covers ${sm}.` };
  }
  const missing = `libnvinfer_builder_resource_${sm}.so.${version}`;
  const all = `libnvinfer_builder_resource.so.${version}`;
  const has = files.length > 0 ? `it has only ${files.map((f) => f.name).join(', ')}` : 'it has no builder resource at all';
  return {
    ...base,
    canBuild: false,
    missing,
    reason:
      `TensorRT ${version} at ${install.root} can run engines but cannot build them on this GPU (compute ${computeCapability.join('.')}, ${sm}): ` +
      `building loads ${missing} or ${all}, and ${has}.`,
    fix: cannotBuildFix(missing, all),
  };
}
