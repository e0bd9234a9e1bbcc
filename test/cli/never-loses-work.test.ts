/**
 * issue #13 items 8-13: the CLI never loses work. Each case runs the real command on temporary files
 * (the bundled Fashion-MNIST model, generated .npy data and PNG images) through runCli with a fake CliIO.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pngBytes } from '../data/helpers.js';
import { REPO, cli, fashionWorkspace, npyBytes } from './helpers.js';

function bytes(file: string): Buffer {
  return fs.readFileSync(file);
}

describe('trt-int8 calibrate never writes over its inputs', () => {
  const { dir, model, data } = fashionWorkspace();
  const modelBefore = bytes(model);
  const dataBefore = bytes(data);

  it('refuses --qdq, --json or --cache naming the model or the data, also through a link or another spelling', async () => {
    fs.symlinkSync(model, path.join(dir, 'link.onnx'));
    const cases: [string, string][] = [
      ['--qdq', model],
      ['--json', data],
      ['--cache', data],
      ['--qdq', path.join(dir, 'link.onnx')],
      ['--json', `${dir}/./sub/../data.npy`],
    ];
    for (const [flag, target] of cases) {
      const run = await cli(['calibrate', model, '--data', data, flag, target]);
      expect(run.code, `${flag} ${target}`).toBe(2);
      expect(run.err).toMatch(/would overwrite the (model|--data)/);
      expect(run.out).toBe(''); // nothing ran
    }
    expect(bytes(model).equals(modelBefore)).toBe(true);
    expect(bytes(data).equals(dataBefore)).toBe(true);
  });

  it('refuses an output inside a data folder, a file listed in a list file, and two outputs on one file', async () => {
    const folder = path.join(dir, 'arrays');
    fs.mkdirSync(folder);
    fs.copyFileSync(data, path.join(folder, 'a.npy'));
    const inFolder = await cli(['calibrate', model, '--data', folder, '--json', path.join(folder, 'a.npy')]);
    expect(inFolder.code).toBe(2);
    expect(inFolder.err).toMatch(/would overwrite the --data/);

    const list = path.join(dir, 'list.txt');
    fs.writeFileSync(list, 'arrays/a.npy\n');
    const listed = await cli(['calibrate', model, '--data', list, '--cache', path.join(folder, 'a.npy')]);
    expect(listed.code).toBe(2);
    expect(listed.err).toMatch(/would overwrite the --data \(listed\)/);

    const same = await cli(['calibrate', model, '--data', data, '--json', path.join(dir, 'x.out'), '--qdq', path.join(dir, 'x.out')]);
    expect(same.code).toBe(2);
    expect(same.err).toMatch(/--json and --qdq name the same file/);
  });

  it('checks every output before any work, and writes none when one is bad', async () => {
    const qdq = path.join(dir, 'ok.qdq.onnx');
    for (const bad of [path.join(dir, 'missing', 'x.json'), dir /* a folder */]) {
      const run = await cli(['calibrate', model, '--data', data, '--qdq', qdq, '--json', bad]);
      expect(run.code, bad).toBe(2);
      expect(run.err).toMatch(/ERR_IO/);
      expect(run.err).not.toMatch(/calibrate: batch/); // refused before the first batch
      expect(fs.existsSync(qdq)).toBe(false);
    }
    expect((await cli(['calibrate', model, '--data', data, '--qdq', qdq, '--json', path.join(dir, 'missing', 'x.json')])).err).toMatch(/mkdir -p/);
  });

  it('with no output at all, says so and exits 2', async () => {
    const run = await cli(['calibrate', model, '--data', data]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/nothing to write: pass at least one of --cache <file>, --qdq <file>, --json <file>/);
    expect(run.out).toBe('');
  });
});

