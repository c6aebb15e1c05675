// Builds native/ with node-gyp. Uses the Node headers installed with the system's Node
// (/usr/include/node, Debian's nodejs) when present, so no header download is needed offline.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';

const args = ['rebuild', '--directory', 'native', '-j', String(Math.max(1, cpus().length))];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
if (process.env.LIBTORCH) console.log(`build-native: using LIBTORCH=${process.env.LIBTORCH}`);
const gyp = path.resolve('node_modules', '.bin', 'node-gyp');
const r = spawnSync(gyp, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
