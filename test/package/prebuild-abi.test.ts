// The prebuilt addon must load on old Linux systems: it may ask glibc for no symbol version above the baseline the
// README states (GLIBC_2.28), and libstdc++ for none at all (libc++ is linked in statically). Read from the ELF's
// .gnu.version_r section (the versions the dynamic linker checks at load time), parsed here with no external tool.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const PREBUILT = path.join(root, 'prebuilds', 'linux-x64', 'trt-int8.glibc.node');
const BUILT = path.join(root, 'build', 'Release', 'trt_int8_core.node');
const GLIBC_BASELINE = [2, 28];

const SHT_GNU_VERNEED = 0x6ffffffe;

/** Library file name to the symbol versions required from it, from an ELF64 little-endian shared object. */
function requiredVersions(file: string): Map<string, string[]> {
  const elf = fs.readFileSync(file);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  const sectionHeaders = Number(elf.readBigUInt64LE(0x28));
  const sectionHeaderSize = elf.readUInt16LE(0x3a);
  const sectionCount = elf.readUInt16LE(0x3c);
  const section = (index: number) => {
    const at = sectionHeaders + index * sectionHeaderSize;
    return { type: elf.readUInt32LE(at + 4), offset: Number(elf.readBigUInt64LE(at + 24)), link: elf.readUInt32LE(at + 40), info: elf.readUInt32LE(at + 44) };
  };
  const required = new Map<string, string[]>();
  for (let i = 0; i < sectionCount; i++) {
    const verneed = section(i);
    if (verneed.type !== SHT_GNU_VERNEED) continue;
    const strings = section(verneed.link).offset;
    const text = (at: number) => elf.toString('latin1', strings + at, elf.indexOf(0, strings + at));
    // Elf64_Verneed { vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32 }, a chain of verneed.info.
    let need = verneed.offset;
    for (let n = 0; n < verneed.info; n++) {
      const count = elf.readUInt16LE(need + 2);
      const versions: string[] = [];
      // Elf64_Vernaux { vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32 }
      let aux = need + elf.readUInt32LE(need + 8);
      for (let a = 0; a < count; a++) {
        versions.push(text(elf.readUInt32LE(aux + 8)));
        aux += elf.readUInt32LE(aux + 12);
      }
      required.set(text(elf.readUInt32LE(need + 4)), versions);
      need += elf.readUInt32LE(need + 12);
    }
  }
  return required;
}

/** Versions that break the baseline: any GLIBC_x.y above it, and any libstdc++/libgcc_s C++ ABI version. */
function aboveBaseline(required: Map<string, string[]>): string[] {
  const all = [...required.values()].flat();
  return all.filter((version) => {
    if (/^(GLIBCXX|CXXABI)_/.test(version)) return true;
    const glibc = /^GLIBC_(\d+)\.(\d+)/.exec(version);
    if (!glibc) return false;
    const [major, minor] = [Number(glibc[1]), Number(glibc[2])];
    return major > GLIBC_BASELINE[0]! || (major === GLIBC_BASELINE[0] && minor > GLIBC_BASELINE[1]!);
  });
}

describe('prebuilt addon symbol versions (prebuilds/linux-x64/trt-int8.glibc.node)', () => {
  it('asks glibc for nothing above GLIBC_2.28 and libstdc++ for nothing', () => {
    const required = requiredVersions(PREBUILT);
    // The parse found the libraries a Linux addon always needs, so an empty result cannot pass by accident.
    expect([...required.keys()]).toContain('libc.so.6');
    expect([...required.values()].flat().some((v) => v.startsWith('GLIBC_'))).toBe(true);
    expect([...required.keys()].filter((lib) => /libstdc\+\+|libgcc_s/.test(lib))).toEqual([]);
    expect(aboveBaseline(required)).toEqual([]);
  });

  // A g++ build links libstdc++ dynamically: the same check must catch it (proves the parser sees GLIBCXX).
  it.runIf(fs.existsSync(BUILT))('flags a g++ build of the same sources, which needs libstdc++ symbol versions', () => {
    const required = requiredVersions(BUILT);
    expect([...required.keys()]).toContain('libstdc++.so.6');
    expect(aboveBaseline(required).some((v) => v.startsWith('GLIBCXX_'))).toBe(true);
  });
});