describe('trt-int8 calibrate with an existing cache', () => {
  it('says the ranges come from the cache, and --recalibrate calibrates again', async () => {
    const { dir, model, data } = fashionWorkspace(8);
    const cache = path.join(dir, 'model.cache');
    const first = await cli(['calibrate', model, '--data', data, '--batch', '4', '--cache', cache]);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^Calibrated \d+ tensors .* on 8 samples in 2 batches/);
    // 'auto' (the default) says what its whole-model check kept, and its per-tensor step.
    expect(first.out).toMatch(/\nModel check on 8 samples: kept (auto|percentile-99\.999?) \(output error [\d.e-]+; 'auto' [\d.e-]+\)(; per tensor, \d+ of \d+ contested ranges changed \(output error [\d.e-]+\))?; \d+ model runs, [\d.]+ s\./);
    const written = fs.readFileSync(cache, 'utf8');

    const qdq = path.join(dir, 'from-cache.qdq.onnx');
    const again = await cli(['calibrate', model, '--data', data, '--batch', '4', '--cache', cache, '--qdq', qdq]);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/model\.cache exists: its ranges are reused .* --recalibrate/);
    expect(again.out).toMatch(/read from the existing cache .*model\.cache; no calibration ran/);
    expect(again.err).not.toMatch(/calibrate: batch/);
    expect(fs.readFileSync(cache, 'utf8')).toBe(written);
    expect(fs.statSync(qdq).size).toBeGreaterThan(0);

    // Other data and --recalibrate: a real calibration that replaces the cache.
    fs.writeFileSync(data, npyBytes(new Float32Array(8 * 28 * 28).fill(5), [8, 1, 28, 28]));
    const re = await cli(['calibrate', model, '--data', data, '--batch', '4', '--cache', cache, '--recalibrate']);
    expect(re.code).toBe(0);
    expect(re.out).toMatch(/^Calibrated .* on 8 samples in 2 batches/);
    expect(re.err).not.toMatch(/reused/);
    expect(fs.readFileSync(cache, 'utf8')).not.toBe(written);

    // A cache of another algorithm is not used, and the CLI says why.
    const other = await cli(['calibrate', model, '--data', data, '--batch', '4', '--cache', cache, '--algorithm', 'minmax']);
    expect(other.code).toBe(0);
    expect(other.err).toMatch(/the existing cache .*model\.cache was not used: .*calibrated instead/);
    expect(other.out).toMatch(/^Calibrated .*\(minmax\) on 8 samples/);

    const alone = await cli(['calibrate', model, '--data', data, '--json', path.join(dir, 'r.json'), '--recalibrate']);
    expect(alone.code).toBe(2);
    expect(alone.err).toMatch(/--recalibrate only applies with --cache/);
  });
});

