// advexp serve: the web explorer. Thin: parse, load the models, start src/server, stop cleanly on SIGINT/SIGTERM.
import fs from 'node:fs';
import path from 'node:path';
import { parse, intArg, numArg } from './args.js';
import { openModel, defaultModelPath, openData, applyThreads, packageRoot, modelChoices, MODEL_FLAGS, MODEL_FLAG_HELP } from './common.js';
import { UserError } from './errors.js';
import type { LoadedModel } from '../io/model-file.js';
import { createServer, isLoopback, DEFAULT_MAX_UPLOAD, type AdvexpServer } from '../server/index.js';

const HELP = `usage: advexp serve [--model FILE]... [--data PATH] [--results DIR]... [options]
A local web page to see why a model decides: drop an image (or pick a CIFAR record), read the class
probabilities, and see the adversarial explanation for every class (with a ρ slider), Grad-CAM and LIME
beside when available, and saved ARA plots from advexp eval. Open the printed address in a browser.

  --model FILE       a model to offer (repeatable); the shipped default model is offered first when present
  --no-default       do not offer the shipped default model
  --data PATH        images the page can browse: a CIFAR-10 batch (e.g. test_batch.bin), the tarball, or an image
                     folder (any size, RGB or grayscale: each is fitted to the chosen model's input)
  --results DIR      a folder of advexp eval outputs (--json, --plot) to show (repeatable)
  --host H           address to listen on (default 127.0.0.1; anything but loopback lets others use it)
  --port P           port (default 8080; 0 picks a free one)
  --max-upload MB    upload cap in MB (default 5)
  --queue N          requests allowed to wait for the engine (default 16); more get 503
  --threads T        libtorch threads (default: all cores)
  --quiet            print only the address and errors
${MODEL_FLAG_HELP}`;

export async function run(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    model: { type: 'string', multiple: true }, 'no-default': { type: 'boolean' }, data: { type: 'string' },
    results: { type: 'string', multiple: true }, host: { type: 'string' }, port: { type: 'string' },
    'max-upload': { type: 'string' }, queue: { type: 'string' }, threads: { type: 'string' }, quiet: { type: 'boolean' }, ...MODEL_FLAGS,
  });
  if (values.help) { console.log(HELP); return; }
  const host = values.host ?? '127.0.0.1';
  if (host.trim() === '') throw new UserError('--host: empty address');
  const port = intArg(values.port, 'port', 8080, 0);
  if (port > 65535) throw new UserError(`--port: expected 0..65535, got '${values.port}'`);
  const maxUploadMb = numArg(values['max-upload'], 'max-upload', DEFAULT_MAX_UPLOAD / 1048576);
  if (!(maxUploadMb > 0 && maxUploadMb <= 1024)) throw new UserError(`--max-upload: expected a size in MB above 0 and at most 1024, got '${values['max-upload']}'`);
  const maxQueue = intArg(values.queue, 'queue', 16, 0);
  const quiet = values.quiet === true;
  const say = (s: string): void => { if (!quiet) console.log(s); };

  const choices = modelChoices(values);
  const dataFile = values.data;
  // Read (and every record checked) now: a one-line error before the server starts, not at the first click.
  const data = dataFile === undefined ? null : { file: dataFile, set: openData(dataFile) };
  const resultDirs = values.results ?? [];
  for (const d of resultDirs) {
    if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) throw new UserError(`--results ${d}: no such directory`);
  }

  // Models: the default (when shipped and wanted) first, then every --model; the same file once.
  const files: { file: string | undefined; isDefault: boolean }[] = [];
  const wantDefault = values['no-default'] !== true;
  const given = values.model ?? [];
  if (wantDefault && (given.length === 0 || fs.existsSync(defaultModelPath()))) files.push({ file: undefined, isDefault: true });
  for (const f of given) files.push({ file: f, isDefault: false });
  if (files.length === 0) throw new UserError('no models to serve: give --model FILE (or drop --no-default)');
  applyThreads(values.threads);
  const loaded: { model: LoadedModel; default: boolean }[] = [];
  const seen = new Set<string>();
  try {
    for (const { file, isDefault } of files) {
      const m = openModel(file, choices.overrides);
      if (seen.has(m.file)) { m.model.dispose(); continue; }
      seen.add(m.file);
      loaded.push({ model: m, default: isDefault });
    }
  } catch (e) {
    for (const l of loaded) l.model.model.dispose();
    throw e;
  }
  if (!loaded.some((l) => l.default)) loaded[0]!.default = true;
  // The page starts on a model that fits --data: when the shipped default has another class count (CIFAR-10's 10
  // against an X-ray folder's 2), the first --model with the data's class count is selected instead.
  const fits = (l: { model: LoadedModel }): boolean => data === null || l.model.classes === null || l.model.classes === data.set.classNames.length;
  const first = loaded.find((l) => l.default)!;
  const better = loaded.find((l) => !l.default && fits(l));
  if (!fits(first) && better !== undefined) { first.default = false; better.default = true; }

  const webRoot = path.join(packageRoot(), 'dist', 'web');
  let server: AdvexpServer;
  try {
    server = await createServer({
      models: loaded, data, results: resultDirs, webRoot, resize: choices.resize, maxUploadBytes: Math.round(maxUploadMb * 1048576), maxQueue,
      allowedHosts: isLoopback(host) ? undefined : null,
      log: quiet ? undefined : (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`),
    });
  } catch (e) {
    for (const l of loaded) l.model.model.dispose();
    throw new UserError((e as Error).message);
  }
  if (!fs.existsSync(path.join(webRoot, 'index.html'))) console.error(`advexp serve: the page is not built (${webRoot} missing; run npm run build): serving the API only`);

  try {
    await server.app.listen({ host, port });
  } catch (e) {
    await server.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UserError(`port ${port} on ${host} is already in use (choose another with --port)`);
    if (code === 'EACCES') throw new UserError(`no permission to listen on ${host}:${port} (choose a port above 1023)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError(`--host ${host}: not an address of this machine`);
    throw new UserError(`cannot listen on ${host}:${port}: ${(e as Error).message}`);
  }
  const addr = server.app.server.address();
  const actualPort = typeof addr === 'object' && addr !== null ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  say(`models: ${server.models.list.map((s) => s.info.name + (s.info.default ? ' (default)' : '')).join(', ')}`);
  if (dataFile !== undefined) say(`records: ${path.resolve(dataFile)}`);
  for (const d of resultDirs) say(`results: ${path.resolve(d)}`);
  if (!isLoopback(host)) console.error(`advexp serve: listening on ${host}, not loopback: anyone who can reach this machine can use the models`);
  console.log(`advexp serve: listening on http://${shownHost}:${actualPort}/ (Ctrl-C to stop)`);

  // Graceful shutdown: stop accepting, refuse queued jobs, let the running one finish, free the models.
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        console.error(`advexp serve: ${signal} again, exiting now`);
        process.exit(130);
      }
      stopping = true;
      console.log(`advexp serve: ${signal}, shutting down`);
      const force = setTimeout(() => {
        console.error('advexp serve: shutdown did not finish within 30 s (a job or a connection is still open); exiting');
        process.exit(1);
      }, 30_000);
      force.unref();
      server.close().then(() => {
        clearTimeout(force);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        console.log('advexp serve: stopped');
        resolve();
      }, (e: unknown) => {
        console.error(`advexp serve: error while stopping: ${(e as Error).message}`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
