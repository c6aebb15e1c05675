#!/usr/bin/env node
// advexp: one CLI, one file per subcommand in this folder. Each exports `run(argv)`.
import fs from 'node:fs';
import { UserError } from './errors.js';

interface Command { summary: string; load: () => Promise<{ run(argv: string[]): Promise<void> | void }> }

const commands: Record<string, Command> = {
  predict: { summary: 'run a model over a CIFAR-10 batch file and report accuracy', load: () => import('./predict.js') },
  eval: { summary: 'clean accuracy, Attack/BTR ARA, accuracy-vs-RMS curves and plots, PGD robust accuracy', load: () => import('./eval.js') },
  train: { summary: 'train a network the paper\'s way (standard, Lipschitz, adversarial), with checkpoints and resume', load: () => import('./train.js') },
  average: { summary: 'weight averaging (SWA) of a run\'s checkpoints, batch-norm statistics recomputed: one model file', load: () => import('./average.js') },
  explain: { summary: 'adversarial explanations beside Grad-CAM, LIME, saliency, IG: PNG panel and JSON', load: () => import('./explain.js') },
  'explain-eval': { summary: 'faithfulness of explanations over N images: AE target reach, deletion/insertion AUC', load: () => import('./explain-eval.js') },
  'gradcam-attack': { summary: 'the paper\'s Fig. 1: a small perturbation flips the class, does the Grad-CAM map move?', load: () => import('./gradcam-attack.js') },
  report: { summary: 'a first look in two minutes: one self-contained HTML report (accuracy, quick ARA, AEs, robust vs standard)', load: () => import('./report.js') },
  serve: { summary: 'web explorer: drop an image, see probabilities and every class\'s adversarial explanation', load: () => import('./serve.js') },
};

function usage(): string {
  const rows = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(14)} ${c.summary}`);
  return `usage: advexp <command> [options]\n\ncommands:\n${rows.join('\n')}\n\n`
    + `advexp help <command> (or advexp <command> --help) for a command's options; advexp --version\n`
    + `every command takes --quiet (no progress bar) and, where it writes JSON, --json - (to stdout)\n`
    + `exit status: 0 done; 2 bad usage or input (a one-line message naming the argument or file); 1 internal error\n`
    + `(ADVEXP_DEBUG=1 adds the stack)`;
}

/** The package's version, from its package.json (dist/src/cli/main.js sits three folders below it). */
function version(): string {
  return (JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`advexp ${version()}`);
    return;
  }
  if (name === 'help' && rest[0] !== undefined) {
    const sub = commands[rest[0]];
    if (sub === undefined) throw new UserError(`help: unknown command '${rest[0]}' (try advexp --help)`);
    await (await sub.load()).run(['--help']);
    return;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  const cmd = commands[name];
  if (cmd === undefined) throw new UserError(`unknown command '${name}' (try advexp --help)`);
  await (await cmd.load()).run(rest);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UserError) {
    console.error(`advexp: ${e.message}`);
    process.exitCode = 2;
  } else {
    console.error(`advexp: ${(e as Error).message ?? e}`);
    if (process.env.ADVEXP_DEBUG) console.error((e as Error).stack);
    process.exitCode = 1;
  }
});