describe('trt-int8 calibrate: image flags and the data they go with', () => {
  const { dir, model, data } = fashionWorkspace(4);
  const images = path.join(dir, 'images');
  fs.mkdirSync(images);
  for (let k = 0; k < 4; k++) fs.writeFileSync(path.join(images, `${k}.png`), pngBytes(30, 30, 40 * k));
  const json = path.join(dir, 'out.json');

  it('refuses each image flag with .npy data instead of ignoring it', async () => {
    for (const flag of [['--image-size', '28x28'], ['--mean', '0.5'], ['--std', '0.2'], ['--scale', '1/255'], ['--channels', 'gray']]) {
      const run = await cli(['calibrate', model, '--data', data, ...flag, '--json', json]);
      expect(run.code, flag.join(' ')).toBe(2);
      expect(run.err).toContain(`${flag[0]} only applies to images, but --data ${data} is NumPy data`);
    }
  });

  it('asks for --image-size (with the model size) for a folder of images, not "holds no .npy"', async () => {
    const run = await cli(['calibrate', model, '--data', images, '--json', json]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/holds images: pass --image-size 28x28/);
    expect(run.err).not.toMatch(/no \.npy/);
  });

  it('suggests --channels gray for RGB into a single-channel model, and then calibrates', async () => {
    const rgb = await cli(['calibrate', model, '--data', images, '--image-size', '28x28', '--json', json]);
    expect(rgb.code).toBe(2);
    expect(rgb.err).toMatch(/has 1 channel\(s\) \(nchw\), but --channels rgb gives 3\. Pass --channels gray/);
    const gray = await cli(['calibrate', model, '--data', images, '--image-size', '28x28', '--channels', 'gray', '--batch', '2', '--json', json]);
    expect(gray.err).not.toMatch(/error/);
    expect(gray.code).toBe(0);
    expect(gray.out).toMatch(/on 4 samples in 2 batches/);
  });

  it('exits 2 on every command-line mistake, naming the flag', async () => {
    const json = path.join(dir, 'mistake.json');
    const cases: [string[], RegExp][] = [
      [['--data', data, '--algorithm', 'percentile', '--percentile', '150'], /--percentile needs a number in \(0, 100\], got "150"/],
      [['--data', data, '--algorithm', 'minmax', '--percentile', '99'], /--percentile only applies to --algorithm percentile/],
      [['--data', images, '--image-size', '28x28', '--channels', 'gray', '--std', '0'], /option std[\s\S]*other than 0/],
      [['--data', images, '--image-size', '28x28', '--mean', '0.5,0.5'], /option mean[\s\S]*3 of them/],
      [['--data', data, '--non-finite', 'ignore'], /--non-finite must be one of error, warn, allow, got "ignore"/],
      [['--data', data, '--cpu', '--cuda'], /--cuda and --cpu contradict/],
      [['--data', data, '--batch', '0'], /--batch needs a positive integer/],
      [['--data', path.join(dir, 'nope.npy')], /--data .*nope\.npy does not exist/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(['calibrate', model, ...args, '--json', json]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.err).toMatch(message);
      expect(run.err).toMatch(/Usage: trt-int8 calibrate/);
    }
    expect(fs.existsSync(json)).toBe(false);
  });

  it('suggests the nearest option and command', async () => {
    const option = await cli(['calibrate', model, '--data', data, '--qdg', 'x.onnx']);
    expect(option.code).toBe(2);
    expect(option.err).toMatch(/unknown option "--qdg"\. Did you mean --qdq\?/);
    const other = await cli(['calibrate', model, '--data', data, '--image-sise', '28x28']);
    expect(other.err).toMatch(/Did you mean --image-size\?/);
    const command = await cli(['calibrat', model]);
    expect(command.code).toBe(2);
    expect(command.err).toMatch(/unknown command "calibrat" \(did you mean "calibrate"\?\)/);
  });
});

describe('trt-int8 calibrate: CLI equivalents of API-only fixes', () => {
  it('--non-finite error|warn|allow, and the error names the flag', async () => {
    const { dir, model, data } = fashionWorkspace(4);
    const values = new Float32Array(4 * 28 * 28).fill(0.5);
    values[3] = Number.NaN;
    fs.writeFileSync(data, npyBytes(values, [4, 1, 28, 28]));
    const json = path.join(dir, 'r.json');
    const strict = await cli(['calibrate', model, '--data', data, '--json', json]);
    expect(strict.code).toBe(1);
    expect(strict.err).toMatch(/ERR_BAD_BATCH/);
    expect(strict.err).toMatch(/On the command line:\n- --non-finite warn/);
    expect(fs.existsSync(json)).toBe(false);

    const warn = await cli(['calibrate', model, '--data', data, '--json', json, '--non-finite', 'warn', '--cpu']);
    expect(warn.code).toBe(0);
    expect(warn.err).toMatch(/^warning: .*NaN|warning: .*non-finite/im);
    const allow = await cli(['calibrate', model, '--data', data, '--json', path.join(dir, 'a.json'), '--non-finite', 'allow']);
    expect(allow.code).toBe(0);
    expect(allow.err).not.toMatch(/warning/);
  });
});

describe('progress', () => {
  it('evaluate shows the total and an ETA; a non-terminal gets whole lines, a terminal a bar', async () => {
    const { model, data } = fashionWorkspace(12);
    const plain = await cli(['evaluate', model, model, '--data', data, '--batch', '4']);
    expect(plain.code).toBe(0);
    const lines = plain.err.split('\n').filter((l) => l.startsWith('evaluate:'));
    expect(lines.at(-1)).toMatch(/^evaluate: batch 3\/3, 12 samples, [\d.]+ samples\/s {2}ETA 0s$/);
    expect(plain.err).not.toContain('\r');
    expect(plain.progress).toBe('');
    const tty = await cli(['evaluate', model, model, '--data', data, '--batch', '4'], { tty: true });
    expect(tty.progress).toMatch(/\r\x1b\[2K\[#+\] evaluate: batch 3\/3/);
  });

  it('the built command line writes one line per update, no carriage return, when stderr is a pipe', () => {
    const { dir, model, data } = fashionWorkspace(8);
    const viteNode = path.join(REPO, 'node_modules/vite-node/vite-node.mjs');
    const result = spawnSync(process.execPath, [viteNode, path.join(REPO, 'src/cli/main.ts'), '--', 'calibrate', model, '--data', data, '--batch', '4', '--json', path.join(dir, 'r.json')], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.stderr).not.toContain('\r');
    expect(result.stderr).toMatch(/^calibrate: batch 2\/2, 8 samples/m);
    expect(result.status).toBe(0);
    const usage = spawnSync(process.execPath, [viteNode, path.join(REPO, 'src/cli/main.ts'), '--', 'calibrate', model, '--data', data], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
    expect(usage.status).toBe(2);
  }, 150_000);
});
