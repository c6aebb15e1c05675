// Builds native/ with node-gyp against Debian's libtorch-dev (/usr/include/torch) or $LIBTORCH.
// Used by `npm run build:native` in a clone and by the package's install script (scripts/install.mjs).
// Nothing is downloaded: the Node headers come from the running Node's own prefix (Debian's nodejs and the
// nodejs.org tarballs both carry include/node), node-gyp is npm's bundled copy when npm runs this
// ($npm_config_node_gyp), else the devDependency.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What is missing to build the addon, as apt package names / instructions; empty when the build can start. */
export function missingForBuild() {
  const missing = [];
  const lib = process.env.LIBTORCH;
  if (lib) {
    if (!existsSync(path.join(lib, 'include', 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) {
      missing.push(`LIBTORCH=${lib} has no include/torch/csrc/api/include/torch/torch.h (expected an unpacked libtorch)`);
    }
  } else if (!existsSync('/usr/include/torch/csrc/api/include/torch/torch.h')) {
    missing.push('libtorch-dev');
  }
  const onPath = (cmd) => (process.env.PATH ?? '').split(path.delimiter).some((d) => d !== '' && existsSync(path.join(d, cmd)));
  if (!onPath('g++')) missing.push('g++');
  if (!onPath('make')) missing.push('make');
  if (!onPath('python3')) missing.push('python3');
  if (nodeDir() === null) missing.push(`the Node headers (${path.join(nodePrefix(), 'include', 'node', 'node_api.h')} missing: Debian's nodejs or a nodejs.org build carries them)`);
  return missing;
}

const nodePrefix = () => path.resolve(path.dirname(process.execPath), '..');
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  return existsSync(path.join(nodePrefix(), 'include', 'node', 'node_api.h')) ? nodePrefix() : null;
}

function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  for (const p of [path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), path.join(root, '..', 'node-gyp', 'bin', 'node-gyp.js')]) {
    if (existsSync(p)) return [process.execPath, p];
  }
  return null;
}

/** Runs node-gyp rebuild; returns its exit status (a one-line message and 1 when node-gyp is not found). */
export function buildNative() {
  const gyp = nodeGyp();
  if (gyp === null) {
    console.error('advexp: node-gyp not found: run this through npm (npm rebuild advexp, or npm run build:native in a clone)');
    return 1;
  }
  const args = [...gyp.slice(1), 'rebuild', '--directory', path.join(root, 'native'), '-j', String(Math.max(1, cpus().length))];
  const dir = nodeDir();
  if (dir !== null) args.push(`--nodedir=${dir}`);
  if (process.env.LIBTORCH) console.log(`advexp: building the native addon with LIBTORCH=${process.env.LIBTORCH}`);
  const r = spawnSync(gyp[0], args, { stdio: 'inherit', cwd: root });
  return r.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const missing = missingForBuild();
  if (missing.length > 0) {
    console.error(`advexp: cannot build the native addon: missing ${missing.join(', ')}. On Debian/Ubuntu: sudo apt-get install libtorch-dev g++ make python3 (or set LIBTORCH=/path/to/libtorch)`);
    process.exit(1);
  }
  const status = buildNative();
  if (status !== 0) console.error(`advexp: native addon build failed (node-gyp exit ${status})`);
  process.exit(status);
}
