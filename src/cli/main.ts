#!/usr/bin/env node
// advexp: one CLI, one file per subcommand in this folder. Each exports `run(argv)`.
import { UserError } from './errors.js';

interface Command { summary: string; load: () => Promise<{ run(argv: string[]): Promise<void> | void }> }

const commands: Record<string, Command> = {
  predict: { summary: 'run a model over a CIFAR-10 batch file and report accuracy', load: () => import('./predict.js') },
  eval: { summary: 'clean accuracy, Attack/BTR ARA, accuracy-vs-RMS curves and plots, PGD robust accuracy', load: () => import('./eval.js') },
  train: { summary: 'train a network the paper\'s way (standard, Lipschitz, adversarial), with checkpoints and resume', load: () => import('./train.js') },
  explain: { summary: 'adversarial explanations beside Grad-CAM, LIME, saliency, IG: PNG panel and JSON', load: () => import('./explain.js') },
  'explain-eval': { summary: 'faithfulness of explanations over N images: AE target reach, deletion/insertion AUC', load: () => import('./explain-eval.js') },
  'gradcam-attack': { summary: 'the paper\'s Fig. 1: a small perturbation flips the class, does the Grad-CAM map move?', load: () => import('./gradcam-attack.js') },
  serve: { summary: 'web explorer: drop an image, see probabilities and every class\'s adversarial explanation', load: () => import('./serve.js') },
};

function usage(): string {
  const rows = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(14)} ${c.summary}`);
  return `usage: advexp <command> [options]\n\ncommands:\n${rows.join('\n')}\n\nadvexp <command> --help for a command's options`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
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
